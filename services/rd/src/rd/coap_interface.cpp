#include "rd/coap_interface.hpp"

#include <charconv>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "coapgw/common/log.hpp"
#include "coapgw/events/codec.hpp"
#include "rd/device_record.hpp"
#include "rd/lookup.hpp"

namespace coapgw::rd {
namespace {

using coap::Code;
using coap::Method;

Requester RequesterOf(const coap::Request& request) {
  Requester requester;
  requester.scheme = request.transport == coap::Transport::kDtls ? "coaps" : "coap";
  requester.ip = request.source.ip;
  requester.port = request.source.port;
  requester.identity = request.dtls_identity.value_or("");
  return requester;
}

std::vector<QueryParam> QueryOf(const coap::Request& request) {
  std::vector<QueryParam> query;
  query.reserve(request.query.size());
  for (const auto& item : request.query) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      query.push_back({item, std::nullopt});
    } else {
      query.push_back({item.substr(0, eq), item.substr(eq + 1)});
    }
  }
  return query;
}

coap::Response ToResponse(const Reply& reply) {
  coap::Response response(static_cast<Code>(reply.code));
  if (!reply.location.empty()) {
    response.SetLocationPath(reply.location);
  }
  if (reply.max_age) {
    response.SetMaxAge(*reply.max_age);
  }
  if (!reply.payload.empty()) {
    response.SetPayload(reply.payload, reply.link_format ? coap::content_format::kLinkFormat
                                                         : coap::content_format::kTextPlain);
  }
  return response;
}

void Fail(coap::Response& response, Code code, std::string diagnostic) {
  response.SetCode(code);
  response.SetPayload(std::move(diagnostic), coap::content_format::kTextPlain);
}

// RFC 9176 §5: registration payloads are application/link-format; an absent Content-Format is
// taken to mean the same (many small clients omit it).
bool AcceptableLinkFormat(const coap::Request& request) {
  return !request.content_format || *request.content_format == coap::content_format::kLinkFormat;
}

// fe80::/10 and 169.254.0.0/16: such a requester shares the RD's link (RFC 9176 §6.1).
bool IsLinkLocal(std::string_view ip) {
  if (ip.substr(0, 8) == "169.254.") {
    return true;
  }
  // ToAddress writes IPv6 in lower case; fe80::/10 is a first group of fe8x to febx.
  return ip.size() >= 4 && ip.substr(0, 2) == "fe" &&
         (ip[2] == '8' || ip[2] == '9' || ip[2] == 'a' || ip[2] == 'b');
}

// The RD's base URI as the requester addressed it ("coap://127.0.0.1:5690"), so that lookups
// recognize a location given as a URI (RFC 9176 §6.2). coap::Request does not carry the address
// it arrived on: the host is the Uri-Host, else the address of the only endpoint unless that is a
// wildcard; the port is the Uri-Port, else the only endpoint's. "" when it cannot be told (then
// only the path form matches).
std::string RdBase(const coap::Request& request, const std::vector<coap::Address>& endpoints) {
  const coap::Address* only = endpoints.size() == 1 ? &endpoints.front() : nullptr;
  std::string host;
  if (request.uri_host) {
    host = *request.uri_host;
  } else if (only != nullptr && only->ip != "0.0.0.0" && only->ip != "::") {
    host = only->ip;
  }
  std::optional<uint32_t> port;
  for (const auto& option : request.options) {
    if (option.number == coap::option::kUriPort) {
      port = coap::DecodeUint(option.value);
    }
  }
  if (!port && only != nullptr) {
    port = only->port;
  }
  if (host.empty() || !port) {
    return "";
  }
  const bool v6 = host.find(':') != std::string::npos;
  const std::string scheme = request.transport == coap::Transport::kDtls ? "coaps" : "coap";
  const uint32_t default_port = request.transport == coap::Transport::kDtls ? 5684 : 5683;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) +
         (*port == default_port ? "" : ":" + std::to_string(*port));
}

