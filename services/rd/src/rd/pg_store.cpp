#include "rd/pg_store.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <initializer_list>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/common/ids.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/linkformat/link_format.hpp"
#include "rd/migrations.hpp"
#include "rd/pg_util.hpp"

namespace coapgw::rd {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kComponent = "rd-store";

// Prepared statements of the writer's connection. Timestamps travel as microseconds since the
// Unix epoch (PostgreSQL's precision), so nothing depends on the session's time zone.
struct Statement {
  const char* name;
  const char* sql;
};

// Saves registrations, one row per element of the array parameters (one array per column, all of
// the same length; at most one element per (sector, ep)): finds or creates each pair's device,
// then inserts or replaces its registration. Returns (element number from 1, key, device_id).
// Several saves in one statement instead of one each is most of group commit's gain.
// rd_devices is only ever reached through its (sector, ep) index, one row at a time (the
// conflict check, the scalar subqueries for pairs that existed before the statement): a join
// would leave the choice to the planner, whose plan, cached while the table was small, scanned
// all of it for every batch. (A pair that exists still draws a value from the key's identity
// sequence: keys have gaps, and are never reused.)
constexpr Statement kSaveRegistrations{
    "rd_save_registrations",
    "WITH input AS ("
    "  SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[], $5::boolean[],"
    "    $6::text[], $7::bigint[], $8::jsonb[], $9::text[], $10::smallint[], $11::text[],"
    "    $12::boolean[], $13::bigint[], $14::bigint[], $15::bigint[])"
    "  WITH ORDINALITY AS i (sector, ep, new_device_id, base, base_explicit, et, lt_s, extra,"
    "    links, status, owner, simple, registered_us, updated_us, expires_us, n)"
    "), created AS ("
    "  INSERT INTO rd_devices (device_id, sector, ep)"
    "  SELECT new_device_id, sector, ep FROM input ORDER BY n"
    "  ON CONFLICT (sector, ep) DO NOTHING"
    "  RETURNING key, device_id, sector, ep"
    "), device AS ("
    "  SELECT i.n,"
    "    coalesce(c.key, (SELECT d.key FROM rd_devices d"
    "      WHERE d.sector = i.sector AND d.ep = i.ep)) AS key,"
    "    coalesce(c.device_id, (SELECT d.device_id FROM rd_devices d"
    "      WHERE d.sector = i.sector AND d.ep = i.ep)) AS device_id"
    "  FROM input i LEFT JOIN created c ON c.sector = i.sector AND c.ep = i.ep"
    "), saved AS ("
    "  INSERT INTO rd_registrations (key, base, base_explicit, et, lt_s, extra, links, status,"
    "    owner, simple, registered_at, updated_at, expires_at)"
    "  SELECT v.key, i.base, i.base_explicit, i.et, i.lt_s, i.extra, i.links, i.status, i.owner,"
    "    i.simple,"
    "    timestamptz 'epoch' + i.registered_us * interval '1 microsecond',"
    "    timestamptz 'epoch' + i.updated_us * interval '1 microsecond',"
    "    timestamptz 'epoch' + i.expires_us * interval '1 microsecond'"
    "  FROM input i JOIN device v ON v.n = i.n"
    "  ON CONFLICT (key) DO UPDATE SET base = EXCLUDED.base,"
    "    base_explicit = EXCLUDED.base_explicit, et = EXCLUDED.et, lt_s = EXCLUDED.lt_s,"
    "    extra = EXCLUDED.extra, links = EXCLUDED.links, status = EXCLUDED.status,"
    "    owner = EXCLUDED.owner, simple = EXCLUDED.simple,"
    "    registered_at = EXCLUDED.registered_at, updated_at = EXCLUDED.updated_at,"
    "    expires_at = EXCLUDED.expires_at"
    ")"
    "SELECT n, key, device_id::text FROM device ORDER BY n"};

constexpr Statement kSaveStatus{"rd_save_status",
                                "UPDATE rd_registrations SET status = $2::smallint"
                                " WHERE key = $1::bigint"};

constexpr Statement kRemoveRegistration{"rd_remove_registration",
                                        "DELETE FROM rd_registrations WHERE key = $1::bigint"};

// Cascades to the registration and the group memberships.
constexpr Statement kForgetDevice{"rd_forget_device",
                                  "DELETE FROM rd_devices WHERE key = $1::bigint"};

constexpr Statement kSaveGroup{
    "rd_save_group",
    "INSERT INTO rd_groups (name, sector, base, owner)"
    " VALUES ($1::text, $2::text, $3::text, $4::text)"
    " ON CONFLICT (sector, name) DO UPDATE SET base = EXCLUDED.base, owner = EXCLUDED.owner"
    " RETURNING key"};

constexpr Statement kClearGroupMembers{"rd_clear_group_members",
                                       "DELETE FROM rd_group_members WHERE group_key = $1::bigint"};

constexpr Statement kAddGroupMembers{
    "rd_add_group_members",
    "INSERT INTO rd_group_members (group_key, device_key, position)"
    " SELECT $1::bigint, member.key, member.position"
    " FROM unnest($2::bigint[]) WITH ORDINALITY AS member (key, position)"};

constexpr Statement kRemoveGroup{"rd_remove_group", "DELETE FROM rd_groups WHERE key = $1::bigint"};

constexpr Statement kWriterStatements[] = {kSaveRegistrations, kSaveStatus, kRemoveRegistration,
                                           kForgetDevice,      kSaveGroup,  kClearGroupMembers,
                                           kAddGroupMembers,   kRemoveGroup};

constexpr const char* kLoadRegistrations =
    "SELECT d.key, d.device_id::text, d.sector, d.ep, r.base, r.base_explicit, r.et, r.lt_s,"
    " r.extra::text, r.links, r.status, r.owner, r.simple,"
    " (extract(epoch FROM r.registered_at) * 1000000)::bigint,"
    " (extract(epoch FROM r.updated_at) * 1000000)::bigint,"
    " (extract(epoch FROM r.expires_at) * 1000000)::bigint"
    " FROM rd_registrations r JOIN rd_devices d ON d.key = r.key ORDER BY d.key";

constexpr const char* kLoadExpiredDeviceIds =
    "SELECT d.device_id::text FROM rd_devices d"
    " WHERE NOT EXISTS (SELECT 1 FROM rd_registrations r WHERE r.key = d.key) ORDER BY d.key";

constexpr const char* kLoadDirectoryId = "SELECT id::text FROM rd_directory";

constexpr const char* kLoadGroups =
    "SELECT key, name, sector, base, owner FROM rd_groups ORDER BY key";

constexpr const char* kLoadGroupMembers =
    "SELECT group_key, device_key FROM rd_group_members ORDER BY group_key, position";

int64_t ToMicros(TimePoint time) {
  return std::chrono::floor<std::chrono::microseconds>(time.time_since_epoch()).count();
}

TimePoint FromMicros(int64_t micros) {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(micros)));
}

