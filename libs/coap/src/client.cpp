#include "coapgw/coap/client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "coapgw/common/log.hpp"
#include "internal.hpp"

namespace coapgw::coap {

const char* FailureName(Failure failure) {
  switch (failure) {
    case Failure::kTimeout:
      return "timeout";
    case Failure::kReset:
      return "reset";
    case Failure::kUnreachable:
      return "unreachable";
    case Failure::kCancelled:
      return "cancelled";
    case Failure::kSecurity:
      return "security";
    case Failure::kTooLarge:
      return "too-large";
    case Failure::kInvalid:
      return "invalid";
    case Failure::kInternal:
      return "internal";
  }
  return "unknown";
}

ErrorCode FailureErrorCode(Failure failure) {
  switch (failure) {
    case Failure::kTimeout:
      return ErrorCode::kTimeout;
    case Failure::kReset:
    case Failure::kUnreachable:
    case Failure::kCancelled:
      return ErrorCode::kUnavailable;
    case Failure::kSecurity:
      return ErrorCode::kPermissionDenied;
    case Failure::kTooLarge:
      return ErrorCode::kTooLarge;
    case Failure::kInvalid:
      return ErrorCode::kInvalidArgument;
    case Failure::kInternal:
      return ErrorCode::kInternal;
  }
  return ErrorCode::kInternal;
}

Result<ClientRequest> ClientRequest::FromUri(Method method, std::string_view uri) {
  Result<Uri> parsed = ParseUri(uri);
  if (!parsed.ok()) {
    return parsed.error();
  }
  ClientRequest request;
  request.method = method;
  request.endpoint = parsed->endpoint;
  request.path = std::move(parsed->path);
  request.query = std::move(parsed->query);
  return request;
}

void StaticPskKeyStore::Add(std::string host, PskCredentials credentials) {
  by_host_[std::move(host)] = std::move(credentials);
}

void StaticPskKeyStore::SetDefault(PskCredentials credentials) {
  default_ = std::move(credentials);
}

std::optional<PskCredentials> StaticPskKeyStore::Find(const Endpoint& endpoint) const {
  const auto it = by_host_.find(endpoint.host);
  if (it != by_host_.end()) {
    return it->second;
  }
  return default_;
}

namespace detail {

namespace {

bool IsIpLiteral(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

Code ToCode(coap_pdu_code_t code) {
  const int value = static_cast<int>(code);
  return static_cast<Code>((value >> 5) * 100 + (value & 0x1F));
}

// SZX of a block size 16..1024 (RFC 7959 §2.2); -1 if not a power of two in range.
int BlockSzx(uint16_t size) {
  for (int szx = 0; szx <= 6; ++szx) {
    if (size == (16U << static_cast<unsigned>(szx))) {
      return szx;
    }
  }
  return -1;
}

// libcoap 4.3.1 ignores fixed-point values below 1.0.
coap_fixed_point_t FixedPoint(double value) {
  if (value < 1.0) {
    return coap_fixed_point_t{1, 0};
  }
  const double whole = std::floor(value);
  return coap_fixed_point_t{static_cast<uint16_t>(whole),
                            static_cast<uint16_t>(std::lround((value - whole) * 1000) % 1000)};
}

std::string MillisText(Millis value) {
  return std::to_string(value.count()) + " ms";
}

const char* NackText(coap_nack_reason_t reason) {
  switch (reason) {
    case COAP_NACK_TOO_MANY_RETRIES:
      return "no acknowledgement after the last CON retransmission";
    case COAP_NACK_NOT_DELIVERABLE:
      return "message could not be delivered";
    case COAP_NACK_RST:
      return "the peer answered with RST";
    case COAP_NACK_TLS_FAILED:
      return "DTLS handshake or session failed";
    case COAP_NACK_ICMP_ISSUE:
      return "ICMP error from the peer (port or host unreachable)";
  }
  return "unknown reason";
}

Failure NackFailure(coap_nack_reason_t reason) {
  switch (reason) {
    case COAP_NACK_TOO_MANY_RETRIES:
      return Failure::kTimeout;
    case COAP_NACK_RST:
      return Failure::kReset;
    case COAP_NACK_TLS_FAILED:
      return Failure::kSecurity;
    case COAP_NACK_NOT_DELIVERABLE:
    case COAP_NACK_ICMP_ISSUE:
      return Failure::kUnreachable;
  }
  return Failure::kInternal;
}

}  // namespace

struct SessionEntry {
  coap_session_t* session = nullptr;
  std::string key;
  Endpoint endpoint;
  int users = 0;
  Clock::time_point last_used;
};

struct Exchange {
  enum class Kind { kRequest, kPing, kObserve };
  Kind kind = Kind::kRequest;
  RequestId id = 0;
  std::string session_key;
  coap_session_t* session = nullptr;
  std::string token;
  coap_mid_t mid = COAP_INVALID_MID;
  Clock::time_point started;
  size_t max_body_size = 0;    // 0: the context's
  Context::TimerId timer = 0;  // deadline, or the Max-Age watch of an observation
  ResponseCallback on_response;
  PingCallback on_ping;
  NotificationCallback on_notification;
  // Observations only.
  Millis max_age_grace{0};
  std::optional<uint32_t> max_age;
  uint64_t notifications = 0;
  bool observing = false;
};

struct ClientCore : std::enable_shared_from_this<ClientCore> {
  ClientCore(Context& ctx, ClientOptions client_options)
      : context(ctx), core(ctx.core()), options(client_options) {}

