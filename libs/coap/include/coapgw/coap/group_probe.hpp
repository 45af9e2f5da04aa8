#pragma once

// Multicast resource discovery (RFC 7252 §8.1, RFC 6690 §4): one NON request (normally
// GET /.well-known/core) to each of a few groups such as All-CoAP-Nodes (224.0.1.187, ff02::fd,
// ff05::fd) on given interfaces, or to a list of unicast addresses at a bounded rate, sent from
// plain UDP sockets of its own (one per family and interface), and every response that arrives
// within a window after the last request, one per responder. Responders answer after their Leisure
// (RFC 7252 §8.2: up to 5 s by default), so the window should be longer than that.
//
// Blocking: Probe runs on the calling thread (not on a Context loop) and returns when the window
// has passed or `cancelled` says so. A response longer than one datagram arrives as its first
// Block2 block (RFC 7959 §2.8 multicast): `truncated` tells the caller to fetch the rest by
// unicast (coap::Client does block-wise transfers).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "coapgw/coap/message.hpp"
#include "coapgw/common/duration.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::coap {

/// Where one request goes.
struct ProbeTarget {
  Address address;        // a group ("224.0.1.187", port 5683) or a unicast address
  std::string interface;  // outgoing interface for a group (e.g. "eth1"); empty: the kernel's
};

/// What to send where, and how long and how much to listen.
struct ProbeRequest {
  std::vector<ProbeTarget> targets;
  Millis send_interval{0};  // between two requests (bounds the rate of a unicast sweep)
  std::vector<std::string> path = {".well-known", "core"};  // Uri-Path segments
  std::vector<std::string> query;                           // Uri-Query items ("rt=core.rd*")
  Millis window{6000};         // how long responses are collected after the last request
  size_t max_responses = 256;  // responders beyond this are counted in `dropped`, not returned
  uint8_t hops = 1;            // IP TTL / IPv6 hop limit for a group (1: the local link only)
};

/// One responder's answer.
struct ProbeResponse {
  Address from;
  Code code = Code::kEmpty;
  std::optional<uint16_t> content_format;
  std::string payload;
  bool truncated = false;  // Block2 with More: `payload` is only the first block
};

/// Everything a probe collected.
struct ProbeResult {
  std::vector<ProbeResponse> responses;  // in arrival order, one per source address
  size_t dropped = 0;    // responses beyond max_responses (and repeats from one responder)
  size_t malformed = 0;  // datagrams that were not a CoAP response to the probe
  size_t unsent = 0;     // requests the kernel refused (e.g. no route)
};

/// Sends `request` and collects responses until request.window after the last request, until
/// every target is unicast and has answered, or until `cancelled` returns true (asked every
/// 100 ms). kInvalidArgument for a bad address, interface or path (before anything is sent),
/// kUnavailable when a socket cannot be made. A request that cannot be sent is skipped.
Result<ProbeResult> Probe(const ProbeRequest& request,
                          const std::function<bool()>& cancelled = nullptr);

}  // namespace coapgw::coap
