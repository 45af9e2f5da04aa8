#pragma once

// The Resource Directory's in-memory state: every registration and group, with the secondary
// indexes lookups need (RFC 9176 §6) so that a filtered lookup touches only candidate
// registrations. Pure code, no I/O. Not thread-safe: owned and used by the CoAP loop thread (even
// const functions may reorder internal posting lists).
//
// What is indexed, per registration:
// - by key (iteration in key order), by (sector, ep), by device id;
// - an inverted index (lower-case attribute name, value) -> keys over the endpoint attributes d,
//   et and the extra attributes, and over every link attribute except anchor; relation-type
//   values (rel, rev, rt, if) are split on whitespace; attributes without a value (or with an
//   empty relation-type list) are indexed as "present";
// - ep through the (sector, ep) index; base, link targets and anchors through hashes: a
//   registration is filed under the Origin of its base (which covers every target or anchor
//   resolved to that origin), and only targets and anchors with another origin are filed
//   separately. Exact href/anchor/base searches are thus answered from candidates; prefix
//   searches on them scan.
// Each registration's links are resolved against its base (linkformat::ToLookupLink) and
// serialized once, when Put changes the base or the links, so lookups copy bytes and do no URI
// work.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rd/lookup_query.hpp"
#include "rd/posting.hpp"
#include "rd/registration.hpp"

namespace coapgw::rd {

/// A registration as the index holds it, with its lookup representation precomputed.
class IndexedRegistration {
 public:
  const Registration& registration() const { return registration_; }
  int64_t key() const { return registration_.key; }

  /// Number of links (equal to registration().links.size()).
  size_t link_count() const { return spans_.size(); }
  /// Link `i` as resource lookup returns it: link-format, target resolved against the base,
  /// anchor resolved if present, other attributes unchanged (RFC 9176 §6.1).
  std::string_view LinkText(size_t i) const {
    return View(spans_[i].text_begin, spans_[i].text_end);
  }
  /// The resolved target URI of link `i`.
  std::string_view Target(size_t i) const {
    return View(spans_[i].target_begin, spans_[i].target_end);
  }
  /// The resolved anchor of link `i`, or nullopt if the link has no anchor attribute.
  std::optional<std::string_view> Anchor(size_t i) const;

  /// True if the base URI's host is a link-local address (fe80::/10 or 169.254.0.0/16).
  bool link_local() const { return link_local_; }
  /// False if the base could not be used to resolve every link; such links are kept as
  /// registered (the directory validates bases, so this only guards against bad stored data).
  bool resolved() const { return resolved_; }

 private:
  friend class Index;

  static constexpr uint32_t kNoAnchor = UINT32_MAX;
  enum SpanFlags : uint8_t {
    kTargetElsewhere = 1,  // the target's Origin differs from the base's: filed separately
    kAnchorElsewhere = 2,  // likewise for the anchor
  };
  // Offsets into text_: the link's serialization, its resolved target and anchor.
  struct Span {
    uint32_t text_begin = 0;
    uint32_t text_end = 0;
    uint32_t target_begin = 0;
    uint32_t target_end = 0;
    uint32_t anchor_begin = kNoAnchor;
    uint32_t anchor_end = kNoAnchor;
    uint8_t flags = 0;
  };

  std::string_view View(uint32_t begin, uint32_t end) const {
    return std::string_view(text_).substr(begin, end - begin);
  }

  Registration registration_;
  std::string text_;  // serialized lookup links, and targets/anchors not found verbatim in them
  std::vector<Span> spans_;
  uint64_t origin_hash_ = 0;  // hash of the base's Origin
  bool link_local_ = false;
  bool resolved_ = true;
};

/// Iterates a map's values in key order, projected by `Projection`.
template <class Map, class Projection>
class MapValues {
 public:
  class Iterator {
   public:
    explicit Iterator(typename Map::const_iterator it) : it_(it) {}
    decltype(auto) operator*() const { return Projection{}(it_->second); }
    Iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator!=(const Iterator& other) const { return it_ != other.it_; }
    bool operator==(const Iterator& other) const { return it_ == other.it_; }

   private:
    typename Map::const_iterator it_;
  };

  explicit MapValues(const Map& map) : map_(&map) {}
  Iterator begin() const { return Iterator(map_->begin()); }
  Iterator end() const { return Iterator(map_->end()); }
  size_t size() const { return map_->size(); }

 private:
  const Map* map_;
};

class Index {
 private:
  struct AsRegistration {
    const Registration* operator()(const IndexedRegistration& e) const { return &e.registration(); }
  };
  struct AsEntry {
    const IndexedRegistration& operator()(const IndexedRegistration& e) const { return e; }
  };
  struct AsGroup {
    const Group& operator()(const Group& g) const { return g; }
  };
  using Entries = std::map<int64_t, IndexedRegistration>;

 public:
  /// Registrations by key, as `const Registration*`, in key order.
  using RegistrationRange = MapValues<Entries, AsRegistration>;
  /// Registrations by key, as `const IndexedRegistration&`, in key order.
  using EntryRange = MapValues<Entries, AsEntry>;
  /// Groups by key, as `const Group&`, in key order.
  using GroupRange = MapValues<std::map<int64_t, Group>, AsGroup>;

