#pragma once

// A WebSocket and plain-HTTP server on one port (ws:// or wss://) with its own I/O thread: the
// engine of tools/platform-sim and of test servers. Upgrade requests on any path become
// connections; other HTTP requests go to on_http.
//
// Threads: every handler runs on the server's I/O thread, one at a time, so state touched only
// from handlers needs no lock. Every public function may be called from any thread (handlers
// included); work is handed to the I/O thread in call order, so Send then Close from one thread
// reach the peer in that order. Operations on a connection that has ended are ignored.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "coapgw/common/duration.hpp"
#include "coapgw/common/host_port.hpp"

namespace coapgw::ws {

/// Identifies one WebSocket connection for the server's lifetime (never reused).
using ConnectionId = uint64_t;
/// Identifies one timer of After().
using TimerId = uint64_t;

struct ServerOptions {
  /// Port 0 picks a free port (read it back with port()). Host empty means 0.0.0.0.
  HostPort listen{"127.0.0.1", 0};
  /// Both set: serve wss:// with this PEM certificate chain and private key, never plain ws://.
  std::string tls_cert_file;
  std::string tls_key_file;
  /// Inbound messages above this size close the connection with 1009.
  size_t max_message_size = 16U * 1024U * 1024U;
  /// How long a close handshake the server starts may take before TCP is dropped.
  Millis close_timeout{2'000};
};

/// The upgrade request of a new connection.
struct ConnectionInfo {
  std::string resource;  // request target, e.g. "/" or "/console?x=1"
  std::string path;      // resource up to '?'
  std::string remote;    // "127.0.0.1:53412"
};

/// How a connection ended.
struct ConnectionClosed {
  uint16_t code = 1006;  // the close code received from the peer (1006 when none)
  std::string reason;    // the peer's close reason, or what went wrong
};

struct HttpRequest {
  std::string method;
  std::string resource;                        // "/api/responses?task_id=x"
  std::string path;                            // "/api/responses"
  std::string query;                           // "task_id=x" (still percent-encoded)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::map<std::string, std::string> headers;
};

/// Sends the answer to one HTTP request; may be called later and from any thread (long polling).
/// Only the first call counts. If every copy is destroyed without a call, 500 is sent.
class HttpReply {
 public:
  struct State;
  explicit HttpReply(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void operator()(HttpResponse response) const;

 private:
  std::shared_ptr<State> state_;
};

struct ServerHandlers {
  std::function<void(ConnectionId id, const ConnectionInfo& info)> on_open;
  std::function<void(ConnectionId id, std::string text)> on_text;
  /// Binary data frames (the platform ignores them, but they count as inbound traffic).
  std::function<void(ConnectionId id, std::string data)> on_binary;
  /// A ping arrived; return true to answer it with a pong (the default when unset).
  std::function<bool(ConnectionId id, const std::string& payload)> on_ping;
  std::function<void(ConnectionId id, const std::string& payload)> on_pong;
  /// The connection ended, whoever ended it; the last handler call for `id`.
  std::function<void(ConnectionId id, const ConnectionClosed& closed)> on_close;
  /// A plain HTTP request; unset means 404 for everything.
  std::function<void(const HttpRequest& request, HttpReply reply)> on_http;
};

class Server {
 public:
  /// Binds, listens and starts the I/O thread. Throws std::runtime_error naming the address when
  /// it cannot bind or the TLS files cannot be loaded.
  Server(ServerOptions options, ServerHandlers handlers);
  /// Stops listening, closes open connections with 1001 "server shutdown" (waiting at most
  /// close_timeout), stops and joins the I/O thread. Runs no handler after it starts.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The bound port.
  uint16_t port() const;
  /// True when serving wss://.
  bool secure() const;

  /// Queues a text frame.
  void Send(ConnectionId id, std::string text);
  /// Queues a binary frame.
  void SendBinary(ConnectionId id, std::string data);
  /// Sends a ping with `payload` (at most 125 bytes).
  void Ping(ConnectionId id, std::string payload);
  /// Starts the close handshake with `code` and `reason`.
  void Close(ConnectionId id, uint16_t code, std::string reason);
  /// Closes the TCP connection without a close frame (what a crashed or rude server does).
  void Drop(ConnectionId id);

  /// Runs `task` on the I/O thread.
  void Post(std::function<void()> task);
  /// Runs `task` on the I/O thread after `delay`, unless cancelled first.
  TimerId After(Millis delay, std::function<void()> task);
  /// Cancels a timer; no effect when it already ran or was cancelled.
  void Cancel(TimerId timer);

  /// Number of open WebSocket connections (approximate when read off the I/O thread).
  size_t connection_count() const;

  class Impl;  // opaque; public only so that the implementation's helpers can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace coapgw::ws
