#include "coapgw/linkformat/link_format.hpp"

#include <algorithm>

#include "chars.hpp"
#include "uri_scan.hpp"

namespace coapgw::linkformat {

namespace {

using detail::DescribeByte;
using detail::EqualsIgnoreCase;
using detail::Is;

// One pass over the payload with an index; values are copied out once (unescaped only when a
// backslash was seen), so the cost per byte is a table lookup.
class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : text_(text), limits_(limits) {}

  Result<std::vector<Link>> Run() {
    if (text_.size() > limits_.max_bytes) {
      return MakeError(ErrorCode::kTooLarge,
                       "link-format: payload of " + std::to_string(text_.size()) +
                           " bytes exceeds max_bytes (" + std::to_string(limits_.max_bytes) + ")");
    }
    std::vector<Link> links;
    links.reserve(std::min<size_t>(std::count(text_.begin(), text_.end(), '<'), limits_.max_links));
    SkipWhitespace();
    if (AtEnd()) {
      return links;
    }
    while (true) {
      if (links.size() == limits_.max_links) {
        return TooLarge("more than " + std::to_string(limits_.max_links) + " links (max_links)");
      }
      if (Status status = ParseLink(&links.emplace_back()); !status.ok()) {
        return status.error();
      }
      SkipWhitespace();
      if (AtEnd()) {
        return links;
      }
      if (Peek() != ',') {
        return Invalid(pos_, "expected ';' or ','");
      }
      ++pos_;
      SkipWhitespace();
    }
  }

