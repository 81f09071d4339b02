#pragma once

#include <cstddef>

namespace ispflow::events::detail {

/// One schema file of events/schemas, embedded at build time.
struct embedded_schema {
  const char* file_name; ///< the file name without `.json`
  const char* text;      ///< the file's contents
};

/// All embedded schema files, sorted by file name (generated source).
extern const embedded_schema embedded_schemas[];

/// Number of entries in `embedded_schemas`.
extern const std::size_t embedded_schema_count;

} // namespace ispflow::events::detail
