#pragma once

// A CoAP server on a Context: UDP/DTLS endpoints, multicast groups, resources with one handler per
// method, observable resources (RFC 7641) and deferred ("separate", RFC 7252 §5.2.2) responses.
//
//   coap::Server server(context);
//   server.AddEndpoint("[::]:5683");
//   coap::ResourceOptions observable;
//   observable.observable = true;
//   server.AddResource("/sensors/temp", observable)
//       .On(coap::Method::kGet, [&](const coap::Request& request, coap::Response& response) {
//         response.SetPayload("21.5", coap::content_format::kTextPlain);
//       });
//   server.NotifyObservers("/sensors/temp");  // re-runs the GET handler once per observer
//
// Handlers run on the loop thread inside libcoap. An exception escaping a handler is logged and
// answered 5.00. Request bodies arrive whole (block-wise reassembled by libcoap) and response
// bodies of any size are sent block-wise as needed.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/message.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/host_port.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::coap {

namespace detail {
struct ServerCore;
struct DeferredState;
}  // namespace detail

/// One received request, copied out of libcoap: a handler (or a deferred completion) may keep it.
struct Request {
  Method method = Method::kGet;
  std::vector<std::string> path;   // Uri-Path segments
  std::vector<std::string> query;  // Uri-Query items as sent ("rt=core.rd*", "lt=60", "flag")
  std::optional<std::string> uri_host;
  std::optional<uint16_t> content_format;
  std::optional<uint16_t> accept;
  // Observe option: 0 register (also when the GET handler is re-run for a notification),
  // 1 deregister (RFC 7641).
  std::optional<uint32_t> observe;
  std::string payload;  // the whole body
  Address source;       // the client's address
  Address local;  // where it was sent: the endpoint's address (a multicast group for multicast)
  Transport transport = Transport::kUdp;
  bool multicast = false;                    // received on a multicast group address
  bool confirmable = false;                  // CON (else NON)
  std::optional<std::string> dtls_identity;  // PSK identity of a DTLS client
  std::vector<Option> options;               // every option as received, in order

  /// "/a/b" ("/" for the root).
  std::string Path() const;
  /// Query items split at the first '=' ("lt=60" -> {"lt", "60"}, "flag" -> {"flag", ""}).
  std::vector<std::pair<std::string, std::string>> QueryParams() const;
  /// The value of the first query item named `key`; nullopt if absent.
  std::optional<std::string> QueryValue(std::string_view key) const;
};

class DeferredResponse;

/// What a handler answers. Plain data until the server writes it into the PDU after the handler
/// returns. The code defaults to 2.05; a non-empty payload always carries a Content-Format
/// (text/plain, 0, unless set) because libcoap's block-wise response API requires one.
class Response {
 public:
  Response() = default;
  explicit Response(Code code) : code_(code) {}

  Response& SetCode(Code code);
  Response& SetPayload(std::string payload);
  Response& SetPayload(std::string payload, uint16_t content_format);
  Response& SetContentFormat(uint16_t content_format);
  /// Max-Age in seconds (RFC 7252 §5.10.5); unset means the protocol default of 60 s.
  Response& SetMaxAge(uint32_t seconds);
  Response& AddLocationPath(std::string segment);
  /// "/rd/7" -> Location-Path "rd", "7".
  Response& SetLocationPath(std::string_view path);
  /// A non-zero ETag (sent as its minimal big-endian bytes).
  Response& SetETag(uint64_t etag);
  /// Any other option; added in number order with the rest.
  Response& AddOption(uint16_t number, std::string value);

  /// Keeps the exchange open: the client gets an empty ACK now (for CON) and the response that is
  /// later given to DeferredResponse::Complete (a CON separate response). Only valid inside a
  /// handler called by a Server; throws std::logic_error otherwise. Whatever else was set on this
  /// Response is ignored.
  DeferredResponse Defer();

  Code code() const { return code_; }
  const std::string& payload() const { return payload_; }
  std::optional<uint16_t> content_format() const { return content_format_; }
  std::optional<uint32_t> max_age() const { return max_age_; }
  const std::vector<std::string>& location_path() const { return location_path_; }
  std::optional<uint64_t> etag() const { return etag_; }
  const std::vector<Option>& options() const { return options_; }
  bool deferred() const { return deferred_; }

