#include "discovery/discovery.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "coapgw/common/log.hpp"
#include "coapgw/linkformat/link_format.hpp"
#include "discovery/naming.hpp"

namespace coapgw::rd::discovery {

using coap::Code;

namespace {

constexpr const char* kLog = "rd-discovery";
constexpr size_t kMaxQueuedRounds = 4;
constexpr const char* kDiscoverPath = "/coapgw/discover";

bool IsLoopback(const std::string& ip) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, ip.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24U) == 127U;
  }
  return inet_pton(AF_INET6, ip.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) {
      items.push_back(item);
    }
  }
  return items;
}

Mode ParseMode(const std::string& text) {
  if (text == "off") {
    return Mode::kOff;
  }
  if (text == "on-demand") {
    return Mode::kOnDemand;
  }
  if (text == "multicast") {
    return Mode::kMulticast;
  }
  throw SettingsError("COAPGW_RD_DISCOVERY: '" + text + "' is not off, on-demand or multicast");
}

void Fail(coap::Response& response, Code code, std::string diagnostic) {
  response.SetCode(code);
  response.SetPayload(std::move(diagnostic), coap::content_format::kTextPlain);
}

}  // namespace

// A queued or running round and everyone waiting for its outcome.
struct Discovery::Round {
  uint64_t id = 0;
  std::vector<coap::Address> unicast;  // empty: multicast
  std::vector<RoundDone> waiting;
  // Loop thread, once collected: answers still being fetched or registered, and the outcome.
  size_t pending = 0;
  std::vector<Found> found;
};

// The counters behind coapgw_rd_discovery_* (thread-safe; bumped on the loop thread).
struct Discovery::Counters {
  explicit Counters(MetricsRegistry& registry)
      : rounds(registry.AddCounter("coapgw_rd_discovery_rounds_total",
                                   "Discovery rounds completed (multicast and unicast).")),
        answers(registry.AddCounter("coapgw_rd_discovery_answers_total",
                                    "Discovery answers processed (one per responder and round).")),
        ignored(registry.AddCounter(
            "coapgw_rd_discovery_ignored_total",
            "Discovery answers ignored: malformed, dropped over the bound, or refused.")),
        registered(registry.AddCounter(
            "coapgw_rd_discovery_registrations_total",
            "Registrations made or refreshed by discovery (new, refreshed, moved).")) {}
  Counter& rounds;
  Counter& answers;
  Counter& ignored;
  Counter& registered;
};

void AddSettings(Settings& settings) {
  settings.Add({"COAPGW_RD_DISCOVERY",
                "gateway-initiated discovery: off, on-demand (POST /coapgw/discover only) or "
                "multicast (also a multicast round at start and every interval)",
                "off"});
  settings.Add({"COAPGW_RD_DISCOVERY_INTERFACES",
                "interfaces multicast discovery goes out on, comma-separated (default: the "
                "kernel's choice, which leaves out ff02::fd)",
                ""});
  settings.Add({"COAPGW_RD_DISCOVERY_GROUPS", "groups asked, comma-separated",
                "224.0.1.187,ff02::fd,ff05::fd"});
  settings.Add({"COAPGW_RD_DISCOVERY_PORT", "port of the groups and of unicast targets", "5683",
                SettingKind::kInt, false, false, 1, 65535});
  settings.Add({"COAPGW_RD_DISCOVERY_INTERVAL", "between periodic multicast rounds", "300s",
                SettingKind::kDuration});
  settings.Add({"COAPGW_RD_DISCOVERY_WINDOW",
                "how long a round collects answers (devices wait up to 5 s before answering a "
                "multicast request)",
                "6s", SettingKind::kDuration});
  settings.Add({"COAPGW_RD_DISCOVERY_LIFETIME",
                "lifetime (lt, seconds) of discovered registrations; must exceed interval + "
                "window",
                "900", SettingKind::kInt, false, false, 1, 4294967295LL});
  settings.Add({"COAPGW_RD_DISCOVERY_SECTOR",
                "sector (d) of discovered registrations (default: COAPGW_RD_DEFAULT_SECTOR)", ""});
  settings.Add({"COAPGW_RD_DISCOVERY_ET",
                "endpoint type (et) of discovered devices whose links carry no et attribute", ""});
  settings.Add({"COAPGW_RD_DISCOVERY_MAX_RESPONSES",
                "responders processed per round (the rest "
                "are dropped with a log line)",
                "256", SettingKind::kInt, false, false, 1, 65536});
  settings.Add({"COAPGW_RD_DISCOVERY_RATE", "unicast discovery requests per second", "20",
                SettingKind::kInt, false, false, 1, 1000});
  settings.Add({"COAPGW_RD_DISCOVERY_MAX_ADDRESSES", "unicast addresses one request may name",
                "256", SettingKind::kInt, false, false, 1, 65536});
  settings.Add({"COAPGW_RD_DISCOVERY_ALLOW",
                "who may POST /coapgw/discover: comma-separated source IPs, and 'loopback' for "
                "127.0.0.0/8 and ::1",
                "loopback"});
}

