#include "rd/index.hpp"

#include <algorithm>
#include <cstdio>
#include <list>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/linkformat/resolve_links.hpp"
#include "coapgw/linkformat/uri.hpp"
#include "rd/lookup.hpp"
#include "rd/pointer_table.hpp"
#include "rd/posting.hpp"
#include "rd_lookup_testing.hpp"

namespace coapgw::rd {
namespace {

using test::MakeGroup;
using test::MakeRegistration;
using test::Query;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Optional;

std::vector<int64_t> Keys(const detail::Posting& posting) {
  std::vector<int64_t> keys;
  posting.AppendTo(&keys);
  return keys;
}

TEST(PostingTest, KeepsKeysSortedWhateverTheInsertionOrder) {
  detail::Posting posting;
  for (int64_t key : {5, 1, 9, 3, 7}) {
    posting.Insert(key);
  }
  posting.Insert(3);  // already present
  EXPECT_EQ(posting.size(), 5U);
  EXPECT_THAT(Keys(posting), ElementsAre(1, 3, 5, 7, 9));
}

TEST(PostingTest, EraseLeavesTheOthersAndReinsertRevives) {
  detail::Posting posting;
  for (int64_t key = 1; key <= 6; ++key) {
    posting.Insert(key);
  }
  posting.Erase(2);
  posting.Erase(4);
  posting.Erase(42);  // absent
  EXPECT_EQ(posting.size(), 4U);
  EXPECT_THAT(Keys(posting), ElementsAre(1, 3, 5, 6));
  posting.Insert(2);  // revives the tombstone in place
  posting.Insert(0);  // below the smallest: appended, sorted on the next read
  EXPECT_THAT(Keys(posting), ElementsAre(0, 1, 2, 3, 5, 6));
}

TEST(PostingTest, ReinsertAfterEraseWhileUnsortedKeepsOneKey) {
  detail::Posting posting;
  posting.Insert(10);
  posting.Insert(20);
  posting.Erase(10);
  posting.Insert(5);   // makes the list unsorted
  posting.Insert(10);  // the tombstone of 10 is still there
  EXPECT_EQ(posting.size(), 3U);
  EXPECT_THAT(Keys(posting), ElementsAre(5, 10, 20));
}

TEST(PostingTest, MassEraseCompactsAndEmpties) {
  detail::Posting posting;
  for (int64_t key = 0; key < 1000; ++key) {
    posting.Insert(key);
  }
  for (int64_t key = 0; key < 1000; key += 2) {
    posting.Erase(key);
  }
  EXPECT_EQ(posting.size(), 500U);
  EXPECT_EQ(Keys(posting).front(), 1);
  for (int64_t key = 1; key < 1000; key += 2) {
    posting.Erase(key);
  }
  EXPECT_TRUE(posting.empty());
  EXPECT_THAT(Keys(posting), IsEmpty());
  EXPECT_LE(posting.HeapBytes(), 64 * sizeof(uint64_t));  // compaction gave the memory back
}

constexpr char kSensorLinks[] =
    "</sensors/temp>;rt=temperature-c;if=sensor,"
    "<http://www.example.com/sensors/temp>;anchor=\"/sensors/temp\";rel=describedby";

// Items of the PointerTable tests: a key and an identity, hashed into only 37 values so that
// runs of colliding keys form and wrap around the table's end.
struct Item {
  int key = 0;
  int id = 0;
};
struct CollidingTraits {
  static int KeyOf(const Item& item) { return item.key; }
  static size_t Hash(int key) { return static_cast<size_t>(key % 37); }
};
using Table = detail::PointerTable<Item, CollidingTraits>;

std::vector<int> IdsOf(const Table& table, int key) {
  std::vector<int> ids;
  table.ForEach(key, [&ids](const Item& item) {
    ids.push_back(item.id);
    return true;
  });
  std::sort(ids.begin(), ids.end());
  return ids;
}

TEST(PointerTableTest, FindsInsertedItemsAndNotOthers) {
  std::list<Item> items{{1, 10}, {2, 20}, {38, 60}};
  Table table;
  EXPECT_EQ(table.Find(1), nullptr);
  for (Item& item : items) {
    table.Insert(&item);
  }
  EXPECT_EQ(table.size(), 3U);
  EXPECT_EQ(table.Find(38)->id, 60);  // same hash as 1
  EXPECT_EQ(table.Find(2)->id, 20);
  EXPECT_EQ(table.Find(11), nullptr);
  EXPECT_TRUE(table.Erase(&items.front()));
  EXPECT_FALSE(table.Erase(&items.front()));
  EXPECT_EQ(table.Find(1), nullptr);
  EXPECT_EQ(table.Find(38)->id, 60);  // moved back into the freed slot, still found
}

TEST(PointerTableTest, KeepsEqualKeysApartAndErasesThePointerGiven) {
  std::list<Item> items{{3, 1}, {3, 2}, {3, 3}, {40, 4}};
  Table table;
  for (Item& item : items) {
    table.Insert(&item);
  }
  EXPECT_THAT(IdsOf(table, 3), ElementsAre(1, 2, 3));
  EXPECT_TRUE(table.Erase(&*std::next(items.begin())));
  EXPECT_THAT(IdsOf(table, 3), ElementsAre(1, 3));
  EXPECT_THAT(IdsOf(table, 40), ElementsAre(4));
  size_t visited = 0;
  EXPECT_FALSE(table.ForEach(3, [&visited](const Item&) { return ++visited < 1; }));
  EXPECT_EQ(visited, 1U);
}

// Random inserts and erases (growth, collisions, runs wrapping the end, backward shifts) against a
// plain list of what is in the table.
TEST(PointerTableTest, RandomOperationsMatchTheReference) {
  std::mt19937 random(7);
  std::list<Item> storage;
  std::vector<Item*> present;
  Table table;
  for (int step = 0; step < 6000; ++step) {
    if (present.empty() || random() % 3 != 0) {
      storage.push_back(Item{static_cast<int>(random() % 300), step});
      table.Insert(&storage.back());
      present.push_back(&storage.back());
    } else {
      const size_t at = random() % present.size();
      ASSERT_TRUE(table.Erase(present[at]));
      present.erase(present.begin() + static_cast<std::ptrdiff_t>(at));
    }
    ASSERT_EQ(table.size(), present.size());
    if (step % 97 == 0) {
      std::map<int, std::vector<int>> expected;  // key -> ids
      for (const Item* item : present) {
        expected[item->key].push_back(item->id);
      }
      for (int key = 0; key < 300; ++key) {
        std::vector<int>& ids = expected[key];
        std::sort(ids.begin(), ids.end());
        ASSERT_EQ(IdsOf(table, key), ids) << "key " << key << " at step " << step;
        ASSERT_EQ(table.Find(key) != nullptr, !ids.empty());
      }
    }
  }
}

TEST(IndexTest, FindsRegistrationsByKeyNameAndDeviceId) {
  Index index;
  index.Put(MakeRegistration(7, "node7", "coap://[2001:db8::7]", kSensorLinks, "floor-3"));
  index.Put(MakeRegistration(3, "node3", "coap://[2001:db8::3]", kSensorLinks));
  ASSERT_EQ(index.size(), 2U);
  ASSERT_NE(index.Find(7), nullptr);
  EXPECT_EQ(index.Find(7)->ep, "node7");
  EXPECT_EQ(index.Find(8), nullptr);
  EXPECT_EQ(index.FindByName("floor-3", "node7"), index.Find(7));
  EXPECT_EQ(index.FindByName("", "node7"), nullptr);  // the sector is part of the name
  EXPECT_EQ(index.FindByName("", "node3"), index.Find(3));
  EXPECT_EQ(index.FindByDeviceId("device-3"), index.Find(3));
  EXPECT_EQ(index.FindByDeviceId("device-9"), nullptr);

  std::vector<int64_t> order;
  for (const Registration* registration : index.All()) {
    order.push_back(registration->key);
  }
  EXPECT_THAT(order, ElementsAre(3, 7));
}

TEST(IndexTest, CandidatesGiveUpAboveTheLimit) {
  Index index;
  for (int64_t key = 1; key <= 5; ++key) {
    index.Put(
        MakeRegistration(key, "node" + std::to_string(key), "coap://[2001:db8::1]", kSensorLinks));
  }
  const Criterion rt{"rt", "temperature-c", MatchKind::kExact};
  const Criterion ep{"ep", "node", MatchKind::kPrefix};
  EXPECT_THAT(index.Candidates(rt), Optional(ElementsAre(1, 2, 3, 4, 5)));
  EXPECT_THAT(index.Candidates(rt, 5), Optional(ElementsAre(1, 2, 3, 4, 5)));
  EXPECT_EQ(index.Candidates(rt, 4), std::nullopt);  // one posting list of five
  EXPECT_EQ(index.EstimateCandidates(rt, 4), 5U);
  EXPECT_THAT(index.Candidates(ep, 5), Optional(ElementsAre(1, 2, 3, 4, 5)));
  EXPECT_EQ(index.Candidates(ep, 2), std::nullopt);  // names visited one by one
  EXPECT_EQ(index.Candidates(Criterion{"rt", "none", MatchKind::kExact}, 0),
            std::optional<std::vector<int64_t>>(std::vector<int64_t>{}));
}

TEST(IndexTest, ReplaceByKeyDropsTheOldNameAndAttributes) {
  Index index;
  index.Put(MakeRegistration(1, "old", "coap://[2001:db8::1]", "</a>;rt=alpha"));
  index.Put(MakeRegistration(1, "new", "coap://[2001:db8::1]", "</a>;rt=beta"));
  EXPECT_EQ(index.size(), 1U);
  EXPECT_EQ(index.FindByName("", "old"), nullptr);
  EXPECT_EQ(index.FindByName("", "new"), index.Find(1));
  EXPECT_EQ(LookupResources(index, Query({"rt=alpha"})).payload, "");
  EXPECT_EQ(LookupResources(index, Query({"rt=beta"})).payload, "<coap://[2001:db8::1]/a>;rt=beta");
}

TEST(IndexTest, SameNameUnderAnotherKeyReplacesTheOtherRegistration) {
  Index index;
  index.Put(MakeRegistration(1, "node", "coap://[2001:db8::1]", "</a>;rt=alpha"));
  index.Put(MakeRegistration(2, "node", "coap://[2001:db8::2]", "</b>;rt=alpha"));
  EXPECT_EQ(index.size(), 1U);
  EXPECT_EQ(index.Find(1), nullptr);
  EXPECT_EQ(index.FindByName("", "node"), index.Find(2));
  EXPECT_EQ(LookupResources(index, Query({"rt=alpha"})).payload,
            "<coap://[2001:db8::2]/b>;rt=alpha");
}

TEST(IndexTest, RemoveForgetsEverything) {
  Index index;
  index.Put(MakeRegistration(1, "node", "coap://[2001:db8::1]", kSensorLinks, "d1", "et1"));
  EXPECT_TRUE(index.Remove(1));
  EXPECT_FALSE(index.Remove(1));
  EXPECT_EQ(index.size(), 0U);
  EXPECT_EQ(index.FindByName("d1", "node"), nullptr);
  EXPECT_EQ(index.FindByDeviceId("device-1"), nullptr);
  EXPECT_EQ(index.PostingHeapBytes(), 0U);
  for (const char* parameter : {"rt=temperature-c", "ep=node", "d=d1", "et=et1",
                                "href=coap://[2001:db8::1]/sensors/temp", "base=*"}) {
    EXPECT_EQ(LookupEndpoints(index, Query({parameter})).payload, "") << parameter;
  }
}

std::string LinkText(const IndexedRegistration& entry, size_t i) {
  std::string text;
  entry.AppendLinkText(i, &text);
  return text;
}

TEST(IndexTest, ResolvesLinksOnPut) {
  Index index;
  index.Put(MakeRegistration(1, "node", "coap://local-proxy-old.example.com", kSensorLinks));
  const IndexedRegistration* entry = index.FindIndexed(1);
  ASSERT_NE(entry, nullptr);
  ASSERT_EQ(entry->link_count(), 2U);
  EXPECT_TRUE(entry->resolved());
  EXPECT_FALSE(entry->stores_resolution());  // base + reference, or the reference itself
  EXPECT_EQ(entry->Target(0).str(), "coap://local-proxy-old.example.com/sensors/temp");
  EXPECT_EQ(entry->Anchor(0), std::nullopt);
  EXPECT_EQ(entry->Target(1).str(), "http://www.example.com/sensors/temp");
  EXPECT_EQ(entry->Anchor(1)->str(), "coap://local-proxy-old.example.com/sensors/temp");
  EXPECT_EQ(LinkText(*entry, 1),
            "<http://www.example.com/sensors/temp>;"
            "anchor=\"coap://local-proxy-old.example.com/sensors/temp\";rel=describedby");
}

// Links whose resolved form is not "base + reference" are stored resolved; the output is the same
// as resolving and serializing them directly.
TEST(IndexTest, StoresResolutionsThatAreNotConcatenations) {
  struct Case {
    const char* why;
    const char* base;
    std::string payload;
  };
  std::string many;
  for (int i = 0; i < 30; ++i) {
    many += (i == 0 ? "" : ",") + std::string("</r/") + std::to_string(i) + ">;ct=0";
  }
  const Case cases[] = {
      {"base with a path", "coap://h.example.com/gw/", "</x>;rt=a,<y>;anchor=\"z\""},
      {"dot segments", "coap://h.example.com", "</a/./b/../c>;rt=a"},
      {"two anchors", "coap://h.example.com", "</a>;anchor=\"/s\";anchor=\"/t\";rel=x"},
      {"more links than computed forms", "coap://h.example.com", many},
  };
  for (const Case& c : cases) {
    Index index;
    const Registration registration = MakeRegistration(1, "n", c.base, c.payload);
    index.Put(registration);
    const IndexedRegistration& entry = *index.FindIndexed(1);
    EXPECT_TRUE(entry.stores_resolution()) << c.why;
    const linkformat::Uri base = *linkformat::ParseUri(c.base);
    for (size_t i = 0; i < registration.links.size(); ++i) {
      const linkformat::Link shown = *linkformat::ToLookupLink(base, registration.links[i]);
      EXPECT_EQ(LinkText(entry, i), linkformat::Serialize({shown})) << c.why << " link " << i;
      EXPECT_EQ(entry.Target(i).str(), shown.target) << c.why << " link " << i;
      const auto anchor = entry.Anchor(i);
      EXPECT_EQ(
          anchor ? std::optional<std::string>(anchor->str()) : std::nullopt,
          shown.Find("anchor") ? std::optional<std::string>(*shown.Find("anchor")) : std::nullopt)
          << c.why << " link " << i;
    }
  }
}

TEST(IndexTest, RefreshDoesNoUriWorkAndBaseChangeResolvesAgain) {
  Index index;
  Registration registration =
      MakeRegistration(1, "node", "coap://local-proxy-old.example.com", kSensorLinks);
  index.Put(registration);
  EXPECT_EQ(index.resolutions(), 1U);

  registration.lt_s = 500;
  registration.expires_at += std::chrono::seconds(500);
  index.Put(registration);
  EXPECT_EQ(index.resolutions(), 1U);
  EXPECT_EQ(index.Find(1)->lt_s, 500);

  registration.base = "coaps://new.example.com";
  index.Put(registration);
  EXPECT_EQ(index.resolutions(), 2U);
  EXPECT_EQ(index.FindIndexed(1)->Target(0).str(), "coaps://new.example.com/sensors/temp");
  EXPECT_EQ(index.FindIndexed(1)->Anchor(1)->str(), "coaps://new.example.com/sensors/temp");
  EXPECT_EQ(LookupResources(index, Query({"href=coap://local-proxy-old.example.com/sensors/temp"}))
                .payload,
            "");
  EXPECT_EQ(LookupResources(index, Query({"href=coaps://new.example.com/sensors/temp"})).returned,
            1U);
}

TEST(IndexTest, DetectsLinkLocalBases) {
  struct Case {
    const char* base;
    bool link_local;
  };
  const Case cases[] = {
      {"coap://[fe80::1]", true},
      {"coap://[FE80::1]:61616", true},
      {"coap://[febf::1]", true},
      {"coap://[fec0::1]", false},
      {"coap://[2001:db8::1]", false},
      {"coap://169.254.10.1", true},
      {"coap://169.2540.1.1", false},
      {"coap://[::ffff:169.254.0.1]", true},
      {"coap://169.254.example.com", false},
      {"coap://[fe8::1]", false},
  };
  Index index;
  int64_t key = 0;
  for (const Case& c : cases) {
    ++key;
    index.Put(MakeRegistration(key, "n" + std::to_string(key), c.base, "</x>"));
    EXPECT_EQ(index.FindIndexed(key)->link_local(), c.link_local) << c.base;
  }
}

TEST(IndexTest, UnusableBaseKeepsLinksAsRegistered) {
  Index index;
  index.Put(MakeRegistration(1, "node", "no base", "</a>;rt=x"));
  const IndexedRegistration* entry = index.FindIndexed(1);
  EXPECT_FALSE(entry->resolved());
  EXPECT_EQ(entry->Target(0).str(), "/a");
  EXPECT_EQ(LookupResources(index, Query({"href=/a"})).payload, "</a>;rt=x");
}

TEST(IndexTest, RejectsKeysOutsideTheRange) {
  Index index;
  EXPECT_THROW(index.Put(MakeRegistration(-1, "n", "coap://h", "")), std::out_of_range);
  EXPECT_THROW(index.PutGroup(MakeGroup(Index::kMaxKey + 1, "g", {})), std::out_of_range);
  EXPECT_EQ(index.size(), 0U);
}

TEST(IndexTest, GroupsByKeyNameAndMember) {
  Index index;
  index.Put(MakeRegistration(1, "node1", "coap://[2001:db8::1]", ""));
  index.Put(MakeRegistration(2, "node2", "coap://[2001:db8::2]", ""));
  index.PutGroup(MakeGroup(10, "lights", {1, 2}, "example.com"));
  index.PutGroup(MakeGroup(11, "heaters", {2}));
  EXPECT_EQ(index.group_count(), 2U);
  EXPECT_EQ(index.FindGroupByName("example.com", "lights"), index.FindGroup(10));
  EXPECT_EQ(index.FindGroupByName("", "lights"), nullptr);
  auto names = [&index](int64_t key) {
    std::vector<std::string> out;
    for (const Group* group : index.GroupsOf(key)) {
      out.push_back(group->name);
    }
    return out;
  };
  EXPECT_THAT(names(2), ElementsAre("lights", "heaters"));

  index.PutGroup(MakeGroup(10, "lights", {1}, "example.com"));  // node2 leaves
  EXPECT_THAT(names(2), ElementsAre("heaters"));
  EXPECT_THAT(names(1), ElementsAre("lights"));

  index.PutGroup(MakeGroup(12, "heaters", {1}));  // same name, new key: replaces group 11
  EXPECT_EQ(index.FindGroup(11), nullptr);
  EXPECT_THAT(names(1), ElementsAre("lights", "heaters"));
  EXPECT_THAT(names(2), IsEmpty());

  EXPECT_TRUE(index.Remove(1));  // the membership outlives the registration (expiry)
  EXPECT_THAT(names(1), ElementsAre("lights", "heaters"));
  EXPECT_TRUE(index.RemoveGroup(10));
  EXPECT_FALSE(index.RemoveGroup(10));
  EXPECT_THAT(names(1), ElementsAre("heaters"));
  EXPECT_EQ(index.FindGroupByName("example.com", "lights"), nullptr);
}

// ---- Property test: random operations against a brute-force reference ------------------------

const std::string kRdBase = "coap://rd.example.com";

// The reference RD: plain containers and a direct reading of RFC 9176 §6.2, no indexes.
class Reference {
 public:
  void Put(const Registration& registration) {
    for (auto it = registrations_.begin(); it != registrations_.end();) {
      const bool same_name =
          it->second.ep == registration.ep && it->second.sector == registration.sector;
      it = same_name && it->first != registration.key ? registrations_.erase(it) : std::next(it);
    }
    registrations_[registration.key] = registration;
    std::vector<linkformat::Link>& shown = shown_[registration.key];
    shown.clear();
    const linkformat::Uri base = *linkformat::ParseUri(registration.base);
    for (const linkformat::Link& link : registration.links) {
      shown.push_back(*linkformat::ToLookupLink(base, link));
    }
  }
  void Remove(int64_t key) {
    registrations_.erase(key);
    shown_.erase(key);
  }
  void PutGroup(const Group& group) {
    for (auto it = groups_.begin(); it != groups_.end();) {
      const bool same_name = it->second.name == group.name && it->second.sector == group.sector;
      it = same_name && it->first != group.key ? groups_.erase(it) : std::next(it);
    }
    groups_[group.key] = group;
  }
  void RemoveGroup(int64_t key) { groups_.erase(key); }

