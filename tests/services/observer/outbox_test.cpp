// The bounded way to the bus: direct while the bus takes values, one waiting value per resource
// (latest wins) while it does not.

#include "observer/outbox.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace coapgw::observer {
namespace {

events::ObservedData Value(const std::string& device, const std::string& payload) {
  events::ObservedData data;
  data.device_id = device;
  data.path = "/temp";
  data.service = "GET /temp";
  data.code = "2.05";
  data.payload.data = payload;
  data.observed = true;
  return data;
}

class OutboxTest : public testing::Test {
 protected:
  Outbox MakeOutbox(size_t capacity) {
    return Outbox(capacity, [this](const events::ObservedData& data) {
      if (!bus_open_) {
        return false;
      }
      published_.push_back(data.device_id + "=" + data.payload.data);
      return true;
    });
  }

  bool bus_open_ = true;
  std::vector<std::string> published_;
};

TEST_F(OutboxTest, PublishesAtOnceWhileTheBusTakesValues) {
  Outbox outbox = MakeOutbox(10);
  outbox.Push(1, Value("a", "1"));
  outbox.Push(1, Value("a", "2"));
  EXPECT_EQ(published_, (std::vector<std::string>{"a=1", "a=2"}));
  EXPECT_EQ(outbox.pending(), 0U);
  EXPECT_EQ(outbox.stats().published, 2U);
  EXPECT_EQ(outbox.stats().coalesced, 0U);
}

TEST_F(OutboxTest, KeepsTheLatestValuePerResourceWhileTheBusIsFull) {
  Outbox outbox = MakeOutbox(10);
  bus_open_ = false;
  outbox.Push(1, Value("a", "1"));
  outbox.Push(2, Value("b", "1"));
  outbox.Push(1, Value("a", "2"));
  outbox.Push(1, Value("a", "3"));
  EXPECT_EQ(outbox.pending(), 2U);
  EXPECT_EQ(outbox.stats().coalesced, 2U);
  EXPECT_EQ(outbox.stats().refused, 1U);  // only the first push tried the bus
  EXPECT_FALSE(outbox.Flush());
  EXPECT_EQ(outbox.stats().refused, 2U);
  bus_open_ = true;
  EXPECT_TRUE(outbox.Flush());
  // Arrival order of the resources, each with its latest value.
  EXPECT_EQ(published_, (std::vector<std::string>{"a=3", "b=1"}));
  EXPECT_EQ(outbox.pending(), 0U);
}

TEST_F(OutboxTest, NewValuesWaitBehindOlderOnes) {
  Outbox outbox = MakeOutbox(10);
  bus_open_ = false;
  outbox.Push(1, Value("a", "1"));
  bus_open_ = true;
  outbox.Push(2, Value("b", "1"));  // the bus would take it, but "a" waits: keep the order
  EXPECT_TRUE(published_.empty());
  EXPECT_TRUE(outbox.Flush());
  EXPECT_EQ(published_, (std::vector<std::string>{"a=1", "b=1"}));
}

TEST_F(OutboxTest, DropsNewResourcesBeyondItsCapacity) {
  Outbox outbox = MakeOutbox(2);
  bus_open_ = false;
  outbox.Push(1, Value("a", "1"));
  outbox.Push(2, Value("b", "1"));
  outbox.Push(3, Value("c", "1"));
  outbox.Push(2, Value("b", "2"));  // a waiting resource still takes its newer value
  EXPECT_EQ(outbox.pending(), 2U);
  EXPECT_EQ(outbox.stats().dropped, 1U);
  bus_open_ = true;
  EXPECT_TRUE(outbox.Flush());
  EXPECT_EQ(published_, (std::vector<std::string>{"a=1", "b=2"}));
}

TEST_F(OutboxTest, AFloodAgainstAClosedBusStaysBoundedByTheResources) {
  Outbox outbox = MakeOutbox(1000);
  bus_open_ = false;
  for (int i = 0; i < 200000; ++i) {
    outbox.Push(static_cast<uint64_t>(i % 100),
                Value("d" + std::to_string(i % 100), std::to_string(i)));
  }
  EXPECT_EQ(outbox.pending(), 100U);
  EXPECT_EQ(outbox.stats().coalesced, 199900U);
  bus_open_ = true;
  EXPECT_TRUE(outbox.Flush());
  ASSERT_EQ(published_.size(), 100U);
  EXPECT_EQ(published_.front(), "d0=199900");
  EXPECT_EQ(published_.back(), "d99=199999");
}

}  // namespace
}  // namespace coapgw::observer
