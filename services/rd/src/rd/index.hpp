#pragma once

// The Resource Directory's in-memory state: every registration and group, with the secondary
// indexes lookups need (RFC 9176 §6) so that a filtered lookup touches only candidate
// registrations. Pure code, no I/O. Not thread-safe: owned and used by the CoAP loop thread (even
// const functions may reorder internal posting lists).
//
// What is indexed, per registration:
// - by key (iteration in key order), by (sector, ep), by device id; exact searches by key, by ep
//   and by attribute value go through hash tables over the ordered maps (detail::PointerTable),
//   so a lookup costs O(matches) probes, not a tree descent per candidate;
// - an inverted index (lower-case attribute name, value) -> keys over the endpoint attributes d,
//   et and the extra attributes, and over the link attributes, all but those called href or
//   anchor (which always mean the location, the resolved target and the resolved anchor);
//   relation-type values (rel, rev, rt, if) are split on whitespace; attributes without a value
//   (or with an empty relation-type list) are indexed as "present". Each distinct value costs a
//   map node, so attributes with a value per device (title, serial numbers) cost ~100 B each;
// - ep through the (sector, ep) index; base, link targets and anchors through hashes: a
//   registration is filed under the Origin of its base (which covers every target or anchor
//   resolved to that origin), and only targets and anchors with another origin are filed
//   separately. Exact href/anchor/base searches are thus answered from candidates; prefix
//   searches on them scan;
// - group membership (registration key -> groups), for gp searches and GroupsOf.
// Each registration's links are resolved against its base (linkformat::ToLookupLink) when Put
// changes the base or the links; lookups do no URI work. To stay small, the index keeps the
// resolved form only where it is not simply "base + reference" or the reference itself (a URI):
// for those links it records which of the two applies, after checking at Put that writing them
// that way gives exactly the bytes linkformat::AppendLink writes for the resolved link.

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rd/link_writer.hpp"
#include "rd/lookup_query.hpp"
#include "rd/pointer_table.hpp"
#include "rd/posting.hpp"
#include "rd/registration.hpp"

namespace coapgw::linkformat {
struct Uri;
}  // namespace coapgw::linkformat

namespace coapgw::rd {

/// A registration as the index holds it, with its lookup representation precomputed.
class IndexedRegistration {
 public:
  const Registration& registration() const { return registration_; }
  int64_t key() const { return registration_.key; }

  /// Number of links (equal to registration().links.size()).
  size_t link_count() const { return registration_.links.size(); }
  /// The resolved target URI of link `i`.
  SplitString Target(size_t i) const;
  /// The resolved anchor of link `i`, or nullopt if the link has no anchor attribute.
  std::optional<SplitString> Anchor(size_t i) const;
  /// Appends link `i` as resource lookup returns it (RFC 9176 §6.1): link-format, target resolved
  /// against the base, anchor resolved if present, other attributes unchanged; byte for byte what
  /// linkformat::AppendLink writes for linkformat::ToLookupLink's result.
  void AppendLinkText(size_t i, std::string* out) const;

  /// True if the base URI's host is a link-local address (fe80::/10 or 169.254.0.0/16).
  bool link_local() const { return link_local_; }
  /// False if the base could not be used to resolve every link; such links are kept as
  /// registered (the directory validates bases, so this only guards against bad stored data).
  bool resolved() const { return resolved_; }
  /// True if the resolved links are stored rather than computed as base + reference (see Index).
  bool stores_resolution() const { return resolution_ != nullptr; }

 private:
  friend class Index;

  // How link i's target and first anchor resolve when no Resolution is stored: 3 bits per link.
  static constexpr size_t kMaxComputedLinks = 21;
  enum Form : uint8_t {
    kTargetAsIs = 1,    // the target is a URI, kept byte for byte; else base + target
    kAnchorJoined = 2,  // the anchor resolves to base + anchor value
    kAnchorAsIs = 4,    // the anchor is a URI, kept; neither bit: no anchor attribute
  };
  // Resolved links that are not base + reference or the reference itself (e.g. dot segments, a
  // base with a path), or links the computed form cannot reproduce: stored as AppendLink wrote
  // them, with offsets of the resolved target and anchor.
  struct Span {
    uint32_t text_begin = 0;
    uint32_t text_end = 0;
    uint32_t target_begin = 0;
    uint32_t target_end = 0;
    uint32_t anchor_begin = UINT32_MAX;  // UINT32_MAX: no anchor
    uint32_t anchor_end = UINT32_MAX;
  };
  struct Resolution {
    std::string text;
    std::vector<Span> spans;
  };

