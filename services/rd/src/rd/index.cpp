#include "rd/index.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <iterator>
#include <stdexcept>
#include <tuple>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/resolve_links.hpp"
#include "coapgw/linkformat/uri.hpp"

namespace coapgw::rd {

namespace {

constexpr std::string_view kRegistrationPath = "/rd/";

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

uint64_t Hash(std::string_view text) {
  return std::hash<std::string_view>{}(text);
}

// The Origin used to file a URI: "scheme://host[:port]", or "" when it has none or does not
// parse. Put and the candidate search both go through here, so equal strings file alike.
std::string OriginOf(std::string_view uri) {
  Result<linkformat::Uri> parsed = linkformat::ParseUriReference(uri);
  return parsed.ok() ? parsed->Origin() : std::string();
}

// Parses an unsigned decimal number spanning all of `text`.
std::optional<uint64_t> ParseNumber(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

bool IsIpv4LinkLocal(std::string_view host) {
  if (!StartsWith(host, "169.254.")) {
    return false;
  }
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// fe80::/10, or an IPv4-mapped 169.254.0.0/16; `host` is the literal without brackets or zone.
bool IsLinkLocal(const linkformat::Uri& base) {
  if (!base.host_is_ip_literal) {
    return IsIpv4LinkLocal(base.host);
  }
  const std::string_view host = base.host;
  constexpr std::string_view kMapped = "::ffff:";
  if (host.size() > kMapped.size() && EqualsIgnoreCase(host.substr(0, kMapped.size()), kMapped)) {
    return IsIpv4LinkLocal(host.substr(kMapped.size()));
  }
  const std::string_view first = host.substr(0, host.find(':'));
  unsigned value = 0;
  auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), value, 16);
  return first.size() == 4 && ec == std::errc() && end == first.data() + first.size() &&
         (value & 0xffc0U) == 0xfe80U;
}

// Multimap helpers: each (key, value) pair is filed at most once.
template <class MultiMap, class Bucket>
void FileOnce(MultiMap& map, const Bucket& bucket, int64_t item) {
  auto [begin, end] = map.equal_range(bucket);
  if (std::none_of(begin, end, [item](const auto& entry) { return entry.second == item; })) {
    map.emplace(bucket, item);
  }
}

template <class MultiMap, class Bucket>
void Unfile(MultiMap& map, const Bucket& bucket, int64_t item) {
  auto [begin, end] = map.equal_range(bucket);
  auto it = std::find_if(begin, end, [item](const auto& entry) { return entry.second == item; });
  if (it != end) {
    map.erase(it);
  }
}

// Gives back the slack of vectors and strings grown while parsing: the index keeps registrations
// for their whole lifetime, so capacity is memory held per registration.
void ShrinkToFit(Registration& registration) {
  for (std::string* text : {&registration.device_id, &registration.ep, &registration.sector,
                            &registration.base, &registration.et, &registration.owner}) {
    text->shrink_to_fit();
  }
  auto shrink_attributes = [](std::vector<linkformat::Attribute>& attributes) {
    attributes.shrink_to_fit();
    for (linkformat::Attribute& attribute : attributes) {
      attribute.name.shrink_to_fit();
      if (attribute.value) {
        attribute.value->shrink_to_fit();
      }
    }
  };
  shrink_attributes(registration.extra);
  registration.links.shrink_to_fit();
  for (linkformat::Link& link : registration.links) {
    link.target.shrink_to_fit();
    shrink_attributes(link.attributes);
  }
}

void CheckKey(int64_t key, const char* what) {
  if (key < 0 || key > Index::kMaxKey) {
    throw std::out_of_range(std::string("rd::Index: ") + what + " key " + std::to_string(key) +
                            " outside 0..2^62-1");
  }
}

}  // namespace

SplitString IndexedRegistration::Target(size_t i) const {
  if (resolution_) {
    const Span& span = resolution_->spans[i];
    return SplitString{Stored(span.target_begin, span.target_end), {}};
  }
  const std::string& target = registration_.links[i].target;
  if ((FormOf(i) & kTargetAsIs) != 0) {
    return SplitString{target, {}};
  }
  return SplitString{registration_.base, target};
}

std::optional<SplitString> IndexedRegistration::Anchor(size_t i) const {
  if (resolution_) {
    const Span& span = resolution_->spans[i];
    if (span.anchor_begin == UINT32_MAX) {
      return std::nullopt;
    }
    return SplitString{Stored(span.anchor_begin, span.anchor_end), {}};
  }
  const unsigned form = FormOf(i);
  if ((form & (kAnchorJoined | kAnchorAsIs)) == 0) {
    return std::nullopt;
  }
  // ComputeForms only sets an anchor form for a link whose first anchor attribute has a value.
  const std::string_view anchor = *registration_.links[i].Find("anchor");
  if ((form & kAnchorAsIs) != 0) {
    return SplitString{anchor, {}};
  }
  return SplitString{registration_.base, anchor};
}

void IndexedRegistration::AppendLinkText(size_t i, std::string* out) const {
  if (resolution_) {
    const Span& span = resolution_->spans[i];
    out->append(Stored(span.text_begin, span.text_end));
    return;
  }
  const SplitString target = Target(i);
  out->push_back('<');
  out->append(target.head).append(target.tail);
  out->push_back('>');
  const std::optional<SplitString> anchor = Anchor(i);
  for (const linkformat::Attribute& attribute : registration_.links[i].attributes) {
    if (anchor && attribute.value && EqualsIgnoreCase(attribute.name, "anchor")) {
      AppendQuotedParameter(attribute.name, *anchor, out);
    } else {
      AppendParameter(
          attribute.name,
          attribute.value ? std::optional<std::string_view>(*attribute.value) : std::nullopt, out);
    }
  }
}

// One indexed (name, value) of a registration; views point into the registration.
struct Index::Token {
  std::string name;  // lower-case
  std::string_view value;
  bool present_only = false;  // no value to index: filed under NameIndex::present

