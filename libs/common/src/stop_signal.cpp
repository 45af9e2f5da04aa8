#include "coapgw/common/stop_signal.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

namespace coapgw {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

StopSignal::StopSignal() {
  const sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c): the previous handler is of no interest.
}

StopSignal::~StopSignal() = default;

int StopSignal::Wait() {
  const sigset_t set = StopSet();
  for (;;) {
    int number = 0;
    if (sigwait(&set, &number) == 0) {
      return number;
    }
  }
}

std::optional<int> StopSignal::WaitFor(Millis timeout) {
  const sigset_t set = StopSet();
  timespec wait{};
  wait.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  wait.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
  for (;;) {
    const int number = sigtimedwait(&set, nullptr, &wait);
    if (number > 0) {
      return number;
    }
    if (errno != EINTR) {
      return std::nullopt;
    }
  }
}

}  // namespace coapgw
