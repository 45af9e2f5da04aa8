#include "coapgw/coap/server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <net/if.h>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/log.hpp"
#include "internal.hpp"

namespace coapgw::coap {

namespace detail {

struct DeferredState {
  std::weak_ptr<ServerCore> server;
  uint64_t id = 0;
  Request request;
  bool pending = true;
};

namespace {

// Key of an observe relation: the server session and the token of the registering request.
using ObserverKey = std::pair<coap_session_t*, std::string>;

// The libcoap resource path of "/a/b": "a/b".
std::string ResourceKey(std::string_view path) {
  std::string key(path);
  while (!key.empty() && key.front() == '/') {
    key.erase(key.begin());
  }
  while (!key.empty() && key.back() == '/') {
    key.pop_back();
  }
  return key;
}

coap_pdu_code_t ToPduCode(Code code) {
  const int value = static_cast<int>(code);
  return static_cast<coap_pdu_code_t>(((value / 100) << 5) | (value % 100));
}

// Calls `visit(fd, local address)` for every UDP socket of this process.
template <class Visit>
void ForEachOwnUdpSocket(Visit visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) {
    return;
  }
  const int dir_fd = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == dir_fd) {
      continue;
    }
    const int sock = static_cast<int>(fd);
    int type = 0;
    socklen_t type_length = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_DGRAM) {
      continue;
    }
    coap_address_t local;
    coap_address_init(&local);
    local.size = sizeof local.addr;
    if (getsockname(sock, &local.addr.sa, &local.size) == 0) {
      visit(sock, local);
    }
  }
  closedir(dir);
}

// Finds the socket libcoap opened for an endpoint (coap_endpoint_t is opaque): the one unconnected
// UDP socket of this process bound to `bound`. -1 if not exactly one matches.
int FindBoundSocket(const Address& bound) {
  int found = -1;
  int matches = 0;
  ForEachOwnUdpSocket([&](int sock, const coap_address_t& local) {
    if (ToAddress(local) != bound) {
      return;
    }
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof peer;
    if (getpeername(sock, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) {
      return;  // a client session's connected socket
    }
    found = sock;
    ++matches;
  });
  return matches == 1 ? found : -1;
}

// Asks for `bytes` of receive buffer on `fd`; returns what the kernel granted (-1 if unknown).
int RaiseReceiveBuffer(int fd, int bytes) {
  if (fd < 0) {
    return -1;
  }
  if (bytes > 0) {
    // SO_RCVBUFFORCE passes rmem_max when the process may (CAP_NET_ADMIN); otherwise the kernel
    // caps SO_RCVBUF at rmem_max.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    }
  }
  int granted = -1;
  socklen_t length = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &length);
  return granted;
}

// UDP sockets in this network namespace whose local port is `port` (/proc/net/udp and udp6);
// -1 if those files cannot be read.
int UdpSocketsOnPort(uint16_t port) {
  int count = 0;
  bool readable = false;
  char wanted[8];
  std::snprintf(wanted, sizeof wanted, ":%04X", static_cast<unsigned>(port));
  for (const char* path : {"/proc/net/udp", "/proc/net/udp6"}) {
    FILE* file = std::fopen(path, "r");
    if (file == nullptr) {
      continue;
    }
    readable = true;
    char line[512];
    while (std::fgets(line, sizeof line, file) != nullptr) {
      // "  12: 0100007F:A3F1 00000000:0000 07 ...": the local address is the second field.
      char local[64] = {};
      if (std::sscanf(line, "%*s %63s", local) == 1) {
        const char* colon = std::strrchr(local, ':');
        if (colon != nullptr && std::strcmp(colon, wanted) == 0) {
          ++count;
        }
      }
    }
    std::fclose(file);
  }
  return readable ? count : -1;
}

// UDP sockets of this process whose local port is `port`.
int OwnUdpSocketsOnPort(uint16_t port) {
  int count = 0;
  ForEachOwnUdpSocket([&](int, const coap_address_t& local) {
    count += coap_address_get_port(&local) == port ? 1 : 0;
  });
  return count;
}

// Whether a socket of another process holds `address`'s UDP port so that binding it too would
// share the traffic: libcoap binds with SO_REUSEADDR, so a second server (a second RD, say) on
// the same port would start without an error and receive part of the datagrams. A probe socket
// without SO_REUSEADDR is refused when any socket holds the port; sockets of this process (a
// client sending from a server's port, a dual-stack wildcard next to an IPv4 endpoint) are shared
// on purpose and do not count.
bool PortHeldByAnotherProcess(const coap_address_t& address) {
  const int family = address.addr.sa.sa_family;
  const int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return false;  // the real bind reports what is wrong
  }
  if (family == AF_INET6) {
    const int on = 1;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  const bool refused = bind(fd, &address.addr.sa, address.size) != 0 && errno == EADDRINUSE;
  close(fd);
  if (!refused) {
    return false;
  }
  const uint16_t port = coap_address_get_port(&address);
  return UdpSocketsOnPort(port) > OwnUdpSocketsOnPort(port);
}

bool IsAnyAddress(const Address& address) {
  return address.ip == "0.0.0.0" || address.ip == "::";
}

void HandleRequest(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                   const coap_string_t* query, coap_pdu_t* response);

}  // namespace

