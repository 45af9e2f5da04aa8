// rd_load: drives a CoAP server over loopback UDP with a fixed window of confirmable requests and
// reports rate and latency percentiles. Used by bench/rd/run.sh against coapgw-rd and, as the
// same-run reference, libcoap's coap-server-notls.
//
//   rd_load --target=127.0.0.1:5683 --mode=register --count=100000 --window=64
//   rd_load --target=127.0.0.1:5683 --mode=lookup-rt --endpoints=100000 --seconds=10
//   rd_load --target=127.0.0.1:5684 --mode=get --path=/ --seconds=10
//
// Modes: register (POST /rd?ep=bench-<i> with 3 links; i from --first), lookup-rt
// (GET /rd-lookup/res?rt=bench-t<random i>), lookup-ep (GET /rd-lookup/ep?ep=bench-<random i>),
// get (GET --path). Bounded by --count and --seconds, whichever ends first. Only loopback
// targets are accepted. Output: one line of key=value pairs.
//
// --peers=one (default) sends everything from one socket; --peers=each sends every request from
// a socket of its own (a new source port, closed once answered), as a crowd of devices that
// register once each would: the server then sees one new peer per request.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "coap_wire.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using coapgw::bench::MessageType;

struct Options {
  std::string target = "127.0.0.1:5683";
  std::string mode = "get";
  std::string path = "/";
  uint64_t count = 100000;
  uint64_t first = 0;
  uint64_t endpoints = 100000;
  double seconds = 10;
  unsigned window = 32;
  double timeout_s = 5;
  bool peer_per_request = false;
};

struct InFlight {
  Clock::time_point sent;
  uint16_t message_id = 0;
  int fd = -1;  // the socket it was sent from
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(stderr, "rd_load: %s\n", problem.c_str());
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      Usage("arguments are --name=value (see the comment at the top of rd_load.cpp)");
    }
    const std::string name = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    if (name == "target") {
      options.target = value;
    } else if (name == "mode") {
      options.mode = value;
    } else if (name == "path") {
      options.path = value;
    } else if (name == "count") {
      options.count = std::stoull(value);
    } else if (name == "first") {
      options.first = std::stoull(value);
    } else if (name == "endpoints") {
      options.endpoints = std::max<uint64_t>(1, std::stoull(value));
    } else if (name == "seconds") {
      options.seconds = std::stod(value);
    } else if (name == "window") {
      options.window = static_cast<unsigned>(std::max(1, std::stoi(value)));
    } else if (name == "timeout") {
      options.timeout_s = std::stod(value);
    } else if (name == "peers") {
      if (value != "one" && value != "each") {
        Usage("--peers is one or each");
      }
      options.peer_per_request = value == "each";
    } else {
      Usage("unknown option --" + name);
    }
  }
  return options;
}

sockaddr_in LoopbackTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, target.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    Usage("--target must be an IPv4 address:port");
  }
  // Load goes to this machine only.
  if ((ntohl(address.sin_addr.s_addr) >> 24U) != 127) {
    Usage("--target must be in 127.0.0.0/8");
  }
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  return address;
}