  struct Acquired {
    SessionEntry* entry = nullptr;
    Failure failure = Failure::kInternal;
    std::string message;
  };

  Acquired Acquire(const Endpoint& endpoint, const std::optional<Address>& source = {}) {
    Acquired result;
    PskCredentials credentials;
    if (endpoint.transport == Transport::kDtls) {
      std::optional<PskCredentials> found;
      if (options.psk_keys != nullptr) {
        found = options.psk_keys->Find(endpoint);
      }
      if (!found || found->key.empty()) {
        result.failure = Failure::kSecurity;
        result.message = "no DTLS pre-shared key for " + endpoint.ToUri();
        return result;
      }
      credentials = std::move(*found);
    }
    Result<coap_address_t> address = ResolveAddress(endpoint.host, endpoint.port);
    if (!address.ok()) {
      result.failure = Failure::kUnreachable;
      result.message = address.error().message;
      return result;
    }
    std::optional<coap_address_t> local;
    if (source) {
      Result<coap_address_t> resolved = ResolveAddress(source->ip, source->port);
      if (!resolved.ok() || resolved->addr.sa.sa_family != address->addr.sa.sa_family) {
        result.failure = Failure::kInvalid;
        result.message = "cannot send from " + source->ToString() + " to " + endpoint.ToUri() +
                         (resolved.ok() ? ": address families differ" : "");
        return result;
      }
      local = *resolved;
    }
    std::string key = std::string(TransportName(endpoint.transport)) + "|" +
                      ToAddress(*address).ToString() + "|" + credentials.identity +
                      (source ? "|" + source->ToString() : "");
    const auto existing = sessions.find(key);
    if (existing != sessions.end()) {
      result.entry = existing->second.get();
      return result;
    }
    auto entry = std::make_unique<SessionEntry>();
    entry->key = key;
    entry->endpoint = endpoint;
    if (endpoint.transport == Transport::kDtls) {
      const PskCredentials& stored = StorePsk(std::move(credentials));
      coap_dtls_cpsk_t setup{};
      setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
      setup.psk_info.identity.s = reinterpret_cast<const uint8_t*>(stored.identity.data());
      setup.psk_info.identity.length = stored.identity.size();
      setup.psk_info.key.s = reinterpret_cast<const uint8_t*>(stored.key.data());
      setup.psk_info.key.length = stored.key.size();
      entry->session = coap_new_client_session_psk2(core.ctx, local ? &*local : nullptr, &*address,
                                                    COAP_PROTO_DTLS, &setup);
    } else {
      entry->session =
          coap_new_client_session(core.ctx, local ? &*local : nullptr, &*address, COAP_PROTO_UDP);
    }
    if (entry->session == nullptr) {
      // Typically EMFILE: one socket per peer (see ClientOptions::idle_session_timeout).
      result.failure = Failure::kUnreachable;
      result.message = "cannot open a session to " + endpoint.ToUri() + ": " + ErrnoText(errno);
      return result;
    }
    const auto ack_seconds = std::chrono::duration<double>(options.ack_timeout).count();
    coap_session_set_ack_timeout(entry->session, FixedPoint(ack_seconds));
    coap_session_set_ack_random_factor(entry->session, FixedPoint(options.ack_random_factor));
    coap_session_set_max_retransmit(entry->session, options.max_retransmit);
    coap_session_set_nstart(entry->session, std::max<uint16_t>(1, options.nstart));
    entry->last_used = Clock::now();
    result.entry = entry.get();
    by_session[entry->session] = entry.get();
    sessions.emplace(std::move(key), std::move(entry));
    ScheduleIdleSweep();
    return result;
  }

