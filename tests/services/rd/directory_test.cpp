#include "rd/directory.hpp"

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "coapgw/events/codec.hpp"
#include "memory_store.hpp"

namespace coapgw::rd {
namespace {

using std::chrono::seconds;

struct Published {
  std::string topic;
  std::string data;
};

Requester Node(const std::string& ip = "2001:db8::1", uint16_t port = 5683) {
  Requester requester;
  requester.ip = ip;
  requester.port = port;
  return requester;
}

class RecordingSink final : public EventSink {
 public:
  void Publish(std::string_view topic, const std::string& data) override {
    events.push_back({std::string(topic), data});
  }
  std::vector<Published> events;
};

class DirectoryTest : public testing::Test {
 protected:
  DirectoryTest() { Make({}); }

  void Make(DirectoryOptions options) {
    directory_ = std::make_unique<Directory>(
        index_, store_, sink_, [this](std::function<void()> task) { posted_.push_back(task); },
        [this] { return now_; }, options);
  }

  // Runs what the store posted back, as the CoAP loop would.
  void RunPosted() {
    while (!posted_.empty()) {
      auto task = std::move(posted_.front());
      posted_.erase(posted_.begin());
      task();
    }
  }

  Reply Call(const std::function<void(ReplyFn)>& call) {
    std::optional<Reply> result;
    call([&](Reply reply) { result = std::move(reply); });
    RunPosted();
    EXPECT_TRUE(result.has_value()) << "no reply";
    return result.value_or(Reply{});
  }

  Reply Register(const std::string& query_text, const std::string& payload,
                 const Requester& from = Node()) {
    return Call([&](ReplyFn reply) {
      directory_->Register(from, Query(query_text), payload, false, std::move(reply));
    });
  }

  static std::vector<QueryParam> Query(const std::string& text) {
    std::vector<QueryParam> query;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t end = std::min(text.find('&', pos), text.size());
      const std::string item = text.substr(pos, end - pos);
      const size_t eq = item.find('=');
      if (eq == std::string::npos) {
        query.push_back({item, std::nullopt});
      } else {
        query.push_back({item.substr(0, eq), item.substr(eq + 1)});
      }
      pos = end + 1;
    }
    return query;
  }

  int64_t KeyOf(const Reply& reply) { return std::stoll(reply.location.substr(4)); }