DiscoveryOptions OptionsFromSettings(const Settings& settings, const std::string& default_sector,
                                     size_t max_payload_bytes) {
  DiscoveryOptions options;
  options.mode = ParseMode(settings.String("COAPGW_RD_DISCOVERY"));
  options.interfaces = SplitList(settings.String("COAPGW_RD_DISCOVERY_INTERFACES"));
  options.groups = SplitList(settings.String("COAPGW_RD_DISCOVERY_GROUPS"));
  options.port = static_cast<uint16_t>(settings.Int("COAPGW_RD_DISCOVERY_PORT"));
  options.interval = settings.Duration("COAPGW_RD_DISCOVERY_INTERVAL");
  options.window = settings.Duration("COAPGW_RD_DISCOVERY_WINDOW");
  options.lifetime_s = settings.Int("COAPGW_RD_DISCOVERY_LIFETIME");
  options.sector = settings.String("COAPGW_RD_DISCOVERY_SECTOR");
  if (options.sector.empty()) {
    options.sector = default_sector;
  }
  options.et = settings.String("COAPGW_RD_DISCOVERY_ET");
  options.max_responses = static_cast<size_t>(settings.Int("COAPGW_RD_DISCOVERY_MAX_RESPONSES"));
  options.rate = static_cast<double>(settings.Int("COAPGW_RD_DISCOVERY_RATE"));
  options.max_addresses = static_cast<size_t>(settings.Int("COAPGW_RD_DISCOVERY_MAX_ADDRESSES"));
  options.allow = SplitList(settings.String("COAPGW_RD_DISCOVERY_ALLOW"));
  options.max_payload_bytes = max_payload_bytes;
  if (options.window <= Millis(0)) {
    throw SettingsError("COAPGW_RD_DISCOVERY_WINDOW: must be positive");
  }
  if (options.mode == Mode::kMulticast) {
    if (options.interval < options.window) {
      throw SettingsError("COAPGW_RD_DISCOVERY_INTERVAL: shorter than the window");
    }
    if (Millis(options.lifetime_s * 1000) <= options.interval + options.window) {
      throw SettingsError(
          "COAPGW_RD_DISCOVERY_LIFETIME: " + std::to_string(options.lifetime_s) +
          " s would end before the next round re-discovers the device (interval + window)");
    }
    if (options.groups.empty()) {
      throw SettingsError("COAPGW_RD_DISCOVERY_GROUPS: no group for multicast discovery");
    }
  }
  for (const auto& group : options.groups) {
    if (!ParseTargets(group, options.port, 1).ok()) {
      throw SettingsError("COAPGW_RD_DISCOVERY_GROUPS: '" + group + "' is not an IP address");
    }
  }
  return options;
}

std::string FormatFound(const std::vector<Found>& found) {
  std::vector<linkformat::Link> links;
  for (const Found& one : found) {
    linkformat::Link link;
    link.target = BaseOf(one.address);
    if (!one.ep.empty()) {
      link.attributes.push_back({"ep", one.ep});
    }
    if (!one.ep.empty()) {
      link.attributes.push_back({"d", one.sector});
    }
    if (!one.location.empty()) {
      link.attributes.push_back({"loc", one.location});
    }
    link.attributes.push_back({"status", one.status});
    if (!one.detail.empty()) {
      link.attributes.push_back({"detail", one.detail});
    }
    links.push_back(std::move(link));
  }
  return linkformat::Serialize(links);
}

