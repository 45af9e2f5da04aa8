// RD lookups on an in-memory index of 100,000 registrations × 3 links (RFC 9176 §6), the
// memory the index holds per registration, and same-run references: the same filter answered by a
// linear scan of the registrations, and one std::map probe. See bench/README.md, "RD lookup".

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "coapgw/linkformat/link_format.hpp"
#include "rd/index.hpp"
#include "rd/lookup.hpp"
#include "rd/lookup_query.hpp"
#include "rd/registration.hpp"

namespace {

namespace rd = coapgw::rd;
namespace lf = coapgw::linkformat;

constexpr int kRegistrations = 100000;
constexpr int kModels = 10000;  // link 3's rt is one of kModels device models: 10 hits per value
constexpr int64_t kPutKey = 77778;  // the Put benchmarks' registration, looked up by no other one

char Hex(int digit) {
  return "0123456789abcdef"[digit & 15];
}

// Registration i as a device would send it: a 36-byte device id, a 12-byte endpoint name, a base
// on its own IPv6 address, and three links, the third naming the device model.
rd::Registration MakeRegistration(int i) {
  rd::Registration registration;
  registration.key = i + 1;
  registration.device_id = "6f1c2a9e-0000-4000-8000-";
  for (int shift = 44; shift >= 0; shift -= 4) {
    registration.device_id += Hex(i >> shift);
  }
  char name[32];
  std::snprintf(name, sizeof name, "node-%06d", i);
  registration.ep = name;
  registration.sector = i % 2 == 0 ? "" : "building-" + std::to_string(i % 10);
  std::snprintf(name, sizeof name, "coap://[2001:db8:%x::%x]", i >> 16, i & 0xffff);
  registration.base = name;
  registration.owner = "ip:" + registration.base.substr(8, registration.base.size() - 9);
  registration.links = lf::Parse(
                           "</sensors/temp>;rt=\"temperature-c\";if=sensor;ct=0;obs,"
                           "</sensors/hum>;rt=humidity;if=sensor;ct=0,"
                           "</actuators/led>;rt=\"model-" +
                           std::to_string(i % kModels) + "\";if=actuator;ct=0")
                           .value();
  return registration;
}

// Heap bytes in use, as glibc counts them (small blocks plus mmapped ones).
size_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t size = 0;
  size_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

struct Footprint {
  double heap_per_registration = 0;
  double rss_per_registration = 0;
};

Footprint Measure(size_t heap_before, size_t rss_before) {
  malloc_trim(0);
  return Footprint{
      static_cast<double>(HeapBytes() - heap_before) / kRegistrations,
      static_cast<double>(ResidentBytes() - rss_before) / kRegistrations,
  };
}

rd::Index* g_index = nullptr;
std::vector<rd::Registration>* g_plain = nullptr;  // the reference: the same data, unindexed

void RunLookup(benchmark::State& state, const std::vector<std::string>& parameters,
               rd::LookupResult (*lookup)(const rd::Index&, const rd::LookupQuery&)) {
  const rd::LookupQuery query = rd::LookupQuery::Parse(parameters).value();
  size_t returned = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    rd::LookupResult result = lookup(*g_index, query);
    returned = result.returned;
    bytes = result.payload.size();
    benchmark::DoNotOptimize(result.payload.data());
  }
  state.counters["results"] = static_cast<double>(returned);
  state.counters["payload_bytes"] = static_cast<double>(bytes);
}

// res?rt=model-4242: 10 registrations among 100,000 (one link each).
void LookupResourcesByRareRt(benchmark::State& state) {
  RunLookup(state, {"rt=model-4242"}, rd::LookupResources);
}
BENCHMARK(LookupResourcesByRareRt);

// res?ep=node-054321: the three links of one endpoint.
void LookupResourcesByEp(benchmark::State& state) {
  RunLookup(state, {"ep=node-054321"}, rd::LookupResources);
}
BENCHMARK(LookupResourcesByEp);

// ep?ep=node-054321: the endpoint link.
void LookupEndpointByEp(benchmark::State& state) {
  RunLookup(state, {"ep=node-054321"}, rd::LookupEndpoints);
}
BENCHMARK(LookupEndpointByEp);

using Parameter = std::string (*)(int value);
std::string RtParameter(int value) {
  return "rt=model-" + std::to_string(value);
}
std::string EpParameter(int value) {
  char parameter[32];
  std::snprintf(parameter, sizeof parameter, "ep=node-%06d", value);
  return parameter;
}
std::vector<rd::LookupQuery> RandomQueries(Parameter parameter, int values, int n);

