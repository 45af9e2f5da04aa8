#include "coapgw/linkformat/uri.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "chars.hpp"
#include "uri_scan.hpp"

namespace coapgw::linkformat {

namespace detail {

std::string DescribeByte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) {
    return std::string("'") + c + "'";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("0x") + kHex[byte >> 4] + kHex[byte & 0xF];
}

namespace {

bool Fail(ScanError* error, size_t offset, std::string description) {
  error->offset = offset;
  error->description = std::move(description);
  return false;
}

struct Allowed {
  uint16_t classes;        // kUnreserved and/or kSubDelim
  std::string_view extra;  // further ASCII characters allowed
  bool non_ascii;          // IRI ucschar allowed (as well-formed UTF-8)
};

constexpr Allowed kUserinfoChars{kUnreserved | kSubDelim, ":", true};
constexpr Allowed kRegNameChars{kUnreserved | kSubDelim, "", true};
constexpr Allowed kPathChars{kUnreserved | kSubDelim, ":@/", true};
constexpr Allowed kQueryChars{kUnreserved | kSubDelim, ":@/?", true};
constexpr Allowed kZoneChars{kUnreserved, "", false};

// Validates text[begin, end) against `allowed` plus pct-encoded; UTF-8 may not cross `end`.
bool ScanChars(std::string_view text, size_t begin, size_t end, const Allowed& allowed,
               ScanError* error) {
  const std::string_view component = text.substr(0, end);
  size_t i = begin;
  while (i < end) {
    const char c = text[i];
    if (Is(c, allowed.classes) ||
        (!Is(c, kNonAscii) && allowed.extra.find(c) != std::string_view::npos)) {
      ++i;
    } else if (c == '%') {
      if (end - i < 3 || !Is(text[i + 1], kHexDigit) || !Is(text[i + 2], kHexDigit)) {
        return Fail(error, i, "malformed percent-encoding");
      }
      i += 3;
    } else if (allowed.non_ascii && Is(c, kNonAscii)) {
      const size_t length = Utf8SequenceLength(component, i);
      if (length == 0) {
        return Fail(error, i, "invalid UTF-8");
      }
      i += length;
    } else {
      return Fail(error, i, "invalid character " + DescribeByte(c));
    }
  }
  return true;
}

bool ScanIpLiteral(std::string_view text, size_t begin, size_t end, UriParts* parts,
                   ScanError* error) {
  const std::string_view literal = text.substr(begin, end - begin);
  if (!literal.empty() && (literal[0] == 'v' || literal[0] == 'V')) {
    // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
    size_t i = 1;
    while (i < literal.size() && Is(literal[i], kHexDigit)) {
      ++i;
    }
    if (i == 1 || i >= literal.size() || literal[i] != '.' || i + 1 == literal.size()) {
      return Fail(error, begin, "invalid IPvFuture literal");
    }
    constexpr Allowed kFutureChars{kUnreserved | kSubDelim, ":", false};
    if (!ScanChars(text, begin + i + 1, end, kFutureChars, error)) {
      return false;
    }
    parts->host = literal;
    return true;
  }
  // IPv6addrz = IPv6address "%25" ZoneID (RFC 6874)
  size_t address_end = literal.find("%25");
  if (address_end != std::string_view::npos) {
    if (address_end + 3 == literal.size()) {
      return Fail(error, begin + address_end, "empty IPv6 zone identifier");
    }
    if (!ScanChars(text, begin + address_end + 3, end, kZoneChars, error)) {
      return false;
    }
    parts->zone_id = literal.substr(address_end + 3);
  } else {
    address_end = literal.size();
  }
  const std::string_view address = literal.substr(0, address_end);
  char buffer[INET6_ADDRSTRLEN] = {};
  in6_addr parsed{};
  if (address.empty() || address.size() >= sizeof(buffer)) {
    return Fail(error, begin, "invalid IPv6 address");
  }
  std::memcpy(buffer, address.data(), address.size());
  if (inet_pton(AF_INET6, buffer, &parsed) != 1) {
    return Fail(error, begin, "invalid IPv6 address");
  }
  parts->host = address;
  return true;
}

bool ScanPort(std::string_view text, size_t begin, size_t end, UriParts* parts, ScanError* error) {
  uint32_t port = 0;
  for (size_t i = begin; i < end; ++i) {
    if (!Is(text[i], kDigit)) {
      return Fail(error, i, "invalid character " + DescribeByte(text[i]) + " in port");
    }
    port = port * 10 + static_cast<uint32_t>(text[i] - '0');
    if (port > 65535) {
      return Fail(error, begin, "port above 65535");
    }
  }
  if (end > begin) {
    parts->has_port = true;
    parts->port = static_cast<uint16_t>(port);
  }
  return true;
}

// authority = [ userinfo "@" ] host [ ":" port ], at text[begin, end).
bool ScanAuthority(std::string_view text, size_t begin, size_t end, UriParts* parts,
                   ScanError* error) {
  size_t host_begin = begin;
  const size_t at = text.substr(0, end).find('@', begin);
  if (at != std::string_view::npos) {
    if (!ScanChars(text, begin, at, kUserinfoChars, error)) {
      return false;
    }
    parts->has_userinfo = true;
    parts->userinfo = text.substr(begin, at - begin);
    host_begin = at + 1;
  }
  size_t host_end = end;
  if (host_begin < end && text[host_begin] == '[') {
    const size_t close = text.substr(0, end).find(']', host_begin);
    if (close == std::string_view::npos) {
      return Fail(error, end, "expected ']' closing the IP literal");
    }
    if (!ScanIpLiteral(text, host_begin + 1, close, parts, error)) {
      return false;
    }
    parts->ip_literal = true;
    host_end = close + 1;
    if (host_end < end && text[host_end] != ':') {
      return Fail(error, host_end, "expected ':' after the IP literal");
    }
  } else {
    const size_t colon = text.substr(0, end).find(':', host_begin);
    host_end = colon == std::string_view::npos ? end : colon;
    if (!ScanChars(text, host_begin, host_end, kRegNameChars, error)) {
      return false;
    }
    parts->host = text.substr(host_begin, host_end - host_begin);
  }
  return host_end >= end || ScanPort(text, host_end + 1, end, parts, error);
}

size_t FindAny(std::string_view text, std::string_view chars, size_t from) {
  const size_t found = text.find_first_of(chars, from);
  return found == std::string_view::npos ? text.size() : found;
}

}  // namespace

bool ScanUriReference(std::string_view text, UriParts* parts, ScanError* error) {
  *parts = UriParts{};
  size_t pos = 0;
  if (!text.empty() && Is(text[0], kAlpha)) {
    size_t i = 1;
    while (i < text.size() && Is(text[i], kSchemeChar)) {
      ++i;
    }
    if (i < text.size() && text[i] == ':') {
      parts->scheme = text.substr(0, i);
      pos = i + 1;
    }
  }
  if (text.compare(pos, 2, "//") == 0) {
    const size_t begin = pos + 2;
    const size_t end = FindAny(text, "/?#", begin);
    parts->has_authority = true;
    parts->authority = text.substr(begin, end - begin);
    if (!ScanAuthority(text, begin, end, parts, error)) {
      return false;
    }
    pos = end;
  }
  const size_t path_end = FindAny(text, "?#", pos);
  if (!ScanChars(text, pos, path_end, kPathChars, error)) {
    return false;
  }
  parts->path = text.substr(pos, path_end - pos);
  if (parts->scheme.empty() && !parts->has_authority) {
    // path-noscheme: a colon in the first segment would read as a scheme delimiter.
    const size_t colon = parts->path.substr(0, parts->path.find('/')).find(':');
    if (colon != std::string_view::npos) {
      return Fail(error, pos + colon, "':' in the first segment of a relative path");
    }
  }
  pos = path_end;
  if (pos < text.size() && text[pos] == '?') {
    const size_t end = FindAny(text, "#", pos + 1);
    if (!ScanChars(text, pos + 1, end, kQueryChars, error)) {
      return false;
    }
    parts->has_query = true;
    parts->query = text.substr(pos + 1, end - pos - 1);
    pos = end;
  }
  if (pos < text.size()) {  // text[pos] == '#'
    if (!ScanChars(text, pos + 1, text.size(), kQueryChars, error)) {
      return false;
    }
    parts->has_fragment = true;
    parts->fragment = text.substr(pos + 1);
  }
  return true;
}

}  // namespace detail

