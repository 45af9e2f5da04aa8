#pragma once

// The SEPL platform-connector protocol's wire pieces that both sides need (the ws-connector and
// tools/platform-sim): the message envelope (platform-protocol.md §2), the credentials message of
// the handshake (§3) and the device and gateway hashes of the device sync (§4, §11).
// Pure functions, thread-safe.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coapgw/common/result.hpp"

namespace coapgw::ws::platform {

/// The token of the handshake reply (§3.1).
inline constexpr std::string_view kCredentialsToken = "credentials";
/// sha1("") in hex: the gateway hash of an empty device list (§11).
inline constexpr std::string_view kEmptyListHash = "da39a3ee5e6b4b0d3255bfef95601890afd80709";

/// Every message after the handshake (§2.1).
struct Envelope {
  int status = 0;                // 200/400/500 on responses; 0 on commands and client requests
  std::string handler;           // "put", "response", "command", ...
  std::string token;             // request/response correlation; "" on commands
  std::string content_type;      // a hint only ("string", "map", ...); clients send ""
  std::string payload = "null";  // the payload as JSON text (any JSON value)
};

/// The envelope as JSON with all five keys in the server's order: status, handler, token,
/// content_type, payload. `payload` is inserted verbatim and must be valid JSON.
std::string EncodeEnvelope(const Envelope& envelope);

/// Parses a message. kInvalidArgument naming the problem when the text is not a JSON object or
/// a present field has the wrong type (status must be an integer, the others strings); missing
/// fields keep their defaults. The payload comes back re-serialized compactly.
Result<Envelope> DecodeEnvelope(std::string_view text);

/// The first message of a connection (§3.1 step 2).
struct Credentials {
  std::string user;
  std::string password;
  std::string gateway_id;  // "" asks the platform for a new gateway
  std::string token = std::string(kCredentialsToken);
};

/// {"user":..,"pw":..,"gid":..,"token":..}
std::string EncodeCredentials(const Credentials& credentials);

/// The payload of the handshake reply: {"gid": .., "hash": ..}.
struct HandshakeReply {
  std::string gateway_id;
  std::string hash;  // "" for a new or cleared gateway
};

/// Checks a handshake reply as the Python client does (§3.1 step 5): status 200, token
/// "credentials", payload an object with string gid (non-empty) and hash. kInvalidArgument or,
/// for a non-200 status, kPermissionDenied, naming what is wrong.
Result<HandshakeReply> DecodeHandshakeReply(const Envelope& envelope);

/// A JSON string literal of `text`, quotes included (control characters escaped).
std::string JsonQuote(std::string_view text);

/// A device as the hash sees it (§11): tags in their insertion order as (tag_id, tag).
struct HashedDevice {
  std::string id;
  std::string type;
  std::string name;
  std::vector<std::pair<std::string, std::string>> tags;
};

/// Lower-case hex SHA-1 of `data`.
std::string Sha1Hex(std::string_view data);

/// sha1_hex(id + type + name + concat(tag_id + tag)) (§11).
std::string DeviceHash(const HashedDevice& device);

/// sha1_hex(concat(sorted device hashes)) (§11); kEmptyListHash for none.
std::string GatewayHash(std::vector<std::string> device_hashes);

/// GatewayHash of the DeviceHash of each device.
std::string GatewayHashOf(const std::vector<HashedDevice>& devices);

}  // namespace coapgw::ws::platform
