#pragma once

// What one simulated device is and shows, as plain values: its resources and their
// representations, its sensors' random walk, its link-format description. No I/O, no libcoap;
// the Simulator serves these over CoAP. Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coapgw::device_sim {

/// The resources every simulated device serves (paths, RFC 6690 attributes in Links()).
namespace paths {
inline constexpr const char* kTemperature = "/sensors/temp";        // observable, text/plain
inline constexpr const char* kHumidity = "/sensors/hum";            // observable, SenML JSON
inline constexpr const char* kInfo = "/info";                       // readable JSON, not observable
inline constexpr const char* kLed = "/actuators/led";               // GET, PUT "on" | "off"
inline constexpr const char* kLedToggle = "/actuators/led/toggle";  // POST
inline constexpr const char* kLabel = "/config/label";              // GET, PUT, DELETE (reset)
inline constexpr const char* kEcho = "/echo";                       // POST, PUT: payload echoed
inline constexpr const char* kFirmware = "/firmware";               // large: GET, PUT (block-wise)
}  // namespace paths

/// Longest /config/label a device accepts (bytes).
inline constexpr size_t kMaxLabelBytes = 64;

/// The state of one device. Sensors start from values derived from the index and move by a
/// small random step at every Tick (never by zero at the precision shown), so consecutive
/// representations always differ.
class DeviceModel {
 public:
  /// `ep` is the endpoint name; `announce_obs` whether its links carry "obs".
  DeviceModel(size_t index, std::string ep, bool announce_obs, size_t large_size);

  size_t index() const { return index_; }
  const std::string& ep() const { return ep_; }
  bool announce_obs() const { return announce_obs_; }

  /// Moves the sensors one step.
  void Tick();
  uint64_t ticks() const { return ticks_; }

  /// "21.37": the temperature in °C, two decimals (text/plain).
  std::string TemperatureText() const;
  /// [{"bn":"<ep>/","n":"hum","u":"%RH","v":45.3}] (application/senml+json).
  std::string HumiditySenml() const;
  /// {"ep":...,"index":...,"port":...,"uptime_s":...,"boots":...,"requests":...,"led":...}
  /// (application/json); `port` and `uptime_s` come from the caller, who knows them.
  std::string InfoJson(uint16_t port, int64_t uptime_s, uint32_t boots, uint64_t requests) const;

  bool led() const { return led_; }
  /// "on" / "off".
  std::string LedText() const { return led_ ? "on" : "off"; }
  /// Sets the LED from "on"/"off" (also "1"/"0", "true"/"false"); false for anything else.
  bool SetLed(std::string_view text);
  void ToggleLed() { led_ = !led_; }

  const std::string& label() const { return label_; }
  /// Replaces the label; false (unchanged) when longer than kMaxLabelBytes.
  bool SetLabel(std::string label);
  /// Back to the default label (the endpoint name).
  void ResetLabel() { label_ = ep_; }

  /// The large resource: what was last PUT, else a deterministic text of large_size bytes.
  std::string Firmware() const;
  void SetFirmware(std::string body) { firmware_ = std::move(body); }
  size_t large_size() const { return large_size_; }

  /// The device's /.well-known/core document (RFC 6690), relative targets, "obs" on the
  /// sensors when announce_obs().
  std::string Links() const;

 private:
  size_t index_;
  std::string ep_;
  bool announce_obs_;
  size_t large_size_;
  uint64_t rng_;
  uint64_t ticks_ = 0;
  int temperature_centi_;  // 1/100 °C
  int humidity_deci_;      // 1/10 %RH
  bool led_ = false;
  std::string label_;
  std::optional<std::string> firmware_;
};

/// A deterministic text of exactly `size` bytes naming `ep`, in numbered lines: the default
/// content of the large resource. The same (ep, size) always gives the same bytes.
std::string LargeBody(std::string_view ep, size_t size);

/// Whether device `index` announces "obs" when `percent` (0..100) of the fleet should: spread
/// evenly, so that any run of consecutive devices has about that share.
bool AnnouncesObs(size_t index, size_t percent);

/// 64-bit FNV-1a of `bytes`, in 16 hex digits: how a PUT of the large resource is acknowledged.
std::string Fnv1aHex(std::string_view bytes);

}  // namespace coapgw::device_sim