// libpq passes parameters as C strings: a NUL byte would silently cut a value short.
Status CheckNoNul(const char* op, std::initializer_list<std::string_view> values) {
  for (const std::string_view value : values) {
    if (value.find('\0') != std::string_view::npos) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string(op) + ": a value contains a NUL byte, which cannot be stored");
    }
  }
  return Status::Ok();
}

// [["name", "value" | null], ...], keeping the order.
std::string ExtraToJson(const std::vector<linkformat::Attribute>& extra) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const linkformat::Attribute& attribute : extra) {
    writer.StartArray();
    writer.String(attribute.name.data(), static_cast<rapidjson::SizeType>(attribute.name.size()));
    if (attribute.value) {
      writer.String(attribute.value->data(),
                    static_cast<rapidjson::SizeType>(attribute.value->size()));
    } else {
      writer.Null();
    }
    writer.EndArray();
  }
  writer.EndArray();
  return {buffer.GetString(), buffer.GetSize()};
}

std::optional<std::vector<linkformat::Attribute>> ExtraFromJson(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  if (document.HasParseError() || !document.IsArray()) {
    return std::nullopt;
  }
  std::vector<linkformat::Attribute> extra;
  for (const rapidjson::Value& pair : document.GetArray()) {
    if (!pair.IsArray() || pair.Size() != 2 || !pair[0].IsString() ||
        !(pair[1].IsString() || pair[1].IsNull())) {
      return std::nullopt;
    }
    linkformat::Attribute attribute;
    attribute.name.assign(pair[0].GetString(), pair[0].GetStringLength());
    if (pair[1].IsString()) {
      attribute.value.emplace(pair[1].GetString(), pair[1].GetStringLength());
    }
    extra.push_back(std::move(attribute));
  }
  return extra;
}

// A PostgreSQL array literal built element by element: {"a","b\\"c"}. Every element is quoted,
// which the input syntax of every element type accepts.
class ArrayLiteral {
 public:
  void Add(std::string_view value) {
    text_.push_back(text_.empty() ? '{' : ',');
    text_.push_back('"');
    for (size_t special = value.find_first_of("\"\\"); special != std::string_view::npos;
         special = value.find_first_of("\"\\")) {
      text_.append(value.substr(0, special));
      text_.push_back('\\');
      text_.push_back(value[special]);
      value.remove_prefix(special + 1);
    }
    text_.append(value);
    text_.push_back('"');
  }
  void AddNumber(int64_t value) { Add(std::to_string(value)); }
  void AddBool(bool value) { Add(value ? "t" : "f"); }

  std::string Finish() {
    if (text_.empty()) {
      return "{}";
    }
    text_.push_back('}');
    return std::move(text_);
  }

 private:
  std::string text_;
};

std::string KeyArray(const std::vector<int64_t>& keys) {
  ArrayLiteral array;
  for (const int64_t key : keys) {
    array.AddNumber(key);
  }
  return array.Finish();
}

// The error of a statement the server refused. The server's message may quote parameter values
// (a registration's data), so only the SQLSTATE is kept.
Error SqlFailure(const char* op, const pqxx::sql_error& error) {
  const std::string& state = error.sqlstate();
  return MakeError(ErrorCodeForSqlState(state),
                   std::string(op) + ": the database refused the write (SQLSTATE " +
                       (state.empty() ? std::string("unknown") : state) + ")");
}

