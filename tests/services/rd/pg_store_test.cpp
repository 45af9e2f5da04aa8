// rd::PgStore and the RD's migrations against a real PostgreSQL: each test gets a database of its
// own (pg_fixture.hpp). The outage tests make the database really go away for the store: its
// session is terminated by the server (pg_terminate_backend) and new connections are refused
// (ALTER DATABASE ... ALLOW_CONNECTIONS false).

#include "rd/pg_store.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "coapgw/common/log.hpp"
#include "coapgw/linkformat/link_format.hpp"
#include "coapgw/test/wait.hpp"
#include "pg_fixture.hpp"
#include "rd/migrations.hpp"
#include "rd/pg_util.hpp"

namespace coapgw::rd {
namespace {

using coapgw::test::WaitUntil;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::TestDatabase;

constexpr milliseconds kWait{10000};
constexpr const char* kApplicationName = "rd-store-test";

// A callback's result, filled on the store's thread and awaited by the test. The state is
// shared, so a callback running after a failed assertion still has somewhere to write.
template <class T>
class Pending {
 public:
  std::function<void(T)> Callback() const {
    return [state = state_](T value) {
      std::lock_guard<std::mutex> lock(state->mutex);
      state->value.emplace(std::move(value));
      state->ready.notify_all();
    };
  }

  /// The value; throws if the callback has not run within `timeout`.
  T Get(milliseconds timeout = kWait) const {
    std::unique_lock<std::mutex> lock(state_->mutex);
    if (!state_->ready.wait_for(lock, timeout, [this] { return state_->value.has_value(); })) {
      throw std::runtime_error("the store's callback did not run in time");
    }
    return *state_->value;
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable ready;
    std::optional<T> value;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

TimePoint At(int64_t micros) {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(micros)));
}

Registration MakeRegistration(const std::string& ep, const std::string& sector = "") {
  Registration r;
  r.ep = ep;
  r.sector = sector;
  r.base = "coap://[2001:db8::1]:5683";
  r.lt_s = 300;
  r.links = {linkformat::Link{"/sensors/temp", {{"rt", "temperature-c"}, {"if", "sensor"}}}};
  r.registered_at = At(1'700'000'000'000'000);
  r.updated_at = r.registered_at;
  r.expires_at = r.registered_at + seconds(r.lt_s);
  return r;
}

PgStoreOptions TestOptions() {
  PgStoreOptions options;
  options.application_name = kApplicationName;
  options.reconnect_min = milliseconds(50);
  options.reconnect_max = milliseconds(200);
  return options;
}

Result<DeviceKey> Save(PgStore& store, const Registration& registration) {
  Pending<Result<DeviceKey>> saved;
  store.SaveRegistration(registration, saved.Callback());
  return saved.Get();
}

Status Remove(PgStore& store, int64_t key, bool forget) {
  Pending<Status> removed;
  store.RemoveRegistration(key, forget, removed.Callback());
  return removed.Get();
}

Result<int64_t> SaveGroup(PgStore& store, const Group& group) {
  Pending<Result<int64_t>> saved;
  store.SaveGroup(group, saved.Callback());
  return saved.Get();
}

std::set<std::string> Eps(const StoredState& state) {
  std::set<std::string> eps;
  for (const Registration& r : state.registrations) {
    eps.insert(r.ep);
  }
  return eps;
}

// Holds the store's writer thread inside a completion callback until Open(), so that whatever is
// submitted meanwhile is queued and taken as one batch.
class Gate {
 public:
  std::function<void(Result<DeviceKey>)> Callback() {
    return [this](const Result<DeviceKey>&) {
      entered_.set_value();
      opened_.wait_for(seconds(10));
    };
  }
  void WaitEntered() {
    ASSERT_EQ(entered_.get_future().wait_for(kWait), std::future_status::ready);
  }
  void Open() { open_.set_value(); }

 private:
  std::promise<void> entered_;
  std::promise<void> open_;
  std::shared_future<void> opened_ = open_.get_future().share();
};

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(std::getenv("COAPGW_TEST_DATABASE_URL"), nullptr)
        << "COAPGW_TEST_DATABASE_URL is not set: run the integration tests via scripts/test "
           "(or: scripts/pg start DIR PORT --fast; export COAPGW_TEST_DATABASE_URL=$(scripts/pg "
           "url DIR PORT))";
    db_ = std::make_unique<TestDatabase>();
  }

  // Opens a store on the test database and loads it (which migrates).
  std::unique_ptr<PgStore> OpenStore(const PgStoreOptions& options = TestOptions()) {
    auto store = std::make_unique<PgStore>(db_->url(), options);
    Result<StoredState> loaded = store->Load();
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    return store;
  }