  Index index_;
  test::MemoryStore store_;
  RecordingSink sink_;
  std::vector<std::function<void()>> posted_;
  TimePoint now_ = TimePoint(seconds(1'700'000'000));
  std::unique_ptr<Directory> directory_;
};

TEST_F(DirectoryTest, RegisterReturnsLocationAndPublishesRegistered) {
  const Reply reply =
      Register("ep=node1&et=oic.d.sensor", "</sensors/temp>;rt=temperature-c;if=sensor");
  EXPECT_EQ(reply.code, 201) << reply.payload;
  EXPECT_EQ(reply.location.rfind("/rd/", 0), 0U);
  const Registration* stored = index_.FindByName("", "node1");
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->base, "coap://[2001:db8::1]");
  EXPECT_EQ(stored->et, "oic.d.sensor");
  EXPECT_EQ(stored->lt_s, 90000);
  EXPECT_EQ(stored->expires_at, now_ + seconds(90000));
  ASSERT_EQ(sink_.events.size(), 1U);
  EXPECT_EQ(sink_.events[0].topic, "rd.device.registered");
  rapidjson::Document document;
  document.Parse(sink_.events[0].data.c_str());
  auto decoded = events::DecodeDeviceRegistered(document);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->device.endpoint, "node1");
  EXPECT_EQ(decoded->device.location, reply.location);
  EXPECT_EQ(decoded->device.device_id, stored->device_id);
}

TEST_F(DirectoryTest, ReRegisteringSameEndpointKeepsLocationAndReplacesLinks) {  // RFC 9176 §5
  const Reply first = Register("ep=node1", "</a>,</b>");
  const Reply second = Register("ep=node1", "</c>");
  EXPECT_EQ(second.code, 201);
  EXPECT_EQ(second.location, first.location);
  const Registration* stored = index_.Find(KeyOf(second));
  ASSERT_NE(stored, nullptr);
  ASSERT_EQ(stored->links.size(), 1U);
  EXPECT_EQ(stored->links[0].target, "/c");
  ASSERT_EQ(sink_.events.size(), 2U);
  EXPECT_EQ(sink_.events[1].topic, "rd.device.updated");
  EXPECT_NE(sink_.events[1].data.find("\"links\""), std::string::npos);
}

TEST_F(DirectoryTest, SameNameInAnotherSectorIsAnotherRegistration) {
  const Reply a = Register("ep=node1&d=floor1", "");
  const Reply b = Register("ep=node1&d=floor2", "");
  EXPECT_NE(a.location, b.location);
  EXPECT_EQ(index_.size(), 2U);
}

TEST_F(DirectoryTest, InvalidRegistrationsAreRefusedWithAReason) {
  struct Case {
    const char* query;
    const char* payload;
    int code;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"", "</a>", 400, "ep"},
      {"ep=", "</a>", 400, "ep"},
      {"ep=0123456789012345678901234567890123456789012345678901234567890123", "", 400, "63"},
      {"ep=n&lt=0", "", 400, "lt"},
      {"ep=n&lt=4294967296", "", 400, "lt"},
      {"ep=n&lt=ten", "", 400, "lt"},
      {"ep=n&base=/relative", "", 400, "base"},
      {"ep=n&base=coap://h/?q=1", "", 400, "query"},
      {"ep=n", "</a>;rt=\"x", 400, "byte"},
      {"ep=n", "<a>", 400, ""},  // not Limited Link Format (RFC 9176 Appendix A.3)
      {"ep=n", "</a>,", 400, "byte"},
  };
  for (const auto& c : cases) {
    const Reply reply = Register(c.query, c.payload);
    EXPECT_EQ(reply.code, c.code) << c.query << " " << c.payload;
    EXPECT_NE(reply.payload.find(c.says), std::string::npos) << reply.payload;
  }
  const Reply control = Call([&](ReplyFn reply) {
    directory_->Register(Node(), {{"ep", std::string("bad\x01", 4)}}, "", false, std::move(reply));
  });
  EXPECT_EQ(control.code, 400);
  EXPECT_EQ(index_.size(), 0U);
  EXPECT_TRUE(sink_.events.empty());
  EXPECT_TRUE(store_.saved.empty());
}

TEST_F(DirectoryTest, UnknownParametersAreKeptAsEndpointAttributes) {
  Register("ep=n&proto=lwm2m&flag", "");
  const Registration* stored = index_.FindByName("", "n");
  ASSERT_NE(stored, nullptr);
  ASSERT_EQ(stored->extra.size(), 2U);
  EXPECT_EQ(stored->extra[0].name, "proto");
  EXPECT_EQ(stored->extra[0].value, "lwm2m");
  EXPECT_EQ(stored->extra[1].name, "flag");
  EXPECT_FALSE(stored->extra[1].value.has_value());
}

TEST_F(DirectoryTest, UpdateRefreshesLifetimeAndOverridesAttributes) {
  const Reply created = Register("ep=n&lt=100&proto=a", "</a>");
  now_ += seconds(50);
  const Reply updated = Call([&](ReplyFn reply) {
    directory_->Update(KeyOf(created), Node(), Query("lt=200&proto=b"), std::move(reply));
  });
  EXPECT_EQ(updated.code, 204);
  const Registration* stored = index_.Find(KeyOf(created));
  EXPECT_EQ(stored->lt_s, 200);
  EXPECT_EQ(stored->expires_at, now_ + seconds(200));
  EXPECT_EQ(stored->extra[0].value, "b");
  EXPECT_EQ(sink_.events.back().topic, "rd.device.updated");
}