// A libpq/libpqxx exception's message for a log line or an error: one line, no password.
std::string Describe(const std::exception& e, std::string_view url) {
  return RedactPasswords(OneLine(e.what()), url);
}

Error Unavailable(std::string message) {
  return MakeError(ErrorCode::kUnavailable, std::move(message));
}

}  // namespace

class SaveRegistrationOp;

// One queued write. The constructor (on the caller's thread) prepares the parameters; Apply runs
// on the writer thread, possibly several times (each attempt starts from scratch), and Complete
// runs once, after the outcome is final.
class WriteOp {
 public:
  explicit WriteOp(const char* name) : name_(name) {}
  virtual ~WriteOp() = default;
  WriteOp(const WriteOp&) = delete;
  WriteOp& operator=(const WriteOp&) = delete;
  WriteOp(WriteOp&&) = delete;
  WriteOp& operator=(WriteOp&&) = delete;

  const char* name() const { return name_; }

  /// Applies the write in `txn`. Throws what libpqxx throws; returns an error that concerns this
  /// operation alone and wrote nothing (the transaction stays usable).
  virtual Status Apply(pqxx::work& txn) = 0;

  /// Hands the final outcome to the caller's callback.
  virtual void Complete(const Status& outcome) = 0;

  /// This operation as a registration save that may join a multi-row statement, or nullptr.
  virtual SaveRegistrationOp* AsBulkSave() { return nullptr; }

 private:
  const char* name_;
};

// The parameters of a registration save, in the order of the statements' parameters.
struct SaveRow {
  std::string sector;
  std::string ep;
  std::string new_device_id;  // used only if the pair is new
  std::string base;
  bool base_explicit = false;
  std::string et;
  int64_t lt_s = 0;
  std::string extra;
  std::string links;
  int status = 0;
  std::string owner;
  bool simple = false;
  int64_t registered_at = 0;
  int64_t updated_at = 0;
  int64_t expires_at = 0;
};

class SaveRegistrationOp final : public WriteOp {
 public:
  SaveRegistrationOp(const Registration& r, std::function<void(Result<DeviceKey>)> done)
      : WriteOp("save-registration"),
        row_{r.sector,
             r.ep,
             RandomUuid(),
             r.base,
             r.base_explicit,
             r.et,
             r.lt_s,
             ExtraToJson(r.extra),
             linkformat::Serialize(r.links),
             static_cast<int>(r.status),
             r.owner,
             r.simple,
             ToMicros(r.registered_at),
             ToMicros(r.updated_at),
             ToMicros(r.expires_at)},
        valid_(CheckNoNul(name(), {row_.sector, row_.ep, row_.base, row_.et, row_.extra, row_.links,
                                   row_.owner})),
        done_(std::move(done)) {}

  const SaveRow& row() const { return row_; }
  void Saved(DeviceKey saved) { saved_ = std::move(saved); }

  Status Apply(pqxx::work& txn) override;

  void Complete(const Status& outcome) override {
    if (outcome.ok()) {
      done_(saved_);
    } else {
      done_(outcome.error());
    }
  }

  SaveRegistrationOp* AsBulkSave() override { return valid_.ok() ? this : nullptr; }

 private:
  const SaveRow row_;
  const Status valid_;
  std::function<void(Result<DeviceKey>)> done_;
  DeviceKey saved_;
};

namespace {

// Saves `ops` (valid, at most one per (sector, ep)) with one statement and hands each its
// identity. Throws what libpqxx throws.
void SaveRegistrations(pqxx::work& txn, const std::vector<SaveRegistrationOp*>& ops) {
  constexpr size_t kColumns = 15;
  std::array<ArrayLiteral, kColumns> columns;
  for (const SaveRegistrationOp* op : ops) {
    const SaveRow& row = op->row();
    columns[0].Add(row.sector);
    columns[1].Add(row.ep);
    columns[2].Add(row.new_device_id);
    columns[3].Add(row.base);
    columns[4].AddBool(row.base_explicit);
    columns[5].Add(row.et);
    columns[6].AddNumber(row.lt_s);
    columns[7].Add(row.extra);
    columns[8].Add(row.links);
    columns[9].AddNumber(row.status);
    columns[10].Add(row.owner);
    columns[11].AddBool(row.simple);
    columns[12].AddNumber(row.registered_at);
    columns[13].AddNumber(row.updated_at);
    columns[14].AddNumber(row.expires_at);
  }
  const pqxx::result rows = txn.exec_prepared(
      kSaveRegistrations.name, columns[0].Finish(), columns[1].Finish(), columns[2].Finish(),
      columns[3].Finish(), columns[4].Finish(), columns[5].Finish(), columns[6].Finish(),
      columns[7].Finish(), columns[8].Finish(), columns[9].Finish(), columns[10].Finish(),
      columns[11].Finish(), columns[12].Finish(), columns[13].Finish(), columns[14].Finish());
  if (rows.size() != ops.size()) {
    throw std::logic_error("rd_save_registrations returned " + std::to_string(rows.size()) +
                           " rows for " + std::to_string(ops.size()));
  }
  for (const auto& row : rows) {
    const auto n = row[0].as<size_t>();
    if (n < 1 || n > ops.size() || row[1].is_null()) {
      throw std::logic_error("rd_save_registrations returned an unexpected row");
    }
    ops[n - 1]->Saved(DeviceKey{row[1].as<int64_t>(), row[2].as<std::string>()});
  }
}

}  // namespace

