#include "events/schema_registry.hpp"

#include "events/detail/embedded_schemas.hpp"
#include "events/detail/schema_access.hpp"
#include "events/intake_errors.hpp"
#include "events/json/bounded_parse.hpp"

#include <algorithm>
#include <map>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/pointer.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <utility>

namespace ispflow::events {

namespace {

constexpr std::string_view billing_prefix = "billing.subscription.";

/// One schema file, compiled; shared by every type it serves.
struct compiled_schema {
  rapidjson::Document raw;
  std::unique_ptr<rapidjson::SchemaDocument> schema;
  std::vector<std::string> examples;
};

std::string compact(const rapidjson::Value& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buf};
  value.Accept(writer);
  return {buf.GetString(), buf.GetSize()};
}

std::string pointer_text(const rapidjson::Pointer& ptr) {
  rapidjson::StringBuffer buf;
  ptr.Stringify(buf);
  return {buf.GetString(), buf.GetSize()};
}

// Appends one reference token to a JSON pointer, escaping '~' and '/'.
std::string append_token(std::string ptr, std::string_view name) {
  ptr += '/';
  for (char c : name) {
    if (c == '~')
      ptr += "~0";
    else if (c == '/')
      ptr += "~1";
    else
      ptr += c;
  }
  return ptr;
}

std::string type_list(const rapidjson::Value& type) {
  if (type.IsString())
    return type.GetString();
  std::string out;
  if (type.IsArray()) {
    for (auto& t : type.GetArray()) {
      if (!out.empty())
        out += " or ";
      out += t.IsString() ? t.GetString() : compact(t);
    }
  }
  return out;
}

std::string number_text(const rapidjson::Value* v) {
  return v != nullptr && v->IsNumber() ? compact(*v) : std::string{"?"};
}

const rapidjson::Value* member(const rapidjson::Value* obj, const char* name) {
  if (obj == nullptr || !obj->IsObject())
    return nullptr;
  auto i = obj->FindMember(name);
  return i == obj->MemberEnd() ? nullptr : &i->value;
}

// Turns RapidJSON's (schema pointer, keyword, document pointer) into
// "<json pointer>: <why>", looking up what RapidJSON 1.1 does not report
// (the missing property, the allowed values, the expected type ...).
std::string describe(const rapidjson::SchemaValidator& validator,
                     const rapidjson::Document& raw_schema,
                     const rapidjson::Value& instance) {
  std::string keyword = validator.GetInvalidSchemaKeyword();
  auto doc_ptr = validator.GetInvalidDocumentPointer();
  auto where = pointer_text(doc_ptr);
  const rapidjson::Value* node
    = validator.GetInvalidSchemaPointer().Get(raw_schema);
  const rapidjson::Value* value = doc_ptr.Get(instance);
  // A schema may override the text for a keyword through `errorMessage`,
  // either a string or {"pointer": <relative pointer>, "message": text}.
  if (auto* custom = member(member(node, "errorMessage"), keyword.c_str())) {
    if (custom->IsString())
      return (where.empty() ? "(root)" : where) + ": " + custom->GetString();
    if (auto* msg = member(custom, "message"); msg && msg->IsString()) {
      if (auto* rel = member(custom, "pointer"); rel && rel->IsString())
        where += rel->GetString();
      return (where.empty() ? "(root)" : where) + ": " + msg->GetString();
    }
  }
  std::string why;
  if (keyword == "required") {
    std::vector<std::string> missing;
    if (auto* req = member(node, "required"); req && req->IsArray())
      for (auto& name : req->GetArray())
        if (name.IsString() && value != nullptr && value->IsObject()
            && !value->HasMember(name))
          missing.emplace_back(name.GetString(), name.GetStringLength());
    if (missing.empty()) {
      why = "a required property is missing";
    } else {
      where = append_token(where, missing.front());
      why = "required property missing";
      if (missing.size() > 1) {
        why += " (also missing:";
        for (size_t i = 1; i < missing.size(); ++i)
          why += " " + missing[i];
        why += ")";
      }
    }
  } else if (keyword == "additionalProperties") {
    const rapidjson::Value* props = member(node, "properties");
    std::string extra;
    if (value != nullptr && value->IsObject())
      for (auto& m : value->GetObject())
        if (props == nullptr || !props->IsObject()
            || !props->HasMember(m.name)) {
          extra.assign(m.name.GetString(), m.name.GetStringLength());
          break;
        }
    // RapidJSON may already point at the offending key.
    if (!extra.empty())
      where = append_token(where, extra);
    why = "property not allowed";
  } else if (keyword == "enum") {
    auto* allowed = member(node, "enum");
    if (allowed && allowed->IsArray() && allowed->Size() == 1) {
      why = "must be " + compact((*allowed)[0]);
    } else {
      why = "must be one of ";
      if (allowed && allowed->IsArray()) {
        bool first = true;
        for (auto& v : allowed->GetArray()) {
          if (!first)
            why += ", ";
          first = false;
          why += compact(v);
        }
      }
    }
  } else if (keyword == "type") {
    auto* type = member(node, "type");
    why = "must be of type " + (type ? type_list(*type) : std::string{"?"});
  } else if (keyword == "pattern") {
    auto* format = member(node, "format");
    auto* pattern = member(node, "pattern");
    if (format && format->IsString()
        && std::string_view{format->GetString()} == "date-time")
      why = "must be an RFC 3339 date-time";
    else
      why = "must match pattern "
            + (pattern && pattern->IsString()
                 ? std::string{pattern->GetString()}
                 : std::string{"?"});
  } else if (keyword == "minLength") {
    why = "must be at least " + number_text(member(node, "minLength"))
          + " characters long";
  } else if (keyword == "maxLength") {
    why = "must be at most " + number_text(member(node, "maxLength"))
          + " characters long";
  } else if (keyword == "minimum") {
    why = "must be >= " + number_text(member(node, "minimum"));
  } else if (keyword == "maximum") {
    why = "must be <= " + number_text(member(node, "maximum"));
  } else if (keyword == "anyOf" || keyword == "oneOf") {
    why = "matches "
          + std::string{keyword == "anyOf" ? "none" : "not exactly one"}
          + " of the alternatives (" + keyword + ")";
  } else {
    why = "violates " + keyword;
  }
  return (where.empty() ? "(root)" : where) + ": " + why;
}

} // namespace