struct ServerCore : std::enable_shared_from_this<ServerCore> {
  ServerCore(Context& ctx, ServerOptions server_options)
      : context(ctx), core(ctx.core()), options(std::move(server_options)) {}

  struct PendingDeferred {
    std::weak_ptr<DeferredState> state;
    coap_session_t* session = nullptr;  // kept alive by the async entry
    coap_resource_t* resource = nullptr;
    coap_async_t* async = nullptr;
    std::string token;
    std::optional<Response> response;  // set once completed, written when libcoap re-runs us
    Clock::time_point deadline;
  };

  // Registers the current request with libcoap's async machinery so that the client gets an
  // empty ACK now and libcoap calls the handler again, with a copy of the request, once triggered.
  class DeferHook : public Response::DeferHook {
   public:
    DeferHook(ServerCore& server, coap_resource_t* resource, coap_session_t* session,
              const coap_pdu_t* request, const Request& parsed)
        : server_(server),
          resource_(resource),
          session_(session),
          request_(request),
          parsed_(parsed) {}

    DeferredResponse Defer() override {
      auto state = std::make_shared<DeferredState>();
      state->server = server_.weak_from_this();
      state->request = parsed_;
      coap_async_t* async = coap_register_async(session_, request_, 0);
      if (async == nullptr) {
        // libcoap already holds an async entry for this token: a multicast request it delays.
        state->pending = false;
        failed_ = true;
        log::Warn(kLogComponent, "cannot defer this request (multicast or duplicate token)",
                  {{"path", parsed_.Path()}});
        return DeferredResponse(state);
      }
      state->id = server_.next_deferred_id++;
      // The async entry carries our id (not a pointer): a stale one cannot dangle.
      coap_async_set_app_data(async, reinterpret_cast<void*>(  // NOLINT(performance-no-int-to-ptr)
                                         static_cast<uintptr_t>(state->id)));
      PendingDeferred pending;
      pending.state = state;
      pending.session = session_;
      pending.async = async;
      pending.token = TokenOf(request_);
      pending.resource = resource_;
      pending.deadline = Clock::now() + server_.options.deferred_timeout;
      server_.deferred.emplace(state->id, std::move(pending));
      server_.ScheduleSweep();
      deferred_ = true;
      id_ = state->id;
      return DeferredResponse(state);
    }

    bool deferred() const { return deferred_; }
    bool failed() const { return failed_; }
    uint64_t id() const { return id_; }

   private:
    ServerCore& server_;
    coap_resource_t* resource_;
    coap_session_t* session_;
    const coap_pdu_t* request_;
    const Request& parsed_;
    bool deferred_ = false;
    bool failed_ = false;
    uint64_t id_ = 0;
  };

  Request ParseRequest(coap_session_t* session, const coap_pdu_t* pdu) {
    Request request;
    request.method = static_cast<Method>(coap_pdu_get_code(pdu));
    request.options = ReadOptions(pdu);
    const auto count = [&request](uint16_t number) {
      return std::count_if(request.options.begin(), request.options.end(),
                           [number](const Option& option) { return option.number == number; });
    };
    request.path.reserve(static_cast<size_t>(count(option::kUriPath)));
    request.query.reserve(static_cast<size_t>(count(option::kUriQuery)));
    for (const auto& option : request.options) {
      switch (option.number) {
        case option::kUriPath:
          request.path.push_back(option.value);
          break;
        case option::kUriQuery:
          request.query.push_back(option.value);
          break;
        case option::kUriHost:
          request.uri_host = option.value;
          break;
        case option::kContentFormat:
          request.content_format = static_cast<uint16_t>(DecodeUint(option.value));
          break;
        case option::kAccept:
          request.accept = static_cast<uint16_t>(DecodeUint(option.value));
          break;
        case option::kObserve:
          request.observe = DecodeUint(option.value);
          break;
        default:
          break;
      }
    }
    request.payload = ReadBody(pdu);
    const coap_address_t& remote = *coap_session_get_addr_remote(session);
    const coap_address_t& local = *coap_session_get_addr_local(session);
    const auto tracked = sessions.find(session);
    if (tracked != sessions.end()) {
      request.source = tracked->second.source.Of(remote);
      request.local = tracked->second.local.Of(local);
    } else {
      request.source = ToAddress(remote);
      request.local = ToAddress(local);
    }
    request.multicast = coap_is_mcast(coap_session_get_addr_local(session)) != 0;
    request.confirmable = coap_pdu_get_type(pdu) == COAP_MESSAGE_CON;
    request.transport =
        coap_session_get_proto(session) == COAP_PROTO_DTLS ? Transport::kDtls : Transport::kUdp;
    if (request.transport == Transport::kDtls) {
      const auto it = identity_by_session.find(session);
      if (it != identity_by_session.end()) {
        request.dtls_identity = it->second;
      }
    }
    return request;
  }