  /// Keys must lie in 0..kMaxKey (database serials do).
  static constexpr int64_t kMaxKey = (int64_t{1} << 62) - 1;

  Index();
  ~Index();
  Index(const Index&) = delete;
  Index& operator=(const Index&) = delete;
  Index(Index&&) noexcept;
  Index& operator=(Index&&) noexcept;

  // Registrations.

  /// Inserts `registration`, or replaces the one with the same key. Another registration with
  /// the same (sector, ep) under a different key is removed first, so names stay unique. Links
  /// are resolved again only if the base or the links changed (a lifetime refresh does no URI
  /// work). Throws std::out_of_range if the key is outside 0..kMaxKey (a broken invariant).
  void Put(Registration registration);
  /// Removes registration `key`; false if there was none. Group memberships stay (a group lists
  /// keys, which survive expiry); lookups skip members that are not registered.
  bool Remove(int64_t key);
  /// The registration `key`, or nullptr. Valid until the next Put or Remove of that key.
  const Registration* Find(int64_t key) const;
  /// As Find, with the lookup representation.
  const IndexedRegistration* FindIndexed(int64_t key) const;
  /// The registration of endpoint `ep` in sector `sector` ("" for none), or nullptr.
  const Registration* FindByName(std::string_view sector, std::string_view ep) const;
  /// The registration whose device_id is `device_id` (non-empty), or nullptr.
  const Registration* FindByDeviceId(std::string_view device_id) const;
  size_t size() const { return entries_.size(); }
  RegistrationRange All() const { return RegistrationRange(entries_); }
  EntryRange AllIndexed() const { return EntryRange(entries_); }

  // Groups (draft-11 /rd-group).

  /// Inserts `group` or replaces the one with the same key; another group with the same
  /// (sector, name) under a different key is removed first. Throws std::out_of_range for keys
  /// outside 0..kMaxKey.
  void PutGroup(Group group);
  /// Removes group `key`; false if there was none. Its member registrations stay.
  bool RemoveGroup(int64_t key);
  const Group* FindGroup(int64_t key) const;
  const Group* FindGroupByName(std::string_view sector, std::string_view name) const;
  /// The groups listing registration key `registration_key`, in group key order.
  std::vector<const Group*> GroupsOf(int64_t registration_key) const;
  size_t group_count() const { return groups_.size(); }
  GroupRange Groups() const { return GroupRange(groups_); }

  // Candidate selection for lookups (rd/lookup.hpp). A registration can satisfy `criterion` on
  // a resource or endpoint lookup only if its key is among the candidates: registrations with
  // an endpoint attribute or a link matching it, plus, for hashed and prefix searches, others
  // that the caller's exact matching rejects.

  /// The number of candidates, counted up to `limit` (the result may stop just above it).
  size_t EstimateCandidates(const Criterion& criterion, size_t limit) const;
  /// The candidates in ascending key order, or nullopt for "every registration".
  std::optional<std::vector<int64_t>> Candidates(const Criterion& criterion) const;
  /// True if registration `key` is listed by a group whose name satisfies `gp`.
  bool InGroupMatching(int64_t key, const Criterion& gp) const;

  /// Heap bytes held by the secondary indexes' posting lists (for the benchmark).
  size_t PostingHeapBytes() const;

 private:
  // Values indexed for one attribute name.
  struct NameIndex {
    std::map<std::string, detail::Posting, std::less<>> values;
    detail::Posting present;  // occurrences without a value
  };
  struct Token;
  using NameKey = std::pair<std::string_view, std::string_view>;  // (ep, sector) into entries_
  using HashPostings = std::unordered_multimap<uint64_t, int64_t>;

  static std::vector<Token> TokensOf(const Registration& registration);
  void AddTokens(const std::vector<Token>& tokens, int64_t key);
  void EraseTokens(const std::vector<Token>& tokens, int64_t key);
  void Resolve(IndexedRegistration& entry);
  // Calls op(map, hash) for each target and anchor filed apart from the base's Origin.
  template <class Op>
  void ForEachElsewhere(const IndexedRegistration& entry, Op&& op);
  void FileHashes(const IndexedRegistration& entry);
  void UnfileHashes(const IndexedRegistration& entry);
  void UnfileNames(const IndexedRegistration& entry);
  void FileNames(const IndexedRegistration& entry);
  void EraseMemberships(const Group& group);

  // Calls visit(const detail::Posting&) for every posting of `name` matching `criterion`, then
  // returns; visit returns false to stop early.
  template <class Visit>
  void VisitPostings(const Criterion& criterion, Visit&& visit) const;
  // Calls visit(key) for candidates from the special sources (ep, base, href, anchor, gp); returns
  // false if `criterion` needs a full scan instead.
  template <class Visit>
  bool VisitSpecial(const Criterion& criterion, Visit&& visit) const;

  Entries entries_;
  std::map<NameKey, int64_t> names_;
  std::unordered_map<std::string_view, int64_t> device_ids_;
  std::map<std::string, NameIndex, std::less<>> attributes_;
  HashPostings origins_;
  HashPostings other_targets_;
  HashPostings other_anchors_;

  std::map<int64_t, Group> groups_;
  std::map<std::pair<std::string, std::string>, int64_t> group_names_;  // (name, d)
  std::multimap<int64_t, int64_t> memberships_;  // registration key -> group key
};

}  // namespace coapgw::rd