TEST_F(DirectoryTest, UpdateWithoutBaseFollowsTheNewSourceAddressUnlessBaseWasGiven) {
  const Reply implicit = Register("ep=a", "");
  Call([&](ReplyFn reply) {
    directory_->Update(KeyOf(implicit), Node("2001:db8::1", 6000), {}, std::move(reply));
  });
  EXPECT_EQ(index_.Find(KeyOf(implicit))->base, "coap://[2001:db8::1]:6000");

  const Reply explicit_base = Register("ep=b&base=coap://proxy.example", "");
  Call([&](ReplyFn reply) {
    directory_->Update(KeyOf(explicit_base), Node("2001:db8::1", 6000), {}, std::move(reply));
  });
  EXPECT_EQ(index_.Find(KeyOf(explicit_base))->base, "coap://proxy.example");
}

TEST_F(DirectoryTest, UnknownRegistrationIsNotFound) {
  EXPECT_EQ(Call([&](ReplyFn r) { directory_->Update(42, Node(), {}, std::move(r)); }).code, 404);
  EXPECT_EQ(Call([&](ReplyFn r) { directory_->Remove(42, Node(), std::move(r)); }).code, 404);
  EXPECT_EQ(directory_->Read(42, Node()).code, 404);
}

TEST_F(DirectoryTest, FirstComeFirstRememberedRefusesOtherSources) {  // RFC 9176 §7.5
  const Reply created = Register("ep=n", "</a>", Node("2001:db8::1"));
  EXPECT_EQ(Register("ep=n", "</evil>", Node("2001:db8::66")).code, 403);
  EXPECT_EQ(Call([&](ReplyFn r) {
              directory_->Remove(KeyOf(created), Node("2001:db8::66"), std::move(r));
            }).code,
            403);
  // The same host from another port is the same source under the default policy.
  EXPECT_EQ(Register("ep=n", "</b>", Node("2001:db8::1", 40000)).code, 201);
  EXPECT_EQ(index_.Find(KeyOf(created))->links[0].target, "/b");
}

TEST_F(DirectoryTest, DtlsIdentityOwnsTheRegistrationWhateverItsAddress) {
  Requester device = Node("2001:db8::1");
  device.scheme = "coaps";
  device.identity = "node-7";
  const Reply created = Register("ep=n", "", device);
  Requester moved = Node("2001:db8::99");
  moved.scheme = "coaps";
  moved.identity = "node-7";
  EXPECT_EQ(
      Call([&](ReplyFn r) { directory_->Update(KeyOf(created), moved, {}, std::move(r)); }).code,
      204);
  EXPECT_EQ(Register("ep=n", "", Node("2001:db8::1")).code, 403);  // same IP, no identity
}

TEST_F(DirectoryTest, RemoveForgetsTheDeviceIdButExpiryKeepsIt) {
  const Reply created = Register("ep=n&lt=10", "");
  const std::string device_id = index_.Find(KeyOf(created))->device_id;
  now_ += seconds(11);
  EXPECT_EQ(directory_->ExpireDue(now_), 1U);
  RunPosted();
  EXPECT_EQ(index_.size(), 0U);
  EXPECT_EQ(sink_.events.back().topic, "rd.device.expired");
  EXPECT_EQ(directory_->expired_device_ids(), std::set<std::string>{device_id});
  const Reply again = Register("ep=n", "");
  EXPECT_EQ(again.location, created.location);
  EXPECT_EQ(index_.Find(KeyOf(again))->device_id, device_id);
  EXPECT_EQ(sink_.events.back().topic, "rd.device.registered");
  EXPECT_TRUE(directory_->expired_device_ids().empty());

  EXPECT_EQ(Call([&](ReplyFn r) { directory_->Remove(KeyOf(again), Node(), std::move(r)); }).code,
            202);
  EXPECT_EQ(sink_.events.back().topic, "rd.device.removed");
  const Reply fresh = Register("ep=n", "");
  EXPECT_NE(index_.Find(KeyOf(fresh))->device_id, device_id);
}

TEST_F(DirectoryTest, RefreshBeforeExpiryExtendsTheRegistration) {
  const Reply created = Register("ep=n&lt=10", "");
  now_ += seconds(8);
  Call([&](ReplyFn r) { directory_->Update(KeyOf(created), Node(), {}, std::move(r)); });
  now_ += seconds(8);
  EXPECT_EQ(directory_->ExpireDue(now_), 0U);
  EXPECT_EQ(index_.size(), 1U);
  now_ += seconds(3);
  EXPECT_EQ(directory_->ExpireDue(now_), 1U);
}

