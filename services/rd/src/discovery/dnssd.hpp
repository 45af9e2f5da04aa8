#pragma once

// DNS-SD for the RD (through an Avahi daemon, when the build has avahi-client): browsing
// `_coap._udp` services and registering each as a discovered device through Discovery (its
// /.well-known/core, named by its `ep` attribute, else the DNS-SD instance name), and announcing
// the RD itself as a `_coap._udp` service with `rt=core.rd`. Avahi runs on a thread of its own
// (avahi_threaded_poll); what it finds is handed to the RD's CoAP loop. Without a reachable
// avahi-daemon the RD logs one warning and waits for the daemon to appear.

#include <cstdint>
#include <memory>
#include <string>

#include "coapgw/coap/context.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/settings.hpp"
#include "discovery/discovery.hpp"

namespace coapgw::rd::discovery {

struct DnsSdOptions {
  bool browse = false;             // register the `_coap._udp` services found
  bool announce = false;           // announce the RD as `_coap._udp` with rt=core.rd
  std::string name = "coapgw-rd";  // instance name announced (another is taken on collision)
  uint16_t port = 5683;            // the RD's CoAP port, announced
  Millis refresh{300000};          // browsed devices are re-registered this often
};

/// True when this build can do DNS-SD (it found avahi-client).
bool DnsSdAvailable();

/// The settings COAPGW_RD_DNSSD* (docs/discovery.md "DNS-SD").
void AddDnsSdSettings(Settings& settings);
/// Reads and checks them; throws SettingsError naming the setting, also when DNS-SD is asked for
/// and the build has none. `port` is the RD's CoAP port; browsed devices are refreshed at a third
/// of `lifetime_s` (that of discovered registrations).
DnsSdOptions DnsSdOptionsFromSettings(const Settings& settings, uint16_t port, int64_t lifetime_s);

/// Browses and/or announces while it exists. Built and destroyed on the loop thread of `context`;
/// `discovery` must outlive it.
class DnsSd {
 public:
  DnsSd(coap::Context& context, Discovery& discovery, DnsSdOptions options);
  /// Stops Avahi's thread; finds not yet handed to the loop are dropped.
  ~DnsSd();
  DnsSd(const DnsSd&) = delete;
  DnsSd& operator=(const DnsSd&) = delete;
  DnsSd(DnsSd&&) = delete;
  DnsSd& operator=(DnsSd&&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coapgw::rd::discovery