// As a load generator asks: each iteration another of 4,096 pseudo-random values, so the index's
// structures are not all in cache.
void RunRandomLookups(benchmark::State& state, Parameter parameter, int values,
                      rd::LookupResult (*lookup)(const rd::Index&, const rd::LookupQuery&)) {
  const std::vector<rd::LookupQuery> queries = RandomQueries(parameter, values, 4096);
  size_t i = 0;
  size_t returned = 0;
  for (auto _ : state) {
    rd::LookupResult result = lookup(*g_index, queries[i++ & 4095]);
    returned += result.returned;
    benchmark::DoNotOptimize(result.payload.data());
  }
  state.counters["results"] =
      static_cast<double>(returned) / static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

// res?rt=model-<random>: 10 links each.
void LookupResourcesByRandomRt(benchmark::State& state) {
  RunRandomLookups(state, RtParameter, kModels, rd::LookupResources);
}
BENCHMARK(LookupResourcesByRandomRt);

// ep?ep=node-<random>: one endpoint each.
void LookupEndpointByRandomEp(benchmark::State& state) {
  RunRandomLookups(state, EpParameter, kRegistrations, rd::LookupEndpoints);
}
BENCHMARK(LookupEndpointByRandomEp);

// res?href=<one resolved target>: answered through the base's Origin.
void LookupResourcesByHref(benchmark::State& state) {
  RunLookup(state, {"href=coap://[2001:db8:0::d431]/sensors/hum"}, rd::LookupResources);
}
BENCHMARK(LookupResourcesByHref);

// res?rt=humidity&count=10: a common value, first page only.
void LookupResourcesByCommonRtFirstPage(benchmark::State& state) {
  RunLookup(state, {"rt=humidity", "count=10"}, rd::LookupResources);
}
BENCHMARK(LookupResourcesByCommonRtFirstPage);

// res?rt=humidity: 100,000 links (a full dump of one resource type, ~4 MB).
void LookupResourcesByCommonRtAll(benchmark::State& state) {
  RunLookup(state, {"rt=humidity"}, rd::LookupResources);
}
BENCHMARK(LookupResourcesByCommonRtAll)->Unit(benchmark::kMillisecond);

// A lifetime refresh (POST /rd/<key>): Put of an unchanged registration with a new lifetime.
void PutRefresh(benchmark::State& state) {
  rd::Registration registration = *g_index->Find(kPutKey);
  for (auto _ : state) {
    ++registration.lt_s;
    g_index->Put(registration);
  }
}
BENCHMARK(PutRefresh);

// A re-registration with a changed resource type: posting lists and link cache rebuilt.
void PutChangedLinks(benchmark::State& state) {
  rd::Registration registration = *g_index->Find(kPutKey);
  const std::vector<lf::Link> original = registration.links;
  std::vector<lf::Link> changed = original;
  changed[2].attributes[0].value = "model-1";
  bool flip = false;
  for (auto _ : state) {
    registration.links = (flip = !flip) ? changed : original;
    g_index->Put(registration);
  }
}
BENCHMARK(PutChangedLinks);

// Reference: rt=model-4242 by a linear scan of the same registrations, comparing every rt of
// every link (what an RD without an index does; it does not even write the result).
void ReferenceScanByRareRt(benchmark::State& state) {
  size_t hits = 0;
  for (auto _ : state) {
    hits = 0;
    for (const rd::Registration& registration : *g_plain) {
      for (const lf::Link& link : registration.links) {
        for (const lf::Attribute& attribute : link.attributes) {
          hits += attribute.name == "rt" && attribute.value == "model-4242" ? 1 : 0;
        }
      }
    }
    benchmark::DoNotOptimize(hits);
  }
  state.counters["results"] = static_cast<double>(hits);
}
BENCHMARK(ReferenceScanByRareRt)->Unit(benchmark::kMillisecond);

// Reference: one lookup in a std::map of 100,000 keys (the cost of a single index probe).
void ReferenceMapFind(benchmark::State& state) {
  static const std::map<std::string, int> names = [] {
    std::map<std::string, int> map;
    for (const rd::Registration& registration : *g_plain) {
      map.emplace(registration.ep, 0);
    }
    return map;
  }();
  const std::string wanted = "node-054321";
  for (auto _ : state) {
    benchmark::DoNotOptimize(names.find(wanted));
  }
}
BENCHMARK(ReferenceMapFind);

// Console output, then each lookup's time against the same run's references (median CPU time
// when repeated).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_None) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration ||
          (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median")) {
        ns_[run.run_name.function_name] =
            run.GetAdjustedCPUTime() * (run.time_unit == benchmark::kMillisecond ? 1e6 : 1);
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::ostream& out = GetOutputStream();
    out << "\nsame-run ratios (CPU time):\n";
    auto ratio = [&](const char* a, const char* b) {
      if (ns_.count(a) != 0 && ns_.count(b) != 0) {
        out << "  " << a << " / " << b << " = " << ns_[a] / ns_[b] << "\n";
      }
    };
    ratio("ReferenceScanByRareRt", "LookupResourcesByRareRt");
    ratio("LookupResourcesByRareRt", "ReferenceMapFind");
    ratio("LookupResourcesByEp", "ReferenceMapFind");
  }

 private:
  std::map<std::string, double> ns_;
};

