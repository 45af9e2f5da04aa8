#pragma once

// Small helpers shared by the RD's PostgreSQL code: connection strings (with and without the
// password) and the translation of SQLSTATEs into error codes. No libpqxx here.

#include <string>
#include <string_view>

#include "coapgw/common/result.hpp"

namespace coapgw::rd {

/// `url` (a libpq URI "postgresql://user:secret@host/db?password=..." or a key/value string
/// "host=... password=secret") with every password replaced by "***", for logs and errors.
std::string RedactDatabaseUrl(std::string_view url);

/// `text` (e.g. a libpq error message, which may quote a malformed part of the connection
/// string) with every password of `url`, as written there, replaced by "***".
std::string RedactPasswords(std::string text, std::string_view url);

/// `url` with the connection parameter key=value added, unless `url` already sets `key` (the
/// operator's choice wins). `value` must need no quoting or percent-encoding.
std::string WithConnectParameter(std::string url, std::string_view key, std::string_view value);

/// The error code a failed statement's SQLSTATE stands for: integrity violations (class 23) are
/// kConflict (unique) or kNotFound (foreign key) or kInvalidArgument, data exceptions (22) are
/// kInvalidArgument, a cancelled statement (57014, statement_timeout) is kTimeout, resource and
/// operator problems (53, 57, 58) are kUnavailable, anything else kInternal.
ErrorCode ErrorCodeForSqlState(std::string_view sqlstate);

/// True when a statement failing with `sqlstate` says something about that statement's own
/// input or the state it met (the same statement would fail again), so the other statements of
/// its batch may still be applied; false for problems of the session or the server (timeouts,
/// resources, serialization failures, connection exceptions), where the batch fails as a whole.
bool IsStatementSpecific(std::string_view sqlstate);

/// The libpq/libpqxx message `text` on one line (newlines and runs of blanks folded to one
/// space, trimmed), for a log field.
std::string OneLine(std::string_view text);

}  // namespace coapgw::rd
