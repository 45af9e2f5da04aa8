#include "coapgw/ws/platform_protocol.hpp"

#include <algorithm>
#include <array>

#include <openssl/sha.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace coapgw::ws::platform {
namespace {

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, std::move(message));
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

// Copies string field `name` of `object` into `out` when present; an error when not a string.
Status ReadString(const rapidjson::Value& object, const char* name, std::string& out) {
  const auto member = object.FindMember(name);
  if (member == object.MemberEnd()) {
    return Status::Ok();
  }
  if (!member->value.IsString()) {
    return Invalid(std::string("field '") + name + "' is not a string");
  }
  out.assign(member->value.GetString(), member->value.GetStringLength());
  return Status::Ok();
}

}  // namespace

std::string JsonQuote(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return {buffer.GetString(), buffer.GetSize()};
}

std::string EncodeEnvelope(const Envelope& envelope) {
  std::string out;
  out.reserve(64 + envelope.handler.size() + envelope.token.size() + envelope.payload.size());
  out += "{\"status\":";
  out += std::to_string(envelope.status);
  out += ",\"handler\":";
  out += JsonQuote(envelope.handler);
  out += ",\"token\":";
  out += JsonQuote(envelope.token);
  out += ",\"content_type\":";
  out += JsonQuote(envelope.content_type);
  out += ",\"payload\":";
  out += envelope.payload.empty() ? "null" : envelope.payload;
  out += "}";
  return out;
}

Result<Envelope> DecodeEnvelope(std::string_view text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  if (document.HasParseError()) {
    return Invalid(std::string("not JSON: ") +
                   rapidjson::GetParseError_En(document.GetParseError()) + " at offset " +
                   std::to_string(document.GetErrorOffset()));
  }
  if (!document.IsObject()) {
    return Invalid("not a JSON object");
  }
  Envelope envelope;
  const auto status = document.FindMember("status");
  if (status != document.MemberEnd()) {
    if (!status->value.IsInt()) {
      return Invalid("field 'status' is not an integer");
    }
    envelope.status = status->value.GetInt();
  }
  for (const auto& [name, field] :
       {std::pair<const char*, std::string*>{"handler", &envelope.handler},
        {"token", &envelope.token},
        {"content_type", &envelope.content_type}}) {
    if (auto read = ReadString(document, name, *field); !read.ok()) {
      return read.error();
    }
  }
  const auto payload = document.FindMember("payload");
  if (payload != document.MemberEnd()) {
    envelope.payload = Serialize(payload->value);
  }
  return envelope;
}

std::string EncodeCredentials(const Credentials& credentials) {
  return "{\"user\":" + JsonQuote(credentials.user) + ",\"pw\":" + JsonQuote(credentials.password) +
         ",\"gid\":" + JsonQuote(credentials.gateway_id) +
         ",\"token\":" + JsonQuote(credentials.token) + "}";
}

Result<HandshakeReply> DecodeHandshakeReply(const Envelope& envelope) {
  if (envelope.status != 200) {
    return MakeError(ErrorCode::kPermissionDenied, "handshake refused with status " +
                                                       std::to_string(envelope.status) + ": " +
                                                       envelope.payload);
  }
  if (envelope.token != kCredentialsToken) {
    return Invalid("handshake reply has token '" + envelope.token + "', expected 'credentials'");
  }
  rapidjson::Document payload;
  payload.Parse(envelope.payload.data(), envelope.payload.size());
  if (payload.HasParseError() || !payload.IsObject()) {
    return Invalid("handshake reply payload is not an object");
  }
  HandshakeReply reply;
  if (auto read = ReadString(payload, "gid", reply.gateway_id); !read.ok()) {
    return read.error();
  }
  if (auto read = ReadString(payload, "hash", reply.hash); !read.ok()) {
    return read.error();
  }
  if (reply.gateway_id.empty()) {
    return Invalid("handshake reply has no gateway id");
  }
  return reply;
}

std::string Sha1Hex(std::string_view data) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest.size());
  for (const unsigned char byte : digest) {
    hex.push_back(kHex[byte >> 4U]);
    hex.push_back(kHex[byte & 0x0fU]);
  }
  return hex;
}

std::string DeviceHash(const HashedDevice& device) {
  std::string text = device.id + device.type + device.name;
  for (const auto& [tag_id, tag] : device.tags) {
    text += tag_id;
    text += tag;
  }
  return Sha1Hex(text);
}

std::string GatewayHash(std::vector<std::string> device_hashes) {
  std::sort(device_hashes.begin(), device_hashes.end());
  std::string text;
  text.reserve(40 * device_hashes.size());
  for (const auto& hash : device_hashes) {
    text += hash;
  }
  return Sha1Hex(text);
}

std::string GatewayHashOf(const std::vector<HashedDevice>& devices) {
  std::vector<std::string> hashes;
  hashes.reserve(devices.size());
  for (const auto& device : devices) {
    hashes.push_back(DeviceHash(device));
  }
  return GatewayHash(std::move(hashes));
}

}  // namespace coapgw::ws::platform
