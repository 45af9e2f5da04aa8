#include "coapgw/devices/device_mirror.hpp"

#include <set>
#include <utility>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/coap/uri.hpp"
#include "coapgw/common/log.hpp"
#include "coapgw/events/codec.hpp"

namespace coapgw::devices {
namespace {

std::string ToJson(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

DeviceMirror::DeviceMirror(coap::Context& context, coap::Client& client, DeviceListener& listener,
                           DeviceMirrorOptions options)
    : context_(context), client_(client), listener_(listener), options_(std::move(options)) {}

DeviceMirror::~DeviceMirror() {
  *alive_ = false;
}

void DeviceMirror::Start() {
  if (started_) {
    return;
  }
  started_ = true;
  Fetch();
}

void DeviceMirror::Resync(const std::string& why) {
  if (fetching_) {
    return;
  }
  log::Info("devices", "resynchronising from the RD", {{"why", why}});
  synced_ = false;
  ++stats_.resyncs;
  Fetch();
}

void DeviceMirror::Fetch() {
  auto uri = coap::ParseUri(options_.rd_uri);
  if (!uri.ok()) {
    log::Error("devices", "bad RD URI", {{"uri", options_.rd_uri}, {"error", uri.error().message}});
    return;
  }
  fetching_ = true;
  coap::ClientRequest request;
  request.method = coap::Method::kGet;
  request.endpoint = uri->endpoint;
  request.path = {"coapgw", "devices"};
  request.accept = coap::content_format::kJson;
  coap::RequestOptions request_options;
  request_options.timeout = options_.fetch_timeout;
  request_options.max_body_size = options_.max_snapshot_bytes;
  auto alive = alive_;
  client_.Send(std::move(request), request_options,
               [this, alive](coap::Outcome<coap::ClientResponse> outcome) {
                 if (!*alive) {
                   return;
                 }
                 if (outcome.ok() && outcome->code == coap::Code::kContent) {
                   ApplySnapshot(outcome->payload);
                   return;
                 }
                 ++stats_.failed_fetches;
                 const std::string cause = outcome.ok()
                                               ? "answered " + coap::FormatCode(outcome->code)
                                               : outcome.error().message;
                 log::Warn("devices", "cannot fetch the RD's devices; retrying",
                           {{"rd", options_.rd_uri}, {"cause", cause}});
                 context_.After(options_.retry_interval, [this, alive] {
                   if (*alive) {
                     Fetch();
                   }
                 });
               });
}

void DeviceMirror::ApplySnapshot(const std::string& body) {
  rapidjson::Document document;
  document.Parse(body.c_str(), body.size());
  const auto fail = [&](const std::string& why) {
    fetching_ = false;
    ++stats_.failed_fetches;
    log::Error("devices", "bad snapshot from the RD; retrying", {{"error", why}});
    auto alive = alive_;
    context_.After(options_.retry_interval, [this, alive] {
      if (*alive) {
        Fetch();
      }
    });
  };
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("devices") ||
      !document["devices"].IsArray() || !document.HasMember("publisher") ||
      !document["publisher"].IsString()) {
    fail("not a device snapshot");
    return;
  }
  std::set<std::string> expired;
  const auto expired_member = document.FindMember("expired");
  const bool knows_expired = expired_member != document.MemberEnd();
  if (knows_expired) {
    if (!expired_member->value.IsArray()) {
      fail("\"expired\" is not an array");
      return;
    }
    for (const auto& id : expired_member->value.GetArray()) {
      if (!id.IsString()) {
        fail("\"expired\" holds a non-string");
        return;
      }
      expired.emplace(id.GetString(), id.GetStringLength());
    }
  }
  std::string directory;
  if (const auto member = document.FindMember("directory"); member != document.MemberEnd()) {
    if (!member->value.IsString()) {
      fail("\"directory\" is not a string");
      return;
    }
    directory.assign(member->value.GetString(), member->value.GetStringLength());
  }
  std::map<std::string, events::Device> fresh;
  for (const auto& item : document["devices"].GetArray()) {
    auto decoded = events::DecodeDeviceRegistered(item);
    if (!decoded.ok()) {
      fail(decoded.error().message);
      return;
    }
    std::string id = decoded->device.device_id;
    fresh.emplace(std::move(id), std::move(decoded->device));
  }
  publisher_ = document["publisher"].GetString();
  directory_ = std::move(directory);
  last_seq_.clear();
  published_.clear();
  if (document.HasMember("seq") && document["seq"].IsObject()) {
    for (const auto& member : document["seq"].GetObject()) {
      if (member.value.IsUint64()) {
        last_seq_[member.name.GetString()] = member.value.GetUint64();
      }
    }
  }
  // Report the difference between what we had and the snapshot as events.
  std::vector<std::string> gone;
  for (const auto& [id, device] : devices_) {
    if (fresh.count(id) == 0) {
      gone.push_back(id);
    }
  }
  expired_ = std::move(expired);
  knows_expired_ = knows_expired;
  for (const auto& id : gone) {
    const GoneReason reason = !knows_expired_           ? GoneReason::kResync
                              : expired_.count(id) != 0 ? GoneReason::kExpired
                                                        : GoneReason::kRemoved;
    Erase(id, reason);
  }
  for (auto& [id, device] : fresh) {
    const auto it = devices_.find(id);
    if (it == devices_.end() || it->second != device) {
      Upsert(std::move(device), {});
    }
  }
  ++stats_.snapshots;
  fetching_ = false;
  synced_ = true;
  log::Info("devices", "synchronised with the RD",
            {{"devices", std::to_string(devices_.size())}, {"rd_publisher", publisher_}});
  listener_.OnSynced(devices_.size());
  ScheduleCheck();

  // Replay what arrived meanwhile; anything that reveals a loss starts another resync.
  std::deque<Held> held;
  held.swap(held_);
  while (!held.empty()) {
    Held next = std::move(held.front());
    held.pop_front();
    if (!synced_) {
      held_.push_back(std::move(next));
      continue;
    }
    if (next.publisher != publisher_) {
      ++stats_.skipped;  // an older RD's events: the snapshot is newer
      continue;
    }
    rapidjson::Document data;
    data.Parse(next.data.c_str(), next.data.size());
    Apply(next.topic, next.publisher, next.seq, data);
  }
}

void DeviceMirror::ScheduleCheck() {
  if (check_scheduled_ || options_.check_interval <= Millis(0)) {
    return;
  }
  check_scheduled_ = true;
  context_.After(options_.check_interval, [this, alive = alive_] {
    if (*alive) {
      check_scheduled_ = false;
      Check();
    }
  });
}

void DeviceMirror::Check() {
  auto uri = coap::ParseUri(options_.rd_uri);
  if (!synced_ || fetching_ || !uri.ok()) {
    ScheduleCheck();  // a fetch is under way or failing; it reschedules the check when it ends
    return;
  }
  coap::ClientRequest request;
  request.method = coap::Method::kGet;
  request.endpoint = uri->endpoint;
  request.path = {"coapgw", "devices"};
  request.query = {"device_id=-"};  // no device has that id: publisher and seq only
  request.accept = coap::content_format::kJson;
  coap::RequestOptions request_options;
  request_options.timeout = options_.fetch_timeout;
  client_.Send(std::move(request), request_options,
               [this, alive = alive_](coap::Outcome<coap::ClientResponse> outcome) {
                 if (!*alive) {
                   return;
                 }
                 if (outcome.ok() && outcome->code == coap::Code::kContent) {
                   OnCheck(outcome->payload);
                 }
                 ScheduleCheck();
               });
}

void DeviceMirror::OnCheck(const std::string& body) {
  if (!synced_ || fetching_) {
    return;
  }
  rapidjson::Document document;
  document.Parse(body.c_str(), body.size());
  if (document.HasParseError() || !document.IsObject() || !document.HasMember("publisher") ||
      !document["publisher"].IsString()) {
    return;
  }
  const std::string publisher = document["publisher"].GetString();
  if (publisher != publisher_) {
    Resync("the RD's publisher is " + publisher + " and none of its events arrived");
    return;
  }
  // An event the RD had published at the previous check has had a whole interval to arrive.
  for (const auto& [topic, seq] : published_) {
    const auto applied = last_seq_.find(topic);
    if (applied == last_seq_.end() || applied->second < seq) {
      Resync(topic + " up to seq " + std::to_string(seq) + " published but not received");
      return;
    }
  }
  published_.clear();
  if (document.HasMember("seq") && document["seq"].IsObject()) {
    for (const auto& member : document["seq"].GetObject()) {
      if (member.value.IsUint64()) {
        published_[member.name.GetString()] = member.value.GetUint64();
      }
    }
  }
}

void DeviceMirror::OnMessage(const bus::Message& message) {
  if (!synced_) {
    held_.push_back({message.topic, message.publisher, message.seq, ToJson(message.data())});
    return;
  }
  if (message.publisher != publisher_) {
    held_.push_back({message.topic, message.publisher, message.seq, ToJson(message.data())});
    Resync("events from another RD publisher (" + message.publisher + ")");
    return;
  }
  Apply(message.topic, message.publisher, message.seq, message.data());
}

void DeviceMirror::Apply(const std::string& topic, const std::string& publisher, uint64_t seq,
                         const rapidjson::Value& data) {
  uint64_t& last = last_seq_[topic];
  if (seq <= last) {
    ++stats_.skipped;  // already part of the snapshot
    return;
  }
  if (seq != last + 1) {
    held_.push_back({topic, publisher, seq, ToJson(data)});
    Resync(topic + " skipped from seq " + std::to_string(last) + " to " + std::to_string(seq));
    return;
  }
  last = seq;
  ++stats_.applied;
  if (topic == events::DeviceRegistered::kTopic) {
    auto decoded = events::DecodeDeviceRegistered(data);
    if (decoded.ok()) {
      Upsert(std::move(decoded->device), {});
      return;
    }
    log::Warn("devices", "bad event", {{"topic", topic}, {"error", decoded.error().message}});
  } else if (topic == events::DeviceUpdated::kTopic) {
    auto decoded = events::DecodeDeviceUpdated(data);
    if (decoded.ok()) {
      Upsert(std::move(decoded->device), decoded->changes);
      return;
    }
    log::Warn("devices", "bad event", {{"topic", topic}, {"error", decoded.error().message}});
  } else if (topic == events::DeviceStatusChanged::kTopic) {
    auto decoded = events::DecodeDeviceStatusChanged(data);
    if (decoded.ok()) {
      Upsert(std::move(decoded->device), {events::DeviceChange::kStatus});
      return;
    }
    log::Warn("devices", "bad event", {{"topic", topic}, {"error", decoded.error().message}});
  } else if (topic == events::DeviceRemoved::kTopic) {
    auto decoded = events::DecodeDeviceRemoved(data);
    if (decoded.ok()) {
      Erase(decoded->device.device_id, GoneReason::kRemoved);
      return;
    }
    log::Warn("devices", "bad event", {{"topic", topic}, {"error", decoded.error().message}});
  } else if (topic == events::DeviceExpired::kTopic) {
    auto decoded = events::DecodeDeviceExpired(data);
    if (decoded.ok()) {
      Erase(decoded->device.device_id, GoneReason::kExpired);
      return;
    }
    log::Warn("devices", "bad event", {{"topic", topic}, {"error", decoded.error().message}});
  } else {
    return;  // a newer RD's topic this build does not know: nothing to do
  }
  // A malformed event leaves this mirror unsure of the device: start over from the RD.
  Resync("undecodable " + topic);
}

void DeviceMirror::Upsert(events::Device device, const std::vector<events::DeviceChange>& changes) {
  expired_.erase(device.device_id);
  auto it = devices_.find(device.device_id);
  if (it == devices_.end()) {
    auto inserted = devices_.emplace(device.device_id, std::move(device)).first;
    listener_.OnDeviceUpsert(inserted->second, nullptr, changes);
    return;
  }
  const events::Device before = std::move(it->second);
  it->second = std::move(device);
  listener_.OnDeviceUpsert(it->second, &before, changes);
}

void DeviceMirror::Erase(const std::string& device_id, GoneReason reason) {
  auto it = devices_.find(device_id);
  if (it == devices_.end()) {
    return;
  }
  const events::Device gone = std::move(it->second);
  devices_.erase(it);
  if (reason == GoneReason::kExpired) {
    expired_.insert(device_id);
  }
  listener_.OnDeviceGone(gone, reason);
}

const events::Device* DeviceMirror::Find(const std::string& device_id) const {
  const auto it = devices_.find(device_id);
  return it == devices_.end() ? nullptr : &it->second;
}

}  // namespace coapgw::devices