  static StoredState Load(PgStore& store) {
    Result<StoredState> loaded = store.Load();
    if (!loaded.ok()) {
      throw std::runtime_error("Load failed: " + loaded.error().message);
    }
    return std::move(loaded).value();
  }

  // Terminates the writer's session on the server; returns how many sessions were terminated.
  int TerminateWriter() {
    const std::string writer = " FROM pg_stat_activity WHERE datname = '" + db_->name() +
                               "' AND application_name = '" + kApplicationName + "'";
    // A connection Load() has just closed can still be listed while its backend exits: wait
    // until the writer's is the only one.
    EXPECT_TRUE(WaitUntil([&] { return db_->Admin("SELECT count(*)" + writer) == "1"; }, kWait))
        << db_->Admin("SELECT count(*)" + writer) << " connections";
    return std::stoi(db_->Admin("SELECT count(pg_terminate_backend(pid))" + writer));
  }

  void AllowConnections(bool allow) {
    db_->Admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS " +
               (allow ? "true" : "false"));
  }

  std::unique_ptr<TestDatabase> db_;
};

// ---- migrations ------------------------------------------------------------------------------

TEST_F(PgStoreTest, MigrationsCreateTheSchemaOnceAndASecondStartIsANoOp) {
  const std::vector<Migration>& migrations = EmbeddedMigrations();
  ASSERT_EQ(migrations.size(), 3U);
  pqxx::connection connection(db_->url());

  Result<MigrationReport> first = ApplyMigrations(connection, migrations);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->applied, static_cast<int>(migrations.size()));
  EXPECT_EQ(first->schema_version, static_cast<int>(migrations.size()));
  for (const char* table : {"rd_schema_migrations", "rd_devices", "rd_registrations", "rd_groups",
                            "rd_group_members", "rd_directory"}) {
    EXPECT_EQ(db_->Query(std::string("SELECT to_regclass('") + table + "') IS NOT NULL"), "t")
        << table;
  }
  EXPECT_EQ(db_->Query("SELECT string_agg(version || ':' || name, ',' ORDER BY version)"
                       " FROM rd_schema_migrations"),
            "1:" + migrations[0].name + ",2:" + migrations[1].name + ",3:" + migrations[2].name);

  Result<MigrationReport> second = ApplyMigrations(connection, migrations);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->applied, 0);
  EXPECT_EQ(second->schema_version, static_cast<int>(migrations.size()));
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_schema_migrations"),
            std::to_string(migrations.size()));

  PgStore store(db_->url(), TestOptions());
  EXPECT_TRUE(store.Migrate().ok());
  EXPECT_TRUE(store.Load().ok());
}

// The database's identity is made once, kept by every later start, and differs per database.
TEST_F(PgStoreTest, EachDatabaseHasOneDirectoryIdKeptAcrossStarts) {
  PgStore first(db_->url(), TestOptions());
  const std::string id = Load(first).directory_id;
  EXPECT_EQ(id.size(), 36U) << id;
  PgStore second(db_->url(), TestOptions());
  EXPECT_EQ(Load(second).directory_id, id);
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_directory"), "1");
  TestDatabase other;
  PgStore elsewhere(other.url(), TestOptions());
  const std::string other_id = Load(elsewhere).directory_id;
  EXPECT_EQ(other_id.size(), 36U);
  EXPECT_NE(other_id, id);
}