  bool operator<(const Token& other) const {
    return std::tie(name, present_only, value) <
           std::tie(other.name, other.present_only, other.value);
  }
  bool operator==(const Token& other) const {
    return name == other.name && present_only == other.present_only && value == other.value;
  }
};

Index::Index() = default;
Index::~Index() = default;
// Moving keeps the map nodes, so the views in names_ and device_ids_ stay valid.
Index::Index(Index&&) noexcept = default;
Index& Index::operator=(Index&&) noexcept = default;

std::vector<Index::Token> Index::TokensOf(const Registration& registration) {
  std::vector<Token> tokens;
  auto add = [&tokens](std::string_view name, const std::optional<std::string>& value) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
    if (lower == "href" || lower == "anchor") {
      return;  // Matched against the resolved target/anchor and the location, filed by hash.
    }
    if (!value) {
      tokens.push_back(Token{std::move(lower), {}, true});
      return;
    }
    if (!linkformat::IsRelationTypes(lower)) {
      tokens.push_back(Token{std::move(lower), *value, false});
      return;
    }
    const std::string_view text = *value;
    bool any = false;
    for (size_t i = 0; i < text.size();) {
      while (i < text.size() && IsSpace(text[i])) {
        ++i;
      }
      const size_t start = i;
      while (i < text.size() && !IsSpace(text[i])) {
        ++i;
      }
      if (i > start) {
        tokens.push_back(Token{lower, text.substr(start, i - start), false});
        any = true;
      }
    }
    if (!any) {
      tokens.push_back(Token{std::move(lower), {}, true});
    }
  };
  if (!registration.sector.empty()) {
    tokens.push_back(Token{"d", registration.sector, false});
  }
  if (!registration.et.empty()) {
    tokens.push_back(Token{"et", registration.et, false});
  }
  for (const auto& attribute : registration.extra) {
    add(attribute.name, attribute.value);
  }
  for (const auto& link : registration.links) {
    for (const auto& attribute : link.attributes) {
      add(attribute.name, attribute.value);
    }
  }
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  return tokens;
}

void Index::AddTokens(const std::vector<Token>& tokens, int64_t key) {
  for (const Token& token : tokens) {
    auto name = attributes_.find(token.name);
    if (name == attributes_.end()) {
      name = attributes_.emplace(token.name, NameIndex{}).first;
    }
    if (token.present_only) {
      name->second.present.Insert(key);
      continue;
    }
    NameIndex& values = name->second;
    ValueMap::value_type* value = values.exact.Find(token.value);
    if (value == nullptr) {
      value = &*values.values.emplace(std::string(token.value), detail::Posting{}).first;
      values.exact.Insert(value);
    }
    value->second.Insert(key);
  }
}

