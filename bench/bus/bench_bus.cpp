// Bus throughput: 200-byte JSON payloads from one publisher to one subscriber over loopback TCP,
// through coapgw::bus::Proxy (the proxy coapgw-bus runs) and, as the same-run reference, directly
// PUB -> SUB without it. Each side has its own ZeroMQ context, as separate processes would.
//
//   proxy/library  Publisher -> Proxy -> Subscriber         (the product path: envelope + parse)
//   direct/library raw PUB (bound) -> Subscriber            (same envelopes and parsing, no proxy)
//   proxy/raw      raw PUB -> Proxy -> raw SUB              (transport only: frames, no parsing)
//   direct/raw     raw PUB (bound) -> raw SUB               (transport only, no proxy)
//
// One run = BENCH_BUS_MESSAGES messages (default 300000) published as fast as possible, in two
// modes: `backpressure` retries a send refused at the publisher's high-water mark (after a
// yield), so the figure is the sustained rate; `overrun` does what services do, drops it (seq
// used) and goes on. The time runs from the first publish to the last message received.
// msgs/s counts received messages; loss% is what never arrived; hwm_full counts sends refused at
// the publisher's HWM (retried or dropped); cpu_us/msg is the CPU time of all threads (publisher,
// proxy, subscriber, ZeroMQ I/O; the kernel's TCP work included) per received message, which a
// busy machine disturbs far less than msgs/s. Setup and the subscription handshake are not timed.
// With BENCH_BUS_PUB and BENCH_BUS_SUB set, the proxy runs go through that (running) coapgw-bus
// instead of an in-process Proxy.

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "coapgw/bus/envelope.hpp"
#include "coapgw/bus/proxy.hpp"
#include "coapgw/bus/publisher.hpp"
#include "coapgw/bus/subscriber.hpp"
#include "coapgw/common/log.hpp"

namespace {

namespace bus = coapgw::bus;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kPayloadBytes = 200;
constexpr const char* kDataTopic = "bench.data";
constexpr const char* kProbeTopic = "bench.probe";
constexpr const char* kAnyPort = "tcp://127.0.0.1:*";

uint64_t MessageCount() {
  const char* text = std::getenv("BENCH_BUS_MESSAGES");  // NOLINT(concurrency-mt-unsafe): no setenv
  return text != nullptr ? std::strtoull(text, nullptr, 10) : 300'000;
}

// An observer-like data message, padded to exactly kPayloadBytes.
const std::string& Payload() {
  static const std::string payload = [] {
    std::string text =
        R"({"device":"3f1c2a9e-8d1b-4c55-9a0e-2b7d4e6f8a10","service":"GET /sensors/temp",)"
        R"("content_format":50,"value":")";
    text.append(kPayloadBytes - text.size() - 2, 'x');
    return text + "\"}";
  }();
  return payload;
}

enum class Received { kNothing, kProbe, kData };

// The two ends of one configuration. Both are used by one thread at a time.
struct Pipeline {
  std::function<bool(const char* topic)> send;
  std::function<Received(milliseconds timeout)> receive;
};

// A PUB socket bound by the benchmark, sending what Publisher sends (envelope per message).
class RawPublisher {
 public:
  RawPublisher(zmq::context_t& context, const std::string& endpoint, bool bind)
      : socket_(context, zmq::socket_type::pub) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::sndhwm, bus::kDefaultHwm);
    socket_.set(zmq::sockopt::xpub_nodrop, 1);
    if (bind) {
      socket_.bind(endpoint);
    } else {
      socket_.connect(endpoint);
    }
  }
  std::string endpoint() { return socket_.get(zmq::sockopt::last_endpoint); }
  bool Send(const char* topic) {
    envelope_.clear();
    bus::AppendEnvelope(envelope_, topic, "raw-00000000", ++seq_, "2026-11-23T12:00:00.000Z",
                        Payload());
    const std::string_view name(topic);
    if (!socket_.send(zmq::buffer(name), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    return socket_.send(zmq::buffer(envelope_), zmq::send_flags::none).has_value();
  }

 private:
  zmq::socket_t socket_;
  std::string envelope_;
  uint64_t seq_ = 0;
};

// A SUB socket that only reads frames and looks at the topic.
class RawSubscriber {
 public:
  RawSubscriber(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::sub) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvhwm, bus::kDefaultHwm);
    socket_.set(zmq::sockopt::subscribe, "bench.");
    socket_.connect(endpoint);
  }
  Received Receive(milliseconds timeout) {
    if (!socket_.recv(topic_, zmq::recv_flags::dontwait)) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, timeout) == 0 || !socket_.recv(topic_)) {
        return Received::kNothing;
      }
    }
    (void)socket_.recv(body_);
    return topic_.to_string_view() == kDataTopic ? Received::kData : Received::kProbe;
  }

 private:
  zmq::socket_t socket_;
  zmq::message_t topic_;
  zmq::message_t body_;
};