struct schema_registry::impl {
  std::map<std::string, std::shared_ptr<const compiled_schema>, std::less<>>
    by_type;
  std::vector<std::string> errors;

  const compiled_schema* find(std::string_view type) const {
    auto i = by_type.find(type);
    return i == by_type.end() ? nullptr : i->second.get();
  }
};

schema_registry::schema_registry(
  const std::vector<std::pair<std::string, std::string>>& files)
  : impl_(std::make_unique<impl>()) {
  for (auto& [name, text] : files) {
    auto entry = std::make_shared<compiled_schema>();
    auto& raw = entry->raw;
    raw.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
    if (raw.HasParseError() || !raw.IsObject()) {
      impl_->errors.push_back(
        name + ".json: invalid JSON at offset "
        + std::to_string(raw.GetErrorOffset()) + ": "
        + rapidjson::GetParseError_En(raw.GetParseError()));
      continue;
    }
    entry->schema = std::make_unique<rapidjson::SchemaDocument>(raw);
    if (auto* ex = member(&raw, "examples"); ex && ex->IsArray())
      for (auto& e : ex->GetArray())
        entry->examples.push_back(compact(e));
    std::vector<std::string> served;
    if (auto* types = member(&raw, "x-event-types");
        types && types->IsArray()) {
      for (auto& t : types->GetArray())
        if (t.IsString())
          served.emplace_back(t.GetString(), t.GetStringLength());
    } else {
      served.push_back(name);
    }
    for (auto& type : served) {
      if (!impl_->by_type.emplace(type, entry).second)
        impl_->errors.push_back(name + ".json: type " + type
                                + " is already registered");
    }
  }
}

schema_registry::~schema_registry() = default;
schema_registry::schema_registry(schema_registry&&) noexcept = default;
schema_registry&
schema_registry::operator=(schema_registry&&) noexcept = default;

const schema_registry& schema_registry::builtin() {
  static const schema_registry instance{[] {
    std::vector<std::pair<std::string, std::string>> files;
    for (size_t i = 0; i < detail::embedded_schema_count; ++i)
      files.emplace_back(detail::embedded_schemas[i].file_name,
                         detail::embedded_schemas[i].text);
    return files;
  }()};
  return instance;
}

bool schema_registry::knows(std::string_view type) const {
  return impl_->find(type) != nullptr;
}

std::optional<intake_error>
schema_registry::validate(std::string_view type,
                          std::string_view json_text) const {
  if (!knows(type))
    return intake_error{std::string{intake_errors::unknown_type},
                        "no schema for type " + std::string{type}};
  // A small payload's DOM fits a buffer on the stack: no heap allocation
  // (RapidJSON's default pool would allocate 64 KiB for each call).
  char buffer[16 * 1024];
  rapidjson::MemoryPoolAllocator<> pool{buffer, sizeof buffer};
  rapidjson::Document doc{&pool};
  if (auto err = json::parse_bounded(doc, json_text))
    return intake_error{std::string{intake_errors::malformed_json},
                        "payload " + err->message};
  return detail::schema_access::validate(*this, type, doc);
}

std::vector<std::string>
schema_registry::examples(std::string_view type) const {
  if (auto* entry = impl_->find(type))
    return entry->examples;
  return {};
}

std::vector<std::string> schema_registry::types() const {
  std::vector<std::string> out;
  for (auto& kvp : impl_->by_type)
    out.push_back(kvp.first);
  return out;
}

std::vector<std::string> schema_registry::billing_input_types() const {
  std::vector<std::string> out;
  for (auto& kvp : impl_->by_type)
    if (is_billing_input(kvp.first))
      out.push_back(kvp.first);
  return out;
}

bool schema_registry::is_billing_input(std::string_view type) const {
  return type.size() > billing_prefix.size()
         && type.substr(0, billing_prefix.size()) == billing_prefix
         && knows(type);
}

const std::vector<std::string>& schema_registry::load_errors() const {
  return impl_->errors;
}

std::optional<intake_error>
detail::schema_access::validate(const schema_registry& reg,
                                std::string_view type,
                                const rapidjson::Value& value) {
  auto* entry = reg.impl_->find(type);
  if (entry == nullptr)
    return intake_error{std::string{intake_errors::unknown_type},
                        "no schema for type " + std::string{type}};
  rapidjson::SchemaValidator validator{*entry->schema};
  if (value.Accept(validator))
    return std::nullopt;
  return intake_error{std::string{intake_errors::schema_violation},
                      describe(validator, entry->raw, value)};
}

} // namespace ispflow::events
