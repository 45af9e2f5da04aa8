#pragma once

// A fresh PostgreSQL database per test, so that tests are isolated and may run in parallel.
// The server is the one scripts/test starts; COAPGW_TEST_DATABASE_URL names a database of it
// (role coapgw, which has CREATEDB) that serves as the maintenance database here.

#include <string>

namespace coapgw::rd::test {

/// The libpq URI `url` pointing at database `database` instead (URI or key/value form).
std::string WithDatabase(const std::string& url, const std::string& database);

/// CREATE DATABASE rd_test_<random> on construction, DROP DATABASE ... WITH (FORCE) on
/// destruction (connections to it are closed first).
class TestDatabase {
 public:
  /// Throws std::runtime_error when COAPGW_TEST_DATABASE_URL is unset (saying to run the tests
  /// via scripts/test) or the database cannot be created.
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;
  TestDatabase(TestDatabase&&) = delete;
  TestDatabase& operator=(TestDatabase&&) = delete;

  const std::string& name() const { return name_; }
  /// The URI of the test database.
  const std::string& url() const { return url_; }

  /// Runs `sql` on the test database on a connection of its own; returns the first field of the
  /// first row as text ("" when there is none or it is NULL).
  std::string Query(const std::string& sql) const;

  /// Runs `sql` outside any transaction on the maintenance database (e.g. ALTER DATABASE,
  /// pg_terminate_backend); returns the first field of the first row as text.
  std::string Admin(const std::string& sql) const;

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

}  // namespace coapgw::rd::test
