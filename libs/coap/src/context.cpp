#include "coapgw/coap/context.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include "coapgw/common/log.hpp"
#include "internal.hpp"

namespace coapgw::coap {

namespace {

using detail::Clock;
using detail::kLogComponent;

// libcoap logs every RST it receives at LOG_ALERT; for a pinger that is the normal answer.
bool IsRoutineNoise(std::string_view message) {
  return message.find("got RST for mid") != std::string_view::npos;
}

void LogFromLibcoap(coap_log_t level, const char* message) {
  std::string_view text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  // libcoap's warnings are mostly peer-caused (ICMP errors, malformed PDUs): debug, not operator
  // alarms; its errors stay warnings.
  if (level <= LOG_ERR && !IsRoutineNoise(text)) {
    log::Warn("libcoap", text);
  } else {
    log::Debug("libcoap", text);
  }
}

void InitLibcoapOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    coap_startup();
    coap_set_log_handler(LogFromLibcoap);
    coap_log_t level = log::Enabled(log::Level::kDebug) ? LOG_INFO : LOG_WARNING;
    // Read once, before any loop thread exists.
    if (const char* forced =
            std::getenv("COAPGW_LIBCOAP_LOG_LEVEL")) {  // NOLINT(concurrency-mt-unsafe)
      level = static_cast<coap_log_t>(std::strtol(forced, nullptr, 10));
    }
    coap_set_log_level(level);
    coap_dtls_set_log_level(LOG_WARNING);
  });
}

int OnEvent(coap_session_t* session, const coap_event_t event) {
  detail::Guard("libcoap event handler", [&] {
    Context::Core* core = detail::CoreOf(session);
    if (core == nullptr) {
      return;
    }
    if (coap_session_get_type(session) == COAP_SESSION_TYPE_CLIENT) {
      if (core->client != nullptr) {
        detail::ClientOnSessionEvent(*core->client, session, event);
      }
    } else if (core->server != nullptr) {
      detail::ServerOnSessionEvent(*core->server, session, event);
    }
  });
  return 0;
}

void OnNack(coap_session_t* session, const coap_pdu_t* sent, const coap_nack_reason_t reason,
            const coap_mid_t mid) {
  detail::Guard("libcoap nack handler", [&] {
    Context::Core* core = detail::CoreOf(session);
    if (core == nullptr || sent == nullptr) {
      return;
    }
    if (coap_session_get_type(session) == COAP_SESSION_TYPE_CLIENT) {
      if (core->client != nullptr) {
        detail::ClientOnNack(*core->client, session, sent, reason, mid);
      }
    } else if (core->server != nullptr) {
      detail::ServerOnNack(*core->server, session, sent, reason);
    }
  });
}

coap_response_t OnResponse(coap_session_t* session, const coap_pdu_t* /*sent*/,
                           const coap_pdu_t* received, const coap_mid_t /*mid*/) {
  coap_response_t verdict = COAP_RESPONSE_OK;
  detail::Guard("libcoap response handler", [&] {
    Context::Core* core = detail::CoreOf(session);
    if (core != nullptr && core->client != nullptr &&
        coap_session_get_type(session) == COAP_SESSION_TYPE_CLIENT) {
      verdict = detail::ClientOnResponse(*core->client, session, received);
    }
  });
  return verdict;
}

void OnPong(coap_session_t* session, const coap_pdu_t* /*received*/, const coap_mid_t mid) {
  detail::Guard("libcoap pong handler", [&] {
    Context::Core* core = detail::CoreOf(session);
    if (core != nullptr && core->client != nullptr) {
      detail::ClientOnPong(*core->client, session, mid);
    }
  });
}

int CeilMillis(Clock::duration duration) {
  if (duration <= Clock::duration::zero()) {
    return 0;
  }
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(duration).count();
  return static_cast<int>(std::min<int64_t>(ms, 3'600'000));
}

}  // namespace

namespace detail {

void Guard(const char* what, const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& error) {
    log::Error(kLogComponent, "callback threw", {{"callback", what}, {"error", error.what()}});
  } catch (...) {
    log::Error(kLogComponent, "callback threw", {{"callback", what}, {"error", "unknown"}});
  }
}

Context::Core* CoreOf(coap_context_t* ctx) {
  return ctx != nullptr ? static_cast<Context::Core*>(coap_get_app_data(ctx)) : nullptr;
}