  // Writes `out` into libcoap's response PDU.
  static void Write(const Response& out, coap_resource_t* resource, coap_session_t* session,
                    const coap_pdu_t* request, const coap_string_t* query, coap_pdu_t* pdu) {
    coap_pdu_set_code(pdu, ToPduCode(out.code()));
    std::vector<Option> wire = out.options();
    for (const auto& segment : out.location_path()) {
      wire.push_back(Option{option::kLocationPath, segment});
    }
    const bool has_body = !out.payload().empty();
    if (out.etag()) {
      wire.push_back(Option{option::kETag, EncodeUint(*out.etag())});
    }
    if (has_body && out.content_format() == content_format::kTextPlain) {
      // coap_add_data_large_response() leaves out a Content-Format of 0 (text/plain), and no
      // Content-Format means "format unknown" (RFC 7252 §5.10.3), so it is added here.
      wire.push_back(Option{option::kContentFormat, EncodeUint(content_format::kTextPlain)});
    }
    if (!has_body) {
      if (out.content_format()) {
        wire.push_back(Option{option::kContentFormat, EncodeUint(*out.content_format())});
      }
      if (out.max_age()) {
        wire.push_back(Option{option::kMaxAge, EncodeUint(*out.max_age())});
      }
    }
    if (!AddOptions(pdu, std::move(wire))) {
      log::Error(kLogComponent, "response options do not fit one message",
                 {{"code", FormatCode(out.code())}});
      coap_pdu_set_code(pdu, ToPduCode(Code::kInternalServerError));
      return;
    }
    if (has_body) {
      auto* body = new std::string(out.payload());
      const int max_age =
          out.max_age() ? static_cast<int>(std::min<uint32_t>(*out.max_age(), INT_MAX)) : -1;
      // libcoap sends the body in Block2 pieces when it does not fit, and frees it via ReleaseBody.
      if (coap_add_data_large_response(resource, session, request, pdu, query,
                                       out.content_format().value_or(content_format::kTextPlain),
                                       max_age, out.etag().value_or(0), body->size(),
                                       reinterpret_cast<const uint8_t*>(body->data()), ReleaseBody,
                                       body) == 0) {
        log::Error(kLogComponent, "libcoap refused the response body",
                   {{"bytes", std::to_string(out.payload().size())}});
      }
    }
  }

  void TrackObserve(coap_resource_t* resource, coap_session_t* session, const std::string& token,
                    const Request& request, Code code) {
    const Resource* owner = OwnerOf(resource);
    if (owner == nullptr || !owner->options().observable || !request.observe ||
        (request.method != Method::kGet && request.method != Method::kFetch)) {
      return;
    }
    const ObserverKey key{session, token};
    if (*request.observe == 0 && CodeClass(code) == 2) {
      observers[resource].insert(key);
    } else {
      observers[resource].erase(key);
    }
  }

  void OnRequest(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* pdu,
                 const coap_string_t* query, coap_pdu_t* response) {
    if (coap_async_t* async = coap_find_async(session, coap_pdu_get_token(pdu))) {
      const auto id = reinterpret_cast<uintptr_t>(coap_async_get_app_data(async));
      if (id != 0) {
        FinishDeferred(id, resource, session, pdu, query, response);
        return;
      }
      // Otherwise libcoap's own async entry: a multicast request it delayed. Handle it normally.
    }
    const Request request = ParseRequest(session, pdu);
    Response out;
    DeferHook hook(*this, resource, session, pdu, request);
    out.SetDeferHookInternal(&hook);

    const Handler* handler = nullptr;
    Resource* owner = OwnerOf(resource);
    if (owner != nullptr) {
      const auto it = owner->handlers_.find(request.method);
      if (it != owner->handlers_.end()) {
        handler = &it->second;
      }
    } else if (resource == unknown_resource && unknown_handler) {
      handler = &unknown_handler;
    }

    if (request.payload.size() > core.options.max_body_size) {
      out.SetCode(Code::kRequestEntityTooLarge);
    } else if (handler == nullptr) {
      out.SetCode(owner != nullptr ? Code::kMethodNotAllowed : Code::kNotFound);
    } else {
      try {
        (*handler)(request, out);
      } catch (const std::exception& error) {
        log::Error(kLogComponent, "request handler threw",
                   {{"method", MethodName(request.method)},
                    {"path", request.Path()},
                    {"error", error.what()}});
        out = Response(Code::kInternalServerError);
      } catch (...) {
        log::Error(kLogComponent, "request handler threw",
                   {{"method", MethodName(request.method)},
                    {"path", request.Path()},
                    {"error", "unknown"}});
        out = Response(Code::kInternalServerError);
      }
    }
    if (hook.deferred()) {
      // Code left at 0.00: libcoap sends an empty ACK for a CON and nothing for a NON. A handler
      // that deferred and then threw gets its 5.00 as the separate response.
      if (!out.deferred()) {
        Complete(hook.id(), out);
      }
      return;
    }
    if (hook.failed()) {
      out = Response(Code::kServiceUnavailable);
    }
    if (out.SuppressedFor(request)) {
      return;  // 0.00 on a (necessarily NON) multicast request: nothing is sent
    }
    Write(out, resource, session, pdu, query, response);
    TrackObserve(resource, session, TokenOf(pdu), request, out.code());
  }

