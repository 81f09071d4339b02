#include "sagas/states.hpp"

#include <array>
#include <ostream>
#include <utility>

namespace ispflow::sagas {

namespace {

constexpr std::array<std::pair<saga_state, std::string_view>, 7> saga_names{{
  {saga_state::pending, "pending"},
  {saga_state::running, "running"},
  {saga_state::completed, "completed"},
  {saga_state::compensating, "compensating"},
  {saga_state::compensated, "compensated"},
  {saga_state::needs_attention, "needs_attention"},
  {saga_state::cancelled, "cancelled"},
}};

constexpr std::array<std::pair<step_state, std::string_view>, 7> step_names{{
  {step_state::pending, "pending"},
  {step_state::running, "running"},
  {step_state::succeeded, "succeeded"},
  {step_state::failed, "failed"},
  {step_state::compensating, "compensating"},
  {step_state::compensated, "compensated"},
  {step_state::skipped, "skipped"},
}};

template <class Table, class Enum>
std::string_view name_of(const Table& table, Enum x) noexcept {
  for (auto& [value, name] : table)
    if (value == x)
      return name;
  return "invalid";
}

template <class Enum, class Table>
std::optional<Enum>
value_of(const Table& table, std::string_view str) noexcept {
  for (auto& [value, name] : table)
    if (name == str)
      return value;
  return std::nullopt;
}

} // namespace

std::string_view to_string(saga_state x) noexcept {
  return name_of(saga_names, x);
}

std::string_view to_string(step_state x) noexcept {
  return name_of(step_names, x);
}

std::optional<saga_state> parse_saga_state(std::string_view str) noexcept {
  return value_of<saga_state>(saga_names, str);
}

std::optional<step_state> parse_step_state(std::string_view str) noexcept {
  return value_of<step_state>(step_names, str);
}

std::ostream& operator<<(std::ostream& os, saga_state x) {
  return os << to_string(x);
}

std::ostream& operator<<(std::ostream& os, step_state x) {
  return os << to_string(x);
}

bool is_terminal(saga_state x) noexcept {
  return x == saga_state::completed || x == saga_state::compensated
         || x == saga_state::cancelled;
}

} // namespace ispflow::sagas