std::optional<int64_t> ParseKey(const std::string& text) {
  int64_t key = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), key);
  if (error != std::errc() || end != text.data() + text.size() || key <= 0) {
    return std::nullopt;
  }
  return key;
}

// Completes a deferred exchange with a Directory reply (on the loop thread).
ReplyFn Completer(coap::DeferredResponse deferred, std::string what) {
  return [deferred, what = std::move(what)](Reply reply) mutable {
    if (reply.code >= 500) {
      log::Warn("rd", what + " failed",
                {{"code", std::to_string(reply.code)}, {"cause", reply.payload}});
    } else if (reply.code >= 400) {
      log::Info("rd", what + " refused",
                {{"code", std::to_string(reply.code)},
                 {"cause", reply.payload},
                 {"from", deferred.request().source.ToString()}});
    }
    deferred.Complete(ToResponse(reply));
  };
}

}  // namespace

coap::ServerOptions CoapInterface::ServerOptions() {
  coap::ServerOptions options;
  // libcoap 4.3.1 walks every session of the endpoint for each datagram it reads (and each new
  // peer), so every session kept costs every request, lookups included. Registrants mostly talk
  // to the RD once per lifetime, so few idle sessions are kept, and briefly: a storm's sessions
  // (each held by its deferred reply until the commit, then idle) are gone seconds after it.
  // What a session holds beyond one exchange (observe relations, deferred replies, queued CONs)
  // keeps it out of the idle count; a block-wise transfer paused for longer than the timeout, or
  // while 32 newer peers came and went, starts over.
  options.idle_session_timeout = Millis(5000);
  options.max_idle_sessions = 32;
  return options;
}

CoapInterface::CoapInterface(coap::Context& context, coap::Server& server, coap::Client& client,
                             Directory& directory, const Index& index, CoapInterfaceOptions options,
                             SnapshotHeader snapshot_header)
    : context_(context),
      server_(server),
      client_(client),
      directory_(directory),
      index_(index),
      options_(options),
      snapshot_header_(std::move(snapshot_header)) {
  AddResources();
}

CoapInterface::~CoapInterface() {
  *alive_ = false;
}

