#include "examples.hpp"

#include <cstdlib>
#include <utility>

namespace coapgw::linkformat::test {

namespace {

using namespace std::string_literals;  // NOLINT(google-build-using-namespace): "\0"s

Attribute A(std::string name, std::string value) {
  return Attribute{std::move(name), value};
}
Attribute Flag(std::string name) {
  return Attribute{std::move(name), std::nullopt};
}
Link L(std::string target, std::vector<Attribute> attributes = {}) {
  return Link{std::move(target), std::move(attributes)};
}

// RFC 6690 §5, the sixth response; RFC 9176 §6.3 registers it for sensor1 and sensor2.
constexpr char kRfc6690Full[] =
    "</sensors>;ct=40;title=\"Sensor Index\",\n"
    "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\",\n"
    "</sensors/light>;rt=\"light-lux\";if=\"sensor\",\n"
    "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\"\n"
    ";rel=\"describedby\",\n"
    "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"";

std::vector<Link> Rfc6690FullLinks() {
  return {L("/sensors", {A("ct", "40"), A("title", "Sensor Index")}),
          L("/sensors/temp", {A("rt", "temperature-c"), A("if", "sensor")}),
          L("/sensors/light", {A("rt", "light-lux"), A("if", "sensor")}),
          L("http://www.example.com/sensors/t123",
            {A("anchor", "/sensors/temp"), A("rel", "describedby")}),
          L("/t", {A("anchor", "/sensors/temp"), A("rel", "alternate")})};
}

std::vector<Link> LookupByEndpointTypeLinks() {
  std::vector<Link> links;
  for (const std::string host : {"sensor1", "sensor2"}) {
    const std::string origin = "coap://" + host + ".example.com";
    links.push_back(L(origin + "/sensors", {A("ct", "40"), A("title", "Sensor Index")}));
    links.push_back(L(origin + "/sensors/temp", {A("rt", "temperature-c"), A("if", "sensor")}));
    links.push_back(L(origin + "/sensors/light", {A("rt", "light-lux"), A("if", "sensor")}));
    links.push_back(L("http://www.example.com/sensors/t123",
                      {A("rel", "describedby"), A("anchor", origin + "/sensors/temp")}));
    links.push_back(
        L(origin + "/t", {A("rel", "alternate"), A("anchor", origin + "/sensors/temp")}));
  }
  return links;
}

std::vector<Link> PageLinks(int first) {
  std::vector<Link> links;
  for (int i = first; i < first + 5; ++i) {
    links.push_back(L("coap://[2001:db8:3::123]:61616/res/" + std::to_string(i), {A("ct", "60")}));
  }
  return links;
}

// RFC 9176 Appendix A.1, the resource lookup for groups: the RFC prints it with a trailing ','.
constexpr char kRfc9176GroupLookup[] =
    "<coap://[ff35:30:2001:db8:f1::8000:1]/light>;\n"
    "     rt=\"tag:example.com,2020:light\";\n"
    "     if=\"tag:example.net,2020:actuator\",\n"
    "<coap://[ff35:30:2001:db8:f1::8000:1]/color-temperature>;\n"
    "     if=\"tag:example.net,2020:parameter\";u=K,\n";

}  // namespace

const std::vector<ParseCase>& ParseCases() {
  static const std::vector<ParseCase> cases = {
      {"EmptyPayload", "", {}},
      {"WhitespaceOnly", " \r\n\t ", {}},
      // RFC 6690 §5
      {"Rfc6690WellKnownCore",
       "</sensors/temp>;if=\"sensor\",\n</sensors/light>;if=\"sensor\"",
       {L("/sensors/temp", {A("if", "sensor")}), L("/sensors/light", {A("if", "sensor")})}},
      {"Rfc6690SensorsIndex", "</sensors>;ct=40", {L("/sensors", {A("ct", "40")})}},
      {"Rfc6690SensorsList",
       "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\",\n"
       "</sensors/light>;rt=\"light-lux\";if=\"sensor\"",
       {L("/sensors/temp", {A("rt", "temperature-c"), A("if", "sensor")}),
        L("/sensors/light", {A("rt", "light-lux"), A("if", "sensor")})}},
      {"Rfc6690AnchorsAndNewlineBeforeSemicolon", kRfc6690Full, Rfc6690FullLinks()},
      {"Rfc6690Firmware",
       "</firmware/v2.1>;rt=\"firmware\";sz=262144",
       {L("/firmware/v2.1", {A("rt", "firmware"), A("sz", "262144")})}},
      // RFC 9176
      {"Rfc9176RdDiscovery",
       "</rd>;rt=core.rd;ct=40,\n</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=40,\n"
       "</rd-lookup/res>;rt=core.rd-lookup-res;ct=40",
       {L("/rd", {A("rt", "core.rd"), A("ct", "40")}),
        L("/rd-lookup/ep", {A("rt", "core.rd-lookup-ep"), A("ct", "40")}),
        L("/rd-lookup/res", {A("rt", "core.rd-lookup-res"), A("ct", "40")})}},
      {"Rfc9176ContentFormatListAndObs",
       "</rd>;rt=core.rd;ct=40,\n"
       "</rd-lookup/res>;rt=core.rd-lookup-res;ct=\"40 65060 65050\";obs,\n"
       "</rd-lookup/ep>;rt=core.rd-lookup-ep;ct=\"40 65060 65050\"",
       {L("/rd", {A("rt", "core.rd"), A("ct", "40")}),
        L("/rd-lookup/res",
          {A("rt", "core.rd-lookup-res"), A("ct", "40 65060 65050"), Flag("obs")}),
        L("/rd-lookup/ep", {A("rt", "core.rd-lookup-ep"), A("ct", "40 65060 65050")})}},
      {"Rfc9176ImplInfo",
       "<http://software.example.com/shiny-resource-directory/1.0beta1>;\n    rel=impl-info",
       {L("http://software.example.com/shiny-resource-directory/1.0beta1",
          {A("rel", "impl-info")})}},
      {"Rfc9176Registration",
       "</sensors/temp>;rt=temperature-c;if=sensor,\n"
       "<http://www.example.com/sensors/temp>;\n  anchor=\"/sensors/temp\";rel=describedby",
       {L("/sensors/temp", {A("rt", "temperature-c"), A("if", "sensor")}),
        L("http://www.example.com/sensors/temp",
          {A("anchor", "/sensors/temp"), A("rel", "describedby")})}},
      {"Rfc9176LookupAfterBaseChange",
       "<coaps://new.example.com/sensors/temp>;\n    rt=temperature-c;if=sensor,\n"
       "<http://www.example.com/sensors/temp>;\n"
       "    anchor=\"coaps://new.example.com/sensors/temp\";\n    rel=describedby",
       {L("coaps://new.example.com/sensors/temp", {A("rt", "temperature-c"), A("if", "sensor")}),
        L("http://www.example.com/sensors/temp",
          {A("anchor", "coaps://new.example.com/sensors/temp"), A("rel", "describedby")})}},
      {"Rfc9176LookupQuotedCommaInResourceType",
       "<coap://[2001:db8:3::123]:61616/temp>;\n    rt=\"tag:example.org,2020:temperature\"",
       {L("coap://[2001:db8:3::123]:61616/temp", {A("rt", "tag:example.org,2020:temperature")})}},
      {"Rfc9176LookupObserved",
       "<coap://[2001:db8:3::124]/west>;rt=\"tag:example.org,2020:light\",\n"
       "<coap://[2001:db8:3::124]/south>;rt=\"tag:example.org,2020:light\",\n"
       "<coap://[2001:db8:3::124]/east>;rt=\"tag:example.org,2020:light\"",
       {L("coap://[2001:db8:3::124]/west", {A("rt", "tag:example.org,2020:light")}),
        L("coap://[2001:db8:3::124]/south", {A("rt", "tag:example.org,2020:light")}),
        L("coap://[2001:db8:3::124]/east", {A("rt", "tag:example.org,2020:light")})}},
      {"Rfc9176LookupPageOne",
       "<coap://[2001:db8:3::123]:61616/res/5>;ct=60,\n"
       "<coap://[2001:db8:3::123]:61616/res/6>;ct=60,\n"
       "<coap://[2001:db8:3::123]:61616/res/7>;ct=60,\n"
       "<coap://[2001:db8:3::123]:61616/res/8>;ct=60,\n"
       "<coap://[2001:db8:3::123]:61616/res/9>;ct=60",
       PageLinks(5)},
      {"Rfc9176LookupByEndpointType",
       "<coap://sensor1.example.com/sensors>;ct=40;title=\"Sensor Index\",\n"
       "<coap://sensor1.example.com/sensors/temp>;rt=temperature-c;if=sensor,\n"
       "<coap://sensor1.example.com/sensors/light>;rt=light-lux;if=sensor,\n"
       "<http://www.example.com/sensors/t123>;rel=describedby;\n"
       "    anchor=\"coap://sensor1.example.com/sensors/temp\",\n"
       "<coap://sensor1.example.com/t>;rel=alternate;\n"
       "    anchor=\"coap://sensor1.example.com/sensors/temp\",\n"
       "<coap://sensor2.example.com/sensors>;ct=40;title=\"Sensor Index\",\n"
       "<coap://sensor2.example.com/sensors/temp>;rt=temperature-c;if=sensor,\n"
       "<coap://sensor2.example.com/sensors/light>;rt=light-lux;if=sensor,\n"
       "<http://www.example.com/sensors/t123>;rel=describedby;\n"
       "    anchor=\"coap://sensor2.example.com/sensors/temp\",\n"
       "<coap://sensor2.example.com/t>;rel=alternate;\n"
       "    anchor=\"coap://sensor2.example.com/sensors/temp\"",
       LookupByEndpointTypeLinks()},
      {"Rfc9176EndpointLookup",
       "</rd/1234>;base=\"coap://[2001:db8:3::127]:61616\";ep=node5;\n"
       "    et=\"tag:example.com,2020:platform\";ct=40;rt=core.rd-ep,\n"
       "</rd/4521>;base=\"coap://[2001:db8:3::129]:61616\";ep=node7;\n"
       "    et=\"tag:example.com,2020:platform\";ct=40;d=floor-3;\n    rt=core.rd-ep",
       {L("/rd/1234",
          {A("base", "coap://[2001:db8:3::127]:61616"), A("ep", "node5"),
           A("et", "tag:example.com,2020:platform"), A("ct", "40"), A("rt", "core.rd-ep")}),
        L("/rd/4521", {A("base", "coap://[2001:db8:3::129]:61616"), A("ep", "node7"),
                       A("et", "tag:example.com,2020:platform"), A("ct", "40"), A("d", "floor-3"),
                       A("rt", "core.rd-ep")})}},
      {"Rfc9176GroupRegistration",
       "</light>;rt=\"tag:example.com,2020:light\";\n"
       "     if=\"tag:example.net,2020:actuator\",\n"
       "</color-temperature>;if=\"tag:example.net,2020:parameter\";u=K",
       {L("/light",
          {A("rt", "tag:example.com,2020:light"), A("if", "tag:example.net,2020:actuator")}),
        L("/color-temperature", {A("if", "tag:example.net,2020:parameter"), A("u", "K")})}},
      {"Rfc9176GroupEndpointLookupPtokenWithAmpersand",
       "</rd/12>;ep=lights&et=core.rd-group;\n"
       "         base=\"coap://[ff35:30:2001:f1:db8::8000:1]\";rt=core.rd-ep",
       {L("/rd/12", {A("ep", "lights&et=core.rd-group"),
                     A("base", "coap://[ff35:30:2001:f1:db8::8000:1]"), A("rt", "core.rd-ep")})}},
      {"Rfc9176SimpleHost",
       "</sensors/temp>;rt=temperature;ct=0",
       {L("/sensors/temp", {A("rt", "temperature"), A("ct", "0")})}},
      {"Rfc9176SimpleHostFull",
       "</sensors/temp>;rt=temperature;ct=0,\n"
       "</sensors/light>;rt=light-lux;ct=0,\n"
       "</t>;anchor=\"/sensors/temp\";rel=alternate,\n"
       "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";\n"
       "    rel=describedby",
       {L("/sensors/temp", {A("rt", "temperature"), A("ct", "0")}),
        L("/sensors/light", {A("rt", "light-lux"), A("ct", "0")}),
        L("/t", {A("anchor", "/sensors/temp"), A("rel", "alternate")}),
        L("http://www.example.com/sensors/t123",
          {A("anchor", "/sensors/temp"), A("rel", "describedby")})}},
      {"Rfc9176SimpleHostLookup",
       "<coap://[2001:db8:f0::1]/sensors/temp>;rt=temperature;ct=0,\n"
       "<coap://[2001:db8:f0::1]/sensors/light>;rt=light-lux;ct=0,\n"
       "<coap://[2001:db8:f0::1]/t>;\n"
       "    anchor=\"coap://[2001:db8:f0::1]/sensors/temp\";rel=alternate,\n"
       "<http://www.example.com/sensors/t123>;\n"
       "    anchor=\"coap://[2001:db8:f0::1]/sensors/temp\";rel=describedby",
       {L("coap://[2001:db8:f0::1]/sensors/temp", {A("rt", "temperature"), A("ct", "0")}),
        L("coap://[2001:db8:f0::1]/sensors/light", {A("rt", "light-lux"), A("ct", "0")}),
        L("coap://[2001:db8:f0::1]/t",
          {A("anchor", "coap://[2001:db8:f0::1]/sensors/temp"), A("rel", "alternate")}),
        L("http://www.example.com/sensors/t123",
          {A("anchor", "coap://[2001:db8:f0::1]/sensors/temp"), A("rel", "describedby")})}},
      {"Rfc9176SimpleRegistrationWellKnownCore", "</sen/temp>", {L("/sen/temp")}},
      {"Rfc9176UnicodeTarget",
       "</temperature/Malmö>;rel=live-environment-data",
       {L("/temperature/Malmö", {A("rel", "live-environment-data")})}},
      // Edge cases
      {"ValuelessAttribute", "</a>;obs;ct=0", {L("/a", {Flag("obs"), A("ct", "0")})}},
      {"DuplicateAttributesKeepOrder",
       "</a>;rt=x;ct=0;rt=y;obs;obs",
       {L("/a", {A("rt", "x"), A("ct", "0"), A("rt", "y"), Flag("obs"), Flag("obs")})}},
      {"BackslashEscapes",
       R"(</a>;title="say \"hi\" \\ \ok")",
       {L("/a", {A("title", R"(say "hi" \ ok)")})}},
      {"EscapedControlCharacter",
       "</a>;title=\"line\\\nbreak\"",
       {L("/a", {A("title", "line\nbreak")})}},
      {"UnicodeInQuotedValue",
       "</a>;title=\"Malmö ☃ 𝄞\";rt=\"température\"",
       {L("/a", {A("title", "Malmö ☃ 𝄞"), A("rt", "température")})}},
      {"EscapedUnicode", "</a>;title=\"\\é\"", {L("/a", {A("title", "é")})}},
      {"TabInQuotedValue", "</a>;title=\"a\tb\"", {L("/a", {A("title", "a\tb")})}},
      {"WhitespaceAroundSeparators",
       " \n</a> ; ct = 0 ;obs ,\r\n\t</b>;\n rt=\"x\" \n",
       {L("/a", {A("ct", "0"), Flag("obs")}), L("/b", {A("rt", "x")})}},
      {"QuotedCommaAndSemicolon",
       "</a>;title=\"a,b;c\";rt=x,</b>",
       {L("/a", {A("title", "a,b;c"), A("rt", "x")}), L("/b")}},
      {"ExtensionAttributes",
       "</a>;foo=bar;x-y=\"quoted value\";title*=UTF-8'de'n%c3%a4chstes",
       {L("/a",
          {A("foo", "bar"), A("x-y", "quoted value"), A("title*", "UTF-8'de'n%c3%a4chstes")})}},
      {"PtokenSpecialCharacters",
       "</a>;v=a<b>c=d?e@f[g]{h}|~!#$%&'()*+-./:^_`",
       {L("/a", {A("v", "a<b>c=d?e@f[g]{h}|~!#$%&'()*+-./:^_`")})}},
      {"EmptyTargetAndEmptyQuotedValue",
       "<>;rel=self;title=\"\"",
       {L("", {A("rel", "self"), A("title", "")})}},
      {"AbsoluteTargetsWithPortsQueryFragment",
       "<coaps://[2001:db8::1]:5684/s?q=1#f>,<coap://node.example:61616>,<coap+tcp://h/x>",
       {L("coaps://[2001:db8::1]:5684/s?q=1#f"), L("coap://node.example:61616"),
        L("coap+tcp://h/x")}},
      {"PercentEncodingKept", "</a%20b?x=%2F>", {L("/a%20b?x=%2F")}},
      {"AttributeNameCaseKept",
       "</a>;RT=x;Anchor=\"/b\"",
       {L("/a", {A("RT", "x"), A("Anchor", "/b")})}},
      {"EmptyAnchor", "</a>;anchor=\"\"", {L("/a", {A("anchor", "")})}},
      {"UnquotedAnchor", "</a>;anchor=/b", {L("/a", {A("anchor", "/b")})}},
      {"RelativePathTargets",
       "<sensors/temp>;rt=t,<./x>,<../y>,<?q>,<#f>",
       {L("sensors/temp", {A("rt", "t")}), L("./x"), L("../y"), L("?q"), L("#f")}},
  };
  return cases;
}