  const std::map<int64_t, Registration>& registrations() const { return registrations_; }
  const std::map<int64_t, Group>& groups() const { return groups_; }

  // Resource lookup: the expected links, serialized.
  std::string Resources(const LookupQuery& query) const {
    std::vector<linkformat::Link> matches;
    for (const auto& [key, registration] : registrations_) {
      if (!Visible(registration, query)) {
        continue;
      }
      for (size_t i = 0; i < registration.links.size(); ++i) {
        const linkformat::Link& link = registration.links[i];
        const linkformat::Link& shown = shown_.at(key)[i];
        bool all = true;
        for (const Criterion& criterion : query.criteria) {
          all = all && (EndpointHas(registration, criterion) || LinkHas(shown, link, criterion));
        }
        if (all) {
          matches.push_back(shown);
        }
      }
    }
    return linkformat::Serialize(Page(matches, query));
  }

  // Endpoint lookup: the expected keys.
  std::vector<int64_t> Endpoints(const LookupQuery& query) const {
    std::vector<int64_t> keys;
    for (const auto& [key, registration] : registrations_) {
      if (Visible(registration, query) && EndpointMatchesAll(registration, query)) {
        keys.push_back(key);
      }
    }
    return Page(keys, query);
  }

  // Group lookup: the expected keys.
  std::vector<int64_t> Groups(const LookupQuery& query) const {
    std::vector<int64_t> keys;
    for (const auto& [key, group] : groups_) {
      bool all = true;
      for (const Criterion& criterion : query.criteria) {
        all = all && GroupHas(group, criterion, query);
      }
      if (all) {
        keys.push_back(key);
      }
    }
    return Page(keys, query);
  }

