#include "coapgw/ws/platform_protocol.hpp"

#include <gtest/gtest.h>

namespace coapgw::ws::platform {
namespace {

constexpr const char* kType = "iot#d66ec9bc-e37f-4f35-a788-027301aad6c2";

// platform-protocol.md §11, the test vectors.
TEST(PlatformHashTest, DeviceHashesMatchTheSpecVectors) {
  EXPECT_EQ(DeviceHash({"asdsdfsf24t", kType, "Dummy Device 1", {}}),
            "7f42f2aad37fe2b8e1e6feea472fd1cec5d50a07");
  EXPECT_EQ(DeviceHash({"3g46h4h6h436h", kType, "Dummy Device 2", {{"type", "Dummy"}}}),
            "067167018963b7d0b98a30af48a439160db25ca8");
  EXPECT_EQ(DeviceHash({"46j5j67j6rt", kType, "Dummy Device 3", {}}),
            "ba8587c11cdeeda1d783cf1d8a3b74525748cede");
  EXPECT_EQ(DeviceHash({"1", "iot#40c41048-3910-468f-ae74-7425dde90963", "node-1", {}}),
            "19308f140c23a076aa396c20d702c191a08333ec");
}

TEST(PlatformHashTest, GatewayHashesMatchTheSpecVectorsInAnyOrder) {
  const std::vector<HashedDevice> devices = {
      {"asdsdfsf24t", kType, "Dummy Device 1", {}},
      {"3g46h4h6h436h", kType, "Dummy Device 2", {{"type", "Dummy"}}},
      {"46j5j67j6rt", kType, "Dummy Device 3", {}}};
  EXPECT_EQ(GatewayHashOf(devices), "dc78faada1e6851c3eea733ab7a1cf8d75f75a9a");
  EXPECT_EQ(GatewayHashOf({devices[2], devices[0], devices[1]}),
            "dc78faada1e6851c3eea733ab7a1cf8d75f75a9a");
  EXPECT_EQ(GatewayHashOf({{"1", "iot#40c41048-3910-468f-ae74-7425dde90963", "node-1", {}}}),
            "c0105876bcc53a154372fbabd91c9b8f40fef1e9");
  EXPECT_EQ(GatewayHash({}), kEmptyListHash);
  EXPECT_EQ(Sha1Hex(""), kEmptyListHash);
}

TEST(PlatformHashTest, TagOrderChangesTheHash) {
  const HashedDevice ab{"d", "t", "n", {{"a", "1"}, {"b", "2"}}};
  const HashedDevice ba{"d", "t", "n", {{"b", "2"}, {"a", "1"}}};
  EXPECT_NE(DeviceHash(ab), DeviceHash(ba));
  EXPECT_EQ(DeviceHash(ab), Sha1Hex("dtna1b2"));
}

TEST(PlatformEnvelopeTest, EncodesAllFiveFieldsInTheServersOrder) {
  Envelope envelope;
  envelope.status = 200;
  envelope.handler = "response";
  envelope.token = "5b0d6a0e";
  envelope.content_type = "string";
  envelope.payload = R"("ok")";
  EXPECT_EQ(
      EncodeEnvelope(envelope),
      R"({"status":200,"handler":"response","token":"5b0d6a0e","content_type":"string","payload":"ok"})");
  EXPECT_EQ(EncodeEnvelope(Envelope{}),
            R"({"status":0,"handler":"","token":"","content_type":"","payload":null})");
}

TEST(PlatformEnvelopeTest, DecodesWhatEncodeWritesAndWhatTheJsClientSends) {
  Envelope put;
  put.handler = "put";
  put.token = "t-1";
  put.payload = R"({"uri":"1","name":"node-1","iot_type":"x","tags":["a:b"]})";
  const auto decoded = DecodeEnvelope(EncodeEnvelope(put));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->handler, "put");
  EXPECT_EQ(decoded->token, "t-1");
  EXPECT_EQ(decoded->status, 0);
  EXPECT_EQ(decoded->payload, put.payload);

  const auto minimal = DecodeEnvelope(R"({"handler":"commit","token":"x","payload":"abc"})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->payload, R"("abc")");
  EXPECT_EQ(DecodeEnvelope(R"({"handler":"clear"})")->payload, "null");
}

TEST(PlatformEnvelopeTest, DecodeNamesTheProblem) {
  EXPECT_EQ(DecodeEnvelope("ERROR: unable to create response").error().message,
            "not JSON: Invalid value. at offset 0");
  EXPECT_EQ(DecodeEnvelope("[1]").error().message, "not a JSON object");
  EXPECT_EQ(DecodeEnvelope(R"({"handler":1})").error().message, "field 'handler' is not a string");
  EXPECT_EQ(DecodeEnvelope(R"({"status":"200"})").error().message,
            "field 'status' is not an integer");
}

TEST(PlatformHandshakeTest, CredentialsMessageHasTheFourKeys) {
  EXPECT_EQ(EncodeCredentials({"demo", "p\"w", "", "credentials"}),
            R"({"user":"demo","pw":"p\"w","gid":"","token":"credentials"})");
}

TEST(PlatformHandshakeTest, AcceptsOnlyAProperReply) {
  const auto good = DecodeEnvelope(
      R"({"status":200,"handler":"response","token":"credentials","content_type":"map","payload":{"gid":"iot#1","hash":""}})");
  ASSERT_TRUE(good.ok());
  const auto reply = DecodeHandshakeReply(*good);
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(reply->gateway_id, "iot#1");
  EXPECT_EQ(reply->hash, "");

  Envelope wrong_token = *good;
  wrong_token.token = "other";
  EXPECT_EQ(DecodeHandshakeReply(wrong_token).error().code, ErrorCode::kInvalidArgument);
  Envelope refused = *good;
  refused.status = 400;
  EXPECT_EQ(DecodeHandshakeReply(refused).error().code, ErrorCode::kPermissionDenied);
  Envelope no_gid = *good;
  no_gid.payload = R"({"hash":"x"})";
  EXPECT_EQ(DecodeHandshakeReply(no_gid).error().message, "handshake reply has no gateway id");
}

}  // namespace
}  // namespace coapgw::ws::platform
