#pragma once

// PgStore: the RD's Store on PostgreSQL (schema: services/rd/migrations/0001_initial_schema.sql).
//
// Writes use group commit: every Store call queues an operation and returns at once; ONE writer
// thread, with its own connection, takes everything queued (up to max_batch operations) and
// applies it in submission order in ONE transaction of prepared statements, commits, and then
// runs each operation's `done` on the writer thread, in submission order. Consecutive
// registration saves of distinct (sector, ep) pairs share one multi-row statement. One commit and
// a few statements per batch instead of per registration is what makes thousands of durable
// registrations per second possible. Call Load() (which migrates the schema) before any write.
//
// Failures:
// - A statement that fails because of its own operation (a constraint, bad data) fails that
//   operation alone: the batch is rolled back and the operations before and after it are applied
//   again without it (the state each of them meets is the same as if all had run one by one; a
//   multi-row save that fails is split into one statement per save to find the culprit).
//   A failure at commit time is retried one operation per transaction. Failures of the session
//   or server rather than of an operation (statement_timeout, out of resources, serialization)
//   fail the whole batch at once.
// - A lost connection (or one that cannot be made) fails every operation of the batch, and every
//   operation queued while the database stays away, with kUnavailable at once; nothing is kept
//   for later. The writer reconnects by itself with backoff (reconnect_min doubling up to
//   reconnect_max), logging one line when the database goes away and one when it is back.
//   If the connection breaks during COMMIT the outcome is unknown: the batch's operations fail
//   with kUnavailable and a message saying so (saves are idempotent, so the client's retry is
//   safe).
//
// Passwords in the database URL never reach a log line or an error message.
// Thread-safe: every public function may be called from any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "coapgw/common/result.hpp"
#include "rd/store.hpp"

namespace coapgw::rd {

/// Tuning of a PgStore; the defaults are meant for production.
struct PgStoreOptions {
  size_t max_batch = 512;                              // operations per transaction
  std::chrono::milliseconds reconnect_min{200};        // first retry after the database went away
  std::chrono::milliseconds reconnect_max{5000};       // backoff ceiling
  std::chrono::milliseconds drain_timeout{5000};       // destructor: time to write what is queued
  std::chrono::milliseconds idle_check{5000};          // idle connection is checked this often
  std::chrono::milliseconds statement_timeout{10000};  // per statement, server-side
  // libpq connect_timeout in seconds (2 is libpq's minimum), unless the URL sets one.
  int connect_timeout_s = 2;
  std::string application_name = "coapgw-rd";  // pg_stat_activity, unless the URL sets one
};

/// Counters for metrics; each is monotonic.
struct PgStoreStats {
  uint64_t batches = 0;        // transactions committed by the writer
  uint64_t ops = 0;            // operations completed (either way)
  uint64_t failed_ops = 0;     // operations completed with an error
  uint64_t split_batches = 0;  // transactions rolled back and applied again in parts
  uint64_t disconnects = 0;    // times the database went away
};

class PgStore final : public Store {
 public:
  /// Starts the writer thread, which connects in the background (an unreachable database is
  /// not an error here: writes fail with kUnavailable until it is reachable; Load reports it).
  /// `database_url` is a libpq URI or key/value connection string.
  explicit PgStore(std::string database_url, PgStoreOptions options = {});

  /// Writes what is queued (for up to options.drain_timeout; what is left then fails with
  /// kUnavailable), then stops the writer thread. Every `done` has run when it returns.
  ~PgStore() override;

  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;
  PgStore(PgStore&&) = delete;
  PgStore& operator=(PgStore&&) = delete;

  /// Applies the embedded schema migrations on a short-lived connection of the calling thread.
  /// Errors: see ApplyMigrations (kUnsupported for a newer database schema, kUnavailable,
  /// kInternal).
  Status Migrate();

  /// Migrates (see Migrate), then reads every registration and group in one consistent snapshot,
  /// on a short-lived connection of the calling thread. Call it once at start, before any write.
  /// Errors: Migrate's, kUnavailable (database unreachable), kInternal (a stored row that does
  /// not parse, naming its key).
  Result<StoredState> Load() override;

  void SaveRegistration(const Registration& registration,
                        std::function<void(Result<DeviceKey>)> done) override;
  /// Errors: kNotFound when there is no registration `key`, kUnavailable.
  void SaveStatus(int64_t key, DeviceStatus status, Done done) override;
  /// Removing what is not there succeeds (the removal is idempotent). Errors: kUnavailable.
  void RemoveRegistration(int64_t key, bool forget_device, Done done) override;
  /// Errors: kNotFound when a member key has no device, kConflict for a repeated member,
  /// kUnavailable.
  void SaveGroup(const Group& group, std::function<void(Result<int64_t>)> done) override;
  /// Removing what is not there succeeds. Errors: kUnavailable.
  void RemoveGroup(int64_t key, Done done) override;

  /// False from the moment the writer finds the database away until it has reconnected (and
  /// before its first connection). Thread-safe.
  bool available() const;

  /// A snapshot of the counters. Thread-safe.
  PgStoreStats stats() const;

  /// The database URL as it may be logged (password masked).
  const std::string& redacted_url() const;

 private:
  class Writer;

  std::unique_ptr<Writer> writer_;
};

}  // namespace coapgw::rd
