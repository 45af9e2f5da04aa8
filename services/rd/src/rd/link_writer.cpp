#include "rd/link_writer.hpp"

#include <algorithm>

namespace coapgw::rd {

namespace {

// RFC 6690 ptokenchar, as a table: every attribute value of every lookup result is checked.
struct PtokenTable {
  bool allowed[256] = {};
  constexpr PtokenTable() {
    for (int c = 0; c < 256; ++c) {
      allowed[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
    for (const char c : std::string_view("!#$%&'()*+-./:<=>?@[]^_`{|}~")) {
      allowed[static_cast<unsigned char>(c)] = true;
    }
  }
};
constexpr PtokenTable kPtoken;

bool IsPtokenChar(char c) {
  return kPtoken.allowed[static_cast<unsigned char>(c)];
}

bool IsNamed(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b;
         });
}

// Appends the runs between escapes whole: values seldom need any.
void AppendEscaped(std::string_view text, std::string* out) {
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out->append(text.substr(run, i - run));
      out->push_back('\\');
      run = i;
    }
  }
  out->append(text.substr(run));
}

}  // namespace

void AppendParameter(std::string_view name, std::optional<std::string_view> value,
                     std::string* out) {
  if (!value) {
    out->push_back(';');
    out->append(name);
    return;
  }
  const bool bare = !IsNamed(name, "anchor") && !IsNamed(name, "title") && !value->empty() &&
                    std::all_of(value->begin(), value->end(), IsPtokenChar);
  if (!bare) {
    AppendQuotedParameter(name, SplitString{*value, {}}, out);
    return;
  }
  out->push_back(';');
  out->append(name);
  out->push_back('=');
  out->append(*value);
}

void AppendQuotedParameter(std::string_view name, const SplitString& value, std::string* out) {
  out->push_back(';');
  out->append(name);
  out->append("=\"");
  AppendEscaped(value.head, out);
  AppendEscaped(value.tail, out);
  out->push_back('"');
}

}  // namespace coapgw::rd
