#pragma once

// Secret fields (is_secret_field) in a parsed JSON document. Header-only,
// for modules that already use RapidJSON (link ispflow::rapidjson).

#include "sagas/instance.hpp"

#include <rapidjson/document.h>

namespace ispflow::sagas {

/// Removes the members of `v` whose names is_secret_field calls secret, at
/// any depth; true if there were any.
inline bool erase_secret_members(rapidjson::Value& v) {
  bool erased = false;
  if (v.IsObject()) {
    for (auto m = v.MemberBegin(); m != v.MemberEnd();) {
      if (is_secret_field({m->name.GetString(), m->name.GetStringLength()})) {
        m = v.EraseMember(m);
        erased = true;
      } else {
        erased = erase_secret_members(m->value) || erased;
        ++m;
      }
    }
  } else if (v.IsArray()) {
    for (auto& x : v.GetArray())
      erased = erase_secret_members(x) || erased;
  }
  return erased;
}

} // namespace ispflow::sagas
