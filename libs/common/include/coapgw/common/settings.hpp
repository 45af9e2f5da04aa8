#pragma once

// Settings of a service, from environment variables and the matching --flags (the contract §1-2):
// COAPGW_RD_LISTEN can be given as `--rd-listen=VALUE` or `--rd-listen VALUE`; a flag wins over
// the environment. Every value is validated at load time, so a bad setting stops the process
// with one clear line before any work starts.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "coapgw/common/duration.hpp"

namespace coapgw {

enum class SettingKind { kString, kDuration, kInt, kBool };

struct SettingSpec {
  std::string env;            // e.g. "COAPGW_RD_LISTEN"
  std::string help;           // one line for --help
  std::string default_value;  // empty and not required: the setting is unset by default
  SettingKind kind = SettingKind::kString;
  bool required = false;
  bool secret = false;          // never printed back (passwords, URLs with credentials)
  int64_t min_int = INT64_MIN;  // bounds for kInt
  int64_t max_int = INT64_MAX;
};

/// A setting failed validation; what() is the one line to print.
class SettingsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// "COAPGW_RD_LISTEN" -> "--rd-listen".
std::string FlagName(std::string_view env);

class Settings {
 public:
  Settings(std::string program, std::string summary);

  /// Declares a setting. Declaring the same name twice is a programming error (throws).
  Settings& Add(SettingSpec spec);

  /// Reads argv and the environment. Returns an exit code when the program should exit now
  /// (--help, --version), nullopt when it should run. Throws SettingsError on a bad setting.
  std::optional<int> Load(int argc, const char* const* argv, const char* const* envp);

  /// Loads from explicit values (tests); same validation as Load.
  void LoadFromMap(const std::map<std::string, std::string>& values);

  bool IsSet(std::string_view env) const;
  const std::string& String(std::string_view env) const;
  Millis Duration(std::string_view env) const;
  /// Duration(env) checked against [min, max]: SettingsError "<env>: 5ms is outside 10ms .. 1h".
  Millis Duration(std::string_view env, Millis min, Millis max) const;
  int64_t Int(std::string_view env) const;
  bool Bool(std::string_view env) const;

  std::string HelpText() const;
  const std::string& program() const { return program_; }

 private:
  const SettingSpec& Spec(std::string_view env) const;
  void Validate();

  std::string program_;
  std::string summary_;
  std::vector<SettingSpec> specs_;
  std::map<std::string, std::string, std::less<>> values_;
};

/// Adds the settings every service has: log level and format, the HTTP listener.
void AddCommonSettings(Settings& settings);

}  // namespace coapgw
