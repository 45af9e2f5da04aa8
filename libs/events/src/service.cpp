#include "coapgw/events/service.hpp"

#include <algorithm>
#include <cctype>

#include "enum_names.hpp"

namespace coapgw::events {
namespace {

constexpr internal::EnumNames<Method, 7> kMethodNames({{
    {Method::kGet, "GET"},
    {Method::kPost, "POST"},
    {Method::kPut, "PUT"},
    {Method::kDelete, "DELETE"},
    {Method::kFetch, "FETCH"},
    {Method::kPatch, "PATCH"},
    {Method::kIPatch, "iPATCH"},
}});

bool EqualIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

std::string_view Trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(kWhitespace) - first + 1);
}

Error Invalid(std::string_view service, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "invalid service '" + std::string(service) + "': " + why);
}

}  // namespace

std::string_view MethodName(Method method) {
  return kMethodNames.Name(method);
}

Method ParseMethod(std::string_view name) {
  return kMethodNames.Parse(name, EqualIgnoringCase);
}

Result<ServiceRef> ParseService(std::string_view service, bool has_payload) {
  const std::string_view text = Trim(service);
  if (text.empty()) {
    return Invalid(service, "empty");
  }
  ServiceRef ref;
  std::string_view target = text;
  const std::size_t space = text.find_first_of(kWhitespace);
  if (space != std::string_view::npos) {
    const std::string_view method_name = text.substr(0, space);
    ref.method = ParseMethod(method_name);
    if (ref.method == Method::kUnknown) {
      return Invalid(service, "unknown method '" + std::string(method_name) + "'");
    }
    target = Trim(text.substr(method_name.size()));
  } else if (ParseMethod(text) != Method::kUnknown) {
    return Invalid(service, "no path after the method");
  } else {
    ref.method = has_payload ? Method::kPut : Method::kGet;
  }
  if (target.find_first_of(kWhitespace) != std::string_view::npos) {
    return Invalid(service, "whitespace inside the path");
  }
  const std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  if (question != std::string_view::npos) {
    ref.query = std::string(target.substr(question + 1));
  }
  if (path.empty()) {
    return Invalid(service, "empty path");
  }
  ref.path = path.front() == '/' ? std::string(path) : "/" + std::string(path);
  return ref;
}

std::string FormatService(Method method, std::string_view path) {
  return std::string(MethodName(method)) + " " + std::string(path);
}

}  // namespace coapgw::events