 private:
  template <class T>
  static std::vector<T> Page(const std::vector<T>& all, const LookupQuery& query) {
    if (!query.count) {
      return all;
    }
    const size_t first = static_cast<size_t>(query.page.value_or(0)) * *query.count;
    std::vector<T> page;
    for (size_t i = first; i < all.size() && page.size() < *query.count; ++i) {
      page.push_back(all[i]);
    }
    return page;
  }

  static bool Value(const Criterion& criterion, std::string_view value) {
    switch (criterion.kind) {
      case MatchKind::kAny:
        return true;
      case MatchKind::kExact:
        return value == criterion.value;
      case MatchKind::kPrefix:
        return value.rfind(criterion.value, 0) == 0;
    }
    return false;
  }

  static std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
  }

  static bool Attribute(const linkformat::Attribute& attribute, const Criterion& criterion) {
    if (Lower(attribute.name) != criterion.name) {
      return false;
    }
    if (criterion.kind == MatchKind::kAny) {
      return true;
    }
    if (!attribute.value) {
      return false;
    }
    if (!linkformat::IsRelationTypes(criterion.name)) {
      return Value(criterion, *attribute.value);
    }
    std::istringstream words(*attribute.value);
    std::string word;
    while (words >> word) {
      if (Value(criterion, word)) {
        return true;
      }
    }
    return false;
  }