Context::Core* CoreOf(const coap_session_t* session) {
  return session != nullptr ? CoreOf(coap_session_get_context(session)) : nullptr;
}

}  // namespace detail

Context::Core::Core(ContextOptions context_options)
    : options(context_options), ctx((InitLibcoapOnce(), coap_new_context(nullptr))) {
  if (ctx == nullptr) {
    throw std::runtime_error("coap: libcoap could not create a context");
  }
  coap_fd = coap_context_get_coap_fd(ctx);
  if (coap_fd < 0) {
    coap_free_context(ctx);
    throw std::runtime_error("coap: libcoap was built without epoll; this loop needs it");
  }
  wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    coap_free_context(ctx);
    throw std::runtime_error(std::string("coap: eventfd failed: ") + detail::ErrnoText(errno));
  }
  coap_set_app_data(ctx, this);
  coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_event_handler(ctx, OnEvent);
  coap_register_nack_handler(ctx, OnNack);
  coap_register_response_handler(ctx, OnResponse);
  coap_register_pong_handler(ctx, OnPong);
}

Context::Core::~Core() {
  // Handlers may still fire while libcoap tears down (queued CONs are nacked); they must not
  // reach a Server or Client, which are gone by now.
  server = nullptr;
  client = nullptr;
  coap_free_context(ctx);
  close(wake_fd);
}

void Context::Core::EnterLoop(const char* what) {
  const std::thread::id none{};
  std::thread::id expected = none;
  if (!loop_thread.compare_exchange_strong(expected, std::this_thread::get_id())) {
    throw std::logic_error(std::string("coap::Context::") + what +
                           ": the loop is already running (re-entered, or on another thread)");
  }
  coap_current = false;  // calls made outside the loop may have left libcoap work
}

void Context::Core::LeaveLoop() {
  loop_thread.store(std::thread::id{});
}

void Context::Core::RunSoon(std::function<void()> fn) {
  soon.push_back(std::move(fn));
}

void Context::Core::RunSoonQueue() {
  if (!soon.empty()) {
    coap_current = false;
  }
  while (!soon.empty()) {
    std::function<void()> fn = std::move(soon.front());
    soon.pop_front();
    detail::Guard("completion callback", fn);
  }
}

void Context::Core::RunDueTimers() {
  const auto now = Clock::now();
  while (!timers.empty() && timers.begin()->first.first <= now) {
    coap_current = false;
    auto node = timers.extract(timers.begin());
    timer_due.erase(node.key().second);
    detail::Guard("timer", node.mapped());
    RunSoonQueue();
  }
}

void Context::Core::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(post_mutex);
    batch.swap(posted);
  }
  if (!batch.empty()) {
    coap_current = false;
  }
  for (auto& task : batch) {
    detail::Guard("posted task", task);
    RunSoonQueue();
  }
}

// One bounded round of what coap_io_process(ctx, COAP_IO_NO_WAIT) does. libcoap 4.3.1's own loop
// repeats for as long as epoll_wait returns its maximum of 10 events: with ten or more sockets
// steadily readable (an observer flooded with notifications) it never returns, and completions,
// timers and posted tasks starve while the completion queue grows. Here one round reads at most
// kMaxEventsPerRound ready sockets; the loop's poll() comes straight back if more is ready.
//
// coap_io_prepare_epoll (retransmissions, async and observe work, idle-session expiry) walks every
// session of every endpoint. libcoap 4.3.1's coap_io_do_epoll already ends with one, and an
// endpoint event reads a single datagram, so every datagram costs a walk. A round adds one of its
// own only when something outside libcoap ran since the last (a task, timer or completion, or a
// send to kick): otherwise that last walk still stands, and a wake-up for more datagrams would
// walk every peer once more for nothing.
void Context::Core::ProcessCoap() {
  constexpr int kMaxEventsPerRound = 64;
  const bool prepare = !coap_current || kick;
  kick = false;
  in_coap = true;
  if (prepare) {
    coap_tick_t now = 0;
    coap_ticks(&now);
    coap_io_prepare_epoll(ctx, now);
  }
  epoll_event events[kMaxEventsPerRound];
  int budget = kMaxEventsPerRound;
  int ready = 0;
  while (budget > 0) {
    ready = epoll_wait(coap_fd, events, budget, 0);
    if (ready <= 0) {
      break;
    }
    coap_io_do_epoll(ctx, events, static_cast<size_t>(ready));
    budget -= ready;
  }
  in_coap = false;
  if (ready < 0 && errno != EINTR) {
    log::Error(kLogComponent, "epoll_wait failed", {{"errno", detail::ErrnoText(errno)}});
  }
  coap_current = true;
  RunSoonQueue();
}

