#include "ws_connector/store.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <pqxx/pqxx>

#include "coapgw/common/log.hpp"

namespace coapgw::ws_connector {
namespace {

constexpr const char* kComponent = "wsc-store";
// pg_advisory_xact_lock key of the ws-connector's migrations: the bytes of "coapgwWS".
constexpr int64_t kMigrationLock = 0x636f61706777'5753;

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Append only: a released migration never changes; a new one gets the next version.
const Migration kMigrations[] = {
    {1, "0001_gateway_and_outbox",
     "CREATE TABLE wsc_gateway ("
     " id integer PRIMARY KEY CHECK (id = 1),"
     " gid text NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"
     "CREATE TABLE wsc_outbox ("
     " id bigserial PRIMARY KEY,"
     " handler text NOT NULL,"
     " payload text NOT NULL,"
     " created_at timestamptz NOT NULL DEFAULT now());"},
    {2, "0002_platform_devices",
     "CREATE TABLE wsc_platform_devices ("
     " device_id text PRIMARY KEY,"
     " put_at timestamptz NOT NULL DEFAULT now());"},
    {3, "0003_rd_directory",
     "CREATE TABLE wsc_rd_directory ("
     " id integer PRIMARY KEY CHECK (id = 1),"
     " directory text NOT NULL,"
     " updated_at timestamptz NOT NULL DEFAULT now());"},
};
constexpr int kLatest = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') {
      c = ' ';
    }
  }
  while (!text.empty() && text.back() == ' ') {
    text.pop_back();
  }
  return text;
}

void Migrate(pqxx::connection& connection) {
  for (;;) {
    pqxx::work txn(connection);
    txn.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
    txn.exec(
        "CREATE TABLE IF NOT EXISTS wsc_schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const int current =
        txn.exec("SELECT coalesce(max(version), 0) FROM wsc_schema_migrations")[0][0].as<int>();
    if (current > kLatest) {
      throw std::runtime_error("database schema of the ws-connector is version " +
                               std::to_string(current) + ", newer than this binary knows (" +
                               std::to_string(kLatest) + ")");
    }
    if (current == kLatest) {
      txn.commit();
      return;
    }
    const Migration& next = kMigrations[current];
    txn.exec(next.sql);
    txn.exec_params("INSERT INTO wsc_schema_migrations (version, name) VALUES ($1, $2)",
                    next.version, next.name);
    txn.commit();
    log::Info(kComponent, "schema migration applied",
              {{"version", std::to_string(next.version)}, {"name", next.name}});
  }
}

}  // namespace

struct Store::Connection {
  Connection(const std::string& url, bool synchronous_commit) : pq(url) {
    if (!synchronous_commit) {
      pq.set_variable("synchronous_commit", "off");
    }
  }
  pqxx::connection pq;
};

Store::Store(std::string url, bool synchronous_commit)
    : url_(std::move(url)), synchronous_commit_(synchronous_commit) {
  try {
    connection_ = std::make_unique<Connection>(url_, synchronous_commit_);
    Migrate(connection_->pq);
  } catch (const std::exception& e) {
    // libpq's messages do not quote passwords of a URI that parsed.
    throw std::runtime_error("database: " + OneLine(e.what()));
  }
}

Store::~Store() = default;

template <typename T, typename Txn, typename F>
Result<T> Store::Run(const char* what, F&& body) {
  try {
    if (!connection_ || !connection_->pq.is_open()) {
      connection_ = std::make_unique<Connection>(url_, synchronous_commit_);
    }
    Txn txn(connection_->pq);
    T value = body(txn);
    txn.commit();
    return value;
  } catch (const pqxx::broken_connection& e) {
    connection_.reset();
    return MakeError(ErrorCode::kUnavailable,
                     std::string(what) + ": database connection lost: " + OneLine(e.what()));
  } catch (const std::exception& e) {
    connection_.reset();
    return MakeError(ErrorCode::kInternal, std::string(what) + ": " + OneLine(e.what()));
  }
}

Result<std::optional<std::string>> Store::GatewayId() {
  return Run<std::optional<std::string>, pqxx::work>("read gateway id", [](pqxx::work& txn) {
    const pqxx::result rows = txn.exec("SELECT gid FROM wsc_gateway WHERE id = 1");
    return rows.empty() ? std::nullopt : std::optional<std::string>(rows[0][0].as<std::string>());
  });
}

Status Store::SetGatewayId(const std::string& gid) {
  auto done = Run<bool, pqxx::work>("store gateway id", [&](pqxx::work& txn) {
    txn.exec("SET LOCAL synchronous_commit = on");  // rare, and must survive any crash
    txn.exec_params(
        "INSERT INTO wsc_gateway (id, gid) VALUES (1, $1)"
        " ON CONFLICT (id) DO UPDATE SET gid = EXCLUDED.gid, updated_at = now()",
        gid);
    return true;
  });
  return done.ok() ? Status() : Status(done.error());
}

Result<std::set<std::string>> Store::PlatformDevices() {
  return Run<std::set<std::string>, pqxx::work>("read platform devices", [](pqxx::work& txn) {
    std::set<std::string> ids;
    for (const auto& row : txn.exec("SELECT device_id FROM wsc_platform_devices")) {
      ids.insert(row[0].as<std::string>());
    }
    return ids;
  });
}

