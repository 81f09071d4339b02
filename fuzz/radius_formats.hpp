#pragma once

// Vendor formats shared by the RADIUS fuzz targets: the layouts FreeRADIUS
// dictionaries use (1,1 by default; 2,2 for USR-style vendors; 4,0 and 1,0
// for vendors without a length field) and one unsupported layout, so the
// codec's error path is reached too.

#include "adapters/radius/protocol/packet.hpp"

#include <cstdint>

namespace ispflow_fuzz {

/// Vendor ids with a known format in `mixed_formats`.
inline constexpr uint32_t fuzz_vendors[] = {14988, 8164, 429, 9, 5, 311};

/// 14988 -> 1,1; 8164 -> 2,2; 429 -> 4,0; 9 -> 1,0; 5 -> 3,1 (invalid);
/// every other vendor -> 1,1.
inline ispflow::adapters::radius::vendor_format mixed_format(uint32_t vendor) {
  using ispflow::adapters::radius::vendor_format;
  switch (vendor) {
    case 8164:
      return vendor_format{2, 2};
    case 429:
      return vendor_format{4, 0};
    case 9:
      return vendor_format{1, 0};
    case 5:
      return vendor_format{3, 1};
    default:
      return vendor_format{1, 1};
  }
}

/// `mixed_format` as the codec's resolver.
inline const ispflow::adapters::radius::vendor_format_fn& mixed_formats() {
  static const ispflow::adapters::radius::vendor_format_fn fn = mixed_format;
  return fn;
}

} // namespace ispflow_fuzz