void CoapInterface::AddResources() {
  coap::ResourceOptions rd_options;
  rd_options.link_attributes = {{"rt", "core.rd"}, {"ct", "40"}};
  server_.AddResource("/rd", rd_options)
      .On(Method::kPost, [this](const coap::Request& request, coap::Response& response) {
        if (!AcceptableLinkFormat(request)) {
          Fail(response, Code::kUnsupportedContentFormat,
               "registration payload must be application/link-format (40)");
          return;
        }
        if (request.payload.size() > options_.max_payload_bytes) {
          Fail(response, Code::kRequestEntityTooLarge,
               "registration payload exceeds " + std::to_string(options_.max_payload_bytes) +
                   " bytes");
          return;
        }
        coap::DeferredResponse deferred = response.Defer();
        directory_.Register(RequesterOf(request), QueryOf(request), request.payload, false,
                            Completer(deferred, "registration"));
      });

  if (options_.simple_registration) {
    server_.AddResource("/.well-known/rd")
        .On(Method::kPost, [this](const coap::Request& request, coap::Response& response) {
          HandleSimpleRegistration(request, response);
        });
  }

  const auto add_lookup = [this](const char* path, const char* rt, auto lookup) {
    coap::ResourceOptions lookup_options;
    lookup_options.observable = true;
    lookup_options.multicast = options_.answer_multicast;
    lookup_options.link_attributes = {{"rt", rt}, {"ct", "40"}};
    server_.AddResource(path, lookup_options)
        .On(Method::kGet, [this, lookup](const coap::Request& request, coap::Response& response) {
          if (request.accept && *request.accept != coap::content_format::kLinkFormat) {
            Fail(response, Code::kNotAcceptable, "lookups are served as application/link-format");
            return;
          }
          auto query = LookupQuery::Parse(request.query);
          if (!query.ok()) {
            Fail(response, Code::kBadRequest, query.error().message);
            return;
          }
          query->requester_on_link = IsLinkLocal(request.source.ip);
          if (query->HasCriterion("href")) {  // the only use of the RD's own base
            query->rd_base = RdBase(request, server_.endpoints());
          }
          LookupResult result = lookup(index_, *query);
          if (request.multicast && result.returned == 0) {
            // Multicast discovery: only endpoints with matches answer (RFC 7252 §8.2).
            response.SetCode(Code::kNotFound);
            return;
          }
          response.SetPayload(std::move(result.payload), coap::content_format::kLinkFormat);
        });
  };
  add_lookup("/rd-lookup/ep", "core.rd-lookup-ep", LookupEndpoints);
  add_lookup("/rd-lookup/res", "core.rd-lookup-res", LookupResources);
  add_lookup("/rd-lookup/gp", "core.rd-lookup-gp", LookupGroups);

  coap::ResourceOptions group_options;
  group_options.link_attributes = {{"rt", "core.rd-group"}, {"ct", "40"}};
  server_.AddResource("/rd-group", group_options)
      .On(Method::kPost, [this](const coap::Request& request, coap::Response& response) {
        if (!AcceptableLinkFormat(request)) {
          Fail(response, Code::kUnsupportedContentFormat,
               "group payload must be application/link-format (40)");
          return;
        }
        if (request.payload.size() > options_.max_payload_bytes) {
          Fail(response, Code::kRequestEntityTooLarge, "group payload too large");
          return;
        }
        coap::DeferredResponse deferred = response.Defer();
        directory_.RegisterGroup(RequesterOf(request), QueryOf(request), request.payload,
                                 Completer(deferred, "group registration"));
      });

  coap::ResourceOptions snapshot_options;
  snapshot_options.link_attributes = {{"rt", "coapgw.devices"}, {"ct", "50"}};
  server_.AddResource("/coapgw/devices", snapshot_options)
      .On(Method::kGet, [this](const coap::Request& request, coap::Response& response) {
        HandleSnapshot(request, response);
      });

  // /rd/<n> and /rd-group/<n> exist for every registration; one handler serves them all.
  server_.SetUnknownHandler([this](const coap::Request& request, coap::Response& response) {
    HandleRegistrationResource(request, response);
  });
}

void CoapInterface::HandleRegistrationResource(const coap::Request& request,
                                               coap::Response& response) {
  const bool is_group = request.path.size() == 2 && request.path[0] == "rd-group";
  const bool is_registration = request.path.size() == 2 && request.path[0] == "rd";
  const auto key = (is_group || is_registration) ? ParseKey(request.path[1]) : std::nullopt;
  if (!key) {
    Fail(response, Code::kNotFound, "no resource at " + request.Path());
    return;
  }
  const Requester requester = RequesterOf(request);
  if (is_group) {
    if (request.method != Method::kDelete) {
      Fail(response, Code::kMethodNotAllowed, "a group resource only supports DELETE");
      return;
    }
    coap::DeferredResponse deferred = response.Defer();
    directory_.RemoveGroup(*key, requester, Completer(deferred, "group removal"));
    return;
  }
  switch (request.method) {
    case Method::kPost: {
      if (!request.payload.empty()) {
        Fail(response, Code::kBadRequest,
             "a registration update carries no payload (RFC 9176 5.3.1); register anew to "
             "change links");
        return;
      }
      coap::DeferredResponse deferred = response.Defer();
      directory_.Update(*key, requester, QueryOf(request), Completer(deferred, "update"));
      return;
    }
    case Method::kDelete: {
      coap::DeferredResponse deferred = response.Defer();
      directory_.Remove(*key, requester, Completer(deferred, "removal"));
      return;
    }
    case Method::kGet: {
      const Reply reply = directory_.Read(*key, requester);
      response = ToResponse(reply);
      return;
    }
    default:
      Fail(response, Code::kMethodNotAllowed, "use POST, DELETE or GET on a registration");
  }
}

