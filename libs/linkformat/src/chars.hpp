#pragma once

// Byte classes shared by the link-format and URI scanners: one table lookup per byte, no locale.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coapgw::linkformat::detail {

enum CharClass : uint16_t {
  kAlpha = 1U << 0,
  kDigit = 1U << 1,
  kHexDigit = 1U << 2,
  kAttrChar = 1U << 3,     // RFC 5987 attr-char: link-format parameter names
  kPtokenChar = 1U << 4,   // RFC 6690 ptokenchar: unquoted parameter values
  kWhitespace = 1U << 5,   // SP, HTAB, CR, LF: accepted around ',', ';' and '='
  kControl = 1U << 6,      // 0x00-0x1F and 0x7F
  kUnreserved = 1U << 7,   // RFC 3986 unreserved
  kSubDelim = 1U << 8,     // RFC 3986 sub-delims
  kSchemeChar = 1U << 9,   // ALPHA / DIGIT / "+" / "-" / "."
  kNonAscii = 1U << 10,    // 0x80-0xFF: IRI characters, checked as UTF-8 separately
  kTargetStop = 1U << 11,  // ends the scan of a link target: '>' and bytes no URI may hold
  kQuotedStop = 1U << 12,  // ends the fast scan of a quoted string: '"', backslash, CTL, non-ASCII
};

constexpr std::array<uint16_t, 256> MakeCharTable() {
  std::array<uint16_t, 256> table{};
  auto add = [&table](std::string_view chars, uint16_t cls) {
    for (char c : chars) {
      table[static_cast<unsigned char>(c)] |= cls;
    }
  };
  for (int c = 'a'; c <= 'z'; ++c) {
    table[c] |= kAlpha;
    table[c - 'a' + 'A'] |= kAlpha;
  }
  for (int c = '0'; c <= '9'; ++c) {
    table[c] |= kDigit | kHexDigit;
  }
  add("abcdefABCDEF", kHexDigit);
  for (int c = 0; c < 0x20; ++c) {
    table[c] |= kControl | kTargetStop;
  }
  table[0x7F] |= kControl | kTargetStop;
  for (int c = 0x80; c <= 0xFF; ++c) {
    table[c] |= kNonAscii;
  }
  constexpr uint16_t kAlnum = kAlpha | kDigit;
  for (int c = 0; c < 256; ++c) {
    if ((table[c] & kAlnum) != 0) {
      table[c] |= kAttrChar | kPtokenChar | kUnreserved | kSchemeChar;
    }
  }
  add("!#$&+-.^_`|~", kAttrChar);
  add("!#$%&'()*+-./:<=>?@[]^_`{|}~", kPtokenChar);
  add(" \t\r\n", kWhitespace);
  add("-._~", kUnreserved);
  add("!$&'()*+,;=", kSubDelim);
  add("+-.", kSchemeChar);
  add(" <>\"", kTargetStop);
  add("\"\\", kQuotedStop);
  for (int c = 0; c < 256; ++c) {
    if ((table[c] & (kControl | kNonAscii)) != 0) {
      table[c] |= kQuotedStop;
    }
  }
  return table;
}

inline constexpr std::array<uint16_t, 256> kCharTable = MakeCharTable();

inline bool Is(char c, uint16_t cls) {
  return (kCharTable[static_cast<unsigned char>(c)] & cls) != 0;
}

/// Length of the well-formed UTF-8 sequence starting at `s[pos]` (a byte >= 0x80), or 0 if the
/// bytes there are not well-formed UTF-8 (overlong forms, surrogates, > U+10FFFF, truncation).
inline size_t Utf8SequenceLength(std::string_view s, size_t pos) {
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (s.size() - pos < length) {
    return 0;
  }
  if (byte(pos + 1) < low || byte(pos + 1) > high) {
    return 0;
  }
  for (size_t i = 2; i < length; ++i) {
    if (byte(pos + i) < 0x80 || byte(pos + i) > 0xBF) {
      return 0;
    }
  }
  return length;
}

/// ASCII case-insensitive equality (link-format parameter names, URI schemes).
inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') {
      x = static_cast<char>(x - 'A' + 'a');
    }
    if (y >= 'A' && y <= 'Z') {
      y = static_cast<char>(y - 'A' + 'a');
    }
    if (x != y) {
      return false;
    }
  }
  return true;
}

/// "'x'" for printable ASCII, "0x0a" otherwise: how error messages show an offending byte.
std::string DescribeByte(char c);

}  // namespace coapgw::linkformat::detail
