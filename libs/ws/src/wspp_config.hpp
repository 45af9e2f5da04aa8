#pragma once

// websocketpp endpoint configurations shared by client.cpp and server.cpp (the only two files that
// include websocketpp). Private to libs/ws.
//
// Why custom configs: the stock ones fix the transport's DNS, TCP-connect and TLS-handshake
// timeouts at 5 s at compile time. Our client enforces its own connect_timeout with a timer, so
// the transport's are set far beyond any sane setting and never decide first.
// timeout_socket_shutdown bounds the TLS shutdown: websocketpp keeps a read pending while it
// shuts TLS down, that read consumes the peer's close_notify, and the shutdown then waits for
// this timer; the connection's close handler runs only afterwards.

#include <cstdint>
#include <random>

#include <websocketpp/config/asio.hpp>
#include <websocketpp/config/asio_client.hpp>

namespace coapgw::ws::internal {

constexpr long kTransportTimeoutMs = 10L * 60L * 1000L;

// Masking keys of client frames. websocketpp's stock generator asks std::random_device for every
// frame (a hardware random instruction retried until it yields): a third of the client's CPU when
// it sends events back to back. The keys only need to be unpredictable to intermediaries (RFC 6455
// §5.3, §10.3), which a Mersenne Twister seeded once from std::random_device provides.
template <class Concurrency, class IntType>
class SeededRng {
 public:
  SeededRng() {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(),
                       device(), device(), device(), device()};
    engine_.seed(seed);
  }
  IntType operator()() {
    typename Concurrency::scoped_lock_type guard(lock_);
    return distribution_(engine_);
  }

 private:
  std::mt19937 engine_;
  std::uniform_int_distribution<IntType> distribution_;
  typename Concurrency::mutex_type lock_;
};

template <class Base, class SocketEndpoint>
struct Config : public Base {
  typedef Config type;
  typedef Base base;

  typedef typename base::concurrency_type concurrency_type;
  typedef typename base::request_type request_type;
  typedef typename base::response_type response_type;
  typedef typename base::message_type message_type;
  typedef typename base::con_msg_manager_type con_msg_manager_type;
  typedef typename base::endpoint_msg_manager_type endpoint_msg_manager_type;
  typedef typename base::alog_type alog_type;
  typedef typename base::elog_type elog_type;
  typedef SeededRng<concurrency_type, uint32_t> rng_type;

  struct transport_config : public base::transport_config {
    typedef typename type::concurrency_type concurrency_type;
    typedef typename type::alog_type alog_type;
    typedef typename type::elog_type elog_type;
    typedef typename type::request_type request_type;
    typedef typename type::response_type response_type;
    typedef SocketEndpoint socket_type;

    static const long timeout_socket_pre_init = kTransportTimeoutMs;
    static const long timeout_proxy = kTransportTimeoutMs;
    static const long timeout_socket_post_init = kTransportTimeoutMs;
    static const long timeout_dns_resolve = kTransportTimeoutMs;
    static const long timeout_connect = kTransportTimeoutMs;
    static const long timeout_socket_shutdown = 1000;
  };

  typedef websocketpp::transport::asio::endpoint<transport_config> transport_type;
};

using PlainClientConfig =
    Config<websocketpp::config::core_client, websocketpp::transport::asio::basic_socket::endpoint>;
using TlsClientConfig =
    Config<websocketpp::config::core_client, websocketpp::transport::asio::tls_socket::endpoint>;
using PlainServerConfig =
    Config<websocketpp::config::core, websocketpp::transport::asio::basic_socket::endpoint>;
using TlsServerConfig =
    Config<websocketpp::config::core, websocketpp::transport::asio::tls_socket::endpoint>;

/// Sets TCP_NODELAY on every connection of `endpoint` once its TCP connection exists. Requests
/// and replies are small frames: without it, Nagle plus delayed ACKs add ~40 ms to back-to-back
/// writes (seen on the TLS close handshake).
template <class Endpoint>
void DisableNagle(Endpoint& endpoint) {
  endpoint.set_tcp_pre_init_handler([&endpoint](websocketpp::connection_hdl hdl) {
    websocketpp::lib::error_code ec;
    if (auto con = endpoint.get_con_from_hdl(hdl, ec)) {
      asio::error_code option_ec;
      con->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), option_ec);
    }
  });
}

}  // namespace coapgw::ws::internal
