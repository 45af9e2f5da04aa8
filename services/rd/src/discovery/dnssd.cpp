#include "discovery/dnssd.hpp"

#include <algorithm>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "coapgw/common/log.hpp"
#include "discovery/naming.hpp"

#if COAPGW_HAVE_AVAHI
#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/timeval.h>
#endif

namespace coapgw::rd::discovery {

namespace {

constexpr const char* kLog = "rd-dnssd";
constexpr const char* kServiceType = "_coap._udp";
constexpr int kFirstRetryMs = 500;  // connecting to the D-Bus system bus again, doubling up to
constexpr int kLastRetryMs = 8000;

}  // namespace

bool DnsSdAvailable() {
  return COAPGW_HAVE_AVAHI != 0;
}

void AddDnsSdSettings(Settings& settings) {
  settings.Add({"COAPGW_RD_DNSSD",
                "DNS-SD through an Avahi daemon: off, browse (register the _coap._udp services "
                "found), announce (announce the RD as _coap._udp with rt=core.rd) or both",
                "off"});
  settings.Add({"COAPGW_RD_DNSSD_NAME",
                "DNS-SD instance name the RD announces (another is taken on collision)",
                "coapgw-rd"});
}

DnsSdOptions DnsSdOptionsFromSettings(const Settings& settings, uint16_t port, int64_t lifetime_s) {
  DnsSdOptions options;
  const std::string& mode = settings.String("COAPGW_RD_DNSSD");
  if (mode == "browse" || mode == "both") {
    options.browse = true;
  }
  if (mode == "announce" || mode == "both") {
    options.announce = true;
  }
  if (!options.browse && !options.announce && mode != "off") {
    throw SettingsError("COAPGW_RD_DNSSD: '" + mode + "' is not off, browse, announce or both");
  }
  if ((options.browse || options.announce) && !DnsSdAvailable()) {
    throw SettingsError("COAPGW_RD_DNSSD: '" + mode +
                        "' needs DNS-SD, and this coapgw-rd was built without avahi-client "
                        "(install libavahi-client-dev and rebuild)");
  }
  options.name = settings.String("COAPGW_RD_DNSSD_NAME");
  if (options.name.empty() || options.name.size() > 63) {
    throw SettingsError("COAPGW_RD_DNSSD_NAME: must be 1..63 bytes");
  }
  options.port = port;
  options.refresh = Millis(std::max<int64_t>(lifetime_s * 1000 / 3, 1000));
  return options;
}

#if COAPGW_HAVE_AVAHI

// Everything Avahi touches lives on Avahi's thread (its callbacks run there, with the poll's lock
// held); what the loop thread needs is `chosen_`, under `mutex`.
struct DnsSd::Impl {
  // One browsed service instance and its addresses, one per interface and protocol it was seen on.
  struct Service {
    std::map<std::pair<AvahiIfIndex, AvahiProtocol>, AvahiServiceResolver*> resolvers;
    std::map<std::pair<AvahiIfIndex, AvahiProtocol>, coap::Address> addresses;
  };

  Impl(coap::Context& loop, Discovery& registrar, DnsSdOptions settings)
      : context(loop), discovery(registrar), options(std::move(settings)) {}

  void Start() {
    poll = avahi_threaded_poll_new();
    if (poll == nullptr) {
      log::Error(kLog, "cannot start DNS-SD: avahi_threaded_poll_new failed");
      return;
    }
    NewClient();
    avahi_threaded_poll_start(poll);
    if (options.browse) {
      ScheduleRefresh();
    }
  }

  void Stop() {
    *alive = false;
    if (poll == nullptr) {
      return;
    }
    avahi_threaded_poll_stop(poll);
    FreeClient();
    avahi_threaded_poll_free(poll);
    poll = nullptr;
  }

  // A client that waits for the daemon when it is not there (AVAHI_CLIENT_NO_FAIL). Without a
  // D-Bus system bus to wait on, avahi_client_new fails: then it is tried again later.
  void NewClient() {
    int error = 0;
    client = avahi_client_new(avahi_threaded_poll_get(poll), AVAHI_CLIENT_NO_FAIL, &OnClient, this,
                              &error);
    if (client != nullptr) {
      retry_ms = kFirstRetryMs;
      return;
    }
    WarnOnce("avahi-daemon not reachable; DNS-SD waits for it", avahi_strerror(error));
    Later(&Impl::NewClient, retry_ms);
    retry_ms = std::min(retry_ms * 2, kLastRetryMs);
  }

