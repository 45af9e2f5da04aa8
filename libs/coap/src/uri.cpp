#include "coapgw/coap/uri.hpp"

#include <charconv>

namespace coapgw::coap {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// RFC 3986 unreserved characters plus the sub-delims and ':' '@' that a segment may carry as is.
bool KeepInSegment(char c, bool in_query) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':
    case '!':
    case '$':
    case '\'':
    case '(':
    case ')':
    case '*':
    case '+':
    case ',':
    case ';':
    case ':':
    case '@':
    case '=':
      return true;
    case '/':
    case '?':
      return in_query;
    default:
      return false;
  }
}

std::string PercentEncode(std::string_view text, bool in_query) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (KeepInSegment(c, in_query)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<uint8_t>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4U]);
      out.push_back(kHex[byte & 0xFU]);
    }
  }
  return out;
}

Error Invalid(std::string_view uri, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, "'" + std::string(uri) + "': " + why);
}

}  // namespace

std::string Endpoint::ToUri() const {
  const bool v6 = host.find(':') != std::string::npos;
  return std::string(transport == Transport::kDtls ? "coaps://" : "coap://") +
         (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Endpoint EndpointOf(const Address& address, Transport transport) {
  return Endpoint{transport, address.ip, address.port};
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (!path.empty() && path.front() == '/') {
    path.remove_prefix(1);
  }
  if (path.empty()) {
    return segments;
  }
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    segments.push_back(PercentDecode(path.substr(start, slash - start)));
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return segments;
}

std::string JoinPath(const std::vector<std::string>& segments) {
  if (segments.empty()) {
    return "/";
  }
  std::string out;
  for (const auto& segment : segments) {
    out += "/";
    out += segment;
  }
  return out;
}

Result<Uri> ParseUri(std::string_view text) {
  Uri uri;
  std::string_view rest = text;
  if (rest.substr(0, 7) == "coap://") {
    uri.endpoint.transport = Transport::kUdp;
    uri.endpoint.port = 5683;
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "coaps://") {
    uri.endpoint.transport = Transport::kDtls;
    uri.endpoint.port = 5684;
    rest.remove_prefix(8);
  } else {
    return Invalid(text, "scheme must be coap:// or coaps://");
  }
  if (rest.find('#') != std::string_view::npos) {
    return Invalid(text, "a CoAP URI has no fragment");
  }
  const size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Invalid(text, "unterminated IPv6 literal");
    }
    uri.endpoint.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return Invalid(text, "junk after the IPv6 literal");
      }
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    uri.endpoint.host = PercentDecode(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (uri.endpoint.host.empty()) {
    return Invalid(text, "no host");
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (error != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return Invalid(text, "bad port");
    }
    uri.endpoint.port = static_cast<uint16_t>(port);
  }

  const size_t question = rest.find('?');
  uri.path = SplitPath(rest.substr(0, question));
  if (question != std::string_view::npos) {
    std::string_view query = rest.substr(question + 1);
    size_t start = 0;
    while (start <= query.size() && !query.empty()) {
      const size_t amp = query.find('&', start);
      const std::string_view item = query.substr(start, amp - start);
      if (!item.empty()) {
        uri.query.push_back(PercentDecode(item));
      }
      if (amp == std::string_view::npos) {
        break;
      }
      start = amp + 1;
    }
  }
  return uri;
}

std::string FormatUri(const Uri& uri) {
  std::string out = uri.endpoint.ToUri();
  for (const auto& segment : uri.path) {
    out += "/" + PercentEncode(segment, false);
  }
  for (size_t i = 0; i < uri.query.size(); ++i) {
    out += (i == 0 ? "?" : "&") + PercentEncode(uri.query[i], true);
  }
  return out;
}

}  // namespace coapgw::coap
