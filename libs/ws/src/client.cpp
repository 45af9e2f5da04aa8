// The only translation unit of the client that includes websocketpp and Asio (they cost ~40 s of
// compile time each): everything they touch stays behind Client::Impl.

#include "coapgw/ws/client.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <websocketpp/client.hpp>

#include "coapgw/common/log.hpp"
#include "guarded.hpp"
#include "wspp_config.hpp"

namespace coapgw::ws {
namespace {

constexpr const char* kComponent = "ws-client";
using SteadyClock = std::chrono::steady_clock;
using internal::ErrorText;
using internal::PlainClientConfig;
using internal::TlsClientConfig;

struct ParsedUrl {
  std::string url;
  bool secure = false;
  std::string host;
};

Result<ParsedUrl> ParseUrl(const std::string& url) {
  const auto scheme_end = url.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "ws" && scheme != "wss") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unsupported URL '" + url + "': the scheme must be ws:// or wss://");
  }
  const websocketpp::uri uri(url);
  if (!uri.get_valid() || uri.get_host().empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "malformed WebSocket URL '" + url + "'");
  }
  return ParsedUrl{url, uri.get_secure(), uri.get_host()};
}

bool IsIpLiteral(const std::string& host) {
  asio::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

const char* CloseInitiatorName(CloseInitiator initiator) {
  switch (initiator) {
    case CloseInitiator::kLocal:
      return "local";
    case CloseInitiator::kPeer:
      return "peer";
    case CloseInitiator::kFailure:
      return "failure";
  }
  return "failure";
}

// One connection attempt's interface, whatever its transport (plain or TLS).
class AttemptBase {
 public:
  virtual ~AttemptBase() = default;
  virtual void Send(std::string text) = 0;
  virtual void Close(uint16_t code, std::string reason) = 0;
};

class Client::Impl {
 public:
  Impl(ClientOptions options, ClientHandlers handlers);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Connect(const std::string& url);
  Status Send(std::string text);
  void Close(uint16_t code, std::string reason);
  ClientState state() const { return state_.load(); }

  // Called by attempts, on the I/O thread.
  void Opened(const AttemptBase* attempt);
  void Text(const AttemptBase* attempt, std::string text);
  void Finished(const AttemptBase* attempt, const CloseEvent& event);
  const ClientOptions& options() const { return options_; }
  asio::io_context& io() { return io_; }

  // TLS parameters of the attempt being created: read by the TLS init handlers, which websocketpp
  // runs synchronously inside get_connection.
  struct TlsParams {
    std::string host;
    std::shared_ptr<std::string> verify_error;  // first verification failure, for the reason
    std::string setup_error;                    // e.g. the CA file could not be loaded
  };
  TlsParams pending_tls_;

 private:
  template <class Config>
  void Start(websocketpp::client<Config>& endpoint, const ParsedUrl& url);
  std::shared_ptr<asio::ssl::context> MakeTlsContext();
  void ConfigureTlsSocket(asio::ssl::stream<asio::ip::tcp::socket>& stream);
  template <class Config>
  void ConfigureEndpoint(websocketpp::client<Config>& endpoint);

  const ClientOptions options_;
  const ClientHandlers handlers_;
  // Declared before the endpoints: Asio objects must die before their io_context.
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  websocketpp::client<PlainClientConfig> plain_;
  websocketpp::client<TlsClientConfig> tls_;
  std::shared_ptr<AttemptBase> current_;  // I/O thread only
  std::atomic<ClientState> state_{ClientState::kIdle};
  std::atomic<bool> callbacks_enabled_{true};
  std::promise<void>* idle_waiter_ = nullptr;  // I/O thread only: the destructor's wait
  std::thread thread_;
};

namespace {

template <class Config>
class Attempt : public AttemptBase, public std::enable_shared_from_this<Attempt<Config>> {
 public:
  using Endpoint = websocketpp::client<Config>;
  using ConnectionPtr = typename Endpoint::connection_ptr;

  Attempt(Client::Impl& owner, Endpoint& endpoint)
      : owner_(owner),
        endpoint_(endpoint),
        connect_timer_(owner.io()),
        keepalive_timer_(owner.io()),
        verify_error_(std::make_shared<std::string>()) {}

  std::shared_ptr<std::string> verify_error() const { return verify_error_; }

  // Creates the connection and starts connecting. A setup failure is reported through Finished.
  void Start(const std::string& url) {
    std::weak_ptr<Attempt> weak = this->shared_from_this();
    websocketpp::lib::error_code ec;
    con_ = endpoint_.get_connection(url, ec);
    if (ec) {
      const std::string setup = owner_.pending_tls_.setup_error;
      Finish(false, CloseInitiator::kFailure, 1006, "",
             "cannot start connection: " + (setup.empty() ? ErrorText(ec) : setup));
      return;
    }
    con_->set_open_handler([weak, this_endpoint = &endpoint_](websocketpp::connection_hdl hdl) {
      if (auto self = weak.lock()) {
        self->HandleOpen();
      } else {
        TerminateStale(*this_endpoint, hdl);
      }
    });
    con_->set_fail_handler([weak](websocketpp::connection_hdl) {
      if (auto self = weak.lock()) {
        self->HandleFail();
      }
    });
    con_->set_close_handler([weak](websocketpp::connection_hdl) {
      if (auto self = weak.lock()) {
        self->HandleClose();
      }
    });
    con_->set_message_handler(
        [weak](websocketpp::connection_hdl, typename Endpoint::message_ptr message) {
          if (auto self = weak.lock()) {
            self->HandleMessage(message);
          }
        });
    con_->set_ping_handler([weak](websocketpp::connection_hdl, const std::string&) {
      if (auto self = weak.lock()) {
        self->Touch();
      }
      return true;  // answer with a pong
    });
    con_->set_pong_handler([weak](websocketpp::connection_hdl, const std::string&) {
      if (auto self = weak.lock()) {
        self->Touch();
      }
    });
    con_->set_close_handshake_timeout(owner_.options().close_timeout.count());
    endpoint_.connect(con_);

    connect_timer_.expires_after(owner_.options().connect_timeout);
    connect_timer_.async_wait([weak](const asio::error_code& timer_ec) {
      auto self = weak.lock();
      if (!timer_ec && self) {
        self->Fail("connect timeout after " +
                   FormatDuration(self->owner_.options().connect_timeout));
      }
    });
  }

  void Send(std::string text) override {
    if (!opened_ || finished_) {
      return;
    }
    const auto ec = con_->send(text, websocketpp::frame::opcode::text);
    if (ec) {
      log::Debug(kComponent, "send dropped", {{"error", ErrorText(ec)}});
    }
  }

  void Close(uint16_t code, std::string reason) override {
    if (finished_ || local_close_) {
      return;
    }
    local_close_ = true;
    if (!opened_) {
      Terminate();
      return;
    }
    websocketpp::lib::error_code ec;
    con_->close(code, reason, ec);
    if (ec) {
      Terminate();
    }
  }

 private:
  static void TerminateStale(Endpoint& endpoint, websocketpp::connection_hdl hdl) {
    websocketpp::lib::error_code ec;
    auto con = endpoint.get_con_from_hdl(hdl, ec);
    if (!ec) {
      con->terminate(websocketpp::error::make_error_code(websocketpp::error::operation_canceled));
    }
  }

  void HandleOpen() {
    if (finished_) {
      con_->terminate(websocketpp::error::make_error_code(websocketpp::error::operation_canceled));
      return;
    }
    opened_ = true;
    connect_timer_.cancel();
    Touch();
    ArmKeepalive(last_inbound_ + owner_.options().ping_idle);
    owner_.Opened(this);
  }

  void HandleMessage(const typename Endpoint::message_ptr& message) {
    Touch();
    if (message->get_opcode() != websocketpp::frame::opcode::text) {
      log::Debug(kComponent, "binary frame ignored",
                 {{"bytes", std::to_string(message->get_payload().size())}});
      return;
    }
    owner_.Text(this, std::move(message->get_raw_payload()));
  }

  void HandleFail() {
    if (failure_) {
      Finish(false, local_close_ ? CloseInitiator::kLocal : CloseInitiator::kFailure, 1006, "",
             *failure_);
      return;
    }
    std::string reason;
    if (!verify_error_->empty()) {
      reason = "TLS handshake failed: certificate verification: " + *verify_error_;
    } else {
      reason = ErrorText(con_->get_ec());
      const auto status = con_->get_response_code();
      if (status != websocketpp::http::status_code::uninitialized &&
          status != websocketpp::http::status_code::switching_protocols) {
        reason = "HTTP upgrade refused: " + std::to_string(static_cast<int>(status)) + " " +
                 con_->get_response_msg();
      }
    }
    Finish(false, CloseInitiator::kFailure, 1006, "", reason);
  }

  void HandleClose() {
    const auto local_code = con_->get_local_close_code();
    const auto remote_code = con_->get_remote_close_code();
    if (failure_) {
      Finish(true, CloseInitiator::kFailure, 1006, "", *failure_);
    } else if (local_close_) {
      Finish(true, CloseInitiator::kLocal, local_code, "",
             "closed by client (" + std::to_string(local_code) + ")");
    } else if (local_code == websocketpp::close::status::message_too_big) {
      Finish(true, CloseInitiator::kFailure, local_code, "",
             "inbound message larger than max_message_size (" +
                 std::to_string(owner_.options().max_message_size) + " bytes)");
    } else if (remote_code != websocketpp::close::status::abnormal_close) {
      const std::string& peer_reason = con_->get_remote_close_reason();
      Finish(true, CloseInitiator::kPeer, remote_code, peer_reason,
             "peer closed (" + std::to_string(remote_code) + ")" +
                 (peer_reason.empty() ? "" : ": " + peer_reason));
    } else if (local_code != websocketpp::close::status::abnormal_close &&
               local_code != websocketpp::close::status::blank) {
      Finish(
          true, CloseInitiator::kFailure, local_code, "",
          "protocol error (" + std::to_string(local_code) + "): " + con_->get_local_close_reason());
    } else {
      Finish(true, CloseInitiator::kFailure, 1006, "",
             "connection lost: " + ErrorText(con_->get_ec()));
    }
  }

  // Any inbound frame proves the peer alive.
  void Touch() {
    last_inbound_ = SteadyClock::now();
    ping_outstanding_ = false;
  }

  void ArmKeepalive(SteadyClock::time_point at) {
    if (owner_.options().ping_idle.count() <= 0 || finished_) {
      return;
    }
    std::weak_ptr<Attempt> weak = this->shared_from_this();
    keepalive_timer_.expires_at(at);
    keepalive_timer_.async_wait([weak](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!ec && self) {
        self->OnKeepaliveTimer();
      }
    });
  }

  void OnKeepaliveTimer() {
    if (finished_ || !opened_) {
      return;
    }
    const auto& options = owner_.options();
    const auto now = SteadyClock::now();
    if (ping_outstanding_) {
      if (now >= ping_sent_ + options.pong_timeout) {
        Fail("keepalive: no frame within " + FormatDuration(options.pong_timeout) + " after ping");
        return;
      }
      ArmKeepalive(ping_sent_ + options.pong_timeout);
      return;
    }
    if (now < last_inbound_ + options.ping_idle) {
      ArmKeepalive(last_inbound_ + options.ping_idle);
      return;
    }
    // The payload CC sends: the Unix time in seconds as ASCII (platform-protocol.md §8.2).
    const auto unix_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
    websocketpp::lib::error_code ec;
    con_->ping(std::to_string(unix_seconds), ec);
    if (ec) {
      Fail("keepalive: cannot send ping: " + ErrorText(ec));
      return;
    }
    ping_outstanding_ = true;
    ping_sent_ = now;
    ArmKeepalive(now + options.pong_timeout);
  }

  // Ends the connection without a close handshake; HandleFail or HandleClose reports `reason`.
  void Fail(std::string reason) {
    if (finished_ || failure_) {
      return;
    }
    failure_ = std::move(reason);
    Terminate();
  }

  void Terminate() {
    if (!failure_) {
      failure_ = local_close_ ? "connect abandoned by Close()" : "terminated";
    }
    con_->terminate(websocketpp::error::make_error_code(websocketpp::error::operation_canceled));
  }

  void Finish(bool was_open, CloseInitiator initiator, uint16_t code, std::string peer_reason,
              std::string reason) {
    if (finished_) {
      return;
    }
    finished_ = true;
    connect_timer_.cancel();
    keepalive_timer_.cancel();
    CloseEvent event;
    event.was_open = was_open;
    event.initiator = initiator;
    event.code = code;
    event.peer_reason = std::move(peer_reason);
    event.reason = std::move(reason);
    owner_.Finished(this, event);
  }

  Client::Impl& owner_;
  Endpoint& endpoint_;
  ConnectionPtr con_;
  asio::steady_timer connect_timer_;
  asio::steady_timer keepalive_timer_;
  std::shared_ptr<std::string> verify_error_;
  std::optional<std::string> failure_;
  bool opened_ = false;
  bool finished_ = false;
  bool local_close_ = false;
  bool ping_outstanding_ = false;
  SteadyClock::time_point last_inbound_;
  SteadyClock::time_point ping_sent_;
};

}  // namespace

