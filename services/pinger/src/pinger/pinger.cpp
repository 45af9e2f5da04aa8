#include "pinger/pinger.hpp"

#include <algorithm>
#include <utility>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/log.hpp"

namespace coapgw::pinger {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr char kLog[] = "pinger";

}  // namespace

Pinger::Pinger(coap::Context& context, coap::Client& client, PingerOptions options,
               LivenessSink sink)
    : client_(client),
      options_(std::move(options)),
      sink_(std::move(sink)),
      schedule_(options_.policy),
      wake_(context, [this] { Pump(); }) {}

Pinger::~Pinger() {
  *alive_ = false;
}

void Pinger::NoteAlive(const std::string& device_id) {
  schedule_.NoteAlive(device_id, SteadyClock::now());
}

void Pinger::Stop() {
  stopping_ = true;
  wake_.Cancel();
}

void Pinger::OnDeviceUpsert(const events::Device& device, const events::Device* before,
                            const std::vector<events::DeviceChange>& changes) {
  (void)changes;
  if (before == nullptr || before->base != device.base) {
    auto uri = coap::ParseUri(device.base);
    if (!uri.ok()) {
      ++stats_.unpingable;
      log::Warn(
          kLog, "device not pinged: its base is not a CoAP URI",
          {{"device_id", device.device_id}, {"base", device.base}, {"error", uri.error().message}});
      schedule_.Remove(device.device_id);
      endpoints_.erase(device.device_id);
      return;
    }
    endpoints_[device.device_id] = std::move(uri->endpoint);
  }
  schedule_.Upsert(device.device_id, device.status != events::DeviceStatus::kDisconnected,
                   SteadyClock::now());
  Arm();
}

void Pinger::OnDeviceGone(const events::Device& device, devices::GoneReason reason) {
  (void)reason;
  schedule_.Remove(device.device_id);
  endpoints_.erase(device.device_id);
}

void Pinger::OnSynced(size_t devices) {
  (void)devices;
  Arm();
}

void Pinger::Pump() {
  if (stopping_) {
    return;
  }
  for (PingTicket& ticket : schedule_.TakeDue(SteadyClock::now())) {
    const auto endpoint = endpoints_.find(ticket.device_id);
    if (endpoint == endpoints_.end()) {
      schedule_.Abandon(ticket, SteadyClock::now());  // cannot happen: both change together
      continue;
    }
    const SteadyTime sent = SteadyClock::now();
    auto done = [this, alive = alive_, ticket = std::move(ticket),
                 sent](const coap::Outcome<Millis>& outcome) {
      if (*alive) {
        OnPing(ticket, outcome,
               std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - sent));
      }
    };
    if (endpoint->second.transport == coap::Transport::kUdp) {
      client_.Ping(endpoint->second, options_.timeout, std::move(done),
                   SourceFor(endpoint->second));
      continue;
    }
    // libcoap 4.3.1 cannot ping a DTLS session before its handshake is over, and sessions do not
    // outlive a ping (see README): a DTLS device is asked GET /.well-known/core instead, and any
    // answer, RST included, shows that it is alive.
    coap::ClientRequest request;
    request.endpoint = endpoint->second;
    request.path = {".well-known", "core"};
    coap::RequestOptions request_options;
    request_options.timeout = options_.timeout;
    client_.Send(std::move(request), request_options,
                 [done = std::move(done)](const coap::Outcome<coap::ClientResponse>& outcome) {
                   if (outcome.ok()) {
                     done(coap::Outcome<Millis>(outcome->round_trip));
                   } else if (outcome.failure() == coap::Failure::kReset) {
                     done(coap::Outcome<Millis>(Millis(0)));
                   } else {
                     done(coap::Outcome<Millis>(outcome.failure(), outcome.message()));
                   }
                 });
  }
  Arm();
}

void Pinger::Arm() {
  const std::optional<SteadyTime> next = schedule_.NextDue();
  if (!next || stopping_) {
    return;
  }
  // Rounded up to the next tick boundary, so that the slots of a tick are served by one wake-up.
  const auto tick = std::max<int64_t>(1, options_.tick.count());
  const auto since_epoch = std::chrono::ceil<milliseconds>(next->time_since_epoch()).count();
  wake_.WakeAt(SteadyTime(milliseconds((since_epoch + tick - 1) / tick * tick)));
}

void Pinger::OnPing(const PingTicket& ticket, const coap::Outcome<Millis>& outcome,
                    std::chrono::microseconds rtt) {
  if (stopping_) {
    return;
  }
  const SteadyTime now = SteadyClock::now();
  if (!outcome.ok()) {
    switch (outcome.failure()) {
      case coap::Failure::kTimeout:
      case coap::Failure::kUnreachable:
      case coap::Failure::kSecurity:
        break;                     // the device did not answer us: a miss
      case coap::Failure::kReset:  // reported as success (see Pump); listed for completeness
      case coap::Failure::kCancelled:
      case coap::Failure::kTooLarge:
      case coap::Failure::kInvalid:
      case coap::Failure::kInternal:
        // Nothing learnt about the device (a local problem): try again at the next slot.
        ++stats_.abandoned;
        log::Warn(kLog, "ping not sent",
                  {{"device_id", ticket.device_id}, {"error", outcome.error().message}});
        schedule_.Abandon(ticket, now);
        Pump();
        return;
    }
  }
  if (log::Enabled(log::Level::kDebug)) {  // a line per ping: skip building it when off
    log::Debug(kLog, outcome.ok() ? "pong" : "no pong",
               {{"device_id", ticket.device_id},
                {"rtt_us", std::to_string(rtt.count())},
                {"error", outcome.ok() ? "" : outcome.error().message}});
  }
  if (std::optional<Verdict> verdict = schedule_.Complete(ticket, outcome.ok(), now)) {
    Publish(*verdict, rtt);
  }
  Pump();
}

std::optional<coap::Address> Pinger::SourceFor(const coap::Endpoint& endpoint) const {
  const bool v6 = endpoint.host.find(':') != std::string::npos;
  auto address = coap::ParseAddress(v6 ? "[" + endpoint.host + "]:0" : endpoint.host + ":0");
  if (!address.ok()) {
    return std::nullopt;  // a host name: its family is known only once resolved
  }
  for (const auto& source : options_.sources) {
    if (source.family == address->family) {
      return source;
    }
  }
  return std::nullopt;
}

void Pinger::Publish(const Verdict& verdict, std::chrono::microseconds rtt) {
  events::DeviceLiveness liveness;
  liveness.device_id = verdict.device_id;
  liveness.reachable = verdict.reachable;
  liveness.consecutive_misses = verdict.consecutive_misses;
  if (verdict.reachable) {
    liveness.rtt = rtt;
    ++stats_.published_reachable;
  } else {
    ++stats_.published_unreachable;
  }
  liveness.checked_at = std::chrono::system_clock::now();
  const auto endpoint = endpoints_.find(verdict.device_id);
  log::Info(kLog, verdict.reachable ? "device reachable again" : "device unreachable",
            {{"device_id", verdict.device_id},
             {"at", endpoint == endpoints_.end() ? "" : endpoint->second.ToUri()},
             {"consecutive_misses", std::to_string(verdict.consecutive_misses)}});
  sink_(liveness);
}

}  // namespace coapgw::pinger
