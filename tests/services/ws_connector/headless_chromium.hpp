#pragma once

// Debian's chromium, headless, driven over the DevTools protocol (a WebSocket, through libs/ws):
// open a page, evaluate JavaScript in it. For the console page tests; loopback only, no network
// access of its own (background networking, sync and component updates off), a fresh profile.
//
//   auto chromium = HeadlessChromium::Start(dir.path());     // nullopt-like: check ok()
//   auto page = chromium->Open("http://127.0.0.1:8080/");
//   page->Evaluate("document.title");                           // the value as JSON text

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "coapgw/test/process.hpp"
#include "coapgw/ws/client.hpp"
#include "ws_testing.hpp"

namespace coapgw::ws_connector::test {

/// The chromium binary: $COAPGW_TEST_CHROMIUM, else /usr/bin/chromium; empty when neither is
/// an executable file.
std::string ChromiumBinary();

/// One page (a DevTools target) of a running chromium.
class ChromiumPage {
 public:
  /// Connects to the target's DevTools WebSocket; check connected().
  explicit ChromiumPage(const std::string& websocket_url);
  ~ChromiumPage();
  ChromiumPage(const ChromiumPage&) = delete;
  ChromiumPage& operator=(const ChromiumPage&) = delete;

  bool connected() const { return connected_; }
  /// Why the connection failed or ended (empty while it is open).
  std::string close_reason() const;
  /// Runtime.evaluate of `expression` (promises awaited); the value as JSON text, or nullopt when
  /// it threw or no answer came within 5 s.
  std::optional<std::string> Evaluate(const std::string& expression);

 private:
  ws::test::ClientEvents events_;
  std::unique_ptr<ws::Client> client_;
  bool connected_ = false;
  int next_id_ = 1;
  size_t seen_ = 0;
};

/// A headless chromium process with remote debugging on a port it picks itself.
class HeadlessChromium {
 public:
  /// Starts `binary` with a fresh profile in `profile_dir`; check error() (empty when running).
  HeadlessChromium(const std::string& binary, const std::string& profile_dir);
  ~HeadlessChromium();
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;

  /// Why it is not usable, with its stderr; empty when it is.
  const std::string& error() const { return error_; }
  /// Opens `url` in a new target; null (and error() set) on failure.
  std::unique_ptr<ChromiumPage> Open(const std::string& url);

 private:
  std::unique_ptr<coapgw::test::Process> process_;
  uint16_t port_ = 0;
  std::string error_;
};

}  // namespace coapgw::ws_connector::test
