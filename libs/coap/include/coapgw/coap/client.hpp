#pragma once

// A CoAP client on a Context: requests (CON with RFC 7252 retransmission, or NON), block-wise
// bodies both ways, many exchanges in flight, a deadline per exchange, CoAP ping, RFC 7641
// observation, and DTLS-PSK for coaps:// peers.
//
//   coap::Client client(context);
//   auto request = coap::ClientRequest::FromUri(coap::Method::kGet, "coap://[::1]:5683/temp");
//   client.Send(*request, {}, [](coap::Outcome<coap::ClientResponse> outcome) {
//     if (outcome) use(outcome->code, outcome->payload);
//     else if (outcome.failure() == coap::Failure::kTimeout) ...
//   });
//
// Every callback runs on the loop thread, never inside Send/Ping/Observe themselves and never
// inside libcoap (so it may call the Client again). Send and Ping call their callback exactly once.
//
// Sessions: one libcoap client session (one connected UDP socket, so one file descriptor: raise
// RLIMIT_NOFILE to talk to thousands of peers) per peer address and transport, created on first
// use, shared by every exchange to that peer and released after
// ClientOptions::idle_session_timeout without exchanges. Per RFC 7252 §4.7 (NSTART = 1 by default)
// CON messages to one peer go one at a time; later ones wait in libcoap's queue, and that wait
// counts against their deadline. When an exchange fails (deadline, ICMP error) and nothing else
// uses its session, the session is reset and dropped, so libcoap stops retransmitting to a peer
// that does not answer; otherwise libcoap keeps retransmitting it until MAX_RETRANSMIT and any late
// answer is discarded.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/message.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::coap {

namespace detail {
struct ClientCore;
}  // namespace detail

/// Why a client exchange produced no response.
enum class Failure : uint8_t {
  kTimeout,      // deadline passed (or CON retransmissions exhausted) without an answer
  kReset,        // the peer answered with RST
  kUnreachable,  // ICMP error (port/host unreachable), resolution or send failure
  kCancelled,    // Cancel(), Observation::Cancel() or the Client was destroyed
  kSecurity,     // DTLS handshake failed, or no PSK for a coaps:// peer
  kTooLarge,     // the response body exceeds the exchange's or the context's max_body_size
  kInvalid,      // the request itself is malformed (bad block size, bad option)
  kInternal,     // libcoap refused for another reason
};

/// "timeout", "reset", "unreachable", "cancelled", "security", "too-large", "invalid", "internal".
const char* FailureName(Failure failure);
/// The coapgw::ErrorCode a failure maps to (kTimeout -> kTimeout, kUnreachable/kReset ->
/// kUnavailable, kCancelled -> kUnavailable, kSecurity -> kPermissionDenied, ...).
ErrorCode FailureErrorCode(Failure failure);

/// The outcome of a client exchange: a value, or the Failure and a message saying why. Used like
/// coapgw::Result (ok(), value(), ->, error()), with the finer failure() on top.
template <class T>
class [[nodiscard]] Outcome {
 public:
  Outcome(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Outcome(Failure failure, std::string message) : state_(Failed{failure, std::move(message)}) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  /// Only when !ok().
  Failure failure() const { return std::get<1>(state_).failure; }
  const std::string& message() const { return std::get<1>(state_).message; }
  /// The failure as a coapgw::Error (see FailureErrorCode), message prefixed with its name.
  Error error() const {
    return Error{FailureErrorCode(failure()),
                 std::string(FailureName(failure())) + ": " + message()};
  }

 private:
  struct Failed {
    Failure failure = Failure::kInternal;
    std::string message;
  };
  std::variant<T, Failed> state_;
};

/// What to send. Build it field by field or from a URI.
struct ClientRequest {
  Method method = Method::kGet;
  Endpoint endpoint;
  std::vector<std::string> path;   // Uri-Path segments, unencoded
  std::vector<std::string> query;  // Uri-Query items, unencoded ("x=1")
  std::optional<uint16_t> content_format;
  std::optional<uint16_t> accept;
  std::vector<Option> options;  // any other options (If-Match, Uri-Host, ...)
  std::string payload;          // sent block-wise (Block1) when it does not fit one message
  /// Send from this local address instead of an ephemeral port, e.g. a Server endpoint's, so that
  /// the peer sees that endpoint as the source and can reach it there (RFC 9176 registrations with
  /// an implicit base, simple registration). The socket shares the port (SO_REUSEADDR); replies
  /// from the peer come back to the client. Sessions are kept per (peer, source).
  std::optional<Address> source;

  /// `method` to a coap:// or coaps:// URI (endpoint, path and query from it).
  static Result<ClientRequest> FromUri(Method method, std::string_view uri);
};

/// A response (the whole body, reassembled from Block2 if needed).
struct ClientResponse {
  Code code = Code::kEmpty;
  std::optional<uint16_t> content_format;
  std::optional<uint32_t> max_age;
  std::optional<uint32_t> observe;
  std::string etag;                        // raw bytes, empty if none
  std::vector<std::string> location_path;  // Location-Path segments
  std::string payload;
  std::vector<Option> options;  // every option as received
  Millis round_trip{0};         // from sending the request to this response
};

struct RequestOptions {
  /// CON (acknowledged, retransmitted) or NON.
  bool confirmable = true;
  /// Deadline from Send() to the callback, independent of CON retransmission: when it passes the
  /// callback gets Failure::kTimeout and a late response is discarded.
  Millis timeout{10000};
  /// Preferred block size for both directions (16, 32, ..., 1024); 0 lets libcoap choose (1024).
  uint16_t block_size = 0;
  /// Largest response body this exchange accepts after block-wise reassembly (else
  /// Failure::kTooLarge); 0: the context's ContextOptions::max_body_size. For answers that grow
  /// with the deployment, such as a directory's snapshot, rather than with one device.
  size_t max_body_size = 0;
};

/// DTLS-PSK credentials for one peer.
struct PskCredentials {
  std::string identity;
  std::string key;
};

/// Where the client finds the PSK of a coaps:// peer. Implementations must be usable from the loop
/// thread.
class PskKeyStore {
 public:
  virtual ~PskKeyStore() = default;
  /// Credentials for `endpoint` (host as given in the request), or nullopt if none.
  virtual std::optional<PskCredentials> Find(const Endpoint& endpoint) const = 0;
};

/// A PskKeyStore filled in code or from settings: per host, with an optional default.
class StaticPskKeyStore : public PskKeyStore {
 public:
  void Add(std::string host, PskCredentials credentials);
  void SetDefault(PskCredentials credentials);
  std::optional<PskCredentials> Find(const Endpoint& endpoint) const override;