TEST_F(PgStoreTest, TwoRdsMigratingTogetherApplyEachMigrationOnce) {
  std::vector<Result<MigrationReport>> reports(
      2, Result<MigrationReport>(MakeError(ErrorCode::kInternal, "not run")));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < reports.size(); ++i) {
    threads.emplace_back([this, &reports, i] {
      pqxx::connection connection(db_->url());
      reports[i] = ApplyMigrations(connection, EmbeddedMigrations());
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  ASSERT_TRUE(reports[0].ok()) << reports[0].error().message;
  ASSERT_TRUE(reports[1].ok()) << reports[1].error().message;
  EXPECT_EQ(reports[0]->applied + reports[1]->applied,
            static_cast<int>(EmbeddedMigrations().size()));
}

TEST_F(PgStoreTest, ADatabaseWithANewerSchemaIsRefused) {
  PgStore store(db_->url(), TestOptions());
  ASSERT_TRUE(store.Migrate().ok());
  const int newer = static_cast<int>(EmbeddedMigrations().size()) + 1;
  db_->Query("INSERT INTO rd_schema_migrations (version, name) VALUES (" + std::to_string(newer) +
             ", '9999_from_the_future')");

  Result<StoredState> loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(loaded.error().message.find("newer than this rd"), std::string::npos)
      << loaded.error().message;
  EXPECT_NE(loaded.error().message.find(std::to_string(newer)), std::string::npos);
}

TEST_F(PgStoreTest, AMigrationRenamedSinceItWasAppliedIsRefused) {
  pqxx::connection connection(db_->url());
  ASSERT_TRUE(ApplyMigrations(connection, EmbeddedMigrations()).ok());
  std::vector<Migration> renamed = EmbeddedMigrations();
  renamed[0].name = "0001_something_else";
  Result<MigrationReport> report = ApplyMigrations(connection, renamed);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(report.error().message.find("0001_something_else"), std::string::npos);
}

TEST_F(PgStoreTest, AFailingMigrationIsRolledBackAndEarlierOnesStay) {
  std::vector<Migration> migrations = EmbeddedMigrations();
  const int bad_version = static_cast<int>(migrations.size()) + 1;
  migrations.push_back(
      {bad_version, "9999_broken", "CREATE TABLE rd_half_done (a integer); SELECT 1 / 0;"});
  pqxx::connection connection(db_->url());

  Result<MigrationReport> report = ApplyMigrations(connection, migrations);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().code, ErrorCode::kInternal);
  EXPECT_NE(report.error().message.find("9999_broken"), std::string::npos)
      << report.error().message;
  EXPECT_EQ(db_->Query("SELECT max(version) FROM rd_schema_migrations"),
            std::to_string(bad_version - 1));
  EXPECT_EQ(db_->Query("SELECT to_regclass('rd_half_done') IS NULL"), "t");
}

// ---- registrations ---------------------------------------------------------------------------

TEST_F(PgStoreTest, SaveThenLoadKeepsEveryField) {
  auto store = OpenStore();
  Registration r = MakeRegistration("node1", "factory-a");
  r.base = "coap://[2001:db8::7]:61616";
  r.base_explicit = true;
  r.et = "oic.d.sensor";
  r.lt_s = 4294967295;
  r.extra = {{"proxy", std::string("on")},
             {"zeta", std::nullopt},
             {"alpha", std::string("1")},
             {"proxy", std::string("a \"quoted\" \\ value, é")}};
  auto parsed = linkformat::Parse(
      R"(</sensors/temp>;rt="temperature-c a b";if=sensor;obs,)"
      R"(</s/x>;title="a \"quoted\" title, with; separators \\ and é";ct=40;anchor="/a")"
      R"(,<coap://[2001:db8::2]/lamp>;rel=hosts;foo*=UTF-8'en'x;sz)");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  r.links = *parsed;
  r.status = DeviceStatus::kDisconnected;
  r.owner = "dtls:psk:node1-identity";
  r.simple = true;
  r.registered_at = At(1'700'000'000'123'456);
  r.updated_at = At(1'700'000'100'654'321);
  r.expires_at = At(1'700'004'000'000'001);

  Result<DeviceKey> saved = Save(*store, r);
  ASSERT_TRUE(saved.ok()) << saved.error().message;
  EXPECT_GT(saved->key, 0);
  EXPECT_EQ(saved->device_id.size(), 36u);

  StoredState state = Load(*store);
  ASSERT_EQ(state.registrations.size(), 1u);
  const Registration& loaded = state.registrations[0];
  EXPECT_EQ(loaded.key, saved->key);
  EXPECT_EQ(loaded.device_id, saved->device_id);
  EXPECT_EQ(loaded.ep, r.ep);
  EXPECT_EQ(loaded.sector, r.sector);
  EXPECT_EQ(loaded.base, r.base);
  EXPECT_EQ(loaded.base_explicit, r.base_explicit);
  EXPECT_EQ(loaded.et, r.et);
  EXPECT_EQ(loaded.lt_s, r.lt_s);
  EXPECT_EQ(loaded.extra, r.extra);
  EXPECT_EQ(loaded.links, r.links);
  EXPECT_EQ(loaded.status, r.status);
  EXPECT_EQ(loaded.owner, r.owner);
  EXPECT_EQ(loaded.simple, r.simple);
  // Kept to the microsecond, PostgreSQL's precision.
  EXPECT_EQ(loaded.registered_at, r.registered_at);
  EXPECT_EQ(loaded.updated_at, r.updated_at);
  EXPECT_EQ(loaded.expires_at, r.expires_at);
  EXPECT_TRUE(state.groups.empty());
}

TEST_F(PgStoreTest, TimestampsBeyondTheMicrosecondAreTruncatedToIt) {
  auto store = OpenStore();
  Registration r = MakeRegistration("nano");
  r.registered_at = TimePoint(std::chrono::nanoseconds(1'700'000'000'123'456'789));
  ASSERT_TRUE(Save(*store, r).ok());
  EXPECT_EQ(Load(*store).registrations.at(0).registered_at, At(1'700'000'000'123'456));
}

TEST_F(PgStoreTest, ResavingTheSamePairKeepsItsIdentityAndReplacesTheRest) {
  auto store = OpenStore();
  Registration r = MakeRegistration("node1", "d1");
  Result<DeviceKey> first = Save(*store, r);
  ASSERT_TRUE(first.ok());
  // The same endpoint name in another sector is another device.
  Result<DeviceKey> other_sector = Save(*store, MakeRegistration("node1", "d2"));
  ASSERT_TRUE(other_sector.ok());
  EXPECT_NE(other_sector->key, first->key);
  EXPECT_NE(other_sector->device_id, first->device_id);

  // The device's row is written once: a re-registration leaves it alone (same row version).
  const std::string device_row =
      "SELECT xmin::text FROM rd_devices WHERE key = " + std::to_string(first->key);
  const std::string device_version = db_->Query(device_row);

  r.links = {linkformat::Link{"/actuators/lamp", {{"rt", "light"}}}};
  r.extra = {{"x", std::string("y")}};
  r.lt_s = 60;
  Result<DeviceKey> second = Save(*store, r);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->key, first->key);
  EXPECT_EQ(second->device_id, first->device_id);
  EXPECT_EQ(db_->Query(device_row), device_version);

  StoredState state = Load(*store);
  ASSERT_EQ(state.registrations.size(), 2u);
  const Registration& loaded = state.registrations[0];
  EXPECT_EQ(loaded.key, first->key);
  EXPECT_EQ(loaded.links, r.links);
  EXPECT_EQ(loaded.extra, r.extra);
  EXPECT_EQ(loaded.lt_s, 60);
}

TEST_F(PgStoreTest, RemovingWithoutForgettingKeepsTheIdentityForTheNextSave) {
  auto store = OpenStore();
  Result<DeviceKey> first = Save(*store, MakeRegistration("node1"));
  ASSERT_TRUE(first.ok());

  ASSERT_TRUE(Remove(*store, first->key, false).ok());
  EXPECT_TRUE(Load(*store).registrations.empty());
  // Removing again is not an error.
  EXPECT_TRUE(Remove(*store, first->key, false).ok());

  Result<DeviceKey> again = Save(*store, MakeRegistration("node1"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->key, first->key);
  EXPECT_EQ(again->device_id, first->device_id);
}

TEST_F(PgStoreTest, RemovingAndForgettingGivesANewIdentityOnTheNextSave) {
  auto store = OpenStore();
  Result<DeviceKey> first = Save(*store, MakeRegistration("node1"));
  ASSERT_TRUE(first.ok());

  ASSERT_TRUE(Remove(*store, first->key, true).ok());
  EXPECT_TRUE(Load(*store).registrations.empty());
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_devices"), "0");

  Result<DeviceKey> again = Save(*store, MakeRegistration("node1"));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->key, first->key);
  EXPECT_NE(again->device_id, first->device_id);
}

TEST_F(PgStoreTest, SaveStatusChangesOnlyTheStatus) {
  auto store = OpenStore();
  const Registration r = MakeRegistration("node1");
  Result<DeviceKey> saved = Save(*store, r);
  ASSERT_TRUE(saved.ok());

  Pending<Status> changed;
  store->SaveStatus(saved->key, DeviceStatus::kDisconnected, changed.Callback());
  ASSERT_TRUE(changed.Get().ok());
  Pending<Status> missing;
  store->SaveStatus(saved->key + 1000, DeviceStatus::kDisconnected, missing.Callback());
  Status missing_status = missing.Get();
  ASSERT_FALSE(missing_status.ok());
  EXPECT_EQ(missing_status.error().code, ErrorCode::kNotFound);

  StoredState state = Load(*store);
  ASSERT_EQ(state.registrations.size(), 1u);
  EXPECT_EQ(state.registrations[0].status, DeviceStatus::kDisconnected);
  EXPECT_EQ(state.registrations[0].links, r.links);
  EXPECT_EQ(state.registrations[0].updated_at, r.updated_at);
}

TEST_F(PgStoreTest, ValuesTheDatabaseCannotHoldAreRefused) {
  auto store = OpenStore();
  Registration nul = MakeRegistration(std::string("no\0de", 5));
  Result<DeviceKey> saved = Save(*store, nul);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().code, ErrorCode::kInvalidArgument);

  Result<DeviceKey> too_long = Save(*store, MakeRegistration(std::string(64, 'e')));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(too_long.error().message.find("SQLSTATE 23514"), std::string::npos)
      << too_long.error().message;
  // The refused value is not echoed back.
  EXPECT_EQ(too_long.error().message.find("eeee"), std::string::npos);
  EXPECT_TRUE(Load(*store).registrations.empty());
}

// ---- groups ----------------------------------------------------------------------------------

TEST_F(PgStoreTest, GroupsRoundTripAndFollowTheirMembers) {
  auto store = OpenStore();
  Result<DeviceKey> a = Save(*store, MakeRegistration("a", "d"));
  Result<DeviceKey> b = Save(*store, MakeRegistration("b", "d"));
  Result<DeviceKey> c = Save(*store, MakeRegistration("c", "d"));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());

  Group group;
  group.name = "lights";
  group.sector = "d";
  group.base = "coap://[ff35:30:2001:db8::1]";
  group.owner = "alice";
  group.member_keys = {c->key, a->key, b->key};
  Result<int64_t> key = SaveGroup(*store, group);
  ASSERT_TRUE(key.ok()) << key.error().message;
  Group empty;
  empty.name = "empty";
  Result<int64_t> empty_key = SaveGroup(*store, empty);
  ASSERT_TRUE(empty_key.ok());

  StoredState state = Load(*store);
  ASSERT_EQ(state.groups.size(), 2u);
  EXPECT_EQ(state.groups[0].key, *key);
  EXPECT_EQ(state.groups[0].name, "lights");
  EXPECT_EQ(state.groups[0].sector, "d");
  EXPECT_EQ(state.groups[0].base, group.base);
  EXPECT_EQ(state.groups[0].owner, "alice");
  EXPECT_EQ(state.groups[0].member_keys, group.member_keys);
  EXPECT_EQ(state.groups[1].key, *empty_key);
  EXPECT_TRUE(state.groups[1].member_keys.empty());

  // Saving (sector, name) again replaces base and members and keeps the key.
  group.base = "";
  group.member_keys = {b->key};
  Result<int64_t> resaved = SaveGroup(*store, group);
  ASSERT_TRUE(resaved.ok());
  EXPECT_EQ(*resaved, *key);
  group.member_keys = {a->key, b->key};
  ASSERT_TRUE(SaveGroup(*store, group).ok());

  // Expiry keeps the membership, forgetting the device drops it.
  ASSERT_TRUE(Remove(*store, a->key, false).ok());
  EXPECT_EQ(Load(*store).groups[0].member_keys, (std::vector<int64_t>{a->key, b->key}));
  ASSERT_TRUE(Remove(*store, b->key, true).ok());
  state = Load(*store);
  EXPECT_EQ(state.groups[0].member_keys, std::vector<int64_t>{a->key});
  EXPECT_EQ(state.groups[0].base, "");

  Pending<Status> removed;
  store->RemoveGroup(*key, removed.Callback());
  ASSERT_TRUE(removed.Get().ok());
  state = Load(*store);
  ASSERT_EQ(state.groups.size(), 1u);
  EXPECT_EQ(state.groups[0].name, "empty");
  EXPECT_EQ(Eps(state), (std::set<std::string>{"c"}));  // the members' registrations stay
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_group_members"), "0");
}

TEST_F(PgStoreTest, AGroupWithAnUnknownMemberIsRefused) {
  auto store = OpenStore();
  Group group;
  group.name = "ghosts";
  group.member_keys = {424242};
  Result<int64_t> saved = SaveGroup(*store, group);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Load(*store).groups.empty());
}

// ---- batching --------------------------------------------------------------------------------

TEST_F(PgStoreTest, AThousandOpsCommitInFewBatchesAndCompleteInOrder) {
  auto store = OpenStore();
  constexpr int kOps = 1000;
  std::mutex mutex;
  std::vector<int> order;
  std::atomic<int> failures{0};
  for (int i = 0; i < kOps; ++i) {
    store->SaveRegistration(MakeRegistration("n" + std::to_string(i)),
                            [&, i](const Result<DeviceKey>& saved) {
                              if (!saved.ok()) {
                                ++failures;
                              }
                              std::lock_guard<std::mutex> lock(mutex);
                              order.push_back(i);
                            });
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return order.size() == kOps;
      },
      kWait));
  EXPECT_EQ(failures.load(), 0);
  for (int i = 0; i < kOps; ++i) {
    ASSERT_EQ(order[static_cast<size_t>(i)], i);
  }
  const PgStoreStats stats = store->stats();
  EXPECT_EQ(stats.ops, static_cast<uint64_t>(kOps));
  EXPECT_LT(stats.batches, static_cast<uint64_t>(kOps));
  EXPECT_EQ(stats.failed_ops, 0u);
  EXPECT_EQ(Load(*store).registrations.size(), static_cast<size_t>(kOps));
}

