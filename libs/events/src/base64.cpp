#include <array>
#include <cstddef>
#include <cstdint>

#include "coapgw/events/payload.hpp"

namespace coapgw::events {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> MakeDecodeTable() {
  std::array<std::uint8_t, 256> table{};
  for (auto& entry : table) {
    entry = kInvalid;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr std::array<std::uint8_t, 256> kDecodeTable = MakeDecodeTable();

Error Malformed(const std::string& what) {
  return MakeError(ErrorCode::kInvalidArgument, "malformed base64: " + what);
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&](std::size_t index) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[index]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = (byte(i) << 16U) | (byte(i + 1) << 8U) | byte(i + 2);
    out += kAlphabet[(group >> 18U) & 0x3FU];
    out += kAlphabet[(group >> 12U) & 0x3FU];
    out += kAlphabet[(group >> 6U) & 0x3FU];
    out += kAlphabet[group & 0x3FU];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    const std::uint32_t group = (byte(i) << 16U) | (rest == 2 ? byte(i + 1) << 8U : 0U);
    out += kAlphabet[(group >> 18U) & 0x3FU];
    out += kAlphabet[(group >> 12U) & 0x3FU];
    out += rest == 2 ? kAlphabet[(group >> 6U) & 0x3FU] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  std::size_t end = text.size();
  std::size_t padding = 0;
  while (end > 0 && padding < 2 && text[end - 1] == '=') {
    --end;
    ++padding;
  }
  for (std::size_t i = 0; i < end; ++i) {
    if (kDecodeTable[static_cast<unsigned char>(text[i])] == kInvalid) {
      return Malformed("invalid character at position " + std::to_string(i));
    }
  }
  const std::size_t tail = end % 4;  // characters in the last, incomplete group
  if (tail == 1) {
    return Malformed("a single character cannot end the input (position " +
                     std::to_string(end - 1) + ")");
  }
  if (padding > 0 && tail + padding != 4) {
    return Malformed("padding does not complete a group of four");
  }
  std::string out;
  out.reserve(end / 4 * 3 + 2);
  std::uint32_t group = 0;
  for (std::size_t i = 0; i < end; ++i) {
    group = (group << 6U) | kDecodeTable[static_cast<unsigned char>(text[i])];
    if (i % 4 == 3) {
      out += static_cast<char>((group >> 16U) & 0xFFU);
      out += static_cast<char>((group >> 8U) & 0xFFU);
      out += static_cast<char>(group & 0xFFU);
      group = 0;
    }
  }
  if (tail == 2) {
    out += static_cast<char>((group >> 4U) & 0xFFU);
  } else if (tail == 3) {
    out += static_cast<char>((group >> 10U) & 0xFFU);
    out += static_cast<char>((group >> 2U) & 0xFFU);
  }
  return out;
}

}  // namespace coapgw::events