  void FinishDeferred(uintptr_t id, coap_resource_t* resource, coap_session_t* session,
                      const coap_pdu_t* pdu, const coap_string_t* query, coap_pdu_t* response) {
    const auto it = deferred.find(id);
    Response out(Code::kServiceUnavailable);
    Request request;
    if (it != deferred.end()) {
      if (it->second.response) {
        out = std::move(*it->second.response);
      }
      if (auto state = it->second.state.lock()) {
        request = state->request;
        state->pending = false;
      }
      deferred.erase(it);
    }
    // The handler is re-run with a copy of the request made by coap_register_async; what goes
    // back is a separate response, which RFC 7252 §5.2.2 wants confirmable for a CON request,
    // not the ACK libcoap prepared for a piggy-backed one.
    if (coap_pdu_get_type(response) == COAP_MESSAGE_ACK) {
      coap_pdu_set_type(response, COAP_MESSAGE_CON);
    }
    Write(out, resource, session, pdu, query, response);
    TrackObserve(resource, session, TokenOf(pdu), request, out.code());
  }

  // Loop thread: called by DeferredResponse::Complete and by the sweep.
  bool Complete(uint64_t id, Response response) {
    const auto it = deferred.find(id);
    if (it == deferred.end() || it->second.response) {
      return false;
    }
    it->second.response = std::move(response);
    coap_async_trigger(it->second.async);
    core.kick = true;
    return true;
  }

  void ScheduleSweep() {
    if (sweep_timer != 0) {
      return;
    }
    sweep_timer = context.After(Millis(250), [this] {
      sweep_timer = 0;
      Sweep();
    });
  }

  void Sweep() {
    const auto now = Clock::now();
    std::vector<std::pair<uint64_t, const char*>> expired;
    for (auto& [id, pending] : deferred) {
      if (pending.response) {
        continue;
      }
      auto state = pending.state.lock();
      if (!state) {
        expired.emplace_back(id, "every handle was dropped");
      } else if (now >= pending.deadline) {
        expired.emplace_back(id, "not completed in time");
        state->pending = false;
      }
    }
    for (const auto& [id, why] : expired) {
      log::Warn(kLogComponent, "deferred response answered 5.03", {{"reason", why}});
      Complete(id, Response(Code::kServiceUnavailable));
    }
    if (!deferred.empty()) {
      ScheduleSweep();
    }
  }

  // Closes an endpoint without tripping libcoap's assertion that none of its sessions is still
  // referenced: queued CONs (separate responses, CON notifications) and observe relations hold
  // references, so each session on the endpoint is disconnected first. Our deferred exchanges
  // (async entries, also references) must be gone already.
  void CloseEndpoint(coap_endpoint_t* endpoint, const Address& bound) {
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->second.local_port != bound.port) {
        ++it;
        continue;
      }
      // libcoap frees some server sessions without an event, so a tracked pointer may be stale:
      // only a session that libcoap still finds for that peer is touched.
      coap_session_t* live =
          coap_session_get_by_peer(core.ctx, &it->second.remote, it->second.ifindex);
      if (live == it->first) {
        const Address local = ToAddress(*coap_session_get_addr_local(live));
        if (local.port == bound.port && (IsAnyAddress(bound) || local.ip == bound.ip)) {
          coap_session_disconnected(live, COAP_NACK_NOT_DELIVERABLE);
        }
      }
      ForgetSession(it->first);
      it = sessions.erase(it);
    }
    coap_free_endpoint(endpoint);
  }

  // Drops what we keep about a server session that libcoap deleted.
  void ForgetSession(coap_session_t* session) {
    for (auto& [resource, keys] : observers) {
      for (auto key = keys.begin(); key != keys.end();) {
        key = key->first == session ? keys.erase(key) : std::next(key);
      }
    }
    identity_by_session.erase(session);
  }

  Resource* OwnerOf(coap_resource_t* resource) const {
    const auto it = by_coap.find(resource);
    return it != by_coap.end() ? it->second : nullptr;
  }

  // Drops the deferred exchanges `matches` selects, unanswered: their async entries are freed (they
  // reference the session and resource) and their handles stop being pending.
  template <class Predicate>
  void DropDeferred(const Predicate& matches) {
    for (auto it = deferred.begin(); it != deferred.end();) {
      if (!matches(it->second)) {
        ++it;
        continue;
      }
      if (auto state = it->second.state.lock()) {
        state->pending = false;
      }
      const std::string& token = it->second.token;
      const coap_bin_const_t key{token.size(), reinterpret_cast<const uint8_t*>(token.data())};
      if (coap_find_async(it->second.session, key) == it->second.async) {
        coap_free_async(it->second.session, it->second.async);
      }
      it = deferred.erase(it);
    }
  }

  void DeleteResource(const std::string& key) {
    const auto it = resources.find(key);
    if (it == resources.end()) {
      return;
    }
    coap_resource_t* resource = it->second.first;
    DropDeferred(
        [resource](const PendingDeferred& pending) { return pending.resource == resource; });
    observers.erase(resource);
    by_coap.erase(resource);
    coap_delete_resource(core.ctx, resource);
    resources.erase(it);
  }

  const coap_bin_const_t* KeyForIdentity(const coap_bin_const_t* identity,
                                         coap_session_t* session) {
    if (!options.psk || !options.psk->key_for_identity || identity == nullptr) {
      return nullptr;
    }
    const std::string name(reinterpret_cast<const char*>(identity->s), identity->length);
    std::optional<std::string> key;
    Guard("PSK key lookup", [&] { key = options.psk->key_for_identity(name); });
    if (!key || key->empty()) {
      log::Warn(kLogComponent, "DTLS client with an unknown PSK identity", {{"identity", name}});
      return nullptr;
    }
    identity_by_session[session] = name;
    auto& slot = psk_keys[name];
    slot.first = *key;
    slot.second.s = reinterpret_cast<const uint8_t*>(slot.first.data());
    slot.second.length = slot.first.size();
    return &slot.second;
  }

  struct EndpointRecord {
    coap_endpoint_t* endpoint = nullptr;
    Transport transport = Transport::kUdp;
    Address bound;
    int fd = -1;  // the endpoint's socket, found by address (-1 if ambiguous)
    int receive_buffer = -1;
  };

  Context& context;
  Context::Core& core;
  ServerOptions options;
  std::vector<EndpointRecord> endpoint_records;
  std::vector<Address> endpoints;
  // path key -> (libcoap resource, our resource)
  std::map<std::string, std::pair<coap_resource_t*, std::unique_ptr<Resource>>> resources;
  std::unordered_map<coap_resource_t*, Resource*> by_coap;
  coap_resource_t* unknown_resource = nullptr;
  Handler unknown_handler;
  std::map<coap_resource_t*, std::set<ObserverKey>> observers;
  std::map<uint64_t, PendingDeferred> deferred;
  uint64_t next_deferred_id = 1;
  Context::TimerId sweep_timer = 0;
  std::string psk_hint;
  std::map<std::string, std::pair<std::string, coap_bin_const_t>> psk_keys;  // identity -> key
  std::unordered_map<coap_session_t*, std::string> identity_by_session;
  // A libcoap address and its text form, formatted again only when the address changes.
  struct FormattedAddress {
    coap_address_t raw{};
    Address text;
    bool valid = false;

    const Address& Of(const coap_address_t& address) {
      if (!valid || coap_address_equals(&raw, &address) == 0) {
        raw = address;
        text = ToAddress(address);
        valid = true;
      }
      return text;
    }
  };
  struct TrackedSession {
    coap_address_t remote;
    int ifindex = 0;
    uint16_t local_port = 0;
    // Formatting an address (inet_ntop) costs more than the rest of a small request's parsing;
    // a peer's requests reuse the text. The local address can change (unicast or multicast).
    FormattedAddress source;
    FormattedAddress local;
  };
  // Server sessions seen (SERVER_SESSION_NEW, dropped on _DEL); keys are never dereferenced
  // without confirming them through coap_session_get_by_peer.
  std::unordered_map<coap_session_t*, TrackedSession> sessions;
};

