#pragma once

// A WebSocket (RFC 6455) client for ws:// and wss:// URLs with its own I/O thread. Text frames
// only, as the platform protocol uses (docs: platform-protocol.md §1); binary frames are ignored.
//
//   coapgw::ws::ClientHandlers handlers;
//   handlers.on_open = [&] { client->Send(credentials); };
//   handlers.on_text = [&](std::string text) { ... };
//   handlers.on_close = [&](const coapgw::ws::CloseEvent& event) { ... schedule a reconnect ... };
//   auto client = std::make_unique<coapgw::ws::Client>(options, std::move(handlers));
//   client->Connect("wss://connector.example:8093");   // Ok: the outcome arrives by callback
//
// Life of a connection: every Connect that returns Ok ends in exactly one on_close, preceded by
// on_open when the upgrade succeeded; on_text only runs between the two. After on_close the
// client is idle and Connect may be called again (from the callback, too). Reconnect policy is
// the caller's (see backoff.hpp).
//
// Keepalive (platform-protocol.md §8): after `ping_idle` without any inbound frame the client
// sends a ping; if no frame at all arrives within `pong_timeout` after it, the connection fails.
// Pings from the server are answered automatically.
//
// Threads: all callbacks run on the client's I/O thread, one at a time. Connect, Send, Close and
// state() may be called from any thread, callbacks included; they hand the work to the I/O thread.
// Callbacks must not block for long and must not destroy the Client (the destructor joins the I/O
// thread, which would wait for itself: that is a programming error and aborts). No callback runs
// once the destructor has started.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "coapgw/common/duration.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::ws {

struct ClientOptions {
  /// From Connect to the open connection: DNS, TCP, TLS and the HTTP upgrade together.
  Millis connect_timeout{10'000};
  /// Send a ping after this long without an inbound frame; zero turns keepalive off.
  Millis ping_idle{15'000};
  /// Fail the connection when nothing arrives this long after our ping.
  Millis pong_timeout{10'000};
  /// How long Close (and the destructor) wait for the peer's close frame before dropping TCP.
  Millis close_timeout{2'000};
  /// Inbound messages above this size fail the connection (close code 1009).
  size_t max_message_size = 16U * 1024U * 1024U;
  /// wss://: PEM file of trusted CAs; empty means the system's default CA store.
  std::string ca_file;
  /// wss://: accept any certificate and host name. Logged as a warning on every connect.
  bool insecure_skip_verify = false;
  /// The User-Agent header of the upgrade request.
  std::string user_agent = "coapgw";
};

/// Who ended a connection.
enum class CloseInitiator {
  kLocal,    // Close() was called
  kPeer,     // the server sent a close frame
  kFailure,  // no close handshake: connect failure, timeout, keepalive, lost TCP, oversized frame
};

/// "local", "peer", "failure".
const char* CloseInitiatorName(CloseInitiator initiator);

/// How a connection attempt ended (passed to on_close).
struct CloseEvent {
  /// False when the connection never opened: refused, DNS, TLS, HTTP upgrade, connect timeout.
  bool was_open = false;
  CloseInitiator initiator = CloseInitiator::kFailure;
  /// The close code: the peer's for kPeer, ours for kLocal, 1009 for an oversized message, 1006
  /// (abnormal closure) when no close frame was exchanged.
  uint16_t code = 1006;
  /// The reason text of the peer's close frame (kPeer only; may be empty).
  std::string peer_reason;
  /// One line naming the cause, always set, e.g. "connection refused", "connect timeout after
  /// 3s", "TLS handshake failed: certificate verify failed: self-signed certificate (depth 0)",
  /// "keepalive: no frame within 10s after ping", "peer closed (1000): ERROR: max consecutive
  /// error count exceeded".
  std::string reason;
};

/// Where the client is in the life of a connection.
enum class ClientState { kIdle, kConnecting, kOpen, kClosing };

struct ClientHandlers {
  std::function<void()> on_open;
  std::function<void(std::string text)> on_text;
  std::function<void(const CloseEvent& event)> on_close;
};

class Client {
 public:
  /// Starts the I/O thread; connects nothing yet. Missing handlers are treated as no-ops.
  Client(ClientOptions options, ClientHandlers handlers);
  /// Closes an open connection (code 1000, waiting at most close_timeout for the peer), stops and
  /// joins the I/O thread. Runs no callback.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Starts connecting to `url` (ws://host[:port][/path] or wss://...). Ok means on_close will
  /// follow eventually. kInvalidArgument for a malformed URL or another scheme; kConflict when a
  /// connection is already connecting, open or closing.
  Status Connect(const std::string& url);

  /// Queues one text frame. kUnavailable when the connection is not open at the time of the call;
  /// a frame queued just before the connection closes is dropped silently.
  Status Send(std::string text);

  /// Starts the close handshake (code, reason); on_close follows with kLocal. While connecting it
  /// abandons the attempt (on_close with was_open false). No-op when idle.
  void Close(uint16_t code = 1000, std::string reason = "closed by client");

  ClientState state() const;

  class Impl;  // opaque; public only so that the implementation's helpers can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace coapgw::ws
