// The contract between producers and consumers of bus messages: every golden example under
// proto/v1/examples is a valid envelope whose `data` validates against its topic's JSON Schema and
// survives libs/events decode → encode unchanged; every broken example under proto/v1/invalid is
// rejected by the schema; and schemas, examples, codec and README cannot drift apart.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "coapgw/bus/envelope.hpp"
#include "coapgw/events/codec.hpp"
#include "coapgw/test/process.hpp"
#include "schema_set.hpp"

namespace coapgw::test {
namespace {

constexpr char kSchemaSuffix[] = ".schema.json";
constexpr char kSharedSchema[] = "definitions.schema.json";

std::string ProtoDir() {
  // ctest sets COAPGW_SOURCE_DIR; by hand (and at test discovery) fall back to the configured tree.
  if (std::getenv("COAPGW_SOURCE_DIR") != nullptr) {
    return SourcePath("proto");
  }
  return std::string(COAPGW_DEFAULT_SOURCE_DIR) + "/proto";
}

std::string V1Dir() {
  return ProtoDir() + "/v1";
}
std::string EnvelopeSchemaPath() {
  return ProtoDir() + "/envelope.schema.json";
}

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

std::string Serialize(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return buffer.GetString();
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The topic schema files (everything but the shared definitions).
std::vector<std::string> TopicSchemaFiles() {
  std::vector<std::string> files;
  for (const std::string& path : ListFiles(V1Dir(), kSchemaSuffix)) {
    if (FileName(path) != kSharedSchema) {
      files.push_back(path);
    }
  }
  return files;
}

std::string TopicOfSchema(const std::string& path) {
  const std::string name = FileName(path);
  return name.substr(0, name.size() - std::string(kSchemaSuffix).size());
}

std::string SchemaNameOf(const std::string& topic) {
  return topic + kSchemaSuffix;
}

// The envelope as libs/bus reads it off the wire; empty when valid. The schema check below
// (proto/envelope.schema.json) covers the same ground once that file exists.
std::string EnvelopeProblem(const rapidjson::Document& envelope) {
  if (!envelope.IsObject() || !envelope.HasMember("type") || !envelope["type"].IsString()) {
    return "no string \"type\"";
  }
  const std::string topic = envelope["type"].GetString();
  if (!bus::IsValidTopic(topic)) {
    return "\"type\" '" + topic + "' is not a valid topic";
  }
  const Result<bus::EnvelopeHeader> header = bus::ReadEnvelopeHeader(envelope, topic);
  if (!header.ok()) {
    return header.error().message;
  }
  if (!bus::IsValidName(header->publisher)) {
    return "\"publisher\" '" + std::string(header->publisher) + "' is not a valid name";
  }
  return "";
}

struct Example {
  std::string path;
  std::string topic;
  rapidjson::Document envelope;
};

std::vector<Example> LoadExamples(const std::string& directory) {
  std::vector<Example> examples;
  for (const std::string& path : ListFiles(directory, ".json")) {
    Example example;
    example.path = path;
    example.envelope = ReadJsonFile(path);
    if (example.envelope.IsObject() && example.envelope.HasMember("type") &&
        example.envelope["type"].IsString()) {
      example.topic = example.envelope["type"].GetString();
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

// Everything under proto/v1, loaded once for all tests (a parse error throws, failing the test).
struct ProtoFiles {
  SchemaSet schemas{V1Dir() + "/" + kSharedSchema, TopicSchemaFiles()};
  std::vector<Example> examples = LoadExamples(V1Dir() + "/examples");
  std::vector<Example> invalid = LoadExamples(V1Dir() + "/invalid");
};

const ProtoFiles& Proto() {
  static const ProtoFiles files;
  return files;
}

TEST(ContractTest, FindsTheProtoFiles) {
  EXPECT_GE(TopicSchemaFiles().size(), 10U) << V1Dir();
  EXPECT_GE(Proto().examples.size(), 10U) << V1Dir();
  EXPECT_GE(Proto().invalid.size(), 5U) << V1Dir();
}

TEST(ContractTest, EveryRemoteSchemaReferenceResolves) {
  EXPECT_TRUE(Proto().schemas.unresolved().empty())
      << "unresolved: " << ::testing::PrintToString(Proto().schemas.unresolved());
}

TEST(ContractTest, EveryReferenceNamesAnExistingDefinition) {
  // Walks every "$ref" and resolves it by hand: RapidJSON 1.1 accepts anything where a local
  // reference does not resolve, so a typo would silently switch validation off.
  std::vector<std::string> files = TopicSchemaFiles();
  files.push_back(V1Dir() + "/" + kSharedSchema);
  for (const std::string& path : files) {
    const rapidjson::Document schema = ReadJsonFile(path);
    std::vector<const rapidjson::Value*> pending = {&schema};
    while (!pending.empty()) {
      const rapidjson::Value* value = pending.back();
      pending.pop_back();
      if (value->IsArray()) {
        for (const auto& item : value->GetArray()) {
          pending.push_back(&item);
        }
        continue;
      }
      if (!value->IsObject()) {
        continue;
      }
      for (const auto& member : value->GetObject()) {
        pending.push_back(&member.value);
      }
      const auto ref = value->FindMember("$ref");
      if (ref == value->MemberEnd()) {
        continue;
      }
      const std::string target = ref->value.GetString();
      const size_t hash = target.find('#');
      ASSERT_NE(hash, std::string::npos) << path << ": " << target;
      const std::string file = target.substr(0, hash);
      rapidjson::Document other;
      if (!file.empty()) {
        if (!std::filesystem::exists(V1Dir() + "/" + file)) {
          ADD_FAILURE() << path << ": " << target << " names a file that does not exist";
          continue;
        }
        other = ReadJsonFile(V1Dir() + "/" + file);
      }
      const rapidjson::Document& referenced = file.empty() ? schema : other;
      const rapidjson::Pointer pointer(target.substr(hash).c_str());
      ASSERT_TRUE(pointer.IsValid()) << path << ": " << target;
      EXPECT_NE(pointer.Get(referenced), nullptr) << path << ": dangling " << target;
    }
  }
}

TEST(ContractTest, ExamplesAreEnvelopesNamedAfterTheirTopic) {
  for (const Example& example : Proto().examples) {
    SCOPED_TRACE(example.path);
    EXPECT_EQ(EnvelopeProblem(example.envelope), "");
    const std::string name = FileName(example.path);
    EXPECT_TRUE(name == example.topic + ".json" || name.rfind(example.topic + ".", 0) == 0)
        << "an example's file name is <topic>.json or <topic>.<variant>.json";
  }
}

TEST(ContractTest, EnvelopeSchemaAcceptsEveryExample) {
  // TODO(bus): proto/envelope.schema.json belongs to libs/bus; until it lands this test skips and
  // EnvelopeProblem() above checks the envelope in code. It enables itself when the file appears.
  if (!std::filesystem::exists(EnvelopeSchemaPath())) {
    GTEST_SKIP() << EnvelopeSchemaPath() << " does not exist yet";
  }
  const SchemaSet envelope(EnvelopeSchemaPath(), {});
  for (const std::vector<Example>* set : {&Proto().examples, &Proto().invalid}) {
    for (const Example& example : *set) {
      const Validation validation =
          envelope.Validate(FileName(EnvelopeSchemaPath()), example.envelope);
      EXPECT_TRUE(validation.valid) << example.path << ": " << validation.problem;
    }
  }
  EXPECT_TRUE(envelope.unresolved().empty());
}

TEST(ContractTest, ExampleDataValidatesAgainstItsTopicSchema) {
  for (const Example& example : Proto().examples) {
    SCOPED_TRACE(example.path);
    ASSERT_TRUE(Proto().schemas.Has(SchemaNameOf(example.topic)))
        << "no schema for " << example.topic;
    const Validation validation =
        Proto().schemas.Validate(SchemaNameOf(example.topic), example.envelope["data"]);
    EXPECT_TRUE(validation.valid) << validation.problem;
  }
}

TEST(ContractTest, ExampleDataDecodesAndEncodesToTheSameJson) {
  for (const Example& example : Proto().examples) {
    SCOPED_TRACE(example.path);
    const rapidjson::Value& data = example.envelope["data"];
    const Result<std::string> reencoded = events::Reencode(example.topic, data);
    ASSERT_TRUE(reencoded.ok()) << reencoded.error().message;
    rapidjson::Document parsed;
    parsed.Parse(reencoded->c_str(), reencoded->size());
    ASSERT_FALSE(parsed.HasParseError()) << *reencoded;
    // DOM comparison: key order and whitespace do not matter, values and key sets do.
    EXPECT_TRUE(parsed == data) << "example:    " << Serialize(data)
                                << "\nre-encoded: " << *reencoded;
  }
}

TEST(ContractTest, InvalidExamplesAreRejectedBySchemaValidation) {
  for (const Example& example : Proto().invalid) {
    SCOPED_TRACE(example.path);
    // The envelope is fine, so the failure proves the data schema works.
    EXPECT_EQ(EnvelopeProblem(example.envelope), "");
    ASSERT_TRUE(Proto().schemas.Has(SchemaNameOf(example.topic)))
        << "no schema for " << example.topic;
    const Validation validation =
        Proto().schemas.Validate(SchemaNameOf(example.topic), example.envelope["data"]);
    EXPECT_FALSE(validation.valid) << "the schema accepted a broken example";
  }
}

TEST(ContractTest, EveryTopicSchemaHasAnExample) {
  std::set<std::string> topics_with_examples;
  for (const Example& example : Proto().examples) {
    topics_with_examples.insert(example.topic);
  }
  for (const std::string& path : TopicSchemaFiles()) {
    EXPECT_EQ(topics_with_examples.count(TopicOfSchema(path)), 1U)
        << path << " has no example under proto/v1/examples";
  }
}

TEST(ContractTest, CodecAndSchemasKnowTheSameTopics) {
  std::set<std::string> schema_topics;
  for (const std::string& path : TopicSchemaFiles()) {
    schema_topics.insert(TopicOfSchema(path));
  }
  std::set<std::string> codec_topics;
  for (const std::string_view topic : events::KnownTopics()) {
    codec_topics.emplace(topic);
  }
  EXPECT_EQ(schema_topics, codec_topics);
}

void CollectKeys(const rapidjson::Value& value, std::set<std::string>& keys) {
  if (value.IsArray()) {
    for (const auto& item : value.GetArray()) {
      CollectKeys(item, keys);
    }
  } else if (value.IsObject()) {
    for (const auto& member : value.GetObject()) {
      const std::string key = member.name.GetString();
      keys.insert(key);
      if (key != "attrs") {  // free-form attribute names, not keys of the protocol
        CollectKeys(member.value, keys);
      }
    }
  }
}

TEST(ContractTest, ReadmeDocumentsEveryTopicAndEveryKey) {
  const std::string readme = ReadText(ProtoDir() + "/README.md");
  ASSERT_FALSE(readme.empty()) << ProtoDir() << "/README.md";
  for (const std::string_view topic : events::KnownTopics()) {
    EXPECT_NE(readme.find("### `" + std::string(topic) + "`"), std::string::npos)
        << "README has no section for " << topic;
  }
  for (const Example& example : Proto().examples) {
    std::set<std::string> keys;
    CollectKeys(example.envelope["data"], keys);
    for (const std::string& key : keys) {
      EXPECT_NE(readme.find("| `" + key + "`"), std::string::npos)
          << "README has no table row for key '" << key << "' (" << example.path << ")";
    }
  }
}

TEST(SchemaSetTest, ReportsReferencesToUnknownFiles) {
  // The guard EveryRemoteSchemaReferenceResolves relies on: a dangling remote reference is seen.
  const std::string directory = ::testing::TempDir() + "/coapgw-contract-schema-set";
  std::filesystem::create_directories(directory);
  const std::string shared = directory + "/shared.schema.json";
  const std::string topic = directory + "/topic.schema.json";
  std::ofstream(shared) << R"({"definitions":{"n":{"type":"integer"}}})";
  std::ofstream(topic) << R"({"properties":{"a":{"$ref":"shared.schema.json#/definitions/n"},)"
                       << R"("b":{"$ref":"missing.schema.json#/definitions/n"}}})";
  const SchemaSet set(shared, {topic});
  ASSERT_EQ(set.unresolved().size(), 1U);
  EXPECT_EQ(set.unresolved()[0].rfind("missing.schema.js", 0), 0U);
  rapidjson::Document bad;
  bad.Parse(R"({"a":"not a number"})");
  EXPECT_FALSE(set.Validate("topic.schema.json", bad).valid);
  std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace coapgw::test