TEST_F(PgStoreTest, OneBadOpInABatchFailsAloneAndTheOthersAreApplied) {
  auto store = OpenStore();
  Gate gate;
  store->SaveRegistration(MakeRegistration("gate"), gate.Callback());
  gate.WaitEntered();
  // Queued behind the gate, so all of these are one batch.
  std::vector<Pending<Result<DeviceKey>>> saves(6);
  for (size_t i = 0; i < saves.size(); ++i) {
    // Ops 2 and 4 violate the ep length check.
    const std::string ep = i == 2   ? std::string(70, 'x')
                           : i == 4 ? std::string(70, 'y')
                                    : "ok" + std::to_string(i);
    store->SaveRegistration(MakeRegistration(ep), saves[i].Callback());
  }
  Pending<Status> status;
  store->SaveStatus(123456, DeviceStatus::kConnected,
                    status.Callback());  // kNotFound, no SQL error
  const uint64_t batches_before = store->stats().batches;
  gate.Open();

  for (size_t i = 0; i < saves.size(); ++i) {
    Result<DeviceKey> saved = saves[i].Get();
    if (i == 2 || i == 4) {
      ASSERT_FALSE(saved.ok()) << i;
      EXPECT_EQ(saved.error().code, ErrorCode::kInvalidArgument);
    } else {
      EXPECT_TRUE(saved.ok()) << i << ": " << saved.error().message;
    }
  }
  EXPECT_EQ(status.Get().error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Eps(Load(*store)), (std::set<std::string>{"gate", "ok0", "ok1", "ok3", "ok5"}));
  const PgStoreStats stats = store->stats();
  EXPECT_GE(stats.split_batches, 2u);
  // The batch went in as [ok0 ok1] [ok3] [ok5 status]: three commits, not one per op.
  EXPECT_EQ(stats.batches - batches_before, 3u);
}

