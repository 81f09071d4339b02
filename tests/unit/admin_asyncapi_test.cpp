#include <filesystem>
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <vector>
#include <yaml-cpp/yaml.h>

namespace fs = std::filesystem;

namespace {

const fs::path source_dir{ISPFLOW_SOURCE_DIR};
const fs::path doc_path = source_dir / "docs" / "events.asyncapi.yaml";

// Every `$ref` value in the document, wherever it appears.
void collect_refs(const YAML::Node& node, std::vector<std::string>& out) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (it->first.as<std::string>() == "$ref" && it->second.IsScalar())
        out.push_back(it->second.as<std::string>());
      else
        collect_refs(it->second, out);
    }
  } else if (node.IsSequence()) {
    for (auto child : node)
      collect_refs(child, out);
  }
}

// Follows a local JSON pointer ("#/components/messages/x").
bool resolves(const YAML::Node& doc, const std::string& pointer) {
  YAML::Node cur = YAML::Clone(doc);
  std::string rest = pointer.substr(2);
  size_t start = 0;
  while (start <= rest.size()) {
    auto end = rest.find('/', start);
    auto key = rest.substr(start, end == std::string::npos ? end : end - start);
    if (!cur.IsMap() || !cur[key])
      return false;
    cur = cur[key];
    if (end == std::string::npos)
      break;
    start = end + 1;
  }
  return true;
}

std::set<std::string> schema_files() {
  std::set<std::string> out;
  for (auto& e : fs::directory_iterator(source_dir / "events" / "schemas"))
    if (e.path().extension() == ".json")
      out.insert(e.path().filename().string());
  return out;
}

YAML::Node load() {
  try {
    return YAML::LoadFile(doc_path.string());
  } catch (const std::exception& e) {
    ADD_FAILURE() << doc_path << ": " << e.what();
    return YAML::Node{};
  }
}

} // namespace

TEST(admin_asyncapi, is_asyncapi_2_6_with_the_four_topics) {
  auto doc = load();
  ASSERT_TRUE(doc.IsMap());
  EXPECT_EQ(doc["asyncapi"].as<std::string>(), "2.6.0");
  for (auto topic : {"billing.events.v1", "lifecycle.events.v1",
                     "saga.events.v1", "billing.events.v1.dlq"})
    EXPECT_TRUE(doc["channels"][topic]) << topic;
  EXPECT_TRUE(doc["channels"]["billing.events.v1"]["publish"]);
  EXPECT_TRUE(doc["channels"]["saga.events.v1"]["subscribe"]);
}

TEST(admin_asyncapi, every_reference_resolves) {
  auto doc = load();
  std::vector<std::string> refs;
  collect_refs(doc, refs);
  ASSERT_FALSE(refs.empty());
  for (auto& ref : refs) {
    if (ref.starts_with("#/")) {
      EXPECT_TRUE(resolves(doc, ref)) << ref;
    } else {
      auto target = doc_path.parent_path() / ref;
      EXPECT_TRUE(fs::is_regular_file(target)) << ref;
      EXPECT_EQ(fs::weakly_canonical(target).parent_path(),
                fs::weakly_canonical(source_dir / "events" / "schemas"))
        << ref << " must point into events/schemas";
    }
  }
}

TEST(admin_asyncapi, every_schema_file_is_referenced_by_a_message) {
  auto doc = load();
  std::set<std::string> referenced;
  auto messages = doc["components"]["messages"];
  ASSERT_TRUE(messages.IsMap());
  for (auto it = messages.begin(); it != messages.end(); ++it) {
    auto payload = it->second["payload"];
    if (payload && payload["$ref"]) {
      auto ref = payload["$ref"].as<std::string>();
      auto file = fs::path{ref}.filename().string();
      referenced.insert(file);
      // The message name is the schema's event type.
      EXPECT_EQ(it->second["name"].as<std::string>() + ".json", file);
    }
  }
  for (auto& f : schema_files())
    EXPECT_TRUE(referenced.count(f) == 1) << f << " is not in the AsyncAPI";
}

TEST(admin_asyncapi, every_message_is_used_by_a_channel) {
  auto doc = load();
  std::vector<std::string> refs;
  collect_refs(doc["channels"], refs);
  std::set<std::string> used(refs.begin(), refs.end());
  auto messages = doc["components"]["messages"];
  for (auto it = messages.begin(); it != messages.end(); ++it) {
    auto ref = "#/components/messages/" + it->first.as<std::string>();
    EXPECT_TRUE(used.count(ref) == 1) << ref << " belongs to no channel";
  }
}
