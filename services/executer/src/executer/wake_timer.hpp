#pragma once

// One coap::Context timer that fires at the earliest instant anyone asked for, for engines that
// keep their own agenda (the executer's command deadlines, the pinger's slots): ask for every
// instant, and the timer is moved earlier when needed, never later.

#include <chrono>
#include <functional>
#include <memory>

#include "coapgw/coap/context.hpp"

namespace coapgw::executer {

class WakeTimer {
 public:
  using Time = std::chrono::steady_clock::time_point;

  /// `fire` runs on the loop thread when the timer expires; `context` must outlive the timer.
  WakeTimer(coap::Context& context, std::function<void()> fire);
  /// Cancels a pending timer.
  ~WakeTimer();
  WakeTimer(const WakeTimer&) = delete;
  WakeTimer& operator=(const WakeTimer&) = delete;
  WakeTimer(WakeTimer&&) = delete;
  WakeTimer& operator=(WakeTimer&&) = delete;

  /// Makes the timer fire at `at` (at once when it has passed) unless it is set to fire earlier.
  /// Loop thread.
  void WakeAt(Time at);
  /// Cancels the pending timer, if any. Loop thread.
  void Cancel();

 private:
  coap::Context& context_;
  std::function<void()> fire_;
  coap::Context::TimerId timer_ = 0;
  Time at_{};
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace coapgw::executer
