#include "coapgw/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "coapgw/common/time_format.hpp"

namespace coapgw::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};
std::atomic<int> g_fd{-1};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarn:
      return "WARN";
    case Level::kError:
      return "ERROR";
    case Level::kOff:
      return "OFF";
  }
  return "INFO";
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (const char ch : text) {
    const auto byte = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4U]);
          out.push_back(kHex[byte & 0xFU]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Text values are quoted when they contain spaces, quotes or '=' so lines stay parseable.
void AppendTextValue(std::string& out, std::string_view value) {
  if (!value.empty() && value.find_first_of(" \"=\n\t") == std::string_view::npos) {
    out.append(value);
    return;
  }
  AppendJsonString(out, value);
}

void WriteAll(const std::string& line) {
  const int fd = g_fd.load() >= 0 ? g_fd.load() : STDERR_FILENO;
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;  // Nowhere left to report a logging failure.
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") {
    return Level::kDebug;
  }
  if (text == "info") {
    return Level::kInfo;
  }
  if (text == "warn" || text == "warning") {
    return Level::kWarn;
  }
  if (text == "error") {
    return Level::kError;
  }
  if (text == "off") {
    return Level::kOff;
  }
  return MakeError(
      ErrorCode::kInvalidArgument,
      "'" + std::string(text) + "' is not a log level (debug, info, warn, error, off)");
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "text") {
    return Format::kText;
  }
  if (text == "json") {
    return Format::kJson;
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "'" + std::string(text) + "' is not a log format (text, json)");
}

void Configure(Level level, Format format) {
  g_level.store(static_cast<int>(level));
  g_format.store(static_cast<int>(format));
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

void SetOutputFdForTest(int fd) {
  g_fd.store(fd);
}

void Write(Level level, std::string_view component, std::string_view message, Fields fields) {
  if (!Enabled(level)) {
    return;
  }
  const std::string time = FormatRfc3339Millis(std::chrono::system_clock::now());
  std::string line;
  line.reserve(128);
  if (static_cast<Format>(g_format.load()) == Format::kJson) {
    line += "{\"time\":";
    AppendJsonString(line, time);
    line += ",\"level\":";
    AppendJsonString(line, LevelName(level));
    line += ",\"component\":";
    AppendJsonString(line, component);
    line += ",\"msg\":";
    AppendJsonString(line, message);
    for (const auto& [key, value] : fields) {
      line.push_back(',');
      AppendJsonString(line, key);
      line.push_back(':');
      AppendJsonString(line, value);
    }
    line += "}\n";
  } else {
    line += time;
    line.push_back(' ');
    line += LevelName(level);
    line.push_back(' ');
    line.append(component);
    line += ": ";
    line.append(message);
    for (const auto& [key, value] : fields) {
      line.push_back(' ');
      line.append(key);
      line.push_back('=');
      AppendTextValue(line, value);
    }
    line.push_back('\n');
  }
  WriteAll(line);
}

}  // namespace coapgw::log
