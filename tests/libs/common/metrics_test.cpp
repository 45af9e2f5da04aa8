#include "coapgw/common/metrics.hpp"

#include <gtest/gtest.h>

namespace coapgw {
namespace {

TEST(MetricsRegistryTest, RendersFamiliesOnceWithLabelledSamples) {
  MetricsRegistry registry;
  registry.AddCounter("coapgw_messages_total", "Messages.", "topic=\"a\"").Inc(3);
  registry.AddGauge("coapgw_devices", "Devices.").Set(7);
  registry.AddCounter("coapgw_messages_total", "Messages.", "topic=\"b\"").Inc();
  const std::string text = registry.Render();
  EXPECT_EQ(text,
            "# HELP coapgw_messages_total Messages.\n"
            "# TYPE coapgw_messages_total counter\n"
            "coapgw_messages_total{topic=\"a\"} 3\n"
            "coapgw_messages_total{topic=\"b\"} 1\n"
            "# HELP coapgw_devices Devices.\n"
            "# TYPE coapgw_devices gauge\n"
            "coapgw_devices 7\n");
}

TEST(MetricsRegistryTest, SameNameAndLabelsIsTheSameMetric) {
  MetricsRegistry registry;
  Counter& first = registry.AddCounter("c_total", "C.");
  Counter& second = registry.AddCounter("c_total", "C.");
  EXPECT_EQ(&first, &second);
  EXPECT_THROW(registry.AddGauge("c_total", "C."), std::logic_error);
}

TEST(CounterMirrorTest, SyncAddsWhatEachSourceGainedSinceTheLastSync) {
  MetricsRegistry registry;
  CounterMirror mirror;
  uint64_t sent = 5;
  uint64_t lost = 0;
  Counter& sent_total = registry.AddCounter("coapgw_sent_total", "Sent.", "to=\"a\"");
  sent_total.Inc(2);  // counted elsewhere too: the mirror only adds
  mirror.Add(registry, "coapgw_sent_total", "Sent.", sent, "to=\"a\"");
  mirror.Add(registry, "coapgw_lost_total", "Lost.", lost);
  Counter& lost_total = registry.AddCounter("coapgw_lost_total", "Lost.");
  mirror.Sync();
  EXPECT_EQ(sent_total.Value(), 7U);
  EXPECT_EQ(lost_total.Value(), 0U);
  sent += 3;
  lost += 1;
  mirror.Sync();
  mirror.Sync();
  EXPECT_EQ(sent_total.Value(), 10U);
  EXPECT_EQ(lost_total.Value(), 1U);
}

}  // namespace
}  // namespace coapgw
