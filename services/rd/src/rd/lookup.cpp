#include "rd/lookup.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "rd/link_writer.hpp"

namespace coapgw::rd {

namespace {

constexpr std::string_view kRegistrationPath = "/rd/";
constexpr std::string_view kGroupPath = "/rd-group/";
constexpr size_t kReserveLimit = 1 << 20;

// Attribute names as registered may use any case; criterion names are lower-case already.
bool NameIs(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a + 32) : a) == b;
         });
}

// Starts the next link of a lookup payload: "," unless first, then "<" path key ">".
void StartLink(std::string_view path, int64_t key, std::string* out) {
  if (!out->empty()) {
    out->push_back(',');
  }
  out->push_back('<');
  out->append(path);
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, key);
  (void)ec;  // 24 bytes hold every int64_t
  out->append(digits, end);
  out->push_back('>');
}

bool Matches(const Criterion& criterion, const SplitString& value) {
  switch (criterion.kind) {
    case MatchKind::kExact:
      return value.Equals(criterion.value);
    case MatchKind::kPrefix:
      return value.StartsWith(criterion.value);
    case MatchKind::kAny:
      return true;
  }
  return false;
}

// Pagination over the ordered matches: which to write, and when the scan may stop.
class Pager {
 public:
  explicit Pager(const LookupQuery& query) {
    if (query.count) {
      limit_ = *query.count;
      skip_ = static_cast<uint64_t>(query.page.value_or(0)) * *query.count;
    }
  }

  // Counts a match; true if it belongs to the page.
  bool Take(LookupResult* result) const {
    ++result->matched;
    if (result->matched <= skip_) {
      return false;
    }
    if (result->returned < limit_) {
      ++result->returned;
      return true;
    }
    result->more = true;
    return false;
  }
  static bool Done(const LookupResult& result) { return result.more; }
  uint64_t limit() const { return limit_; }

 private:
  uint64_t skip_ = 0;
  uint64_t limit_ = std::numeric_limits<uint64_t>::max();
};

// The query with what each criterion needs precomputed.
class Matcher {
 public:
  // Criterion names with a meaning of their own; the rest are plain attributes. Told apart once
  // per query rather than per link.
  enum class Name { kHref, kAnchor, kEp, kD, kEt, kBase, kGp, kOther };
  Matcher(const Index& index, const LookupQuery& query) : index_(index), query_(query) {
    const size_t n = query.criteria.size();
    all_ = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    names_.reserve(n);
    for (const Criterion& criterion : query.criteria) {
      names_.push_back(NameOf(criterion.name));
    }
  }

  uint64_t all() const { return all_; }
  size_t size() const { return query_.criteria.size(); }

  bool Visible(const IndexedRegistration& entry) const {
    return !entry.link_local() || query_.requester_on_link;
  }

  // Bit i set: the registration's own endpoint attributes satisfy criterion i.
  uint64_t EndpointBits(const IndexedRegistration& entry) const {
    uint64_t bits = 0;
    for (size_t i = 0; i < size(); ++i) {
      if (EndpointHas(entry, i)) {
        bits |= uint64_t{1} << i;
      }
    }
    return bits;
  }

  bool LinkHas(const IndexedRegistration& entry, size_t link, size_t i) const {
    const Criterion& criterion = query_.criteria[i];
    if (names_[i] == Name::kHref) {
      return Matches(criterion, entry.Target(link));
    }
    if (names_[i] == Name::kAnchor) {
      const std::optional<SplitString> anchor = entry.Anchor(link);
      return anchor && Matches(criterion, *anchor);
    }
    return HasAttribute(entry.registration().links[link].attributes, criterion);
  }

  // RFC 9176 §6.2: the endpoint has criterion i or one of its links has it.
  bool EndpointMatches(const IndexedRegistration& entry, size_t i) const {
    if (EndpointHas(entry, i)) {
      return true;
    }
    for (size_t link = 0; link < entry.link_count(); ++link) {
      if (LinkHas(entry, link, i)) {
        return true;
      }
    }
    return false;
  }

  // A location ("/rd/12", "/rd-group/3") against an href criterion, in path or URI form.
  bool LocationMatches(size_t i, std::string_view path, int64_t key) const {
    const Criterion& criterion = query_.criteria[i];
    if (criterion.kind == MatchKind::kAny) {
      return true;
    }
    char buffer[48];  // the longest path plus the longest key
    char* end = std::copy(path.begin(), path.end(), buffer);
    end = std::to_chars(end, buffer + sizeof buffer, key).ptr;
    const std::string_view location(buffer, static_cast<size_t>(end - buffer));
    // Path form, or URI form under rd_base.
    return Matches(criterion, SplitString{location, {}}) ||
           (!query_.rd_base.empty() && Matches(criterion, SplitString{query_.rd_base, location}));
  }

