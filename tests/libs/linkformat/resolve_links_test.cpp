#include "coapgw/linkformat/resolve_links.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "examples.hpp"

namespace coapgw::linkformat {
namespace {

Uri Base(const char* text) {
  return ParseUri(text).value();
}

std::vector<Link> ParseOrDie(std::string_view payload) {
  Result<std::vector<Link>> links = Parse(payload);
  EXPECT_TRUE(links.ok()) << links.error().message;
  return links.ok() ? *links : std::vector<Link>{};
}

std::vector<Link> LookupLinks(const Uri& base, const std::vector<Link>& links) {
  std::vector<Link> lookup;
  for (const Link& link : links) {
    Result<Link> resolved = ToLookupLink(base, link);
    EXPECT_TRUE(resolved.ok()) << resolved.error().message;
    if (resolved.ok()) {
      lookup.push_back(*resolved);
    }
  }
  return lookup;
}

// RFC 9176 prints some lookup results with attributes in another order than registered; the
// order carries no meaning there, so compare each link's attributes as a sorted list.
std::vector<Link> SortAttributes(std::vector<Link> links) {
  for (Link& link : links) {
    std::sort(link.attributes.begin(), link.attributes.end(),
              [](const Attribute& a, const Attribute& b) {
                return std::tie(a.name, a.value) < std::tie(b.name, b.value);
              });
  }
  return links;
}

const std::string& SimpleHostWellKnownCore() {  // RFC 9176 A.2.2
  return test::Payload("Rfc9176SimpleHostFull");
}

TEST(LinkFormatResolveLinksTest, Rfc9176A23LookupResolvesTargetsAndAnchorsAgainstTheBase) {
  const std::vector<Link> expected = ParseOrDie(test::Payload("Rfc9176SimpleHostLookup"));
  EXPECT_EQ(LookupLinks(Base("coap://[2001:db8:f0::1]"), ParseOrDie(SimpleHostWellKnownCore())),
            expected);
}

TEST(LinkFormatResolveLinksTest, Rfc9176A23ExplicitBaseWithOtherScheme) {
  const std::vector<Link> lookup =
      LookupLinks(Base("coap+tcp://sh1.example.com"), ParseOrDie(SimpleHostWellKnownCore()));
  ASSERT_EQ(lookup.size(), 4U);
  EXPECT_EQ(Serialize({lookup[0]}),
            "<coap+tcp://sh1.example.com/sensors/temp>;rt=temperature;ct=0");
  EXPECT_EQ(lookup[2].Find("anchor"), "coap+tcp://sh1.example.com/sensors/temp");
}

TEST(LinkFormatResolveLinksTest, Rfc9176Section63LookupOfRfc6690PayloadForTwoEndpoints) {
  const std::vector<Link> registered =
      ParseOrDie(test::Payload("Rfc6690AnchorsAndNewlineBeforeSemicolon"));
  std::vector<Link> lookup = LookupLinks(Base("coap://sensor1.example.com"), registered);
  const std::vector<Link> second = LookupLinks(Base("coap://sensor2.example.com"), registered);
  lookup.insert(lookup.end(), second.begin(), second.end());
  const std::vector<Link> expected = ParseOrDie(test::Payload("Rfc9176LookupByEndpointType"));
  EXPECT_EQ(SortAttributes(lookup), SortAttributes(expected));
}

TEST(LinkFormatResolveLinksTest, Rfc9176Section531BaseChangeMovesRelativeLinksOnly) {
  const std::vector<Link> registered = ParseOrDie(test::Payload("Rfc9176Registration"));
  EXPECT_EQ(LookupLinks(Base("coap://local-proxy-old.example.com"), registered),
            ParseOrDie("<coap://local-proxy-old.example.com/sensors/temp>;\n"
                       "    rt=temperature-c;if=sensor,\n"
                       "<http://www.example.com/sensors/temp>;\n"
                       "    anchor=\"coap://local-proxy-old.example.com/sensors/temp\";\n"
                       "    rel=describedby"));
  EXPECT_EQ(LookupLinks(Base("coaps://new.example.com"), registered),
            ParseOrDie(test::Payload("Rfc9176LookupAfterBaseChange")));
}

struct ResolveLinkCase {
  std::string name;
  std::string base;
  std::string link;
  std::string target;
  std::string anchor;
  bool anchor_given;
};

class LinkFormatResolveLinkTest : public ::testing::TestWithParam<ResolveLinkCase> {};

TEST_P(LinkFormatResolveLinkTest, GivesAbsoluteTargetAndContext) {
  const ResolveLinkCase& example = GetParam();
  const std::vector<Link> links = ParseOrDie(example.link);
  ASSERT_EQ(links.size(), 1U);
  Result<ResolvedLink> resolved = ResolveLink(Base(example.base.c_str()), links[0]);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message;
  EXPECT_EQ(resolved->target, example.target);
  EXPECT_EQ(resolved->anchor, example.anchor);
  EXPECT_EQ(resolved->anchor_given, example.anchor_given);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9176, LinkFormatResolveLinkTest,
    ::testing::Values(
        // A.2.1.2: the context of a link without anchor is the Origin of its target.
        ResolveLinkCase{"DefaultAnchorIsOriginOfRelativeTarget", "coap://[2001:db8:f0::1]",
                        "</sensors/temp>;rt=temperature", "coap://[2001:db8:f0::1]/sensors/temp",
                        "coap://[2001:db8:f0::1]", false},
        ResolveLinkCase{"DefaultAnchorIsOriginOfAbsoluteTarget", "coap://[2001:db8:f0::1]",
                        "<http://www.example.com:8080/x>", "http://www.example.com:8080/x",
                        "http://www.example.com:8080", false},
        ResolveLinkCase{"DefaultAnchorDropsUserinfo", "coap://h", "<coap://u@g:1/x>",
                        "coap://u@g:1/x", "coap://g:1", false},
        ResolveLinkCase{"TargetWithoutAuthorityTakesBaseOrigin", "coap://h:1",
                        "<urn:dev:ow:10e2073a01080063>", "urn:dev:ow:10e2073a01080063",
                        "coap://h:1", false},
        // A.2.4: target and anchor are resolved independently, both against the base.
        ResolveLinkCase{"TargetIsNotResolvedAgainstAnchor", "coap://[2001:db8:f0::1]",
                        "</t>;anchor=\"/sensors/temp\";rel=alternate", "coap://[2001:db8:f0::1]/t",
                        "coap://[2001:db8:f0::1]/sensors/temp", true},
        ResolveLinkCase{"RelativePathTargetIgnoresAnchorDirectory", "coap://h",
                        "<t>;anchor=\"/sensors/\"", "coap://h/t", "coap://h/sensors/", true},
        ResolveLinkCase{"BaseWithPath", "coap://h/dev1/", "<temp>;anchor=\"../dev2\"",
                        "coap://h/dev1/temp", "coap://h/dev2", true},
        // §5: empty anchors resolve to the base.
        ResolveLinkCase{"EmptyAnchorIsTheBase", "coap://h:5683", "</a>;anchor=\"\"",
                        "coap://h:5683/a", "coap://h:5683", true},
        // §6.1: full URIs are kept unmodified, relative ones are resolved.
        ResolveLinkCase{"AbsoluteReferencesKeptVerbatim", "coap://h",
                        "<coap://g/a/../b>;anchor=\"COAP://G/./x\"", "coap://g/a/../b",
                        "COAP://G/./x", true},
        ResolveLinkCase{"RelativeDotSegmentsRemoved", "coap://h", "</a/../b>;anchor=\"/x/./y\"",
                        "coap://h/b", "coap://h/x/y", true},
        ResolveLinkCase{"AnchorNameCaseInsensitive", "coaps://[::1]:5684", "</a>;ANCHOR=/b",
                        "coaps://[::1]:5684/a", "coaps://[::1]:5684/b", true}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(LinkFormatResolveLinksTest, LookupLinkKeepsAbsenceOfAnchorAndAllOtherAttributes) {
  const std::vector<Link> links = ParseOrDie("<x>;rt=\"a b\";obs;ct=0;rt=c");
  Result<Link> lookup = ToLookupLink(Base("coap://h"), links[0]);
  ASSERT_TRUE(lookup.ok()) << lookup.error().message;
  EXPECT_EQ(lookup->target, "coap://h/x");
  EXPECT_EQ(lookup->attributes, links[0].attributes);
  EXPECT_FALSE(lookup->Has("anchor"));
}

TEST(LinkFormatResolveLinksTest, LookupLinkResolvesEveryAnchorOccurrence) {
  const std::vector<Link> links = ParseOrDie(R"(</a>;anchor="/b";rel=x;anchor="c")");
  Result<Link> lookup = ToLookupLink(Base("coap://h"), links[0]);
  ASSERT_TRUE(lookup.ok()) << lookup.error().message;
  EXPECT_EQ(Serialize({*lookup}), "<coap://h/a>;anchor=\"coap://h/b\";rel=x;anchor=\"coap://h/c\"");
}

TEST(LinkFormatResolveLinksTest, RejectsARelativeBase) {
  const Link link{"/a", {}};
  Result<ResolvedLink> resolved = ResolveLink(ParseUriReference("/rd").value(), link);
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(resolved.error().message, "registration base '/rd' is not an absolute URI");
  EXPECT_FALSE(ToLookupLink(ParseUriReference("/rd").value(), link).ok());
}

TEST(LinkFormatResolveLinksTest, RejectsHandBuiltLinksParseWouldNotReturn) {
  const Uri base = Base("coap://h");
  Result<ResolvedLink> bad_target = ResolveLink(base, Link{"/a b", {}});
  ASSERT_FALSE(bad_target.ok());
  EXPECT_EQ(bad_target.error().message, "target '/a b': URI: invalid character ' ' at byte 2");
  Result<ResolvedLink> valueless_anchor = ResolveLink(base, Link{"/a", {{"anchor", std::nullopt}}});
  ASSERT_FALSE(valueless_anchor.ok());
  EXPECT_EQ(valueless_anchor.error().message, "anchor attribute without a value");
  Result<Link> bad_anchor = ToLookupLink(base, Link{"/a", {{"anchor", "%"}}});
  ASSERT_FALSE(bad_anchor.ok());
  EXPECT_EQ(bad_anchor.error().message, "anchor '%': URI: malformed percent-encoding at byte 0");
}

TEST(LinkFormatResolveLinksTest, LimitedLinkFormatAcceptsUrisAndAbsolutePaths) {
  EXPECT_TRUE(CheckLimitedLinkFormat(ParseOrDie(SimpleHostWellKnownCore())).ok());
  EXPECT_TRUE(CheckLimitedLinkFormat(ParseOrDie("</>,<urn:x>;anchor=\"coap://h\"")).ok());
  EXPECT_TRUE(CheckLimitedLinkFormat({}).ok());
}

TEST(LinkFormatResolveLinksTest, LimitedLinkFormatRejectsOtherRelativeReferences) {
  struct Case {
    const char* payload;
    const char* message;
  };
  const Case cases[] = {
      {"</a>,<sensors/temp>",
       "link 1 <sensors/temp>: target is neither a URI nor an absolute path (RFC 9176 Limited "
       "Link Format)"},
      {"<//host/x>",
       "link 0 <//host/x>: target is neither a URI nor an absolute path (RFC 9176 "
       "Limited Link Format)"},
      {"<>",
       "link 0 <>: target is neither a URI nor an absolute path (RFC 9176 Limited Link "
       "Format)"},
      {"</a>;anchor=\"sensors\"",
       "link 0 </a>: anchor is neither a URI nor an absolute path "
       "(RFC 9176 Limited Link Format)"},
      {"</a>;anchor=\"\"",
       "link 0 </a>: anchor is neither a URI nor an absolute path (RFC 9176 "
       "Limited Link Format)"},
  };
  for (const Case& example : cases) {
    Status status = CheckLimitedLinkFormat(ParseOrDie(example.payload));
    ASSERT_FALSE(status.ok()) << example.payload;
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(status.error().message, example.message);
  }
}

}  // namespace
}  // namespace coapgw::linkformat