Status Store::AddPlatformDevices(const std::vector<std::string>& ids) {
  if (ids.empty()) {
    return {};
  }
  auto done = Run<bool, pqxx::work>("store platform devices", [&](pqxx::work& txn) {
    // Must survive a crash of the database server too: a lost id is a deletion never sent.
    txn.exec("SET LOCAL synchronous_commit = on");
    constexpr size_t kRowsPerStatement = 10'000;  // PostgreSQL takes at most 65535 parameters
    for (size_t begin = 0; begin < ids.size(); begin += kRowsPerStatement) {
      const std::vector<std::string> chunk(
          ids.begin() + static_cast<std::ptrdiff_t>(begin),
          ids.begin() +
              static_cast<std::ptrdiff_t>(std::min(ids.size(), begin + kRowsPerStatement)));
      std::string sql = "INSERT INTO wsc_platform_devices (device_id) VALUES ";
      for (size_t i = 0; i < chunk.size(); ++i) {
        sql += (i == 0 ? "($" : ",($") + std::to_string(i + 1) + ")";
      }
      sql += " ON CONFLICT (device_id) DO NOTHING";
      txn.exec_params(sql, pqxx::prepare::make_dynamic_params(chunk));
    }
    return true;
  });
  return done.ok() ? Status() : Status(done.error());
}

Result<std::optional<std::string>> Store::RdDirectory() {
  return Run<std::optional<std::string>, pqxx::work>("read RD directory", [](pqxx::work& txn) {
    const pqxx::result rows = txn.exec("SELECT directory FROM wsc_rd_directory WHERE id = 1");
    return rows.empty() ? std::nullopt : std::optional<std::string>(rows[0][0].as<std::string>());
  });
}

Status Store::SetRdDirectory(const std::string& directory) {
  auto done = Run<bool, pqxx::work>("store RD directory", [&](pqxx::work& txn) {
    txn.exec("SET LOCAL synchronous_commit = on");
    txn.exec_params(
        "INSERT INTO wsc_rd_directory (id, directory) VALUES (1, $1)"
        " ON CONFLICT (id) DO UPDATE SET directory = EXCLUDED.directory, updated_at = now()",
        directory);
    return true;
  });
  return done.ok() ? Status() : Status(done.error());
}

Status Store::RemovePlatformDevice(const std::string& id) {
  auto done = Run<bool, pqxx::work>("forget platform device", [&](pqxx::work& txn) {
    txn.exec_params("DELETE FROM wsc_platform_devices WHERE device_id = $1", id);
    return true;
  });
  return done.ok() ? Status() : Status(done.error());
}

Result<Appended> Store::Append(const std::vector<std::pair<std::string, std::string>>& messages,
                               uint64_t pending, uint64_t limit) {
  return Run<Appended, pqxx::nontransaction>("outbox append", [&](pqxx::nontransaction& txn) {
    Appended appended;
    if (messages.empty()) {
      return appended;
    }
    // One multi-row INSERT: one round trip and one commit for the whole batch.
    std::string sql = "INSERT INTO wsc_outbox (handler, payload) VALUES ";
    std::vector<std::string> params;
    params.reserve(messages.size() * 2);
    for (const auto& [handler, payload] : messages) {
      const size_t n = params.size();
      sql += (n == 0 ? "($" : ",($") + std::to_string(n + 1) + ",$" + std::to_string(n + 2) + ")";
      params.push_back(handler);
      params.push_back(payload);
    }
    sql += " RETURNING id";
    const pqxx::result ids = txn.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
    for (const auto& row : ids) {
      appended.ids.push_back(row[0].as<int64_t>());
    }
    std::sort(appended.ids.begin(), appended.ids.end());
    // A separate statement (autocommit): a crash in between leaves the outbox one batch over
    // its limit until the next append, which is harmless.
    const uint64_t total = pending + messages.size();
    if (total > limit) {
      const pqxx::result gone = txn.exec_params(
          "DELETE FROM wsc_outbox WHERE id IN"
          " (SELECT id FROM wsc_outbox ORDER BY id LIMIT $1) RETURNING id",
          static_cast<int64_t>(total - limit));
      appended.dropped = gone.size();
    }
    return appended;
  });
}

Result<std::vector<OutboxEntry>> Store::Peek(int64_t after_id, size_t count) {
  return Run<std::vector<OutboxEntry>,
             pqxx::nontransaction>("outbox read", [&](pqxx::nontransaction& txn) {
    std::vector<OutboxEntry> entries;
    const pqxx::result rows = txn.exec_params(
        "SELECT id, handler, payload FROM wsc_outbox WHERE id > $1 ORDER BY id LIMIT $2", after_id,
        static_cast<int64_t>(count));
    entries.reserve(rows.size());
    for (const auto& row : rows) {
      entries.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return entries;
  });
}

Status Store::Remove(const std::vector<int64_t>& ids) {
  if (ids.empty()) {
    return {};
  }
  std::string array = "{";
  for (const int64_t id : ids) {
    array += (array.size() == 1 ? "" : ",") + std::to_string(id);
  }
  array += "}";
  auto done = Run<bool, pqxx::nontransaction>("outbox remove", [&](pqxx::nontransaction& txn) {
    txn.exec_params("DELETE FROM wsc_outbox WHERE id = ANY($1::bigint[])", array);
    return true;
  });
  return done.ok() ? Status() : Status(done.error());
}

Result<uint64_t> Store::DropOlderThan(std::chrono::seconds max_age) {
  return Run<uint64_t, pqxx::work>("outbox expiry", [&](pqxx::work& txn) {
    const pqxx::result gone = txn.exec_params(
        "DELETE FROM wsc_outbox WHERE created_at < now() - make_interval(secs => $1)"
        " RETURNING id",
        static_cast<double>(max_age.count()));
    return static_cast<uint64_t>(gone.size());
  });
}

Result<uint64_t> Store::Count() {
  return Run<uint64_t, pqxx::work>("outbox count", [](pqxx::work& txn) {
    return txn.exec("SELECT count(*) FROM wsc_outbox")[0][0].as<uint64_t>();
  });
}

}  // namespace coapgw::ws_connector