  const Criterion& criterion(size_t i) const { return query_.criteria[i]; }

 private:
  static bool HasAttribute(const std::vector<linkformat::Attribute>& attributes,
                           const Criterion& criterion) {
    return std::any_of(attributes.begin(), attributes.end(), [&criterion](const auto& attribute) {
      return NameIs(attribute.name, criterion.name) &&
             criterion.MatchesAttribute(attribute.value
                                            ? std::optional<std::string_view>(*attribute.value)
                                            : std::nullopt);
    });
  }

  static Name NameOf(std::string_view name) {
    static constexpr std::pair<std::string_view, Name> kNames[] = {
        {"href", Name::kHref}, {"anchor", Name::kAnchor}, {"ep", Name::kEp}, {"d", Name::kD},
        {"et", Name::kEt},     {"base", Name::kBase},     {"gp", Name::kGp}};
    for (const auto& [text, value] : kNames) {
      if (name == text) {
        return value;
      }
    }
    return Name::kOther;
  }

  // The registration's own ep, d, et or base (nullptr when empty or for other names).
  static const std::string* OwnAttribute(const Registration& registration, Name name) {
    const std::string* value = nullptr;
    switch (name) {
      case Name::kEp:
        return &registration.ep;
      case Name::kD:
        value = &registration.sector;
        break;
      case Name::kEt:
        value = &registration.et;
        break;
      case Name::kBase:
        value = &registration.base;
        break;
      default:
        return nullptr;
    }
    return value->empty() ? nullptr : value;
  }

  bool EndpointHas(const IndexedRegistration& entry, size_t i) const {
    const Criterion& criterion = query_.criteria[i];
    const Registration& registration = entry.registration();
    switch (names_[i]) {
      case Name::kHref:
        return LocationMatches(i, kRegistrationPath, registration.key);
      case Name::kAnchor:
        return false;
      case Name::kGp:
        if (index_.InGroupMatching(registration.key, criterion)) {
          return true;
        }
        break;
      default:
        if (const std::string* value = OwnAttribute(registration, names_[i]);
            value != nullptr && criterion.Matches(*value)) {
          return true;
        }
    }
    return HasAttribute(registration.extra, criterion);
  }

  const Index& index_;
  const LookupQuery& query_;
  std::vector<Name> names_;  // per criterion
  uint64_t all_ = 0;
};

// The registrations that can match: the candidates of the most selective criterion (the
// caller checks every criterion), or all of them (keys == nullopt) when no criterion narrows the
// search to a quarter of the registrations.
struct Candidates {
  std::optional<std::vector<int64_t>> keys;
  size_t size = 0;
};

Candidates SelectCandidates(const Index& index, const LookupQuery& query) {
  // Candidates are worth it only when they are few: each costs a map probe, while a scan walks
  // the map in order and, for a paged query, stops after the page.
  const size_t few = index.size() / 4;  // fewer than this
  Candidates candidates;
  if (query.criteria.size() == 1) {
    // Nothing to choose between: one pass over the index instead of an estimate and a pass.
    if (few > 0) {
      candidates.keys = index.Candidates(query.criteria.front(), few - 1);
    }
  } else {
    const Criterion* best = nullptr;
    size_t best_count = few;
    for (const Criterion& criterion : query.criteria) {
      const size_t count = index.EstimateCandidates(criterion, best_count);
      if (count < best_count) {
        best = &criterion;
        best_count = count;
      }
    }
    if (best != nullptr) {
      candidates.keys = index.Candidates(*best);
    }
  }
  candidates.size = candidates.keys ? candidates.keys->size() : index.size();
  return candidates;
}

// Calls visit(entry) for each candidate in key order until it returns false.
template <class Visit>
void ForEachCandidate(const Index& index, const Candidates& candidates, Visit&& visit) {
  if (!candidates.keys) {
    for (const IndexedRegistration& entry : index.AllIndexed()) {
      if (!visit(entry)) {
        return;
      }
    }
    return;
  }
  for (const int64_t key : *candidates.keys) {
    const IndexedRegistration* entry = index.FindIndexed(key);
    if (entry != nullptr && !visit(*entry)) {
      return;
    }
  }
}