 private:
  std::map<std::string, PskCredentials> by_host_;
  std::optional<PskCredentials> default_;
};

struct ClientOptions {
  /// A session (socket) to a peer is released after this long without exchanges.
  Millis idle_session_timeout{60000};
  /// Needed for coaps:// peers; must outlive the Client.
  const PskKeyStore* psk_keys = nullptr;
  /// RFC 7252 §4.8 transmission parameters for new sessions (libcoap's defaults). libcoap 4.3.1
  /// takes them to the millisecond, ACK_TIMEOUT at least 1 s and ACK_RANDOM_FACTOR at least 1.0.
  Millis ack_timeout{2000};
  double ack_random_factor = 1.5;
  uint16_t max_retransmit = 4;
  uint16_t nstart = 1;
};

using RequestId = uint64_t;
using ResponseCallback = std::function<void(Outcome<ClientResponse>)>;
/// A ping's outcome is its round-trip time.
using PingCallback = std::function<void(Outcome<Millis>)>;

/// One observe event: a notification, or the response that ended or refused the relation.
struct Notification {
  ClientResponse response;
  /// True while the server keeps the relation (2.xx with Observe). False for the final response
  /// of a relation the server did not establish or ended (no Observe option, or an error code):
  /// the Observation is then over.
  bool observing = false;
};
using NotificationCallback = std::function<void(Outcome<Notification>)>;

struct ObserveOptions {
  bool confirmable = true;
  /// Deadline for the first response (the registration).
  Millis timeout{10000};
  /// Silence allowed beyond the last notification's Max-Age (60 s when absent) before the relation
  /// is considered lost: the callback then gets Failure::kTimeout and the Observation is over.
  Millis max_age_grace{10000};
};

class Client;

/// A running observation. Destroying or cancelling it deregisters from the server (a GET with
/// Observe=1, so the device drops the relation) and stops the callbacks. Move-only; loop thread.
class Observation {
 public:
  Observation() = default;
  ~Observation();
  Observation(Observation&& other) noexcept;
  Observation& operator=(Observation&& other) noexcept;
  Observation(const Observation&) = delete;
  Observation& operator=(const Observation&) = delete;

  /// Deregisters; no callback runs afterwards. Harmless when already over.
  void Cancel();
  /// True until cancelled or ended (failure, final response).
  bool active() const;
  /// Max-Age of the last notification (seconds), if it carried one.
  std::optional<uint32_t> max_age() const;
  /// Notifications received so far, including the registration response (0 once over).
  uint64_t notifications() const;

  /// Internal: made by Client::Observe.
  Observation(std::weak_ptr<detail::ClientCore> core, uint64_t id)
      : core_(std::move(core)), id_(id) {}

 private:
  std::weak_ptr<detail::ClientCore> core_;
  uint64_t id_ = 0;
};

class Client {
 public:
  /// Attaches to `context`; throws std::logic_error if it already has a Client.
  explicit Client(Context& context, ClientOptions options = {});
  /// Completes pending Send/Ping callbacks with kCancelled (synchronously: they must not use this
  /// Client), ends observations (deregistering them) without further callbacks, releases sessions.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) = delete;
  Client& operator=(Client&&) = delete;

  /// Sends `request`; `callback` gets the response or the failure, exactly once. A CON exchange
  /// fails early on RST, an ICMP error or exhausted retransmissions; a NON one only by its
  /// deadline.
  RequestId Send(const ClientRequest& request, RequestOptions options, ResponseCallback callback);
  /// Completes a pending Send or Ping with kCancelled now; false if it already completed.
  bool Cancel(RequestId id);

  /// CoAP ping (RFC 7252 §4.3): an empty CON, answered by RST when the peer is alive. Success is
  /// the round-trip time; kUnreachable on an ICMP error, kTimeout after `timeout`. (A peer that
  /// answers with an empty ACK instead of RST is not recognised: libcoap 4.3.1 does not report it.
  /// libcoap peers send at most one RST per client every 250 ms: a second ping right after the
  /// first waits for a CON retransmission.) `source`: as ClientRequest::source, so that a peer
  /// pinged again and again sees one client address, not a new ephemeral port each time.
  RequestId Ping(const Endpoint& endpoint, Millis timeout, PingCallback callback,
                 const std::optional<Address>& source = std::nullopt);

  /// Registers an observation (GET or FETCH with Observe=0); `callback` gets every notification,
  /// then at most one final event (a response with observing=false, or a failure).
  Observation Observe(const ClientRequest& request, ObserveOptions options,
                      NotificationCallback callback);

  /// Cached sessions (for metrics and tests).
  size_t SessionCount() const;
  /// Sends and pings waiting for their callback.
  size_t PendingCount() const;
  /// Active observations.
  size_t ObservationCount() const;

 private:
  std::shared_ptr<detail::ClientCore> core_;
};

}  // namespace coapgw::coap
