// RFC 7641 observation between our server and our client.

#include <atomic>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "coap_test_util.hpp"
#include "coapgw/test/wait.hpp"

namespace coapgw::coap::testing {
namespace {

// Notifications collected on the client loop, read from the test thread.
class Collector {
 public:
  NotificationCallback Callback() {
    return [this](Outcome<Notification> event) {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(std::move(event));
    };
  }
  size_t Count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
  }
  Outcome<Notification> At(size_t i) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.at(i);
  }
  bool WaitForCount(size_t count, std::chrono::milliseconds timeout = kWait) const {
    return test::WaitUntil([&] { return Count() >= count; }, timeout);
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Outcome<Notification>> events_;
};

class ObserveTest : public CoapFixture {
 protected:
  // "/counter": observable; each GET answers the current value; deregistrations are counted.
  void AddCounter(bool confirmable_notifications = false, std::optional<uint32_t> max_age = {}) {
    OnServer([&](Server& server) {
      ResourceOptions options;
      options.observable = true;
      options.notify_confirmable = confirmable_notifications;
      server.AddResource("/counter", options)
          .On(Method::kGet, [this, max_age](const Request& request, Response& response) {
            if (request.observe == 1U) {
              ++deregistrations_;
            }
            response.SetPayload(std::to_string(value_), content_format::kTextPlain);
            if (max_age) {
              response.SetMaxAge(*max_age);
            }
          });
      return 0;
    });
  }

  // Starts observing `path` into `events` (kept in observation_).
  void Observe(const std::string& path, Collector& events, ObserveOptions options = {}) {
    OnClient([&](Client& client) {
      observation_ = client.Observe(To(Method::kGet, path), options, events.Callback());
      return 0;
    });
  }

  size_t Observers() {
    return OnServer([](Server& server) { return server.ObserverCount("/counter"); });
  }

  void Bump() {
    OnServer([&](Server& server) {
      ++value_;
      return server.NotifyObservers("/counter");
    });
  }

