#pragma once

// Keeps the ws-connector from deleting every platform device when the RD runs on another
// database. The RD's snapshot carries its database's identity ("directory", libs/devices
// DeviceMirror::directory()). Device ids this connector put on the platform and the RD no longer
// knows are deleted there -- but only while the RD's directory is the one last accepted
// (wsc_rd_directory). A different one (a fresh database, a wrong COAPGW_DATABASE_URL, a backup of
// another installation) holds the deletions back: an error is logged and
// coapgw_wsc_deletions_held shows how many, until the operator sets
// COAPGW_WS_ACCEPT_NEW_DIRECTORY=true. The first directory seen, and a new one with nothing to
// delete, are accepted at once.

#include <cstddef>
#include <string>

#include "coapgw/common/metrics.hpp"
#include "ws_connector/store.hpp"

namespace coapgw::ws_connector {

class DirectoryGuard {
 public:
  /// Registers coapgw_wsc_deletions_held in `metrics`. `store` must outlive the guard.
  /// `accept_new`: COAPGW_WS_ACCEPT_NEW_DIRECTORY.
  DirectoryGuard(Store& store, MetricsRegistry& metrics, bool accept_new);

  /// Reads the accepted directory id. Throws std::runtime_error when the store cannot be read.
  void Load();

  /// True when deletions may follow the RD's `directory`: it is the accepted one, or empty (an
  /// RD that does not send it).
  bool Allows(const std::string& directory) const;

  /// Called after each snapshot and handshake with the RD's `directory` and how many device ids
  /// the RD ended (`would_delete`). Accepts a new directory when none was accepted before, when
  /// nothing would be deleted, or when accept_new is set (and stores it); otherwise logs the
  /// error and sets the gauge. Returns true when it accepted a new directory just now.
  bool Check(const std::string& directory, size_t would_delete);

 private:
  Store& store_;
  Gauge& held_;
  bool accept_new_ = false;
  std::string accepted_;
};

}  // namespace coapgw::ws_connector