Discovery::Discovery(coap::Context& context, coap::Server& server, coap::Client& client,
                     Directory& directory, const Index& index, DiscoveryOptions options)
    : context_(context),
      server_(server),
      client_(client),
      directory_(directory),
      index_(index),
      options_(std::move(options)) {
  if (options_.mode == Mode::kOff) {
    return;
  }
  if (options_.metrics != nullptr) {
    counters_ = std::make_unique<Counters>(*options_.metrics);
  }
  AddResource();
  worker_ = std::thread([this] { WorkerLoop(); });
}

Discovery::~Discovery() {
  *alive_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) {
    worker_.join();
  }
}

void Discovery::Start() {
  if (options_.mode == Mode::kMulticast) {
    Periodic();
  }
}

void Discovery::Periodic() {
  Trigger({}, nullptr);
  context_.After(options_.interval, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (auto still = alive.lock(); still && *still) {
      Periodic();
    }
  });
}

bool Discovery::Trigger(std::vector<coap::Address> unicast, RoundDone done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (unicast.empty()) {
      // Multicast rounds coalesce: whoever asks while one waits gets that one's outcome.
      for (auto& queued : queue_) {
        if (queued->unicast.empty()) {
          if (done) {
            queued->waiting.push_back(std::move(done));
          }
          return true;
        }
      }
    }
    if (queue_.size() >= kMaxQueuedRounds) {
      return false;
    }
    auto round = std::make_shared<Round>();
    round->id = next_round_++;
    round->unicast = std::move(unicast);
    if (done) {
      round->waiting.push_back(std::move(done));
    }
    queue_.push_back(std::move(round));
  }
  wake_.notify_all();
  return true;
}

coap::ProbeRequest Discovery::ProbeFor(const Round& round) const {
  coap::ProbeRequest request;
  request.window = options_.window;
  request.max_responses = options_.max_responses;
  if (round.unicast.empty()) {
    const std::vector<std::string> interfaces =
        options_.interfaces.empty() ? std::vector<std::string>{""} : options_.interfaces;
    for (const auto& interface : interfaces) {
      for (const auto& group : options_.groups) {
        auto address = ParseTargets(group, options_.port, 1);
        if (!address.ok() || address->empty()) {
          continue;  // checked with the settings
        }
        in6_addr v6{};
        const bool link_scope =
            inet_pton(AF_INET6, group.c_str(), &v6) == 1 && IN6_IS_ADDR_MC_LINKLOCAL(&v6);
        if (link_scope && interface.empty()) {
          continue;  // a link-local group needs an interface
        }
        request.targets.push_back(coap::ProbeTarget{address->front(), interface});
      }
    }
  } else {
    for (const auto& address : round.unicast) {
      request.targets.push_back(coap::ProbeTarget{address, ""});
    }
    request.send_interval =
        Millis(static_cast<int64_t>(std::ceil(1000.0 / std::max(options_.rate, 0.001))));
  }
  return request;
}

void Discovery::WorkerLoop() {
  for (;;) {
    std::shared_ptr<Round> round;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || (!queue_.empty() && !running_); });
      if (stopping_) {
        return;
      }
      round = queue_.front();
      queue_.pop_front();
      running_ = round;
    }
    const coap::ProbeRequest request = ProbeFor(*round);
    log::Info(kLog, "round started",
              {{"round", std::to_string(round->id)},
               {"kind", round->unicast.empty() ? "multicast" : "unicast"},
               {"requests", std::to_string(request.targets.size())},
               {"window", FormatDuration(options_.window)}});
    auto result = coap::Probe(request, [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      return stopping_;
    });
    context_.Post([this, alive = std::weak_ptr<bool>(alive_), id = round->id,
                   result = std::move(result)]() mutable {
      if (auto still = alive.lock(); still && *still) {
        Collected(id, std::move(result));
      }
    });
  }
}