// RFC 9176 §5.3.1: an update of a registration that no longer exists is 4.04 and the endpoint
// registers again. A lifetime that ended counts as expired even before the sweep has run.
TEST_F(DirectoryTest, AnUpdateAfterTheLifetimeEndedIsNotFoundAndTheEndpointRegistersAgain) {
  const Reply created = Register("ep=n&lt=10", "</a>");
  const int64_t key = KeyOf(created);
  const std::string device_id = index_.Find(key)->device_id;
  now_ += seconds(11);  // no sweep yet
  const Reply update =
      Call([&](ReplyFn r) { directory_->Update(key, Node(), Query("lt=60"), std::move(r)); });
  EXPECT_EQ(update.code, 404);
  EXPECT_EQ(index_.Find(key), nullptr);
  EXPECT_EQ(store_.saved.count(key), 0U) << "the expired row is deleted";
  ASSERT_FALSE(sink_.events.empty());
  EXPECT_EQ(sink_.events.back().topic, "rd.device.expired");
  EXPECT_EQ(directory_->ExpireDue(now_), 0U) << "expired once";
  EXPECT_EQ(Call([&](ReplyFn r) { directory_->Update(key, Node(), {}, std::move(r)); }).code, 404);

  const Reply again = Register("ep=n", "</a>");
  EXPECT_EQ(again.code, 201);
  EXPECT_EQ(again.location, created.location);
  EXPECT_EQ(index_.Find(key)->device_id, device_id);
  EXPECT_EQ(sink_.events.back().topic, "rd.device.registered");
  EXPECT_EQ(Call([&](ReplyFn r) { directory_->Update(key, Node(), {}, std::move(r)); }).code, 204);
}

// A lifetime that ends while a refresh of it is being written: the refresh decides. Expiring
// there would delete the row the refresh just committed while the index kept the registration.
TEST_F(DirectoryTest, ExpiryWaitsForARefreshInFlight) {
  const Reply created = Register("ep=n&lt=10", "</a>");
  const int64_t key = KeyOf(created);
  now_ += seconds(9);
  std::optional<Reply> refreshed;
  directory_->Update(key, Node(), {}, [&](Reply reply) { refreshed = std::move(reply); });
  ASSERT_FALSE(refreshed.has_value()) << "the write is still in flight";
  now_ += seconds(2);  // the old lifetime ends meanwhile
  EXPECT_EQ(directory_->ExpireDue(now_), 0U);
  RunPosted();
  ASSERT_TRUE(refreshed.has_value());
  EXPECT_EQ(refreshed->code, 204);
  ASSERT_NE(index_.Find(key), nullptr);
  EXPECT_EQ(store_.saved.count(key), 1U) << "the refreshed row stays";
  EXPECT_EQ(sink_.events.back().topic, "rd.device.updated");
  EXPECT_EQ(directory_->ExpireDue(now_), 0U);
  now_ += seconds(7);  // 18 s: the refreshed lifetime (from 9 s) runs to 19 s
  EXPECT_EQ(directory_->ExpireDue(now_), 0U);
  now_ += seconds(2);
  EXPECT_EQ(directory_->ExpireDue(now_), 1U);
  RunPosted();
  EXPECT_EQ(store_.saved.count(key), 0U);
}

TEST_F(DirectoryTest, LoadExpiresWhatEndedWhileDown) {
  Registration alive;
  alive.key = 1;
  alive.device_id = "a";
  alive.ep = "alive";
  alive.expires_at = now_ + seconds(100);
  Registration dead = alive;
  dead.key = 2;
  dead.device_id = "d";
  dead.ep = "dead";
  dead.expires_at = now_ - seconds(1);
  directory_->Load(StoredState{{alive, dead}, {}, {"e"}, {}});
  RunPosted();
  EXPECT_NE(index_.Find(1), nullptr);
  EXPECT_EQ(index_.Find(2), nullptr);
  ASSERT_EQ(sink_.events.size(), 1U);
  EXPECT_EQ(sink_.events[0].topic, "rd.device.expired");
  EXPECT_EQ(directory_->expired_device_ids(), (std::set<std::string>{"d", "e"}));
}