  // Frees the client and, with it, its browser, resolvers and entry group.
  void FreeClient() {
    services.clear();
    {
      // Browsed again after a reconnection: what is still there is registered again at once.
      std::lock_guard<std::mutex> lock(mutex);
      chosen.clear();
    }
    browser = nullptr;
    group = nullptr;
    if (client != nullptr) {
      avahi_client_free(client);
      client = nullptr;
    }
  }

  static void OnClient(AvahiClient* client, AvahiClientState state, void* data) {
    auto* self = static_cast<Impl*>(data);
    self->client = client;  // also during avahi_client_new, before it returned
    switch (state) {
      case AVAHI_CLIENT_S_RUNNING:
        log::Info(kLog, "avahi-daemon connected");
        self->warned = false;
        if (self->options.browse && self->browser == nullptr) {
          self->Browse();
        }
        if (self->options.announce && self->group == nullptr) {
          self->Announce();
        }
        break;
      case AVAHI_CLIENT_S_COLLISION:
      case AVAHI_CLIENT_S_REGISTERING:
        // The host name changes: the announcement is made again once the client runs.
        if (self->group != nullptr) {
          avahi_entry_group_reset(self->group);
          avahi_entry_group_free(self->group);
          self->group = nullptr;
        }
        break;
      case AVAHI_CLIENT_CONNECTING:
        self->WarnOnce("avahi-daemon not reachable; DNS-SD waits for it",
                       avahi_strerror(avahi_client_errno(client)));
        break;
      case AVAHI_CLIENT_FAILURE:
        self->WarnOnce("avahi-daemon connection lost; DNS-SD waits for it to come back",
                       avahi_strerror(avahi_client_errno(client)));
        // Replaced from a timeout, not from inside its own callback.
        self->Later(&Impl::ReplaceClient, 0);
        break;
    }
  }

  void WarnOnce(const char* what, const char* error) {
    if (!warned) {
      log::Warn(kLog, what, {{"error", error}});
      warned = true;
    }
  }

  // Calls `method` on Avahi's thread after `delay_ms`.
  void Later(void (Impl::*method)(), int delay_ms) {
    timeval when{};
    avahi_elapse_time(&when, static_cast<unsigned>(delay_ms), 0);
    Call& call = calls.emplace_back(Call{this, method});
    const AvahiPoll* api = avahi_threaded_poll_get(poll);
    api->timeout_new(
        api, &when,
        [](AvahiTimeout* timeout, void* data) {
          auto* due = static_cast<Call*>(data);
          Impl* self = due->self;
          const auto due_method = due->method;
          avahi_threaded_poll_get(self->poll)->timeout_free(timeout);
          self->calls.remove_if([due](const Call& one) { return &one == due; });
          (self->*due_method)();
        },
        &call);
  }

  void ReplaceClient() {
    FreeClient();
    NewClient();
  }

  void Browse() {
    browser = avahi_service_browser_new(client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, kServiceType,
                                        nullptr, static_cast<AvahiLookupFlags>(0), &OnBrowse, this);
    if (browser == nullptr) {
      log::Warn(kLog, "cannot browse " + std::string(kServiceType),
                {{"error", avahi_strerror(avahi_client_errno(client))}});
    }
  }