  static bool Visible(const Registration& registration, const LookupQuery& query) {
    const bool link_local = registration.base.find("[fe80:") != std::string::npos ||
                            registration.base.find("//169.254.") != std::string::npos;
    return query.requester_on_link || !link_local;
  }

  // Locations match in path form or under the RD's base.
  static bool Location(const Criterion& criterion, const std::string& location) {
    return Value(criterion, location) || Value(criterion, kRdBase + location);
  }

  bool EndpointHas(const Registration& registration, const Criterion& criterion) const {
    const std::string& name = criterion.name;
    if (name == "href") {
      return Location(criterion, "/rd/" + std::to_string(registration.key));
    }
    if (name == "anchor") {
      return false;
    }
    bool has =
        (name == "ep" && Value(criterion, registration.ep)) ||
        (name == "d" && !registration.sector.empty() && Value(criterion, registration.sector)) ||
        (name == "et" && !registration.et.empty() && Value(criterion, registration.et)) ||
        (name == "base" && Value(criterion, registration.base));
    if (name == "gp") {
      for (const auto& [key, group] : groups_) {
        const auto& members = group.member_keys;
        has = has || (Value(criterion, group.name) &&
                      std::find(members.begin(), members.end(), registration.key) != members.end());
      }
    }
    for (const auto& attribute : registration.extra) {
      has = has || Attribute(attribute, criterion);
    }
    return has;
  }

