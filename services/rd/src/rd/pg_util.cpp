#include "rd/pg_util.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <vector>

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

bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// [begin, end) of a password value in a connection string.
struct Span {
  size_t begin;
  size_t end;
};

// Every "password=<value>" from `from` on, in key/value syntax (a blank-separated value or a
// single-quoted one with backslash escapes) or in a URI's query ('&'-separated).
void FindPasswordParameters(std::string_view text, size_t from, std::vector<Span>& spans) {
  for (size_t i = from; i < text.size(); ++i) {
    const bool at_word_start = i == from || IsBlank(text[i - 1]) || text[i - 1] == '&';
    if (!at_word_start || !StartsWithIgnoringCase(text, i, "password")) {
      continue;
    }
    size_t j = i + 8;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    if (j >= text.size() || text[j] != '=') {
      continue;
    }
    ++j;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    const size_t begin = j;
    if (j < text.size() && text[j] == '\'') {
      ++j;
      while (j < text.size() && text[j] != '\'') {
        j += text[j] == '\\' ? 2 : 1;
      }
      j = std::min(j + 1, text.size());
    } else {
      while (j < text.size() && !IsBlank(text[j]) && text[j] != '&') {
        ++j;
      }
    }
    spans.push_back({begin, j});
    i = j;
  }
}

// Where the passwords of a connection string are, in order.
std::vector<Span> PasswordSpans(std::string_view url) {
  std::vector<Span> spans;
  size_t parameters_from = 0;
  if (IsUri(url)) {
    const size_t authority = url.find("://") + 3;
    const size_t authority_end = std::min(url.find_first_of("/?", authority), url.size());
    // The user information ends at the last '@' of the authority; a password follows its ':'.
    const size_t at = url.substr(0, authority_end).rfind('@');
    if (at != std::string_view::npos && at >= authority) {
      const size_t colon = url.find(':', authority);
      if (colon < at) {
        spans.push_back({colon + 1, at});
      }
    }
    parameters_from = url.find('?', authority_end);
    if (parameters_from == std::string_view::npos) {
      return spans;
    }
    ++parameters_from;
  }
  FindPasswordParameters(url, parameters_from, spans);
  return spans;
}

}  // namespace

std::string RedactDatabaseUrl(std::string_view url) {
  std::string out;
  size_t copied = 0;
  for (const Span& span : PasswordSpans(url)) {
    out.append(url.substr(copied, span.begin - copied)).append(kMask);
    copied = span.end;
  }
  return out.append(url.substr(copied));
}

std::string RedactPasswords(std::string text, std::string_view url) {
  for (const Span& span : PasswordSpans(url)) {
    std::string_view password = url.substr(span.begin, span.end - span.begin);
    if (password.size() >= 2 && password.front() == '\'' && password.back() == '\'') {
      password = password.substr(1, password.size() - 2);
    }
    if (password.empty()) {
      continue;
    }
    for (size_t at = text.find(password); at != std::string::npos;
         at = text.find(password, at + kMask.size())) {
      text.replace(at, password.size(), kMask);
    }
  }
  return text;
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