 private:
  Status ParseLink(Link* link) {
    if (AtEnd() || Peek() != '<') {
      return Invalid(pos_, "expected '<'");
    }
    const size_t begin = pos_ + 1;
    size_t end = begin;
    while (end < text_.size() && !Is(text_[end], detail::kTargetStop)) {
      ++end;
    }
    if (end == text_.size() || text_[end] != '>') {
      return Invalid(end, "expected '>'");
    }
    const std::string_view target = text_.substr(begin, end - begin);
    if (Status status = CheckUriReference(target, begin, "target"); !status.ok()) {
      return status;
    }
    link->target.assign(target);
    pos_ = end + 1;
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != ';') {
        return Status::Ok();
      }
      ++pos_;
      SkipWhitespace();
      if (link->attributes.size() == limits_.max_attributes_per_link) {
        return TooLarge("more than " + std::to_string(limits_.max_attributes_per_link) +
                        " attributes in one link (max_attributes_per_link)");
      }
      if (attribute_count_ == limits_.max_attributes) {
        return TooLarge("more than " + std::to_string(limits_.max_attributes) +
                        " attributes (max_attributes)");
      }
      ++attribute_count_;
      if (link->attributes.empty()) {
        link->attributes.reserve(4);  // typical links carry 1-4; saves the 1-2-4 regrowth
      }
      if (Status status = ParseAttribute(&link->attributes.emplace_back()); !status.ok()) {
        return status;
      }
    }
  }

  Status ParseAttribute(Attribute* attribute) {
    const size_t name_begin = pos_;
    while (!AtEnd() && Is(Peek(), detail::kAttrChar)) {
      ++pos_;
    }
    if (pos_ == name_begin) {
      return Invalid(pos_, "expected attribute name");
    }
    if (!AtEnd() && Peek() == '*') {
      ++pos_;
    }
    attribute->name.assign(text_.substr(name_begin, pos_ - name_begin));
    SkipWhitespace();
    const bool is_anchor = EqualsIgnoreCase(attribute->name, "anchor");
    if (AtEnd() || Peek() != '=') {
      if (!AtEnd() && Peek() != ';' && Peek() != ',') {
        return Invalid(pos_, "expected '=', ';' or ','");
      }
      return is_anchor ? Invalid(name_begin, "anchor without a value") : Status::Ok();
    }
    ++pos_;
    SkipWhitespace();
    size_t value_begin = pos_;
    bool escaped = false;
    if (!AtEnd() && Peek() == '"') {
      value_begin = pos_ + 1;
      if (Status status = ParseQuoted(&attribute->value.emplace(), &escaped); !status.ok()) {
        return status;
      }
    } else {
      while (!AtEnd() && Is(Peek(), detail::kPtokenChar)) {
        ++pos_;
      }
      if (pos_ == value_begin) {
        return Invalid(pos_, "expected attribute value");
      }
      attribute->value.emplace(text_.substr(value_begin, pos_ - value_begin));
    }
    if (is_anchor) {
      // With escapes the offset inside the value no longer maps to the payload; name its start.
      return CheckUriReference(*attribute->value, escaped ? std::string_view::npos : value_begin,
                               "anchor", value_begin);
    }
    return Status::Ok();
  }

  // quoted-string = DQUOTE *( qdtext / "\" any-byte-but-NUL ) DQUOTE; pos_ is on the opening
  // quote.
  Status ParseQuoted(std::string* value, bool* escaped) {
    const size_t open = pos_;
    const size_t begin = pos_ + 1;
    size_t i = begin;
    while (true) {
      while (i < text_.size() && !Is(text_[i], detail::kQuotedStop)) {
        ++i;
      }
      if (i >= text_.size()) {
        return Invalid(open, "unterminated quoted string opened");
      }
      const char c = text_[i];
      if (c == '"') {
        break;
      }
      if (c == '\\') {
        if (i + 1 >= text_.size()) {
          return Invalid(open, "unterminated quoted string opened");
        }
        if (text_[i + 1] == '\0') {
          return Invalid(i + 1, "NUL byte in quoted string");
        }
        *escaped = true;
        // An escaped non-ASCII byte is still checked as UTF-8 by the next round.
        i += Is(text_[i + 1], detail::kNonAscii) ? 1 : 2;
      } else if (c == '\t') {
        ++i;
      } else if (Is(c, detail::kControl)) {
        return Invalid(i, "control character " + DescribeByte(c) + " in quoted string");
      } else {
        const size_t length = detail::Utf8SequenceLength(text_, i);
        if (length == 0) {
          return Invalid(i, "invalid UTF-8");
        }
        i += length;
      }
    }
    const std::string_view raw = text_.substr(begin, i - begin);
    pos_ = i + 1;
    if (!*escaped) {
      value->assign(raw);
      return Status::Ok();
    }
    value->reserve(raw.size());
    for (size_t j = 0; j < raw.size(); ++j) {
      if (raw[j] == '\\') {
        ++j;
      }
      value->push_back(raw[j]);
    }
    return Status::Ok();
  }

  // `offset` locates `text` in the payload (npos: unknown, report `fallback_offset`).
  static Status CheckUriReference(std::string_view text, size_t offset, const char* what,
                                  size_t fallback_offset = 0) {
    detail::UriParts parts;
    detail::ScanError error;
    if (detail::ScanUriReference(text, &parts, &error)) {
      return Status::Ok();
    }
    const size_t at = offset == std::string_view::npos ? fallback_offset : offset + error.offset;
    return Invalid(at, std::string("invalid ") + what + ": " + error.description);
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd() && Is(Peek(), detail::kWhitespace)) {
      ++pos_;
    }
  }

  static Error Invalid(size_t offset, const std::string& what) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "link-format: " + what + " at byte " + std::to_string(offset));
  }

  Error TooLarge(const std::string& what) const {
    return MakeError(ErrorCode::kTooLarge,
                     "link-format: " + what + " at byte " + std::to_string(pos_));
  }

  std::string_view text_;
  const ParseLimits& limits_;
  size_t pos_ = 0;
  size_t attribute_count_ = 0;
};

bool IsPtoken(std::string_view value) {
  return !value.empty() &&
         std::all_of(value.begin(), value.end(), [](char c) { return Is(c, detail::kPtokenChar); });
}

bool NeedsQuotes(std::string_view name, std::string_view value) {
  return EqualsIgnoreCase(name, "anchor") || EqualsIgnoreCase(name, "title") || !IsPtoken(value);
}