Status SaveRegistrationOp::Apply(pqxx::work& txn) {
  if (!valid_.ok()) {
    return valid_;
  }
  SaveRegistrations(txn, {this});
  return Status::Ok();
}

namespace {

// A write that reports only success or failure.
class StatusOp : public WriteOp {
 public:
  StatusOp(const char* name, Store::Done done) : WriteOp(name), done_(std::move(done)) {}
  void Complete(const Status& outcome) override { done_(outcome); }

 private:
  Store::Done done_;
};

class SaveStatusOp final : public StatusOp {
 public:
  SaveStatusOp(int64_t key, DeviceStatus status, Store::Done done)
      : StatusOp("save-status", std::move(done)), key_(key), status_(static_cast<int>(status)) {}

  Status Apply(pqxx::work& txn) override {
    if (txn.exec_prepared(kSaveStatus.name, key_, status_).affected_rows() == 0) {
      return MakeError(ErrorCode::kNotFound,
                       "save-status: no registration /rd/" + std::to_string(key_));
    }
    return Status::Ok();
  }

 private:
  const int64_t key_;
  const int status_;
};

// Deletes by key; deleting nothing is success.
class DeleteOp final : public StatusOp {
 public:
  DeleteOp(const char* name, const Statement& statement, int64_t key, Store::Done done)
      : StatusOp(name, std::move(done)), statement_(statement), key_(key) {}

  Status Apply(pqxx::work& txn) override {
    txn.exec_prepared(statement_.name, key_);
    return Status::Ok();
  }

 private:
  const Statement& statement_;
  const int64_t key_;
};

class SaveGroupOp final : public WriteOp {
 public:
  SaveGroupOp(const Group& group, std::function<void(Result<int64_t>)> done)
      : WriteOp("save-group"),
        name_(group.name),
        sector_(group.sector),
        base_(group.base),
        owner_(group.owner),
        members_(KeyArray(group.member_keys)),
        has_members_(!group.member_keys.empty()),
        valid_(CheckNoNul(this->name(), {name_, sector_, base_, owner_})),
        done_(std::move(done)) {}

  Status Apply(pqxx::work& txn) override {
    if (!valid_.ok()) {
      return valid_;
    }
    key_ = txn.exec_prepared1(kSaveGroup.name, name_, sector_, base_, owner_)[0].as<int64_t>();
    txn.exec_prepared(kClearGroupMembers.name, key_);
    if (has_members_) {
      txn.exec_prepared(kAddGroupMembers.name, key_, members_);
    }
    return Status::Ok();
  }

  void Complete(const Status& outcome) override {
    if (outcome.ok()) {
      done_(key_);
    } else {
      done_(outcome.error());
    }
  }

 private:
  const std::string name_;
  const std::string sector_;
  const std::string base_;
  const std::string owner_;
  const std::string members_;
  const bool has_members_;
  const Status valid_;
  std::function<void(Result<int64_t>)> done_;
  int64_t key_ = 0;
};

// How one transaction over some of a batch's operations ended.
struct Attempt {
  enum Kind {
    kCommitted,
    kOpFailed,        // a statement of ops[position] failed because of that operation
    kMultiRowFailed,  // a multi-row save failed because of one of its rows: which is unknown
    kCommitFailed,    // COMMIT failed for a reason of the data: which operation is unknown
    kBatchFailed,     // a problem of the session or server: the whole batch fails with `error`
    kConnectionLost,  // the whole batch fails with `error` (kUnavailable); reconnect
  };
  Kind kind = kCommitted;
  Error error;
  size_t position = 0;
};

}  // namespace

class PgStore::Writer {
 public:
  Writer(std::string url, PgStoreOptions options)
      : redacted_url_(RedactDatabaseUrl(url)),
        url_(WithConnectParameter(
            WithConnectParameter(std::move(url), "application_name", options.application_name),
            "connect_timeout", std::to_string(std::max(options.connect_timeout_s, 2)))),
        options_(std::move(options)),
        backoff_(options_.reconnect_min),
        next_attempt_(SteadyClock::now()),
        thread_([this] { Run(); }) {}

