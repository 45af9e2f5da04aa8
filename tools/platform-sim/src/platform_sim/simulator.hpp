#pragma once

// The platform-connector server (PC) as platform-protocol.md §12 describes it, on one port:
//   - any WebSocket path except /console: a gateway session (handshake §3, handlers §5,
//     commands §6.2, keepalive §8.1, error counting and closing §9.1);
//   - /console: a live feed of what happens, for the web console (console.html);
//   - plain HTTP: the console page at /, and the control and test API under /api/ (README.md).
//
// Threads: everything runs on the ws::Server's I/O thread, so the state needs no lock. The
// constructor and Shutdown are called from the owner's thread.

#include <chrono>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/fwd.h>

#include "coapgw/common/duration.hpp"
#include "coapgw/ws/server.hpp"
#include "platform_sim/model.hpp"

namespace coapgw::platform_sim {

struct SimOptions {
  ws::ServerOptions server;  // listen address, TLS files
  Millis handshake_timeout{
      40'000};                     // first message (credentials) must arrive within (PC WsTimeout)
  Millis idle_timeout{40'000};     // no inbound frame this long: close (PC read deadline)
  Millis ping_interval{20'000};    // server pings until the client pings (PC WsPingperiod)
  int max_consecutive_errors = 5;  // closing after more than this many (PC MaxConsecutiveErrors)
  size_t history = 1000;           // events, commands, responses and frames kept for the API
  std::string state_file;          // gateways and devices persisted here; "" keeps them in memory
};

class Simulator {
 public:
  /// Loads the state file (when set and present), binds and starts serving. Throws
  /// std::runtime_error naming the cause (bind failure, unreadable or malformed state file).
  Simulator(SimOptions options, Model model);
  /// Shutdown, if not done yet.
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  uint16_t port() const;
  bool secure() const;

  /// Closes every gateway session with 1000 "connector shutdown" (PC sessions.go Close) and
  /// stops serving; returns within the server's close timeout.
  void Shutdown();

 private:
  enum class Phase { kHandshake, kActive, kClosing };

  struct Session {
    ws::ConnectionId id = 0;
    bool console = false;
    Phase phase = Phase::kHandshake;
    std::string remote;
    std::string connected_at;
    std::string user;
    std::string gateway_id;
    std::map<std::string, std::string> listened;  // uri -> device id (PC UriCache)
    int consecutive_errors = 0;
    bool active_ping = true;  // PC pings until the client pings
    std::chrono::steady_clock::time_point last_inbound;
    ws::TimerId handshake_timer = 0;
    ws::TimerId ping_timer = 0;
    ws::TimerId idle_timer = 0;
    bool blocked = false;             // a delayed request is pending: the rest wait, in order
    std::deque<std::string> waiting;  // requests that arrived meanwhile
    std::string last_token;           // for the late_reply hook
  };

  // Test hooks (README.md, "Hooks"); counts of -1 mean "until the hooks are cleared".
  struct HandlerHook {
    std::string handler;  // "" matches every handler
    int remaining = 1;
    Millis delay{0};
    int status = 500;
    std::string message;
  };
  struct Hooks {
    std::vector<HandlerHook> delays;    // process the request this much later
    std::vector<HandlerHook> refusals;  // answer status/message without processing
    std::vector<HandlerHook> drops;     // drop the TCP connection instead of answering
    int reject_handshakes = 0;          // close without reply after the credentials
    bool stall = false;                 // answer nothing at all, not even pings
  };

  // One entry of an API history (events, commands, responses, frames), already as JSON.
  struct Record {
    uint64_t seq = 0;
    std::string json;
  };

  // A GET /api/responses?wait_ms=... waiting for its task's response.
  struct ResponseWaiter {
    std::string task_id;
    ws::HttpReply reply;
    ws::TimerId timer = 0;
  };

  // Connections.
  void OnOpen(ws::ConnectionId id, const ws::ConnectionInfo& info);
  void OnText(ws::ConnectionId id, std::string text);
  void OnBinary(ws::ConnectionId id, const std::string& data);
  bool OnPing(ws::ConnectionId id);
  void OnPong(ws::ConnectionId id);
  void OnClose(ws::ConnectionId id, const ws::ConnectionClosed& closed);
  Session* Find(ws::ConnectionId id);

  // Protocol (simulator.cpp).
  void Handshake(Session& session, const std::string& text);
  void Receive(Session& session, std::string text);
  void Drain(ws::ConnectionId id);
  void Process(Session& session, const std::string& text);
  void Dispatch(Session& session, const std::string& handler, const std::string& token,
                const rapidjson::Value& payload, const std::string& text);
  void HandleClear(Session& session, const std::string& token);
  void HandlePut(Session& session, const std::string& token, const rapidjson::Value& payload);
  void HandleDisconnect(Session& session, const std::string& token,
                        const rapidjson::Value& payload);
  void HandleDelete(Session& session, const std::string& token, const rapidjson::Value& payload);
  void HandleCommit(Session& session, const std::string& token, const rapidjson::Value& payload);
  void HandleEvent(Session& session, const std::string& token, const rapidjson::Value& payload);
  void HandleResponse(Session& session, const std::string& token, const rapidjson::Value& payload);
  void Respond(Session& session, const std::string& token, const std::string& payload_json,
               const char* content_type);
  void SendError(Session& session, const std::string& token, int status,
                 const std::string& message);
  void SendFrame(Session& session, const std::string& text);
  void CloseSession(Session& session, const std::string& reason, uint16_t code = 1000);
  void DropSession(Session& session, const std::string& note);
  void ArmPing(Session& session);
  void ArmIdle(Session& session, std::chrono::steady_clock::time_point at);
  void Unlisten(Session& session);
  int DeliverCommand(const std::string& device_id, const std::string& frame);
  std::optional<HandlerHook> TakeHook(std::vector<HandlerHook>& hooks, const std::string& handler);

  // Records and the console feed.
  void RecordFrame(const Session& session, const char* direction, const std::string& text);
  void RecordNote(const Session& session, const std::string& note);
  // Appends a record: `fields_json` is a JSON object, to which seq and time are prepended; the
  // record also goes to every console as {"type": type, "record": ...}.
  uint64_t Append(std::deque<Record>& list, const char* type, const std::string& fields_json);
  void Broadcast(const std::string& message);
  void StateChanged();
  void Persist();

  // Control API (control_api.cpp).
  void OnHttp(const ws::HttpRequest& request, ws::HttpReply reply);
  ws::HttpResponse StateJson() const;
  ws::HttpResponse InjectCommand(const ws::HttpRequest& request);
  void GetResponses(const ws::HttpRequest& request, ws::HttpReply reply);
  ws::HttpResponse ListRecords(const ws::HttpRequest& request, const std::deque<Record>& list,
                               const char* key) const;
  ws::HttpResponse SetHook(const ws::HttpRequest& request);
  ws::HttpResponse HooksJson() const;

  ws::Server& server();

  SimOptions options_;
  Model model_;
  std::map<ws::ConnectionId, Session> sessions_;
  Hooks hooks_;
  std::deque<Record> events_;
  std::deque<Record> commands_;
  std::deque<Record> responses_;
  std::deque<Record> frames_;
  std::map<std::string, std::string> responses_by_task_;  // task_id -> response record JSON
  std::deque<std::string> response_tasks_;                // eviction order of the map above
  std::map<uint64_t, ResponseWaiter> response_waiters_;
  uint64_t next_waiter_ = 1;
  std::map<std::string, uint64_t> counters_;
  uint64_t next_seq_ = 1;
  bool stopping_ = false;

  // Handlers wait for this before touching server_, which is assigned after the server (and its
  // I/O thread) started.
  std::promise<void> started_;
  std::shared_future<void> started_future_;
  std::unique_ptr<ws::Server> server_;
};

}  // namespace coapgw::platform_sim
