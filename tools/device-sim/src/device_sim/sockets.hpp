#pragma once

// The few plain-socket facts the simulator needs beside libcoap: a port held silently while a
// device is offline, whether a port range is free, the descriptor limit, and which address of
// the RD a device can send to.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coapgw/coap/message.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::device_sim {

/// A UDP socket bound to an offline device's address that drops every datagram in the kernel
/// (a one-instruction socket filter), so that pings and requests to the device time out as they
/// would for a device that lost power, instead of failing at once with ICMP port unreachable.
/// It shares the port (SO_REUSEADDR) with a client socket that may still be bound there. Owns
/// its descriptor; move-only.
class BlackHole {
 public:
  BlackHole() = default;
  ~BlackHole() { Close(); }
  BlackHole(BlackHole&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  BlackHole& operator=(BlackHole&& other) noexcept;
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;

  /// Binds to `address` (closing a previous binding). kUnavailable names the failing call.
  Status Open(const coap::Address& address);
  void Close();
  bool open() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// `count` distinct UDP ports on `ip` that no socket uses now (each bound once without
/// SO_REUSEADDR, then released, so that libcoap's SO_REUSEADDR endpoints can take them; the usual
/// small race with other processes applies). Faster than binding libcoap endpoints to port 0,
/// which checks /proc/net/udp each time. Errors: kInvalidArgument (not a numeric address),
/// kUnavailable (out of ports or descriptors).
Result<std::vector<uint16_t>> PickFreePorts(const std::string& ip, size_t count);

/// Throws std::runtime_error when any of the ports [first, first + count) is already used by a
/// UDP socket of this host (/proc/net/udp, udp6): with SO_REUSEADDR, which libcoap sets, a second
/// socket would bind it silently and share its datagrams.
void CheckPortsFree(uint16_t first, size_t count);

/// The first of `addresses` (numeric, in the resolver's order) of the address family of the
/// numeric `local_ip`: the one a socket bound to `local_ip` can send to. kInvalidArgument when
/// `local_ip` is not numeric or none is of its family; the message names `host` (what
/// `addresses` were resolved from), the family and the addresses there are.
Result<std::string> PickAddressOfFamily(const std::vector<std::string>& addresses,
                                        const std::string& local_ip, const std::string& host);

/// `host` (an IP literal or a name) resolved for sending from the numeric `local_ip`: the
/// resolver's first address of the same family (PickAddressOfFamily), so that devices on
/// 127.0.0.1 reach "localhost" over IPv4 where it resolves to ::1 first, and devices on ::1 over
/// IPv6. Errors: kUnavailable when `host` does not resolve (retrying later may work),
/// kInvalidArgument when it has no address of that family.
Result<std::string> ResolveForSource(const std::string& host, const std::string& local_ip);

/// Raises the soft RLIMIT_NOFILE towards the hard one when it is below `needed`; throws
/// std::runtime_error naming both numbers when the hard limit is too low.
void EnsureDescriptors(size_t needed);

}  // namespace coapgw::device_sim
