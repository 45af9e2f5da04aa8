#pragma once

// The Resource Directory's data model (RFC 9176 §3.3 and draft-11 groups), shared by the
// directory rules, the in-memory index, the PostgreSQL store and the CoAP adapter.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "coapgw/linkformat/link_format.hpp"

namespace coapgw::rd {

using TimePoint = std::chrono::system_clock::time_point;

/// Endpoint status as the gateway contract defines it.
enum class DeviceStatus { kDisconnected = 0, kConnected = 1 };

/// One endpoint registration. `key` numbers the (sector, ep) pair for good: it gives the
/// registration resource its location ("/rd/<key>") and survives expiry and re-registration,
/// like `device_id`; only an explicit DELETE forgets both.
struct Registration {
  int64_t key = 0;
  std::string device_id;       // stable platform id of the device (UUID)
  std::string ep;              // endpoint name, 1..63 bytes
  std::string sector;          // "d", 0..63 bytes; empty when none
  std::string base;            // effective base URI ("coap://[2001:db8::1]:5683")
  bool base_explicit = false;  // from the base= parameter; else derived from the source address
  std::string et;              // endpoint type; empty when none
  int64_t lt_s = 90000;        // lifetime in seconds, 1..4294967295
  std::vector<linkformat::Attribute> extra;  // other endpoint attributes, in arrival order
  std::vector<linkformat::Link> links;       // as registered (relative references unresolved)
  DeviceStatus status = DeviceStatus::kConnected;
  std::string owner;    // "first come first remembered" identity (RFC 9176 §7.5)
  bool simple = false;  // created by simple registration (POST /.well-known/rd)
  TimePoint registered_at;
  TimePoint updated_at;
  TimePoint expires_at;

  std::string Location() const { return "/rd/" + std::to_string(key); }
};

/// A draft-11 group (/rd-group): a named set of registered endpoints, optionally with a
/// multicast base ("con"). Groups have no lifetime.
struct Group {
  int64_t key = 0;
  std::string name;                  // "gp", 1..63 bytes
  std::string sector;                // "d"
  std::string base;                  // "con": e.g. coap://[ff35:30:2001:db8::1]; empty when none
  std::vector<int64_t> member_keys;  // registration keys, in registration order
  std::string owner;

  std::string Location() const { return "/rd-group/" + std::to_string(key); }
};

}  // namespace coapgw::rd
