#pragma once

// The RD's persistence port. The directory keeps its state in memory (rd::Index) and writes every
// change through a Store before it answers the client (RFC 9176 requires a stable location;
// we require durability). Writes are asynchronous so the CoAP loop never waits on the database:
// each call queues the write and returns; `done` runs later on the store's own thread, once the
// change is committed (or has failed), and the caller hands it back to its loop with Post.
// Implementations: PgStore (PostgreSQL, group commit), tests' MemoryStore.

#include <functional>
#include <string>
#include <vector>

#include "coapgw/common/result.hpp"
#include "rd/registration.hpp"

namespace coapgw::rd {

/// Everything the RD persisted, as loaded at start-up (expired registrations included: the
/// directory expires them itself, so that it can announce each expiry).
struct StoredState {
  std::vector<Registration> registrations;
  std::vector<Group> groups;
  /// Device ids whose (sector, ep) is kept without a registration: it expired, and only an
  /// explicit DELETE (after a new registration) ends the id.
  std::vector<std::string> expired_device_ids;
  /// The database's identity (rd_directory, a UUID made once by a migration); empty for a store
  /// without one (tests' MemoryStore).
  std::string directory_id;
};

/// The permanent identity of a (sector, ep) pair.
struct DeviceKey {
  int64_t key = 0;
  std::string device_id;
};

class Store {
 public:
  using Done = std::function<void(Status)>;

  virtual ~Store() = default;

  /// Reads the whole persisted state (blocking; start-up only).
  /// Errors: kUnavailable when the database cannot be reached.
  virtual Result<StoredState> Load() = 0;

  /// Inserts or replaces the registration of (registration.sector, registration.ep). The
  /// registration's key and device_id are ignored on input: the store finds or creates the
  /// pair's permanent identity and reports it. Errors: kUnavailable (database away; nothing
  /// written), kInternal.
  virtual void SaveRegistration(const Registration& registration,
                                std::function<void(Result<DeviceKey>)> done) = 0;

  /// Sets the status of registration `key`.
  virtual void SaveStatus(int64_t key, DeviceStatus status, Done done) = 0;

  /// Removes registration `key`. With `forget_device` (an explicit DELETE) the pair's key and
  /// device id are forgotten too, and its group memberships dropped; without it (expiry) they
  /// stay for a later re-registration.
  virtual void RemoveRegistration(int64_t key, bool forget_device, Done done) = 0;

  /// Inserts or replaces the group (group.sector, group.name); reports its key.
  virtual void SaveGroup(const Group& group, std::function<void(Result<int64_t>)> done) = 0;

  /// Removes group `key` (its member registrations stay).
  virtual void RemoveGroup(int64_t key, Done done) = 0;
};

}  // namespace coapgw::rd
