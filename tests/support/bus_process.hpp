#pragma once

#include <cstdio>
#include <string>
#include <sys/types.h>

namespace ispflow::testing {

/// Runs the ispflow-bus program as a child process for the life of the
/// object and reads the bootstrap address from its first line; SIGTERM and
/// wait on destruction.
class bus_process {
public:
  /// Starts `program --partitions <partitions>`. `bootstrap()` is empty if
  /// it did not start or printed no address.
  explicit bus_process(const std::string& program, int partitions = 3);

  ~bus_process();

  bus_process(const bus_process&) = delete;
  bus_process& operator=(const bus_process&) = delete;

  /// The `bootstrap.servers` value the bus printed.
  const std::string& bootstrap() const {
    return bootstrap_;
  }

private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string bootstrap_;
};

} // namespace ispflow::testing