TEST_F(PgStoreTest, ThePairSavedTwiceInOneBatchGetsOneIdentityAndTheLastRegistration) {
  auto store = OpenStore();
  Gate gate;
  store->SaveRegistration(MakeRegistration("gate"), gate.Callback());
  gate.WaitEntered();
  Registration first = MakeRegistration("twice");
  Registration second = first;
  second.links = {linkformat::Link{"/second", {}}};
  Pending<Result<DeviceKey>> saved_first;
  Pending<Result<DeviceKey>> saved_other;
  Pending<Result<DeviceKey>> saved_second;
  store->SaveRegistration(first, saved_first.Callback());
  store->SaveRegistration(MakeRegistration("other"), saved_other.Callback());
  store->SaveRegistration(second, saved_second.Callback());
  gate.Open();

  Result<DeviceKey> a = saved_first.Get();
  Result<DeviceKey> b = saved_second.Get();
  ASSERT_TRUE(a.ok() && b.ok() && saved_other.Get().ok());
  EXPECT_EQ(a->key, b->key);
  EXPECT_EQ(a->device_id, b->device_id);
  StoredState state = Load(*store);
  ASSERT_EQ(state.registrations.size(), 3u);
  for (const Registration& r : state.registrations) {
    if (r.ep == "twice") {
      EXPECT_EQ(r.links, second.links);
    }
  }
}

