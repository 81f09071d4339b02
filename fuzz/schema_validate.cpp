// Fuzz target: the JSON Schema validator (events/schema_registry.*).
//
// Input format: the whole input is JSON text. It is validated against every
// billing input schema (billing.subscription.*), then against one more
// registered type chosen by the input's length, so the saga and lifecycle
// schemas are reached too.
//
// Properties checked besides "no crash, no leak, no UB": the verdict is
// nothing (valid), `malformed_json` with the offset, or `schema_violation`
// with a "<json pointer>: <why>" detail; the same text gets the same verdict
// from every billing schema as far as JSON syntax goes (either every schema
// calls it malformed or none does).

#include "events/schema_registry.hpp"
#include "fuzz/fuzz_check.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ispflow::events;

struct types_cache {
  std::vector<std::string> billing;
  std::vector<std::string> all;
};

const types_cache& types() {
  static const types_cache cache{
    schema_registry::builtin().billing_input_types(),
    schema_registry::builtin().types()};
  return cache;
}

// Returns true when the verdict says the text is not JSON.
bool check_verdict(const std::optional<intake_error>& verdict) {
  if (!verdict)
    return false;
  if (verdict->code == "malformed_json") {
    // events::json::parse_bounded's refusals: syntax, depth or size.
    FUZZ_CHECK(verdict->detail.starts_with("payload is not valid JSON at "
                                           "offset ")
               || verdict->detail.starts_with("payload is nested deeper than ")
               || verdict->detail.starts_with("payload is "));
    return true;
  }
  FUZZ_CHECK(verdict->code == "schema_violation");
  FUZZ_CHECK(verdict->detail.starts_with("/")
             || verdict->detail.starts_with("(root)"));
  FUZZ_CHECK(verdict->detail.find(": ") != std::string::npos);
  return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  const auto& reg = schema_registry::builtin();
  const auto& t = types();
  FUZZ_CHECK(!t.billing.empty());
  int malformed = 0;
  for (auto& type : t.billing)
    malformed += check_verdict(reg.validate(type, text)) ? 1 : 0;
  FUZZ_CHECK(malformed == 0 || malformed == static_cast<int>(t.billing.size()));
  check_verdict(reg.validate(t.all[size % t.all.size()], text));
  return 0;
}
