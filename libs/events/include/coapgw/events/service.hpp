#pragma once

// Platform service strings. The gateway contract (§3) names a service "<METHOD> <path>", e.g.
// "GET /sensors/temp"; a command may also name a bare path, which means GET when the command has
// no data and PUT otherwise.

#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw::events {

/// CoAP request methods (RFC 7252, RFC 8132).
enum class Method {
  kUnknown,  // a name this build does not know
  kGet,
  kPost,
  kPut,
  kDelete,
  kFetch,
  kPatch,
  kIPatch,
};

/// "GET", "POST", "PUT", "DELETE", "FETCH", "PATCH", "iPATCH"; "unknown" for kUnknown.
std::string_view MethodName(Method method);
/// The method named `name`, ignoring case; kUnknown for anything else.
Method ParseMethod(std::string_view name);

/// A parsed service string.
struct ServiceRef {
  Method method = Method::kGet;
  std::string path;   // always starts with '/'
  std::string query;  // the part after '?', without it; empty when none

  bool operator==(const ServiceRef& other) const {
    return method == other.method && path == other.path && query == other.query;
  }
};

/// Parses "<METHOD> <path>[?query]" or a bare "<path>[?query]"; a bare path resolves to GET when
/// `has_payload` is false and to PUT when it is true. A path without a leading '/' gets one
/// ("on" → "/on"). kInvalidArgument (with the reason and the input) for an empty string, an unknown
/// method, a missing path, or whitespace inside the path.
Result<ServiceRef> ParseService(std::string_view service, bool has_payload);

/// "GET /sensors/temp", as observer.data and the platform name a service.
std::string FormatService(Method method, std::string_view path);

}  // namespace coapgw::events
