// Writes the unit tests' examples (tests/libs/linkformat/examples.cpp) as libFuzzer seed files:
//   linkformat_fuzz_seeds <link-format-dir> <uri-dir>

#include <cstdio>
#include <fstream>
#include <string>

#include "examples.hpp"

namespace {

bool Write(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  namespace test = coapgw::linkformat::test;
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <link-format-seed-dir> <uri-seed-dir>\n", argv[0]);
    return 2;
  }
  const std::string link_dir = argv[1];
  const std::string uri_dir = argv[2];
  bool ok = true;
  int count = 0;
  for (const test::ParseCase& example : test::ParseCases()) {
    ok = ok && Write(link_dir + "/" + example.name, example.payload);
    ++count;
  }
  for (const test::ErrorCase& example : test::ErrorCases()) {
    ok = ok && Write(link_dir + "/Error" + example.name, example.payload);
    ++count;
  }
  for (const test::ResolutionCase& example : test::ResolutionCases()) {
    ok = ok && Write(uri_dir + "/" + example.name,
                     std::string(test::kRfc3986Base) + "\n" + example.reference);
    ++count;
  }
  constexpr const char* kCoapUris[] = {"coap://[2001:db8::1]:61616\n/sensors/temp",
                                       "coaps://h:5684/a/b\n../c/./d?x#y",
                                       "coap+tcp://sh1.example.com\ntemp",
                                       "coap://[fe80::1%25eth0]/x\n//[v1.a]/p",
                                       "coap://u@h/a%20b/\n%41?%2F#%25",
                                       "coap:/a/b\n..//g",
                                       "coap://h/x?q#f\n",
                                       "coap://h\n/temperature/Malm\xC3\xB6"};
  for (int i = 0; i < static_cast<int>(sizeof(kCoapUris) / sizeof(kCoapUris[0])); ++i) {
    ok = ok && Write(uri_dir + "/Coap" + std::to_string(i), kCoapUris[i]);
    ++count;
  }
  if (!ok) {
    std::fprintf(stderr, "linkformat_fuzz_seeds: cannot write into %s or %s\n", argv[1], argv[2]);
    return 1;
  }
  std::printf("wrote %d seed files\n", count);
  return 0;
}
