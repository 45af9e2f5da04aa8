// Request and Response: plain data, no libcoap (the server translates them).

#include <stdexcept>

#include "coapgw/coap/server.hpp"
#include "coapgw/coap/uri.hpp"

namespace coapgw::coap {

std::string Request::Path() const {
  return JoinPath(path);
}

std::vector<std::pair<std::string, std::string>> Request::QueryParams() const {
  std::vector<std::pair<std::string, std::string>> params;
  params.reserve(query.size());
  for (const auto& item : query) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      params.emplace_back(item, std::string());
    } else {
      params.emplace_back(item.substr(0, eq), item.substr(eq + 1));
    }
  }
  return params;
}

std::optional<std::string> Request::QueryValue(std::string_view key) const {
  for (const auto& item : query) {
    if (item.size() >= key.size() && item.compare(0, key.size(), key) == 0) {
      if (item.size() == key.size()) {
        return std::string();
      }
      if (item[key.size()] == '=') {
        return item.substr(key.size() + 1);
      }
    }
  }
  return std::nullopt;
}

Response& Response::SetCode(Code code) {
  code_ = code;
  return *this;
}

Response& Response::SetPayload(std::string payload) {
  payload_ = std::move(payload);
  return *this;
}

Response& Response::SetPayload(std::string payload, uint16_t content_format) {
  payload_ = std::move(payload);
  content_format_ = content_format;
  return *this;
}

Response& Response::SetContentFormat(uint16_t content_format) {
  content_format_ = content_format;
  return *this;
}

Response& Response::SetMaxAge(uint32_t seconds) {
  max_age_ = seconds;
  return *this;
}

Response& Response::AddLocationPath(std::string segment) {
  location_path_.push_back(std::move(segment));
  return *this;
}

Response& Response::SetLocationPath(std::string_view path) {
  location_path_ = SplitPath(path);
  return *this;
}

Response& Response::SetETag(uint64_t etag) {
  if (etag == 0) {
    throw std::invalid_argument("coap::Response::SetETag: an ETag must not be 0");
  }
  etag_ = etag;
  return *this;
}

Response& Response::AddOption(uint16_t number, std::string value) {
  options_.push_back(Option{number, std::move(value)});
  return *this;
}

DeferredResponse Response::Defer() {
  if (defer_hook_ == nullptr) {
    throw std::logic_error("coap::Response::Defer is only valid inside a Server handler");
  }
  if (deferred_) {
    throw std::logic_error("coap::Response::Defer called twice for one request");
  }
  DeferredResponse deferred = defer_hook_->Defer();
  deferred_ = true;
  return deferred;
}

bool Response::SuppressedForMulticast(Code code) {
  const int code_class = CodeClass(code);
  return code_class == 4 || code_class == 5;
}

bool Response::SuppressedFor(const Request& request) const {
  return request.multicast && SuppressedForMulticast(code_);
}

}  // namespace coapgw::coap
