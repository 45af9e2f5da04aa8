#pragma once

// An in-test platform (platform-protocol.md §3-6, §12) on a real libs/ws Server on loopback:
// accepts any credentials, provides gateways (new one for an empty or unknown gid), answers
// clear/put/disconnect/delete/commit/event/response as the Go server does, pushes commands and
// records every request. tools/platform-sim is the full simulator; this one is small enough to
// be read next to the tests. Thread-safe: state lives behind a mutex, handlers run on the
// server's I/O thread.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coapgw/ws/server.hpp"

namespace coapgw::ws_connector::test {

/// One request a client sent (after the handshake).
struct Request {
  ws::ConnectionId connection = 0;
  std::string gid;
  std::string handler;
  std::string token;
  std::string payload;  // JSON text
};

class FakePlatform {
 public:
  FakePlatform();
  ~FakePlatform();
  FakePlatform(const FakePlatform&) = delete;
  FakePlatform& operator=(const FakePlatform&) = delete;

  std::string url() const;

  /// Down: every connection is dropped on open (and open ones now). Up: normal service.
  void SetAccepting(bool accepting);
  /// Stop answering requests (the client's request timeout fires).
  void SetSilent(bool silent);
  /// Forgets every gateway (a platform restored from an empty backup): the next handshake gets
  /// a new gid.
  void ForgetGateways();

  std::vector<Request> Requests() const;
  /// The requests with this handler.
  std::vector<Request> Requests(const std::string& handler) const;
  /// Every credentials message received (the gid the client asked for).
  std::vector<std::string> CredentialGids() const;
  /// The gateway's stored hash, nullopt when unknown.
  std::optional<std::string> GatewayHash(const std::string& gid) const;
  /// Device uris of the gateway's last commit.
  std::set<std::string> CommittedDevices(const std::string& gid) const;
  size_t Connections() const;

  /// Sends `text` on every open connection.
  void SendRaw(const std::string& text);
  /// Sends a command (§6.2) with this payload to the connection listening to `device_url`;
  /// false when none listens.
  bool SendCommand(const std::string& device_url, const std::string& payload);

 private:
  struct Gateway {
    std::string hash;
    std::set<std::string> devices;
  };
  struct Session {
    bool handshaken = false;
    std::string gid;
    std::set<std::string> listening;
  };

  void OnText(ws::ConnectionId id, const std::string& text);
  void Reply(ws::ConnectionId id, int status, const std::string& token, const std::string& body);

  mutable std::mutex mutex_;
  bool accepting_ = true;
  bool silent_ = false;
  std::map<std::string, Gateway> gateways_;
  std::map<ws::ConnectionId, Session> sessions_;
  std::vector<Request> requests_;
  std::vector<std::string> credential_gids_;
  int next_gateway_ = 1;
  std::unique_ptr<ws::Server> server_;  // last: its handlers use the state above
};

}  // namespace coapgw::ws_connector::test
