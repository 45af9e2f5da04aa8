#include "coapgw/common/settings.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>

namespace coapgw {
namespace {

constexpr const char* kVersion = COAPGW_VERSION;

std::optional<bool> ParseBool(std::string_view text) {
  if (text == "1" || text == "true" || text == "yes" || text == "on") {
    return true;
  }
  if (text == "0" || text == "false" || text == "no" || text == "off") {
    return false;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseInt(const std::string& text) {
  if (text.empty()) {
    return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  return static_cast<int64_t>(value);
}

const char* KindHint(SettingKind kind) {
  switch (kind) {
    case SettingKind::kString:
      return "";
    case SettingKind::kDuration:
      return " (duration)";
    case SettingKind::kInt:
      return " (integer)";
    case SettingKind::kBool:
      return " (true/false)";
  }
  return "";
}

}  // namespace

std::string FlagName(std::string_view env) {
  std::string_view name = env;
  constexpr std::string_view kPrefix = "COAPGW_";
  if (name.substr(0, kPrefix.size()) == kPrefix) {
    name.remove_prefix(kPrefix.size());
  }
  std::string flag = "--";
  for (const char ch : name) {
    flag.push_back(ch == '_' ? '-'
                             : static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  }
  return flag;
}

Settings::Settings(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

Settings& Settings::Add(SettingSpec spec) {
  for (const auto& existing : specs_) {
    if (existing.env == spec.env) {
      throw std::logic_error("setting declared twice: " + spec.env);
    }
  }
  specs_.push_back(std::move(spec));
  return *this;
}

const SettingSpec& Settings::Spec(std::string_view env) const {
  for (const auto& spec : specs_) {
    if (spec.env == env) {
      return spec;
    }
  }
  throw std::logic_error("setting not declared: " + std::string(env));
}

std::optional<int> Settings::Load(int argc, const char* const* argv, const char* const* envp) {
  std::map<std::string, std::string> values;
  for (const char* const* entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    const char* eq = std::strchr(*entry, '=');
    if (eq == nullptr) {
      continue;
    }
    std::string name(*entry, static_cast<size_t>(eq - *entry));
    for (const auto& spec : specs_) {
      if (spec.env == name) {
        values[name] = eq + 1;
      }
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << HelpText();
      return 0;
    }
    if (arg == "--version") {
      std::cout << program_ << " " << kVersion << "\n";
      return 0;
    }
    const size_t eq = arg.find('=');
    const std::string flag = arg.substr(0, eq);
    const SettingSpec* match = nullptr;
    for (const auto& spec : specs_) {
      if (FlagName(spec.env) == flag) {
        match = &spec;
      }
    }
    if (match == nullptr) {
      throw SettingsError("unknown option '" + flag + "' (see --help)");
    }
    if (eq != std::string::npos) {
      values[match->env] = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      values[match->env] = argv[++i];
    } else {
      throw SettingsError("option " + flag + " needs a value");
    }
  }
  LoadFromMap(values);
  return std::nullopt;
}

void Settings::LoadFromMap(const std::map<std::string, std::string>& values) {
  values_.clear();
  for (const auto& spec : specs_) {
    const auto found = values.find(spec.env);
    if (found != values.end() && !found->second.empty()) {
      values_[spec.env] = found->second;
    } else if (!spec.default_value.empty()) {
      values_[spec.env] = spec.default_value;
    }
  }
  for (const auto& [name, value] : values) {
    (void)value;
    Spec(name);  // Throws on names the program never declared (a bug in the caller).
  }
  Validate();
}

void Settings::Validate() {
  for (const auto& spec : specs_) {
    const auto found = values_.find(spec.env);
    if (found == values_.end()) {
      if (spec.required) {
        throw SettingsError(spec.env + " is required (or " + FlagName(spec.env) +
                            "): " + spec.help);
      }
      continue;
    }
    const std::string& value = found->second;
    const std::string shown = spec.secret ? "<hidden>" : "'" + value + "'";
    switch (spec.kind) {
      case SettingKind::kString:
        break;
      case SettingKind::kDuration: {
        auto parsed = ParseDuration(value);
        if (!parsed.ok()) {
          throw SettingsError(spec.env + ": " + parsed.error().message);
        }
        break;
      }
      case SettingKind::kInt: {
        const auto parsed = ParseInt(value);
        if (!parsed) {
          throw SettingsError(spec.env + ": " + shown + " is not an integer");
        }
        if (*parsed < spec.min_int || *parsed > spec.max_int) {
          throw SettingsError(spec.env + ": " + shown + " is out of range [" +
                              std::to_string(spec.min_int) + ", " + std::to_string(spec.max_int) +
                              "]");
        }
        break;
      }
      case SettingKind::kBool:
        if (!ParseBool(value)) {
          throw SettingsError(spec.env + ": " + shown + " is not true/false");
        }
        break;
    }
  }
}

bool Settings::IsSet(std::string_view env) const {
  Spec(env);
  return values_.find(env) != values_.end();
}

const std::string& Settings::String(std::string_view env) const {
  static const std::string kEmpty;
  Spec(env);
  const auto found = values_.find(env);
  return found == values_.end() ? kEmpty : found->second;
}

Millis Settings::Duration(std::string_view env) const {
  const auto& spec = Spec(env);
  if (spec.kind != SettingKind::kDuration) {
    throw std::logic_error(spec.env + " is not a duration setting");
  }
  const std::string& text = String(env);
  return text.empty() ? Millis(0) : ParseDuration(text).value();
}

Millis Settings::Duration(std::string_view env, Millis min, Millis max) const {
  const Millis value = Duration(env);
  if (value < min || value > max) {
    throw SettingsError(std::string(env) + ": " + FormatDuration(value) + " is outside " +
                        FormatDuration(min) + " .. " + FormatDuration(max));
  }
  return value;
}

int64_t Settings::Int(std::string_view env) const {
  const auto& spec = Spec(env);
  if (spec.kind != SettingKind::kInt) {
    throw std::logic_error(spec.env + " is not an integer setting");
  }
  const std::string& text = String(env);
  return text.empty() ? 0 : ParseInt(text).value_or(0);
}

bool Settings::Bool(std::string_view env) const {
  const auto& spec = Spec(env);
  if (spec.kind != SettingKind::kBool) {
    throw std::logic_error(spec.env + " is not a boolean setting");
  }
  const std::string& text = String(env);
  return text.empty() ? false : ParseBool(text).value_or(false);
}

std::string Settings::HelpText() const {
  std::ostringstream out;
  out << "Usage: " << program_ << " [--option VALUE]...\n" << summary_ << "\n\n";
  out << "Every option can also be set through the environment variable shown.\n\n";
  for (const auto& spec : specs_) {
    out << "  " << FlagName(spec.env) << " VALUE" << KindHint(spec.kind) << "\n";
    out << "      " << spec.env << ": " << spec.help;
    if (spec.required) {
      out << " [required]";
    } else if (!spec.default_value.empty()) {
      out << " [default: " << spec.default_value << "]";
    }
    out << "\n";
  }
  out << "  --help     print this text\n  --version  print the version\n";
  return out.str();
}

void AddCommonSettings(Settings& settings) {
  settings.Add({"COAPGW_LOG_LEVEL", "log threshold: debug, info, warn, error, off", "info"});
  settings.Add({"COAPGW_LOG_FORMAT", "log line format: text or json", "text"});
  settings.Add({"COAPGW_HTTP_LISTEN",
                "address for /healthz, /readyz and /metrics (host:port); off when unset", ""});
}

}  // namespace coapgw
