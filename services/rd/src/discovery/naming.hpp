#pragma once

// What discovery decides from a responder's answer, without I/O: the endpoint name a responder is
// registered under, which of a device's addresses is its base, and which addresses an on-demand
// unicast discovery covers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/coap/message.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::rd::discovery {

/// The endpoint name of a responder without an `ep` attribute, derived from its address:
/// "coap-" + the IP with '.' and ':' turned into '-' ("coap-192-0-2-7", "coap-2001-db8--7",
/// "coap-fe80--1"), then "-p" + the port when it is not 5683 ("coap-192-0-2-7-p5684").
std::string AddressName(const coap::Address& address);

/// The responder's own endpoint name: the value of the first `ep` attribute of any link in its
/// /.well-known/core (e.g. `</>;ep="node1"`), when it is a valid name (1..63 bytes, no control
/// characters). nullopt when there is none or it is invalid.
std::optional<std::string> EpAttribute(std::string_view links);
/// The same for the responder's endpoint type: its first `et` attribute (RFC 9176 §9.3).
std::optional<std::string> EtAttribute(std::string_view links);

/// The base URI of a responder: "coap://192.0.2.7", "coap://[2001:db8::7]:5684" (no zone id).
std::string BaseOf(const coap::Address& address);

/// Preference between two addresses of one device answering in the same round: IPv4, then
/// global IPv6, then link-local IPv6. True when `a` is preferred over `b`.
bool Preferred(const coap::Address& a, const coap::Address& b);

/// The unicast addresses an on-demand discovery names, each item one of "192.0.2.7",
/// "192.0.2.7:5684", "2001:db8::7", "[2001:db8::7]:5684", "192.0.2.0/28" (hosts of an IPv4
/// prefix: without the network and broadcast addresses from /30 down) or "2001:db8::/120"
/// (prefix at least /112). Items are separated by commas, spaces or new lines. `port` for items
/// without one. kInvalidArgument names a bad item or a total over `max_addresses`.
Result<std::vector<coap::Address>> ParseTargets(std::string_view text, uint16_t port,
                                                size_t max_addresses);

}  // namespace coapgw::rd::discovery
