// docs/configuration.md against the binaries: every setting a binary's --help prints is documented
// in that binary's section (or in "Every binary") with the same flag, type, default and
// required-ness, and every COAPGW_ name the page mentions exists. When a setting is added,
// renamed or changes its default, this test fails and says which row to write.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coapgw/test/command.hpp"
#include "coapgw/test/process.hpp"

namespace coapgw {
namespace {

constexpr const char* kDoc = "docs/configuration.md";
constexpr const char* kCommonSection = "Every binary";
// Names after this heading are read by the scripts or by a library, not through settings.
constexpr const char* kScriptsSection = "Other environment variables";

const std::vector<std::string> kBinaries = {
    "coapgw-bus",      "coapgw-rd",     "coapgw-ws-connector", "coapgw-executer",
    "coapgw-observer", "coapgw-pinger", "coapgw-platform-sim", "coapgw-device-sim"};

// One setting as --help prints it (libs/common Settings::HelpText).
struct HelpSetting {
  std::string env;
  std::string flag;
  std::string type;  // string, duration, integer, boolean
  std::string default_value;
  bool required = false;
  std::string help;
};

// One row of a settings table in the page.
struct DocRow {
  std::string flag;
  std::string type;
  std::string default_cell;
  int line = 0;
};

std::string Trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) {
    return "";
  }
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string Unquote(const std::string& cell) {
  const std::string trimmed = Trim(cell);
  if (trimmed.size() >= 2 && trimmed.front() == '`' && trimmed.back() == '`') {
    return trimmed.substr(1, trimmed.size() - 2);
  }
  return trimmed;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::string TypeOfHint(const std::string& hint) {
  if (hint == "(duration)") {
    return "duration";
  }
  if (hint == "(integer)") {
    return "integer";
  }
  if (hint == "(true/false)") {
    return "boolean";
  }
  return hint.empty() ? "string" : "unknown " + hint;
}

// "  --rd-listen VALUE (duration)" then "      COAPGW_RD_LISTEN: text [default: x]".
std::vector<HelpSetting> ParseHelp(const std::string& text) {
  std::vector<HelpSetting> settings;
  const auto lines = Lines(text);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    const std::string flag_line = Trim(lines[i]);
    const size_t value_at = flag_line.find(" VALUE");
    if (flag_line.rfind("--", 0) != 0 || value_at == std::string::npos) {
      continue;
    }
    const std::string description = Trim(lines[i + 1]);
    const size_t colon = description.find(": ");
    if (description.rfind("COAPGW_", 0) != 0 || colon == std::string::npos) {
      continue;
    }
    HelpSetting setting;
    setting.flag = flag_line.substr(0, value_at);
    setting.type = TypeOfHint(Trim(flag_line.substr(value_at + 6)));
    setting.env = description.substr(0, colon);
    setting.help = description.substr(colon + 2);
    const std::string kRequired = " [required]";
    const std::string kDefault = " [default: ";
    if (setting.help.size() > kRequired.size() &&
        setting.help.compare(setting.help.size() - kRequired.size(), kRequired.size(), kRequired) ==
            0) {
      setting.required = true;
      setting.help.resize(setting.help.size() - kRequired.size());
    } else if (const size_t at = setting.help.rfind(kDefault);
               at != std::string::npos && setting.help.back() == ']') {
      setting.default_value =
          setting.help.substr(at + kDefault.size(), setting.help.size() - at - kDefault.size() - 1);
      setting.help.resize(at);
    }
    settings.push_back(setting);
  }
  return settings;
}

// The documented default as it must be written for `setting`.
std::string ExpectedDefaultCell(const HelpSetting& setting) {
  if (setting.required) {
    return "required";
  }
  return setting.default_value.empty() ? "—" : "`" + setting.default_value + "`";
}

std::string SuggestedRow(const HelpSetting& setting) {
  return "| `" + setting.env + "` | `" + setting.flag + "` | " + setting.type + " | " +
         ExpectedDefaultCell(setting) + " | " + setting.help + " |";
}

struct Page {
  // section heading (binary name without backticks, or kCommonSection) -> env -> row
  std::map<std::string, std::map<std::string, DocRow>> sections;
  std::map<std::string, int> names_for_binaries;  // COAPGW_ name -> first line
  std::map<std::string, int> names_for_scripts;
};

Page ParsePage(const std::string& text) {
  Page page;
  const std::regex name_pattern("COAPGW_[A-Z0-9_]+");
  std::string section;
  bool in_scripts = false;
  const auto lines = Lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const int line_number = static_cast<int>(i) + 1;
    if (line.rfind("## ", 0) == 0) {
      section = Unquote(line.substr(3));
      in_scripts = in_scripts || section == kScriptsSection;
      continue;
    }
    auto& names = in_scripts ? page.names_for_scripts : page.names_for_binaries;
    for (std::sregex_iterator it(line.begin(), line.end(), name_pattern), end; it != end; ++it) {
      names.emplace(it->str(), line_number);
    }
    if (in_scripts || line.rfind("| `COAPGW_", 0) != 0) {
      continue;
    }
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) {
      cells.push_back(cell);
    }
    if (cells.size() < 5) {
      ADD_FAILURE() << kDoc << ":" << line_number
                    << ": a settings row needs | variable | flag | type | default | meaning |";
      continue;
    }
    page.sections[section][Unquote(cells[0])] =
        DocRow{Unquote(cells[1]), Trim(cells[2]), Trim(cells[3]), line_number};
  }
  return page;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class ConfigurationDocTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    page_ = new Page();
    helps_ = new std::map<std::string, std::vector<HelpSetting>>();
    const std::string text = ReadFile(test::SourcePath(kDoc));
    ASSERT_FALSE(text.empty()) << "cannot read " << test::SourcePath(kDoc);
    *page_ = ParsePage(text);
    for (const auto& binary : kBinaries) {
      const auto output = test::RunCommand(test::BinaryPath(binary) + " --help");
      ASSERT_EQ(output.exit_code, 0)
          << binary << " --help failed (is it built? " << test::BinaryPath(binary) << "):\n"
          << output.text;
      (*helps_)[binary] = ParseHelp(output.text);
      ASSERT_GE((*helps_)[binary].size(), 3u)
          << binary << " --help lists fewer settings than the common three:\n"
          << output.text;
    }
    ready_ = true;
  }
  static void TearDownTestSuite() {
    ready_ = false;
    delete page_;
    delete helps_;
    page_ = nullptr;
    helps_ = nullptr;
  }

  static const DocRow* Find(const std::string& section, const std::string& env) {
    const auto found = page_->sections.find(section);
    if (found == page_->sections.end()) {
      return nullptr;
    }
    const auto row = found->second.find(env);
    return row == found->second.end() ? nullptr : &row->second;
  }

  void SetUp() override {
    ASSERT_TRUE(ready_) << "the page or a binary's --help could not be read";
  }

  static bool ready_;
  static Page* page_;
  static std::map<std::string, std::vector<HelpSetting>>* helps_;
};

