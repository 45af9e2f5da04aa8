// A publisher process for bus_service_test:
//   bus_test_peer PUB_ENDPOINT SUB_ENDPOINT NAME COUNT INTERVAL_MS
// First makes sure its PUB socket holds the bus's subscriptions (it publishes probes on
// peer.sync.NAME until its own subscriber gets one), prints "ready <publisher id>", then publishes
// COUNT messages {"n":i} on peer.data (COUNT 0: until SIGTERM), INTERVAL_MS apart, printing
// "published <i>" every 10 messages and "done <i>" at the end. Exit 0, or 3 when it never synced.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/common/stop_signal.hpp"

namespace {

using std::chrono::milliseconds;

bool Sync(coapgw::bus::Publisher& publisher, coapgw::bus::Subscriber& subscriber,
          const std::string& topic) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    (void)publisher.Publish(topic, "{}");
    if (subscriber.Receive(milliseconds(10))) {
      return true;
    }
  }
  return false;
}

int Run(const std::string& pub, const std::string& sub, const std::string& name, uint64_t count,
        milliseconds interval) {
  coapgw::StopSignal stop;
  coapgw::log::Configure(coapgw::log::Level::kWarn, coapgw::log::Format::kText);
  zmq::context_t context(1);
  coapgw::bus::Publisher publisher(context, pub, name);
  coapgw::bus::Subscriber subscriber(context, sub, {"peer.sync." + name});
  if (!Sync(publisher, subscriber, "peer.sync." + name)) {
    std::fprintf(stderr, "never synced\n");
    return 3;
  }
  std::fprintf(stderr, "ready %s\n", publisher.id().c_str());
  uint64_t n = 0;
  while (count == 0 || n < count) {
    if (stop.WaitFor(interval)) {
      break;
    }
    ++n;
    (void)publisher.Publish("peer.data", "{\"n\":" + std::to_string(n) + "}");
    if (n % 10 == 0) {
      std::fprintf(stderr, "published %llu\n", static_cast<unsigned long long>(n));
    }
  }
  std::fprintf(stderr, "done %llu\n", static_cast<unsigned long long>(n));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s PUB SUB NAME COUNT INTERVAL_MS\n", argv[0]);
    return 2;
  }
  try {
    return Run(argv[1], argv[2], argv[3], std::strtoull(argv[4], nullptr, 10),
               milliseconds(std::strtoll(argv[5], nullptr, 10)));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bus_test_peer: %s\n", error.what());
    return 1;
  }
}
