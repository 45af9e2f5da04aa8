// A flood of notifications on many sockets at once must not stall the observer's loop: values
// keep flowing and posted work (bus messages, timers) keeps running. Devices are the benchmark's
// raw-UDP simulator (bench/observer/device_sim), which notifies as fast as it can. (The stall
// this guards against, libcoap's coap_io_process looping while 10 or more sockets stay readable,
// showed in the Release benchmark at 50,000 notifications/s; this sanitizer build is too slow to
// keep that many sockets readable, so here the test checks the property, not that regression.)

#include <atomic>
#include <chrono>
#include <future>
#include <memory>

#include <gtest/gtest.h>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/test/wait.hpp"
#include "device_sim.hpp"
#include "observer/watcher.hpp"

namespace coapgw::observer {
namespace {

using std::chrono::milliseconds;

class CountingSink final : public DataSink {
 public:
  void Deliver(uint64_t resource_key, events::ObservedData data) override {
    (void)resource_key;
    (void)data;
    count_.fetch_add(1);
  }
  uint64_t count() const { return count_.load(); }

 private:
  std::atomic<uint64_t> count_{0};
};

TEST(FloodTest, ManyFloodedSocketsDoNotStallTheLoop) {
  bench::DeviceSimOptions options;
  options.devices = 640;
  options.sockets = 64;  // more readable sockets than libcoap's 10 events per epoll_wait
  bench::DeviceSim devices(options);
  coap::ContextThread loop;
  CountingSink sink;
  std::unique_ptr<coap::Client> client;
  std::unique_ptr<Watcher> watcher;
  loop.Call([&] {
    client = std::make_unique<coap::Client>(loop.context());
    watcher = std::make_unique<Watcher>(*client, sink, WatcherOptions{},
                                        [] { return std::chrono::steady_clock::now(); });
    for (int k = 0; k < options.devices; ++k) {
      DeviceTarget target;
      target.endpoint.host = "127.0.0.1";
      target.endpoint.port = devices.PortOf(k);
      WatchedResource resource;
      resource.path = bench::DeviceSim::PathOf(k);
      resource.segments = coap::SplitPath(resource.path);
      resource.observable = true;
      resource.poll_interval = milliseconds(30000);
      target.resources = {resource};
      watcher->Watch("device-" + std::to_string(k), target);
    }
  });
  ASSERT_TRUE(test::WaitUntil([&] { return devices.observed_devices() == options.devices; },
                              milliseconds(10000)));

  devices.SetRate(1e7);  // as fast as the simulator can send
  ASSERT_TRUE(test::WaitUntil([&] { return devices.sent() > 20000; }, milliseconds(10000)));
  // Posted work still runs promptly, several times over, while the flood goes on.
  for (int i = 0; i < 5; ++i) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    loop.context().Post([done] { done->set_value(); });
    EXPECT_EQ(future.wait_for(std::chrono::seconds(3)), std::future_status::ready) << i;
  }
  const uint64_t before = sink.count();
  EXPECT_TRUE(test::WaitUntil([&] { return sink.count() > before + 1000; }, milliseconds(5000)));
  devices.SetRate(0);

  loop.Call([&] {
    watcher.reset();
    client.reset();
  });
}

}  // namespace
}  // namespace coapgw::observer