using LookupFn = rd::LookupResult (*)(const rd::Index&, const rd::LookupQuery&);

// Queries for `n` lookups of `parameter` on pseudo-random values below `values`, as a load
// generator asks for scattered endpoints.
std::vector<rd::LookupQuery> RandomQueries(Parameter parameter, int values, int n) {
  std::vector<rd::LookupQuery> queries;
  uint32_t state = 12345;
  for (int i = 0; i < n; ++i) {
    state = state * 1664525U + 1013904223U;
    const int value = static_cast<int>((state >> 8) % static_cast<uint32_t>(values));
    queries.push_back(rd::LookupQuery::Parse({parameter(value)}).value());
  }
  return queries;
}

// The fixed workloads for callgrind (see FixedWorkload): each runs its queries once. Not inlined,
// so that callgrind can collect exactly these calls.
__attribute__((noinline)) size_t RunQueries(const std::vector<rd::LookupQuery>& queries,
                                            LookupFn lookup) {
  size_t returned = 0;
  for (const rd::LookupQuery& query : queries) {
    returned += lookup(*g_index, query).returned;
  }
  return returned;
}
__attribute__((noinline)) size_t FixedLookupsByRt(const std::vector<rd::LookupQuery>& queries) {
  return RunQueries(queries, rd::LookupResources);
}
__attribute__((noinline)) size_t FixedLookupsByEp(const std::vector<rd::LookupQuery>& queries) {
  return RunQueries(queries, rd::LookupEndpoints);
}

// BENCH_RD_LOOKUP_FIXED=<n>: instead of the benchmarks, n resource lookups by a random
// rt=model-<m> (10 links each) and n endpoint lookups by a random ep, for instruction counts that
// do not depend on the machine's load (bench/README.md, "RD lookup"):
//   BENCH_RD_LOOKUP_FIXED=10000 valgrind --tool=callgrind --collect-atstart=no
//     --toggle-collect='*FixedLookups*' bench_rd_lookup
//   callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep FixedLookups
void FixedWorkload(int n) {
  const std::vector<rd::LookupQuery> by_rt = RandomQueries(RtParameter, kModels, n);
  const std::vector<rd::LookupQuery> by_ep = RandomQueries(EpParameter, kRegistrations, n);
  const size_t rt_links = FixedLookupsByRt(by_rt);
  const size_t endpoints = FixedLookupsByEp(by_ep);
  std::printf("fixed workload: %d lookups by rt (%zu links), %d by ep (%zu endpoints)\n", n,
              rt_links, n, endpoints);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    return 1;
  }
  // The data model alone (registrations in a vector), then the index built from scratch; each
  // is measured as the growth of heap and RSS while it is built.
  malloc_trim(0);
  size_t heap = HeapBytes();
  size_t rss = ResidentBytes();
  auto plain = std::make_unique<std::vector<rd::Registration>>();
  plain->reserve(kRegistrations);
  for (int i = 0; i < kRegistrations; ++i) {
    const rd::Registration parsed = MakeRegistration(i);
    plain->push_back(parsed);  // a copy: capacities fit exactly, as the index keeps them
  }
  const Footprint model = Measure(heap, rss);

  heap = HeapBytes();
  rss = ResidentBytes();
  auto index = std::make_unique<rd::Index>();
  for (int i = 0; i < kRegistrations; ++i) {
    index->Put(MakeRegistration(i));
  }
  const Footprint indexed = Measure(heap, rss);
  std::printf(
      "memory per registration (100,000 × 3 links): index %.0f B heap, %.0f B RSS "
      "(posting lists %.1f B); data model alone (vector of exact-fit copies) %.0f B heap, "
      "%.0f B RSS\n",
      indexed.heap_per_registration, indexed.rss_per_registration,
      static_cast<double>(index->PostingHeapBytes()) / kRegistrations, model.heap_per_registration,
      model.rss_per_registration);
  std::fflush(stdout);
  g_index = index.get();
  g_plain = plain.get();
  if (const char* fixed = std::getenv("BENCH_RD_LOOKUP_FIXED")) {
    FixedWorkload(std::atoi(fixed));
    return 0;
  }

  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