  ~Writer() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      drain_deadline_ = SteadyClock::now() + options_.drain_timeout;
    }
    wake_.notify_all();
    thread_.join();
    // Only a caller racing with destruction could have queued more; it still gets an answer.
    std::deque<std::unique_ptr<WriteOp>> left;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      left.swap(queue_);
    }
    for (auto& op : left) {
      Finish(*op, Unavailable("the RD store is shutting down"));
    }
  }

  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  Writer(Writer&&) = delete;
  Writer& operator=(Writer&&) = delete;

  void Submit(std::unique_ptr<WriteOp> op) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(op));
    }
    wake_.notify_one();
  }

  const std::string& url() const { return url_; }
  const std::string& redacted_url() const { return redacted_url_; }
  bool available() const { return available_.load(std::memory_order_acquire); }

  PgStoreStats stats() const {
    PgStoreStats stats;
    stats.batches = batches_.load(std::memory_order_relaxed);
    stats.ops = ops_.load(std::memory_order_relaxed);
    stats.failed_ops = failed_ops_.load(std::memory_order_relaxed);
    stats.split_batches = split_batches_.load(std::memory_order_relaxed);
    stats.disconnects = disconnects_.load(std::memory_order_relaxed);
    return stats;
  }

 private:
  using Batch = std::vector<std::unique_ptr<WriteOp>>;

  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (!connection_) {
        if (down_ && !queue_.empty()) {
          // Fail fast while the database is away: the client retries, nothing waits here.
          FailQueued(lock, Unavailable("the RD database is unavailable (" + last_error_ + ")"));
          continue;
        }
        if (stopping_ && (down_ || queue_.empty())) {
          return;
        }
        if (SteadyClock::now() < next_attempt_) {
          wake_.wait_until(lock, next_attempt_,
                           [this] { return stopping_ || (down_ && !queue_.empty()); });
          continue;
        }
        lock.unlock();
        Connect();
        lock.lock();
        continue;
      }
      if (queue_.empty()) {
        if (stopping_) {
          return;
        }
        const SteadyClock::time_point check_at = last_used_ + options_.idle_check;
        if (SteadyClock::now() >= check_at) {
          lock.unlock();
          Ping();
          lock.lock();
          continue;
        }
        wake_.wait_until(lock, check_at, [this] { return stopping_ || !queue_.empty(); });
        continue;
      }
      if (stopping_ && SteadyClock::now() >= drain_deadline_) {
        FailQueued(lock, Unavailable("the RD store is shutting down"));
        return;
      }
      Batch batch;
      const size_t count = std::min(queue_.size(), std::max<size_t>(options_.max_batch, 1));
      batch.reserve(count);
      for (size_t i = 0; i < count; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      RunBatch(batch);
      lock.lock();
    }
  }

  // Fails everything queued; `lock` is released while the callbacks run.
  void FailQueued(std::unique_lock<std::mutex>& lock, const Error& error) {
    std::deque<std::unique_ptr<WriteOp>> failed;
    failed.swap(queue_);
    lock.unlock();
    for (auto& op : failed) {
      Finish(*op, error);
    }
    lock.lock();
  }

  // Opens the writer's connection. `replacing_ended` says the server had ended the previous,
  // idle one (not an outage unless this attempt fails too).
  void Connect(bool replacing_ended = false) {
    try {
      auto connection = std::make_unique<pqxx::connection>(url_);
      connection->set_variable("statement_timeout",
                               std::to_string(options_.statement_timeout.count()));
      for (const Statement& statement : kWriterStatements) {
        connection->prepare(statement.name, statement.sql);
      }
      connection_ = std::move(connection);
    } catch (const std::exception& e) {
      available_.store(false, std::memory_order_release);
      last_error_ = Describe(e, url_);
      if (!down_) {
        down_ = true;
        disconnects_.fetch_add(1, std::memory_order_relaxed);
        log::Warn(kComponent, "database unavailable; writes fail until it is back",
                  {{"url", redacted_url_}, {"error", last_error_}});
      }
      next_attempt_ = SteadyClock::now() + backoff_;
      backoff_ = std::min(backoff_ * 2, options_.reconnect_max);
      return;
    }
    const char* what = down_             ? "database available again"
                       : replacing_ended ? "reconnected: the server had ended the idle session"
                                         : "connected to the database";
    log::Info(kComponent, what, {{"url", redacted_url_}});
    down_ = false;
    backoff_ = options_.reconnect_min;
    last_used_ = SteadyClock::now();
    available_.store(true, std::memory_order_release);
  }

  // The server writes to an idle session only to end it (an error message, then it closes the
  // socket: pg_terminate_backend, a restart). Noticing that before sending anything keeps a
  // batch from failing on a session that is already over, and avoids libpqxx 6.4 leaking the
  // error result of a statement sent on it. Replaces such a connection; false when no new one
  // could be made (the database is then down).
  bool ReplaceEndedIdleSession() {
    pollfd fd{connection_->sock(), POLLIN, 0};
    if (fd.fd >= 0 && ::poll(&fd, 1, 0) == 0) {
      return true;
    }
    connection_.reset();
    Connect(/*replacing_ended=*/true);
    return connection_ != nullptr;
  }

  // The connection broke: drop it and reconnect after the first backoff step.
  void Lost(const std::string& why) {
    connection_.reset();
    available_.store(false, std::memory_order_release);
    last_error_ = why;
    down_ = true;
    disconnects_.fetch_add(1, std::memory_order_relaxed);
    log::Warn(kComponent, "database connection lost; writes fail until it is back",
              {{"url", redacted_url_}, {"error", why}});
    backoff_ = options_.reconnect_min;
    next_attempt_ = SteadyClock::now() + backoff_;
  }

  // An idle connection is checked now and then, so that available() tells the truth even when
  // nothing is written.
  void Ping() {
    if (!ReplaceEndedIdleSession()) {
      return;
    }
    try {
      pqxx::nontransaction txn(*connection_);
      txn.exec("SELECT 1");
      last_used_ = SteadyClock::now();
    } catch (const std::exception& e) {
      Lost(Describe(e, url_));
    }
  }

  // Applies the batch (see the header for the failure rules), then completes every operation in
  // submission order.
  void RunBatch(Batch& batch) {
    if (connection_) {
      ReplaceEndedIdleSession();
    }
    std::vector<Status> outcome(batch.size());
    // Groups of operation indices still to apply, in order; each is tried as one transaction.
    struct Pending {
      std::vector<size_t> ops;
      bool multi_row = true;
    };
    std::deque<Pending> groups(1);
    for (size_t i = 0; i < batch.size(); ++i) {
      groups.front().ops.push_back(i);
    }
    std::optional<Error> fail_rest;
    while (!groups.empty()) {
      Pending group = std::move(groups.front());
      groups.pop_front();
      if (group.ops.empty()) {
        continue;
      }
      if (fail_rest || !connection_) {
        for (const size_t i : group.ops) {
          outcome[i] = fail_rest
                           ? *fail_rest
                           : Unavailable("the RD database is unavailable (" + last_error_ + ")");
        }
        continue;
      }
      const Attempt attempt = TryTransaction(batch, group.ops, group.multi_row, outcome);
      const auto split_at = group.ops.begin() + static_cast<std::ptrdiff_t>(attempt.position);
      switch (attempt.kind) {
        case Attempt::kCommitted:
          batches_.fetch_add(1, std::memory_order_relaxed);
          break;
        case Attempt::kOpFailed: {
          // The failing operation met exactly the state it would have met alone, so its outcome
          // is final; the operations before it are committed without it, then those after.
          split_batches_.fetch_add(1, std::memory_order_relaxed);
          const size_t failed = *split_at;
          outcome[failed] = attempt.error;
          log::Warn(kComponent, "write refused",
                    {{"op", batch[failed]->name()}, {"error", attempt.error.message}});
          groups.push_front(Pending{std::vector<size_t>(split_at + 1, group.ops.end())});
          groups.push_front(Pending{std::vector<size_t>(group.ops.begin(), split_at)});
          break;
        }
        case Attempt::kMultiRowFailed:
          // Again, one statement per operation from the failed statement on, to find the culprit.
          split_batches_.fetch_add(1, std::memory_order_relaxed);
          groups.push_front(Pending{std::vector<size_t>(split_at, group.ops.end()), false});
          groups.push_front(Pending{std::vector<size_t>(group.ops.begin(), split_at)});
          break;
        case Attempt::kCommitFailed:
          if (group.ops.size() == 1) {
            outcome[group.ops.front()] = attempt.error;
            log::Warn(kComponent, "write refused at commit",
                      {{"op", batch[group.ops.front()]->name()}, {"error", attempt.error.message}});
          } else {
            split_batches_.fetch_add(1, std::memory_order_relaxed);
            for (auto it = group.ops.rbegin(); it != group.ops.rend(); ++it) {
              groups.push_front(Pending{{*it}});
            }
          }
          break;
        case Attempt::kBatchFailed:
          log::Warn(kComponent, "batch failed",
                    {{"ops", std::to_string(batch.size())}, {"error", attempt.error.message}});
          fail_rest = attempt.error;
          groups.push_front(std::move(group));
          break;
        case Attempt::kConnectionLost:
          fail_rest = attempt.error;
          groups.push_front(std::move(group));
          break;
      }
    }
    last_used_ = SteadyClock::now();
    for (size_t i = 0; i < batch.size(); ++i) {
      Finish(*batch[i], outcome[i]);
    }
  }

  // One transaction over `group`. With `multi_row`, each run of consecutive registration saves
  // (distinct pairs) is one statement.
  Attempt TryTransaction(const Batch& batch, const std::vector<size_t>& group, bool multi_row,
                         std::vector<Status>& outcome) {
    Attempt attempt;
    bool committing = false;
    bool in_multi_row = false;
    try {
      pqxx::work txn(*connection_);
      while (attempt.position < group.size()) {
        const std::vector<SaveRegistrationOp*> saves = multi_row
                                                           ? SaveRun(batch, group, attempt.position)
                                                           : std::vector<SaveRegistrationOp*>{};
        if (saves.size() > 1) {
          in_multi_row = true;
          SaveRegistrations(txn, saves);
          in_multi_row = false;
          for (size_t k = 0; k < saves.size(); ++k) {
            outcome[group[attempt.position++]] = Status::Ok();
          }
          continue;
        }
        const size_t i = group[attempt.position];
        outcome[i] = batch[i]->Apply(txn);
        ++attempt.position;
      }
      committing = true;
      txn.commit();
      return attempt;
    } catch (const pqxx::broken_connection& e) {
      return ConnectionLost("database connection lost: " + Describe(e, url_));
    } catch (const pqxx::in_doubt_error& e) {
      return ConnectionLost(
          "database connection lost during COMMIT: the write may or may not have been applied");
    } catch (const pqxx::sql_error& e) {
      if (!connection_->is_open()) {
        // e.g. 57P01: the server terminated the session.
        return ConnectionLost("database connection lost: SQLSTATE " + e.sqlstate());
      }
      const size_t at = std::min(attempt.position, group.size() - 1);
      attempt.error = SqlFailure(batch[group[at]]->name(), e);
      if (!IsStatementSpecific(e.sqlstate())) {
        attempt.kind = Attempt::kBatchFailed;
      } else if (in_multi_row) {
        attempt.kind = Attempt::kMultiRowFailed;
      } else {
        attempt.kind = committing ? Attempt::kCommitFailed : Attempt::kOpFailed;
      }
      return attempt;
    } catch (const std::exception& e) {
      if (!connection_->is_open()) {
        return ConnectionLost("database connection lost: " + Describe(e, url_));
      }
      attempt.kind = Attempt::kBatchFailed;
      attempt.error = MakeError(ErrorCode::kInternal, "RD store: " + Describe(e, url_));
      return attempt;
    }
  }

  // The registration saves that can share one statement from group[position] on: consecutive,
  // valid, each (sector, ep) once.
  static std::vector<SaveRegistrationOp*> SaveRun(const Batch& batch,
                                                  const std::vector<size_t>& group,
                                                  size_t position) {
    std::vector<SaveRegistrationOp*> run;
    std::unordered_set<std::string> pairs;
    for (size_t p = position; p < group.size(); ++p) {
      SaveRegistrationOp* save = batch[group[p]]->AsBulkSave();
      // NUL cannot occur in a valid save's values, so it separates the two safely.
      if (save == nullptr || !pairs.insert(save->row().sector + '\0' + save->row().ep).second) {
        break;
      }
      run.push_back(save);
    }
    return run;
  }

  Attempt ConnectionLost(const std::string& why) {
    Lost(why);
    Attempt attempt;
    attempt.kind = Attempt::kConnectionLost;
    attempt.error = Unavailable(why);
    return attempt;
  }

  // Runs the operation's callback; a throwing callback must not stop the writer.
  void Finish(WriteOp& op, const Status& outcome) {
    ops_.fetch_add(1, std::memory_order_relaxed);
    if (!outcome.ok()) {
      failed_ops_.fetch_add(1, std::memory_order_relaxed);
    }
    try {
      op.Complete(outcome);
    } catch (const std::exception& e) {
      log::Error(kComponent, "a write's completion callback threw",
                 {{"op", op.name()}, {"error", e.what()}});
    }
  }

  const std::string redacted_url_;  // as configured, password masked
  const std::string url_;           // with our connection parameters; holds the password
  const PgStoreOptions options_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<WriteOp>> queue_;  // guarded by mutex_
  bool stopping_ = false;                       // guarded by mutex_
  SteadyClock::time_point drain_deadline_;      // guarded by mutex_

  // The writer thread's own.
  std::unique_ptr<pqxx::connection> connection_;
  bool down_ = false;  // the database went away (logged) and is not back yet
  std::string last_error_;
  std::chrono::milliseconds backoff_;
  SteadyClock::time_point next_attempt_;
  SteadyClock::time_point last_used_;

  std::atomic<bool> available_{false};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> ops_{0};
  std::atomic<uint64_t> failed_ops_{0};
  std::atomic<uint64_t> split_batches_{0};
  std::atomic<uint64_t> disconnects_{0};

  std::thread thread_;  // last: starts once everything above is initialised
};

