#include "executer/wake_timer.hpp"

#include <algorithm>
#include <utility>

namespace coapgw::executer {

WakeTimer::WakeTimer(coap::Context& context, std::function<void()> fire)
    : context_(context), fire_(std::move(fire)) {}

WakeTimer::~WakeTimer() {
  *alive_ = false;
  Cancel();
}

void WakeTimer::WakeAt(Time at) {
  if (timer_ != 0 && at_ <= at) {
    return;
  }
  Cancel();
  at_ = at;
  const auto delay =
      std::max(Millis(0), std::chrono::ceil<Millis>(at - std::chrono::steady_clock::now()));
  timer_ = context_.After(delay, [this, alive = alive_] {
    if (*alive) {
      timer_ = 0;
      fire_();
    }
  });
}

void WakeTimer::Cancel() {
  if (timer_ != 0) {
    context_.CancelTimer(timer_);
    timer_ = 0;
  }
}

}  // namespace coapgw::executer
