// The only translation unit of the server that includes websocketpp and Asio: everything they
// touch stays behind Server::Impl.

#include "coapgw/ws/server.hpp"

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include <websocketpp/server.hpp>

#include "coapgw/common/log.hpp"
#include "guarded.hpp"
#include "wspp_config.hpp"

namespace coapgw::ws {
namespace {

constexpr const char* kComponent = "ws-server";
using internal::ErrorText;
using internal::Guarded;

std::string ToLower(std::string text) {
  for (char& ch : text) {
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return text;
}

std::string PathOf(const std::string& resource) {
  return resource.substr(0, resource.find('?'));
}

// Hands work to the I/O thread for as long as the server lives; HttpReply objects may outlive
// the server (they sit in the user's timers), so they post through this and not the io_context.
class Poster {
 public:
  explicit Poster(asio::io_context& io) : io_(&io) {}
  void Post(std::function<void()> task) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (io_ != nullptr) {
      asio::post(*io_, std::move(task));
    }
  }
  void Disable() {
    const std::lock_guard<std::mutex> lock(mutex_);
    io_ = nullptr;
  }

 private:
  std::mutex mutex_;
  asio::io_context* io_;
};

}  // namespace

struct HttpReply::State {
  std::function<void(HttpResponse)> send;
  std::atomic<bool> done{false};
  ~State() {
    if (!done.exchange(true)) {
      HttpResponse response;
      response.status = 500;
      response.content_type = "text/plain";
      response.body = "no response\n";
      send(std::move(response));
    }
  }
};

void HttpReply::operator()(HttpResponse response) const {
  if (state_ && !state_->done.exchange(true)) {
    state_->send(std::move(response));
  }
}

// What Server::Impl needs from the endpoint, whatever its transport.
class EngineBase {
 public:
  virtual ~EngineBase() = default;
  virtual uint16_t port() const = 0;
  virtual void Send(ConnectionId id, std::string data, bool binary) = 0;
  virtual void Ping(ConnectionId id, const std::string& payload) = 0;
  virtual void Close(ConnectionId id, uint16_t code, const std::string& reason) = 0;
  virtual void Drop(ConnectionId id) = 0;
  // Stops accepting and closes every connection; `idle` runs once none is left.
  virtual void Shutdown(std::function<void()> idle) = 0;
  virtual size_t connection_count() const = 0;
};

class Server::Impl {
 public:
  Impl(ServerOptions options, ServerHandlers handlers);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  uint16_t port() const { return port_; }
  bool secure() const { return secure_; }
  void Post(std::function<void()> task) { poster_->Post(std::move(task)); }
  void Send(ConnectionId id, std::string data, bool binary) {
    Post([this, id, data = std::move(data), binary]() mutable {
      engine_->Send(id, std::move(data), binary);
    });
  }
  void Ping(ConnectionId id, std::string payload) {
    Post([this, id, payload = std::move(payload)] { engine_->Ping(id, payload); });
  }
  void Close(ConnectionId id, uint16_t code, std::string reason) {
    Post([this, id, code, reason = std::move(reason)] { engine_->Close(id, code, reason); });
  }
  void Drop(ConnectionId id) {
    Post([this, id] { engine_->Drop(id); });
  }
  TimerId After(Millis delay, std::function<void()> task);
  void Cancel(TimerId timer) {
    Post([this, timer] { timers_.erase(timer); });
  }
  size_t connection_count() const { return engine_->connection_count(); }

  // For the engines, on the I/O thread.
  const ServerOptions& options() const { return options_; }
  const ServerHandlers& handlers() const { return handlers_; }
  bool handlers_enabled() const { return handlers_enabled_; }
  asio::io_context& io() { return io_; }
  std::shared_ptr<Poster> poster() const { return poster_; }

 private:
  template <class Config>
  std::unique_ptr<EngineBase> MakeEngine();

  const ServerOptions options_;
  const ServerHandlers handlers_;
  asio::io_context io_;  // before everything that holds Asio objects
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<Poster> poster_;
  std::unique_ptr<EngineBase> engine_;
  std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers_;  // I/O thread only
  std::atomic<TimerId> next_timer_{1};
  std::atomic<bool> handlers_enabled_{true};
  uint16_t port_ = 0;
  bool secure_ = false;
  std::thread thread_;
};

namespace {

std::shared_ptr<asio::ssl::context> LoadServerTls(const ServerOptions& options) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  asio::error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       ec);
  context->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec) {
    throw std::runtime_error("cannot load TLS certificate '" + options.tls_cert_file +
                             "': " + ErrorText(ec));
  }
  context->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
  if (ec) {
    throw std::runtime_error("cannot load TLS key '" + options.tls_key_file +
                             "': " + ErrorText(ec));
  }
  return context;
}

