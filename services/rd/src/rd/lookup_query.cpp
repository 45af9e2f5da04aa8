#include "rd/lookup_query.hpp"

#include <algorithm>
#include <charconv>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/uri.hpp"

namespace coapgw::rd {

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string AsciiLower(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return lower;
}

Error BadParameter(std::string message) {
  return MakeError(ErrorCode::kInvalidArgument, "lookup query: " + std::move(message));
}

Result<uint32_t> ParseCount(std::string_view name, std::optional<std::string_view> value) {
  uint32_t number = 0;
  if (value && !value->empty()) {
    const char* end = value->data() + value->size();
    auto [ptr, ec] = std::from_chars(value->data(), end, number);
    if (ec == std::errc() && ptr == end) {
      return number;
    }
  }
  return BadParameter(std::string(name) + " must be a number in 0..4294967295, got '" +
                      std::string(value.value_or("")) + "'");
}

}  // namespace

bool Criterion::Matches(std::string_view candidate) const {
  switch (kind) {
    case MatchKind::kExact:
      return candidate == value;
    case MatchKind::kPrefix:
      return candidate.substr(0, value.size()) == value;
    case MatchKind::kAny:
      return true;
  }
  return false;
}

bool Criterion::MatchesAttribute(std::optional<std::string_view> attribute_value) const {
  if (kind == MatchKind::kAny) {
    return true;
  }
  if (!attribute_value) {
    return false;
  }
  if (!linkformat::IsRelationTypes(name)) {
    return Matches(*attribute_value);
  }
  const std::string_view text = *attribute_value;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) {
      ++i;
    }
    const size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) {
      ++i;
    }
    if (i > start && Matches(text.substr(start, i - start))) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> Criterion::LocationForm() const {
  if (!value.empty() && value[0] == '/' && (value.size() == 1 || value[1] != '/')) {
    return value;
  }
  Result<linkformat::Uri> uri = linkformat::ParseUri(value);
  if (!uri.ok() || !uri->authority || uri->query || uri->fragment) {
    return std::nullopt;
  }
  return uri->path;
}

Result<LookupQuery> LookupQuery::Parse(const std::vector<std::string>& query) {
  LookupQuery parsed;
  for (const std::string& text : query) {
    const std::string_view parameter = text;
    const size_t equals = parameter.find('=');
    const std::string name = AsciiLower(parameter.substr(0, equals));
    std::optional<std::string_view> value;
    if (equals != std::string_view::npos) {
      value = parameter.substr(equals + 1);
    }
    if (name.empty()) {
      return BadParameter("parameter '" + text + "' has no name");
    }
    if (name == "page" || name == "count") {
      std::optional<uint32_t>& slot = name == "page" ? parsed.page : parsed.count;
      if (slot) {
        return BadParameter(name + " given twice");
      }
      Result<uint32_t> number = ParseCount(name, value);
      if (!number.ok()) {
        return number.error();
      }
      slot = *number;
      continue;
    }
    if (parsed.criteria.size() == kMaxCriteria) {
      return BadParameter("more than " + std::to_string(kMaxCriteria) + " search criteria");
    }
    Criterion criterion;
    criterion.name = name;
    if (!value || *value == "*") {
      criterion.kind = MatchKind::kAny;
    } else if (value->back() == '*') {
      criterion.kind = MatchKind::kPrefix;
      criterion.value = std::string(value->substr(0, value->size() - 1));
    } else {
      criterion.value = std::string(*value);
    }
    parsed.criteria.push_back(std::move(criterion));
  }
  if (parsed.page && !parsed.count) {
    return BadParameter("page needs count");
  }
  return parsed;
}

bool LookupQuery::HasCriterion(std::string_view name) const {
  return std::any_of(criteria.begin(), criteria.end(),
                     [name](const Criterion& criterion) { return criterion.name == name; });
}

}  // namespace coapgw::rd