PgStore::PgStore(std::string database_url, PgStoreOptions options)
    : writer_(std::make_unique<Writer>(std::move(database_url), std::move(options))) {}

PgStore::~PgStore() = default;

namespace {

// Opens a short-lived connection, turning a failure into kUnavailable.
Result<std::unique_ptr<pqxx::connection>> OpenConnection(const std::string& url,
                                                         const std::string& redacted_url) {
  try {
    return std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot connect to the RD database " + redacted_url + ": " + Describe(e, url));
  }
}

// A short-lived connection with the schema brought up to date.
Result<std::unique_ptr<pqxx::connection>> OpenMigrated(const std::string& url,
                                                       const std::string& redacted_url) {
  auto connection = OpenConnection(url, redacted_url);
  if (!connection.ok()) {
    return connection.error();
  }
  auto report = ApplyMigrations(**connection, EmbeddedMigrations());
  if (!report.ok()) {
    return report.error();
  }
  return connection;
}

Result<Registration> ReadRegistration(const pqxx::row& row) {
  Registration r;
  r.key = row[0].as<int64_t>();
  r.device_id = row[1].as<std::string>();
  r.sector = row[2].as<std::string>();
  r.ep = row[3].as<std::string>();
  r.base = row[4].as<std::string>();
  r.base_explicit = row[5].as<bool>();
  r.et = row[6].as<std::string>();
  r.lt_s = row[7].as<int64_t>();
  auto extra = ExtraFromJson(row[8].as<std::string>());
  if (!extra) {
    return MakeError(ErrorCode::kInternal, "stored registration " + r.Location() +
                                               ": extra is not [[name, value|null], ...]");
  }
  r.extra = std::move(*extra);
  // What was stored was accepted once; limits are for untrusted input.
  linkformat::ParseLimits unlimited;
  unlimited.max_bytes = std::numeric_limits<size_t>::max();
  unlimited.max_links = std::numeric_limits<size_t>::max();
  unlimited.max_attributes_per_link = std::numeric_limits<size_t>::max();
  unlimited.max_attributes = std::numeric_limits<size_t>::max();
  auto links = linkformat::Parse(row[9].as<std::string>(), unlimited);
  if (!links.ok()) {
    return MakeError(ErrorCode::kInternal, "stored registration " + r.Location() +
                                               ": links do not parse: " + links.error().message);
  }
  r.links = std::move(*links);
  const int status = row[10].as<int>();
  r.status = status == 0 ? DeviceStatus::kDisconnected : DeviceStatus::kConnected;
  r.owner = row[11].as<std::string>();
  r.simple = row[12].as<bool>();
  r.registered_at = FromMicros(row[13].as<int64_t>());
  r.updated_at = FromMicros(row[14].as<int64_t>());
  r.expires_at = FromMicros(row[15].as<int64_t>());
  return r;
}

}  // namespace

