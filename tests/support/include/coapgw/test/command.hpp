#pragma once

// Running a short command to its end, e.g. a binary's --help or --version.

#include <string>

namespace coapgw::test {

struct CommandOutput {
  int exit_code = -1;  // -1 when the command could not run or died from a signal
  std::string text;    // stdout and stderr, interleaved as written
};

/// Runs `command` through /bin/sh with stderr joined to stdout and waits for it to end.
CommandOutput RunCommand(const std::string& command);

/// Runs `command` and expects what a bad setting must give: exit code 2 and nothing but one line
/// starting with `error` (e.g. "coapgw-pinger: COAPGW_PING_SOURCE"). A test failure naming the
/// command and showing its output otherwise.
void ExpectBadSetting(const std::string& command, const std::string& error);

}  // namespace coapgw::test
