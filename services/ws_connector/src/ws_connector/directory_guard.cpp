#include "ws_connector/directory_guard.hpp"

#include <stdexcept>

#include "coapgw/common/log.hpp"

namespace coapgw::ws_connector {
namespace {
constexpr const char* kComponent = "ws-connector";
}  // namespace

DirectoryGuard::DirectoryGuard(Store& store, MetricsRegistry& metrics, bool accept_new)
    : store_(store),
      held_(metrics.AddGauge(
          "coapgw_wsc_deletions_held",
          "Platform device deletions held back because the RD runs on another "
          "database than the one last accepted (COAPGW_WS_ACCEPT_NEW_DIRECTORY).")),
      accept_new_(accept_new) {}

void DirectoryGuard::Load() {
  auto stored = store_.RdDirectory();
  if (!stored.ok()) {
    throw std::runtime_error(stored.error().message);
  }
  accepted_ = stored->value_or("");
}

bool DirectoryGuard::Allows(const std::string& directory) const {
  return directory.empty() || directory == accepted_;
}

bool DirectoryGuard::Check(const std::string& directory, size_t would_delete) {
  if (Allows(directory)) {
    held_.Set(0);
    return false;
  }
  if (!accepted_.empty() && would_delete != 0 && !accept_new_) {
    held_.Set(static_cast<int64_t>(would_delete));
    log::Error(kComponent,
               "the RD runs on another database; platform device deletions held back (check the "
               "RD's COAPGW_DATABASE_URL; if the new database is right, set "
               "COAPGW_WS_ACCEPT_NEW_DIRECTORY=true)",
               {{"rd_directory", directory},
                {"accepted_directory", accepted_},
                {"deletions_held", std::to_string(would_delete)}});
    return false;
  }
  if (accepted_.empty()) {
    log::Info(kComponent, "RD directory recorded", {{"rd_directory", directory}});
  } else {
    log::Warn(kComponent, "new RD directory accepted",
              {{"rd_directory", directory},
               {"previous_directory", accepted_},
               {"deletions", std::to_string(would_delete)}});
  }
  const Status stored = store_.SetRdDirectory(directory);
  if (!stored.ok()) {
    // Accepted for this run all the same: the next start asks again (and holds back, or not).
    log::Error(kComponent, "RD directory not persisted",
               {{"rd_directory", directory}, {"error", stored.error().message}});
  }
  accepted_ = directory;
  held_.Set(0);
  return true;
}

}  // namespace coapgw::ws_connector