namespace {

std::optional<std::string> OptionalString(bool present, std::string_view value) {
  return present ? std::optional<std::string>(std::string(value)) : std::nullopt;
}

void CopyAuthority(const Uri& from, Uri* to) {
  to->authority = from.authority;
  to->userinfo = from.userinfo;
  to->host = from.host;
  to->host_is_ip_literal = from.host_is_ip_literal;
  to->zone_id = from.zone_id;
  to->port = from.port;
}

// RFC 3986 §5.2.3
std::string Merge(const Uri& base, const std::string& reference_path) {
  if (base.authority && base.path.empty()) {
    return "/" + reference_path;
  }
  const size_t slash = base.path.rfind('/');
  if (slash == std::string::npos) {
    return reference_path;
  }
  return base.path.substr(0, slash + 1) + reference_path;
}

bool FirstSegmentHasColon(std::string_view path) {
  return path.substr(0, path.find('/')).find(':') != std::string_view::npos;
}

}  // namespace

Result<Uri> ParseUriReference(std::string_view text) {
  detail::UriParts parts;
  detail::ScanError error;
  if (!detail::ScanUriReference(text, &parts, &error)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "URI: " + error.description + " at byte " + std::to_string(error.offset));
  }
  Uri uri;
  uri.scheme = std::string(parts.scheme);
  uri.authority = OptionalString(parts.has_authority, parts.authority);
  uri.path = std::string(parts.path);
  uri.query = OptionalString(parts.has_query, parts.query);
  uri.fragment = OptionalString(parts.has_fragment, parts.fragment);
  uri.userinfo = OptionalString(parts.has_userinfo, parts.userinfo);
  uri.host = std::string(parts.host);
  uri.host_is_ip_literal = parts.ip_literal;
  uri.zone_id = std::string(parts.zone_id);
  if (parts.has_port) {
    uri.port = parts.port;
  }
  return uri;
}

