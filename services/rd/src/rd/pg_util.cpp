#include "rd/pg_util.hpp"

#include <cctype>
#include <cstddef>

namespace coapgw::rd {
namespace {

constexpr std::string_view kMask = "***";

bool IsUri(std::string_view url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

bool StartsWithIgnoringCase(std::string_view text, size_t at, std::string_view prefix) {
  if (text.size() - at < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != prefix[i]) {
      return false;
    }
  }
  return true;
}

// Masks every "password=<value>" in a key/value string: the value runs to the next blank, or is
// a single-quoted string with backslash escapes.
std::string RedactKeyValues(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const bool at_word_start = i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' ||
                               text[i - 1] == '\n' || text[i - 1] == '&' || text[i - 1] == '?';
    if (!at_word_start || !StartsWithIgnoringCase(text, i, "password")) {
      out.push_back(text[i++]);
      continue;
    }
    size_t j = i + 8;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    if (j >= text.size() || text[j] != '=') {
      out.push_back(text[i++]);
      continue;
    }
    ++j;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    out.append("password=").append(kMask);
    if (j < text.size() && text[j] == '\'') {
      ++j;
      while (j < text.size() && text[j] != '\'') {
        j += text[j] == '\\' ? 2 : 1;
      }
      ++j;
    } else {
      while (j < text.size() && text[j] != ' ' && text[j] != '\t' && text[j] != '&') {
        ++j;
      }
    }
    i = j;
  }
  return out;
}

}  // namespace

std::string RedactDatabaseUrl(std::string_view url) {
  if (!IsUri(url)) {
    return RedactKeyValues(url);
  }
  std::string out;
  const size_t authority = url.find("://") + 3;
  const size_t authority_end = url.find_first_of("/?", authority);
  const std::string_view host_part = url.substr(authority, authority_end - authority);
  out.append(url.substr(0, authority));
  // The user information ends at the last '@' of the authority; a password follows its ':'.
  const size_t at = host_part.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view user_info = host_part.substr(0, at);
    const size_t colon = user_info.find(':');
    out.append(user_info.substr(0, colon));
    if (colon != std::string_view::npos) {
      out.append(":").append(kMask);
    }
    out.append(host_part.substr(at));
  } else {
    out.append(host_part);
  }
  if (authority_end != std::string_view::npos) {
    out.append(RedactKeyValues(url.substr(authority_end)));
  }
  return out;
}

std::string WithConnectParameter(std::string url, std::string_view key, std::string_view value) {
  std::string assignment(key);
  assignment.push_back('=');
  // Any occurrence of "key=" means the operator set it: ours is only a default.
  if (url.find(assignment) != std::string::npos) {
    return url;
  }
  if (IsUri(url)) {
    url.push_back(url.find('?') == std::string::npos ? '?' : '&');
  } else if (!url.empty()) {
    url.push_back(' ');
  }
  return url.append(assignment).append(value);
}

ErrorCode ErrorCodeForSqlState(std::string_view sqlstate) {
  if (sqlstate == "23505") {
    return ErrorCode::kConflict;
  }
  if (sqlstate == "23503") {
    return ErrorCode::kNotFound;
  }
  if (sqlstate == "57014") {
    return ErrorCode::kTimeout;
  }
  const std::string_view sql_class = sqlstate.substr(0, 2);
  if (sql_class == "22" || sql_class == "23") {
    return ErrorCode::kInvalidArgument;
  }
  if (sql_class == "08" || sql_class == "53" || sql_class == "57" || sql_class == "58" ||
      sql_class == "40") {
    return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

bool IsStatementSpecific(std::string_view sqlstate) {
  const std::string_view sql_class = sqlstate.substr(0, 2);
  return !(sql_class == "08" || sql_class == "25" || sql_class == "40" || sql_class == "53" ||
           sql_class == "54" || sql_class == "55" || sql_class == "57" || sql_class == "58" ||
           sql_class == "XX" || sql_class.empty());
}

std::string OneLine(std::string_view text) {
  std::string out;
  bool blank = false;
  for (const char c : text) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      blank = !out.empty();
      continue;
    }
    if (blank) {
      out.push_back(' ');
      blank = false;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace coapgw::rd