void AppendQuoted(std::string_view value, std::string* out) {
  out->push_back('"');
  for (char c : value) {
    if (c == '"' || c == '\\' || Is(c, detail::kControl)) {
      out->push_back('\\');
    }
    out->push_back(c);
  }
  out->push_back('"');
}

// Bytes outside every URI component's grammar; percent-encoded by Serialize.
bool NeedsPercentEncoding(char c) {
  return Is(c, detail::kControl) ||
         std::string_view(" <>\"{}|\\^`").find(c) != std::string_view::npos;
}

void AppendTarget(std::string_view target, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : target) {
    if (NeedsPercentEncoding(c)) {
      const auto byte = static_cast<unsigned char>(c);
      out->push_back('%');
      out->push_back(kHex[byte >> 4]);
      out->push_back(kHex[byte & 0xF]);
    } else {
      out->push_back(c);
    }
  }
}

}  // namespace

const Attribute* Link::FindAttribute(std::string_view name) const {
  for (const Attribute& attribute : attributes) {
    if (EqualsIgnoreCase(attribute.name, name)) {
      return &attribute;
    }
  }
  return nullptr;
}

std::optional<std::string_view> Link::Find(std::string_view name) const {
  for (const Attribute& attribute : attributes) {
    if (attribute.value && EqualsIgnoreCase(attribute.name, name)) {
      return *attribute.value;
    }
  }
  return std::nullopt;
}

bool Link::Has(std::string_view name) const {
  return FindAttribute(name) != nullptr;
}

std::vector<std::string_view> Link::Values(std::string_view name) const {
  std::vector<std::string_view> values;
  const bool split = IsRelationTypes(name);
  for (const Attribute& attribute : attributes) {
    if (!attribute.value || !EqualsIgnoreCase(attribute.name, name)) {
      continue;
    }
    const std::string_view value = *attribute.value;
    if (!split) {
      values.push_back(value);
      continue;
    }
    size_t i = 0;
    while (i < value.size()) {
      while (i < value.size() && Is(value[i], detail::kWhitespace)) {
        ++i;
      }
      const size_t begin = i;
      while (i < value.size() && !Is(value[i], detail::kWhitespace)) {
        ++i;
      }
      if (i > begin) {
        values.push_back(value.substr(begin, i - begin));
      }
    }
  }
  return values;
}

Result<std::vector<Link>> Parse(std::string_view payload, const ParseLimits& limits) {
  return Parser(payload, limits).Run();
}

void AppendLink(const Link& link, std::string* out) {
  out->push_back('<');
  AppendTarget(link.target, out);
  out->push_back('>');
  for (const Attribute& attribute : link.attributes) {
    out->push_back(';');
    out->append(attribute.name);
    if (!attribute.value) {
      continue;
    }
    out->push_back('=');
    if (NeedsQuotes(attribute.name, *attribute.value)) {
      AppendQuoted(*attribute.value, out);
    } else {
      out->append(*attribute.value);
    }
  }
}

std::string Serialize(const std::vector<Link>& links) {
  size_t estimate = 0;
  for (const Link& link : links) {
    estimate += link.target.size() + 3;
    for (const Attribute& attribute : link.attributes) {
      estimate += attribute.name.size() + (attribute.value ? attribute.value->size() + 4 : 1);
    }
  }
  std::string out;
  out.reserve(estimate);
  for (const Link& link : links) {
    if (!out.empty()) {
      out.push_back(',');
    }
    AppendLink(link, &out);
  }
  return out;
}

bool IsValidAttributeName(std::string_view name) {
  if (!name.empty() && name.back() == '*') {
    name.remove_suffix(1);
  }
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return Is(c, detail::kAttrChar); });
}

bool IsRelationTypes(std::string_view name) {
  return EqualsIgnoreCase(name, "rel") || EqualsIgnoreCase(name, "rev") ||
         EqualsIgnoreCase(name, "rt") || EqualsIgnoreCase(name, "if");
}

}  // namespace coapgw::linkformat
