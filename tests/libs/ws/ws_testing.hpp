#pragma once

// Helpers for the WebSocket tests (libs/ws and tools/platform-sim): HTTP requests with any method
// and body, temporary directories, self-signed certificates made with the openssl CLI, and a
// thread-safe recorder of client events.

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coapgw/ws/client.hpp"

namespace coapgw::ws::test {

struct HttpResult {
  int status = 0;  // 0 when the request failed
  std::string head;
  std::string body;
};

/// One HTTP/1.1 request to 127.0.0.1:`port`; reads the response until Content-Length is complete
/// or the server closes (5 s receive timeout).
HttpResult Http(uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = "");

/// A fresh directory under /tmp, removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct CertFiles {
  std::string cert;  // PEM certificate, self-signed (its own CA)
  std::string key;   // PEM private key
};

/// A self-signed P-256 certificate for `subject_alt_names` ("IP:127.0.0.1,DNS:localhost") in
/// `dir`, files named <name>.pem and <name>.key. Throws std::runtime_error when openssl fails.
CertFiles MakeSelfSignedCert(const std::string& dir, const std::string& name,
                             const std::string& subject_alt_names);

/// Collects a Client's callbacks; every accessor is thread-safe.
class ClientEvents {
 public:
  ClientHandlers Handlers();
  int opens() const;
  std::vector<std::string> texts() const;
  std::vector<CloseEvent> closes() const;
  /// Waits for the n-th open / text / close (1-based); false on timeout.
  bool WaitOpens(size_t n, int timeout_ms = 5000) const;
  bool WaitTexts(size_t n, int timeout_ms = 5000) const;
  std::optional<CloseEvent> WaitClose(int timeout_ms = 5000) const;

 private:
  mutable std::mutex mutex_;
  int opens_ = 0;
  std::vector<std::string> texts_;
  std::vector<CloseEvent> closes_;
};

}  // namespace coapgw::ws::test