void Discovery::Collected(uint64_t round_id, Result<coap::ProbeResult> result) {
  if (!result.ok()) {
    log::Warn(kLog, "round failed",
              {{"round", std::to_string(round_id)}, {"error", result.error().message}});
    Finish(round_id, {});
    return;
  }
  log::Info(kLog, "round collected",
            {{"round", std::to_string(round_id)},
             {"responders", std::to_string(result->responses.size())},
             {"dropped", std::to_string(result->dropped)},
             {"malformed", std::to_string(result->malformed)},
             {"unsent", std::to_string(result->unsent)}});
  if (counters_) {
    counters_->ignored.Inc(result->dropped + result->malformed);
  }
  if (result->dropped > 0) {
    log::Warn(kLog, "answers beyond COAPGW_RD_DISCOVERY_MAX_RESPONSES dropped",
              {{"round", std::to_string(round_id)}, {"dropped", std::to_string(result->dropped)}});
  }
  // Answers that came in blocks are fetched in full (unicast, block-wise) before any is
  // registered, so that one device answering on two addresses is registered once.
  auto responses = std::make_shared<std::vector<coap::ProbeResponse>>(std::move(result->responses));
  auto outstanding = std::make_shared<size_t>(1);
  const auto settle = [this, round_id, responses, outstanding] {
    if (--*outstanding == 0) {
      Register(std::move(*responses), "",
               [this, round_id](std::vector<Found> found) { Finish(round_id, std::move(found)); });
    }
  };
  for (size_t i = 0; i < responses->size(); ++i) {
    if (!(*responses)[i].truncated) {
      continue;
    }
    ++*outstanding;
    coap::ClientRequest fetch;
    fetch.endpoint = coap::EndpointOf((*responses)[i].from);
    fetch.path = {".well-known", "core"};
    coap::RequestOptions fetch_options;
    fetch_options.timeout = options_.fetch_timeout;
    client_.Send(fetch, fetch_options,
                 [alive = std::weak_ptr<bool>(alive_), responses, i,
                  settle](coap::Outcome<coap::ClientResponse> outcome) {
                   if (auto still = alive.lock(); !still || !*still) {
                     return;
                   }
                   coap::ProbeResponse& response = (*responses)[i];
                   if (outcome.ok() && coap::CodeClass(outcome->code) == 2) {
                     response.payload = std::move(outcome->payload);
                     response.content_format = outcome->content_format;
                     response.truncated = false;
                   } else {
                     log::Warn(kLog, "cannot fetch the whole /.well-known/core",
                               {{"from", response.from.ToString()},
                                {"error", outcome.ok() ? coap::FormatCode(outcome->code)
                                                       : outcome.error().message}});
                   }
                   settle();
                 });
  }
  settle();
}

void Discovery::RegisterFound(const coap::Address& address, const std::string& name,
                              RoundDone done) {
  coap::ClientRequest fetch;
  fetch.endpoint = coap::EndpointOf(address);
  fetch.path = {".well-known", "core"};
  coap::RequestOptions fetch_options;
  fetch_options.timeout = options_.fetch_timeout;
  client_.Send(fetch, fetch_options,
               [this, alive = std::weak_ptr<bool>(alive_), address, name,
                done = std::move(done)](coap::Outcome<coap::ClientResponse> outcome) mutable {
                 if (auto still = alive.lock(); !still || !*still) {
                   return;
                 }
                 if (!outcome.ok()) {
                   log::Warn(kLog, "cannot fetch /.well-known/core",
                             {{"from", address.ToString()}, {"error", outcome.error().message}});
                   if (done) {
                     Found one;
                     one.address = address;
                     one.status = "unavailable";
                     one.detail = outcome.error().message;
                     done({one});
                   }
                   return;
                 }
                 coap::ProbeResponse response;
                 response.from = address;
                 response.code = outcome->code;
                 response.content_format = outcome->content_format;
                 response.payload = std::move(outcome->payload);
                 Register({std::move(response)}, name,
                          [done = std::move(done)](std::vector<Found> found) {
                            if (done) {
                              done(found);
                            }
                          });
               });
}

