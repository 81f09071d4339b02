#include "actors/admin/control.hpp"

namespace ispflow::actors::admin {

saga_control::~saga_control() = default;

caf::expected<std::string> saga_control::retry_in(const std::string& saga_id,
                                                  int32_t) {
  if (auto res = retry(saga_id); !res)
    return std::move(res.error());
  return std::string{"accepted"};
}

caf::expected<std::string> saga_control::cancel_in(const std::string& saga_id,
                                                   int32_t) {
  if (auto res = cancel(saga_id); !res)
    return std::move(res.error());
  return std::string{"accepted"};
}

breaker_control::~breaker_control() = default;

} // namespace ispflow::actors::admin
