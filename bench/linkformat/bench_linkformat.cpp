// Link-format throughput on a realistic 40-link registration payload (RFC 9176 §5). The
// reference scans of the same buffer give a same-run yardstick on a noisy machine: the program
// ends by printing the parser's MB/s as a fraction of theirs (see bench/README.md).

#include <array>
#include <cstring>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/resolve_links.hpp"
#include "coapgw/linkformat/uri.hpp"

namespace {

namespace lf = coapgw::linkformat;

constexpr int kLinks = 40;

// What a gateway-class device registers: relative targets, quoted resource types with
// URI-shaped values, interface descriptions, content-format lists, obs flags, titles and
// anchored links to documentation.
const std::string& RegistrationPayload() {
  static const std::string payload = [] {
    // '#' stands for the link's number.
    constexpr const char* kTemplates[] = {
        R"(</sensors/temp/#>;rt="temperature-c";if="core.s";ct=0;obs)",
        R"(</sensors/hum/#>;rt="humidity";if="core.s";ct="0 60";obs;title="Humidity #")",
        R"(</actuators/led/#>;rt="tag:example.com,2020:light";if="core.a";ct=60)",
        R"(</fw/#>;rt=firmware;sz=262144;ct=42)",
        R"(<http://www.example.com/docs/dev-#>;anchor="/sensors/temp/#";rel=describedby)",
    };
    std::string text;
    for (int i = 0; i < kLinks; ++i) {
      if (i > 0) {
        text += ',';
      }
      for (const char* c = kTemplates[i % 5]; *c != '\0'; ++c) {
        if (*c == '#') {
          text += std::to_string(i);
        } else {
          text += *c;
        }
      }
    }
    return text;
  }();
  return payload;
}

void ReportThroughput(benchmark::State& state, size_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_per_iteration));
  state.counters["links/s"] = benchmark::Counter(static_cast<double>(state.iterations()) * kLinks,
                                                 benchmark::Counter::kIsRate);
  state.counters["payload_bytes"] = static_cast<double>(bytes_per_iteration);
}

void ParsePayload(benchmark::State& state) {
  const std::string& payload = RegistrationPayload();
  for (auto _ : state) {
    coapgw::Result<std::vector<lf::Link>> links = lf::Parse(payload);
    if (!links.ok() || links->size() != kLinks) {
      state.SkipWithError("payload did not parse");
      break;
    }
    benchmark::DoNotOptimize(links);
  }
  ReportThroughput(state, payload.size());
}
BENCHMARK(ParsePayload);

void SerializeLinks(benchmark::State& state) {
  const std::vector<lf::Link> links = lf::Parse(RegistrationPayload()).value();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = lf::Serialize(links);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  ReportThroughput(state, bytes);
}
BENCHMARK(SerializeLinks);

// What an RD lookup does per registration: every link to its absolute lookup form (§6.1).
void ToLookupLinks(benchmark::State& state) {
  const std::vector<lf::Link> links = lf::Parse(RegistrationPayload()).value();
  const lf::Uri base = lf::ParseUri("coap://[2001:db8:3::123]:61616").value();
  for (auto _ : state) {
    for (const lf::Link& link : links) {
      coapgw::Result<lf::Link> lookup = lf::ToLookupLink(base, link);
      benchmark::DoNotOptimize(lookup);
    }
  }
  ReportThroughput(state, RegistrationPayload().size());
}
BENCHMARK(ToLookupLinks);

// Reference 1: memchr over the buffer, counting '<' (SIMD in glibc; an upper bound).
void ReferenceMemchrScan(benchmark::State& state) {
  const std::string& payload = RegistrationPayload();
  for (auto _ : state) {
    int count = 0;
    const char* p = payload.data();
    const char* end = p + payload.size();
    while ((p = static_cast<const char*>(std::memchr(p, '<', static_cast<size_t>(end - p)))) !=
           nullptr) {
      ++count;
      ++p;
    }
    benchmark::DoNotOptimize(count);
  }
  ReportThroughput(state, payload.size());
}
BENCHMARK(ReferenceMemchrScan);

// Reference 2: one table lookup per byte, the least work a byte-at-a-time scanner does.
void ReferenceByteLoop(benchmark::State& state) {
  const std::string& payload = RegistrationPayload();
  static const std::array<unsigned char, 256> class_table = [] {
    std::array<unsigned char, 256> table{};
    table['<'] = table['>'] = table[';'] = table[','] = table['"'] = 1;
    return table;
  }();
  for (auto _ : state) {
    unsigned delimiters = 0;
    for (const char c : payload) {
      delimiters += class_table[static_cast<unsigned char>(c)];
    }
    benchmark::DoNotOptimize(delimiters);
  }
  ReportThroughput(state, payload.size());
}
BENCHMARK(ReferenceByteLoop);

// Console output plus, at the end, each workload's throughput as a fraction of the two
// reference scans measured in this run (median CPU time when repeated). All workloads process
// the same payload, so the ratio of times is the ratio of MB/s.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}  // plain text, as benchmark_main prints to a pipe

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (median || run.run_type == Run::RT_Iteration) {
        cpu_ns_[run.run_name.function_name] = run.GetAdjustedCPUTime();
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::ostream& out = GetOutputStream();
    out << "\nsame-run throughput ratios (workload MB/s / reference MB/s):\n";
    for (const char* workload : {"ParsePayload", "SerializeLinks", "ToLookupLinks"}) {
      for (const char* reference : {"ReferenceByteLoop", "ReferenceMemchrScan"}) {
        if (cpu_ns_.count(workload) != 0 && cpu_ns_.count(reference) != 0) {
          out << "  " << workload << " / " << reference << " = "
              << cpu_ns_[reference] / cpu_ns_[workload] << "\n";
        }
      }
    }
  }

 private:
  std::map<std::string, double> cpu_ns_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
