#include "actors/admin/control.hpp"

namespace ispflow::actors::admin {

saga_control::~saga_control() = default;

breaker_control::~breaker_control() = default;

} // namespace ispflow::actors::admin
