#include "rd/directory.hpp"

#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/linkformat/resolve_links.hpp"
#include "coapgw/linkformat/uri.hpp"
#include "rd/device_record.hpp"

namespace coapgw::rd {
namespace {

constexpr size_t kMaxNameBytes = 63;  // RFC 9176 §5 for ep and d; draft-11 for gp
constexpr int64_t kMaxLifetime = 4294967295LL;

Reply Error(int code, std::string message) {
  Reply reply;
  reply.code = code;
  reply.payload = std::move(message);
  return reply;
}

// RFC 9176 §5: UTF-8, at most 63 bytes, no code point in 0-31 or 127-159.
std::optional<std::string> CheckName(std::string_view what, std::string_view name,
                                     bool allow_empty) {
  if (name.empty()) {
    return allow_empty ? std::nullopt : std::optional<std::string>(std::string(what) + " is empty");
  }
  if (name.size() > kMaxNameBytes) {
    return std::string(what) + " is longer than 63 bytes";
  }
  for (size_t i = 0; i < name.size();) {
    const auto byte = static_cast<unsigned char>(name[i]);
    size_t length = 1;
    uint32_t code_point = byte;
    if (byte >= 0x80) {
      if ((byte & 0xE0U) == 0xC0U) {
        length = 2;
        code_point = byte & 0x1FU;
      } else if ((byte & 0xF0U) == 0xE0U) {
        length = 3;
        code_point = byte & 0x0FU;
      } else if ((byte & 0xF8U) == 0xF0U) {
        length = 4;
        code_point = byte & 0x07U;
      } else {
        return std::string(what) + " is not valid UTF-8";
      }
      if (i + length > name.size()) {
        return std::string(what) + " is not valid UTF-8";
      }
      for (size_t k = 1; k < length; ++k) {
        const auto next = static_cast<unsigned char>(name[i + k]);
        if ((next & 0xC0U) != 0x80U) {
          return std::string(what) + " is not valid UTF-8";
        }
        code_point = (code_point << 6U) | (next & 0x3FU);
      }
    }
    if (code_point <= 31 || (code_point >= 127 && code_point <= 159)) {
      return std::string(what) + " contains a control character";
    }
    i += length;
  }
  return std::nullopt;
}

const QueryParam* FindParam(const std::vector<QueryParam>& query, std::string_view name) {
  for (const auto& param : query) {
    if (param.name == name) {
      return &param;
    }
  }
  return nullptr;
}

std::optional<int64_t> ParseLifetime(const std::string& text) {
  if (text.empty() || text.size() > 10) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') {
      return std::nullopt;
    }
    value = value * 10 + (ch - '0');
  }
  if (value < 1 || value > kMaxLifetime) {
    return std::nullopt;
  }
  return value;
}

// RFC 9176 §5: a base is "scheme://authority", without query, fragment or zone identifier.
std::optional<std::string> CheckBase(const std::string& base) {
  auto uri = linkformat::ParseUri(base);
  if (!uri.ok()) {
    return "base: " + uri.error().message;
  }
  if (!uri->authority || uri->host.empty()) {
    return "base has no host";
  }
  if (uri->query || uri->fragment) {
    return "base must not have a query or fragment";
  }
  if (!uri->zone_id.empty()) {
    return "base must not carry a zone identifier";
  }
  return std::nullopt;
}

bool IsRegistrationParam(std::string_view name) {
  return name == "ep" || name == "d" || name == "lt" || name == "base" || name == "et";
}

// Stores unknown parameters as endpoint attributes; a later value of the same name overrides
// (RFC 9176 §5.3.1), keeping the first one's position.
void MergeExtra(std::vector<linkformat::Attribute>& extra, const std::vector<QueryParam>& query) {
  for (const auto& param : query) {
    if (IsRegistrationParam(param.name)) {
      continue;
    }
    bool replaced = false;
    for (auto& attribute : extra) {
      if (attribute.name == param.name) {
        attribute.value = param.value;
        replaced = true;
        break;
      }
    }
    if (!replaced) {
      extra.push_back({param.name, param.value});
    }
  }
}

Result<std::vector<linkformat::Link>> ParseLinks(std::string_view payload, size_t max_links) {
  linkformat::ParseLimits limits;
  limits.max_links = max_links;
  auto links = linkformat::Parse(payload, limits);
  if (!links.ok()) {
    return links.error();
  }
  const Status limited = linkformat::CheckLimitedLinkFormat(*links);
  if (!limited.ok()) {
    return limited.error();
  }
  return links;
}

