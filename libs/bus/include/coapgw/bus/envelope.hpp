#pragma once

// The bus envelope (proto/README.md, "Envelope"; proto/envelope.schema.json). A bus message is two
// ZeroMQ frames, [topic][json], where json is
//   {"type":"<topic>","v":1,"publisher":"<id>","seq":N,"time":"<RFC 3339 ms>","data":{...}}
// Topics are dot-separated segments (`rd.device.registered`); subscriptions match by byte prefix.

#include <cstdint>
#include <string>
#include <string_view>

#include <rapidjson/document.h>

#include "coapgw/common/result.hpp"

namespace coapgw::bus {

/// The envelope version this library writes and accepts ("v").
inline constexpr uint64_t kEnvelopeVersion = 1;

/// True when `topic` is one or more non-empty segments of [A-Za-z0-9_-] joined by single dots.
bool IsValidTopic(std::string_view topic);

/// True when `prefix` may be subscribed to: empty (everything), a valid topic, or a valid topic
/// followed by a dot (`rd.`), so a subscription never matches half a segment by accident.
bool IsValidTopicPrefix(std::string_view prefix);

/// True when `name` is a non-empty run of [A-Za-z0-9_-] (service names and publisher ids).
bool IsValidName(std::string_view name);

/// Appends the envelope JSON to `out` by string assembly around the already serialized
/// `data_json`, which is not parsed again. The caller guarantees that `topic` passes IsValidTopic,
/// `publisher` IsValidName and `time` is RFC 3339, so nothing needs escaping.
void AppendEnvelope(std::string& out, std::string_view topic, std::string_view publisher,
                    uint64_t seq, std::string_view time, std::string_view data_json);

/// True when `json` looks like one serialized JSON object: first and last non-blank characters are
/// `{` and `}`. A cheap guard for Publish, not a validation of the inside.
bool LooksLikeJsonObject(std::string_view json);

/// The envelope fields around `data`. Views point into the document they were read from.
struct EnvelopeHeader {
  std::string_view publisher;
  uint64_t seq = 0;
  std::string_view time;
};

/// Validates a parsed envelope received under `topic`: an object with `type` equal to the topic,
/// `v` equal to kEnvelopeVersion, a non-empty `publisher`, `seq` >= 1, an RFC 3339 `time` and an
/// object `data`. kInvalidArgument (kUnsupported for another `v`) names the first problem.
Result<EnvelopeHeader> ReadEnvelopeHeader(const rapidjson::Document& document,
                                          std::string_view topic);

}  // namespace coapgw::bus