namespace {

void HandleRequest(coap_resource_t* resource, coap_session_t* session, const coap_pdu_t* request,
                   const coap_string_t* query, coap_pdu_t* response) {
  bool handled = false;
  Guard("request dispatch", [&] {
    Context::Core* core = CoreOf(session);
    if (core != nullptr && core->server != nullptr) {
      core->server->OnRequest(resource, session, request, query, response);
      handled = true;
    }
  });
  if (!handled && coap_pdu_get_code(response) == COAP_EMPTY_CODE &&
      coap_is_mcast(coap_session_get_addr_local(session)) == 0) {
    coap_pdu_set_code(response, ToPduCode(Code::kInternalServerError));
  }
}

const coap_bin_const_t* OnPskIdentity(coap_bin_const_t* identity, coap_session_t* session,
                                      void* arg) {
  const coap_bin_const_t* key = nullptr;
  Guard("PSK identity callback",
        [&] { key = static_cast<ServerCore*>(arg)->KeyForIdentity(identity, session); });
  return key;
}

constexpr coap_request_t kAllMethods[] = {
    COAP_REQUEST_GET,   COAP_REQUEST_POST,  COAP_REQUEST_PUT,   COAP_REQUEST_DELETE,
    COAP_REQUEST_FETCH, COAP_REQUEST_PATCH, COAP_REQUEST_IPATCH};

}  // namespace

void ServerOnNack(ServerCore& server, coap_session_t* session, const coap_pdu_t* sent,
                  coap_nack_reason_t reason) {
  // A reset CON notification ends the relation in libcoap; forget it too.
  if (reason != COAP_NACK_RST) {
    return;
  }
  const ObserverKey key{session, TokenOf(sent)};
  for (auto& [resource, keys] : server.observers) {
    keys.erase(key);
  }
}

void ServerOnSessionEvent(ServerCore& server, coap_session_t* session, coap_event_t event) {
  if (event == COAP_EVENT_SERVER_SESSION_NEW) {
    ServerCore::TrackedSession tracked;
    tracked.remote = *coap_session_get_addr_remote(session);
    tracked.ifindex = coap_session_get_ifindex(session);
    tracked.local_port = coap_address_get_port(coap_session_get_addr_local(session));
    server.sessions[session] = tracked;
    return;
  }
  if (event != COAP_EVENT_SERVER_SESSION_DEL) {
    return;
  }
  server.sessions.erase(session);
  server.ForgetSession(session);
}

}  // namespace detail

using detail::kLogComponent;
using detail::ServerCore;

bool DeferredResponse::pending() const {
  return state_ != nullptr && state_->pending;
}