Reply LinkError(const coapgw::Error& error) {
  return Error(error.code == ErrorCode::kTooLarge ? 413 : 400, error.message);
}

}  // namespace

std::string Requester::ImplicitBase() const {
  const bool v6 = ip.find(':') != std::string::npos;
  std::string base = scheme + "://" + (v6 ? "[" + ip + "]" : ip);
  const uint16_t default_port = scheme == "coaps" ? 5684 : 5683;
  if (port != default_port) {
    base += ":" + std::to_string(port);
  }
  return base;
}

std::string Requester::Owner(bool include_port) const {
  if (discovery) {
    return kDiscoveryOwner;
  }
  if (!identity.empty()) {
    return "id:" + identity;
  }
  return "ip:" + ip + (include_port ? ":" + std::to_string(port) : "");
}

Directory::Directory(Index& index, Store& store, EventSink& events, Post post, Clock clock,
                     DirectoryOptions options)
    : index_(index),
      store_(store),
      events_(events),
      post_(std::move(post)),
      clock_(std::move(clock)),
      options_(std::move(options)) {}

void Directory::Load(StoredState state) {
  for (auto& registration : state.registrations) {
    ScheduleExpiry(registration);
    index_.Put(registration);
  }
  for (auto& group : state.groups) {
    index_.PutGroup(group);
  }
  expired_ids_.insert(state.expired_device_ids.begin(), state.expired_device_ids.end());
  directory_id_ = std::move(state.directory_id);
  log::Info("rd", "loaded",
            {{"directory", directory_id_},
             {"registrations", std::to_string(state.registrations.size())},
             {"groups", std::to_string(state.groups.size())},
             {"expired", std::to_string(state.expired_device_ids.size())}});
  ExpireDue(clock_());
  Changed();
}

bool Directory::MayModify(const Registration& registration, const Requester& requester) const {
  if (registration.owner == kDiscoveryOwner && !requester.discovery) {
    // Discovery only vouches for the address that answered: the device there may take over.
    auto base = coap::ParseUri(registration.base);
    return options_.policy == Policy::kOpen || (base.ok() && base->endpoint.host == requester.ip);
  }
  switch (options_.policy) {
    case Policy::kOpen:
      return true;
    case Policy::kFirstComeFirstRemembered:
      return registration.owner == requester.Owner(false);
    case Policy::kFirstComeFirstRememberedPort:
      return registration.owner == requester.Owner(true);
  }
  return false;
}

Reply Directory::Unavailable(const coapgw::Error& error) {
  ++stats_.unavailable;
  Reply reply = Error(503, "directory storage unavailable: " + error.message);
  reply.max_age = options_.unavailable_max_age_s;
  return reply;
}

void Directory::Changed() {
  if (on_change_) {
    on_change_();
  }
}

void Directory::Exclusive(const NameKey& name, std::function<void()> work) {
  auto [it, inserted] = busy_.try_emplace(name);
  if (inserted) {
    work();
  } else {
    it->second.push_back(std::move(work));
  }
}

void Directory::Release(const NameKey& name) {
  auto it = busy_.find(name);
  if (it == busy_.end()) {
    return;
  }
  if (it->second.empty()) {
    busy_.erase(it);
    return;
  }
  auto next = std::move(it->second.front());
  it->second.pop_front();
  next();
}

void Directory::ScheduleExpiry(const Registration& registration) {
  expiries_.emplace(registration.expires_at, registration.key);
}