void Discovery::Register(std::vector<coap::ProbeResponse> responses,
                         const std::string& fallback_name,
                         std::function<void(std::vector<Found>)> done) {
  std::vector<Found> found;
  // One registration per name: the preferred address of a device answering on several, or the
  // one it is registered at when that still answers (no flapping between its addresses).
  std::map<std::string, std::pair<coap::ProbeResponse*, size_t>> by_name;  // ep -> (answer, found)
  for (auto& response : responses) {
    Found one;
    one.address = response.from;
    one.sector = options_.sector;
    const auto refuse = [&](const std::string& status, const std::string& why) {
      log::Warn(kLog, "answer ignored", {{"from", response.from.ToString()}, {"reason", why}});
      one.status = status;
      one.detail = why;
      found.push_back(one);
    };
    if (coap::CodeClass(response.code) != 2) {
      refuse("malformed", "answered " + coap::FormatCode(response.code));
      continue;
    }
    if (response.truncated) {
      refuse("malformed", "incomplete /.well-known/core");
      continue;
    }
    if (response.content_format && *response.content_format != coap::content_format::kLinkFormat) {
      refuse("malformed", "Content-Format " + std::to_string(*response.content_format) +
                              " is not link-format (40)");
      continue;
    }
    if (response.payload.size() > options_.max_payload_bytes) {
      refuse("malformed", "/.well-known/core over COAPGW_RD_MAX_PAYLOAD");
      continue;
    }
    auto links = linkformat::Parse(response.payload);
    if (!links.ok()) {
      refuse("malformed", links.error().message);
      continue;
    }
    one.ep = EpAttribute(response.payload)
                 .value_or(fallback_name.empty() ? AddressName(response.from) : fallback_name);
    auto [slot, inserted] = by_name.try_emplace(one.ep, &response, found.size());
    if (!inserted) {
      const Registration* current = index_.FindByName(options_.sector, one.ep);
      const bool keep_current =
          current != nullptr && current->base == BaseOf(slot->second.first->from);
      const bool this_current = current != nullptr && current->base == BaseOf(response.from);
      if (keep_current || (!this_current && !Preferred(response.from, slot->second.first->from))) {
        continue;  // the device's other address
      }
      slot->second.first = &response;
      found[slot->second.second] = one;
      continue;
    }
    found.push_back(one);
  }

  auto round = std::make_shared<std::vector<Found>>(std::move(found));
  auto outstanding = std::make_shared<size_t>(1);
  const auto settle = [round, outstanding, done = std::move(done)] {
    if (--*outstanding == 0) {
      done(std::move(*round));
    }
  };
  for (const auto& [ep, chosen] : by_name) {
    const size_t index = chosen.second;
    Found& one = (*round)[index];
    const coap::ProbeResponse& response = *chosen.first;
    const Registration* current = index_.FindByName(options_.sector, ep);
    if (current != nullptr && current->owner != kDiscoveryOwner) {
      one.status = "owned";
      one.location = current->Location();
      continue;  // the device registered itself: its own registration stands
    }
    const std::string base = BaseOf(response.from);
    const std::string status = current == nullptr      ? "new"
                               : current->base == base ? "refreshed"
                                                       : "moved";
    Requester requester;
    requester.discovery = true;
    requester.ip = response.from.ip;
    requester.port = response.from.port;
    std::vector<QueryParam> query = {{"ep", ep},
                                     {"d", options_.sector},
                                     {"lt", std::to_string(options_.lifetime_s)},
                                     {"base", base}};
    const std::string et = EtAttribute(response.payload).value_or(options_.et);
    if (!et.empty()) {
      query.push_back({"et", et});
    }
    ++*outstanding;
    directory_.Register(
        requester, query, response.payload, false,
        [alive = std::weak_ptr<bool>(alive_), round, index, status, settle, this](Reply reply) {
          if (auto still = alive.lock(); !still || !*still) {
            return;
          }
          Found& registered = (*round)[index];
          if (reply.code / 100 == 2) {
            registered.status = status;
            const Registration* now = index_.FindByName(registered.sector, registered.ep);
            registered.location = now != nullptr ? now->Location() : std::string();
            log::Info(kLog, "device registered",
                      {{"ep", registered.ep},
                       {"base", BaseOf(registered.address)},
                       {"status", status},
                       {"location", registered.location}});
          } else {
            registered.status = reply.code >= 500 ? "unavailable" : "refused";
            registered.detail = reply.payload;
            log::Warn(kLog, "registration refused",
                      {{"ep", registered.ep},
                       {"code", std::to_string(reply.code)},
                       {"cause", reply.payload}});
          }
          settle();
        });
  }
  settle();
}

