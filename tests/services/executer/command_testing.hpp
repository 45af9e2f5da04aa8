#pragma once

// ws.command messages as the executer's tests send them.

#include <chrono>
#include <string>

#include "coapgw/events/messages.hpp"

namespace coapgw::test {

/// A command `id` for `device_id`: "<METHOD> <path>" with `payload` (encoded as the contract
/// wants: text when printable, else base64) and a deadline `timeout` from now (negative: passed).
inline events::Command TestCommand(const std::string& id, const std::string& device_id,
                                   events::Method method, const std::string& path,
                                   const std::string& payload = {},
                                   std::chrono::milliseconds timeout = std::chrono::seconds(3)) {
  events::Command command;
  command.command_id = id;
  command.device_id = device_id;
  command.method = method;
  command.service = std::string(events::MethodName(method)) + " " + path;
  command.path = path;
  command.payload = events::EncodePayload(payload, std::nullopt);
  command.deadline = std::chrono::system_clock::now() + timeout;
  return command;
}

}  // namespace coapgw::test