void Directory::Register(const Requester& requester, const std::vector<QueryParam>& query,
                         std::string_view payload, bool simple, ReplyFn reply) {
  const QueryParam* ep = FindParam(query, "ep");
  const QueryParam* sector = FindParam(query, "d");
  std::string sector_name = sector && sector->value ? *sector->value : options_.default_sector;
  std::string ep_name;
  if (ep && ep->value) {
    ep_name = *ep->value;
  } else if (simple) {
    // Simple registration without ep=: the registrant is known by its address (re-registration).
    const std::string base = requester.ImplicitBase();
    for (const Registration* existing : index_.All()) {
      if (existing->simple && existing->base == base) {
        ep_name = existing->ep;
        sector_name = existing->sector;
        break;
      }
    }
  }
  if (ep_name.empty()) {
    ++stats_.rejected;
    reply(Error(400, "ep (endpoint name) is required"));
    return;
  }
  if (auto problem = CheckName("ep", ep_name, false)) {
    ++stats_.rejected;
    reply(Error(400, *problem));
    return;
  }
  if (auto problem = CheckName("d", sector_name, true)) {
    ++stats_.rejected;
    reply(Error(400, *problem));
    return;
  }
  int64_t lifetime = options_.default_lifetime_s;
  if (const QueryParam* lt = FindParam(query, "lt")) {
    const auto parsed = ParseLifetime(lt->value.value_or(""));
    if (!parsed) {
      ++stats_.rejected;
      reply(Error(400, "lt must be an integer from 1 to 4294967295"));
      return;
    }
    lifetime = std::max(*parsed, options_.min_lifetime_s);
  }
  std::string base;
  bool base_explicit = false;
  if (const QueryParam* base_param = FindParam(query, "base")) {
    if (simple) {
      ++stats_.rejected;
      reply(Error(400, "simple registration does not take base (RFC 9176 5.1)"));
      return;
    }
    base = base_param->value.value_or("");
    if (auto problem = CheckBase(base)) {
      ++stats_.rejected;
      reply(Error(400, *problem));
      return;
    }
    base_explicit = true;
  } else {
    base = requester.ImplicitBase();
  }
  auto links = ParseLinks(payload, options_.max_links);
  if (!links.ok()) {
    ++stats_.rejected;
    reply(LinkError(links.error()));
    return;
  }

  Registration registration;
  registration.ep = ep_name;
  registration.sector = sector_name;
  registration.base = base;
  registration.base_explicit = base_explicit;
  if (const QueryParam* et = FindParam(query, "et")) {
    registration.et = et->value.value_or("");
  }
  registration.lt_s = lifetime;
  MergeExtra(registration.extra, query);
  registration.links = std::move(*links);
  registration.owner = requester.Owner(options_.policy == Policy::kFirstComeFirstRememberedPort);
  registration.simple = simple;

  const NameKey name{registration.sector, registration.ep};
  Exclusive(name, [this, name, registration = std::move(registration), requester, simple,
                   reply = std::move(reply)]() mutable {
    const Registration* existing = index_.FindByName(name.first, name.second);
    std::optional<Registration> before;
    if (existing != nullptr) {
      if (!MayModify(*existing, requester)) {
        ++stats_.rejected;
        Release(name);
        reply(Error(403, "endpoint '" + name.second +
                             "' is registered by another client (first come first remembered)"));
        return;
      }
      before = *existing;
      registration.registered_at = existing->registered_at;
    }
    const TimePoint now = clock_();
    if (!before) {
      registration.registered_at = now;
    }
    registration.updated_at = now;
    registration.expires_at = now + std::chrono::seconds(registration.lt_s);
    registration.status = DeviceStatus::kConnected;
    Reply success;
    success.code = simple ? 204 : 201;
    ++stats_.registrations;
    Save(std::move(registration), std::move(before), std::move(success), std::move(reply));
  });
}

void Directory::Save(Registration registration, std::optional<Registration> before, Reply success,
                     ReplyFn reply) {
  const NameKey name{registration.sector, registration.ep};
  auto pending = std::make_shared<Registration>(std::move(registration));
  store_.SaveRegistration(
      *pending, [this, name, pending, before = std::move(before), success = std::move(success),
                 reply = std::move(reply)](Result<DeviceKey> saved) mutable {
        post_([this, name, pending, before = std::move(before), success = std::move(success),
               reply = std::move(reply), saved = std::move(saved)]() mutable {
          if (!saved.ok()) {
            Release(name);
            reply(Unavailable(saved.error()));
            return;
          }
          pending->key = saved->key;
          pending->device_id = saved->device_id;
          expired_ids_.erase(pending->device_id);
          index_.Put(std::move(*pending));
          const Registration& stored = *index_.Find(saved->key);
          ScheduleExpiry(stored);
          Announce(before ? &*before : nullptr, stored);
          if (success.code == 201) {
            success.location = stored.Location();
          }
          Release(name);
          reply(std::move(success));
          Changed();
        });
      });
}