  // libcoap keeps pointers into a session's PSK set-up data, and a dropped session may outlive its
  // entry (queued messages hold it): the bytes live as long as the Client, once per credential.
  const PskCredentials& StorePsk(PskCredentials credentials) {
    std::string id = credentials.identity;
    id.push_back('\0');
    id += credentials.key;
    auto& slot = psk_storage[id];
    if (slot == nullptr) {
      slot = std::make_unique<PskCredentials>(std::move(credentials));
    }
    return *slot;
  }

  void ScheduleIdleSweep() {
    if (idle_timer != 0 || sessions.empty()) {
      return;
    }
    const Millis period =
        std::clamp<Millis>(options.idle_session_timeout / 4, Millis(50), Millis(5000));
    idle_timer = context.After(period, [this] {
      idle_timer = 0;
      SweepIdle();
    });
  }

  void SweepIdle() {
    const auto now = Clock::now();
    std::vector<std::string> idle;
    for (const auto& [key, entry] : sessions) {
      if (entry->users == 0 && now - entry->last_used >= options.idle_session_timeout) {
        idle.push_back(key);
      }
    }
    for (const auto& key : idle) {
      DropSession(key, false);
    }
    ScheduleIdleSweep();
  }

  // Forgets a session. `reset`: also cancel what libcoap still has queued for it (retransmissions
  // of exchanges that already failed), so that the socket closes now. Never call from inside
  // libcoap.
  void DropSession(const std::string& key, bool reset) {
    const auto it = sessions.find(key);
    if (it == sessions.end()) {
      return;
    }
    coap_session_t* session = it->second->session;
    by_session.erase(session);
    sessions.erase(it);
    if (reset) {
      coap_session_disconnected(session, COAP_NACK_NOT_DELIVERABLE);
    }
    coap_session_release(session);
  }

  void Release(const std::string& key, bool reset_if_idle) {
    const auto it = sessions.find(key);
    if (it == sessions.end()) {
      return;
    }
    SessionEntry& entry = *it->second;
    entry.users = std::max(0, entry.users - 1);
    entry.last_used = Clock::now();
    if (reset_if_idle && entry.users == 0) {
      // Deferred: this may run inside a libcoap callback that still iterates the session's queue.
      core.RunSoon([weak = weak_from_this(), key] {
        if (auto self = weak.lock()) {
          const auto found = self->sessions.find(key);
          if (found != self->sessions.end() && found->second->users == 0) {
            self->DropSession(key, true);
          }
        }
      });
    }
  }

  // Builds the request PDU (token, options, body); nullptr and `error` set on failure.
  static coap_pdu_t* BuildPdu(SessionEntry& entry, const ClientRequest& request, bool confirmable,
                              uint16_t block_size, bool observe, std::string& token,
                              std::string& error) {
    coap_pdu_t* pdu = coap_new_pdu(confirmable ? COAP_MESSAGE_CON : COAP_MESSAGE_NON,
                                   static_cast<coap_pdu_code_t>(request.method), entry.session);
    if (pdu == nullptr) {
      error = "libcoap cannot allocate a PDU";
      return nullptr;
    }
    uint8_t token_bytes[8];
    size_t token_length = 0;
    coap_session_new_token(entry.session, &token_length, token_bytes);
    coap_add_token(pdu, token_length, token_bytes);
    token.assign(reinterpret_cast<const char*>(token_bytes), token_length);

    std::vector<Option> wire = request.options;
    if (!IsIpLiteral(request.endpoint.host)) {
      wire.push_back(Option{option::kUriHost, request.endpoint.host});
    }
    for (const auto& segment : request.path) {
      wire.push_back(Option{option::kUriPath, segment});
    }
    for (const auto& item : request.query) {
      wire.push_back(Option{option::kUriQuery, item});
    }
    if (request.content_format) {
      wire.push_back(Option{option::kContentFormat, EncodeUint(*request.content_format)});
    }
    if (request.accept) {
      wire.push_back(Option{option::kAccept, EncodeUint(*request.accept)});
    }
    if (observe) {
      wire.push_back(Option{option::kObserve, EncodeUint(COAP_OBSERVE_ESTABLISH)});
    }
    if (block_size != 0) {
      // Block options with block 0 tell libcoap the size to use (it picks 1024 otherwise).
      const auto szx = static_cast<uint32_t>(BlockSzx(block_size));
      wire.push_back(Option{option::kBlock2, EncodeUint(szx)});
      if (!request.payload.empty()) {
        wire.push_back(Option{option::kBlock1, EncodeUint(szx)});
      }
    }
    if (!AddOptions(pdu, std::move(wire))) {
      coap_delete_pdu(pdu);
      error = "the request options do not fit one message";
      return nullptr;
    }
    if (!request.payload.empty()) {
      auto* body = new std::string(request.payload);
      // libcoap sends it in Block1 pieces when needed and frees it via ReleaseBody.
      if (coap_add_data_large_request(entry.session, pdu, body->size(),
                                      reinterpret_cast<const uint8_t*>(body->data()), ReleaseBody,
                                      body) == 0) {
        coap_delete_pdu(pdu);
        error = "libcoap refused the request body";
        return nullptr;
      }
    }
    return pdu;
  }

