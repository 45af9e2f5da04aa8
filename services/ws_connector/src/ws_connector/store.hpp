#pragma once

// The ws-connector's PostgreSQL tables (COAPGW_DATABASE_URL), created by its own migrations
// (wsc_schema_migrations):
//   wsc_gateway(id = 1, gid, updated_at)          the gateway id the platform assigned
//   wsc_outbox(id bigserial, handler, payload, created_at)
//                                                 platform messages waiting for an acknowledgement
// One connection, used from one thread (the connector's loop); reconnects on the next call after
// the connection broke.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
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

class Store {
 public:
  /// Connects and applies the migrations. Throws std::runtime_error naming the cause (bad URL,
  /// unreachable server, a newer schema than this binary knows).
  explicit Store(std::string url);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// The persisted gateway id, nullopt when none was stored yet.
  Result<std::optional<std::string>> GatewayId();
  /// Stores `gid` as the gateway id.
  Status SetGatewayId(const std::string& gid);

  /// Appends a message. When the outbox holds `limit` messages or more, the oldest ones are
  /// deleted first; returns how many were dropped that way.
  Result<uint64_t> Append(const std::string& handler, const std::string& payload, uint64_t limit);
  /// The oldest `count` messages in order.
  Result<std::vector<OutboxEntry>> Peek(size_t count);
  /// Removes one message (acknowledged).
  Status Remove(int64_t id);
  /// Deletes messages older than `max_age`; returns how many.
  Result<uint64_t> DropOlderThan(std::chrono::seconds max_age);
  /// Number of waiting messages.
  Result<uint64_t> Count();

 private:
  struct Connection;  // libpqxx stays in store.cpp
  template <typename T, typename F>
  Result<T> Run(const char* what, F&& body);

  std::string url_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace coapgw::ws_connector
