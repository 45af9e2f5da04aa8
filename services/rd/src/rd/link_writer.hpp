#pragma once

// Writing link-format output piece by piece, byte for byte as linkformat::AppendLink would, so the
// RD can write lookup results without building linkformat::Link values. Pure functions.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace coapgw::rd {

/// A string held as two pieces, e.g. a registration base and a reference appended to it, compared
/// and written without joining them.
struct SplitString {
  std::string_view head;
  std::string_view tail;

  size_t size() const { return head.size() + tail.size(); }
  bool Equals(std::string_view text) const {
    return text.size() == size() && text.substr(0, head.size()) == head &&
           text.substr(head.size()) == tail;
  }
  bool StartsWith(std::string_view prefix) const {
    if (prefix.size() <= head.size()) {
      return head.substr(0, prefix.size()) == prefix;
    }
    return prefix.substr(0, head.size()) == head &&
           tail.substr(0, prefix.size() - head.size()) == prefix.substr(head.size());
  }
  std::string str() const {
    std::string text;
    text.reserve(size());
    text.append(head).append(tail);
    return text;
  }
};

/// Appends ";name" (no value) or ";name=value": anchor and title values always quoted (RFC 6690
/// §2), others bare when they are a ptoken, else quoted.
void AppendParameter(std::string_view name, std::optional<std::string_view> value,
                     std::string* out);

/// Appends ";name=" and `value` quoted: '"', '\' and control characters backslash-escaped.
void AppendQuotedParameter(std::string_view name, const SplitString& value, std::string* out);

}  // namespace coapgw::rd
