#pragma once

// A fixed table between enumerators and their wire names, for the string enumerations of the
// messages. Unknown names map to the enumeration's kUnknown.

#include <array>
#include <cstddef>
#include <string_view>
#include <utility>

namespace coapgw::events::internal {

inline constexpr std::string_view kUnknownName = "unknown";

template <class Enum, std::size_t N>
class EnumNames {
 public:
  constexpr explicit EnumNames(std::array<std::pair<Enum, std::string_view>, N> entries)
      : entries_(std::move(entries)) {}

  std::string_view Name(Enum value) const {
    for (const auto& [entry, name] : entries_) {
      if (entry == value) {
        return name;
      }
    }
    return kUnknownName;
  }

  /// `equal` compares a wire name with the input (exact, or ignoring case for methods).
  template <class Equal>
  Enum Parse(std::string_view text, Equal equal) const {
    for (const auto& [entry, name] : entries_) {
      if (equal(name, text)) {
        return entry;
      }
    }
    return Enum::kUnknown;
  }

  Enum Parse(std::string_view text) const {
    return Parse(text, [](std::string_view a, std::string_view b) { return a == b; });
  }

 private:
  std::array<std::pair<Enum, std::string_view>, N> entries_;
};

}  // namespace coapgw::events::internal
