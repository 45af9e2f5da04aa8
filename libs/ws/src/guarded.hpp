#pragma once

// Helpers shared by client.cpp and server.cpp. Private to libs/ws; includes no websocketpp.

#include <cctype>
#include <exception>
#include <string>
#include <system_error>

#include "coapgw/common/log.hpp"

namespace coapgw::ws::internal {

/// Runs a user callback; one that throws is a bug in the caller, logged here rather than let
/// unwind through Asio.
template <class Fn>
void Guarded(const char* component, const char* what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& error) {
    log::Error(component, "callback threw", {{"callback", what}, {"error", error.what()}});
  } catch (...) {
    log::Error(component, "callback threw", {{"callback", what}, {"error", "unknown exception"}});
  }
}

/// Runs `io` until it is stopped. An exception escaping a handler (a bug, or a websocketpp call
/// without an error_code overload) is logged and the loop goes on, instead of ending the process.
template <class IoContext>
void RunGuarded(const char* component, IoContext& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& error) {
      log::Error(component, "exception escaped an I/O handler", {{"error", error.what()}});
    } catch (...) {
      log::Error(component, "exception escaped an I/O handler", {{"error", "unknown exception"}});
    }
  }
}

/// An error code's message in lower case without a final period ("connection refused").
inline std::string ErrorText(const std::error_code& ec) {
  std::string text = ec.message();
  for (char& ch : text) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  while (!text.empty() && text.back() == '.') {
    text.pop_back();
  }
  return text;
}

}  // namespace coapgw::ws::internal
