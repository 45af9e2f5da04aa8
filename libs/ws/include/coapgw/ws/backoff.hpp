#pragma once

// Reconnect delays: exponential growth with "full jitter" (the delay is drawn uniformly from
// [0, ceiling], the ceiling doubling per attempt up to a cap), so that many gateways losing the
// platform at once do not reconnect in lock-step. Not thread-safe: one owner (the connector's
// reconnect logic).
//
//   Backoff backoff;                       // 1 s, 2 s, 4 s ... capped at 5 min
//   on failure:  schedule(backoff.Next());
//   on success:  backoff.Reset();

#include <cstdint>
#include <random>

#include "coapgw/common/duration.hpp"

namespace coapgw::ws {

struct BackoffOptions {
  Millis initial{1'000};  // ceiling of the first delay
  Millis max{300'000};    // the ceiling never exceeds this
  double multiplier = 2.0;
};

class Backoff {
 public:
  /// Throws std::invalid_argument when initial <= 0, max < initial or multiplier < 1.
  explicit Backoff(BackoffOptions options = {});
  /// The same with a fixed random seed (tests).
  Backoff(BackoffOptions options, uint64_t seed);

  /// The delay before the next attempt, uniform in [0, ceiling()]; then raises the ceiling.
  Millis Next();
  /// Back to the first ceiling (call once a connection has succeeded).
  void Reset();

  /// The ceiling of the delay Next() returns next: min(max, initial * multiplier^attempts()).
  Millis ceiling() const { return ceiling_; }
  /// How many delays were handed out since construction or Reset.
  int attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 random_;
  Millis ceiling_;
  int attempts_ = 0;
};

}  // namespace coapgw::ws
