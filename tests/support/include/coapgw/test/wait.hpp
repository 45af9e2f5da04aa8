#pragma once

// Waiting for a condition with a deadline: tests never sleep a fixed time and hope.

#include <chrono>
#include <functional>

namespace coapgw::test {

/// Polls `condition` every few milliseconds until it holds (true) or `timeout` passes (false).
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace coapgw::test
