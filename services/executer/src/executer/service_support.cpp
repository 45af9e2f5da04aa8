#include "executer/service_support.hpp"

#include <sys/resource.h>

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/coap/uri.hpp"
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

devices::DeviceMirrorOptions MirrorOptionsFrom(const Settings& settings) {
  // The bus endpoints are used later, on the loop thread; a typo should stop us before anything.
  (void)bus::EndpointSetting(settings, bus::kPubEndpointSetting);
  (void)bus::EndpointSetting(settings, bus::kSubEndpointSetting);
  devices::DeviceMirrorOptions options;
  options.rd_uri = settings.String("COAPGW_RD_URI");
  const auto uri = coap::ParseUri(options.rd_uri);
  if (!uri.ok()) {
    throw SettingsError("COAPGW_RD_URI: " + uri.error().message);
  }
  return options;
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

std::unique_ptr<bus::Publisher> ConnectPublisher(zmq::context_t& zmq_context,
                                                 const Settings& settings,
                                                 MetricsRegistry& registry,
                                                 const std::string& service) {
  bus::PublisherOptions options;
  options.metrics = &registry;
  options.metrics_labels = "publisher=\"" + service + "\"";
  return std::make_unique<bus::Publisher>(
      zmq_context, bus::EndpointSetting(settings, bus::kPubEndpointSetting), service, options);
}

std::unique_ptr<devices::BusFeed> SubscribeFeed(zmq::context_t& zmq_context,
                                                const Settings& settings, MetricsRegistry& registry,
                                                const std::string& service,
                                                std::vector<std::string> topics,
                                                coap::Context& loop,
                                                devices::BusFeed::Handler handler) {
  bus::SubscriberOptions options;
  options.metrics = &registry;
  options.metrics_labels = "subscriber=\"" + service + "\"";
  return std::make_unique<devices::BusFeed>(
      zmq_context, bus::EndpointSetting(settings, bus::kSubEndpointSetting), std::move(topics),
      loop, std::move(handler), options);
}

LoopTeardown::~LoopTeardown() {
  try {
    loop_.Call(teardown_);
  } catch (const std::exception& error) {
    log::Error("service", "teardown failed", {{"error", error.what()}});
  }
}

size_t RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    }
  }
  return static_cast<size_t>(limit.rlim_cur);
}

}  // namespace coapgw::executer
