#include "device_sim/device_model.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/coap/message.hpp"
#include "coapgw/linkformat/link_format.hpp"

namespace coapgw::device_sim {
namespace {

// splitmix64: a tiny, well-mixed generator; one state word per device.
uint64_t NextRandom(uint64_t& state) {
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31U);
}

// A step in [-max, -1] or [1, max]: never zero, so every tick shows a new value.
int Step(uint64_t& state, int max) {
  const uint64_t r = NextRandom(state);
  const int magnitude = 1 + static_cast<int>(r % static_cast<uint64_t>(max));
  return (r & (1ULL << 63U)) != 0 ? magnitude : -magnitude;
}

// Keeps a walk inside [low, high] by reflecting a step that would leave it.
int Walk(int value, int step, int low, int high) {
  const int next = value + step;
  return next < low || next > high ? value - step : next;
}

linkformat::Link MakeLink(std::string target,
                          const std::vector<std::pair<std::string, std::string>>& attributes,
                          bool obs = false) {
  linkformat::Link link;
  link.target = std::move(target);
  for (const auto& [name, value] : attributes) {
    link.attributes.push_back({name, value});
  }
  if (obs) {
    link.attributes.push_back({"obs", std::nullopt});
  }
  return link;
}

}  // namespace

DeviceModel::DeviceModel(size_t index, std::string ep, bool announce_obs, size_t large_size)
    : index_(index),
      ep_(std::move(ep)),
      announce_obs_(announce_obs),
      large_size_(large_size),
      rng_(0x5EED0000ULL + index),
      temperature_centi_(1800 + static_cast<int>(NextRandom(rng_) % 800)),
      humidity_deci_(350 + static_cast<int>(NextRandom(rng_) % 300)),
      label_(ep_) {}

void DeviceModel::Tick() {
  temperature_centi_ = Walk(temperature_centi_, Step(rng_, 25), 1000, 3500);
  humidity_deci_ = Walk(humidity_deci_, Step(rng_, 8), 100, 950);
  ++ticks_;
}

std::string DeviceModel::TemperatureText() const {
  char text[16];
  std::snprintf(text, sizeof text, "%d.%02d", temperature_centi_ / 100, temperature_centi_ % 100);
  return text;
}

std::string DeviceModel::HumiditySenml() const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  writer.StartObject();
  writer.Key("bn");
  writer.String(ep_ + "/");
  writer.Key("n");
  writer.String("hum");
  writer.Key("u");
  writer.String("%RH");
  writer.Key("v");
  writer.Double(humidity_deci_ / 10.0);
  writer.EndObject();
  writer.EndArray();
  return buffer.GetString();
}

std::string DeviceModel::InfoJson(uint16_t port, int64_t uptime_s, uint32_t boots,
                                  uint64_t requests) const {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("ep");
  writer.String(ep_);
  writer.Key("index");
  writer.Uint64(index_);
  writer.Key("model");
  writer.String("coapgw-device-sim");
  writer.Key("port");
  writer.Uint(port);
  writer.Key("uptime_s");
  writer.Int64(uptime_s);
  writer.Key("boots");
  writer.Uint(boots);
  writer.Key("requests");
  writer.Uint64(requests);
  writer.Key("led");
  writer.String(LedText());
  writer.EndObject();
  return buffer.GetString();
}

bool DeviceModel::SetLed(std::string_view text) {
  if (text == "on" || text == "1" || text == "true") {
    led_ = true;
    return true;
  }
  if (text == "off" || text == "0" || text == "false") {
    led_ = false;
    return true;
  }
  return false;
}

bool DeviceModel::SetLabel(std::string label) {
  if (label.size() > kMaxLabelBytes) {
    return false;
  }
  label_ = std::move(label);
  return true;
}

std::string DeviceModel::Firmware() const {
  return firmware_ ? *firmware_ : LargeBody(ep_, large_size_);
}

std::string DeviceModel::Links() const {
  namespace cf = coap::content_format;
  const auto ct = [](uint16_t format) {
    return std::make_pair(std::string("ct"), std::to_string(format));
  };
  const std::vector<linkformat::Link> links = {
      MakeLink(paths::kTemperature, {{"rt", "temperature-c"}, {"if", "core.s"}, ct(cf::kTextPlain)},
               announce_obs_),
      MakeLink(paths::kHumidity, {{"rt", "humidity"}, {"if", "core.s"}, ct(cf::kSenmlJson)},
               announce_obs_),
      MakeLink(paths::kInfo, {{"rt", "coapgw.info"}, {"if", "core.rp"}, ct(cf::kJson)}),
      MakeLink(paths::kLed, {{"rt", "light"}, {"if", "core.a"}, ct(cf::kTextPlain)}),
      MakeLink(paths::kLedToggle, {{"if", "core.a"}}),
      MakeLink(paths::kLabel, {{"if", "core.p"}, ct(cf::kTextPlain)}),
      MakeLink(paths::kEcho, {{"if", "core.a"}}),
      MakeLink(paths::kFirmware,
               {{"rt", "firmware"}, ct(cf::kOctetStream), {"sz", std::to_string(large_size_)}}),
  };
  return linkformat::Serialize(links);
}

std::string LargeBody(std::string_view ep, size_t size) {
  std::string body;
  body.reserve(size + 80);
  char line[96];
  for (size_t number = 0; body.size() < size; ++number) {
    const int length =
        std::snprintf(line, sizeof line, "%06zu coapgw-device-sim firmware of %.*s\n", number,
                      static_cast<int>(std::min<size_t>(ep.size(), 40)), ep.data());
    body.append(line, static_cast<size_t>(length));
  }
  body.resize(size);
  return body;
}

bool AnnouncesObs(size_t index, size_t percent) {
  return (index + 1) * percent / 100 > index * percent / 100;
}

std::string Fnv1aHex(std::string_view bytes) {
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (const char byte : bytes) {
    hash ^= static_cast<unsigned char>(byte);
    hash *= 0x100000001B3ULL;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

}  // namespace coapgw::device_sim