void CoapInterface::HandleSimpleRegistration(const coap::Request& request,
                                             coap::Response& response) {
  if (!request.payload.empty()) {
    Fail(response, Code::kBadRequest, "simple registration carries no payload (RFC 9176 5.1)");
    return;
  }
  coap::DeferredResponse deferred = response.Defer();
  coap::ClientRequest fetch;
  fetch.method = Method::kGet;
  fetch.endpoint = coap::EndpointOf(request.source, request.transport);
  fetch.path = {".well-known", "core"};
  fetch.accept = coap::content_format::kLinkFormat;
  coap::RequestOptions fetch_options;
  fetch_options.timeout = options_.simple_fetch_timeout;
  auto alive = alive_;
  client_.Send(std::move(fetch), fetch_options,
               [this, alive, deferred](coap::Outcome<coap::ClientResponse> outcome) mutable {
                 if (!*alive) {
                   return;
                 }
                 const coap::Request& original = deferred.request();
                 if (!outcome.ok() || coap::CodeClass(outcome->code) != 2) {
                   const std::string cause = outcome.ok()
                                                 ? "answered " + coap::FormatCode(outcome->code)
                                                 : outcome.error().message;
                   log::Info("rd", "simple registration: cannot read /.well-known/core",
                             {{"from", original.source.ToString()}, {"cause", cause}});
                   coap::Response failed(Code::kGatewayTimeout);
                   failed.SetPayload("could not read /.well-known/core of the registrant: " + cause,
                                     coap::content_format::kTextPlain);
                   deferred.Complete(std::move(failed));
                   return;
                 }
                 directory_.Register(RequesterOf(original), QueryOf(original), outcome->payload,
                                     true, Completer(deferred, "simple registration"));
               });
}

void CoapInterface::HandleSnapshot(const coap::Request& request, coap::Response& response) const {
  const auto device_id = request.QueryValue("device_id");
  std::string body = "{";
  body += snapshot_header_ ? snapshot_header_() : "";
  body += body.size() > 1 ? ",\"devices\":[" : "\"devices\":[";
  bool first = true;
  const auto append = [&](const Registration& registration) {
    if (!first) {
      body += ',';
    }
    first = false;
    body += events::Encode(events::DeviceRegistered{ToDevice(registration)});
  };
  // "expired": ids kept after their registration expired, so that a consumer can tell a device
  // that expired from one that was deleted (gone from both lists).
  const auto& expired = directory_.expired_device_ids();
  std::string expired_ids;
  const auto append_expired = [&](const std::string& id) {
    expired_ids += (expired_ids.empty() ? "\"" : ",\"") + id + "\"";
  };
  if (device_id) {
    if (const Registration* registration = index_.FindByDeviceId(*device_id)) {
      append(*registration);
    } else if (expired.count(*device_id) != 0) {
      append_expired(*device_id);
    }
  } else {
    for (const Registration* registration : index_.All()) {
      append(*registration);
    }
    for (const std::string& id : expired) {
      append_expired(id);
    }
  }
  body += "],\"expired\":[" + expired_ids + "]";
  // "directory": the database's identity, so that a consumer notices another database.
  if (!directory_.directory_id().empty()) {
    body += ",\"directory\":\"" + directory_.directory_id() + "\"";
  }
  body += '}';
  response.SetPayload(std::move(body), coap::content_format::kJson);
}

void CoapInterface::DirectoryChanged() {
  if (notify_pending_) {
    return;
  }
  notify_pending_ = true;
  auto alive = alive_;
  context_.After(options_.notify_interval, [this, alive] {
    if (!*alive) {
      return;
    }
    notify_pending_ = false;
    for (const char* path : {"/rd-lookup/ep", "/rd-lookup/res", "/rd-lookup/gp"}) {
      server_.NotifyObservers(path);
    }
  });
}

}  // namespace coapgw::rd
