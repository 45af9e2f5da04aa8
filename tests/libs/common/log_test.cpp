#include "coapgw/common/log.hpp"

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace coapgw::log {
namespace {

// Captures log output through a pipe (the logger writes raw fds, not iostreams).
class LogTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(fds_), 0);
    SetOutputFdForTest(fds_[1]);
  }
  void TearDown() override {
    SetOutputFdForTest(-1);
    Configure(Level::kInfo, Format::kText);
    close(fds_[0]);
    close(fds_[1]);
  }
  std::string Drain() {
    close(fds_[1]);
    fds_[1] = -1;
    std::string out;
    char buffer[512];
    ssize_t n = 0;
    while ((n = read(fds_[0], buffer, sizeof buffer)) > 0) {
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(LogTest, TextLineHasLevelComponentMessageAndQuotedFields) {
  Configure(Level::kInfo, Format::kText);
  Info("rd", "registered", {{"ep", "node1"}, {"note", "two words"}});
  const std::string line = Drain();
  EXPECT_NE(line.find(" INFO rd: registered ep=node1 note=\"two words\"\n"), std::string::npos)
      << line;
  EXPECT_EQ(line.back(), '\n');
}

TEST_F(LogTest, JsonLineEscapesControlCharactersAndQuotes) {
  Configure(Level::kDebug, Format::kJson);
  Warn("ws", "bad \"frame\"", {{"raw", "a\nb\x01"}});
  const std::string line = Drain();
  EXPECT_NE(line.find("\"level\":\"WARN\",\"component\":\"ws\",\"msg\":\"bad \\\"frame\\\"\""),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"raw\":\"a\\nb\\u0001\"}"), std::string::npos) << line;
}

TEST_F(LogTest, LinesBelowTheThresholdAreDropped) {
  Configure(Level::kWarn, Format::kText);
  Info("x", "hidden");
  Debug("x", "hidden too");
  Error("x", "shown");
  const std::string out = Drain();
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("ERROR x: shown"), std::string::npos);
}

TEST(LogParseTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*ParseLevel("debug"), Level::kDebug);
  EXPECT_EQ(*ParseLevel("error"), Level::kError);
  EXPECT_FALSE(ParseLevel("loud").ok());
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_FALSE(ParseFormat("xml").ok());
}

}  // namespace
}  // namespace coapgw::log