asio::ip::tcp::endpoint ResolveListen(const HostPort& listen) {
  const std::string host = listen.host.empty() ? "0.0.0.0" : listen.host;
  asio::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (!ec) {
    return {address, listen.port};
  }
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, std::to_string(listen.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve listen address '" + FormatHostPort(listen) +
                             "': " + (ec ? ErrorText(ec) : "no address"));
  }
  return results.begin()->endpoint();
}

template <class Config>
class Engine : public EngineBase {
 public:
  using Endpoint = websocketpp::server<Config>;
  using ConnectionPtr = typename Endpoint::connection_ptr;

  explicit Engine(Server::Impl& owner) : owner_(owner) {
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    websocketpp::lib::error_code ec;
    endpoint_.init_asio(&owner.io(), ec);
    if (ec) {
      throw std::runtime_error("cannot initialise the WebSocket server: " + ErrorText(ec));
    }
    endpoint_.set_reuse_addr(true);
    endpoint_.set_max_message_size(owner.options().max_message_size);
    endpoint_.set_close_handshake_timeout(owner.options().close_timeout.count());
    endpoint_.set_open_handler([this](websocketpp::connection_hdl hdl) { HandleOpen(hdl); });
    endpoint_.set_close_handler([this](websocketpp::connection_hdl hdl) { HandleClose(hdl); });
    endpoint_.set_message_handler(
        [this](websocketpp::connection_hdl hdl, typename Endpoint::message_ptr message) {
          HandleMessage(hdl, message);
        });
    endpoint_.set_ping_handler([this](websocketpp::connection_hdl hdl, std::string payload) {
      return HandlePing(hdl, payload);
    });
    endpoint_.set_pong_handler(
        [this](websocketpp::connection_hdl hdl, std::string payload) { HandlePong(hdl, payload); });
    endpoint_.set_http_handler([this](websocketpp::connection_hdl hdl) { HandleHttp(hdl); });
    internal::DisableNagle(endpoint_);
  }

  void SetTls(std::shared_ptr<asio::ssl::context> context) {
    if constexpr (std::is_same_v<Config, internal::TlsServerConfig>) {
      endpoint_.set_tls_init_handler([context](websocketpp::connection_hdl) { return context; });
    }
  }

  void Listen(const HostPort& listen) {
    websocketpp::lib::error_code ec;
    endpoint_.listen(ResolveListen(listen), ec);
    if (!ec) {
      endpoint_.start_accept(ec);
    }
    if (ec) {
      throw std::runtime_error("cannot listen on " + FormatHostPort(listen) + ": " + ErrorText(ec));
    }
    asio::error_code local_ec;
    port_ = endpoint_.get_local_endpoint(local_ec).port();
  }

  uint16_t port() const override { return port_; }

  void Send(ConnectionId id, std::string data, bool binary) override {
    if (auto con = Find(id)) {
      const auto ec = con->send(
          data, binary ? websocketpp::frame::opcode::binary : websocketpp::frame::opcode::text);
      if (ec) {
        log::Debug(kComponent, "send dropped", {{"error", ErrorText(ec)}});
      }
    }
  }

  void Ping(ConnectionId id, const std::string& payload) override {
    if (auto con = Find(id)) {
      websocketpp::lib::error_code ec;
      con->ping(payload, ec);
    }
  }

  void Close(ConnectionId id, uint16_t code, const std::string& reason) override {
    // A connection already closing keeps its first close handshake.
    if (auto con = Find(id); con && con->get_state() == websocketpp::session::state::open) {
      websocketpp::lib::error_code ec;
      con->close(code, reason, ec);
      if (ec) {
        con->terminate(ec);
      }
    }
  }

  void Drop(ConnectionId id) override {
    if (auto con = Find(id)) {
      con->terminate(websocketpp::error::make_error_code(websocketpp::error::operation_canceled));
    }
  }

  void Shutdown(std::function<void()> idle) override {
    websocketpp::lib::error_code ec;
    endpoint_.stop_listening(ec);
    idle_ = std::move(idle);
    if (connections_.empty()) {
      idle_();
      return;
    }
    const auto open = connections_;  // closing may erase from the map
    for (const auto& [id, con] : open) {
      Close(id, websocketpp::close::status::going_away, "server shutdown");
    }
  }

  size_t connection_count() const override { return count_.load(); }

 private:
  ConnectionPtr Find(ConnectionId id) const {
    const auto found = connections_.find(id);
    return found == connections_.end() ? nullptr : found->second;
  }

  std::optional<ConnectionId> IdOf(websocketpp::connection_hdl hdl) const {
    const auto found = ids_.find(hdl);
    if (found == ids_.end()) {
      return std::nullopt;
    }
    return found->second;
  }

