#include "coapgw/ws/backoff.hpp"

#include <algorithm>
#include <stdexcept>

namespace coapgw::ws {

Backoff::Backoff(BackoffOptions options) : Backoff(options, std::random_device{}()) {}

Backoff::Backoff(BackoffOptions options, uint64_t seed)
    : options_(options), random_(seed), ceiling_(options.initial) {
  if (options_.initial.count() <= 0 || options_.max < options_.initial ||
      options_.multiplier < 1.0) {
    throw std::invalid_argument("backoff: need 0 < initial <= max and multiplier >= 1");
  }
}

Millis Backoff::Next() {
  std::uniform_int_distribution<Millis::rep> pick(0, ceiling_.count());
  const Millis delay(pick(random_));
  ++attempts_;
  // Computed in double so a long outage cannot overflow the ceiling.
  const double next = static_cast<double>(ceiling_.count()) * options_.multiplier;
  ceiling_ =
      Millis(static_cast<Millis::rep>(std::min(next, static_cast<double>(options_.max.count()))));
  return delay;
}

void Backoff::Reset() {
  ceiling_ = options_.initial;
  attempts_ = 0;
}

}  // namespace coapgw::ws
