#pragma once

// Wiring pieces the executer and the pinger share beyond libs/devices/service_wiring.hpp: both are
// ready once their DeviceMirror synchronised twice, and reach coaps:// devices with DTLS-PSK keys.

#include <memory>
#include <string>
#include <vector>

#include "coapgw/coap/context.hpp"
#include "coapgw/common/http_server.hpp"
#include "coapgw/common/settings.hpp"
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

/// The key file COAPGW_DTLS_PSK_FILE names (nullptr when unset); SettingsError naming the file and
/// line when it cannot be read or parsed.
std::unique_ptr<PskKeyFile> PskKeysFrom(const Settings& settings);

}  // namespace coapgw::executer
