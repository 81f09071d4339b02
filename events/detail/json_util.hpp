#pragma once

// Private to ispflow_events: helpers shared by the JSON codecs.

#include "events/detail/schema_access.hpp"
#include "events/errc.hpp"
#include "events/json/bounded_parse.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <string>
#include <string_view>

namespace ispflow::events::detail {

/// Parses `json` and validates it against `type`'s built-in schema.
inline caf::error parse_valid(rapidjson::Document& doc, std::string_view type,
                              std::string_view json) {
  if (auto err = json::parse_bounded(doc, json))
    return caf::make_error(errc::invalid_input,
                           "malformed_json: the text " + err->message);
  if (auto err = schema_access::validate(schema_registry::builtin(), type, doc))
    return caf::make_error(errc::invalid_input, err->code + ": " + err->detail);
  return caf::none;
}

/// The string member `name`, or "" when absent.
inline std::string get_string(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject())
    return {};
  auto i = obj.FindMember(name);
  if (i == obj.MemberEnd() || !i->value.IsString())
    return {};
  return {i->value.GetString(), i->value.GetStringLength()};
}

/// The integer member `name`, or `fallback` when absent.
inline int64_t get_int(const rapidjson::Value& obj, const char* name,
                       int64_t fallback) {
  if (!obj.IsObject())
    return fallback;
  auto i = obj.FindMember(name);
  if (i == obj.MemberEnd() || !i->value.IsInt64())
    return fallback;
  return i->value.GetInt64();
}

/// The boolean member `name`, or false when absent.
inline bool get_bool(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject())
    return false;
  auto i = obj.FindMember(name);
  return i != obj.MemberEnd() && i->value.IsBool() && i->value.GetBool();
}

/// The object member `name`, or nullptr.
inline const rapidjson::Value* get_object(const rapidjson::Value& obj,
                                          const char* name) {
  if (!obj.IsObject())
    return nullptr;
  auto i = obj.FindMember(name);
  return i != obj.MemberEnd() && i->value.IsObject() ? &i->value : nullptr;
}

/// A compact JSON writer with helpers for optional fields.
class json_writer {
public:
  json_writer() : writer_(buf_) {
    // nop
  }

  /// Opens an object, optionally as member `key`.
  void begin(const char* key = nullptr) {
    if (key != nullptr)
      writer_.Key(key);
    writer_.StartObject();
  }

  /// Closes the current object.
  void end() {
    writer_.EndObject();
  }

  /// Writes `key: value` always.
  void field(const char* key, const std::string& value) {
    writer_.Key(key);
    writer_.String(value.data(),
                   static_cast<rapidjson::SizeType>(value.size()));
  }

  /// Writes `key: value` unless `value` is empty.
  void optional(const char* key, const std::string& value) {
    if (!value.empty())
      field(key, value);
  }

  /// Writes an integer member.
  void field(const char* key, int64_t value) {
    writer_.Key(key);
    writer_.Int64(value);
  }

  /// Writes a boolean member.
  void flag(const char* key, bool value) {
    writer_.Key(key);
    writer_.Bool(value);
  }

  /// The text written so far.
  std::string str() const {
    return {buf_.GetString(), buf_.GetSize()};
  }

private:
  rapidjson::StringBuffer buf_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

} // namespace ispflow::events::detail
