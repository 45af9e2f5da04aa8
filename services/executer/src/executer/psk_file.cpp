#include "executer/psk_file.hpp"

#include <fnmatch.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>

namespace coapgw::executer {
namespace {

std::string_view Trim(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const size_t last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::optional<std::string> DecodeHex(std::string_view hex) {
  if (hex.empty() || hex.size() % 2 != 0) {
    return std::nullopt;
  }
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned value = 0;
    const char* end = hex.data() + i + 2;
    if (std::from_chars(hex.data() + i, end, value, 16).ptr != end) {
      return std::nullopt;
    }
    bytes.push_back(static_cast<char>(value));
  }
  return bytes;
}

}  // namespace

Result<PskKeyFile> PskKeyFile::Parse(std::string_view text, const std::string& source) {
  PskKeyFile file;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    const std::string_view line = Trim(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto fail = [&](const std::string& why) {
      std::string message = source;
      message += ":" + std::to_string(line_number) + ": ";
      message += why;
      return MakeError(ErrorCode::kInvalidArgument, std::move(message));
    };
    const size_t first = line.find(',');
    const size_t second = first == std::string_view::npos ? first : line.find(',', first + 1);
    if (second == std::string_view::npos) {
      return fail("expected identity,key,host-pattern");
    }
    Entry entry;
    entry.credentials.identity = std::string(Trim(line.substr(0, first)));
    const std::string_view key = Trim(line.substr(first + 1, second - first - 1));
    entry.host_pattern = std::string(Trim(line.substr(second + 1)));
    if (entry.credentials.identity.empty() || key.empty() || entry.host_pattern.empty()) {
      return fail("identity, key and host pattern must not be empty");
    }
    if (key.rfind("hex:", 0) == 0) {
      auto bytes = DecodeHex(key.substr(4));
      if (!bytes) {
        return fail("key 'hex:…' needs an even number of hex digits");
      }
      entry.credentials.key = std::move(*bytes);
    } else {
      entry.credentials.key = std::string(key);
    }
    file.entries_.push_back(std::move(entry));
  }
  return file;
}

Result<PskKeyFile> PskKeyFile::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(ErrorCode::kUnavailable, path + ": cannot be read");
  }
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

std::optional<coap::PskCredentials> PskKeyFile::Find(const coap::Endpoint& endpoint) const {
  for (const auto& entry : entries_) {
    if (fnmatch(entry.host_pattern.c_str(), endpoint.host.c_str(), 0) == 0) {
      return entry.credentials;
    }
  }
  return std::nullopt;
}

}  // namespace coapgw::executer