  int value_ = 0;            // server loop
  int deregistrations_ = 0;  // server loop
  Observation observation_;  // client loop
};

TEST_F(ObserveTest, RegisterNotifyCancelAndTheServerForgets) {
  AddCounter();
  Collector events;
  Observe("/counter", events);
  ASSERT_TRUE(events.WaitForCount(1));
  ASSERT_TRUE(events.At(0).ok()) << events.At(0).message();
  EXPECT_TRUE(events.At(0)->observing);
  EXPECT_EQ(events.At(0)->response.payload, "0");
  EXPECT_TRUE(events.At(0)->response.observe.has_value());
  EXPECT_EQ(Observers(), 1U);

  constexpr int kNotifications = 5;
  for (int i = 1; i <= kNotifications; ++i) {
    Bump();
    ASSERT_TRUE(events.WaitForCount(static_cast<size_t>(i) + 1)) << "notification " << i;
    ASSERT_TRUE(events.At(static_cast<size_t>(i)).ok());
    EXPECT_EQ(events.At(static_cast<size_t>(i))->response.payload, std::to_string(i));
  }
  EXPECT_TRUE(OnClient([&](Client&) { return observation_.active(); }));
  EXPECT_EQ(OnClient([&](Client&) { return observation_.notifications(); }),
            static_cast<uint64_t>(kNotifications + 1));

  OnClient([&](Client& client) {
    observation_.Cancel();
    EXPECT_FALSE(observation_.active());
    EXPECT_EQ(client.ObservationCount(), 0U);
    return 0;
  });
  // The deregistration (GET with Observe=1) reaches the server, which drops the relation.
  ASSERT_TRUE(test::WaitUntil([&] { return Observers() == 0; }, kWait));
  EXPECT_EQ(OnServer([&](Server&) { return deregistrations_; }), 1);

  // No more callbacks: a later change notifies nobody; a round trip flushes anything in flight.
  Bump();
  ASSERT_TRUE(Send(To(Method::kGet, "/counter")).ok());
  EXPECT_EQ(events.Count(), static_cast<size_t>(kNotifications + 1));
}

TEST_F(ObserveTest, ConfirmableNotificationsAndDestroyingTheHandleDeregisters) {
  AddCounter(/*confirmable_notifications=*/true);
  Collector events;
  Observe("/counter", events);
  ASSERT_TRUE(events.WaitForCount(1));
  Bump();
  ASSERT_TRUE(events.WaitForCount(2));
  EXPECT_EQ(events.At(1)->response.payload, "1");
  OnClient([&](Client&) {
    observation_ = Observation();  // the old one is destroyed: deregistered
    return 0;
  });
  ASSERT_TRUE(test::WaitUntil([&] { return Observers() == 0; }, kWait));
}

TEST_F(ObserveTest, NonObservableResourceEndsTheObservationWithItsResponse) {
  OnServer([&](Server& server) {
    server.AddResource("/plain").On(
        Method::kGet, [](const Request&, Response& response) { response.SetPayload("static"); });
    return 0;
  });
  Collector events;
  Observe("/plain", events);
  ASSERT_TRUE(events.WaitForCount(1));
  ASSERT_TRUE(events.At(0).ok());
  EXPECT_FALSE(events.At(0)->observing);
  EXPECT_EQ(events.At(0)->response.payload, "static");
  EXPECT_FALSE(OnClient([&](Client&) { return observation_.active(); }));
}

TEST_F(ObserveTest, ErrorResponseEndsTheObservation) {
  Collector events;
  Observe("/missing", events);
  ASSERT_TRUE(events.WaitForCount(1));
  ASSERT_TRUE(events.At(0).ok());
  EXPECT_FALSE(events.At(0)->observing);
  EXPECT_EQ(events.At(0)->response.code, Code::kNotFound);
}

TEST_F(ObserveTest, SilenceBeyondMaxAgeEndsTheObservation) {
  AddCounter(false, /*max_age=*/1);
  Collector events;
  ObserveOptions options;
  options.max_age_grace = 100ms;
  Observe("/counter", events, options);
  ASSERT_TRUE(events.WaitForCount(1));
  EXPECT_EQ(OnClient([&](Client&) { return observation_.max_age(); }), 1U);
  ASSERT_TRUE(events.WaitForCount(2, 3s));
  ASSERT_FALSE(events.At(1).ok());
  EXPECT_EQ(events.At(1).failure(), Failure::kTimeout);
  EXPECT_FALSE(OnClient([&](Client&) { return observation_.active(); }));
  // The client also told the server to drop the relation it no longer watches.
  EXPECT_TRUE(test::WaitUntil([&] { return Observers() == 0; }, kWait));
}

TEST_F(ObserveTest, ReRegisteringAfterTheEnd) {
  AddCounter();
  for (int round = 0; round < 2; ++round) {
    Collector events;
    Observe("/counter", events);
    ASSERT_TRUE(events.WaitForCount(1));
    EXPECT_TRUE(events.At(0)->observing);
    ASSERT_TRUE(test::WaitUntil([&] { return Observers() == 1; }, kWait));
    OnClient([&](Client&) {
      observation_.Cancel();
      return 0;
    });
    ASSERT_TRUE(test::WaitUntil([&] { return Observers() == 0; }, kWait));
  }
}

TEST_F(ObserveTest, DestroyingTheClientDeregisters) {
  AddCounter(/*confirmable_notifications=*/true);
  Collector events;
  Observe("/counter", events);
  ASSERT_TRUE(events.WaitForCount(1));
  ASSERT_EQ(Observers(), 1U);
  // Restart a client afterwards for TearDown.
  client_loop_.Call([&] { client_.reset(); });
  EXPECT_FALSE(observation_.active());
  ASSERT_TRUE(test::WaitUntil([&] { return Observers() == 0; }, kWait));
  StartClient({});
}

}  // namespace
}  // namespace coapgw::coap::testing