bool ConfigurationDocTest::ready_ = false;
Page* ConfigurationDocTest::page_ = nullptr;
std::map<std::string, std::vector<HelpSetting>>* ConfigurationDocTest::helps_ = nullptr;

TEST_F(ConfigurationDocTest, EverySettingOfEveryBinaryIsDocumentedAsHelpPrintsIt) {
  for (const auto& [binary, settings] : *helps_) {
    for (const auto& setting : settings) {
      const DocRow* row = Find(binary, setting.env);
      std::string where = "section `" + binary + "`";
      if (row == nullptr) {
        row = Find(kCommonSection, setting.env);
        where = "section \"" + std::string(kCommonSection) + "\"";
      }
      if (row == nullptr) {
        ADD_FAILURE() << binary << " --help prints " << setting.env
                      << ", which docs/configuration.md does not document. Update "
                         "docs/configuration.md: add to the section \"## `"
                      << binary << "`\" the row\n  " << SuggestedRow(setting)
                      << "\n(and say more in its meaning than --help does, if there is more).";
        continue;
      }
      const std::string context = std::string(kDoc) + ":" + std::to_string(row->line) + " (" +
                                  where + ", " + setting.env + "): ";
      EXPECT_EQ(row->flag, setting.flag)
          << context << "the flag differs from " << binary << " --help. Update " << kDoc;
      EXPECT_EQ(row->type, setting.type)
          << context << "the type differs from " << binary << " --help. Update " << kDoc;
      EXPECT_EQ(row->default_cell, ExpectedDefaultCell(setting))
          << context << "the default differs from " << binary << " --help (\"" << setting.help
          << "\"). Update " << kDoc;
    }
  }
}