TEST_F(PgStoreTest, TheDestructorWritesWhatIsQueued) {
  std::atomic<int> ok{0};
  {
    auto store = OpenStore();
    for (int i = 0; i < 200; ++i) {
      store->SaveRegistration(MakeRegistration("q" + std::to_string(i)),
                              [&](const Result<DeviceKey>& saved) { ok += saved.ok() ? 1 : 0; });
    }
  }
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_registrations"), "200");
}

// ---- outages ---------------------------------------------------------------------------------

TEST_F(PgStoreTest, WhenTheDatabaseGoesAwayWritesFailFastAndTheStoreComesBackByItself) {
  auto store = OpenStore();
  ASSERT_TRUE(Save(*store, MakeRegistration("before")).ok());
  ASSERT_TRUE(WaitUntil([&] { return store->available(); }, kWait));

  AllowConnections(false);
  ASSERT_EQ(TerminateWriter(), 1);

  Result<DeviceKey> during = Save(*store, MakeRegistration("during1"));
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(store->available());
  // While it is away, every write fails at once (Save waits at most kWait for the answer).
  for (int i = 0; i < 3; ++i) {
    Pending<Status> status;
    store->SaveStatus(1, DeviceStatus::kDisconnected, status.Callback());
    Result<DeviceKey> saved = Save(*store, MakeRegistration("during" + std::to_string(i + 2)));
    ASSERT_FALSE(saved.ok());
    EXPECT_EQ(saved.error().code, ErrorCode::kUnavailable) << saved.error().message;
    EXPECT_EQ(status.Get().error().code, ErrorCode::kUnavailable);
  }
  EXPECT_FALSE(store->available());

  AllowConnections(true);
  ASSERT_TRUE(WaitUntil([&] { return store->available(); }, kWait));
  Result<DeviceKey> after = Save(*store, MakeRegistration("after"));
  ASSERT_TRUE(after.ok()) << after.error().message;

  EXPECT_EQ(Eps(Load(*store)), (std::set<std::string>{"before", "after"}));
  const PgStoreStats stats = store->stats();
  EXPECT_EQ(stats.disconnects, 1u);
  EXPECT_EQ(stats.failed_ops, 7u);
}