bool DeferredResponse::Complete(Response response) {
  if (state_ == nullptr) {
    return false;
  }
  auto server = state_->server.lock();
  if (server == nullptr) {
    log::Warn(kLogComponent, "deferred response completed after its server was destroyed",
              {{"path", state_->request.Path()}});
    return false;
  }
  server->context.CheckLoopThread("DeferredResponse::Complete");
  if (!state_->pending || !server->Complete(state_->id, std::move(response))) {
    log::Warn(kLogComponent,
              "deferred response completed twice, too late, or after its resource or endpoint went",
              {{"path", state_->request.Path()}});
    return false;
  }
  state_->pending = false;
  return true;
}

const Request& DeferredResponse::request() const {
  static const Request kEmpty;
  return state_ != nullptr ? state_->request : kEmpty;
}

Resource::Resource(std::string path, ResourceOptions options)
    : path_(std::move(path)), options_(std::move(options)) {}

Resource& Resource::On(Method method, Handler handler) {
  handlers_[method] = std::move(handler);
  return *this;
}

Server::Server(Context& context, ServerOptions options)
    : core_(std::make_shared<ServerCore>(context, std::move(options))) {
  context.CheckLoopThread("Server::Server");
  if (core_->core.server != nullptr) {
    throw std::logic_error("coap::Server: this Context already has a Server");
  }
  coap_mcast_per_resource(core_->core.ctx);
  if (core_->options.idle_session_timeout > Millis(0)) {
    const auto seconds =
        std::chrono::ceil<std::chrono::seconds>(core_->options.idle_session_timeout).count();
    coap_context_set_session_timeout(
        core_->core.ctx, static_cast<unsigned>(std::clamp<int64_t>(seconds, 1, INT_MAX)));
  }
  coap_context_set_max_idle_sessions(core_->core.ctx, core_->options.max_idle_sessions);
  if (core_->options.psk) {
    core_->psk_hint = core_->options.psk->hint;
    coap_dtls_spsk_t setup{};
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = detail::OnPskIdentity;
    setup.id_call_back_arg = core_.get();
    setup.psk_info.hint.s = reinterpret_cast<const uint8_t*>(core_->psk_hint.data());
    setup.psk_info.hint.length = core_->psk_hint.size();
    if (!coap_dtls_is_supported() || coap_context_set_psk2(core_->core.ctx, &setup) == 0) {
      throw std::runtime_error("coap::Server: libcoap refused the DTLS PSK set-up");
    }
  }
  core_->core.server = core_.get();
}

Server::~Server() {
  detail::Guard("Server destructor", [&] {
    core_->context.CheckLoopThread("Server::~Server");
    if (core_->sweep_timer != 0) {
      core_->context.CancelTimer(core_->sweep_timer);
    }
    core_->DropDeferred([](const auto&) { return true; });
    while (!core_->resources.empty()) {
      core_->DeleteResource(core_->resources.begin()->first);
    }
    if (core_->unknown_resource != nullptr) {
      coap_delete_resource(core_->core.ctx, core_->unknown_resource);
      core_->unknown_resource = nullptr;
    }
    // Closes the sockets and the server sessions on them.
    for (const auto& record : core_->endpoint_records) {
      core_->CloseEndpoint(record.endpoint, record.bound);
    }
    core_->endpoint_records.clear();
  });
  core_->core.server = nullptr;
}

Result<Address> Server::AddEndpoint(std::string_view listen, Transport transport) {
  Result<HostPort> host_port = ParseHostPort(listen);
  if (!host_port.ok()) {
    return host_port.error();
  }
  return AddEndpoint(*host_port, transport);
}

Result<Address> Server::AddEndpoint(const HostPort& listen, Transport transport) {
  core_->context.CheckLoopThread("Server::AddEndpoint");
  if (transport == Transport::kDtls && !core_->options.psk) {
    return MakeError(ErrorCode::kUnsupported,
                     "a DTLS endpoint needs ServerOptions::psk (only PSK is supported)");
  }
  const std::string host = listen.host.empty() ? "0.0.0.0" : listen.host;
  Result<coap_address_t> address = detail::ResolveAddress(host, listen.port);
  if (!address.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, address.error().message);
  }
  const coap_proto_t proto = transport == Transport::kDtls ? COAP_PROTO_DTLS : COAP_PROTO_UDP;
  const std::string shown = FormatHostPort(HostPort{host, listen.port});
  if (listen.port != 0 && detail::PortHeldByAnotherProcess(*address)) {
    return MakeError(ErrorCode::kUnavailable,
                     std::string("cannot bind ") + TransportName(transport) + " endpoint " + shown +
                         ": the port is in use by another process (another CoAP server?)");
  }
  coap_endpoint_t* endpoint = nullptr;
  Result<Address> bound = MakeError(ErrorCode::kInternal, "not bound");
  // libcoap sets SO_REUSEADDR on endpoint sockets, and with it Linux may hand out for port 0 a
  // port that another such socket already uses, which would then steal our datagrams: pick
  // again in that case.
  for (int attempt = 0; attempt < 20; ++attempt) {
    endpoint = coap_new_endpoint(core_->core.ctx, &*address, proto);
    if (endpoint == nullptr) {
      return MakeError(ErrorCode::kUnavailable, std::string("cannot bind ") +
                                                    TransportName(transport) + " endpoint " +
                                                    shown + " (address in use or not local?)");
    }
    // "127.0.0.1:40123 UDP": the bound address, with the port the kernel picked for port 0.
    std::string text = coap_endpoint_str(endpoint);
    text = text.substr(0, text.find(' '));
    bound = ParseAddress(text);
    if (!bound.ok()) {
      coap_free_endpoint(endpoint);
      return MakeError(ErrorCode::kInternal, "cannot read the bound address of " + shown);
    }
    if (listen.port != 0 || detail::UdpSocketsOnPort(bound->port) <= 1) {
      break;
    }
    log::Debug(kLogComponent, "ephemeral port already in use by another socket, picking again",
               {{"endpoint", bound->ToString()}});
    coap_free_endpoint(endpoint);
    endpoint = nullptr;
  }
  if (endpoint == nullptr) {
    return MakeError(ErrorCode::kUnavailable, "no free port for " + shown);
  }
  ServerCore::EndpointRecord record;
  record.endpoint = endpoint;
  record.transport = transport;
  record.bound = *bound;
  // Finding the socket scans every descriptor of the process: only when it is needed (a receive
  // buffer to raise, or multicast groups to join on an any-address endpoint), so that thousands
  // of endpoints (a device simulator) are not quadratic.
  if (core_->options.receive_buffer_bytes > 0 || detail::IsAnyAddress(*bound)) {
    record.fd = detail::FindBoundSocket(*bound);
    record.receive_buffer =
        detail::RaiseReceiveBuffer(record.fd, core_->options.receive_buffer_bytes);
    if (record.fd < 0) {
      log::Warn(kLogComponent, "cannot identify the endpoint socket (same address bound twice?)",
                {{"endpoint", bound->ToString()}});
    }
  }
  core_->endpoint_records.push_back(record);
  core_->endpoints.push_back(*bound);
  log::Info(kLogComponent, "listening",
            {{"transport", TransportName(transport)},
             {"address", bound->ToString()},
             {"receive_buffer", std::to_string(record.receive_buffer)}});
  return *bound;
}