void Discovery::Finish(uint64_t round_id, std::vector<Found> found) {
  std::shared_ptr<Round> round;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_ && running_->id == round_id) {
      round = std::move(running_);
      running_.reset();
    }
  }
  wake_.notify_all();
  if (counters_) {
    counters_->rounds.Inc();
    counters_->answers.Inc(found.size());
    for (const Found& one : found) {
      if (one.status == "new" || one.status == "refreshed" || one.status == "moved") {
        counters_->registered.Inc();
      } else if (one.status != "owned") {
        counters_->ignored.Inc();
      }
    }
  }
  log::Info(kLog, "round done",
            {{"round", std::to_string(round_id)}, {"responders", std::to_string(found.size())}});
  last_ = std::move(found);
  if (round) {
    for (auto& done : round->waiting) {
      done(last_);
    }
  }
}

bool Discovery::MayTrigger(const std::string& ip) const {
  const auto allowed = [this](const std::string& item) {
    return std::find(options_.allow.begin(), options_.allow.end(), item) != options_.allow.end();
  };
  return (IsLoopback(ip) && allowed("loopback")) || allowed(ip);
}

void Discovery::AddResource() {
  coap::ResourceOptions resource_options;
  resource_options.link_attributes = {{"rt", "coapgw.discover"}, {"ct", "40"}};
  auto& resource = server_.AddResource(kDiscoverPath, resource_options);
  resource.On(coap::Method::kGet, [this](const coap::Request& request, coap::Response& response) {
    if (!MayTrigger(request.source.ip)) {
      Fail(response, Code::kForbidden,
           "discovery may be asked for only from COAPGW_RD_DISCOVERY_ALLOW");
      return;
    }
    response.SetPayload(FormatFound(last_), coap::content_format::kLinkFormat);
  });
  resource.On(coap::Method::kPost, [this](const coap::Request& request, coap::Response& response) {
    if (!MayTrigger(request.source.ip)) {
      log::Warn(kLog, "discovery request refused", {{"from", request.source.ToString()}});
      Fail(response, Code::kForbidden,
           "discovery may be asked for only from COAPGW_RD_DISCOVERY_ALLOW");
      return;
    }
    std::string items = request.payload;
    for (const auto& [name, value] : request.QueryParams()) {
      if (name == "addr") {
        items += "," + value;
      } else {
        Fail(response, Code::kBadRequest, "unknown parameter '" + name + "' (addr=)");
        return;
      }
    }
    auto targets = ParseTargets(items, options_.port, options_.max_addresses);
    if (!targets.ok()) {
      Fail(response, Code::kBadRequest, targets.error().message);
      return;
    }
    if (targets->empty() && options_.groups.empty()) {
      Fail(response, Code::kBadRequest, "no address given and no multicast group configured");
      return;
    }
    const Millis expected =
        options_.window +
        Millis(static_cast<int64_t>(static_cast<double>(targets->size()) * 1000.0 / options_.rate));
    const size_t count = targets->size();
    if (expected > options_.answer_within) {
      if (!Trigger(std::move(*targets), nullptr)) {
        response.SetMaxAge(static_cast<uint32_t>(options_.window.count() / 1000 + 1));
        Fail(response, Code::kServiceUnavailable, "discovery busy: too many rounds queued");
        return;
      }
      response.SetCode(Code::kChanged);
      response.SetPayload("discovery of " + std::to_string(count) + " addresses started; GET " +
                              kDiscoverPath + " gives the result",
                          coap::content_format::kTextPlain);
      return;
    }
    coap::DeferredResponse deferred = response.Defer();
    const bool queued =
        Trigger(std::move(*targets), [deferred](const std::vector<Found>& found) mutable {
          coap::Response done;
          done.SetPayload(FormatFound(found), coap::content_format::kLinkFormat);
          deferred.Complete(std::move(done));
        });
    if (!queued) {
      coap::Response busy;
      busy.SetMaxAge(static_cast<uint32_t>(options_.window.count() / 1000 + 1));
      Fail(busy, Code::kServiceUnavailable, "discovery busy: too many rounds queued");
      deferred.Complete(std::move(busy));
    }
  });
}

}  // namespace coapgw::rd::discovery
