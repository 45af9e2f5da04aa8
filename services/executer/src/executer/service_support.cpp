#include "executer/service_support.hpp"

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/common/log.hpp"

namespace coapgw::executer {

ReadyOnSync::ReadyOnSync(devices::DeviceListener& inner, Health& health, std::string component,
                         coap::Context& context, Millis confirm_after)
    : inner_(inner),
      health_(health),
      component_(std::move(component)),
      context_(context),
      confirm_after_(confirm_after) {}

ReadyOnSync::~ReadyOnSync() {
  *alive_ = false;
}

void ReadyOnSync::OnSynced(size_t devices) {
  inner_.OnSynced(devices);
  if (!confirming_) {
    confirming_ = true;
    context_.After(confirm_after_, [this, alive = alive_] {
      if (*alive && mirror_ != nullptr) {
        confirmed_ = true;
        mirror_->Resync("confirming the first snapshot now that the bus subscription is in place");
      }
    });
    return;
  }
  if (confirmed_ && !health_.ready()) {
    log::Info(component_, "ready", {{"devices", std::to_string(devices)}});
    health_.SetReady();
  }
}

void AddDeviceServiceSettings(Settings& settings) {
  bus::AddPubEndpointSetting(settings);
  bus::AddSubEndpointSetting(settings);
  settings.Add({"COAPGW_RD_URI", "the RD (its /coapgw/devices snapshot)", "coap://127.0.0.1:5683"});
  settings.Add({"COAPGW_DTLS_PSK_FILE",
                "DTLS-PSK keys for coaps:// devices: lines identity,key,host-pattern (key as text "
                "or hex:...; pattern a glob over the device's host)",
                ""});
}

std::unique_ptr<PskKeyFile> PskKeysFrom(const Settings& settings) {
  if (!settings.IsSet("COAPGW_DTLS_PSK_FILE") || settings.String("COAPGW_DTLS_PSK_FILE").empty()) {
    return nullptr;
  }
  auto keys = PskKeyFile::Load(settings.String("COAPGW_DTLS_PSK_FILE"));
  if (!keys.ok()) {
    throw SettingsError("COAPGW_DTLS_PSK_FILE: " + keys.error().message);
  }
  return std::make_unique<PskKeyFile>(std::move(*keys));
}

}  // namespace coapgw::executer
