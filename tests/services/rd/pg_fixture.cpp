#include "pg_fixture.hpp"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <pqxx/pqxx>

#include "coapgw/common/ids.hpp"

namespace coapgw::rd::test {
namespace {

std::string FirstField(const pqxx::result& result) {
  if (result.empty() || result.columns() == 0 || result[0][0].is_null()) {
    return "";
  }
  return result[0][0].as<std::string>();
}

}  // namespace

std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) {
    return url + " dbname=" + database;  // key/value form: the last setting wins
  }
  const size_t path = url.find_first_of("/?", scheme_end + 3);
  if (path == std::string::npos) {
    return url + "/" + database;
  }
  const size_t query = url.find('?', path);
  const std::string rest = query == std::string::npos ? "" : url.substr(query);
  return url.substr(0, path) + "/" + database + rest;
}

TestDatabase::TestDatabase() {
  const char* url = std::getenv("COAPGW_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "COAPGW_TEST_DATABASE_URL is not set: run the integration tests via scripts/test, which "
        "starts a PostgreSQL and sets it (or start one with scripts/pg and export the URL)");
  }
  admin_url_ = url;
  std::string suffix = RandomUuid();
  std::replace(suffix.begin(), suffix.end(), '-', '_');
  name_ = "rd_test_" + suffix;
  url_ = WithDatabase(admin_url_, name_);
  Admin("CREATE DATABASE " + name_);
}

TestDatabase::~TestDatabase() {
  try {
    Admin("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // A test database left behind lives in the throwaway cluster; never fail a destructor.
  }
}

std::string TestDatabase::Query(const std::string& sql) const {
  pqxx::connection connection(url_);
  pqxx::work txn(connection);
  std::string value = FirstField(txn.exec(sql));
  txn.commit();
  return value;
}

std::string TestDatabase::Admin(const std::string& sql) const {
  pqxx::connection connection(admin_url_);
  pqxx::nontransaction txn(connection);
  return FirstField(txn.exec(sql));
}

}  // namespace coapgw::rd::test
