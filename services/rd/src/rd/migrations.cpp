#include "rd/migrations.hpp"

#include <cstdint>
#include <string>

#include <pqxx/pqxx>

#include "coapgw/common/log.hpp"
#include "rd/pg_util.hpp"

namespace coapgw::rd {
namespace {

// pg_advisory_xact_lock key of the RD's migrations: the bytes of "coapgwRD".
constexpr int64_t kMigrationLock = 0x636f61706777'5244;

constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE rd_schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

// The version the database is at (0 when fresh), after checking that its history is a prefix of
// ours: versions 1..n, with our names.
Result<int> CurrentVersion(pqxx::work& txn, const std::vector<Migration>& migrations) {
  if (txn.exec("SELECT to_regclass('rd_schema_migrations') IS NULL")[0][0].as<bool>()) {
    txn.exec(kCreateMigrationsTable);
    return 0;
  }
  const pqxx::result rows = txn.exec("SELECT version, name FROM rd_schema_migrations ORDER BY 1");
  int current = 0;
  for (const auto& row : rows) {
    const auto version = row[0].as<int>();
    const auto name = row[1].as<std::string>();
    if (version > static_cast<int>(migrations.size())) {
      return MakeError(ErrorCode::kUnsupported,
                       "database schema version " + std::to_string(version) + " (" + name +
                           ") is newer than this rd knows (" + std::to_string(migrations.size()) +
                           "): run a newer rd, or restore a database of this version");
    }
    if (version != current + 1) {
      return MakeError(ErrorCode::kUnsupported, "rd_schema_migrations lacks version " +
                                                    std::to_string(current + 1) + " but holds " +
                                                    std::to_string(version));
    }
    if (name != migrations[version - 1].name) {
      return MakeError(ErrorCode::kUnsupported, "database migration " + std::to_string(version) +
                                                    " is '" + name + "' but this rd's is '" +
                                                    migrations[version - 1].name + "'");
    }
    current = version;
  }
  return current;
}

}  // namespace

Result<MigrationReport> ApplyMigrations(pqxx::connection_base& connection,
                                        const std::vector<Migration>& migrations) {
  for (size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i + 1)) {
      return MakeError(ErrorCode::kInternal, "migrations must be numbered 1, 2, 3, ...: entry " +
                                                 std::to_string(i + 1) + " is version " +
                                                 std::to_string(migrations[i].version));
    }
  }
  MigrationReport report;
  const Migration* running = nullptr;
  try {
    // One transaction per migration; the lock is taken again in each, and the history re-read,
    // because another RD may have applied the next one meanwhile.
    for (;;) {
      pqxx::work txn(connection);
      txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
      Result<int> current = CurrentVersion(txn, migrations);
      if (!current.ok()) {
        return current.error();
      }
      report.schema_version = *current;
      if (*current == static_cast<int>(migrations.size())) {
        txn.commit();
        return report;
      }
      running = &migrations[*current];
      txn.exec(running->sql);
      txn.exec_params("INSERT INTO rd_schema_migrations (version, name) VALUES ($1, $2)",
                      running->version, running->name);
      txn.commit();
      log::Info("rd-store", "schema migration applied",
                {{"version", std::to_string(running->version)}, {"name", running->name}});
      running = nullptr;
      ++report.applied;
    }
  } catch (const pqxx::broken_connection& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "database connection lost while migrating: " + OneLine(e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "database connection lost while committing a migration: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    // Migrations carry no user data, so the server's whole message is safe to show.
    const std::string what = running == nullptr ? std::string("reading the schema version")
                                                : "migration " + running->name;
    return MakeError(ErrorCode::kInternal, what + " failed: " + OneLine(e.what()));
  }
}

}  // namespace coapgw::rd
