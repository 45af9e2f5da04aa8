#include "bus/service.hpp"

#include "coapgw/bus/endpoint.hpp"
#include "coapgw/bus/proxy.hpp"
#include "coapgw/common/log.hpp"

namespace coapgw::bus {
namespace {

constexpr const char* kComponent = "coapgw-bus";
constexpr const char* kHwmSetting = "COAPGW_BUS_HWM";
constexpr std::chrono::milliseconds kStatisticsInterval{1000};
constexpr std::chrono::milliseconds kStatisticsTimeout{500};

// The proxy's counters are cumulative; Prometheus counters only go up, so add the difference.
class ProxyMetrics {
 public:
  explicit ProxyMetrics(MetricsRegistry& metrics)
      : published_messages_(metrics.AddCounter("coapgw_bus_forwarded_messages_total",
                                               "messages received from publishers and forwarded")),
        published_bytes_(metrics.AddCounter("coapgw_bus_forwarded_bytes_total",
                                            "bytes of messages received from publishers")),
        subscriptions_(metrics.AddCounter("coapgw_bus_subscription_messages_total",
                                          "subscribe/unsubscribe frames from subscribers")) {}

  void Update(const ProxyStatistics& now) {
    published_messages_.Inc(now.published_messages - last_.published_messages);
    published_bytes_.Inc(now.published_bytes - last_.published_bytes);
    subscriptions_.Inc(now.subscription_messages - last_.subscription_messages);
    last_ = now;
  }

 private:
  Counter& published_messages_;
  Counter& published_bytes_;
  Counter& subscriptions_;
  ProxyStatistics last_;
};

}  // namespace

void AddBusSettings(Settings& settings) {
  AddPubEndpointSetting(settings, "endpoint bound for publishers (XSUB side)");
  AddSubEndpointSetting(settings, "endpoint bound for subscribers (XPUB side)");
  SettingSpec hwm{kHwmSetting, "queue limit per connection in messages, both sides",
                  std::to_string(kDefaultHwm), SettingKind::kInt};
  hwm.min_int = 1;
  hwm.max_int = 100'000'000;
  settings.Add(hwm);
}

ServiceBody ConfigureBus(const Settings& settings) {
  ProxyOptions options;
  options.pub_endpoint = EndpointSetting(settings, kPubEndpointSetting);
  options.sub_endpoint = EndpointSetting(settings, kSubEndpointSetting);
  options.hwm = static_cast<int>(settings.Int(kHwmSetting));
  return [options](ServiceContext& ctx) { return RunBus(ctx, options); };
}

int RunBus(ServiceContext& ctx, const ProxyOptions& options) {
  zmq::context_t context(1);
  Proxy proxy(context, options);
  ProxyMetrics metrics(ctx.metrics);
  proxy.Start();
  ctx.health.SetReady();
  log::Info(kComponent, "forwarding",
            {{"pub", proxy.pub_endpoint()},
             {"sub", proxy.sub_endpoint()},
             {"hwm", std::to_string(options.hwm)}});

  for (;;) {
    if (const auto signal = ctx.stop.WaitFor(kStatisticsInterval)) {
      log::Info(kComponent, "stopping", {{"signal", std::to_string(*signal)}});
      break;
    }
    if (const auto failure = proxy.failure()) {
      ctx.health.SetNotReady("proxy stopped: " + *failure);
      return 1;
    }
    if (const auto statistics = proxy.Statistics(kStatisticsTimeout)) {
      metrics.Update(*statistics);
    }
  }
  ctx.health.SetNotReady("stopping");
  if (const auto statistics = proxy.Statistics(kStatisticsTimeout)) {
    metrics.Update(*statistics);
  }
  proxy.Stop();
  return 0;
}

}  // namespace coapgw::bus
