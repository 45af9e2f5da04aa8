#include "headless_chromium.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace coapgw::ws_connector::test {
namespace {

using std::chrono::milliseconds;

std::string JsonOf(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string Quote(const std::string& text) {
  rapidjson::Value value(text.c_str(), static_cast<rapidjson::SizeType>(text.size()));
  return JsonOf(value);
}

}  // namespace

std::string ChromiumBinary() {
  const char* configured = std::getenv("COAPGW_TEST_CHROMIUM");
  const std::string binary = configured != nullptr ? configured : "/usr/bin/chromium";
  return access(binary.c_str(), X_OK) == 0 ? binary : "";
}

ChromiumPage::ChromiumPage(const std::string& websocket_url) {
  ws::ClientOptions options;
  options.ping_idle = milliseconds(0);
  options.max_message_size = 64U * 1024U * 1024U;
  client_ = std::make_unique<ws::Client>(options, events_.Handlers());
  connected_ = client_->Connect(websocket_url).ok() && events_.WaitOpens(1);
}

std::string ChromiumPage::close_reason() const {
  const auto closes = events_.closes();
  return closes.empty() ? "" : closes.back().reason;
}

ChromiumPage::~ChromiumPage() {
  client_.reset();
}

std::optional<std::string> ChromiumPage::Evaluate(const std::string& expression) {
  const int id = next_id_++;
  const std::string request = R"({"id":)" + std::to_string(id) +
                              R"(,"method":"Runtime.evaluate","params":{"expression":)" +
                              Quote(expression) + R"(,"returnByValue":true,"awaitPromise":true}})";
  if (!client_->Send(request).ok()) {
    return std::nullopt;
  }
  // DevTools events may come in between: look for the reply with our id.
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(5000);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!events_.WaitTexts(seen_ + 1, 100)) {
      continue;
    }
    const auto texts = events_.texts();
    for (; seen_ < texts.size(); ++seen_) {
      rapidjson::Document reply;
      reply.Parse(texts[seen_].c_str());
      if (!reply.IsObject() || !reply.HasMember("id") || reply["id"] != id) {
        continue;
      }
      ++seen_;
      if (!reply.HasMember("result") || reply["result"].HasMember("exceptionDetails") ||
          !reply["result"].HasMember("result")) {
        return std::nullopt;
      }
      const auto& result = reply["result"]["result"];
      return result.HasMember("value") ? JsonOf(result["value"]) : "null";
    }
  }
  return std::nullopt;
}

HeadlessChromium::HeadlessChromium(const std::string& binary, const std::string& profile_dir) {
  // The flags a root CI container and a closed network need: no sandbox (root), and none of
  // chromium's own connections to the outside (they would be refused, many at a time).
  process_ = std::make_unique<coapgw::test::Process>(
      std::vector<std::string>{binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                               "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                               "--no-default-browser-check", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync",
                               "--disable-extensions", "--remote-debugging-address=127.0.0.1",
                               "--remote-debugging-port=0", "--remote-allow-origins=*",
                               "--user-data-dir=" + profile_dir, "about:blank"},
      std::map<std::string, std::string>{{"HOME", profile_dir}});
  const std::string marker = "DevTools listening on ws://127.0.0.1:";
  if (!process_->WaitForStderr(marker, milliseconds(30'000))) {
    error_ = "chromium did not start its DevTools server within 30 s:\n" + process_->Stderr();
    return;
  }
  const std::string log = process_->Stderr();
  port_ = static_cast<uint16_t>(std::atoi(log.c_str() + log.find(marker) + marker.size()));
}

HeadlessChromium::~HeadlessChromium() {
  if (process_ && process_->running()) {
    process_->Stop(SIGTERM, milliseconds(5000));
  }
}

std::unique_ptr<ChromiumPage> HeadlessChromium::Open(const std::string& url) {
  if (!error_.empty()) {
    return nullptr;
  }
  const auto created = ws::test::Http(port_, "PUT", "/json/new?" + url);
  rapidjson::Document target;
  target.Parse(created.body.c_str());
  if (created.status != 200 || !target.IsObject() || !target.HasMember("id")) {
    error_ = "DevTools /json/new answered " + std::to_string(created.status) + ": " + created.body;
    return nullptr;
  }
  // Built here: the webSocketDebuggerUrl chromium returns names the Host header it was sent.
  const std::string websocket =
      "ws://127.0.0.1:" + std::to_string(port_) + "/devtools/page/" + target["id"].GetString();
  auto page = std::make_unique<ChromiumPage>(websocket);
  if (!page->connected()) {
    error_ = "cannot connect to the page's DevTools WebSocket " + websocket + ": " +
             page->close_reason();
    return nullptr;
  }
  return page;
}

}  // namespace coapgw::ws_connector::test
