#pragma once

// The JSON Schemas of a proto/ folder, compiled with RapidJSON 1.1.0's draft-04 validator, with
// references between the files resolved by file name (RapidJSON needs a provider for that).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/schema.h>

namespace coapgw::test {

/// Reads and parses a JSON file (UTF-8 validated); throws std::runtime_error naming the file and
/// the parse error.
rapidjson::Document ReadJsonFile(const std::string& path);

/// The regular files in `directory` whose names end with `suffix`, sorted; empty if it is missing.
std::vector<std::string> ListFiles(const std::string& directory, const std::string& suffix);

/// Outcome of validating one value.
struct Validation {
  bool valid = false;
  std::string problem;  // which keyword failed where, when invalid
};

class SchemaSet : public rapidjson::IRemoteSchemaDocumentProvider {
 public:
  /// Compiles `shared_file` (referenced by the others; must not refer to other files itself),
  /// then `files`, each keyed by its file name. Throws if a file does not parse.
  SchemaSet(const std::string& shared_file, const std::vector<std::string>& files);
  SchemaSet(const SchemaSet&) = delete;
  SchemaSet& operator=(const SchemaSet&) = delete;
  SchemaSet(SchemaSet&&) = delete;
  SchemaSet& operator=(SchemaSet&&) = delete;
  ~SchemaSet() override;

  /// True when a schema named `name` ("rd.device.registered.schema.json") was compiled.
  bool Has(const std::string& name) const { return schemas_.count(name) != 0; }

  /// Validates `value` against the schema `name`, which must exist.
  Validation Validate(const std::string& name, const rapidjson::Value& value) const;

  /// Remote references that named no compiled file. RapidJSON 1.1.0 silently accepts anything
  /// where such a reference stands, so this must stay empty.
  const std::vector<std::string>& unresolved() const { return unresolved_; }

  // rapidjson::IRemoteSchemaDocumentProvider
  const rapidjson::SchemaDocument* GetRemoteDocument(const char* uri,
                                                     rapidjson::SizeType length) override;

 private:
  struct Compiled {
    rapidjson::Document source;
    std::unique_ptr<rapidjson::SchemaDocument> schema;
  };
  void Compile(const std::string& path);

  std::map<std::string, std::unique_ptr<Compiled>> schemas_;
  std::vector<std::string> unresolved_;
};

}  // namespace coapgw::test