Status PgStore::Migrate() {
  auto connection = OpenMigrated(writer_->url(), writer_->redacted_url());
  return connection.ok() ? Status::Ok() : Status(connection.error());
}

Result<StoredState> PgStore::Load() {
  auto connection = OpenMigrated(writer_->url(), writer_->redacted_url());
  if (!connection.ok()) {
    return connection.error();
  }
  try {
    StoredState state;
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(**connection);
    for (const auto& row : txn.exec(kLoadRegistrations)) {
      Result<Registration> registration = ReadRegistration(row);
      if (!registration.ok()) {
        return registration.error();
      }
      state.registrations.push_back(std::move(*registration));
    }
    for (const auto& row : txn.exec(kLoadExpiredDeviceIds)) {
      state.expired_device_ids.push_back(row[0].as<std::string>());
    }
    for (const auto& row : txn.exec(kLoadDirectoryId)) {
      state.directory_id = row[0].as<std::string>();
    }
    std::map<int64_t, size_t> group_at;
    for (const auto& row : txn.exec(kLoadGroups)) {
      Group group;
      group.key = row[0].as<int64_t>();
      group.name = row[1].as<std::string>();
      group.sector = row[2].as<std::string>();
      group.base = row[3].as<std::string>();
      group.owner = row[4].as<std::string>();
      group_at[group.key] = state.groups.size();
      state.groups.push_back(std::move(group));
    }
    for (const auto& row : txn.exec(kLoadGroupMembers)) {
      state.groups[group_at.at(row[0].as<int64_t>())].member_keys.push_back(row[1].as<int64_t>());
    }
    txn.commit();
    return state;
  } catch (const pqxx::broken_connection& e) {
    return MakeError(ErrorCode::kUnavailable,
                     "RD database connection lost while loading: " + Describe(e, writer_->url()));
  } catch (const std::exception& e) {
    return MakeError(ErrorCode::kInternal,
                     "loading the RD state failed: " + Describe(e, writer_->url()));
  }
}