TEST_F(ConfigurationDocTest, EveryDocumentedRowIsASettingOfItsBinary) {
  for (const auto& [section, rows] : page_->sections) {
    for (const auto& [env, row] : rows) {
      std::vector<std::string> binaries;
      if (section == kCommonSection) {
        binaries = kBinaries;
      } else if (helps_->count(section) != 0) {
        binaries = {section};
      } else {
        ADD_FAILURE() << kDoc << ":" << row.line << ": " << env << " is in section \"" << section
                      << "\", which is not a binary (expected one of the binaries or \""
                      << kCommonSection << "\")";
        continue;
      }
      for (const auto& binary : binaries) {
        const auto& settings = helps_->at(binary);
        const bool present =
            std::any_of(settings.begin(), settings.end(),
                        [&env = env](const HelpSetting& s) { return s.env == env; });
        EXPECT_TRUE(present) << kDoc << ":" << row.line << ": documents " << env << " for "
                             << binary << ", but " << binary
                             << " --help does not list it (renamed or removed?). Update " << kDoc;
      }
    }
  }
}

TEST_F(ConfigurationDocTest, EveryCoapgwNameOnThePageExists) {
  std::set<std::string> known;
  for (const auto& [binary, settings] : *helps_) {
    for (const auto& setting : settings) {
      known.insert(setting.env);
    }
  }
  ASSERT_FALSE(page_->names_for_binaries.empty());
  for (const auto& [name, line] : page_->names_for_binaries) {
    EXPECT_TRUE(known.count(name) != 0)
        << kDoc << ":" << line << ": " << name << " is not printed by any binary's --help. Update "
        << kDoc << " (or move it under \"## " << kScriptsSection << "\" if a script reads it)";
  }
  // The other variables: each must occur in scripts/, tests/support/ or libs/coap (getenv).
  std::string scripts;
  for (const char* folder : {"scripts", "tests/support", "libs/coap/src"}) {
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(test::SourcePath(folder))) {
      if (entry.is_regular_file()) {
        scripts += ReadFile(entry.path().string());
      }
    }
  }
  for (const auto& [name, line] : page_->names_for_scripts) {
    if (known.count(name) != 0) {
      continue;  // a setting mentioned again where a script sets it
    }
    EXPECT_NE(scripts.find(name), std::string::npos)
        << kDoc << ":" << line << ": " << name
        << " is neither a binary's setting nor read by scripts/, tests/support/ or libs/coap. "
           "Update "
        << kDoc;
  }
}

// The other operator pages name settings too: each name must be one a binary has, or one of
// configuration.md's "Other environment variables".
TEST_F(ConfigurationDocTest, EveryCoapgwNameOnTheOtherOperatorPagesExists) {
  std::set<std::string> known;
  for (const auto& [binary, settings] : *helps_) {
    for (const auto& setting : settings) {
      known.insert(setting.env);
    }
  }
  for (const auto& [name, line] : page_->names_for_scripts) {
    known.insert(name);
  }
  const std::regex name_pattern("COAPGW_[A-Z0-9_]+");
  for (const char* page :
       {"docs/getting-started.md", "docs/operations.md", "docs/troubleshooting.md"}) {
    const std::string text = ReadFile(test::SourcePath(page));
    ASSERT_FALSE(text.empty()) << "cannot read " << test::SourcePath(page);
    const auto lines = Lines(text);
    for (size_t i = 0; i < lines.size(); ++i) {
      for (std::sregex_iterator it(lines[i].begin(), lines[i].end(), name_pattern), end; it != end;
           ++it) {
        EXPECT_TRUE(known.count(it->str()) != 0)
            << page << ":" << i + 1 << ": " << it->str()
            << " is neither printed by a binary's --help nor listed in " << kDoc << " (\"## "
            << kScriptsSection << "\"). Update " << page << " or " << kDoc;
      }
    }
  }
}

}  // namespace
}  // namespace coapgw
