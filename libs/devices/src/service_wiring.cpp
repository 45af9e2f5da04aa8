#include "coapgw/devices/service_wiring.hpp"

#include <sys/resource.h>

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/coap/uri.hpp"
#include "coapgw/common/log.hpp"

namespace coapgw::devices {

DeviceMirrorOptions MirrorOptionsFrom(const Settings& settings) {
  // The bus endpoints are used later, on the loop thread; a typo should stop us before anything.
  (void)bus::EndpointSetting(settings, bus::kPubEndpointSetting);
  (void)bus::EndpointSetting(settings, bus::kSubEndpointSetting);
  DeviceMirrorOptions options;
  options.rd_uri = settings.String("COAPGW_RD_URI");
  const auto uri = coap::ParseUri(options.rd_uri);
  if (!uri.ok()) {
    throw SettingsError("COAPGW_RD_URI: " + uri.error().message);
  }
  return options;
}

std::unique_ptr<bus::Publisher> ConnectPublisher(zmq::context_t& zmq_context,
                                                 const Settings& settings,
                                                 MetricsRegistry& registry, const std::string& id,
                                                 bus::PublisherOptions options) {
  options.metrics = &registry;
  if (options.metrics_labels.empty()) {
    options.metrics_labels = "publisher=\"" + id + "\"";
  }
  return std::make_unique<bus::Publisher>(
      zmq_context, bus::EndpointSetting(settings, bus::kPubEndpointSetting), id, options);
}

std::unique_ptr<BusFeed> SubscribeFeed(zmq::context_t& zmq_context, const Settings& settings,
                                       MetricsRegistry& registry, const std::string& service,
                                       std::vector<std::string> topics, coap::Context& loop,
                                       BusFeed::Handler handler) {
  bus::SubscriberOptions options;
  options.metrics = &registry;
  options.metrics_labels = "subscriber=\"" + service + "\"";
  return std::make_unique<BusFeed>(zmq_context,
                                   bus::EndpointSetting(settings, bus::kSubEndpointSetting),
                                   std::move(topics), loop, std::move(handler), options);
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

}  // namespace coapgw::devices