Client::Impl::Impl(ClientOptions options, ClientHandlers handlers)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      work_(asio::make_work_guard(io_)) {
  ConfigureEndpoint(plain_);
  ConfigureEndpoint(tls_);
  tls_.set_tls_init_handler([this](websocketpp::connection_hdl) { return MakeTlsContext(); });
  tls_.set_socket_init_handler(
      [this](websocketpp::connection_hdl, asio::ssl::stream<asio::ip::tcp::socket>& stream) {
        ConfigureTlsSocket(stream);
      });
  thread_ = std::thread([this] { internal::RunGuarded(kComponent, io_); });
}

template <class Config>
void Client::Impl::ConfigureEndpoint(websocketpp::client<Config>& endpoint) {
  endpoint.clear_access_channels(websocketpp::log::alevel::all);
  endpoint.clear_error_channels(websocketpp::log::elevel::all);
  websocketpp::lib::error_code ec;
  endpoint.init_asio(&io_, ec);
  if (ec) {
    throw std::runtime_error("cannot initialise the WebSocket client: " + ErrorText(ec));
  }
  endpoint.set_user_agent(options_.user_agent);
  endpoint.set_max_message_size(options_.max_message_size);
  // connect_timeout is enforced by the attempt's own timer, which names the cause.
  endpoint.set_open_handshake_timeout(options_.connect_timeout.count() + 60'000);
  endpoint.set_close_handshake_timeout(options_.close_timeout.count());
  internal::DisableNagle(endpoint);
}

Client::Impl::~Impl() {
  if (std::this_thread::get_id() == thread_.get_id()) {
    log::Error(kComponent, "Client destroyed from its own callback; aborting");
    std::abort();
  }
  callbacks_enabled_ = false;
  std::promise<void> idle;
  auto idle_future = idle.get_future();
  asio::post(io_, [this, &idle] {
    if (current_) {
      idle_waiter_ = &idle;
      current_->Close(1000, "client shutting down");
    } else {
      idle.set_value();
    }
  });
  // The close handshake is bounded by close_timeout inside websocketpp; this bound only guards
  // against a wedged I/O thread.
  if (idle_future.wait_for(options_.close_timeout + std::chrono::seconds(1)) !=
      std::future_status::ready) {
    log::Warn(kComponent, "close did not finish in time; dropping the connection");
  }
  work_.reset();
  io_.stop();
  thread_.join();
}

Status Client::Impl::Connect(const std::string& url) {
  auto parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return parsed.error();
  }
  ClientState expected = ClientState::kIdle;
  if (!state_.compare_exchange_strong(expected, ClientState::kConnecting)) {
    return MakeError(ErrorCode::kConflict, "a connection is already in progress or open");
  }
  if (parsed->secure && options_.insecure_skip_verify) {
    log::Warn(kComponent,
              "INSECURE: TLS certificate and host name verification is OFF for this connection",
              {{"url", url}});
  }
  asio::post(io_, [this, target = std::move(*parsed)] {
    if (target.secure) {
      Start(tls_, target);
    } else {
      Start(plain_, target);
    }
  });
  return Status::Ok();
}