  /// RFC 7252 §8.1: a server does not answer a multicast request with an error (4.xx or 5.xx). True
  /// when this response must therefore not be sent for `request`.
  bool SuppressedFor(const Request& request) const;
  /// The rule above for a code alone.
  static bool SuppressedForMulticast(Code code);

  /// Internal: lets Defer() reach the exchange being handled (set by the Server).
  class DeferHook {
   public:
    virtual ~DeferHook() = default;
    virtual DeferredResponse Defer() = 0;
  };
  void SetDeferHookInternal(DeferHook* hook) { defer_hook_ = hook; }

 private:
  Code code_ = Code::kContent;
  std::string payload_;
  std::optional<uint16_t> content_format_;
  std::optional<uint32_t> max_age_;
  std::vector<std::string> location_path_;
  std::optional<uint64_t> etag_;
  std::vector<Option> options_;
  bool deferred_ = false;
  DeferHook* defer_hook_ = nullptr;
};

/// A request whose response comes later. Copies share one exchange, completed at most once. Use it
/// on the loop thread only: hand the work to another thread and come back with Context::Post.
/// Not completed within ServerOptions::deferred_timeout (or all copies dropped), the exchange is
/// answered 5.03 by the server.
class DeferredResponse {
 public:
  DeferredResponse() = default;

  /// True if this handle refers to an exchange (even one already completed).
  bool valid() const { return state_ != nullptr; }
  /// True while the exchange still waits for Complete().
  bool pending() const;
  /// Sends `response` as the separate response. False (and logged) when already completed, timed
  /// out, dropped with its resource or endpoint, or the server is gone. Loop thread only
  /// (std::logic_error otherwise).
  bool Complete(Response response);
  /// The request being answered (empty for an invalid handle).
  const Request& request() const;

  /// Internal: made by the Server.
  explicit DeferredResponse(std::shared_ptr<detail::DeferredState> state)
      : state_(std::move(state)) {}

 private:
  std::shared_ptr<detail::DeferredState> state_;
};

/// Handles one method of one resource; fills `response` (or defers it).
using Handler = std::function<void(const Request& request, Response& response)>;

struct ResourceOptions {
  /// GET/FETCH may register observers (RFC 7641); NotifyObservers() then re-runs GET per observer.
  bool observable = false;
  /// Send notifications as CON (each acknowledged) instead of NON (libcoap still makes every fifth
  /// NON notification a CON, as RFC 7641 §4.5 asks).
  bool notify_confirmable = false;
  /// Answer requests received over multicast (RD discovery). Off: such requests are ignored.
  bool multicast = false;
  /// RFC 7252 §8.2 Leisure: libcoap answers a multicast request after a random delay of up to 5 s
  /// so that many servers do not answer at once. Off: answer at once.
  bool multicast_delay = true;
  /// Link attributes listed in /.well-known/core, value as written: {"rt", "\"core.rd\""},
  /// {"ct", "40"}. "obs" is added for observable resources.
  std::vector<std::pair<std::string, std::string>> link_attributes;
};

/// A resource of a Server (owned by it); register handlers per method.
class Resource {
 public:
  /// Sets (or replaces) the handler for `method`; other methods are answered 4.05.
  Resource& On(Method method, Handler handler);
  /// "/a/b".
  const std::string& path() const { return path_; }
  const ResourceOptions& options() const { return options_; }

  /// Internal: made by Server::AddResource.
  Resource(std::string path, ResourceOptions options);
  Resource(const Resource&) = delete;
  Resource& operator=(const Resource&) = delete;
  Resource(Resource&&) = delete;
  Resource& operator=(Resource&&) = delete;
  ~Resource() = default;

 private:
  friend struct detail::ServerCore;
  std::string path_;
  ResourceOptions options_;
  std::map<Method, Handler> handlers_;
};

/// A DTLS pre-shared key as the server sees it: the identity hint it sends and the key for each
/// client identity (nullopt rejects the identity).
struct ServerPsk {
  std::string hint;
  std::function<std::optional<std::string>(std::string_view identity)> key_for_identity;
};