  // Reports a failure that happened before anything was sent (never synchronously).
  template <class Callback, class T>
  void FailSoon(const Callback& callback, Failure failure, const std::string& message) {
    core.RunSoon([callback, failure, message] { callback(Outcome<T>(failure, message)); });
    core.kick = true;
  }

  Exchange& Register(std::unique_ptr<Exchange> exchange, SessionEntry& entry) {
    exchange->session_key = entry.key;
    exchange->session = entry.session;
    exchange->started = Clock::now();
    ++entry.users;
    entry.last_used = exchange->started;
    if (!exchange->token.empty()) {
      by_token[{entry.session, exchange->token}] = exchange->id;
    }
    if (exchange->mid != COAP_INVALID_MID) {
      by_mid[{entry.session, exchange->mid}] = exchange->id;
    }
    Exchange& result = *exchange;
    exchanges[exchange->id] = std::move(exchange);
    return result;
  }

  // Removes an exchange from every index; the caller completes it.
  std::unique_ptr<Exchange> Unregister(RequestId id) {
    const auto it = exchanges.find(id);
    if (it == exchanges.end()) {
      return nullptr;
    }
    std::unique_ptr<Exchange> exchange = std::move(it->second);
    exchanges.erase(it);
    if (!exchange->token.empty()) {
      by_token.erase({exchange->session, exchange->token});
    }
    if (exchange->mid != COAP_INVALID_MID) {
      by_mid.erase({exchange->session, exchange->mid});
    }
    if (exchange->timer != 0) {
      context.CancelTimer(exchange->timer);
      exchange->timer = 0;
    }
    return exchange;
  }

  void ArmTimer(Exchange& exchange, Millis delay, Failure failure, std::string message) {
    if (exchange.timer != 0) {
      context.CancelTimer(exchange.timer);
    }
    exchange.timer = context.After(delay, [this, id = exchange.id, failure, message] {
      if (const auto found = exchanges.find(id); found != exchanges.end()) {
        found->second->timer = 0;
      }
      Fail(id, failure, message);
    });
  }

  void Complete(RequestId id, ClientResponse response) {
    std::unique_ptr<Exchange> exchange = Unregister(id);
    if (exchange == nullptr) {
      return;
    }
    Release(exchange->session_key, false);
    core.RunSoon([callback = std::move(exchange->on_response), response = std::move(response)] {
      callback(Outcome<ClientResponse>(response));
    });
  }

  void Fail(RequestId id, Failure failure, const std::string& message) {
    std::unique_ptr<Exchange> exchange = Unregister(id);
    if (exchange == nullptr) {
      return;
    }
    // A peer that reset us is alive, and a relation being deregistered needs its session: keep it.
    // Otherwise stop libcoap retransmitting to the peer (when nothing else uses the session).
    const bool deregister = exchange->kind == Exchange::Kind::kObserve && exchange->observing;
    if (deregister) {
      Deregister(*exchange);
    }
    Release(exchange->session_key,
            failure != Failure::kReset && failure != Failure::kCancelled && !deregister);
    switch (exchange->kind) {
      case Exchange::Kind::kRequest:
        core.RunSoon([callback = std::move(exchange->on_response), failure, message] {
          callback(Outcome<ClientResponse>(failure, message));
        });
        break;
      case Exchange::Kind::kPing:
        core.RunSoon([callback = std::move(exchange->on_ping), failure, message] {
          callback(Outcome<Millis>(failure, message));
        });
        break;
      case Exchange::Kind::kObserve:
        core.RunSoon([callback = std::move(exchange->on_notification), failure, message] {
          callback(Outcome<Notification>(failure, message));
        });
        break;
    }
  }