  static bool LinkHas(const linkformat::Link& shown, const linkformat::Link& registered,
                      const Criterion& criterion) {
    if (criterion.name == "href") {
      return Value(criterion, shown.target);
    }
    if (criterion.name == "anchor") {
      const auto anchor = shown.Find("anchor");
      return anchor && Value(criterion, *anchor);
    }
    return std::any_of(
        registered.attributes.begin(), registered.attributes.end(),
        [&criterion](const auto& attribute) { return Attribute(attribute, criterion); });
  }

  bool EndpointMatches(const Registration& registration, const Criterion& criterion) const {
    if (EndpointHas(registration, criterion)) {
      return true;
    }
    const std::vector<linkformat::Link>& shown = shown_.at(registration.key);
    for (size_t i = 0; i < shown.size(); ++i) {
      if (LinkHas(shown[i], registration.links[i], criterion)) {
        return true;
      }
    }
    return false;
  }

  bool EndpointMatchesAll(const Registration& registration, const LookupQuery& query) const {
    return std::all_of(query.criteria.begin(), query.criteria.end(),
                       [&](const Criterion& c) { return EndpointMatches(registration, c); });
  }

  bool GroupHas(const Group& group, const Criterion& criterion, const LookupQuery& query) const {
    const std::string& name = criterion.name;
    if (name == "gp") {
      return Value(criterion, group.name);
    }
    if (name == "d") {
      return !group.sector.empty() && Value(criterion, group.sector);
    }
    if (name == "base") {
      return !group.base.empty() && Value(criterion, group.base);
    }
    if (name == "href") {
      return Location(criterion, "/rd-group/" + std::to_string(group.key));
    }
    for (const int64_t member : group.member_keys) {
      auto it = registrations_.find(member);
      if (it != registrations_.end() && Visible(it->second, query) &&
          EndpointMatches(it->second, criterion)) {
        return true;
      }
    }
    return false;
  }