  unsigned FormOf(size_t i) const { return static_cast<unsigned>(forms_ >> (3 * i)) & 7U; }
  std::string_view Stored(uint32_t begin, uint32_t end) const {
    const std::string_view text = resolution_->text;
    return text.substr(begin, end - begin);
  }

  Registration registration_;
  std::unique_ptr<Resolution> resolution_;  // null in the usual case: links are computed
  uint64_t forms_ = 0;
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
  /// The candidates in ascending key order, or nullopt for "every registration": when the
  /// index cannot narrow `criterion` down, or when it counts more than `limit` candidates (as
  /// EstimateCandidates counts them), which the caller would rather scan.
  std::optional<std::vector<int64_t>> Candidates(
      const Criterion& criterion, size_t limit = std::numeric_limits<size_t>::max()) const;
  /// True if registration `key` is listed by a group whose name satisfies `gp`.
  bool InGroupMatching(int64_t key, const Criterion& gp) const;

  /// Heap bytes held by the secondary indexes' posting lists (for the benchmark).
  size_t PostingHeapBytes() const;
  /// How many times Put resolved a registration's links (a refresh does not).
  uint64_t resolutions() const { return resolutions_; }

 private:
  using ValueMap = std::map<std::string, detail::Posting, std::less<>>;
  struct ByValue {
    static std::string_view KeyOf(const ValueMap::value_type& item) { return item.first; }
    static size_t Hash(std::string_view value) { return std::hash<std::string_view>{}(value); }
  };
  // Values indexed for one attribute name: ordered for prefix searches, hashed for exact ones.
  struct NameIndex {
    ValueMap values;
    detail::PointerTable<ValueMap::value_type, ByValue> exact;
    detail::Posting present;  // occurrences without a value
  };
  struct Token;
  using NameKey = std::pair<std::string_view, std::string_view>;  // (ep, sector) into entries_
  using NameMap = std::map<NameKey, int64_t>;
  struct ByEp {
    static std::string_view KeyOf(const NameMap::value_type& item) { return item.first.first; }
    static size_t Hash(std::string_view ep) { return std::hash<std::string_view>{}(ep); }
  };
  struct ByKey {
    static int64_t KeyOf(const Entries::value_type& item) { return item.first; }
    static size_t Hash(int64_t key) { return static_cast<size_t>(key); }
  };
  using HashPostings = std::unordered_multimap<uint64_t, int64_t>;

  static std::vector<Token> TokensOf(const Registration& registration);
  void AddTokens(const std::vector<Token>& tokens, int64_t key);
  void EraseTokens(const std::vector<Token>& tokens, int64_t key);
  void Resolve(IndexedRegistration& entry);
  static bool ComputeForms(IndexedRegistration& entry, const linkformat::Uri& base);
  static void StoreResolution(IndexedRegistration& entry, const linkformat::Uri* base);
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
  detail::PointerTable<Entries::value_type, ByKey> entries_by_key_;
  NameMap names_;
  detail::PointerTable<NameMap::value_type, ByEp> names_by_ep_;  // every (sector, ep) of an ep
  HashPostings device_ids_;                                      // hash of device_id -> key
  std::map<std::string, NameIndex, std::less<>> attributes_;
  HashPostings origins_;
  HashPostings other_targets_;
  HashPostings other_anchors_;

  std::map<int64_t, Group> groups_;
  std::map<std::pair<std::string, std::string>, int64_t> group_names_;  // (name, d)
  std::multimap<int64_t, int64_t> memberships_;  // registration key -> group key
  uint64_t resolutions_ = 0;
};

}  // namespace coapgw::rd
