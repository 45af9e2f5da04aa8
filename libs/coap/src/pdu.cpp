#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "internal.hpp"

namespace coapgw::coap::detail {

Address ToAddress(const coap_address_t& address) {
  Address out;
  char text[INET6_ADDRSTRLEN] = {};
  if (address.addr.sa.sa_family == AF_INET6) {
    const in6_addr& ip = address.addr.sin6.sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&ip)) {
      // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; show them as IPv4.
      in_addr v4{};
      std::memcpy(&v4, &ip.s6_addr[12], sizeof v4);
      inet_ntop(AF_INET, &v4, text, sizeof text);
      out.family = Family::kIpv4;
    } else {
      inet_ntop(AF_INET6, &ip, text, sizeof text);
      out.family = Family::kIpv6;
    }
    out.port = ntohs(address.addr.sin6.sin6_port);
  } else if (address.addr.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &address.addr.sin.sin_addr, text, sizeof text);
    out.family = Family::kIpv4;
    out.port = ntohs(address.addr.sin.sin_port);
  }
  out.ip = text;
  return out;
}

Result<coap_address_t> ResolveAddress(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int status = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (status != 0 || found == nullptr) {
    return MakeError(ErrorCode::kUnavailable,
                     "cannot resolve '" + host + "': " + gai_strerror(status));
  }
  coap_address_t address;
  coap_address_init(&address);
  std::memcpy(&address.addr, found->ai_addr, found->ai_addrlen);
  address.size = found->ai_addrlen;
  freeaddrinfo(found);
  return address;
}

std::string TokenOf(const coap_pdu_t* pdu) {
  const coap_bin_const_t token = coap_pdu_get_token(pdu);
  return std::string(reinterpret_cast<const char*>(token.s), token.length);
}

std::vector<Option> ReadOptions(const coap_pdu_t* pdu) {
  std::vector<Option> options;
  options.reserve(8);  // a typical request's options, without growing
  coap_opt_iterator_t iterator;
  coap_option_iterator_init(pdu, &iterator, COAP_OPT_ALL);
  while (coap_opt_t* opt = coap_option_next(&iterator)) {
    options.push_back(Option{
        iterator.number,
        std::string(reinterpret_cast<const char*>(coap_opt_value(opt)), coap_opt_length(opt))});
  }
  return options;
}

std::string ReadBody(const coap_pdu_t* pdu) {
  size_t length = 0;
  size_t offset = 0;
  size_t total = 0;
  const uint8_t* data = nullptr;
  if (coap_get_data_large(pdu, &length, &data, &offset, &total) == 0 || data == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(data), length);
}

std::optional<uint32_t> FindUint(const std::vector<Option>& options, uint16_t number) {
  for (const auto& option : options) {
    if (option.number == number) {
      return DecodeUint(option.value);
    }
  }
  return std::nullopt;
}

bool AddOptions(coap_pdu_t* pdu, std::vector<Option> options) {
  std::stable_sort(options.begin(), options.end(),
                   [](const Option& a, const Option& b) { return a.number < b.number; });
  return std::all_of(options.begin(), options.end(), [pdu](const Option& option) {
    return coap_add_option(pdu, option.number, option.value.size(),
                           reinterpret_cast<const uint8_t*>(option.value.data())) != 0;
  });
}

std::string ErrnoText(int error) {
  char buffer[128];
  return strerror_r(error, buffer, sizeof buffer);  // the GNU variant returns the text
}

void ReleaseBody(coap_session_t* /*session*/, void* body) noexcept {
  delete static_cast<std::string*>(body);
}

}  // namespace coapgw::coap::detail
