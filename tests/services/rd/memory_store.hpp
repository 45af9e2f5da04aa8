#pragma once

// A Store kept in memory for the Directory's unit tests (the real one, PgStore, has its own
// integration tests against PostgreSQL). Writes complete when the test says so (Complete*), so
// tests can hold a write in flight; `available = false` makes writes fail as with a dead database.

#include <deque>
#include <functional>
#include <map>
#include <utility>

#include "coapgw/common/ids.hpp"
#include "rd/store.hpp"

namespace coapgw::rd::test {

class MemoryStore final : public Store {
 public:
  bool available = true;
  bool auto_complete = true;  // complete each write at once (inside the call)

  // Store
  Result<StoredState> Load() override { return state; }
  void SaveRegistration(const Registration& registration,
                        std::function<void(Result<DeviceKey>)> done) override {
    Queue([this, registration, done = std::move(done)]() mutable {
      if (!available) {
        done(MakeError(ErrorCode::kUnavailable, "database down"));
        return;
      }
      auto& identity = identities_[{registration.sector, registration.ep}];
      if (identity.key == 0) {
        identity = DeviceKey{next_key_++, RandomUuid()};
      }
      Registration stored = registration;
      stored.key = identity.key;
      stored.device_id = identity.device_id;
      saved[identity.key] = stored;
      done(identity);
    });
  }
  void SaveStatus(int64_t key, DeviceStatus status, Done done) override {
    Queue([this, key, status, done = std::move(done)] {
      if (!available) {
        done(MakeError(ErrorCode::kUnavailable, "database down"));
        return;
      }
      saved[key].status = status;
      done(Status::Ok());
    });
  }
  void RemoveRegistration(int64_t key, bool forget_device, Done done) override {
    Queue([this, key, forget_device, done = std::move(done)] {
      if (!available) {
        done(MakeError(ErrorCode::kUnavailable, "database down"));
        return;
      }
      if (forget_device) {
        const Registration& gone = saved[key];
        identities_.erase({gone.sector, gone.ep});
      }
      saved.erase(key);
      done(Status::Ok());
    });
  }
  void SaveGroup(const Group& group, std::function<void(Result<int64_t>)> done) override {
    Queue([this, group, done = std::move(done)] {
      if (!available) {
        done(MakeError(ErrorCode::kUnavailable, "database down"));
        return;
      }
      auto& key = group_keys_[{group.sector, group.name}];
      if (key == 0) {
        key = next_key_++;
      }
      done(key);
    });
  }
  void RemoveGroup(int64_t key, Done done) override {
    (void)key;
    Queue([this, done = std::move(done)] {
      done(available ? Status::Ok() : Status(MakeError(ErrorCode::kUnavailable, "down")));
    });
  }

  /// Completes the oldest held write; false if none is held.
  bool CompleteOne() {
    if (held_.empty()) {
      return false;
    }
    auto write = std::move(held_.front());
    held_.pop_front();
    write();
    return true;
  }
  size_t held() const { return held_.size(); }

  StoredState state;                      // what Load returns
  std::map<int64_t, Registration> saved;  // what was written, by key

 private:
  void Queue(std::function<void()> write) {
    if (auto_complete) {
      write();
    } else {
      held_.push_back(std::move(write));
    }
  }

  std::map<std::pair<std::string, std::string>, DeviceKey> identities_;
  std::map<std::pair<std::string, std::string>, int64_t> group_keys_;
  std::deque<std::function<void()>> held_;
  int64_t next_key_ = 1;
};

}  // namespace coapgw::rd::test
