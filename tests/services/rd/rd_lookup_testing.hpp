#pragma once

// Builders shared by rd_lookup_test's files (index_test.cpp, lookup_test.cpp).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/linkformat/link_format.hpp"
#include "rd/lookup_query.hpp"
#include "rd/registration.hpp"

namespace coapgw::rd::test {

/// Links parsed from a link-format payload; throws if the test wrote a bad one.
inline std::vector<linkformat::Link> Links(std::string_view payload) {
  Result<std::vector<linkformat::Link>> links = linkformat::Parse(payload);
  if (!links.ok()) {
    throw std::invalid_argument("test payload: " + links.error().message);
  }
  return std::move(*links);
}

/// A registration as the directory would hand it to the index.
inline Registration MakeRegistration(int64_t key, std::string ep, std::string base,
                                     std::string_view payload, std::string sector = "",
                                     std::string et = "") {
  Registration registration;
  registration.key = key;
  registration.device_id = "device-" + std::to_string(key);
  registration.ep = std::move(ep);
  registration.base = std::move(base);
  registration.sector = std::move(sector);
  registration.et = std::move(et);
  registration.links = Links(payload);
  return registration;
}

/// A group of registration keys.
inline Group MakeGroup(int64_t key, std::string name, std::vector<int64_t> members,
                       std::string sector = "", std::string base = "") {
  Group group;
  group.key = key;
  group.name = std::move(name);
  group.sector = std::move(sector);
  group.base = std::move(base);
  group.member_keys = std::move(members);
  return group;
}

/// A query that must parse.
inline LookupQuery Query(const std::vector<std::string>& parameters) {
  Result<LookupQuery> query = LookupQuery::Parse(parameters);
  if (!query.ok()) {
    throw std::invalid_argument("test query: " + query.error().message);
  }
  return std::move(*query);
}

/// An RFC example payload without its line folding: every line break and the indentation after
/// it removed.
inline std::string Unfold(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      while (i + 1 < text.size() && (text[i + 1] == ' ' || text[i + 1] == '\t')) {
        ++i;
      }
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace coapgw::rd::test