void PgStore::SaveRegistration(const Registration& registration,
                               std::function<void(Result<DeviceKey>)> done) {
  writer_->Submit(std::make_unique<SaveRegistrationOp>(registration, std::move(done)));
}

void PgStore::SaveStatus(int64_t key, DeviceStatus status, Done done) {
  writer_->Submit(std::make_unique<SaveStatusOp>(key, status, std::move(done)));
}

void PgStore::RemoveRegistration(int64_t key, bool forget_device, Done done) {
  writer_->Submit(std::make_unique<DeleteOp>(
      forget_device ? "forget-device" : "remove-registration",
      forget_device ? kForgetDevice : kRemoveRegistration, key, std::move(done)));
}

void PgStore::SaveGroup(const Group& group, std::function<void(Result<int64_t>)> done) {
  writer_->Submit(std::make_unique<SaveGroupOp>(group, std::move(done)));
}

void PgStore::RemoveGroup(int64_t key, Done done) {
  writer_->Submit(std::make_unique<DeleteOp>("remove-group", kRemoveGroup, key, std::move(done)));
}

bool PgStore::available() const {
  return writer_->available();
}

PgStoreStats PgStore::stats() const {
  return writer_->stats();
}

const std::string& PgStore::redacted_url() const {
  return writer_->redacted_url();
}

}  // namespace coapgw::rd

#if defined(__SANITIZE_ADDRESS__)
// libpqxx 6.4 leaks a statement's result when the connection dies while the statement runs
// (connection_base::make_result asks the dead connection for its encoding before it owns the
// PGresult). The leak is bounded (one result per lost connection), but LeakSanitizer would fail
// every sanitized binary using this store at exit after a database outage. Only allocations made
// inside libpq itself are exempted: libpqxx wraps every one of them.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libpq.so\n";
}
#endif
