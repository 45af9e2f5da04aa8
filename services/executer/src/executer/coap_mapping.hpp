#pragma once

// The translation between bus messages and CoAP exchanges: a ws.command plus the device's record
// become a coap::ClientRequest; the exchange's outcome becomes an executer.command-result.

#include <chrono>
#include <string>
#include <string_view>

#include "coapgw/coap/client.hpp"
#include "coapgw/common/result.hpp"
#include "coapgw/events/messages.hpp"

namespace coapgw::executer {

/// The CoAP method of a bus method; kInvalidArgument for kUnknown.
Result<coap::Method> ToCoapMethod(events::Method method);

/// The confirmable request `command` names, addressed to the device's current `base` (its
/// coap:// or coaps:// URI; any path in it is replaced by the command's absolute path). The query
/// "a=1&b=2" becomes one Uri-Query per `&` part, percent-decoded. Errors (kInvalidArgument,
/// naming the cause): a base that is not a CoAP URI, an unknown method, a payload that does not
/// decode.
Result<coap::ClientRequest> BuildRequest(const events::Command& command, std::string_view base);

/// The result of a finished exchange: the response's code ("2.05"), Content-Format and payload
/// (encoded per proto/README.md), or the failure as one of the kCode* codes with `detail`.
events::CommandResult ResultOf(const events::Command& command,
                               const coap::Outcome<coap::ClientResponse>& outcome,
                               std::chrono::milliseconds duration);

/// A result without a response: `code` is one of events::kCode*, `detail` says why.
events::CommandResult FailedResult(const events::Command& command, std::string_view code,
                                   std::string detail, std::chrono::milliseconds duration);

/// True when `code` is a CoAP response code ("2.05", "4.04"), not one of the kCode* failures.
bool IsResponseCode(std::string_view code);

}  // namespace coapgw::executer
