#include "adapters/http/trace.hpp"

#include <cstdint>
#include <random>

namespace ispflow::adapters::http {

namespace {

bool lower_hex(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

bool all_zero(std::string_view s) noexcept {
  return s.find_first_not_of('0') == std::string_view::npos;
}

} // namespace

bool valid_traceparent(std::string_view tp) noexcept {
  // 2 + 1 + 32 + 1 + 16 + 1 + 2 characters.
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
    return false;
  auto version = tp.substr(0, 2);
  auto trace = tp.substr(3, 32);
  auto parent = tp.substr(36, 16);
  auto flags = tp.substr(53, 2);
  return version == "00" && lower_hex(trace) && lower_hex(parent)
         && lower_hex(flags) && !all_zero(trace) && !all_zero(parent);
}

std::string trace_id_of(std::string_view tp) {
  if (!valid_traceparent(tp))
    return {};
  return std::string{tp.substr(3, 32)};
}

std::string child_traceparent(std::string_view parent) {
  if (!valid_traceparent(parent))
    return {};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t span = 0;
  while (span == 0)
    span = rng();
  static constexpr char digits[] = "0123456789abcdef";
  std::string out{parent};
  for (int i = 0; i < 16; ++i)
    out[36 + i] = digits[(span >> (60 - 4 * i)) & 0xf];
  return out;
}

} // namespace ispflow::adapters::http