template <class Config>
void Client::Impl::Start(websocketpp::client<Config>& endpoint, const ParsedUrl& url) {
  auto attempt = std::make_shared<Attempt<Config>>(*this, endpoint);
  pending_tls_ = TlsParams{url.host, attempt->verify_error(), ""};
  current_ = attempt;
  log::Debug(kComponent, "connecting", {{"url", url.url}});
  attempt->Start(url.url);
}

std::shared_ptr<asio::ssl::context> Client::Impl::MakeTlsContext() {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  asio::error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       ec);
  if (options_.insecure_skip_verify) {
    context->set_verify_mode(asio::ssl::verify_none, ec);
    return context;
  }
  context->set_verify_mode(asio::ssl::verify_peer, ec);
  if (options_.ca_file.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->load_verify_file(options_.ca_file, ec);
  }
  if (ec) {
    pending_tls_.setup_error =
        "cannot load CA certificates" +
        (options_.ca_file.empty() ? std::string() : " from '" + options_.ca_file + "'") + ": " +
        ErrorText(ec);
    return nullptr;
  }
  context->set_verify_callback(
      [sink = pending_tls_.verify_error](bool preverified, asio::ssl::verify_context& verify) {
        if (!preverified && sink->empty()) {
          X509_STORE_CTX* store = verify.native_handle();
          const int error = X509_STORE_CTX_get_error(store);
          *sink = std::string(X509_verify_cert_error_string(error)) + " (depth " +
                  std::to_string(X509_STORE_CTX_get_error_depth(store)) + ")";
        }
        return preverified;
      },
      ec);
  return context;
}

