#pragma once

// Registration -> the bus's device record (libs/events), and what changed between two versions
// of a registration (what tells the ws-connector whether the platform needs a `put`).

#include <vector>

#include "coapgw/events/messages.hpp"
#include "rd/registration.hpp"

namespace coapgw::rd {

/// The device record of `registration`. Links keep their targets as registered (usually paths on
/// the device, resolved against `base` by consumers); rt/if/ct/obs/anchor get their own fields and
/// every other link attribute goes to `attrs` (a repeated name keeps its first value).
events::Device ToDevice(const Registration& registration);

/// The record fields that differ between `before` and `after`; empty for a plain refresh.
std::vector<events::DeviceChange> ChangesBetween(const Registration& before,
                                                 const Registration& after);

}  // namespace coapgw::rd
