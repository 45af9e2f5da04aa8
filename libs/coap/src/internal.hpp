#pragma once

// Shared internals of libs/coap: the only header that includes libcoap. Not installed, not included
// by anything outside libs/coap/src.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <coap3/coap.h>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/message.hpp"
#include "coapgw/common/result.hpp"

namespace coapgw::coap {

namespace detail {

struct ServerCore;
struct ClientCore;

using Clock = std::chrono::steady_clock;

constexpr const char* kLogComponent = "coap";

/// Runs `fn`, logging (never propagating) whatever it throws; `what` names the callback.
void Guard(const char* what, const std::function<void()>& fn) noexcept;

/// The numeric address of a libcoap address.
Address ToAddress(const coap_address_t& address);
/// Resolves host (IP literal or name) and port to a libcoap address; kUnavailable if it cannot.
Result<coap_address_t> ResolveAddress(const std::string& host, uint16_t port);

/// Token bytes of a PDU.
std::string TokenOf(const coap_pdu_t* pdu);
/// Every option of `pdu`, in order.
std::vector<Option> ReadOptions(const coap_pdu_t* pdu);
/// The whole body of `pdu` (reassembled when libcoap delivers a single body).
std::string ReadBody(const coap_pdu_t* pdu);
/// The first option `number` of `options` decoded as uint.
std::optional<uint32_t> FindUint(const std::vector<Option>& options, uint16_t number);
/// Adds `options` (sorted by number, stable) to `pdu`; false if one did not fit.
bool AddOptions(coap_pdu_t* pdu, std::vector<Option> options);

/// strerror, thread-safe.
std::string ErrnoText(int error);

/// Heap copy of a body handed to libcoap's large-body API, freed by its release callback.
void ReleaseBody(coap_session_t* session, void* body) noexcept;

}  // namespace detail

/// The Context's state; Server and Client reach libcoap through it.
struct Context::Core {
  explicit Core(ContextOptions context_options);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;
  Core(Core&&) = delete;
  Core& operator=(Core&&) = delete;

  /// One loop iteration waiting at most `max_wait`.
  void Iterate(Millis max_wait);
  /// Queues `fn` to run on the loop thread right after the current libcoap call returns: user
  /// callbacks never run inside libcoap.
  void RunSoon(std::function<void()> fn);

  void EnterLoop(const char* what);
  void LeaveLoop();

  ContextOptions options;
  coap_context_t* ctx = nullptr;
  int coap_fd = -1;
  int wake_fd = -1;

  std::mutex post_mutex;
  std::vector<std::function<void()>> posted;  // guarded by post_mutex
  std::atomic<bool> stop_requested{false};
  std::atomic<std::thread::id> loop_thread{};

  uint64_t next_timer_id = 1;
  std::map<std::pair<detail::Clock::time_point, TimerId>, std::function<void()>> timers;
  std::map<TimerId, detail::Clock::time_point> timer_due;
  std::deque<std::function<void()>> soon;

  detail::ServerCore* server = nullptr;
  detail::ClientCore* client = nullptr;
  /// libcoap has work outside its timer fd (a triggered async, dirty observable resources): run
  /// it without sleeping.
  bool kick = false;
  /// True while inside coap_io_process: libcoap state must then not be changed from our code.
  bool in_coap = false;
  /// No task, timer or completion ran since the last libcoap round prepared its work.
  bool coap_current = false;

 private:
  void RunDueTimers();
  void RunPosted();
  void RunSoonQueue();
  void ProcessCoap();
};

namespace detail {

/// The Context core of a libcoap context or session (nullptr once the Context is gone).
Context::Core* CoreOf(coap_context_t* ctx);
Context::Core* CoreOf(const coap_session_t* session);

// Dispatch from the Context's libcoap callbacks to the attached Server / Client.
void ServerOnNack(ServerCore& server, coap_session_t* session, const coap_pdu_t* sent,
                  coap_nack_reason_t reason);
void ServerOnSessionEvent(ServerCore& server, coap_session_t* session, coap_event_t event);
coap_response_t ClientOnResponse(ClientCore& client, coap_session_t* session,
                                 const coap_pdu_t* received);
void ClientOnNack(ClientCore& client, coap_session_t* session, const coap_pdu_t* sent,
                  coap_nack_reason_t reason, coap_mid_t mid);
void ClientOnPong(ClientCore& client, coap_session_t* session, coap_mid_t mid);
void ClientOnSessionEvent(ClientCore& client, coap_session_t* session, coap_event_t event);

}  // namespace detail

}  // namespace coapgw::coap
