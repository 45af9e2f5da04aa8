#pragma once

// One line per event on stderr, as text or JSON lines, filtered by level. Thread-safe: a line is
// written with a single write(2), so lines from several threads never interleave.
//
//   log::Info("rd", "registered", {{"ep", ep}, {"location", location}});
//   -> 2026-11-23T12:00:00.123Z INFO rd: registered ep=node1 location=/rd/7

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "coapgw/common/result.hpp"

namespace coapgw::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class Format { kText, kJson };

/// A key/value attached to a line; values are rendered as strings.
using Field = std::pair<std::string_view, std::string>;
using Fields = std::initializer_list<Field>;

/// Parses "debug", "info", "warn", "error" or "off".
Result<Level> ParseLevel(std::string_view text);
/// Parses "text" or "json".
Result<Format> ParseFormat(std::string_view text);

/// Sets the process-wide threshold and format. Call once at start-up, before threads start.
void Configure(Level level, Format format);
bool Enabled(Level level);

/// Writes one line: time, level, component, message, then fields in order.
void Write(Level level, std::string_view component, std::string_view message, Fields fields = {});

/// Redirects output to `fd` (tests); -1 restores stderr.
void SetOutputFdForTest(int fd);

inline void Debug(std::string_view component, std::string_view message, Fields fields = {}) {
  if (Enabled(Level::kDebug)) {
    Write(Level::kDebug, component, message, fields);
  }
}
inline void Info(std::string_view component, std::string_view message, Fields fields = {}) {
  Write(Level::kInfo, component, message, fields);
}
inline void Warn(std::string_view component, std::string_view message, Fields fields = {}) {
  Write(Level::kWarn, component, message, fields);
}
inline void Error(std::string_view component, std::string_view message, Fields fields = {}) {
  Write(Level::kError, component, message, fields);
}

}  // namespace coapgw::log
