#pragma once

// The RD's CoAP face (RFC 9176 §4-§6, draft-11 groups): binds the Directory and the Index to
// resources of a coap::Server. An adapter only: it turns requests into Directory calls and
// Replies into CoAP responses (codes, Location-Path, Max-Age, diagnostic payloads), answers
// lookups from the Index, and tells lookup observers when the directory changed.
//
// Resources (all listed in /.well-known/core, which filters by rt and answers multicast):
//   POST   /rd                 registration                       rt=core.rd
//   POST   /rd/<n>             registration update (no payload)
//   DELETE /rd/<n>             registration removal
//   GET    /rd/<n>             the registration's links
//   POST   /.well-known/rd     simple registration (the RD fetches the registrant's links)
//   GET    /rd-lookup/ep       endpoint lookup (observable)       rt=core.rd-lookup-ep
//   GET    /rd-lookup/res      resource lookup (observable)       rt=core.rd-lookup-res
//   GET    /rd-lookup/gp       group lookup (observable)          rt=core.rd-lookup-gp
//   POST   /rd-group           group registration (draft-11)      rt=core.rd-group
//   DELETE /rd-group/<n>       group removal
//   GET    /coapgw/devices     every device record and the expired device ids as JSON (the
//                              gateway's resync snapshot)

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "coapgw/coap/client.hpp"
#include "coapgw/coap/context.hpp"
#include "coapgw/coap/server.hpp"
#include "rd/directory.hpp"
#include "rd/index.hpp"

namespace coapgw::rd {

struct CoapInterfaceOptions {
  size_t max_payload_bytes = 64 * 1024;  // larger registration payloads get 4.13
  bool simple_registration = true;       // RFC 9176 §5.1 (may be disabled for security)
  bool answer_multicast = true;          // discovery over All-CoAP-Nodes
  Millis notify_interval{100};           // lookup observers are notified at most this often
  Millis simple_fetch_timeout{10000};    // GET of the registrant's /.well-known/core
};

/// Supplies the JSON snapshot's header: the publisher id and its per-topic sequence numbers, so
/// a consumer can tell which events the snapshot already contains.
using SnapshotHeader = std::function<std::string()>;

class CoapInterface {
 public:
  /// What the RD's coap::Server needs: registrants mostly talk to the RD once per lifetime, so
  /// libcoap's per-peer sessions are kept few and short (see ServerOptions::max_idle_sessions).
  static coap::ServerOptions ServerOptions();

  /// Adds the resources to `server`. Everything here runs on `context`'s loop thread.
  CoapInterface(coap::Context& context, coap::Server& server, coap::Client& client,
                Directory& directory, const Index& index, CoapInterfaceOptions options,
                SnapshotHeader snapshot_header);
  ~CoapInterface();
  CoapInterface(const CoapInterface&) = delete;
  CoapInterface& operator=(const CoapInterface&) = delete;

  /// Schedules a notification of every lookup observer (coalesced to notify_interval).
  void DirectoryChanged();

 private:
  void AddResources();
  void HandleRegistrationResource(const coap::Request& request, coap::Response& response);
  void HandleSimpleRegistration(const coap::Request& request, coap::Response& response);
  void HandleSnapshot(const coap::Request& request, coap::Response& response) const;

  coap::Context& context_;
  coap::Server& server_;
  coap::Client& client_;
  Directory& directory_;
  const Index& index_;
  CoapInterfaceOptions options_;
  SnapshotHeader snapshot_header_;
  bool notify_pending_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards scheduled timers
};

}  // namespace coapgw::rd