// A non-blocking UDP socket connected to `target`; exits on failure.
int ConnectedSocket(const sockaddr_in& target, int receive_buffer) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    Usage(std::string("socket: ") + std::strerror(errno));
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) != 0) {
    Usage(std::string("connect: ") + std::strerror(errno));
  }
  return fd;
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> segments;
  size_t pos = 0;
  while (pos < path.size()) {
    const size_t end = std::min(path.find('/', pos), path.size());
    if (end > pos) {
      segments.push_back(path.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return segments;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = Parse(argc, argv);
  const sockaddr_in target = LoopbackTarget(options.target);
  const int shared_fd = options.peer_per_request ? -1 : ConnectedSocket(target, 8 * 1024 * 1024);

  std::mt19937_64 random(42);
  const std::string links_template =
      "</s/temp>;rt=\"bench-t%\";if=core.s;obs;ct=0,"
      "</s/hum>;rt=humidity;if=core.s;ct=0,"
      "</a/led>;rt=light;if=core.a;ct=0";
  coapgw::bench::WireRequest request;
  std::string wire;
  std::unordered_map<uint64_t, InFlight> in_flight;  // by token
  std::vector<double> latencies_us;
  latencies_us.reserve(std::min<uint64_t>(options.count, 2'000'000));
  std::map<std::string, uint64_t> codes;
  uint64_t sent = 0;
  uint64_t timeouts = 0;
  uint16_t next_mid = static_cast<uint16_t>(random());
  uint64_t next_token = random();
  const auto start = Clock::now();
  const auto stop_at = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(options.seconds));
  const auto timeout =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_s));

  const auto send_next = [&] {
    const uint64_t i = options.first + sent;
    request = {};
    request.message_id = next_mid++;
    request.token = next_token++;
    if (options.mode == "register") {
      request.code = 2;
      request.path = {"rd"};
      request.query = {"ep=bench-" + std::to_string(i), "lt=86400"};
      request.content_format = 40;
      request.payload = links_template;
      request.payload.replace(request.payload.find('%'), 1, std::to_string(i));
    } else if (options.mode == "lookup-rt") {
      request.path = {"rd-lookup", "res"};
      request.query = {"rt=bench-t" + std::to_string(random() % options.endpoints)};
    } else if (options.mode == "lookup-ep") {
      request.path = {"rd-lookup", "ep"};
      request.query = {"ep=bench-" + std::to_string(random() % options.endpoints)};
    } else if (options.mode == "get") {
      request.path = Split(options.path);
    } else {
      Usage("unknown --mode " + options.mode);
    }
    coapgw::bench::EncodeRequest(request, wire);
    const int fd = shared_fd >= 0 ? shared_fd : ConnectedSocket(target, 64 * 1024);
    if (send(fd, wire.data(), wire.size(), 0) < 0) {
      if (fd != shared_fd) {
        close(fd);
      }
      return;  // a full socket buffer counts as a timeout later
    }
    in_flight[request.token] = {Clock::now(), request.message_id, fd};
    ++sent;
  };
  const auto finish = [&](std::unordered_map<uint64_t, InFlight>::iterator it) {
    if (it->second.fd != shared_fd) {
      close(it->second.fd);
    }
    return in_flight.erase(it);
  };

  char datagram[65536];
  for (;;) {
    const auto now = Clock::now();
    const bool may_send = sent < options.count && now < stop_at;
    while (may_send && in_flight.size() < options.window && sent < options.count) {
      send_next();
    }
    if (in_flight.empty() && !may_send) {
      break;
    }
    std::vector<pollfd> poll_fds;
    if (shared_fd >= 0) {
      poll_fds.push_back({shared_fd, POLLIN, 0});
    } else {
      for (const auto& [token, request_state] : in_flight) {
        poll_fds.push_back({request_state.fd, POLLIN, 0});
      }
    }
    poll(poll_fds.data(), poll_fds.size(), 50);
    for (const pollfd& ready : poll_fds) {
      if ((ready.revents & POLLIN) == 0) {
        continue;
      }
      for (;;) {
        const ssize_t n = recv(ready.fd, datagram, sizeof datagram, 0);
        if (n <= 0) {
          break;
        }
        const auto message =
            coapgw::bench::Decode(std::string_view(datagram, static_cast<size_t>(n)));
        if (!message) {
          continue;
        }
        if (message->type == MessageType::kCon) {
          const std::string ack = coapgw::bench::EmptyAck(message->message_id);
          send(ready.fd, ack.data(), ack.size(), 0);
        }
        if (message->code == 0) {
          continue;  // empty ACK of a separate response: the answer comes later
        }
        const auto it = in_flight.find(message->token);
        if (it == in_flight.end()) {
          continue;  // a duplicate or a late answer
        }
        latencies_us.push_back(
            std::chrono::duration<double, std::micro>(Clock::now() - it->second.sent).count());
        ++codes[coapgw::bench::CodeText(message->code)];
        finish(it);
        if (ready.fd != shared_fd) {
          break;  // that socket is closed now
        }
      }
    }
    const auto later = Clock::now();
    for (auto it = in_flight.begin(); it != in_flight.end();) {
      if (later - it->second.sent > timeout) {
        ++timeouts;
        it = finish(it);
      } else {
        ++it;
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto percentile = [&](double p) {
    if (latencies_us.empty()) {
      return 0.0;
    }
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<size_t>(p * static_cast<double>(latencies_us.size())))];
  };
  std::printf(
      "mode=%s sent=%llu answered=%zu timeouts=%llu seconds=%.2f rate=%.0f p50_us=%.0f "
      "p99_us=%.0f",
      options.mode.c_str(), static_cast<unsigned long long>(sent), latencies_us.size(),
      static_cast<unsigned long long>(timeouts), elapsed,
      static_cast<double>(latencies_us.size()) / elapsed, percentile(0.5), percentile(0.99));
  for (const auto& [code, number] : codes) {
    std::printf(" code_%s=%llu", code.c_str(), static_cast<unsigned long long>(number));
  }
  std::printf("\n");
  if (shared_fd >= 0) {
    close(shared_fd);
  }
  return timeouts == 0 ? 0 : 1;
}
