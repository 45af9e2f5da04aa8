#pragma once

// The libcoap event loop, owned by one thread.
//
// A Context owns one libcoap context (coap_context_t) and runs its I/O: sockets, CON
// retransmissions (RFC 7252 §4.2), block-wise transfers (RFC 7959, always on, whole bodies
// reassembled), observe notifications, plus the Context's own timers and posted tasks. A Server and
// a Client (at most one of each) attach to a Context and share its loop.
//
// Threading: every member is for the loop thread (the thread inside Run/RunFor/ProcessOnce, or
// any thread while no loop is running, e.g. for set-up) except Post() and Stop(), which any thread
// may call. Calling a loop-thread member from another thread while the loop runs throws
// std::logic_error. Callbacks (handlers, completions, timers, posted tasks) all run on the loop
// thread; an exception escaping one is caught and logged, never propagated into libcoap.
//
// Lifetime: destroy Servers and Clients before their Context, on the loop thread or after the loop
// has stopped.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

#include "coapgw/common/duration.hpp"

namespace coapgw::coap {

struct ContextOptions {
  /// Largest request or response body accepted after block-wise reassembly; larger request
  /// bodies are answered 4.13, larger responses fail the exchange with Failure::kTooLarge.
  size_t max_body_size = size_t{8} * 1024 * 1024;
};

class Context {
 public:
  using TimerId = uint64_t;

  /// Creates the libcoap context; throws std::runtime_error if libcoap cannot (no epoll, no fds).
  explicit Context(ContextOptions options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&&) = delete;
  Context& operator=(Context&&) = delete;

  /// Runs the loop on the calling thread until Stop() is called.
  void Run();
  /// Thread-safe: makes Run() return after the current iteration (a Run that starts later returns
  /// at once unless ResetStop() was called).
  void Stop();
  /// Clears a previous Stop() so that Run() can be entered again.
  void ResetStop();
  /// Runs the loop for `duration` (ignores Stop()).
  void RunFor(Millis duration);
  /// One loop iteration: due timers, posted tasks, libcoap I/O, then waits at most `timeout` for
  /// more work.
  void ProcessOnce(Millis timeout);

  /// Thread-safe: queues `task` to run on the loop thread (FIFO) and wakes the loop. Tasks still
  /// queued when the Context is destroyed are dropped.
  void Post(std::function<void()> task);
  /// Runs `task` once after `delay` on the loop thread; returns an id for CancelTimer.
  TimerId After(Millis delay, std::function<void()> task);
  /// Cancels a pending timer; false if it already ran or never existed.
  bool CancelTimer(TimerId id);

  /// True on the loop thread (or on any thread while no loop runs).
  bool InLoopThread() const;
  /// Throws std::logic_error naming `what` unless InLoopThread().
  void CheckLoopThread(const char* what) const;

  const ContextOptions& options() const;

  /// Internal state shared with Server and Client (defined in src/, not part of the API).
  struct Core;
  Core& core() { return *core_; }

 private:
  std::unique_ptr<Core> core_;
};

/// A Context running on its own thread: for services and tests. The destructor stops and joins the
/// thread; destroy the Servers and Clients first (e.g. inside Call()).
class ContextThread {
 public:
  explicit ContextThread(ContextOptions options = {});
  ~ContextThread();
  ContextThread(const ContextThread&) = delete;
  ContextThread& operator=(const ContextThread&) = delete;
  ContextThread(ContextThread&&) = delete;
  ContextThread& operator=(ContextThread&&) = delete;

  Context& context() { return context_; }

  /// Runs `fn` on the loop thread and waits for it; returns its result or rethrows its exception.
  template <class F>
  auto Call(F&& fn) -> std::invoke_result_t<F&> {
    using R = std::invoke_result_t<F&>;
    if (std::this_thread::get_id() == thread_.get_id()) {
      return fn();
    }
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> result = task->get_future();
    context_.Post([task] { (*task)(); });
    return result.get();
  }

 private:
  Context context_;
  std::thread thread_;
};

}  // namespace coapgw::coap