  static void OnBrowse(AvahiServiceBrowser* /*browser*/, AvahiIfIndex interface,
                       AvahiProtocol protocol, AvahiBrowserEvent event, const char* name,
                       const char* type, const char* domain, AvahiLookupResultFlags flags,
                       void* data) {
    auto* self = static_cast<Impl*>(data);
    const auto key = std::make_pair(interface, protocol);
    switch (event) {
      case AVAHI_BROWSER_NEW: {
        if ((flags & AVAHI_LOOKUP_RESULT_OUR_OWN) != 0) {
          return;  // the RD's own announcement
        }
        Service& service = self->services[name];
        if (service.resolvers.count(key) != 0) {
          return;
        }
        // Kept while the service is there: it reports the service again when its address changes.
        // Addresses of the protocol it was seen on: A over IPv4, AAAA over IPv6.
        AvahiServiceResolver* resolver = avahi_service_resolver_new(
            self->client, interface, protocol, name, type, domain, protocol,
            static_cast<AvahiLookupFlags>(0), &OnResolve, self);
        if (resolver == nullptr) {
          log::Warn(kLog, "cannot resolve a service",
                    {{"name", name}, {"error", avahi_strerror(avahi_client_errno(self->client))}});
          return;
        }
        service.resolvers[key] = resolver;
        break;
      }
      case AVAHI_BROWSER_REMOVE: {
        auto found = self->services.find(name);
        if (found == self->services.end()) {
          return;
        }
        if (auto resolver = found->second.resolvers.find(key);
            resolver != found->second.resolvers.end()) {
          avahi_service_resolver_free(resolver->second);
          found->second.resolvers.erase(resolver);
        }
        found->second.addresses.erase(key);
        if (found->second.resolvers.empty()) {
          log::Info(kLog, "service gone", {{"name", name}});
          self->services.erase(found);
        }
        self->Choose(name);
        break;
      }
      case AVAHI_BROWSER_FAILURE:
        log::Warn(kLog, "browsing failed",
                  {{"error", avahi_strerror(avahi_client_errno(self->client))}});
        break;
      case AVAHI_BROWSER_ALL_FOR_NOW:
      case AVAHI_BROWSER_CACHE_EXHAUSTED:
        break;
    }
  }

  static void OnResolve(AvahiServiceResolver* /*resolver*/, AvahiIfIndex interface,
                        AvahiProtocol protocol, AvahiResolverEvent event, const char* name,
                        const char* /*type*/, const char* /*domain*/, const char* /*host*/,
                        const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                        AvahiLookupResultFlags /*flags*/, void* data) {
    auto* self = static_cast<Impl*>(data);
    auto service = self->services.find(name);
    if (service == self->services.end()) {
      return;
    }
    const auto key = std::make_pair(interface, protocol);
    if (event != AVAHI_RESOLVER_FOUND) {
      log::Warn(kLog, "cannot resolve a service",
                {{"name", name}, {"error", avahi_strerror(avahi_client_errno(self->client))}});
      // Its records are gone: not refreshed at this address any more (the registration expires
      // unless another address stands). The resolver stays and reports the service when it is back.
      service->second.addresses.erase(key);
      self->Choose(name);
      return;
    }
    if (IsDirectory(txt)) {
      log::Debug(kLog, "service is a resource directory; not registered", {{"name", name}});
      return;
    }
    char ip[AVAHI_ADDRESS_STR_MAX] = {};
    avahi_address_snprint(ip, sizeof ip, address);
    if (address->proto == AVAHI_PROTO_INET6 &&
        (address->data.ipv6.address[0] == 0xfe && (address->data.ipv6.address[1] & 0xc0) == 0x80)) {
      // A base carries no zone id, so nothing could reach the device at this address.
      log::Debug(kLog, "link-local IPv6 address not used", {{"name", name}, {"address", ip}});
      return;
    }
    coap::Address at;
    at.family = address->proto == AVAHI_PROTO_INET6 ? coap::Family::kIpv6 : coap::Family::kIpv4;
    at.ip = ip;
    at.port = port;
    service->second.addresses[key] = at;
    self->Choose(name);
  }

  // A service announcing rt=core.rd is another RD, not a device.
  static bool IsDirectory(AvahiStringList* txt) {
    AvahiStringList* rt = avahi_string_list_find(txt, "rt");
    char* key = nullptr;
    char* value = nullptr;
    if (rt == nullptr || avahi_string_list_get_pair(rt, &key, &value, nullptr) != 0) {
      return false;
    }
    const bool directory = value != nullptr && std::string(value) == "core.rd";
    avahi_free(key);
    avahi_free(value);
    return directory;
  }