  // Tells the server to drop an observe relation (GET with Observe=1 on the same token).
  void Deregister(const Exchange& exchange) {
    auto send = [weak = weak_from_this(), key = exchange.session_key, token = exchange.token] {
      auto self = weak.lock();
      if (self == nullptr) {
        return;
      }
      const auto it = self->sessions.find(key);
      if (it == self->sessions.end()) {
        return;
      }
      std::string bytes = token;
      coap_binary_t binary{bytes.size(), reinterpret_cast<uint8_t*>(bytes.data())};
      if (coap_cancel_observe(it->second->session, &binary, COAP_MESSAGE_CON) == 0) {
        log::Debug(kLogComponent, "no observe relation to cancel",
                   {{"peer", it->second->endpoint.ToUri()}});
      }
      self->core.kick = true;
    };
    if (core.in_coap) {
      core.RunSoon(send);
    } else {
      send();
    }
  }

  void OnPingDone(coap_session_t* session, coap_mid_t mid, coap_nack_reason_t reason) {
    const auto it = by_mid.find({session, mid});
    if (it == by_mid.end()) {
      return;
    }
    const RequestId id = it->second;
    if (reason == COAP_NACK_RST) {
      std::unique_ptr<Exchange> exchange = Unregister(id);
      Release(exchange->session_key, false);
      const auto rtt = std::chrono::duration_cast<Millis>(Clock::now() - exchange->started);
      core.RunSoon(
          [callback = std::move(exchange->on_ping), rtt] { callback(Outcome<Millis>(rtt)); });
      return;
    }
    Fail(id, NackFailure(reason), NackText(reason));
  }

  void OnNotification(Exchange& exchange, ClientResponse response) {
    ++exchange.notifications;
    exchange.observing = CodeClass(response.code) == 2 && response.observe.has_value();
    if (!exchange.observing) {
      // The server did not keep (or ended) the relation: this response is the last event.
      std::unique_ptr<Exchange> done = Unregister(exchange.id);
      Release(done->session_key, false);
      core.RunSoon([callback = std::move(done->on_notification), response = std::move(response)] {
        callback(Outcome<Notification>(Notification{response, false}));
      });
      return;
    }
    exchange.max_age = response.max_age;
    const Millis silence =
        std::chrono::duration_cast<Millis>(std::chrono::seconds(response.max_age.value_or(60))) +
        exchange.max_age_grace;
    ArmTimer(exchange, silence, Failure::kTimeout,
             "no notification within Max-Age (" + MillisText(silence) + " with grace)");
    // Looked up when it runs: an earlier callback in the same batch may have cancelled it.
    core.RunSoon([weak = weak_from_this(), id = exchange.id, response = std::move(response)] {
      auto self = weak.lock();
      if (self == nullptr) {
        return;
      }
      const auto found = self->exchanges.find(id);
      if (found == self->exchanges.end()) {
        return;
      }
      const NotificationCallback callback = found->second->on_notification;
      callback(Outcome<Notification>(Notification{response, true}));
    });
  }

  static ClientResponse ParseResponse(const coap_pdu_t* pdu, Clock::time_point started) {
    ClientResponse response;
    response.code = ToCode(coap_pdu_get_code(pdu));
    response.options = ReadOptions(pdu);
    for (const auto& option : response.options) {
      switch (option.number) {
        case option::kContentFormat:
          response.content_format = static_cast<uint16_t>(DecodeUint(option.value));
          break;
        case option::kMaxAge:
          response.max_age = DecodeUint(option.value);
          break;
        case option::kObserve:
          response.observe = DecodeUint(option.value);
          break;
        case option::kETag:
          response.etag = option.value;
          break;
        case option::kLocationPath:
          response.location_path.push_back(option.value);
          break;
        default:
          break;
      }
    }
    response.payload = ReadBody(pdu);
    response.round_trip = std::chrono::duration_cast<Millis>(Clock::now() - started);
    return response;
  }