const Registration* Directory::CurrentIfAllowed(int64_t key, const NameKey& name,
                                                const Requester& requester, const ReplyFn& reply) {
  // Looked up again: the registration may have changed or gone while the request waited its turn.
  const Registration* current = index_.Find(key);
  if (current != nullptr && current->expires_at <= clock_()) {
    // Its lifetime ended before the sweep noticed: it is expired now (RFC 9176 §5.3: the
    // endpoint registers again). The row's removal queues behind this request's turn.
    Expire(key);
    current = nullptr;
  }
  if (current == nullptr) {
    Release(name);
    reply(Error(404, "no registration at /rd/" + std::to_string(key)));
    return nullptr;
  }
  if (!MayModify(*current, requester)) {
    ++stats_.rejected;
    Release(name);
    reply(Error(403, "registration /rd/" + std::to_string(key) +
                         " belongs to another client (first come first remembered)"));
    return nullptr;
  }
  return current;
}

void Directory::Update(int64_t key, const Requester& requester,
                       const std::vector<QueryParam>& query, ReplyFn reply) {
  const Registration* found = index_.Find(key);
  if (found == nullptr) {
    reply(Error(404, "no registration at /rd/" + std::to_string(key)));
    return;
  }
  for (const char* fixed : {"ep", "d"}) {
    if (FindParam(query, fixed) != nullptr) {
      ++stats_.rejected;
      reply(Error(400, std::string(fixed) + " cannot change in an update (register anew)"));
      return;
    }
  }
  std::optional<int64_t> lifetime;
  if (const QueryParam* lt = FindParam(query, "lt")) {
    lifetime = ParseLifetime(lt->value.value_or(""));
    if (!lifetime) {
      ++stats_.rejected;
      reply(Error(400, "lt must be an integer from 1 to 4294967295"));
      return;
    }
  }
  std::optional<std::string> base;
  if (const QueryParam* base_param = FindParam(query, "base")) {
    base = base_param->value.value_or("");
    if (auto problem = CheckBase(*base)) {
      ++stats_.rejected;
      reply(Error(400, *problem));
      return;
    }
  }
  const NameKey name{found->sector, found->ep};
  Exclusive(name, [this, key, name, requester, query, lifetime, base,
                   reply = std::move(reply)]() mutable {
    const Registration* current = CurrentIfAllowed(key, name, requester, reply);
    if (current == nullptr) {
      return;
    }
    Registration updated = *current;
    if (lifetime) {
      updated.lt_s = std::max(*lifetime, options_.min_lifetime_s);
    }
    if (base) {
      updated.base = *base;
      updated.base_explicit = true;
    } else if (!updated.base_explicit) {
      updated.base = requester.ImplicitBase();  // RFC 9176 §5.3.1: the update's source
    }
    if (const QueryParam* et = FindParam(query, "et")) {
      updated.et = et->value.value_or("");
    }
    MergeExtra(updated.extra, query);
    const TimePoint now = clock_();
    updated.updated_at = now;
    updated.expires_at = now + std::chrono::seconds(updated.lt_s);
    updated.status = DeviceStatus::kConnected;
    Reply success;
    success.code = 204;
    ++stats_.updates;
    Save(std::move(updated), *current, std::move(success), std::move(reply));
  });
}

void Directory::Remove(int64_t key, const Requester& requester, ReplyFn reply) {
  const Registration* found = index_.Find(key);
  if (found == nullptr) {
    reply(Error(404, "no registration at /rd/" + std::to_string(key)));
    return;
  }
  const NameKey name{found->sector, found->ep};
  Exclusive(name, [this, key, name, requester, reply = std::move(reply)]() mutable {
    const Registration* current = CurrentIfAllowed(key, name, requester, reply);
    if (current == nullptr) {
      return;
    }
    auto before = std::make_shared<Registration>(*current);
    store_.RemoveRegistration(
        key, true, [this, name, before, reply = std::move(reply)](Status status) mutable {
          post_(
              [this, name, before, reply = std::move(reply), status = std::move(status)]() mutable {
                if (!status.ok()) {
                  Release(name);
                  reply(Unavailable(status.error()));
                  return;
                }
                index_.Remove(before->key);
                ++stats_.removals;
                events_.Publish(events::DeviceRemoved::kTopic,
                                events::Encode(events::DeviceRemoved{ToDevice(*before)}));
                log::Info("rd", "removed", {{"ep", before->ep}, {"location", before->Location()}});
                Release(name);
                Reply success;
                success.code = 202;
                reply(std::move(success));
                Changed();
              });
        });
  });
}

Reply Directory::Read(int64_t key, const Requester& requester) const {
  (void)requester;  // Reading is a lookup: anyone who may look up may read.
  const Registration* found = index_.Find(key);
  if (found == nullptr) {
    return Error(404, "no registration at /rd/" + std::to_string(key));
  }
  Reply reply;
  reply.code = 205;
  reply.payload = linkformat::Serialize(found->links);
  reply.link_format = true;
  return reply;
}