bool Server::RemoveEndpoint(const Address& bound) {
  core_->context.CheckLoopThread("Server::RemoveEndpoint");
  auto& records = core_->endpoint_records;
  const auto record = std::find_if(records.begin(), records.end(),
                                   [&](const auto& each) { return each.bound == bound; });
  if (record == records.end()) {
    return false;
  }
  // libcoap frees an endpoint's sessions only when nothing references them: an async entry
  // (a deferred exchange) does, so those exchanges go first, unanswered.
  core_->DropDeferred([&](const auto& pending) {
    const Address local = detail::ToAddress(*coap_session_get_addr_local(pending.session));
    return local.family == bound.family && local.port == bound.port &&
           (detail::IsAnyAddress(bound) || local.ip == bound.ip);
  });
  // Closes the socket, its sessions and their observe relations.
  core_->CloseEndpoint(record->endpoint, record->bound);
  records.erase(record);
  auto& addresses = core_->endpoints;
  addresses.erase(std::find(addresses.begin(), addresses.end(), bound));
  log::Info(kLogComponent, "closed endpoint", {{"address", bound.ToString()}});
  return true;
}

const std::vector<Address>& Server::endpoints() const {
  return core_->endpoints;
}

uint16_t Server::LocalPort() const {
  return core_->endpoints.empty() ? 0 : core_->endpoints.front().port;
}

Status Server::JoinMulticast(std::string_view group, std::string_view interface) {
  core_->context.CheckLoopThread("Server::JoinMulticast");
  const std::string group_text(group);
  const std::string interface_text(interface);
  in_addr v4{};
  in6_addr v6{};
  const bool is_v4 =
      inet_pton(AF_INET, group_text.c_str(), &v4) == 1 && IN_MULTICAST(ntohl(v4.s_addr));
  const bool is_v6 =
      !is_v4 && inet_pton(AF_INET6, group_text.c_str(), &v6) == 1 && IN6_IS_ADDR_MULTICAST(&v6);
  if (!is_v4 && !is_v6) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "'" + group_text + "' is not an IPv4 or IPv6 multicast address");
  }
  unsigned interface_index = 0;
  if (!interface_text.empty()) {
    interface_index = if_nametoindex(interface_text.c_str());
    if (interface_index == 0) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "no network interface '" + interface_text + "'");
    }
  }
  // Joined here rather than with coap_join_mcast_group_intf, which reports a failure as soon as
  // one endpoint of the other family refuses, even when the group was joined.
  int joined = 0;
  std::string refusals;
  for (const auto& record : core_->endpoint_records) {
    if (record.transport != Transport::kUdp || !detail::IsAnyAddress(record.bound) ||
        (record.bound.family == Family::kIpv4) != is_v4) {
      continue;
    }
    int result = -1;
    if (record.fd >= 0 && is_v4) {
      ip_mreqn request{};
      request.imr_multiaddr = v4;
      request.imr_ifindex = static_cast<int>(interface_index);
      result = setsockopt(record.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request);
    } else if (record.fd >= 0) {
      ipv6_mreq request{};
      request.ipv6mr_multiaddr = v6;
      request.ipv6mr_interface = interface_index;
      result = setsockopt(record.fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof request);
    }
    if (result == 0) {
      ++joined;
    } else {
      refusals +=
          " " + record.bound.ToString() + ": " +
          (record.fd < 0 ? std::string("socket not identified") : detail::ErrnoText(errno)) + ";";
    }
  }
  if (joined == 0) {
    if (refusals.empty()) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "join " + group_text + ": no UDP endpoint bound to the " +
                           (is_v4 ? "IPv4" : "IPv6") + " any-address (0.0.0.0 / [::])");
    }
    return MakeError(ErrorCode::kUnavailable, "join " + group_text + " refused:" + refusals);
  }
  log::Info(kLogComponent, "joined multicast group",
            {{"group", group_text},
             {"interface", interface_text.empty() ? "default" : interface_text},
             {"endpoints", std::to_string(joined)}});
  return Status::Ok();
}