Received Classify(const std::optional<bus::Message>& message) {
  if (!message) {
    return Received::kNothing;
  }
  return message->topic == kDataTopic ? Received::kData : Received::kProbe;
}

enum class Mode { kBackpressure, kOverrun };

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct RunResult {
  uint64_t messages = 0;
  uint64_t hwm_full = 0;  // sends refused at the publisher's HWM
  uint64_t received = 0;
  double seconds = 0;
  double cpu_seconds = 0;  // all threads of the process (publisher, proxy, subscriber, I/O)
};

RunResult Run(Pipeline& pipeline, Mode mode, uint64_t count) {
  // Probe until the subscription has reached the publisher (no slow-joiner loss in the run).
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  bool routed = false;
  while (!routed && Clock::now() < deadline) {
    (void)pipeline.send(kProbeTopic);
    routed = pipeline.receive(milliseconds(10)) == Received::kProbe;
  }
  RunResult result;
  if (!routed) {
    return result;  // received 0: reported as an error
  }
  result.messages = count;
  const double cpu_start = ProcessCpuSeconds();
  const auto start = Clock::now();
  auto last = start;
  std::thread sink([&] {
    // Ends when everything arrived or nothing came for 500 ms (the rest was lost).
    while (result.received < count) {
      const Received what = pipeline.receive(milliseconds(500));
      if (what == Received::kNothing) {
        break;
      }
      if (what == Received::kData) {
        ++result.received;
        last = Clock::now();
      }
    }
  });
  for (uint64_t i = 0; i < count; ++i) {
    while (!pipeline.send(kDataTopic)) {
      ++result.hwm_full;
      if (mode == Mode::kOverrun) {
        break;
      }
      std::this_thread::yield();
    }
  }
  sink.join();
  result.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  result.seconds = std::chrono::duration<double>(last - start).count();
  return result;
}

enum class Route { kProxy, kDirect };
enum class Ends { kLibrary, kRaw };

RunResult RunConfiguration(Route route, Ends ends, Mode mode, uint64_t count) {
  zmq::context_t proxy_context(1);
  zmq::context_t publisher_context(1);
  zmq::context_t subscriber_context(1);
  std::unique_ptr<bus::Proxy> proxy;
  std::unique_ptr<RawPublisher> raw_publisher;
  std::string sub_endpoint;
  std::string pub_endpoint;
  const char* external_pub = std::getenv("BENCH_BUS_PUB");  // NOLINT(concurrency-mt-unsafe)
  const char* external_sub = std::getenv("BENCH_BUS_SUB");  // NOLINT(concurrency-mt-unsafe)
  if (route == Route::kProxy && external_pub != nullptr && external_sub != nullptr) {
    pub_endpoint = external_pub;
    sub_endpoint = external_sub;
  } else if (route == Route::kProxy) {
    proxy = std::make_unique<bus::Proxy>(proxy_context, bus::ProxyOptions{kAnyPort, kAnyPort});
    proxy->Start();
    pub_endpoint = proxy->pub_endpoint();
    sub_endpoint = proxy->sub_endpoint();
  } else {
    raw_publisher = std::make_unique<RawPublisher>(publisher_context, kAnyPort, true);
    sub_endpoint = raw_publisher->endpoint();
  }
  std::unique_ptr<bus::Publisher> publisher;
  std::unique_ptr<bus::Subscriber> subscriber;
  std::unique_ptr<RawSubscriber> raw_subscriber;
  Pipeline pipeline;
  if (ends == Ends::kLibrary && route == Route::kProxy) {
    bus::PublisherOptions options;
    options.connection.linger = milliseconds(0);
    publisher = std::make_unique<bus::Publisher>(publisher_context, pub_endpoint, "bench", options);
    pipeline.send = [&](const char* topic) { return publisher->Publish(topic, Payload()).ok(); };
  } else {
    if (!raw_publisher) {
      raw_publisher = std::make_unique<RawPublisher>(publisher_context, pub_endpoint, false);
    }
    pipeline.send = [&](const char* topic) { return raw_publisher->Send(topic); };
  }
  if (ends == Ends::kLibrary) {
    subscriber = std::make_unique<bus::Subscriber>(subscriber_context, sub_endpoint,
                                                   std::vector<std::string>{"bench."});
    pipeline.receive = [&](milliseconds timeout) { return Classify(subscriber->Receive(timeout)); };
  } else {
    raw_subscriber = std::make_unique<RawSubscriber>(subscriber_context, sub_endpoint);
    pipeline.receive = [&](milliseconds timeout) { return raw_subscriber->Receive(timeout); };
  }
  const RunResult result = Run(pipeline, mode, count);
  if (proxy) {
    proxy->Stop();
  }
  return result;
}

