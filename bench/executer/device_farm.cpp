// device_farm: many CoAP devices in one process, plus the RD snapshot that lists them, for the
// executer and pinger benchmarks (bench/README.md). Loopback only.
//
//   device_farm --devices=N [--payload=BYTES]
//
// Each device is a UDP socket on 127.0.0.1 (a port of its own) served by one epoll thread with
// raw bytes: an empty CON (a CoAP ping) gets a RST, any other CON request a piggybacked 2.05 with
// a payload of BYTES bytes (text/plain). A coap::Server on another port serves
// GET /coapgw/devices, the RD's snapshot of those devices (dev-0 ... dev-N-1), so that
// coapgw-executer and coapgw-pinger can use the farm as their COAPGW_RD_URI.
//
// Prints "rd=coap://127.0.0.1:P devices=N" once ready, then runs until SIGTERM/SIGINT and prints
// "answered=A pings=P" (datagrams answered, of which pings).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "coapgw/events/codec.hpp"

namespace {

std::atomic<uint64_t> g_answered{0};
std::atomic<uint64_t> g_pings{0};

size_t Flag(int argc, char** argv, std::string_view name, size_t fallback) {
  const std::string prefix = "--" + std::string(name) + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]).rfind(prefix, 0) == 0) {
      return std::stoul(argv[i] + prefix.size());
    }
  }
  return fallback;
}

int BindLoopback(uint16_t* port) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::fprintf(stderr, "device_farm: cannot bind: %s\n", std::strerror(errno));
    std::exit(1);
  }
  *port = ntohs(address.sin_port);
  return fd;
}

// Answers what is queued on `fd`: RST to a ping, ACK 2.05 with `payload` to a CON request.
void Serve(int fd, const std::string& payload) {
  char in[1500];
  std::string out;
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    const ssize_t n =
        recvfrom(fd, in, sizeof(in), 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
    if (n < 0) {
      return;  // EAGAIN: drained
    }
    if (n < 4 || ((static_cast<uint8_t>(in[0]) >> 4) & 0x3) != 0) {
      continue;  // not a CON (ACKs of nothing, RSTs): ignore
    }
    out.clear();
    const size_t token_length = static_cast<uint8_t>(in[0]) & 0x0f;
    if (in[1] == 0) {
      out.push_back(static_cast<char>(0x70));  // RST, no token
      out.push_back(static_cast<char>(0x00));  // empty code
      out.append(in + 2, 2);                   // message id
      g_pings.fetch_add(1, std::memory_order_relaxed);
    } else {
      out.push_back(static_cast<char>(0x60 | token_length));  // ACK
      out.push_back(static_cast<char>(0x45));                 // 2.05
      out.append(in + 2, 2 + token_length);                   // message id, token
      if (!payload.empty()) {
        out.push_back(static_cast<char>(0xff));
        out += payload;
      }
    }
    (void)sendto(fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
    g_answered.fetch_add(1, std::memory_order_relaxed);
  }
}

std::string Snapshot(const std::vector<uint16_t>& ports) {
  std::string body = R"({"publisher":"rd-bench","seq":{},"devices":[)";
  for (size_t i = 0; i < ports.size(); ++i) {
    coapgw::events::DeviceRegistered registered;
    coapgw::events::Device& device = registered.device;
    device.device_id = "dev-" + std::to_string(i);
    device.endpoint = device.device_id;
    device.base = "coap://127.0.0.1:" + std::to_string(ports[i]);
    device.location = "/rd/" + std::to_string(i + 1);
    coapgw::events::Link link;
    link.href = "/value";
    link.resource_types = {"bench"};
    device.links.push_back(link);
    device.registered_at = device.updated_at = std::chrono::system_clock::now();
    body += (i == 0 ? "" : ",") + coapgw::events::Encode(registered);
  }
  return body + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  const size_t devices = Flag(argc, argv, "devices", 1000);
  const std::string payload(Flag(argc, argv, "payload", 2), 'x');
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const int epoll = epoll_create1(0);
  std::vector<int> fds;
  std::vector<uint16_t> ports(devices);
  for (size_t i = 0; i < devices; ++i) {
    fds.push_back(BindLoopback(&ports[i]));
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fds.back();
    epoll_ctl(epoll, EPOLL_CTL_ADD, fds.back(), &event);
  }
  std::atomic<bool> stopping{false};
  std::thread io([&] {
    epoll_event events[256];
    while (!stopping.load()) {
      const int n = epoll_wait(epoll, events, 256, 100);
      for (int i = 0; i < n; ++i) {
        Serve(events[i].data.fd, payload);
      }
    }
  });

  coapgw::coap::ContextOptions options;
  options.max_body_size = 64 * 1024 * 1024;
  coapgw::coap::ContextThread loop(options);
  std::unique_ptr<coapgw::coap::Server> server;
  const std::string snapshot = Snapshot(ports);
  uint16_t rd_port = 0;
  loop.Call([&] {
    server = std::make_unique<coapgw::coap::Server>(loop.context());
    rd_port = server->AddEndpoint("127.0.0.1:0")->port;
    server->AddResource("/coapgw/devices")
        .On(coapgw::coap::Method::kGet,
            [&snapshot](const coapgw::coap::Request&, coapgw::coap::Response& response) {
              response.SetPayload(snapshot, coapgw::coap::content_format::kJson);
            });
  });
  std::printf("rd=coap://127.0.0.1:%u devices=%zu\n", rd_port, devices);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  stopping.store(true);
  io.join();
  loop.Call([&] { server.reset(); });
  for (const int fd : fds) {
    close(fd);
  }
  close(epoll);
  std::printf("answered=%llu pings=%llu\n", static_cast<unsigned long long>(g_answered.load()),
              static_cast<unsigned long long>(g_pings.load()));
  return 0;
}