void Directory::Announce(const Registration* before, const Registration& after) {
  if (before == nullptr) {
    events_.Publish(events::DeviceRegistered::kTopic,
                    events::Encode(events::DeviceRegistered{ToDevice(after)}));
    if (log::Enabled(log::Level::kInfo)) {  // the fields cost copies, once per registration
      log::Info("rd", "registered",
                {{"ep", after.ep},
                 {"d", after.sector},
                 {"location", after.Location()},
                 {"base", after.base}});
    }
    return;
  }
  events::DeviceUpdated updated{ToDevice(after), ChangesBetween(*before, after)};
  events_.Publish(events::DeviceUpdated::kTopic, events::Encode(updated));
  log::Debug("rd", "updated", {{"ep", after.ep}, {"location", after.Location()}});
}

size_t Directory::ExpireDue(TimePoint now) {
  size_t expired = 0;
  std::vector<std::pair<TimePoint, int64_t>> postponed;
  while (!expiries_.empty() && expiries_.begin()->first <= now) {
    const auto entry = *expiries_.begin();
    expiries_.erase(expiries_.begin());
    const Registration* registration = index_.Find(entry.second);
    // Entries are not removed when a registration is refreshed; a stale one is skipped here.
    if (registration == nullptr || registration->expires_at != entry.first) {
      continue;
    }
    // A write for this name is in flight (a refresh, a re-registration, a removal, a status
    // change). Expiring now would queue the row's deletion behind that write and undo a refresh
    // that committed: its outcome decides, and a later sweep looks again.
    if (busy_.count(NameKey{registration->sector, registration->ep}) != 0) {
      postponed.push_back(entry);
      continue;
    }
    Expire(entry.second);
    ++expired;
  }
  expiries_.insert(postponed.begin(), postponed.end());
  return expired;
}

void Directory::Expire(int64_t key) {
  const Registration* registration = index_.Find(key);
  const NameKey name{registration->sector, registration->ep};
  // Expiry is announced and leaves lookups at once; the database row goes in the background. If
  // that write fails, the row keeps its past expires_at and the next start expires it again.
  auto gone = std::make_shared<Registration>(*registration);
  index_.Remove(key);
  expired_ids_.insert(gone->device_id);
  ++stats_.expiries;
  events_.Publish(events::DeviceExpired::kTopic,
                  events::Encode(events::DeviceExpired{ToDevice(*gone)}));
  log::Info("rd", "expired", {{"ep", gone->ep}, {"location", gone->Location()}});
  Changed();
  Exclusive(name, [this, name, gone] {
    store_.RemoveRegistration(gone->key, false, [this, name, gone](Status status) {
      post_([this, name, gone, status] {
        if (!status.ok()) {
          log::Warn("rd", "expiry not yet persisted; the next start repeats it",
                    {{"ep", gone->ep}, {"error", status.error().message}});
        }
        Release(name);
      });
    });
  });
}

std::optional<TimePoint> Directory::NextExpiry() const {
  if (expiries_.empty()) {
    return std::nullopt;
  }
  return expiries_.begin()->first;
}

void Directory::ApplyLiveness(const std::string& device_id, bool reachable) {
  const Registration* found = index_.FindByDeviceId(device_id);
  if (found == nullptr) {
    return;  // Expired or removed meanwhile: nothing to mark.
  }
  const DeviceStatus wanted = reachable ? DeviceStatus::kConnected : DeviceStatus::kDisconnected;
  if (found->status == wanted) {
    return;
  }
  const NameKey name{found->sector, found->ep};
  const int64_t key = found->key;
  Exclusive(name, [this, name, key, wanted] {
    const Registration* current = index_.Find(key);
    if (current == nullptr || current->status == wanted) {
      Release(name);
      return;
    }
    store_.SaveStatus(key, wanted, [this, name, key, wanted](Status status) {
      post_([this, name, key, wanted, status] {
        const Registration* now_current = index_.Find(key);
        if (!status.ok()) {
          log::Warn(
              "rd", "status change not persisted",
              {{"location", "/rd/" + std::to_string(key)}, {"error", status.error().message}});
        } else if (now_current != nullptr) {
          Registration changed = *now_current;
          changed.status = wanted;
          changed.updated_at = clock_();
          index_.Put(changed);
          events_.Publish(events::DeviceStatusChanged::kTopic,
                          events::Encode(events::DeviceStatusChanged{ToDevice(changed)}));
          log::Info("rd",
                    wanted == DeviceStatus::kConnected ? "device reachable" : "device unreachable",
                    {{"ep", changed.ep}, {"location", changed.Location()}});
          Changed();
        }
        Release(name);
      });
    });
  });
}