TEST_F(PgStoreTest, AnIdleStoreNoticesTheDatabaseGoingAwayAndComingBack) {
  PgStoreOptions options = TestOptions();
  options.idle_check = milliseconds(50);
  auto store = OpenStore(options);
  ASSERT_TRUE(WaitUntil([&] { return store->available(); }, kWait));

  AllowConnections(false);
  ASSERT_EQ(TerminateWriter(), 1);
  EXPECT_TRUE(WaitUntil([&] { return !store->available(); }, kWait));
  AllowConnections(true);
  EXPECT_TRUE(WaitUntil([&] { return store->available(); }, kWait));
  EXPECT_TRUE(Save(*store, MakeRegistration("after")).ok());
  EXPECT_EQ(store->stats().disconnects, 1u);
}

TEST_F(PgStoreTest, ASessionKilledInsideABatchLeavesNothingHalfApplied) {
  auto store = OpenStore();
  ASSERT_TRUE(Save(*store, MakeRegistration("member")).ok());
  const int64_t member_key = Load(*store).registrations.at(0).key;

  // An admin transaction holds rd_groups, so the batch below stops at its group write, after it
  // has written the registrations before it.
  pqxx::connection locker(db_->url());
  pqxx::work lock_txn(locker);
  lock_txn.exec("LOCK TABLE rd_groups IN ACCESS EXCLUSIVE MODE");

  Gate gate;
  store->SaveRegistration(MakeRegistration("gate"), gate.Callback());
  gate.WaitEntered();
  Pending<Result<DeviceKey>> first;
  Pending<Result<DeviceKey>> second;
  Pending<Result<int64_t>> group;
  store->SaveRegistration(MakeRegistration("half1"), first.Callback());
  store->SaveRegistration(MakeRegistration("half2"), second.Callback());
  Group g;
  g.name = "g";
  g.member_keys = {member_key};
  store->SaveGroup(g, group.Callback());
  gate.Open();

  ASSERT_TRUE(WaitUntil(
      [&] {
        return db_->Query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                          std::string(kApplicationName) + "' AND wait_event_type = 'Lock'") == "1";
      },
      kWait));
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_devices WHERE ep LIKE 'half%'"), "0");
  ASSERT_EQ(TerminateWriter(), 1);

  for (const auto* pending : {&first, &second}) {
    Result<DeviceKey> saved = pending->Get();
    ASSERT_FALSE(saved.ok());
    EXPECT_EQ(saved.error().code, ErrorCode::kUnavailable);
  }
  Result<int64_t> group_saved = group.Get();
  ASSERT_FALSE(group_saved.ok());
  EXPECT_EQ(group_saved.error().code, ErrorCode::kUnavailable);
  lock_txn.abort();

  ASSERT_TRUE(WaitUntil([&] { return store->available(); }, kWait));
  StoredState state = Load(*store);
  EXPECT_EQ(Eps(state), (std::set<std::string>{"member", "gate"}));
  EXPECT_TRUE(state.groups.empty());
  EXPECT_EQ(db_->Query("SELECT count(*) FROM rd_devices WHERE ep LIKE 'half%'"), "0");
  ASSERT_TRUE(Save(*store, MakeRegistration("half1")).ok());
}

TEST_F(PgStoreTest, AnUnreachableDatabaseIsReportedWithoutItsPassword) {
  PgStore store("postgresql://coapgw:s3cret-pw@127.0.0.1:1/nowhere", TestOptions());
  Result<StoredState> loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(loaded.error().message.find("postgresql://coapgw:***@127.0.0.1:1/nowhere"),
            std::string::npos)
      << loaded.error().message;
  EXPECT_EQ(loaded.error().message.find("s3cret"), std::string::npos);

  Result<DeviceKey> saved = Save(store, MakeRegistration("node1"));
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(saved.error().message.find("s3cret"), std::string::npos);
  EXPECT_FALSE(store.available());
  EXPECT_EQ(store.redacted_url().find("s3cret"), std::string::npos);

  // libpq quotes a malformed part of the URL in its message; the password must not get out.
  PgStore malformed("postgresql://coapgw:s3cret%zz@127.0.0.1:1/nowhere", TestOptions());
  Result<StoredState> refused = malformed.Load();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(refused.error().message.find("s3cret"), std::string::npos) << refused.error().message;
}

// ---- helpers of the store (no database needed, but they live with it) ------------------------

