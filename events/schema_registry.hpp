#pragma once

#include "events/cloud_event.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::events {

namespace detail {
struct schema_access;
} // namespace detail

/// The JSON Schemas (draft-04) of every event type, compiled once. The
/// built-in registry holds the files of events/schemas, embedded at build
/// time. A schema file serves the type named by its file name, or each type
/// listed in its `x-event-types` array. Thread-safe: all members are const.
class schema_registry {
public:
  /// The registry of the embedded events/schemas files, built on first use.
  static const schema_registry& builtin();

  /// Builds a registry from (file name, schema text) pairs; schemas that do
  /// not parse are skipped and reported by `load_errors()`.
  explicit schema_registry(
    const std::vector<std::pair<std::string, std::string>>& files);

  ~schema_registry();
  schema_registry(schema_registry&&) noexcept;
  schema_registry& operator=(schema_registry&&) noexcept;

  /// True if a schema is registered for `type`.
  bool knows(std::string_view type) const;

  /// Validates `json_text` against `type`'s schema. Returns nullopt when it
  /// is valid, else an error: "unknown_type" for an unregistered type,
  /// "malformed_json" for text that is not UTF-8 JSON, or "schema_violation"
  /// with detail "<json pointer>: <why>", e.g. "/plan_id: required property
  /// missing" or "/service_type: must be one of \"ftth\", \"wireless\",
  /// \"fixed\"". The root is written as "(root)".
  std::optional<intake_error> validate(std::string_view type,
                                       std::string_view json_text) const;

  /// The schema's `examples`, each as compact JSON text.
  std::vector<std::string> examples(std::string_view type) const;

  /// Every registered type, sorted.
  std::vector<std::string> types() const;

  /// The types billing may send (`billing.subscription.*`), sorted.
  std::vector<std::string> billing_input_types() const;

  /// True if `type` is one of `billing_input_types()`.
  bool is_billing_input(std::string_view type) const;

  /// Problems found while loading schemas, e.g. "x.json: invalid JSON at
  /// offset 12"; empty for a healthy registry.
  const std::vector<std::string>& load_errors() const;

private:
  friend struct detail::schema_access;
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::events