const std::string& Payload(const std::string& name) {
  for (const ParseCase& example : ParseCases()) {
    if (example.name == name) {
      return example.payload;
    }
  }
  std::abort();
}

const std::vector<ErrorCase>& ErrorCases() {
  constexpr ErrorCode kInvalid = ErrorCode::kInvalidArgument;
  static const std::vector<ErrorCase> cases = {
      {"TrailingComma", "</a>,", kInvalid, "link-format: expected '<' at byte 5"},
      {"TrailingCommaAndWhitespace", "</a>, \n", kInvalid, "link-format: expected '<' at byte 7"},
      {"Rfc9176GroupLookupAsPrintedEndsInComma", kRfc9176GroupLookup, kInvalid,
       "link-format: expected '<' at byte " + std::to_string(sizeof(kRfc9176GroupLookup) - 1)},
      {"LeadingComma", ",</a>", kInvalid, "link-format: expected '<' at byte 0"},
      {"DoubleComma", "</a>,,</b>", kInvalid, "link-format: expected '<' at byte 5"},
      {"MissingLessThan", "/a>;ct=0", kInvalid, "link-format: expected '<' at byte 0"},
      {"MissingGreaterThanAtEnd", "</a;ct=0", kInvalid, "link-format: expected '>' at byte 8"},
      {"MissingGreaterThanBeforeSpace", "</a ;ct=0", kInvalid,
       "link-format: expected '>' at byte 3"},
      {"NulInTarget", "</a\0>"s, kInvalid, "link-format: expected '>' at byte 3"},
      {"InvalidCharacterInTarget", "</a{b}>", kInvalid,
       "link-format: invalid target: invalid character '{' at byte 3"},
      {"MalformedPercentInTarget", "</a%zz>", kInvalid,
       "link-format: invalid target: malformed percent-encoding at byte 3"},
      {"InvalidIpv6Target", "<coap://[::g]/x>", kInvalid,
       "link-format: invalid target: invalid IPv6 address at byte 9"},
      {"PortOutOfRangeInTarget", "<coap://h:65536/x>", kInvalid,
       "link-format: invalid target: port above 65535 at byte 10"},
      {"ColonInFirstRelativeSegment", "<1a:b>", kInvalid,
       "link-format: invalid target: ':' in the first segment of a relative path at byte 3"},
      {"InvalidUtf8InTarget", "</\xFF>", kInvalid,
       "link-format: invalid target: invalid UTF-8 at byte 2"},
      {"UnterminatedQuote", "</a>;title=\"abc", kInvalid,
       "link-format: unterminated quoted string opened at byte 11"},
      {"UnterminatedQuoteAfterBackslash", "</a>;title=\"abc\\", kInvalid,
       "link-format: unterminated quoted string opened at byte 11"},
      {"UnterminatedQuoteSwallowsNextLink", "</a>;title=\"abc,</b>", kInvalid,
       "link-format: unterminated quoted string opened at byte 11"},
      {"SemicolonWithNothing", "</a>;", kInvalid, "link-format: expected attribute name at byte 5"},
      {"DoubleSemicolon", "</a>;;ct=0", kInvalid, "link-format: expected attribute name at byte 5"},
      {"SemicolonBeforeComma", "</a>;,</b>", kInvalid,
       "link-format: expected attribute name at byte 5"},
      {"BadAttributeName", "</a>;r@t=x", kInvalid,
       "link-format: expected '=', ';' or ',' at byte 6"},
      {"QuotedAttributeName", "</a>;\"rt\"=x", kInvalid,
       "link-format: expected attribute name at byte 5"},
      {"MissingValueAtEnd", "</a>;ct=", kInvalid,
       "link-format: expected attribute value at byte 8"},
      {"MissingValueBeforeSemicolon", "</a>;ct=;rt=x", kInvalid,
       "link-format: expected attribute value at byte 8"},
      {"QuoteAfterPtoken", "</a>;rt=x\"y\"", kInvalid,
       "link-format: expected ';' or ',' at byte 9"},
      {"JunkAfterTarget", "</a>x", kInvalid, "link-format: expected ';' or ',' at byte 4"},
      {"LinksWithoutComma", "</a>\n</b>", kInvalid, "link-format: expected ';' or ',' at byte 5"},
      {"ControlCharacterInQuotedValue", "</a>;title=\"a\nb\"", kInvalid,
       "link-format: control character 0x0a in quoted string at byte 13"},
      {"EscapedNul", "</a>;title=\"\\\0\""s, kInvalid,
       "link-format: NUL byte in quoted string at byte 13"},
      {"InvalidUtf8InQuotedValue", "</a>;title=\"\xC3(\"", kInvalid,
       "link-format: invalid UTF-8 at byte 12"},
      {"OverlongUtf8", "</a>;title=\"\xC0\xAF\"", kInvalid,
       "link-format: invalid UTF-8 at byte 12"},
      {"Utf8Surrogate", "</a>;title=\"\xED\xA0\x80\"", kInvalid,
       "link-format: invalid UTF-8 at byte 12"},
      {"TruncatedUtf8", "</a>;title=\"\xE2\x98\"", kInvalid,
       "link-format: invalid UTF-8 at byte 12"},
      {"AnchorWithoutValue", "</a>;anchor", kInvalid,
       "link-format: anchor without a value at byte 5"},
      {"AnchorNotUriReference", "</a>;anchor=\"/a b\"", kInvalid,
       "link-format: invalid anchor: invalid character ' ' at byte 15"},
  };
  return cases;
}

