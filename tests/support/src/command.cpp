#include "coapgw/test/command.hpp"

#include <sys/wait.h>

#include <cstdio>

#include <gtest/gtest.h>

namespace coapgw::test {

CommandOutput RunCommand(const std::string& command) {
  CommandOutput output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    return output;
  }
  char buffer[512];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    output.text.append(buffer, n);
  }
  const int status = pclose(pipe);
  output.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

void ExpectBadSetting(const std::string& command, const std::string& error) {
  const CommandOutput output = RunCommand(command);
  EXPECT_EQ(output.exit_code, 2) << command << "\n" << output.text;
  EXPECT_EQ(output.text.rfind(error, 0), 0U) << command << "\n" << output.text;
  EXPECT_EQ(output.text.find('\n'), output.text.size() - 1) << command << ": more than one line\n"
                                                            << output.text;
}

}  // namespace coapgw::test