void Index::EraseTokens(const std::vector<Token>& tokens, int64_t key) {
  for (const Token& token : tokens) {
    auto name = attributes_.find(token.name);
    if (name == attributes_.end()) {
      continue;
    }
    NameIndex& values = name->second;
    if (token.present_only) {
      values.present.Erase(key);
    } else if (ValueMap::value_type* value = values.exact.Find(token.value); value != nullptr) {
      value->second.Erase(key);
      if (value->second.empty()) {
        values.exact.Erase(value);
        values.values.erase(values.values.find(token.value));
      }
    }
    if (values.values.empty() && values.present.empty()) {
      attributes_.erase(name);
    }
  }
}

void Index::Resolve(IndexedRegistration& entry) {
  ++resolutions_;
  entry.resolution_.reset();
  entry.forms_ = 0;
  entry.resolved_ = true;
  entry.link_local_ = false;
  Result<linkformat::Uri> base = linkformat::ParseUri(entry.registration_.base);
  entry.origin_hash_ = Hash(base.ok() ? base->Origin() : std::string());
  if (!base.ok()) {
    entry.resolved_ = false;
    StoreResolution(entry, nullptr);
    return;
  }
  entry.link_local_ = IsLinkLocal(*base);
  if (!ComputeForms(entry, *base)) {
    StoreResolution(entry, &*base);
  }
}

// Records, per link, whether the target and first anchor resolve to "base + reference" or to the
// reference itself, then checks that the computed text equals what AppendLink writes for the
// resolved link. False if any link does not fit; the forms are then meaningless.
bool Index::ComputeForms(IndexedRegistration& entry, const linkformat::Uri& base) {
  const Registration& registration = entry.registration_;
  if (registration.links.size() > IndexedRegistration::kMaxComputedLinks) {
    return false;
  }
  std::string expected;
  std::string computed;
  for (size_t i = 0; i < registration.links.size(); ++i) {
    const linkformat::Link& link = registration.links[i];
    Result<linkformat::Link> shown = linkformat::ToLookupLink(base, link);
    if (!shown.ok()) {
      return false;
    }
    uint64_t form = 0;
    if (shown->target == link.target) {
      form |= IndexedRegistration::kTargetAsIs;
    } else if (!SplitString{registration.base, link.target}.Equals(shown->target)) {
      return false;
    }
    if (const auto* anchor = link.FindAttribute("anchor"); anchor != nullptr && anchor->value) {
      const std::string_view resolved = *shown->Find("anchor");
      if (resolved == *anchor->value) {
        form |= IndexedRegistration::kAnchorAsIs;
      } else if (SplitString{registration.base, *anchor->value}.Equals(resolved)) {
        form |= IndexedRegistration::kAnchorJoined;
      } else {
        return false;
      }
    }
    entry.forms_ |= form << (3 * i);
    expected.clear();
    linkformat::AppendLink(*shown, &expected);
    computed.clear();
    entry.AppendLinkText(i, &computed);
    if (computed != expected) {
      return false;
    }
  }
  return true;
}

// Stores every link's lookup form; with no usable base, links are kept as registered.
void Index::StoreResolution(IndexedRegistration& entry, const linkformat::Uri* base) {
  auto resolution = std::make_unique<IndexedRegistration::Resolution>();
  std::string& text = resolution->text;
  // Points [*begin, *end) at `value`: inside the link's own text when it occurs there verbatim
  // (the usual case), else appended after it.
  auto locate = [&text](std::string_view value, uint32_t link_begin, uint32_t* begin,
                        uint32_t* end) {
    size_t at = text.find(value, link_begin);
    if (at == std::string::npos) {
      at = text.size();
      text.append(value);
    }
    *begin = static_cast<uint32_t>(at);
    *end = static_cast<uint32_t>(at + value.size());
  };
  for (const linkformat::Link& link : entry.registration_.links) {
    std::optional<linkformat::Link> lookup_link;
    if (base != nullptr) {
      if (Result<linkformat::Link> resolved = linkformat::ToLookupLink(*base, link);
          resolved.ok()) {
        lookup_link = std::move(*resolved);
      } else {
        entry.resolved_ = false;
      }
    }
    const linkformat::Link& shown = lookup_link ? *lookup_link : link;
    IndexedRegistration::Span span;
    span.text_begin = static_cast<uint32_t>(text.size());
    linkformat::AppendLink(shown, &text);
    span.text_end = static_cast<uint32_t>(text.size());
    locate(shown.target, span.text_begin, &span.target_begin, &span.target_end);
    if (const linkformat::Attribute* anchor = shown.FindAttribute("anchor")) {
      std::string_view value;
      if (anchor->value) {
        value = *anchor->value;
      }
      locate(value, span.text_begin, &span.anchor_begin, &span.anchor_end);
    }
    resolution->spans.push_back(span);
  }
  text.shrink_to_fit();
  resolution->spans.shrink_to_fit();
  entry.resolution_ = std::move(resolution);
}

