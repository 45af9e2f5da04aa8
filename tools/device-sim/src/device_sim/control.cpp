#include "device_sim/control.hpp"

#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace coapgw::device_sim {
namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void WriteDevice(JsonWriter& writer, const DeviceStatus& status) {
  writer.StartObject();
  writer.Key("index");
  writer.Uint64(status.index);
  writer.Key("ep");
  writer.String(status.ep);
  writer.Key("address");
  writer.String(status.address);
  writer.Key("online");
  writer.Bool(status.online);
  writer.Key("obs");
  writer.Bool(status.obs);
  writer.Key("registration");
  writer.String(status.registration);
  writer.Key("location");
  writer.String(status.location);
  writer.Key("registrations");
  writer.Uint64(status.registrations);
  writer.Key("boots");
  writer.Uint(status.boots);
  writer.Key("led");
  writer.String(status.led ? "on" : "off");
  writer.EndObject();
}

HttpReply Json(int status, std::string body) {
  return HttpReply{status, "application/json", std::move(body) + "\n"};
}

HttpReply Problem(int status, const std::string& message) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.StartObject();
  writer.Key("error");
  writer.String(message);
  writer.EndObject();
  return Json(status, buffer.GetString());
}

int HttpStatusOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kInvalidArgument:
      return 400;
    default:
      return 503;
  }
}

// "/devices/3/offline" -> {"devices", "3", "offline"}.
std::vector<std::string> Segments(const std::string& path) {
  std::vector<std::string> segments;
  size_t start = 1;
  while (start <= path.size()) {
    const size_t end = path.find('/', start);
    segments.push_back(path.substr(start, end == std::string::npos ? end : end - start));
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return segments;
}

}  // namespace

std::string DeviceJson(const DeviceStatus& status) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  WriteDevice(writer, status);
  return buffer.GetString();
}

std::optional<HttpReply> ControlApi::Handle(const std::string& method, const std::string& target) {
  const std::string path = target.substr(0, target.find('?'));
  const std::vector<std::string> segments = Segments(path);
  if (segments.empty() || segments[0] != "devices" || segments.size() > 3) {
    return std::nullopt;
  }
  if (segments.size() < 3) {
    if (method != "GET") {
      return Problem(405, "use GET on " + path + " (POST /devices/<id>/<action>)");
    }
    rapidjson::StringBuffer buffer;
    JsonWriter writer(buffer);
    if (segments.size() == 1 || segments[1].empty()) {
      writer.StartArray();
      for (const DeviceStatus& status : simulator_.Statuses()) {
        WriteDevice(writer, status);
      }
      writer.EndArray();
      return Json(200, buffer.GetString());
    }
    const auto index = simulator_.Find(segments[1]);
    if (!index) {
      return Problem(404, "no device '" + segments[1] + "'");
    }
    WriteDevice(writer, simulator_.StatusOf(*index));
    return Json(200, buffer.GetString());
  }

  if (method != "POST") {
    return Problem(405, "use POST on " + path);
  }
  const auto action = ParseAction(segments[2]);
  if (!action) {
    return Problem(
        400, "unknown action '" + segments[2] + "' (offline, online, move, register, deregister)");
  }
  if (segments[1] == "all") {
    size_t changed = 0;
    for (size_t i = 0; i < simulator_.size(); ++i) {
      changed += simulator_.Apply(i, *action).ok() ? 1 : 0;
    }
    return Json(200, "{\"devices\":" + std::to_string(simulator_.size()) +
                         ",\"changed\":" + std::to_string(changed) + "}");
  }
  const auto index = simulator_.Find(segments[1]);
  if (!index) {
    return Problem(404, "no device '" + segments[1] + "'");
  }
  auto status = simulator_.Apply(*index, *action);
  if (!status.ok()) {
    return Problem(HttpStatusOf(status.error().code), status.error().message);
  }
  return Json(200, DeviceJson(*status));
}

}  // namespace coapgw::device_sim
