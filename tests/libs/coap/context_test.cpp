#include "coapgw/coap/context.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/test/wait.hpp"

namespace coapgw::coap {
namespace {

using namespace std::chrono_literals;

TEST(ContextTest, PostedTasksRunOnTheLoopThreadInOrder) {
  ContextThread loop;
  std::vector<int> order;
  std::atomic<bool> on_loop{true};
  std::thread poster([&] {
    for (int i = 0; i < 100; ++i) {
      loop.context().Post([&, i] {
        on_loop = on_loop && loop.context().InLoopThread();
        order.push_back(i);
      });
    }
  });
  poster.join();
  const size_t size = loop.Call([&] { return order.size(); });
  EXPECT_EQ(size, 100U);
  loop.Call([&] {
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(order[static_cast<size_t>(i)], i);
    }
  });
  EXPECT_TRUE(on_loop);
}

TEST(ContextTest, TimersFireInDueOrderAndCanBeCancelled) {
  ContextThread loop;
  std::vector<int> fired;
  std::atomic<int> count{0};
  loop.Call([&] {
    auto& context = loop.context();
    context.After(30ms, [&] {
      fired.push_back(3);
      ++count;
    });
    context.After(10ms, [&] {
      fired.push_back(1);
      ++count;
    });
    const auto cancelled = context.After(20ms, [&] {
      fired.push_back(2);
      ++count;
    });
    context.After(20ms, [&] {
      fired.push_back(22);
      ++count;
    });
    EXPECT_TRUE(context.CancelTimer(cancelled));
    EXPECT_FALSE(context.CancelTimer(cancelled));
  });
  ASSERT_TRUE(test::WaitUntil([&] { return count.load() == 3; }, 2s));
  loop.Call([&] { EXPECT_EQ(fired, (std::vector<int>{1, 22, 3})); });
}

TEST(ContextTest, LoopMembersThrowOffTheLoopThread) {
  ContextThread loop;
  // Let the thread enter Run() before checking from here.
  loop.Call([] {});
  EXPECT_FALSE(loop.context().InLoopThread());
  EXPECT_THROW(loop.context().After(1ms, [] {}), std::logic_error);
  EXPECT_TRUE(loop.Call([&] { return loop.context().InLoopThread(); }));
}

TEST(ContextTest, ExceptionsInTasksAndTimersAreContained) {
  ContextThread loop;
  loop.context().Post([] { throw std::runtime_error("task failure"); });
  loop.Call([&] { loop.context().After(1ms, [] { throw 42; }); });
  std::atomic<bool> later{false};
  loop.context().Post([&] { later = true; });
  EXPECT_TRUE(test::WaitUntil([&] { return later.load(); }, 2s));
  EXPECT_THROW(loop.Call([]() -> int { throw std::runtime_error("rethrown to the caller"); }),
               std::runtime_error);
}

TEST(ContextTest, RunForAndProcessOnceOnTheCallingThread) {
  Context context;
  bool ran = false;
  context.Post([&] { ran = true; });
  context.ProcessOnce(0ms);
  EXPECT_TRUE(ran);
  int ticks = 0;
  context.After(5ms, [&] { ++ticks; });
  context.RunFor(50ms);
  EXPECT_EQ(ticks, 1);
}

TEST(ContextTest, StopEndsRun) {
  Context context;
  std::thread stopper([&] { context.Stop(); });
  context.Run();  // returns once Stop() has been seen, whether it came before or during Run
  stopper.join();
  context.ResetStop();
  context.Post([&] { context.Stop(); });
  context.Run();
  SUCCEED();
}

}  // namespace
}  // namespace coapgw::coap