template <class Op>
void Index::ForEachElsewhere(const IndexedRegistration& entry, Op&& op) {
  const std::string base_origin = OriginOf(entry.registration_.base);
  for (size_t i = 0; i < entry.link_count(); ++i) {
    if (const std::string target = entry.Target(i).str(); OriginOf(target) != base_origin) {
      op(other_targets_, Hash(target));
    }
    if (const std::optional<SplitString> anchor = entry.Anchor(i)) {
      if (const std::string text = anchor->str(); OriginOf(text) != base_origin) {
        op(other_anchors_, Hash(text));
      }
    }
  }
}

void Index::FileHashes(const IndexedRegistration& entry) {
  const int64_t key = entry.key();
  origins_.emplace(entry.origin_hash_, key);
  ForEachElsewhere(entry, [key](HashPostings& map, uint64_t hash) { FileOnce(map, hash, key); });
}

void Index::UnfileHashes(const IndexedRegistration& entry) {
  const int64_t key = entry.key();
  Unfile(origins_, entry.origin_hash_, key);
  ForEachElsewhere(entry, [key](HashPostings& map, uint64_t hash) { Unfile(map, hash, key); });
}

void Index::FileNames(const IndexedRegistration& entry) {
  const Registration& registration = entry.registration_;
  auto [it, inserted] =
      names_.try_emplace(NameKey(registration.ep, registration.sector), registration.key);
  if (inserted) {
    names_by_ep_.Insert(&*it);
  } else {
    it->second = registration.key;
  }
  if (!registration.device_id.empty()) {
    FileOnce(device_ids_, Hash(registration.device_id), registration.key);
  }
}

void Index::UnfileNames(const IndexedRegistration& entry) {
  const Registration& registration = entry.registration_;
  if (auto it = names_.find(NameKey(registration.ep, registration.sector));
      it != names_.end() && it->second == registration.key) {
    names_by_ep_.Erase(&*it);
    names_.erase(it);
  }
  Unfile(device_ids_, Hash(registration.device_id), registration.key);
}

void Index::Put(Registration registration) {
  CheckKey(registration.key, "registration");
  ShrinkToFit(registration);
  if (const Registration* other = FindByName(registration.sector, registration.ep);
      other != nullptr && other->key != registration.key) {
    Remove(other->key);
  }
  const int64_t key = registration.key;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    auto& item = *entries_.try_emplace(key).first;
    entries_by_key_.Insert(&item);
    IndexedRegistration& entry = item.second;
    entry.registration_ = std::move(registration);
    AddTokens(TokensOf(entry.registration_), key);
    Resolve(entry);
    FileHashes(entry);
    FileNames(entry);
    return;
  }
  IndexedRegistration& entry = it->second;
  // Only the difference reaches the posting lists: a refresh leaves them alone.
  const std::vector<Token> before = TokensOf(entry.registration_);
  const std::vector<Token> after = TokensOf(registration);
  std::vector<Token> changed;
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(changed));
  EraseTokens(changed, key);
  changed.clear();
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(changed));
  AddTokens(changed, key);

  const bool relink = entry.registration_.base != registration.base ||
                      entry.registration_.links != registration.links;
  if (relink) {
    UnfileHashes(entry);
  }
  UnfileNames(entry);  // its views point into the strings about to be replaced
  entry.registration_ = std::move(registration);
  if (relink) {
    Resolve(entry);
    FileHashes(entry);
  }
  FileNames(entry);
}

