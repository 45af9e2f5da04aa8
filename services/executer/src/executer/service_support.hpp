#pragma once

// Wiring pieces the executer and the pinger share: both follow the RD through a DeviceMirror,
// are ready once it synchronised, and talk to many devices over one socket each.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/http_server.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/settings.hpp"
#include "coapgw/devices/bus_feed.hpp"
#include "coapgw/devices/device_mirror.hpp"
#include "executer/psk_file.hpp"

namespace coapgw::executer {

/// Passes every mirror event on to `inner` and decides readiness. The first snapshot may predate
/// the service's bus subscription (ZeroMQ subscriptions take a moment to reach the RD's publisher),
/// and an event lost in between would only show as a gap at the RD's next event. So the service
/// subscribes first, and `confirm_after` after the first snapshot the mirror fetches a second one;
/// `health` becomes ready (and "<component>: ready" is logged) when that one is applied.
class ReadyOnSync final : public devices::DeviceListener {
 public:
  ReadyOnSync(devices::DeviceListener& inner, Health& health, std::string component,
              coap::Context& context, Millis confirm_after = Millis(1000));
  ~ReadyOnSync() override;
  ReadyOnSync(const ReadyOnSync&) = delete;
  ReadyOnSync& operator=(const ReadyOnSync&) = delete;
  ReadyOnSync(ReadyOnSync&&) = delete;
  ReadyOnSync& operator=(ReadyOnSync&&) = delete;

  /// The mirror to resync; set before it starts. Loop thread.
  void Attach(devices::DeviceMirror* mirror) { mirror_ = mirror; }

  void OnDeviceUpsert(const events::Device& device, const events::Device* before,
                      const std::vector<events::DeviceChange>& changes) override {
    inner_.OnDeviceUpsert(device, before, changes);
  }
  void OnDeviceGone(const events::Device& device, devices::GoneReason reason) override {
    inner_.OnDeviceGone(device, reason);
  }
  void OnSynced(size_t devices) override;

 private:
  devices::DeviceListener& inner_;
  Health& health_;
  std::string component_;
  coap::Context& context_;
  Millis confirm_after_;
  devices::DeviceMirror* mirror_ = nullptr;
  bool confirming_ = false;  // the confirming snapshot was asked for
  bool confirmed_ = false;   // ... and is on its way
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// Declares the settings both services read: COAPGW_BUS_PUB, COAPGW_BUS_SUB, COAPGW_RD_URI and
/// COAPGW_DTLS_PSK_FILE.
void AddDeviceServiceSettings(Settings& settings);

/// The mirror's options from COAPGW_RD_URI; SettingsError when it is not a coap:// URI, or when
/// COAPGW_BUS_PUB or COAPGW_BUS_SUB is not a ZeroMQ endpoint (checked here, before anything
/// starts).
devices::DeviceMirrorOptions MirrorOptionsFrom(const Settings& settings);

/// The key file COAPGW_DTLS_PSK_FILE names (nullptr when unset); SettingsError naming the file and
/// line when it cannot be read or parsed.
std::unique_ptr<PskKeyFile> PskKeysFrom(const Settings& settings);

/// A bus publisher named `service` connected to COAPGW_BUS_PUB, counting into `registry`
/// (publisher="<service>"). Construct and use it on the loop thread only. SettingsError for a
/// malformed endpoint.
std::unique_ptr<bus::Publisher> ConnectPublisher(zmq::context_t& zmq_context,
                                                 const Settings& settings,
                                                 MetricsRegistry& registry,
                                                 const std::string& service);

/// A BusFeed from COAPGW_BUS_SUB for `topics`, handing each message to `handler` on `loop`'s
/// thread, counting into `registry` (subscriber="<service>"). SettingsError for a malformed
/// endpoint.
std::unique_ptr<devices::BusFeed> SubscribeFeed(zmq::context_t& zmq_context,
                                                const Settings& settings, MetricsRegistry& registry,
                                                const std::string& service,
                                                std::vector<std::string> topics,
                                                coap::Context& loop,
                                                devices::BusFeed::Handler handler);

/// Runs `teardown` on `loop`'s thread when destroyed. Declared right after the loop (and after the
/// state the loop's timers refer to, which must outlive the loop's thread), it takes the
/// loop-owned objects down on their own thread whichever way the service body is left,
/// exceptions included.
class LoopTeardown {
 public:
  LoopTeardown(coap::ContextThread& loop, std::function<void()> teardown)
      : loop_(loop), teardown_(std::move(teardown)) {}
  ~LoopTeardown();
  LoopTeardown(const LoopTeardown&) = delete;
  LoopTeardown& operator=(const LoopTeardown&) = delete;
  LoopTeardown(LoopTeardown&&) = delete;
  LoopTeardown& operator=(LoopTeardown&&) = delete;

 private:
  coap::ContextThread& loop_;
  std::function<void()> teardown_;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (one UDP socket per device session) and
/// returns the soft limit in force afterwards.
size_t RaiseOpenFileLimit();

}  // namespace coapgw::executer