int Server::ReceiveBufferBytes(const Address& endpoint) const {
  for (const auto& record : core_->endpoint_records) {
    if (record.bound == endpoint) {
      return record.receive_buffer;
    }
  }
  return -1;
}

Resource& Server::AddResource(std::string_view path, ResourceOptions options) {
  core_->context.CheckLoopThread("Server::AddResource");
  const std::string key = detail::ResourceKey(path);
  core_->DeleteResource(key);

  int flags = COAP_RESOURCE_FLAGS_RELEASE_URI;
  if (options.notify_confirmable) {
    flags |= COAP_RESOURCE_FLAGS_NOTIFY_CON;
  }
  if (options.multicast) {
    flags |= COAP_RESOURCE_FLAGS_HAS_MCAST_SUPPORT;
    if (!options.multicast_delay) {
      flags |= COAP_RESOURCE_FLAGS_LIB_DIS_MCAST_DELAYS;
    }
  }
  coap_str_const_t* uri =
      coap_new_str_const(reinterpret_cast<const uint8_t*>(key.data()), key.size());
  coap_resource_t* resource = coap_resource_init(uri, flags);
  if (resource == nullptr) {
    coap_delete_str_const(uri);
    throw std::runtime_error("coap::Server: libcoap cannot create resource " + std::string(path));
  }
  for (const coap_request_t method : detail::kAllMethods) {
    coap_register_handler(resource, method, detail::HandleRequest);
  }
  if (options.observable) {
    coap_resource_set_get_observable(resource, 1);
  }
  auto add_attr = [resource](std::string_view name, std::string_view value) {
    coap_str_const_t* name_copy =
        coap_new_str_const(reinterpret_cast<const uint8_t*>(name.data()), name.size());
    coap_str_const_t* value_copy =
        value.empty()
            ? nullptr
            : coap_new_str_const(reinterpret_cast<const uint8_t*>(value.data()), value.size());
    coap_add_attr(resource, name_copy, value_copy,
                  COAP_ATTR_FLAGS_RELEASE_NAME | COAP_ATTR_FLAGS_RELEASE_VALUE);
  };
  // libcoap itself writes ";obs" for observable resources in /.well-known/core.
  for (const auto& [name, value] : options.link_attributes) {
    if (!(options.observable && name == "obs")) {
      add_attr(name, value);
    }
  }
  coap_add_resource(core_->core.ctx, resource);

  auto owner = std::make_unique<Resource>(JoinPath(SplitPath(key)), std::move(options));
  Resource& result = *owner;
  core_->by_coap[resource] = owner.get();
  core_->resources[key] = std::make_pair(resource, std::move(owner));
  return result;
}

bool Server::RemoveResource(std::string_view path) {
  core_->context.CheckLoopThread("Server::RemoveResource");
  const std::string key = detail::ResourceKey(path);
  if (core_->resources.count(key) == 0) {
    return false;
  }
  core_->DeleteResource(key);
  return true;
}

Resource* Server::FindResource(std::string_view path) {
  core_->context.CheckLoopThread("Server::FindResource");
  const auto it = core_->resources.find(detail::ResourceKey(path));
  return it != core_->resources.end() ? it->second.second.get() : nullptr;
}

void Server::SetUnknownHandler(Handler handler) {
  core_->context.CheckLoopThread("Server::SetUnknownHandler");
  core_->unknown_handler = std::move(handler);
  if (core_->unknown_resource == nullptr) {
    coap_resource_t* resource = coap_resource_unknown_init2(detail::HandleRequest, 0);
    for (const coap_request_t method : detail::kAllMethods) {
      coap_register_handler(resource, method, detail::HandleRequest);
    }
    coap_add_resource(core_->core.ctx, resource);
    core_->unknown_resource = resource;
  }
}

size_t Server::NotifyObservers(std::string_view path) {
  core_->context.CheckLoopThread("Server::NotifyObservers");
  const auto it = core_->resources.find(detail::ResourceKey(path));
  if (it == core_->resources.end()) {
    return 0;
  }
  coap_resource_notify_observers(it->second.first, nullptr);
  core_->core.kick = true;
  const auto observers = core_->observers.find(it->second.first);
  return observers != core_->observers.end() ? observers->second.size() : 0;
}

size_t Server::ObserverCount(std::string_view path) const {
  core_->context.CheckLoopThread("Server::ObserverCount");
  const auto it = core_->resources.find(detail::ResourceKey(path));
  if (it == core_->resources.end()) {
    return 0;
  }
  const auto observers = core_->observers.find(it->second.first);
  return observers != core_->observers.end() ? observers->second.size() : 0;
}

size_t Server::DeferredCount() const {
  core_->context.CheckLoopThread("Server::DeferredCount");
  return core_->deferred.size();
}

}  // namespace coapgw::coap