TEST(PgUtilTest, RedactsPasswordsInEveryUrlForm) {
  EXPECT_EQ(RedactDatabaseUrl("postgresql://rd:pa:ss@db.example:5432/rd?sslmode=require"),
            "postgresql://rd:***@db.example:5432/rd?sslmode=require");
  EXPECT_EQ(RedactDatabaseUrl("postgres://rd@db/rd?password=x%20y&sslmode=disable"),
            "postgres://rd@db/rd?password=***&sslmode=disable");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://rd:secret@[::1]"), "postgresql://rd:***@[::1]");
  EXPECT_EQ(RedactDatabaseUrl("postgresql://h/db?user=rd@x"), "postgresql://h/db?user=rd@x");
  EXPECT_EQ(RedactDatabaseUrl("postgresql:///rd"), "postgresql:///rd");
  EXPECT_EQ(RedactDatabaseUrl("host=db user=rd password=secret dbname=rd"),
            "host=db user=rd password=*** dbname=rd");
  EXPECT_EQ(RedactDatabaseUrl("host=db password = 'it\\'s a secret' dbname=rd"),
            "host=db password = *** dbname=rd");
  EXPECT_EQ(RedactDatabaseUrl("host=db passwordless=1"), "host=db passwordless=1");
}

TEST(PgUtilTest, RedactsPasswordsQuotedInMessages) {
  EXPECT_EQ(
      RedactPasswords("invalid percent-encoded token: \"s3%zz\"", "postgresql://rd:s3%zz@db/rd"),
      "invalid percent-encoded token: \"***\"");
  EXPECT_EQ(RedactPasswords("x 'it\\'s' y it\\'s", "password='it\\'s'"), "x '***' y ***");
  EXPECT_EQ(RedactPasswords("nothing to hide", "host=db"), "nothing to hide");
}

TEST(PgUtilTest, AddsConnectParametersUnlessTheUrlSetsThem) {
  EXPECT_EQ(WithConnectParameter("postgresql://h/db", "connect_timeout", "2"),
            "postgresql://h/db?connect_timeout=2");
  EXPECT_EQ(WithConnectParameter("postgresql://h/db?sslmode=disable", "connect_timeout", "2"),
            "postgresql://h/db?sslmode=disable&connect_timeout=2");
  EXPECT_EQ(WithConnectParameter("postgresql://h/db?connect_timeout=9", "connect_timeout", "2"),
            "postgresql://h/db?connect_timeout=9");
  EXPECT_EQ(WithConnectParameter("host=h dbname=db", "application_name", "rd"),
            "host=h dbname=db application_name=rd");
}

TEST(PgUtilTest, ClassifiesSqlStates) {
  EXPECT_EQ(ErrorCodeForSqlState("23505"), ErrorCode::kConflict);
  EXPECT_EQ(ErrorCodeForSqlState("23503"), ErrorCode::kNotFound);
  EXPECT_EQ(ErrorCodeForSqlState("23514"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeForSqlState("22021"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorCodeForSqlState("57014"), ErrorCode::kTimeout);
  EXPECT_EQ(ErrorCodeForSqlState("53300"), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("42P01"), ErrorCode::kInternal);
  EXPECT_TRUE(IsStatementSpecific("23514"));
  EXPECT_TRUE(IsStatementSpecific("42P01"));
  EXPECT_FALSE(IsStatementSpecific("57014"));
  EXPECT_FALSE(IsStatementSpecific("40001"));
  EXPECT_FALSE(IsStatementSpecific(""));
}

// ---- throughput, logged once (figures belong to bench/, nothing is asserted on them) ---------

TEST_F(PgStoreTest, LogsTheSustainedSaveRate) {
  auto store = OpenStore();
  constexpr int kDevices = 10000;
  // First registrations create devices; the same devices again replace their registrations.
  for (const char* phase : {"new devices", "re-registrations"}) {
    std::atomic<int> done{0};
    std::atomic<int> failed{0};
    const uint64_t batches_before = store->stats().batches;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kDevices; ++i) {
      store->SaveRegistration(MakeRegistration("rate" + std::to_string(i)),
                              [&](const Result<DeviceKey>& saved) {
                                failed += saved.ok() ? 0 : 1;
                                ++done;
                              });
    }
    ASSERT_TRUE(WaitUntil([&] { return done.load() == kDevices; }, milliseconds(60000)));
    const double elapsed_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(failed.load(), 0);
    log::Info("rd-store-test", "sustained SaveRegistration rate",
              {{"phase", phase},
               {"ops", std::to_string(kDevices)},
               {"seconds", std::to_string(elapsed_s)},
               {"ops_per_s", std::to_string(static_cast<int64_t>(kDevices / elapsed_s))},
               {"batches", std::to_string(store->stats().batches - batches_before)}});
  }
}

}  // namespace
}  // namespace coapgw::rd
