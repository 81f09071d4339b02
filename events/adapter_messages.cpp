#include "events/adapter_messages.hpp"

#include <utility>

namespace ispflow::events {

std::string_view to_string(adapter_outcome x) noexcept {
  switch (x) {
    case adapter_outcome::succeeded:
      return "succeeded";
    case adapter_outcome::retryable_failure:
      return "retryable_failure";
    case adapter_outcome::permanent_failure:
      return "permanent_failure";
    case adapter_outcome::unknown_outcome:
      return "unknown_outcome";
    case adapter_outcome::parked:
      return "parked";
  }
  return "invalid";
}

std::ostream& operator<<(std::ostream& os, adapter_outcome x) {
  return os << to_string(x);
}

std::ostream& operator<<(std::ostream& os, const adapter_request& x) {
  return os << "adapter_request{" << x.operation << ", key "
            << x.idempotency_key << ", tenant " << x.tenant_id
            << ", subscriber " << x.subscriber_id
            << (x.reconcile ? ", reconcile}" : "}");
}

std::ostream& operator<<(std::ostream& os, const adapter_reply& x) {
  os << "adapter_reply{" << x.outcome;
  if (!x.error.empty())
    os << ", error " << x.error;
  for (auto& [k, v] : x.outputs)
    os << ", " << k;
  return os << "}";
}

adapter_reply reply_succeeded(string_map outputs) {
  adapter_reply res;
  res.outputs = std::move(outputs);
  return res;
}

adapter_reply reply_failed(adapter_outcome outcome, std::string error) {
  adapter_reply res;
  res.outcome = outcome;
  res.error = std::move(error);
  return res;
}

} // namespace ispflow::events