  void HandleOpen(websocketpp::connection_hdl hdl) {
    websocketpp::lib::error_code ec;
    auto con = endpoint_.get_con_from_hdl(hdl, ec);
    if (ec) {
      return;
    }
    const ConnectionId id = next_id_++;
    connections_[id] = con;
    ids_[hdl] = id;
    count_ = connections_.size();
    ConnectionInfo info;
    info.resource = con->get_resource();
    info.path = PathOf(info.resource);
    info.remote = con->get_remote_endpoint();
    const auto& handlers = owner_.handlers();
    if (owner_.handlers_enabled() && handlers.on_open) {
      Guarded(kComponent, "on_open", [&] { handlers.on_open(id, info); });
    }
  }

  void HandleClose(websocketpp::connection_hdl hdl) {
    const auto id = IdOf(hdl);
    if (!id) {
      return;
    }
    websocketpp::lib::error_code ec;
    auto con = endpoint_.get_con_from_hdl(hdl, ec);
    ConnectionClosed closed;
    if (con) {
      closed.code = con->get_remote_close_code();
      closed.reason = con->get_remote_close_reason();
      if (closed.reason.empty() && closed.code == websocketpp::close::status::abnormal_close) {
        closed.reason = ErrorText(con->get_ec());
      }
    }
    connections_.erase(*id);
    ids_.erase(hdl);
    count_ = connections_.size();
    const auto& handlers = owner_.handlers();
    if (owner_.handlers_enabled() && handlers.on_close) {
      Guarded(kComponent, "on_close", [&] { handlers.on_close(*id, closed); });
    }
    if (connections_.empty() && idle_) {
      auto idle = std::move(idle_);
      idle_ = nullptr;
      idle();
    }
  }

  void HandleMessage(websocketpp::connection_hdl hdl,
                     const typename Endpoint::message_ptr& message) {
    const auto id = IdOf(hdl);
    const auto& handlers = owner_.handlers();
    if (!id || !owner_.handlers_enabled()) {
      return;
    }
    if (message->get_opcode() == websocketpp::frame::opcode::text) {
      if (handlers.on_text) {
        Guarded(kComponent, "on_text",
                [&] { handlers.on_text(*id, std::move(message->get_raw_payload())); });
      }
    } else if (handlers.on_binary) {
      Guarded(kComponent, "on_binary",
              [&] { handlers.on_binary(*id, std::move(message->get_raw_payload())); });
    }
  }

  bool HandlePing(websocketpp::connection_hdl hdl, const std::string& payload) {
    const auto id = IdOf(hdl);
    const auto& handlers = owner_.handlers();
    bool answer = true;
    if (id && owner_.handlers_enabled() && handlers.on_ping) {
      Guarded(kComponent, "on_ping", [&] { answer = handlers.on_ping(*id, payload); });
    }
    return answer;
  }

  void HandlePong(websocketpp::connection_hdl hdl, const std::string& payload) {
    const auto id = IdOf(hdl);
    const auto& handlers = owner_.handlers();
    if (id && owner_.handlers_enabled() && handlers.on_pong) {
      Guarded(kComponent, "on_pong", [&] { handlers.on_pong(*id, payload); });
    }
  }

  void HandleHttp(websocketpp::connection_hdl hdl) {
    websocketpp::lib::error_code ec;
    auto con = endpoint_.get_con_from_hdl(hdl, ec);
    if (ec) {
      return;
    }
    HttpRequest request;
    const auto& raw = con->get_request();
    request.method = raw.get_method();
    request.resource = con->get_resource();
    request.path = PathOf(request.resource);
    const auto question = request.resource.find('?');
    if (question != std::string::npos) {
      request.query = request.resource.substr(question + 1);
    }
    for (const auto& [name, value] : raw.get_headers()) {
      request.headers[ToLower(name)] = value;
    }
    request.body = raw.get_body();
    request.remote = con->get_remote_endpoint();
    con->defer_http_response();

    const uint64_t http_id = next_http_id_++;
    pending_http_[http_id] = con;
    auto state = std::make_shared<HttpReply::State>();
    state->send = [poster = owner_.poster(), this, http_id](HttpResponse response) {
      poster->Post([this, http_id, response = std::move(response)] { Reply(http_id, response); });
    };
    HttpReply reply(std::move(state));
    const auto& handlers = owner_.handlers();
    if (owner_.handlers_enabled() && handlers.on_http) {
      Guarded(kComponent, "on_http", [&] { handlers.on_http(request, reply); });
    } else {
      reply(HttpResponse{404, "text/plain", "not found\n", {}});
    }
  }