  std::map<int64_t, Registration> registrations_;
  std::map<int64_t, std::vector<linkformat::Link>> shown_;  // links as lookups show them
  std::map<int64_t, Group> groups_;
};

class RandomRd {
 public:
  explicit RandomRd(uint32_t seed) : random_(seed) {}

  template <class T>
  const T& Pick(const std::vector<T>& items) {
    return items[random_() % items.size()];
  }
  bool Chance(unsigned percent) { return random_() % 100 < percent; }
  int64_t Key(int64_t max) { return 1 + static_cast<int64_t>(random_() % max); }

  Registration NewRegistration() {
    static const std::vector<std::string> kLinks = {
        "</s/temp>;rt=temp;if=sensor;ct=0",
        "</s/light>;rt=\"light temp\";if=sensor;obs",
        "</t>;anchor=\"/s/temp\";rel=alternate",
        "<http://other.example/x>;rel=describedby;anchor=\"/s/temp\"",
        "<coap://[2001:db8::1]/s/temp>;rt=oic.r.temp;title=\"A b\"",
        "</a>;ct=40;rt=\"\"",
        "</b>;anchor=\"coap://[2001:db8::2]:61616/s\";if=actuator",
        "</c>;u=K;title=\"\";Lt=90000",
        "</s/./x/../temp>;rt=temp;anchor=\"/s/light\"",
        "</d>;anchor=\"/s\";anchor=\"http://x.example/\";rel=x",
    };
    std::string payload;
    for (int i = static_cast<int>(random_() % 4); i > 0; --i) {
      payload += (payload.empty() ? "" : ",") + Pick(kLinks);
    }
    Registration registration =
        MakeRegistration(Key(25), Pick(kEps), Pick(kBases), payload, Pick(kSectors), Pick(kEts));
    if (Chance(30)) {
      registration.extra.push_back({"ct", std::string("40")});
    }
    if (Chance(20)) {
      registration.extra.push_back({"Obs", std::nullopt});
    }
    return registration;
  }