// Payload bytes to reserve for up to `items` results of about `per_item` bytes.
size_t ReserveFor(size_t items, const Pager& pager, size_t per_item) {
  return static_cast<size_t>(
      std::min<uint64_t>({static_cast<uint64_t>(items), pager.limit(), kReserveLimit}) * per_item);
}

}  // namespace

LookupResult LookupResources(const Index& index, const LookupQuery& query) {
  LookupResult result;
  const Matcher matcher(index, query);
  Pager pager(query);
  auto write = [&result](const IndexedRegistration& entry, size_t link) {
    if (!result.payload.empty()) {
      result.payload.push_back(',');
    }
    entry.AppendLinkText(link, &result.payload);
  };
  const Candidates candidates = SelectCandidates(index, query);
  result.payload.reserve(ReserveFor(candidates.size, pager, size_t{3} * 80));
  ForEachCandidate(index, candidates, [&](const IndexedRegistration& entry) {
    if (!matcher.Visible(entry)) {
      return true;
    }
    const uint64_t own = matcher.EndpointBits(entry);
    for (size_t link = 0; link < entry.link_count(); ++link) {
      bool match = true;
      for (size_t i = 0; match && i < matcher.size(); ++i) {
        match = ((own >> i) & 1U) != 0 || matcher.LinkHas(entry, link, i);
      }
      if (match && pager.Take(&result)) {
        write(entry, link);
      }
      if (Pager::Done(result)) {
        return false;
      }
    }
    return true;
  });
  return result;
}

LookupResult LookupEndpoints(const Index& index, const LookupQuery& query) {
  LookupResult result;
  const Matcher matcher(index, query);
  Pager pager(query);
  const Candidates candidates = SelectCandidates(index, query);
  result.payload.reserve(ReserveFor(candidates.size, pager, 100));
  ForEachCandidate(index, candidates, [&](const IndexedRegistration& entry) {
    if (!matcher.Visible(entry)) {
      return true;
    }
    for (size_t i = 0; i < matcher.size(); ++i) {
      if (!matcher.EndpointMatches(entry, i)) {
        return true;
      }
    }
    if (pager.Take(&result)) {
      const Registration& registration = entry.registration();
      std::string& out = result.payload;
      StartLink(kRegistrationPath, registration.key, &out);
      if (!registration.base.empty()) {
        AppendQuotedParameter("base", SplitString{registration.base, {}}, &out);
      }
      AppendParameter("ep", registration.ep, &out);
      if (!registration.et.empty()) {
        AppendParameter("et", registration.et, &out);
      }
      for (const linkformat::Attribute& attribute : registration.extra) {
        AppendParameter(
            attribute.name,
            attribute.value ? std::optional<std::string_view>(*attribute.value) : std::nullopt,
            &out);
      }
      if (!registration.sector.empty()) {
        AppendParameter("d", registration.sector, &out);
      }
      out.append(";rt=core.rd-ep");
    }
    return !Pager::Done(result);
  });
  return result;
}

LookupResult LookupGroups(const Index& index, const LookupQuery& query) {
  LookupResult result;
  const Matcher matcher(index, query);
  Pager pager(query);
  auto group_has = [&](const Group& group, size_t i) {
    const Criterion& criterion = matcher.criterion(i);
    const std::string& name = criterion.name;
    if (name == "gp") {
      return criterion.Matches(group.name);
    }
    if (name == "d") {
      return !group.sector.empty() && criterion.Matches(group.sector);
    }
    if (name == "base") {
      return !group.base.empty() && criterion.Matches(group.base);
    }
    if (name == "href") {
      return matcher.LocationMatches(i, kGroupPath, group.key);
    }
    return std::any_of(group.member_keys.begin(), group.member_keys.end(), [&](int64_t key) {
      const IndexedRegistration* member = index.FindIndexed(key);
      return member != nullptr && matcher.Visible(*member) && matcher.EndpointMatches(*member, i);
    });
  };
  for (const Group& group : index.Groups()) {
    bool match = true;
    for (size_t i = 0; match && i < matcher.size(); ++i) {
      match = group_has(group, i);
    }
    if (match && pager.Take(&result)) {
      std::string& out = result.payload;
      StartLink(kGroupPath, group.key, &out);
      AppendParameter("gp", group.name, &out);
      if (!group.sector.empty()) {
        AppendParameter("d", group.sector, &out);
      }
      if (!group.base.empty()) {
        AppendQuotedParameter("base", SplitString{group.base, {}}, &out);
      }
    }
    if (Pager::Done(result)) {
      break;
    }
  }
  return result;
}

}  // namespace coapgw::rd