struct Samples {
  std::vector<double> rates;        // msgs/s
  std::vector<double> cpu_per_msg;  // µs
};

std::map<std::string, Samples>& Recorded() {
  static std::map<std::string, Samples> recorded;
  return recorded;
}

void BM_Bus(benchmark::State& state, const std::string& name, Route route, Ends ends, Mode mode) {
  const uint64_t count = MessageCount();
  for (auto _ : state) {
    const RunResult result = RunConfiguration(route, ends, mode, count);
    if (result.received == 0) {
      state.SkipWithError("no message went through (no route from publisher to subscriber?)");
      break;
    }
    state.SetIterationTime(result.seconds);
    const double rate = static_cast<double>(result.received) / result.seconds;
    const double cpu_per_msg =
        1e6 * result.cpu_seconds / static_cast<double>(std::max<uint64_t>(result.received, 1));
    Recorded()[name].rates.push_back(rate);
    Recorded()[name].cpu_per_msg.push_back(cpu_per_msg);
    state.counters["msgs/s"] = rate;
    state.counters["loss%"] = 100.0 * static_cast<double>(result.messages - result.received) /
                              static_cast<double>(result.messages);
    state.counters["hwm_full"] = static_cast<double>(result.hwm_full);
    state.counters["cpu_us/msg"] = cpu_per_msg;
  }
}

double Median(std::vector<double> values) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// Same-run comparisons from the medians of each configuration's repetitions.
void PrintRatios() {
  auto& recorded = Recorded();
  const auto ratio = [&](const char* with, const char* without) {
    if (recorded.count(with) == 0 || recorded.count(without) == 0) {
      return;
    }
    const double rate = Median(recorded[with].rates);
    const double reference = Median(recorded[without].rates);
    std::printf("%-27s %7.0f msgs/s %5.2f us/msg = %.2f x %-27s %7.0f msgs/s %5.2f us/msg\n", with,
                rate, Median(recorded[with].cpu_per_msg), rate / reference, without, reference,
                Median(recorded[without].cpu_per_msg));
  };
  ratio("proxy/library/backpressure", "direct/library/backpressure");
  ratio("proxy/raw/backpressure", "direct/raw/backpressure");
  ratio("proxy/library/backpressure", "proxy/raw/backpressure");
  ratio("proxy/library/overrun", "direct/library/overrun");
}

void Register(const std::string& base, Route route, Ends ends) {
  for (const Mode mode : {Mode::kBackpressure, Mode::kOverrun}) {
    const std::string name = base + (mode == Mode::kBackpressure ? "/backpressure" : "/overrun");
    benchmark::RegisterBenchmark(name.c_str(), BM_Bus, name, route, ends, mode)
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  coapgw::log::Configure(coapgw::log::Level::kError, coapgw::log::Format::kText);
  Register("proxy/library", Route::kProxy, Ends::kLibrary);
  Register("direct/library", Route::kDirect, Ends::kLibrary);
  Register("proxy/raw", Route::kProxy, Ends::kRaw);
  Register("direct/raw", Route::kDirect, Ends::kRaw);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  PrintRatios();
  benchmark::Shutdown();
  return 0;
}