void Context::Core::Iterate(Millis max_wait) {
  RunDueTimers();
  RunPosted();
  // Sends queued by the tasks above go out here, and libcoap re-arms its timer fd (retransmissions,
  // async and observe work) so that the poll below wakes for them. When nothing ran since the last
  // round, that round's prepare still stands (what libcoap itself queues while reading, a CON to
  // retransmit, re-arms the timer fd at once): preparing again would walk every session for
  // nothing, once per datagram under load.
  if (!coap_current || kick) {
    ProcessCoap();
  }

  int wait_ms = CeilMillis(max_wait);
  {
    std::lock_guard<std::mutex> lock(post_mutex);
    if (!posted.empty()) {
      wait_ms = 0;
    }
  }
  if (!soon.empty() || kick) {
    wait_ms = 0;
  }
  if (!timers.empty()) {
    wait_ms = std::min(wait_ms, CeilMillis(timers.begin()->first.first - Clock::now()));
  }
  pollfd fds[2] = {{coap_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int ready = poll(fds, 2, wait_ms);
  if (ready < 0 && errno != EINTR) {
    log::Error(kLogComponent, "poll failed", {{"errno", detail::ErrnoText(errno)}});
  }
  if (ready > 0 && (fds[1].revents & POLLIN) != 0) {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = read(wake_fd, &count, sizeof count);
  }
  if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
    ProcessCoap();
  }
  RunDueTimers();
  RunPosted();
}

Context::Context(ContextOptions options) : core_(std::make_unique<Core>(options)) {}

Context::~Context() {
  if (core_->server != nullptr || core_->client != nullptr) {
    log::Error(kLogComponent, "Context destroyed before its Server or Client");
  }
}

void Context::Run() {
  core_->EnterLoop("Run");
  while (!core_->stop_requested.load()) {
    core_->Iterate(Millis(3'600'000));
  }
  core_->LeaveLoop();
}

void Context::Stop() {
  core_->stop_requested.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(core_->wake_fd, &one, sizeof one);
}

void Context::ResetStop() {
  core_->stop_requested.store(false);
}

void Context::RunFor(Millis duration) {
  core_->EnterLoop("RunFor");
  const auto deadline = Clock::now() + duration;
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    core_->Iterate(std::chrono::duration_cast<Millis>(deadline - now));
  }
  core_->LeaveLoop();
}

void Context::ProcessOnce(Millis timeout) {
  core_->EnterLoop("ProcessOnce");
  core_->Iterate(timeout);
  core_->LeaveLoop();
}

void Context::Post(std::function<void()> task) {
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> lock(core_->post_mutex);
    was_empty = core_->posted.empty();
    core_->posted.push_back(std::move(task));
  }
  if (was_empty) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(core_->wake_fd, &one, sizeof one);
  }
}

Context::TimerId Context::After(Millis delay, std::function<void()> task) {
  CheckLoopThread("After");
  const TimerId id = core_->next_timer_id++;
  const auto due = Clock::now() + delay;
  core_->timers.emplace(std::make_pair(due, id), std::move(task));
  core_->timer_due.emplace(id, due);
  return id;
}

bool Context::CancelTimer(TimerId id) {
  CheckLoopThread("CancelTimer");
  const auto it = core_->timer_due.find(id);
  if (it == core_->timer_due.end()) {
    return false;
  }
  core_->timers.erase(std::make_pair(it->second, id));
  core_->timer_due.erase(it);
  return true;
}

bool Context::InLoopThread() const {
  const std::thread::id running = core_->loop_thread.load();
  return running == std::thread::id{} || running == std::this_thread::get_id();
}

void Context::CheckLoopThread(const char* what) const {
  if (!InLoopThread()) {
    throw std::logic_error(std::string("coap: ") + what +
                           " called off the loop thread; use Context::Post");
  }
}

const ContextOptions& Context::options() const {
  return core_->options;
}

ContextThread::ContextThread(ContextOptions options)
    : context_(options), thread_([this] { context_.Run(); }) {}

ContextThread::~ContextThread() {
  context_.Stop();
  thread_.join();
}

}  // namespace coapgw::coap