void Directory::RegisterGroup(const Requester& requester, const std::vector<QueryParam>& query,
                              std::string_view payload, ReplyFn reply) {
  const QueryParam* gp = FindParam(query, "gp");
  const QueryParam* sector = FindParam(query, "d");
  Group group;
  group.name = gp && gp->value ? *gp->value : "";
  group.sector = sector && sector->value ? *sector->value : options_.default_sector;
  if (auto problem = CheckName("gp", group.name, false)) {
    ++stats_.rejected;
    reply(Error(400, group.name.empty() ? "gp (group name) is required" : *problem));
    return;
  }
  if (auto problem = CheckName("d", group.sector, true)) {
    ++stats_.rejected;
    reply(Error(400, *problem));
    return;
  }
  if (const QueryParam* con = FindParam(query, "con")) {
    group.base = con->value.value_or("");
    if (auto problem = CheckBase(group.base)) {
      ++stats_.rejected;
      reply(Error(400, "con: " + *problem));
      return;
    }
  }
  auto links = linkformat::Parse(payload);
  if (!links.ok()) {
    ++stats_.rejected;
    reply(LinkError(links.error()));
    return;
  }
  // draft-11 §6.1: "<>;ep=..." names each member, which must be registered already.
  for (const auto& link : *links) {
    const auto ep = link.Find("ep");
    if (!ep) {
      ++stats_.rejected;
      reply(Error(400, "every group link needs ep=\"<endpoint name>\""));
      return;
    }
    const auto member_sector = link.Find("d");
    const Registration* member = index_.FindByName(
        member_sector ? std::string(*member_sector) : group.sector, std::string(*ep));
    if (member == nullptr) {
      ++stats_.rejected;
      reply(Error(404, "endpoint '" + std::string(*ep) + "' is not registered"));
      return;
    }
    group.member_keys.push_back(member->key);
  }
  group.owner = requester.Owner(options_.policy == Policy::kFirstComeFirstRememberedPort);
  if (const Group* existing = index_.FindGroupByName(group.sector, group.name)) {
    const bool may = options_.policy == Policy::kOpen || existing->owner == group.owner;
    if (!may) {
      ++stats_.rejected;
      reply(Error(403, "group '" + group.name + "' is registered by another client"));
      return;
    }
  }
  auto pending = std::make_shared<Group>(std::move(group));
  store_.SaveGroup(*pending, [this, pending, reply = std::move(reply)](Result<int64_t> saved) {
    post_([this, pending, reply, saved] {
      if (!saved.ok()) {
        reply(Unavailable(saved.error()));
        return;
      }
      pending->key = *saved;
      // Members may have been removed while the write was in flight.
      std::vector<int64_t> present;
      for (const int64_t key : pending->member_keys) {
        if (index_.Find(key) != nullptr) {
          present.push_back(key);
        }
      }
      pending->member_keys = std::move(present);
      index_.PutGroup(*pending);
      log::Info("rd", "group registered",
                {{"gp", pending->name},
                 {"location", pending->Location()},
                 {"members", std::to_string(pending->member_keys.size())}});
      Reply success;
      success.code = 201;
      success.location = pending->Location();
      reply(std::move(success));
      Changed();
    });
  });
}

void Directory::RemoveGroup(int64_t key, const Requester& requester, ReplyFn reply) {
  const Group* group = index_.FindGroup(key);
  if (group == nullptr) {
    reply(Error(404, "no group at /rd-group/" + std::to_string(key)));
    return;
  }
  if (options_.policy != Policy::kOpen &&
      group->owner != requester.Owner(options_.policy == Policy::kFirstComeFirstRememberedPort)) {
    ++stats_.rejected;
    reply(Error(403, "group /rd-group/" + std::to_string(key) + " belongs to another client"));
    return;
  }
  store_.RemoveGroup(key, [this, key, reply = std::move(reply)](Status status) {
    post_([this, key, reply, status] {
      if (!status.ok()) {
        reply(Unavailable(status.error()));
        return;
      }
      index_.RemoveGroup(key);
      Reply success;
      success.code = 202;
      reply(std::move(success));
      Changed();
    });
  });
}

}  // namespace coapgw::rd
