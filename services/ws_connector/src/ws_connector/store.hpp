#pragma once

// The ws-connector's PostgreSQL tables (COAPGW_DATABASE_URL), created by its own migrations
// (wsc_schema_migrations):
//   wsc_gateway(id = 1, gid, updated_at)          the gateway id the platform assigned
//   wsc_outbox(id bigserial, handler, payload, created_at)
//                                                 platform messages waiting for an acknowledgement
//   wsc_platform_devices(device_id, put_at)       every device id put on the platform and not yet
//                                                 deleted there (a disconnected one stays)
//   wsc_rd_directory(id = 1, directory, updated_at)
//                                                 the RD database identity (the snapshot's
//                                                 "directory") whose deletions were last accepted
// One connection, used from one thread (the connector's loop); reconnects on the next call after
// the connection broke.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::ws_connector {

/// One message of the outbox.
struct OutboxEntry {
  int64_t id = 0;
  std::string handler;  // "event"
  std::string payload;  // the platform payload as JSON text
};

/// What one Append did.
struct Appended {
  std::vector<int64_t> ids;  // of the appended messages, in order
  uint64_t dropped = 0;      // oldest messages deleted to stay within the limit
};

class Store {
 public:
  /// Connects and applies the migrations. Throws std::runtime_error naming the cause (bad URL,
  /// unreachable server, a newer schema than this binary knows). `synchronous_commit` false:
  /// outbox writes do not wait for the WAL flush (PostgreSQL's asynchronous commit: a crash of the
  /// connector loses nothing, a crash of the database server the last few hundred ms); the
  /// gateway id and the platform device ids are always written synchronously.
  explicit Store(std::string url, bool synchronous_commit = true);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The persisted gateway id, nullopt when none was stored yet.
  Result<std::optional<std::string>> GatewayId();
  /// Stores `gid` as the gateway id.
  Status SetGatewayId(const std::string& gid);

  /// The ids of every device put on the platform and not deleted there since.
  Result<std::set<std::string>> PlatformDevices();
  /// Records `ids` as put on the platform (before the put is sent: a crash in between leaves an
  /// id the platform may lack, which a later delete tolerates). Written synchronously.
  Status AddPlatformDevices(const std::vector<std::string>& ids);
  /// Forgets `id` once the platform acknowledged its deletion.
  Status RemovePlatformDevice(const std::string& id);

  /// The RD directory id last accepted (DirectoryGuard), nullopt when none was stored yet.
  Result<std::optional<std::string>> RdDirectory();
  /// Stores `directory` as the RD directory id last accepted. Written synchronously.
  Status SetRdDirectory(const std::string& directory);

  /// Appends `messages` (handler, payload) in order, in one transaction. `pending` is the
  /// caller's count of waiting messages; when `pending` plus the new ones exceed `limit`, the
  /// oldest are deleted. The ids given to the new messages (ascending) and how many were dropped.
  Result<Appended> Append(const std::vector<std::pair<std::string, std::string>>& messages,
                          uint64_t pending, uint64_t limit);
  /// The oldest `count` messages with an id above `after_id`, in order.
  Result<std::vector<OutboxEntry>> Peek(int64_t after_id, size_t count);
  /// Removes acknowledged messages, in one statement.
  Status Remove(const std::vector<int64_t>& ids);
  /// Deletes messages older than `max_age`; returns how many.
  Result<uint64_t> DropOlderThan(std::chrono::seconds max_age);
  /// Number of waiting messages.
  Result<uint64_t> Count();

 private:
  struct Connection;  // libpqxx stays in store.cpp
  // `body` in a transaction of type Txn (pqxx::work, or pqxx::nontransaction: one round trip
  // per statement instead of BEGIN, statement, COMMIT).
  template <typename T, typename Txn, typename F>
  Result<T> Run(const char* what, F&& body);

  std::string url_;
  bool synchronous_commit_ = true;
  std::unique_ptr<Connection> connection_;
};

}  // namespace coapgw::ws_connector
