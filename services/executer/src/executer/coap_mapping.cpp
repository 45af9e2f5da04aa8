#include "executer/coap_mapping.hpp"

#include <utility>
#include <vector>

#include "coapgw/coap/uri.hpp"

namespace coapgw::executer {
namespace {

// "a=1&b=%20" -> {"a=1", "b= "}; empty items ("a&&b") are dropped.
std::vector<std::string> SplitQuery(std::string_view query) {
  std::vector<std::string> items;
  while (!query.empty()) {
    const size_t end = query.find('&');
    const std::string_view item = query.substr(0, end);
    if (!item.empty()) {
      items.push_back(coap::PercentDecode(item));
    }
    if (end == std::string_view::npos) {
      break;
    }
    query.remove_prefix(end + 1);
  }
  return items;
}

}  // namespace

Result<coap::Method> ToCoapMethod(events::Method method) {
  switch (method) {
    case events::Method::kGet:
      return coap::Method::kGet;
    case events::Method::kPost:
      return coap::Method::kPost;
    case events::Method::kPut:
      return coap::Method::kPut;
    case events::Method::kDelete:
      return coap::Method::kDelete;
    case events::Method::kFetch:
      return coap::Method::kFetch;
    case events::Method::kPatch:
      return coap::Method::kPatch;
    case events::Method::kIPatch:
      return coap::Method::kIPatch;
    case events::Method::kUnknown:
      break;
  }
  return MakeError(ErrorCode::kInvalidArgument, "unknown method");
}

Result<coap::ClientRequest> BuildRequest(const events::Command& command, std::string_view base) {
  auto uri = coap::ParseUri(base);
  if (!uri.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "device base '" + std::string(base) + "': " + uri.error().message);
  }
  auto method = ToCoapMethod(command.method);
  if (!method.ok()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "method of service '" + command.service + "': " + method.error().message);
  }
  auto payload = events::DecodePayload(command.payload);
  if (!payload.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "payload: " + payload.error().message);
  }
  coap::ClientRequest request;
  request.method = *method;
  request.endpoint = std::move(uri->endpoint);
  request.path = coap::SplitPath(command.path);
  request.query = SplitQuery(command.query);
  request.content_format = command.content_format;
  request.accept = command.accept;
  request.payload = std::move(*payload);
  return request;
}

events::CommandResult FailedResult(const events::Command& command, std::string_view code,
                                   std::string detail, std::chrono::milliseconds duration) {
  events::CommandResult result;
  result.command_id = command.command_id;
  result.device_id = command.device_id;
  result.code = std::string(code);
  result.duration = duration;
  result.detail = std::move(detail);
  return result;
}

events::CommandResult ResultOf(const events::Command& command,
                               const coap::Outcome<coap::ClientResponse>& outcome,
                               std::chrono::milliseconds duration) {
  if (outcome.ok()) {
    events::CommandResult result;
    result.command_id = command.command_id;
    result.device_id = command.device_id;
    result.code = coap::FormatCode(outcome->code);
    result.content_format = outcome->content_format;
    result.payload = events::EncodePayload(outcome->payload, outcome->content_format);
    result.duration = duration;
    return result;
  }
  std::string_view code = events::kCodeError;
  switch (outcome.failure()) {
    case coap::Failure::kTimeout:
      code = events::kCodeTimeout;
      break;
    case coap::Failure::kReset:
      code = events::kCodeReset;
      break;
    case coap::Failure::kUnreachable:
      code = events::kCodeUnreachable;
      break;
    case coap::Failure::kTooLarge:
      code = events::kCodeTooLarge;
      break;
    case coap::Failure::kCancelled:
    case coap::Failure::kSecurity:
    case coap::Failure::kInvalid:
    case coap::Failure::kInternal:
      break;
  }
  return FailedResult(command, code, outcome.error().message, duration);
}

bool IsResponseCode(std::string_view code) {
  return coap::ParseCode(code).has_value() && code.find('.') != std::string_view::npos;
}

}  // namespace coapgw::executer