bool Index::Remove(int64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    return false;
  }
  EraseTokens(TokensOf(it->second.registration_), key);
  UnfileHashes(it->second);
  UnfileNames(it->second);
  entries_by_key_.Erase(&*it);
  entries_.erase(it);
  return true;
}

const IndexedRegistration* Index::FindIndexed(int64_t key) const {
  const Entries::value_type* item = entries_by_key_.Find(key);
  return item == nullptr ? nullptr : &item->second;
}

const Registration* Index::Find(int64_t key) const {
  const IndexedRegistration* entry = FindIndexed(key);
  return entry == nullptr ? nullptr : &entry->registration();
}

const Registration* Index::FindByName(std::string_view sector, std::string_view ep) const {
  const Registration* found = nullptr;
  names_by_ep_.ForEach(ep, [this, sector, &found](const NameMap::value_type& item) {
    if (item.first.second != sector) {
      return true;
    }
    found = Find(item.second);
    return false;
  });
  return found;
}

const Registration* Index::FindByDeviceId(std::string_view device_id) const {
  auto [begin, end] = device_ids_.equal_range(Hash(device_id));
  for (auto it = begin; it != end; ++it) {
    const Registration* registration = Find(it->second);
    if (registration != nullptr && registration->device_id == device_id) {
      return registration;
    }
  }
  return nullptr;
}

void Index::EraseMemberships(const Group& group) {
  for (const int64_t member : group.member_keys) {
    Unfile(memberships_, member, group.key);
  }
}

void Index::PutGroup(Group group) {
  CheckKey(group.key, "group");
  if (const Group* other = FindGroupByName(group.sector, group.name);
      other != nullptr && other->key != group.key) {
    RemoveGroup(other->key);
  }
  auto it = groups_.find(group.key);
  if (it != groups_.end()) {
    EraseMemberships(it->second);
    group_names_.erase({it->second.name, it->second.sector});
  }
  Group& stored = groups_[group.key];
  stored = std::move(group);
  group_names_[{stored.name, stored.sector}] = stored.key;
  for (const int64_t member : stored.member_keys) {
    FileOnce(memberships_, member, stored.key);
  }
}

bool Index::RemoveGroup(int64_t key) {
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    return false;
  }
  EraseMemberships(it->second);
  group_names_.erase({it->second.name, it->second.sector});
  groups_.erase(it);
  return true;
}

const Group* Index::FindGroup(int64_t key) const {
  auto it = groups_.find(key);
  return it == groups_.end() ? nullptr : &it->second;
}

const Group* Index::FindGroupByName(std::string_view sector, std::string_view name) const {
  auto it = group_names_.find({std::string(name), std::string(sector)});
  return it == group_names_.end() ? nullptr : FindGroup(it->second);
}

std::vector<const Group*> Index::GroupsOf(int64_t registration_key) const {
  std::vector<const Group*> groups;
  auto [begin, end] = memberships_.equal_range(registration_key);
  for (auto it = begin; it != end; ++it) {
    groups.push_back(&groups_.at(it->second));
  }
  std::sort(groups.begin(), groups.end(),
            [](const Group* a, const Group* b) { return a->key < b->key; });
  return groups;
}

bool Index::InGroupMatching(int64_t key, const Criterion& gp) const {
  auto [begin, end] = memberships_.equal_range(key);
  return std::any_of(begin, end, [this, &gp](const auto& item) {
    return gp.Matches(groups_.at(item.second).name);
  });
}

template <class Visit>
void Index::VisitPostings(const Criterion& criterion, Visit&& visit) const {
  if (criterion.name == "href" || criterion.name == "anchor") {
    return;
  }
  auto name = attributes_.find(criterion.name);
  if (name == attributes_.end()) {
    return;
  }
  const auto& values = name->second.values;
  switch (criterion.kind) {
    case MatchKind::kExact:
      if (const ValueMap::value_type* item = name->second.exact.Find(criterion.value)) {
        visit(item->second);
      }
      return;
    case MatchKind::kPrefix:
      for (auto it = values.lower_bound(criterion.value);
           it != values.end() && StartsWith(it->first, criterion.value); ++it) {
        if (!visit(it->second)) {
          return;
        }
      }
      return;
    case MatchKind::kAny:
      if (!visit(name->second.present)) {
        return;
      }
      for (const auto& [value, posting] : values) {
        if (!visit(posting)) {
          return;
        }
      }
      return;
  }
}

