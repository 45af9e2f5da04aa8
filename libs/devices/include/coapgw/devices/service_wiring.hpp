#pragma once

// Wiring every service that follows the RD shares (observer, ws-connector, executer, pinger): the
// RD and bus settings checked before anything starts, the bus publisher and the BusFeed built from
// them with their metrics labels, the teardown of the loop-owned objects on the loop's own thread,
// and the open-file limit. What each service does with them stays in its own service.cpp.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "coapgw/bus/publisher.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/common/metrics.hpp"
#include "coapgw/common/settings.hpp"
#include "coapgw/devices/bus_feed.hpp"
#include "coapgw/devices/device_mirror.hpp"

namespace coapgw::devices {

/// The mirror's options from COAPGW_RD_URI; SettingsError when it is not a coap:// URI, or when
/// COAPGW_BUS_PUB or COAPGW_BUS_SUB is not a ZeroMQ endpoint (checked here, before anything
/// starts; ConnectPublisher and SubscribeFeed read them later).
DeviceMirrorOptions MirrorOptionsFrom(const Settings& settings);

/// A bus publisher with id `id` connected to COAPGW_BUS_PUB, counting into `registry` under
/// `options.metrics_labels`, or publisher="<id>" when those are empty. Construct and use it on the
/// loop thread only. SettingsError for a malformed endpoint.
std::unique_ptr<bus::Publisher> ConnectPublisher(zmq::context_t& zmq_context,
                                                 const Settings& settings,
                                                 MetricsRegistry& registry, const std::string& id,
                                                 bus::PublisherOptions options = {});

/// A BusFeed from COAPGW_BUS_SUB for `topics`, handing each message to `handler` on `loop`'s
/// thread, counting into `registry` (subscriber="<service>"). SettingsError for a malformed
/// endpoint.
std::unique_ptr<BusFeed> SubscribeFeed(zmq::context_t& zmq_context, const Settings& settings,
                                       MetricsRegistry& registry, const std::string& service,
                                       std::vector<std::string> topics, coap::Context& loop,
                                       BusFeed::Handler handler);

/// Runs `teardown` on `loop`'s thread when destroyed. Declared right after the loop (and after the
/// state the loop's timers refer to, which must outlive the loop's thread), it takes the
/// loop-owned objects down on their own thread whichever way the service body is left,
/// exceptions included.
class LoopTeardown {
 public:
  LoopTeardown(coap::ContextThread& loop, std::function<void()> teardown)
      : loop_(loop), teardown_(std::move(teardown)) {}
  ~LoopTeardown();
  LoopTeardown(const LoopTeardown&) = delete;
  LoopTeardown& operator=(const LoopTeardown&) = delete;
  LoopTeardown(LoopTeardown&&) = delete;
  LoopTeardown& operator=(LoopTeardown&&) = delete;

 private:
  coap::ContextThread& loop_;
  std::function<void()> teardown_;
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (one UDP socket per device session) and
/// returns the soft limit in force afterwards.
size_t RaiseOpenFileLimit();

}  // namespace coapgw::devices
