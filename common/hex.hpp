#pragma once

#include <optional>
#include <string>
#include <string_view>

// Hex text of bytes and back: digests, signatures, keys and FreeRADIUS's
// octets values.

namespace ispflow::common {

/// `bytes` as lower-case hex, two digits a byte.
inline std::string hex_encode(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0x0f];
  }
  return out;
}

/// The value of one hex digit (either case), -1 for any other character.
inline int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// The bytes of `text`, an even number of hex digits (either case);
/// nothing for any other text.
inline std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    auto hi = hex_digit(text[i]);
    auto lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

} // namespace ispflow::common