const std::vector<ResolutionCase>& ResolutionCases() {
  // RFC 3986 §5.4.1 (normal) and §5.4.2 (abnormal), all of them, base "http://a/b/c/d;p?q".
  static const std::vector<ResolutionCase> cases = {
      {"Normal01", "g:h", "g:h"},
      {"Normal02", "g", "http://a/b/c/g"},
      {"Normal03", "./g", "http://a/b/c/g"},
      {"Normal04", "g/", "http://a/b/c/g/"},
      {"Normal05", "/g", "http://a/g"},
      {"Normal06", "//g", "http://g"},
      {"Normal07", "?y", "http://a/b/c/d;p?y"},
      {"Normal08", "g?y", "http://a/b/c/g?y"},
      {"Normal09", "#s", "http://a/b/c/d;p?q#s"},
      {"Normal10", "g#s", "http://a/b/c/g#s"},
      {"Normal11", "g?y#s", "http://a/b/c/g?y#s"},
      {"Normal12", ";x", "http://a/b/c/;x"},
      {"Normal13", "g;x", "http://a/b/c/g;x"},
      {"Normal14", "g;x?y#s", "http://a/b/c/g;x?y#s"},
      {"Normal15", "", "http://a/b/c/d;p?q"},
      {"Normal16", ".", "http://a/b/c/"},
      {"Normal17", "./", "http://a/b/c/"},
      {"Normal18", "..", "http://a/b/"},
      {"Normal19", "../", "http://a/b/"},
      {"Normal20", "../g", "http://a/b/g"},
      {"Normal21", "../..", "http://a/"},
      {"Normal22", "../../", "http://a/"},
      {"Normal23", "../../g", "http://a/g"},
      {"Abnormal01", "../../../g", "http://a/g"},
      {"Abnormal02", "../../../../g", "http://a/g"},
      {"Abnormal03", "/./g", "http://a/g"},
      {"Abnormal04", "/../g", "http://a/g"},
      {"Abnormal05", "g.", "http://a/b/c/g."},
      {"Abnormal06", ".g", "http://a/b/c/.g"},
      {"Abnormal07", "g..", "http://a/b/c/g.."},
      {"Abnormal08", "..g", "http://a/b/c/..g"},
      {"Abnormal09", "./../g", "http://a/b/g"},
      {"Abnormal10", "./g/.", "http://a/b/c/g/"},
      {"Abnormal11", "g/./h", "http://a/b/c/g/h"},
      {"Abnormal12", "g/../h", "http://a/b/c/h"},
      {"Abnormal13", "g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"Abnormal14", "g;x=1/../y", "http://a/b/c/y"},
      {"Abnormal15", "g?y/./x", "http://a/b/c/g?y/./x"},
      {"Abnormal16", "g?y/../x", "http://a/b/c/g?y/../x"},
      {"Abnormal17", "g#s/./x", "http://a/b/c/g#s/./x"},
      {"Abnormal18", "g#s/../x", "http://a/b/c/g#s/../x"},
      {"Abnormal19StrictSchemeMatch", "http:g", "http:g"},
  };
  return cases;
}

}  // namespace coapgw::linkformat::test
