#pragma once

// Link-format and URI examples shared by linkformat_test and the fuzzers' seed corpus
// (libs/linkformat/fuzz/dump_seeds.cpp): RFC 6690 §5, RFC 9176 and edge cases.

#include <string>
#include <vector>

#include "coapgw/common/result.hpp"
#include "coapgw/linkformat/link_format.hpp"

namespace coapgw::linkformat::test {

/// A payload Parse accepts and the links it must give.
struct ParseCase {
  std::string name;  // GoogleTest parameter name
  std::string payload;
  std::vector<Link> links;
};

/// A payload Parse rejects, with the exact error.
struct ErrorCase {
  std::string name;
  std::string payload;
  ErrorCode code;
  std::string message;
};

/// RFC 3986 §5.4: `reference` resolved against kRfc3986Base gives `expected`.
struct ResolutionCase {
  std::string name;
  std::string reference;
  std::string expected;
};

inline constexpr char kRfc3986Base[] = "http://a/b/c/d;p?q";

const std::vector<ParseCase>& ParseCases();

/// The payload of the ParseCase called `name`; aborts the test program if there is none.
const std::string& Payload(const std::string& name);
const std::vector<ErrorCase>& ErrorCases();
const std::vector<ResolutionCase>& ResolutionCases();

}  // namespace coapgw::linkformat::test
