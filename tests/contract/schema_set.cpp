#include "schema_set.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>

namespace coapgw::test {
namespace {

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

std::string UriFragment(const rapidjson::Pointer& pointer) {
  rapidjson::StringBuffer buffer;
  pointer.StringifyUriFragment(buffer);
  return buffer.GetString();
}

}  // namespace

rapidjson::Document ReadJsonFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string json = text.str();
  rapidjson::Document document;
  document.Parse<rapidjson::kParseValidateEncodingFlag>(json.c_str(), json.size());
  if (document.HasParseError()) {
    throw std::runtime_error(path + ": " + rapidjson::GetParseError_En(document.GetParseError()) +
                             " at offset " + std::to_string(document.GetErrorOffset()));
  }
  return document;
}

std::vector<std::string> ListFiles(const std::string& directory, const std::string& suffix) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

SchemaSet::SchemaSet(const std::string& shared_file, const std::vector<std::string>& files) {
  Compile(shared_file);
  for (const std::string& path : files) {
    if (!Has(FileName(path))) {
      Compile(path);
    }
  }
}

SchemaSet::~SchemaSet() = default;

void SchemaSet::Compile(const std::string& path) {
  auto compiled = std::make_unique<Compiled>();
  compiled->source = ReadJsonFile(path);
  compiled->schema = std::make_unique<rapidjson::SchemaDocument>(compiled->source, this);
  schemas_[FileName(path)] = std::move(compiled);
}

Validation SchemaSet::Validate(const std::string& name, const rapidjson::Value& value) const {
  rapidjson::SchemaValidator validator(*schemas_.at(name)->schema);
  Validation result;
  result.valid = value.Accept(validator);
  if (!result.valid) {
    result.problem = std::string("keyword '") + validator.GetInvalidSchemaKeyword() +
                     "' of schema " + UriFragment(validator.GetInvalidSchemaPointer()) +
                     " rejects " + UriFragment(validator.GetInvalidDocumentPointer());
  }
  return result;
}

const rapidjson::SchemaDocument* SchemaSet::GetRemoteDocument(const char* uri,
                                                              rapidjson::SizeType length) {
  // RapidJSON 1.1.0 passes the URI one character short (schema.h: GetRemoteDocument(s, i - 1)),
  // so accept the full name or the name missing its last character.
  const std::string requested(uri, length);
  for (const auto& [name, compiled] : schemas_) {
    if (name == requested || (name.size() == requested.size() + 1 &&
                              name.compare(0, requested.size(), requested) == 0)) {
      return compiled->schema.get();
    }
  }
  unresolved_.push_back(requested);
  return nullptr;
}

}  // namespace coapgw::test