void Client::Impl::ConfigureTlsSocket(asio::ssl::stream<asio::ip::tcp::socket>& stream) {
  if (options_.insecure_skip_verify) {
    return;
  }
  // Host name (or IP address) verification by OpenSSL itself, so a mismatch is reported through
  // the verify callback like any other certificate error.
  SSL* ssl = stream.native_handle();
  const std::string& host = pending_tls_.host;
  if (IsIpLiteral(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
  } else {
    SSL_set1_host(ssl, host.c_str());
  }
}

Status Client::Impl::Send(std::string text) {
  if (state_.load() != ClientState::kOpen) {
    return MakeError(ErrorCode::kUnavailable, "the connection is not open");
  }
  asio::post(io_, [this, text = std::move(text)]() mutable {
    if (current_) {
      current_->Send(std::move(text));
    }
  });
  return Status::Ok();
}

void Client::Impl::Close(uint16_t code, std::string reason) {
  asio::post(io_, [this, code, reason = std::move(reason)]() mutable {
    if (current_) {
      ClientState expected = ClientState::kOpen;
      state_.compare_exchange_strong(expected, ClientState::kClosing);
      current_->Close(code, std::move(reason));
    }
  });
}

void Client::Impl::Opened(const AttemptBase* attempt) {
  if (attempt != current_.get()) {
    return;
  }
  state_ = ClientState::kOpen;
  log::Debug(kComponent, "open");
  if (callbacks_enabled_ && handlers_.on_open) {
    internal::Guarded(kComponent, "on_open", handlers_.on_open);
  }
}

void Client::Impl::Text(const AttemptBase* attempt, std::string text) {
  if (attempt != current_.get() || !callbacks_enabled_ || !handlers_.on_text) {
    return;
  }
  internal::Guarded(kComponent, "on_text", [&] { handlers_.on_text(std::move(text)); });
}

void Client::Impl::Finished(const AttemptBase* attempt, const CloseEvent& event) {
  if (attempt != current_.get()) {
    return;
  }
  // Keep the attempt alive until its own handler has returned.
  const auto keep = std::move(current_);
  state_ = ClientState::kIdle;
  log::Debug(kComponent, "closed",
             {{"initiator", CloseInitiatorName(event.initiator)},
              {"code", std::to_string(event.code)},
              {"reason", event.reason}});
  if (idle_waiter_ != nullptr) {
    idle_waiter_->set_value();
    idle_waiter_ = nullptr;
  }
  if (callbacks_enabled_ && handlers_.on_close) {
    internal::Guarded(kComponent, "on_close", [&] { handlers_.on_close(event); });
  }
}

Client::Client(ClientOptions options, ClientHandlers handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}

Client::~Client() = default;

Status Client::Connect(const std::string& url) {
  return impl_->Connect(url);
}

Status Client::Send(std::string text) {
  return impl_->Send(std::move(text));
}

void Client::Close(uint16_t code, std::string reason) {
  impl_->Close(code, std::move(reason));
}

ClientState Client::state() const {
  return impl_->state();
}

}  // namespace coapgw::ws