Result<Uri> ParseUri(std::string_view text) {
  Result<Uri> uri = ParseUriReference(text);
  if (uri.ok() && !uri->IsAbsolute()) {
    return MakeError(ErrorCode::kInvalidArgument, "URI: no scheme in '" + std::string(text) + "'");
  }
  return uri;
}

std::string RemoveDotSegments(std::string_view path) {
  // §5.2.4 on a private copy: "replace the prefix with '/'" becomes moving `i` forward onto a
  // '/' (written in place when the input ends in "/." or "/..").
  std::string in(path);
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  const std::string_view whole = in;  // a view of `in`: sees the in-place '/' writes
  const auto pop_last_segment = [&out]() {
    const size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (i < in.size()) {
    const std::string_view input = whole.substr(i);
    if (input.substr(0, 3) == "../") {  // A
      i += 3;
    } else if (input.substr(0, 2) == "./" || input.substr(0, 3) == "/./") {  // A, B
      i += 2;
    } else if (input == "/.") {
      i += 1;
      in[i] = '/';
    } else if (input.substr(0, 4) == "/../") {  // C
      i += 3;
      pop_last_segment();
    } else if (input == "/..") {
      i += 2;
      in[i] = '/';
      pop_last_segment();
    } else if (input == "." || input == "..") {  // D
      i = in.size();
    } else {  // E
      const size_t next = in.find('/', i + 1);
      const size_t end = next == std::string::npos ? in.size() : next;
      out.append(in, i, end - i);
      i = end;
    }
  }
  return out;
}

Uri Resolve(const Uri& base, const Uri& reference) {
  Uri target;
  if (!reference.scheme.empty()) {
    target.scheme = reference.scheme;
    CopyAuthority(reference, &target);
    target.path = RemoveDotSegments(reference.path);
    target.query = reference.query;
  } else {
    if (reference.authority) {
      CopyAuthority(reference, &target);
      target.path = RemoveDotSegments(reference.path);
      target.query = reference.query;
    } else {
      if (reference.path.empty()) {
        target.path = base.path;
        target.query = reference.query ? reference.query : base.query;
      } else {
        if (reference.path.front() == '/') {
          target.path = RemoveDotSegments(reference.path);
        } else {
          target.path = RemoveDotSegments(Merge(base, reference.path));
        }
        target.query = reference.query;
      }
      CopyAuthority(base, &target);
    }
    target.scheme = base.scheme;
  }
  target.fragment = reference.fragment;
  return target;
}

Result<std::string> Resolve(std::string_view base, std::string_view reference) {
  Result<Uri> base_uri = ParseUri(base);
  if (!base_uri.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "base " + base_uri.error().message);
  }
  Result<Uri> reference_uri = ParseUriReference(reference);
  if (!reference_uri.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "reference " + reference_uri.error().message);
  }
  return Resolve(*base_uri, *reference_uri).ToString();
}

std::optional<uint16_t> Uri::EffectivePort() const {
  if (port) {
    return port;
  }
  struct SchemePort {
    std::string_view scheme;
    uint16_t port;
  };
  static constexpr SchemePort kDefaults[] = {
      {"coap", 5683},  {"coaps", 5684},   {"coap+tcp", 5683}, {"coaps+tcp", 5684},
      {"coap+ws", 80}, {"coaps+ws", 443}, {"http", 80},       {"https", 443},
  };
  for (const SchemePort& entry : kDefaults) {
    if (detail::EqualsIgnoreCase(scheme, entry.scheme)) {
      return entry.port;
    }
  }
  return std::nullopt;
}

std::string Uri::Origin() const {
  if (scheme.empty() || !authority) {
    return "";
  }
  const size_t at = authority->find('@');
  return scheme + "://" + (at == std::string::npos ? *authority : authority->substr(at + 1));
}

std::string Uri::ToString() const {
  std::string out;
  out.reserve(scheme.size() + (authority ? authority->size() + 2 : 0) + path.size() +
              (query ? query->size() + 1 : 0) + (fragment ? fragment->size() + 1 : 0) + 3);
  if (!scheme.empty()) {
    out += scheme;
    out += ':';
  }
  if (authority) {
    out += "//";
    out += *authority;
    if (!path.empty() && path.front() != '/') {
      out += '/';
    }
  } else if (path.compare(0, 2, "//") == 0) {
    out += "/.";
  } else if (scheme.empty() && FirstSegmentHasColon(path)) {
    out += "./";
  }
  out += path;
  if (query) {
    out += '?';
    out += *query;
  }
  if (fragment) {
    out += '#';
    out += *fragment;
  }
  return out;
}

bool Uri::operator==(const Uri& other) const {
  return scheme == other.scheme && authority == other.authority && path == other.path &&
         query == other.query && fragment == other.fragment && userinfo == other.userinfo &&
         host == other.host && host_is_ip_literal == other.host_is_ip_literal &&
         zone_id == other.zone_id && port == other.port;
}

}  // namespace coapgw::linkformat