  // Sends the deferred answer of request `http_id`.
  void Reply(uint64_t http_id, const HttpResponse& response) {
    const auto found = pending_http_.find(http_id);
    if (found == pending_http_.end()) {
      return;
    }
    const ConnectionPtr con = found->second;
    pending_http_.erase(found);
    // These setters throw (they have no error_code overloads) when the connection has left the
    // HTTP state meanwhile, e.g. because the client went away.
    try {
      con->set_status(static_cast<websocketpp::http::status_code::value>(response.status));
      con->replace_header("Content-Type", response.content_type);
      for (const auto& [name, value] : response.headers) {
        con->replace_header(name, value);
      }
      con->set_body(response.body);
    } catch (const websocketpp::exception& error) {
      log::Debug(kComponent, "HTTP reply dropped", {{"error", error.what()}});
      return;
    }
    websocketpp::lib::error_code ec;
    con->send_http_response(ec);
  }

  Server::Impl& owner_;
  Endpoint endpoint_;
  // Requests whose answer is pending; the connection lives here until it is sent.
  std::map<uint64_t, ConnectionPtr> pending_http_;
  uint64_t next_http_id_ = 1;
  std::map<ConnectionId, ConnectionPtr> connections_;
  std::map<websocketpp::connection_hdl, ConnectionId, std::owner_less<websocketpp::connection_hdl>>
      ids_;
  std::atomic<size_t> count_{0};
  ConnectionId next_id_ = 1;
  uint16_t port_ = 0;
  std::function<void()> idle_;
};

}  // namespace

template <class Config>
std::unique_ptr<EngineBase> Server::Impl::MakeEngine() {
  auto engine = std::make_unique<Engine<Config>>(*this);
  if (secure_) {
    engine->SetTls(LoadServerTls(options_));
  }
  engine->Listen(options_.listen);
  port_ = engine->port();
  return engine;
}

Server::Impl::Impl(ServerOptions options, ServerHandlers handlers)
    : options_(std::move(options)),
      handlers_(std::move(handlers)),
      work_(asio::make_work_guard(io_)),
      poster_(std::make_shared<Poster>(io_)) {
  secure_ = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
  if (secure_ && (options_.tls_cert_file.empty() || options_.tls_key_file.empty())) {
    throw std::runtime_error("TLS needs both a certificate file and a key file");
  }
  engine_ =
      secure_ ? MakeEngine<internal::TlsServerConfig>() : MakeEngine<internal::PlainServerConfig>();
  thread_ = std::thread([this] { internal::RunGuarded(kComponent, io_); });
}

Server::Impl::~Impl() {
  if (std::this_thread::get_id() == thread_.get_id()) {
    log::Error(kComponent, "Server destroyed from its own handler; aborting");
    std::abort();
  }
  handlers_enabled_ = false;
  auto idle = std::make_shared<std::promise<void>>();
  auto idle_future = idle->get_future();
  Post([this, idle] {
    timers_.clear();
    engine_->Shutdown([idle] { idle->set_value(); });
  });
  if (idle_future.wait_for(options_.close_timeout + std::chrono::seconds(1)) !=
      std::future_status::ready) {
    log::Warn(kComponent, "connections did not close in time; dropping them");
  }
  poster_->Disable();
  work_.reset();
  io_.stop();
  thread_.join();
  // Connections and pending handlers still queued go with the engine and the io_context.
  engine_.reset();
}

TimerId Server::Impl::After(Millis delay, std::function<void()> task) {
  const TimerId id = next_timer_++;
  Post([this, id, delay, task = std::move(task)]() mutable {
    auto timer = std::make_unique<asio::steady_timer>(io_, delay);
    timer->async_wait([this, id, task = std::move(task)](const asio::error_code& ec) {
      // Erased means cancelled, even when the wait had already completed.
      if (ec || timers_.erase(id) == 0 || !handlers_enabled_) {
        return;
      }
      Guarded(kComponent, "timer", task);
    });
    timers_[id] = std::move(timer);
  });
  return id;
}

Server::Server(ServerOptions options, ServerHandlers handlers)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handlers))) {}

Server::~Server() = default;

uint16_t Server::port() const {
  return impl_->port();
}

bool Server::secure() const {
  return impl_->secure();
}

void Server::Send(ConnectionId id, std::string text) {
  impl_->Send(id, std::move(text), false);
}

void Server::SendBinary(ConnectionId id, std::string data) {
  impl_->Send(id, std::move(data), true);
}

void Server::Ping(ConnectionId id, std::string payload) {
  impl_->Ping(id, std::move(payload));
}

void Server::Close(ConnectionId id, uint16_t code, std::string reason) {
  impl_->Close(id, code, std::move(reason));
}

void Server::Drop(ConnectionId id) {
  impl_->Drop(id);
}

void Server::Post(std::function<void()> task) {
  impl_->Post(std::move(task));
}

TimerId Server::After(Millis delay, std::function<void()> task) {
  return impl_->After(delay, std::move(task));
}

void Server::Cancel(TimerId timer) {
  impl_->Cancel(timer);
}

size_t Server::connection_count() const {
  return impl_->connection_count();
}

}  // namespace coapgw::ws
