#include "adapters/voltha/grpc_runtime.hpp"

#include <absl/synchronization/mutex.h>
#include <mutex>

namespace ispflow::adapters::voltha {

void prepare_grpc_runtime() {
  static std::once_flag once;
  std::call_once(once, [] {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  });
}

} // namespace ispflow::adapters::voltha