  Group NewGroup() {
    std::vector<int64_t> members;
    for (int i = static_cast<int>(random_() % 4); i > 0; --i) {
      members.push_back(Key(25));
    }
    return MakeGroup(Key(4), Pick(kGroupNames), members, Pick(kSectors),
                     Chance(50) ? "coap://[ff35:30:2001:db8::1]" : "");
  }

  LookupQuery NewQuery() {
    static const std::vector<std::string> kCriteria = {"rt=temp",
                                                       "rt=light",
                                                       "rt=temp*",
                                                       "rt=oic*",
                                                       "rt=*",
                                                       "rt=light temp",
                                                       "RT=temp",
                                                       "if=sensor",
                                                       "if=actuator",
                                                       "if=sen*",
                                                       "ct=0",
                                                       "ct=40",
                                                       "obs",
                                                       "obs=*",
                                                       "title=A b",
                                                       "title=",
                                                       "title=*",
                                                       "title=A*",
                                                       "ep=n1",
                                                       "ep=n*",
                                                       "ep=n1*",
                                                       "d=d1",
                                                       "d=*",
                                                       "et=core.rd-group",
                                                       "et=tag*",
                                                       "base=coap://[2001:db8::1]",
                                                       "base=coap://[2001*",
                                                       "base=coap://169.254.3.4",
                                                       "href=coap://[2001:db8::1]/s/temp",
                                                       "href=http://other.example/x",
                                                       "href=/rd/3",
                                                       "href=coap://rd.example.com/rd/4",
                                                       "href=/rd/1*",
                                                       "href=/rd-group/2",
                                                       "href=coap://rd.example.com/rd-group/1",
                                                       "href=coap://rd.example.com/rd/2*",
                                                       "href=coap://rd.ex*",
                                                       "href=coap://other.example.com/rd/3",
                                                       "href=coap://[2001:db8::3]/s/temp",
                                                       "anchor=coap://[2001:db8::3]/s/light",
                                                       "anchor=http://x.example/",
                                                       "href=coap://[2001:db8::3]/gw/t",
                                                       "href=coap://[2001:db8::2]:61616/*",
                                                       "href=/s/temp",
                                                       "href=*",
                                                       "anchor=coap://[2001:db8::1]/s/temp",
                                                       "anchor=coap://[2001:db8::2]:61616/s",
                                                       "anchor=coap*",
                                                       "gp=g1",
                                                       "gp=lights",
                                                       "gp=g*",
                                                       "u=K",
                                                       "lt=90000",
                                                       "foo=bar",
                                                       "base=*",
                                                       "ep=*"};
    std::vector<std::string> parameters;
    for (int i = static_cast<int>(random_() % 4); i > 0; --i) {
      parameters.push_back(Pick(kCriteria));
    }
    if (Chance(25)) {
      parameters.push_back("count=" + std::to_string(random_() % 4));
      if (Chance(50)) {
        parameters.push_back("page=" + std::to_string(random_() % 3));
      }
    }
    LookupQuery query = Query(parameters);
    query.requester_on_link = Chance(30);
    query.rd_base = kRdBase;
    return query;
  }