struct ServerOptions {
  /// SO_RCVBUF asked for on every endpoint socket (the 208 KB default overflows beyond ~256
  /// requests in flight); capped by the kernel, the granted size is logged.
  int receive_buffer_bytes = 4 * 1024 * 1024;
  /// Deferred responses not completed within this time are answered 5.03.
  Millis deferred_timeout{30000};
  /// libcoap keeps a session per client address and port. A session with nothing in flight (no
  /// observe relation, deferred response or queued message) is freed after this long without
  /// traffic (whole seconds, at least 1; zero keeps libcoap's 300 s).
  Millis idle_session_timeout{0};
  /// At most this many such idle sessions are kept: a new client frees the least recently active
  /// one (0: no limit). libcoap walks every session of the endpoint when a new client appears
  /// and after every datagram it reads, so a server that many clients reach once (a directory)
  /// bounds them.
  unsigned max_idle_sessions = 0;
  /// Required before adding a DTLS endpoint.
  std::optional<ServerPsk> psk;
};

class Server {
 public:
  /// Attaches to `context`; throws std::logic_error if it already has a Server.
  explicit Server(Context& context, ServerOptions options = {});
  /// Deletes resources (observers get a final 4.04) and pending deferred exchanges, and closes the
  /// endpoints. Loop thread.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  Server(Server&&) = delete;
  Server& operator=(Server&&) = delete;

  /// Binds an endpoint ("0.0.0.0:5683", "[::]:5683", "127.0.0.1:0"; port 0 picks a free port) and
  /// returns the bound address. Errors: kInvalidArgument (bad address), kUnavailable (bind failed),
  /// kUnsupported (DTLS without ServerOptions::psk).
  Result<Address> AddEndpoint(std::string_view listen, Transport transport = Transport::kUdp);
  Result<Address> AddEndpoint(const HostPort& listen, Transport transport = Transport::kUdp);
  /// Closes the endpoint bound at `bound` (as AddEndpoint returned it): its socket, its sessions
  /// with their observe relations, and its deferred exchanges (dropped unanswered). Peers then get
  /// nothing from it, as from a device that went away. False when no endpoint is bound there. Not
  /// from inside a handler.
  bool RemoveEndpoint(const Address& bound);
  /// Bound addresses, in the order added.
  const std::vector<Address>& endpoints() const;
  /// The port of the first endpoint (0 if none).
  uint16_t LocalPort() const;

  /// Joins a multicast group (224.0.1.187, ff02::fd, ff05::fd) on every UDP endpoint of its family
  /// bound to the any-address (0.0.0.0 / [::]), on `interface` or the kernel's choice. Requests
  /// that arrive through the group have Request::multicast set. Errors: kInvalidArgument (not a
  /// multicast address, unknown interface, no such endpoint), kUnavailable (the kernel refused).
  Status JoinMulticast(std::string_view group, std::string_view interface = {});
  /// SO_RCVBUF the kernel granted to the endpoint bound at `endpoint` (-1 if unknown).
  int ReceiveBufferBytes(const Address& endpoint) const;

  /// Adds a resource at `path` ("/rd", "rd/7"); replaces an existing one at the same path.
  Resource& AddResource(std::string_view path, ResourceOptions options = {});
  /// Removes a resource (observers get a final 4.04); false if there is none.
  bool RemoveResource(std::string_view path);
  /// The resource at `path`, or nullptr.
  Resource* FindResource(std::string_view path);
  /// Handles every request to a path without a resource (any method); without it they get 4.04
  /// (2.02 for DELETE, as libcoap does). It cannot make a path observable: add a resource for that.
  void SetUnknownHandler(Handler handler);

  /// Makes the observers of `path` receive a fresh notification (the GET handler runs once per
  /// observer on a later loop iteration). Returns the number of observers known now.
  size_t NotifyObservers(std::string_view path);
  /// Observers of `path` the server knows: added by a successful GET with Observe=0, removed by a
  /// deregistration (Observe=1), an error answer, an RST to a notification, or the end of the
  /// client's session. (libcoap drops a relation silently when a NON notification is reset; the
  /// count catches up at the next CON notification, at most five notifications later.)
  size_t ObserverCount(std::string_view path) const;

  /// Exchanges waiting for DeferredResponse::Complete.
  size_t DeferredCount() const;

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace coapgw::coap
