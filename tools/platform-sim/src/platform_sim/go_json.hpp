#pragma once

// What the platform's Go code (PC) does with JSON, reproduced so that the simulator's replies
// carry the same texts: encoding/json decoding of the request envelope, the credentials, the put
// and event payloads (Go 1.10 error messages, case-insensitive key matching, null leaving zero
// values), fmt's %v printing used in two error replies, and encoding/json output (map keys
// sorted, HTML characters escaped, the reflect.Kind name used as content_type).
// Pure functions, thread-safe.

#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/fwd.h>

#include "coapgw/common/result.hpp"
#include "platform_sim/model.hpp"

namespace coapgw::platform_sim {

/// PC lib/messagestructure.go RawRequest: handler and token (null or missing mean "").
struct RawRequest {
  std::string handler;
  std::string token;
};

/// json.Unmarshal(message, &RawRequest{}): kInvalidArgument (the Go error text) for non-JSON,
/// a top-level value other than an object or null, or a handler/token that is not a string.
Result<RawRequest> DecodeRawRequest(const rapidjson::Value& message);

/// PC lib/security.go Credentials.
struct Credentials {
  std::string user;
  std::string password;
  std::string token;
  std::string gateway_id;
};

/// json.Unmarshal(first message, &Credentials{}).
Result<Credentials> DecodeCredentials(const rapidjson::Value& message);

/// json.Unmarshal(payload, &model.ConnectorDevice{}), e.g. "json: cannot unmarshal number into
/// Go struct field ConnectorDevice.uri of type string".
Result<ConnectorDevice> DecodeConnectorDevice(const rapidjson::Value& payload);

/// formatter_lib.ProtocolPart.
struct ProtocolPart {
  std::string name;
  std::string value;
};

/// PC model/iot.go EventMessage.
struct EventMessage {
  std::string device_uri;
  std::string service_uri;
  std::vector<ProtocolPart> value;
};

/// json.Unmarshal(payload, &model.EventMessage{}).
Result<EventMessage> DecodeEventMessage(const rapidjson::Value& payload);

/// fmt.Sprint(event): "{dev GET /x [{metadata } {data 42}]}".
std::string GoSprint(const EventMessage& event);

/// fmt.Sprintln(services): "[{id Sensor url} {id2 Actuator url2}]\n".
std::string GoSprintln(const std::vector<Service>& services);

/// The reflect.Kind name of a decoded JSON value: "string", "map", "slice", "float64", "bool";
/// "invalid" for null.
const char* GoKind(const rapidjson::Value& value);

/// A JSON string literal as encoding/json writes it (<, >, & as \u003c, \u003e, \u0026; invalid
/// UTF-8 as \ufffd).
std::string GoQuote(std::string_view text);

/// `value` as encoding/json writes an interface{} holding it: object keys sorted.
std::string GoJson(const rapidjson::Value& value);

/// Message{Status, Handler, Token, Payload}.Str(): all five fields in order, content_type the
/// payload's GoKind. `payload_json` is JSON text (GoJson or GoQuote output).
std::string GoMessage(int status, std::string_view handler, std::string_view token,
                      std::string_view content_type, std::string_view payload_json);

}  // namespace coapgw::platform_sim