  Context& context;
  Context::Core& core;
  ClientOptions options;
  std::map<std::string, std::unique_ptr<SessionEntry>> sessions;
  std::unordered_map<coap_session_t*, SessionEntry*> by_session;
  std::map<RequestId, std::unique_ptr<Exchange>> exchanges;
  std::map<std::pair<coap_session_t*, std::string>, RequestId> by_token;
  std::map<std::pair<coap_session_t*, coap_mid_t>, RequestId> by_mid;
  std::map<std::string, std::unique_ptr<PskCredentials>> psk_storage;
  RequestId next_id = 1;
  Context::TimerId idle_timer = 0;
};

coap_response_t ClientOnResponse(ClientCore& client, coap_session_t* session,
                                 const coap_pdu_t* received) {
  const auto it = client.by_token.find({session, TokenOf(received)});
  if (it == client.by_token.end()) {
    // A late answer to an exchange already completed: acknowledge and drop it. A notification for
    // a relation we no longer want: RST, so the server forgets it (RFC 7641 §3.6).
    coap_opt_iterator_t iterator;
    return coap_check_option(received, COAP_OPTION_OBSERVE, &iterator) != nullptr
               ? COAP_RESPONSE_FAIL
               : COAP_RESPONSE_OK;
  }
  Exchange& exchange = *client.exchanges.at(it->second);
  ClientResponse response = client.ParseResponse(received, exchange.started);
  const size_t max_body_size =
      exchange.max_body_size != 0 ? exchange.max_body_size : client.core.options.max_body_size;
  if (response.payload.size() > max_body_size) {
    client.Fail(exchange.id, Failure::kTooLarge,
                "response body of " + std::to_string(response.payload.size()) +
                    " bytes exceeds max_body_size (" + std::to_string(max_body_size) + ")");
    return COAP_RESPONSE_OK;
  }
  if (exchange.kind == Exchange::Kind::kObserve) {
    client.OnNotification(exchange, std::move(response));
  } else {
    client.Complete(exchange.id, std::move(response));
  }
  return COAP_RESPONSE_OK;
}

void ClientOnNack(ClientCore& client, coap_session_t* session, const coap_pdu_t* sent,
                  coap_nack_reason_t reason, coap_mid_t mid) {
  if (coap_pdu_get_code(sent) == COAP_EMPTY_CODE) {
    client.OnPingDone(session, mid, reason);
    return;
  }
  const auto it = client.by_token.find({session, TokenOf(sent)});
  if (it == client.by_token.end()) {
    return;  // an exchange that already completed (deadline) or a deregistration
  }
  client.Fail(it->second, NackFailure(reason), NackText(reason));
}

void ClientOnPong(ClientCore& client, coap_session_t* session, coap_mid_t mid) {
  client.OnPingDone(session, mid, COAP_NACK_RST);
}

void ClientOnSessionEvent(ClientCore& client, coap_session_t* session, coap_event_t event) {
  if (event != COAP_EVENT_DTLS_ERROR && event != COAP_EVENT_DTLS_CLOSED) {
    return;
  }
  const auto it = client.by_session.find(session);
  if (it == client.by_session.end()) {
    return;
  }
  log::Warn(kLogComponent, event == COAP_EVENT_DTLS_ERROR ? "DTLS session failed" : "DTLS closed",
            {{"peer", it->second->endpoint.ToUri()}});
  // Forget the broken session once libcoap is done with this callback; exchanges on it are
  // nacked (kSecurity) by libcoap.
  client.core.RunSoon([weak = client.weak_from_this(), key = it->second->key] {
    if (auto self = weak.lock()) {
      self->DropSession(key, false);
    }
  });
}

}  // namespace detail

using detail::ClientCore;
using detail::Exchange;

Client::Client(Context& context, ClientOptions options)
    : core_(std::make_shared<ClientCore>(context, options)) {
  context.CheckLoopThread("Client::Client");
  if (core_->core.client != nullptr) {
    throw std::logic_error("coap::Client: this Context already has a Client");
  }
  core_->core.client = core_.get();
}

Client::~Client() {
  std::vector<ResponseCallback> responses;
  std::vector<PingCallback> pings;
  detail::Guard("Client destructor", [&] {
    core_->context.CheckLoopThread("Client::~Client");
    if (core_->idle_timer != 0) {
      core_->context.CancelTimer(core_->idle_timer);
    }
    std::vector<RequestId> ids;
    for (const auto& [id, exchange] : core_->exchanges) {
      ids.push_back(id);
    }
    for (const RequestId id : ids) {
      std::unique_ptr<Exchange> exchange = core_->Unregister(id);
      switch (exchange->kind) {
        case Exchange::Kind::kRequest:
          responses.push_back(std::move(exchange->on_response));
          break;
        case Exchange::Kind::kPing:
          pings.push_back(std::move(exchange->on_ping));
          break;
        case Exchange::Kind::kObserve:
          if (exchange->observing) {
            core_->Deregister(*exchange);
          }
          break;
      }
    }
    // DTLS sessions are reset: libcoap must not start a handshake from them once the PSK bytes
    // (owned by the core) are gone.
    std::vector<std::pair<std::string, bool>> keys;
    for (const auto& [key, entry] : core_->sessions) {
      keys.emplace_back(key, entry->endpoint.transport == Transport::kDtls);
    }
    for (const auto& [key, reset] : keys) {
      core_->DropSession(key, reset);
    }
  });
  core_->core.client = nullptr;
  for (auto& callback : responses) {
    detail::Guard("cancelled response callback", [&] {
      callback(Outcome<ClientResponse>(Failure::kCancelled, "the client was destroyed"));
    });
  }
  for (auto& callback : pings) {
    detail::Guard("cancelled ping callback", [&] {
      callback(Outcome<Millis>(Failure::kCancelled, "the client was destroyed"));
    });
  }
}

RequestId Client::Send(const ClientRequest& request, RequestOptions options,
                       ResponseCallback callback) {
  core_->context.CheckLoopThread("Client::Send");
  const RequestId id = core_->next_id++;
  if (options.block_size != 0 && detail::BlockSzx(options.block_size) < 0) {
    core_->FailSoon<ResponseCallback, ClientResponse>(
        callback, Failure::kInvalid,
        "block size " + std::to_string(options.block_size) + " is not 16, 32, ..., 1024");
    return id;
  }
  ClientCore::Acquired acquired = core_->Acquire(request.endpoint, request.source);
  if (acquired.entry == nullptr) {
    core_->FailSoon<ResponseCallback, ClientResponse>(callback, acquired.failure, acquired.message);
    return id;
  }
  auto exchange = std::make_unique<Exchange>();
  exchange->kind = Exchange::Kind::kRequest;
  exchange->id = id;
  exchange->max_body_size = options.max_body_size;
  exchange->on_response = std::move(callback);
  std::string error;
  coap_pdu_t* pdu = core_->BuildPdu(*acquired.entry, request, options.confirmable,
                                    options.block_size, false, exchange->token, error);
  if (pdu == nullptr) {
    core_->FailSoon<ResponseCallback, ClientResponse>(exchange->on_response, Failure::kInvalid,
                                                      error);
    return id;
  }
  coap_session_t* session = acquired.entry->session;
  Exchange& registered = core_->Register(std::move(exchange), *acquired.entry);
  if (coap_send(session, pdu) == COAP_INVALID_MID) {
    core_->Fail(id, Failure::kUnreachable, "libcoap could not send to " + request.endpoint.ToUri());
    core_->core.kick = true;
    return id;
  }
  core_->ArmTimer(registered, options.timeout, Failure::kTimeout,
                  "no response within " + detail::MillisText(options.timeout));
  core_->core.kick = true;
  return id;
}

bool Client::Cancel(RequestId id) {
  core_->context.CheckLoopThread("Client::Cancel");
  const auto it = core_->exchanges.find(id);
  if (it == core_->exchanges.end() || it->second->kind == Exchange::Kind::kObserve) {
    return false;
  }
  core_->Fail(id, Failure::kCancelled, "cancelled by the caller");
  return true;
}

RequestId Client::Ping(const Endpoint& endpoint, Millis timeout, PingCallback callback,
                       const std::optional<Address>& source) {
  core_->context.CheckLoopThread("Client::Ping");
  const RequestId id = core_->next_id++;
  ClientCore::Acquired acquired = core_->Acquire(endpoint, source);
  if (acquired.entry == nullptr) {
    core_->FailSoon<PingCallback, Millis>(callback, acquired.failure, acquired.message);
    return id;
  }
  const coap_mid_t mid = coap_session_send_ping(acquired.entry->session);
  if (mid == COAP_INVALID_MID) {
    core_->FailSoon<PingCallback, Millis>(
        callback, Failure::kUnreachable,
        "cannot ping " + endpoint.ToUri() + " (session not established or send failed)");
    return id;
  }
  auto exchange = std::make_unique<Exchange>();
  exchange->kind = Exchange::Kind::kPing;
  exchange->id = id;
  exchange->mid = mid;
  exchange->on_ping = std::move(callback);
  Exchange& registered = core_->Register(std::move(exchange), *acquired.entry);
  core_->ArmTimer(registered, timeout, Failure::kTimeout,
                  "no RST within " + detail::MillisText(timeout));
  core_->core.kick = true;
  return id;
}

Observation Client::Observe(const ClientRequest& request, ObserveOptions options,
                            NotificationCallback callback) {
  core_->context.CheckLoopThread("Client::Observe");
  const RequestId id = core_->next_id++;
  if (request.method != Method::kGet && request.method != Method::kFetch) {
    core_->FailSoon<NotificationCallback, Notification>(callback, Failure::kInvalid,
                                                        "only GET and FETCH can observe");
    return {core_, id};
  }
  ClientCore::Acquired acquired = core_->Acquire(request.endpoint, request.source);
  if (acquired.entry == nullptr) {
    core_->FailSoon<NotificationCallback, Notification>(callback, acquired.failure,
                                                        acquired.message);
    return {core_, id};
  }
  auto exchange = std::make_unique<Exchange>();
  exchange->kind = Exchange::Kind::kObserve;
  exchange->id = id;
  exchange->on_notification = std::move(callback);
  exchange->max_age_grace = options.max_age_grace;
  std::string error;
  coap_pdu_t* pdu = core_->BuildPdu(*acquired.entry, request, options.confirmable, 0, true,
                                    exchange->token, error);
  if (pdu == nullptr) {
    core_->FailSoon<NotificationCallback, Notification>(exchange->on_notification,
                                                        Failure::kInvalid, error);
    return {core_, id};
  }
  coap_session_t* session = acquired.entry->session;
  Exchange& registered = core_->Register(std::move(exchange), *acquired.entry);
  if (coap_send(session, pdu) == COAP_INVALID_MID) {
    core_->Fail(id, Failure::kUnreachable, "libcoap could not send to " + request.endpoint.ToUri());
    core_->core.kick = true;
    return {core_, id};
  }
  core_->ArmTimer(
      registered, options.timeout, Failure::kTimeout,
      "no response to the observe registration within " + detail::MillisText(options.timeout));
  core_->core.kick = true;
  return {core_, id};
}

size_t Client::SessionCount() const {
  core_->context.CheckLoopThread("Client::SessionCount");
  return core_->sessions.size();
}

size_t Client::PendingCount() const {
  core_->context.CheckLoopThread("Client::PendingCount");
  return static_cast<size_t>(std::count_if(
      core_->exchanges.begin(), core_->exchanges.end(),
      [](const auto& entry) { return entry.second->kind != Exchange::Kind::kObserve; }));
}

size_t Client::ObservationCount() const {
  return core_->exchanges.size() - PendingCount();
}

Observation::~Observation() {
  Cancel();
}

Observation::Observation(Observation&& other) noexcept
    : core_(std::move(other.core_)), id_(other.id_) {
  other.id_ = 0;
}

Observation& Observation::operator=(Observation&& other) noexcept {
  if (this != &other) {
    Cancel();
    core_ = std::move(other.core_);
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

void Observation::Cancel() {
  auto core = core_.lock();
  core_.reset();
  if (core == nullptr || id_ == 0) {
    return;
  }
  detail::Guard("Observation::Cancel", [&] {
    core->context.CheckLoopThread("Observation::Cancel");
    std::unique_ptr<Exchange> exchange = core->Unregister(id_);
    if (exchange == nullptr) {
      return;
    }
    if (exchange->observing) {
      core->Deregister(*exchange);
    }
    core->Release(exchange->session_key, false);
  });
}

bool Observation::active() const {
  auto core = core_.lock();
  if (core == nullptr) {
    return false;
  }
  core->context.CheckLoopThread("Observation::active");
  return core->exchanges.count(id_) != 0;
}

std::optional<uint32_t> Observation::max_age() const {
  auto core = core_.lock();
  if (core == nullptr) {
    return std::nullopt;
  }
  core->context.CheckLoopThread("Observation::max_age");
  const auto it = core->exchanges.find(id_);
  return it != core->exchanges.end() ? it->second->max_age : std::nullopt;
}

uint64_t Observation::notifications() const {
  auto core = core_.lock();
  if (core == nullptr) {
    return 0;
  }
  core->context.CheckLoopThread("Observation::notifications");
  const auto it = core->exchanges.find(id_);
  return it != core->exchanges.end() ? it->second->notifications : 0;
}

}  // namespace coapgw::coap
