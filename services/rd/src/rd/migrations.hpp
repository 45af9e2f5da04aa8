#pragma once

// The RD's versioned schema migrations. services/rd/migrations/NNNN_<name>.sql are embedded into
// the binary at build time (services/rd/cmake/embed_migrations.cmake) and applied at start by
// ApplyMigrations, which records each one in rd_schema_migrations(version, name, applied_at).

#include <string>
#include <vector>

#include "coapgw/common/result.hpp"

namespace pqxx {
class connection_base;
}  // namespace pqxx

namespace coapgw::rd {

/// One migration: version 1, 2, 3, ... (no gaps), its file name without ".sql", its SQL.
struct Migration {
  int version = 0;
  std::string name;
  std::string sql;
};

/// Every migration this binary knows, in version order (generated at build time).
const std::vector<Migration>& EmbeddedMigrations();

/// What ApplyMigrations found and did.
struct MigrationReport {
  int schema_version = 0;  // the database's version afterwards
  int applied = 0;         // how many migrations this call applied (0 when up to date)
};

/// Brings the database's RD schema up to the last of `migrations`: each pending migration runs
/// in its own transaction, in version order, holding a transaction-scoped advisory lock (so that
/// several RDs starting together apply each migration once), and is recorded in
/// rd_schema_migrations; applied ones are skipped. Errors: kUnsupported when the database holds a
/// newer schema than `migrations` (an older rd binary on a newer database) or an applied
/// migration's name differs from ours; kUnavailable when the connection fails; kInternal when a
/// migration fails (that migration is rolled back; earlier ones stay) or `migrations` is not
/// numbered 1, 2, 3, ...
Result<MigrationReport> ApplyMigrations(pqxx::connection_base& connection,
                                        const std::vector<Migration>& migrations);

}  // namespace coapgw::rd
