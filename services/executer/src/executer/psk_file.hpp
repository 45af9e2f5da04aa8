#pragma once

// DTLS pre-shared keys for coaps:// devices, from a key file (COAPGW_DTLS_PSK_FILE). One entry a
// line, `identity,key,host-pattern`:
//
//   # comment
//   gateway-1,secretkey,127.0.0.1
//   gateway-1,hex:00112233445566778899aabbccddeeff,2001:db8::*
//   fallback,another-secret,*
//
// The key is the literal text, or bytes written as `hex:` + an even number of hex digits. The
// host pattern is a shell glob (fnmatch(3): `*`, `?`, `[...]`) matched against the device's host
// as its base names it (an IP literal without brackets, or a name). The first matching line wins.
// Shared by the executer and the pinger.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/coap/client.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::executer {

class PskKeyFile final : public coap::PskKeyStore {
 public:
  /// Parses key-file text; `source` names it in errors. kInvalidArgument naming the line for a
  /// line without three fields, an empty identity, key or pattern, or bad hex.
  static Result<PskKeyFile> Parse(std::string_view text, const std::string& source);
  /// Reads and parses the file at `path`; kUnavailable when it cannot be read.
  static Result<PskKeyFile> Load(const std::string& path);

  /// The credentials of the first entry whose pattern matches `endpoint.host`, or nullopt.
  std::optional<coap::PskCredentials> Find(const coap::Endpoint& endpoint) const override;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string host_pattern;
    coap::PskCredentials credentials;
  };
  std::vector<Entry> entries_;
};

}  // namespace coapgw::executer
