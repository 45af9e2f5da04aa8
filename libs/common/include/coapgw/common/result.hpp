#pragma once

// Result<T>: the value of an operation that can fail in an expected way (bad input, a missing
// record, an outage), carrying an Error instead of throwing. Exceptions are kept for start-up and
// broken invariants; a Result never crosses a C callback as an exception would.

#include <string>
#include <utility>
#include <variant>

namespace coapgw {

/// Canonical failure kinds; each adapter maps them to its protocol (CoAP code, platform status).
enum class ErrorCode {
  kInvalidArgument,   // the caller sent something malformed
  kNotFound,          // no such record
  kConflict,          // the request clashes with existing state
  kPermissionDenied,  // the caller may not do this
  kTooLarge,          // the request exceeds a configured limit
  kUnsupported,       // a format or feature we do not handle
  kUnavailable,       // a dependency is away; retrying later may work
  kTimeout,           // no answer within the deadline
  kInternal,          // a bug or an unexpected library failure
};

/// Lower-case name of a code, for logs and diagnostics ("invalid-argument").
const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation that yields nothing but may fail.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace coapgw