TEST_F(DirectoryTest, DatabaseDownIsServiceUnavailableWithMaxAgeAndChangesNothing) {
  Register("ep=n", "</a>");
  store_.available = false;
  const Reply reply = Register("ep=n", "</b>");
  EXPECT_EQ(reply.code, 503);
  ASSERT_TRUE(reply.max_age.has_value());
  EXPECT_EQ(index_.FindByName("", "n")->links[0].target, "/a");
  EXPECT_EQ(Register("ep=other", "").code, 503);
  EXPECT_EQ(index_.FindByName("", "other"), nullptr);
  store_.available = true;
  EXPECT_EQ(Register("ep=other", "").code, 201);
}

TEST_F(DirectoryTest, ConcurrentWritesForOneEndpointApplyInArrivalOrder) {
  store_.auto_complete = false;
  std::vector<int> codes;
  directory_->Register(Node(), Query("ep=n"), "</first>", false,
                       [&](Reply r) { codes.push_back(r.code); });
  directory_->Register(Node(), Query("ep=n"), "</second>", false,
                       [&](Reply r) { codes.push_back(r.code); });
  EXPECT_EQ(store_.held(), 1U);  // the second waits for the first
  store_.CompleteOne();
  RunPosted();
  EXPECT_EQ(store_.held(), 1U);
  store_.CompleteOne();
  RunPosted();
  EXPECT_EQ(codes, (std::vector<int>{201, 201}));
  EXPECT_EQ(index_.FindByName("", "n")->links[0].target, "/second");
}

TEST_F(DirectoryTest, LivenessChangesStatusOnceAndAnnouncesIt) {
  Register("ep=n", "");
  const std::string id = index_.FindByName("", "n")->device_id;
  directory_->ApplyLiveness(id, false);
  RunPosted();
  EXPECT_EQ(index_.FindByName("", "n")->status, DeviceStatus::kDisconnected);
  ASSERT_EQ(sink_.events.back().topic, "rd.device.status");
  const size_t count = sink_.events.size();
  directory_->ApplyLiveness(id, false);  // no change, no event
  RunPosted();
  EXPECT_EQ(sink_.events.size(), count);
  // Re-registering makes it connected again.
  Register("ep=n", "");
  EXPECT_EQ(index_.FindByName("", "n")->status, DeviceStatus::kConnected);
}

TEST_F(DirectoryTest, GroupsNeedRegisteredMembers) {  // draft-11 §6.1
  Register("ep=node1", "");
  const Reply missing = Call([&](ReplyFn r) {
    directory_->RegisterGroup(Node(), Query("gp=lights"), "<>;ep=\"node1\",<>;ep=\"node2\"",
                              std::move(r));
  });
  EXPECT_EQ(missing.code, 404);
  Register("ep=node2", "");
  const Reply created = Call([&](ReplyFn r) {
    directory_->RegisterGroup(Node(), Query("gp=lights"), "<>;ep=\"node1\",<>;ep=\"node2\"",
                              std::move(r));
  });
  EXPECT_EQ(created.code, 201);
  EXPECT_EQ(created.location.rfind("/rd-group/", 0), 0U);
  const int64_t key = std::stoll(created.location.substr(10));
  ASSERT_NE(index_.FindGroup(key), nullptr);
  EXPECT_EQ(index_.FindGroup(key)->member_keys.size(), 2U);
  EXPECT_EQ(Call([&](ReplyFn r) { directory_->RemoveGroup(key, Node(), std::move(r)); }).code, 202);
  EXPECT_EQ(index_.FindGroup(key), nullptr);
  EXPECT_EQ(index_.size(), 2U);  // removing a group keeps its endpoints
}

}  // namespace
}  // namespace coapgw::rd