 private:
  const std::vector<std::string> kEps = {"n1", "n2", "n3", "n10", "n11", "m1", "m2"};
  const std::vector<std::string> kSectors = {"", "d1"};
  const std::vector<std::string> kEts = {"", "core.rd-group", "tag:x,2020:p"};
  const std::vector<std::string> kBases = {"coap://[2001:db8::1]", "coap://[2001:db8::2]:61616",
                                           "coap://[fe80::1]",     "coap://h.example.com",
                                           "coap://169.254.3.4",   "coaps://[2001:db8::1]"};
  const std::vector<std::string> kGroupNames = {"g1", "g2", "lights"};
  std::mt19937 random_;
};

std::string Describe(const LookupQuery& query) {
  std::string text;
  for (const Criterion& c : query.criteria) {
    text += c.name + (c.kind == MatchKind::kAny ? "=*" : "=" + c.value) +
            (c.kind == MatchKind::kPrefix ? "* " : " ");
  }
  if (query.count) {
    text +=
        "count=" + std::to_string(*query.count) + " page=" + std::to_string(query.page.value_or(0));
  }
  return text + (query.requester_on_link ? " on-link" : "");
}

std::vector<int64_t> KeysOf(const std::string& payload, std::string_view prefix) {
  std::vector<int64_t> keys;
  for (const linkformat::Link& link : test::Links(payload)) {
    EXPECT_EQ(link.target.rfind(prefix, 0), 0U) << link.target;
    keys.push_back(std::stoll(link.target.substr(prefix.size())));
  }
  return keys;
}

void ExpectSameState(const Index& index, const Reference& reference) {
  ASSERT_EQ(index.size(), reference.registrations().size());
  ASSERT_EQ(index.group_count(), reference.groups().size());
  for (const auto& [key, registration] : reference.registrations()) {
    ASSERT_NE(index.Find(key), nullptr) << key;
    EXPECT_EQ(index.Find(key)->ep, registration.ep);
    EXPECT_EQ(index.FindByName(registration.sector, registration.ep), index.Find(key));
    EXPECT_EQ(index.FindByDeviceId(registration.device_id), index.Find(key));
  }
  for (const auto& [key, group] : reference.groups()) {
    EXPECT_EQ(index.FindGroupByName(group.sector, group.name), index.FindGroup(key));
  }
}

TEST(IndexPropertyTest, RandomOperationsMatchTheReference) {
  RandomRd random(20240611);
  Index index;
  Reference reference;
  size_t found[3] = {0, 0, 0};  // queries with results, per lookup type: the test is not vacuous
  for (int step = 0; step < 1500; ++step) {
    const unsigned op = random.Key(100);
    if (op <= 45) {
      const Registration registration = random.NewRegistration();
      index.Put(registration);
      reference.Put(registration);
    } else if (op <= 65 && !reference.registrations().empty()) {
      // A refresh: same links and base, new lifetime.
      auto it = reference.registrations().begin();
      std::advance(it, random.Key(static_cast<int64_t>(reference.registrations().size())) - 1);
      Registration registration = it->second;
      registration.lt_s = random.Key(1000);
      index.Put(registration);
      reference.Put(registration);
    } else if (op <= 80) {
      const int64_t key = random.Key(25);
      EXPECT_EQ(index.Remove(key), reference.registrations().count(key) == 1);
      reference.Remove(key);
    } else if (op <= 93) {
      const Group group = random.NewGroup();
      index.PutGroup(group);
      reference.PutGroup(group);
    } else {
      const int64_t key = random.Key(4);
      EXPECT_EQ(index.RemoveGroup(key), reference.groups().count(key) == 1);
      reference.RemoveGroup(key);
    }
    ExpectSameState(index, reference);
    for (int q = 0; q < 3; ++q) {
      const LookupQuery query = random.NewQuery();
      SCOPED_TRACE("step " + std::to_string(step) + ": " + Describe(query));
      const std::string resources = reference.Resources(query);
      const std::vector<int64_t> endpoints = reference.Endpoints(query);
      const std::vector<int64_t> groups = reference.Groups(query);
      ASSERT_EQ(LookupResources(index, query).payload, resources);
      ASSERT_EQ(KeysOf(LookupEndpoints(index, query).payload, "/rd/"), endpoints);
      ASSERT_EQ(KeysOf(LookupGroups(index, query).payload, "/rd-group/"), groups);
      found[0] += resources.empty() ? 0 : 1;
      found[1] += endpoints.empty() ? 0 : 1;
      found[2] += groups.empty() ? 0 : 1;
    }
  }
  std::printf("queries with results: %zu resources, %zu endpoints, %zu groups of 4500\n", found[0],
              found[1], found[2]);
  EXPECT_GT(found[0], 900U);
  EXPECT_GT(found[1], 900U);
  EXPECT_GT(found[2], 900U);
}

}  // namespace
}  // namespace coapgw::rd