  // The service's preferred address (IPv4, global IPv6, link-local IPv6); registered at once when
  // it is new or changed.
  void Choose(const std::string& name) {
    std::optional<coap::Address> best;
    if (auto service = services.find(name); service != services.end()) {
      for (const auto& [key, address] : service->second.addresses) {
        if (!best || Preferred(address, *best)) {
          best = address;
        }
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto current = chosen.find(name);
      if (!best) {
        if (current != chosen.end()) {
          chosen.erase(current);
        }
        return;
      }
      if (current != chosen.end() && current->second == *best) {
        return;
      }
      chosen[name] = *best;
    }
    log::Info(kLog, "service found", {{"name", name}, {"address", best->ToString()}});
    context.Post([this, still = std::weak_ptr<bool>(alive), name, address = *best] {
      if (auto alive_now = still.lock(); alive_now && *alive_now) {
        discovery.RegisterFound(address, name, nullptr);
      }
    });
  }

  // Loop thread: every browsed device is registered again before its lifetime ends.
  void ScheduleRefresh() {
    context.After(options.refresh, [this, still = std::weak_ptr<bool>(alive)] {
      if (auto alive_now = still.lock(); !alive_now || !*alive_now) {
        return;
      }
      std::map<std::string, coap::Address> now;
      {
        std::lock_guard<std::mutex> lock(mutex);
        now = chosen;
      }
      for (const auto& [name, address] : now) {
        discovery.RegisterFound(address, name, nullptr);
      }
      ScheduleRefresh();
    });
  }

  void Announce() {
    group = avahi_entry_group_new(client, &OnGroup, this);
    if (group == nullptr) {
      log::Warn(kLog, "cannot announce the RD",
                {{"error", avahi_strerror(avahi_client_errno(client))}});
      return;
    }
    AddService();
  }

  void AddService() {
    const int added = avahi_entry_group_add_service(
        group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, static_cast<AvahiPublishFlags>(0),
        options.name.c_str(), kServiceType, nullptr, nullptr, options.port, "rt=core.rd", nullptr);
    if (added == AVAHI_ERR_COLLISION) {
      Rename();
      return;
    }
    if (added < 0 || avahi_entry_group_commit(group) < 0) {
      log::Warn(kLog, "cannot announce the RD",
                {{"name", options.name}, {"error", avahi_strerror(avahi_client_errno(client))}});
    }
  }

  // Another host announces the name: the next alternative ("coapgw-rd #2").
  void Rename() {
    char* alternative = avahi_alternative_service_name(options.name.c_str());
    log::Warn(kLog, "announced name taken; trying another",
              {{"name", options.name}, {"instead", alternative}});
    options.name = alternative;
    avahi_free(alternative);
    avahi_entry_group_reset(group);
    AddService();
  }

  static void OnGroup(AvahiEntryGroup* group, AvahiEntryGroupState state, void* data) {
    auto* self = static_cast<Impl*>(data);
    self->group = group;
    if (state == AVAHI_ENTRY_GROUP_ESTABLISHED) {
      log::Info(kLog, "RD announced",
                {{"name", self->options.name},
                 {"type", kServiceType},
                 {"port", std::to_string(self->options.port)}});
    } else if (state == AVAHI_ENTRY_GROUP_COLLISION) {
      self->Rename();
    } else if (state == AVAHI_ENTRY_GROUP_FAILURE) {
      log::Warn(
          kLog, "announcing the RD failed",
          {{"error", avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(group)))}});
    }
  }

  coap::Context& context;
  Discovery& discovery;
  DnsSdOptions options;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // guards work posted to the loop

  // Avahi's thread.
  AvahiThreadedPoll* poll = nullptr;
  AvahiClient* client = nullptr;
  AvahiServiceBrowser* browser = nullptr;
  AvahiEntryGroup* group = nullptr;
  std::map<std::string, Service> services;
  bool warned = false;
  struct Call {
    Impl* self;
    void (Impl::*method)();
  };
  std::list<Call> calls;  // due on Avahi's thread; those never due go with the poll
  int retry_ms = kFirstRetryMs;

  std::mutex mutex;
  std::map<std::string, coap::Address> chosen;  // instance name -> address registered
};

DnsSd::DnsSd(coap::Context& context, Discovery& discovery, DnsSdOptions options)
    : impl_(std::make_unique<Impl>(context, discovery, std::move(options))) {
  if (impl_->options.browse || impl_->options.announce) {
    impl_->Start();
  }
}

DnsSd::~DnsSd() {
  impl_->Stop();
}

#else

struct DnsSd::Impl {};

DnsSd::DnsSd(coap::Context& /*context*/, Discovery& /*discovery*/, DnsSdOptions options) {
  if (options.browse || options.announce) {
    log::Error(kLog, "DNS-SD asked for in a build without avahi-client");
  }
}

DnsSd::~DnsSd() = default;

#endif

}  // namespace coapgw::rd::discovery