template <class Visit>
bool Index::VisitSpecial(const Criterion& criterion, Visit&& visit) const {
  const std::string& name = criterion.name;
  const bool exact = criterion.kind == MatchKind::kExact;
  auto visit_hashed = [&visit](const HashPostings& map, uint64_t hash) {
    auto [begin, end] = map.equal_range(hash);
    for (auto it = begin; it != end; ++it) {
      if (!visit(it->second)) {
        return false;
      }
    }
    return true;
  };
  if (name == "ep") {
    if (criterion.kind == MatchKind::kAny) {
      return false;
    }
    if (exact) {
      names_by_ep_.ForEach(criterion.value, [&visit](const NameMap::value_type& item) {
        return visit(item.second);
      });
      return true;
    }
    for (auto it = names_.lower_bound(NameKey(criterion.value, std::string_view()));
         it != names_.end() && StartsWith(it->first.first, criterion.value); ++it) {
      if (!visit(it->second)) {
        break;
      }
    }
    return true;
  }
  if (name == "gp") {
    for (const auto& [group_name, group_key] : group_names_) {
      if (!criterion.Matches(group_name.first)) {
        continue;
      }
      for (const int64_t member : groups_.at(group_key).member_keys) {
        if (FindIndexed(member) != nullptr && !visit(member)) {
          return true;
        }
      }
    }
    return true;
  }
  if (name != "base" && name != "href" && name != "anchor") {
    return true;
  }
  if (!exact) {
    return false;  // Prefix searches on URIs scan (hashes cannot answer them).
  }
  if (name == "href") {
    if (std::optional<std::string> path = criterion.LocationForm();
        path && StartsWith(*path, kRegistrationPath)) {
      const std::string_view location = *path;
      std::optional<uint64_t> key = ParseNumber(location.substr(kRegistrationPath.size()));
      if (key && *key <= static_cast<uint64_t>(kMaxKey) &&
          FindIndexed(static_cast<int64_t>(*key)) != nullptr &&
          !visit(static_cast<int64_t>(*key))) {
        return true;
      }
    }
  }
  if (!visit_hashed(origins_, Hash(OriginOf(criterion.value)))) {
    return true;
  }
  if (name == "href") {
    visit_hashed(other_targets_, Hash(criterion.value));
  } else if (name == "anchor") {
    visit_hashed(other_anchors_, Hash(criterion.value));
  }
  return true;
}

size_t Index::EstimateCandidates(const Criterion& criterion, size_t limit) const {
  size_t count = 0;
  VisitPostings(criterion, [&count, limit](const detail::Posting& posting) {
    count += posting.size();
    return count <= limit;
  });
  if (count > limit) {
    return count;
  }
  const bool indexed = VisitSpecial(criterion, [&count, limit](int64_t) {
    ++count;
    return count <= limit;
  });
  return indexed ? count : entries_.size();
}

std::optional<std::vector<int64_t>> Index::Candidates(const Criterion& criterion,
                                                      size_t limit) const {
  std::vector<int64_t> keys;
  size_t sources = 0;
  bool over = false;  // counted before copying: a common value's posting may be long
  VisitPostings(criterion, [&keys, &sources, &over, limit](const detail::Posting& posting) {
    if (posting.empty()) {
      return true;
    }
    if (keys.size() + posting.size() > limit) {
      over = true;
      return false;
    }
    ++sources;
    posting.AppendTo(&keys);
    return true;
  });
  if (over) {
    return std::nullopt;
  }
  const size_t from_postings = keys.size();
  if (!VisitSpecial(criterion,
                    [&keys, limit](int64_t key) {
                      keys.push_back(key);
                      return keys.size() <= limit;
                    }) ||
      keys.size() > limit) {
    return std::nullopt;
  }
  if (sources > 1 || keys.size() != from_postings) {
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  }
  return keys;
}

size_t Index::PostingHeapBytes() const {
  size_t bytes = 0;
  for (const auto& [name, values] : attributes_) {
    bytes += values.present.HeapBytes();
    for (const auto& [value, posting] : values.values) {
      bytes += posting.HeapBytes();
    }
  }
  return bytes;
}

}  // namespace coapgw::rd
