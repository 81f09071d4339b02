#include "tests/support/bus_process.hpp"

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

namespace ispflow::testing {

bus_process::bus_process(const std::string& program, int partitions) {
  int fds[2];
  if (pipe(fds) != 0)
    return;
  auto parts = std::to_string(partitions);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    execl(program.c_str(), program.c_str(), "--partitions", parts.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  out_ = fdopen(fds[0], "r");
  char line[1024] = {0};
  if (out_ && fgets(line, sizeof line, out_)) {
    std::string s{line};
    const std::string prefix = "bootstrap.servers=";
    if (s.rfind(prefix, 0) == 0)
      bootstrap_ = s.substr(prefix.size(),
                            s.find_last_not_of("\r\n") + 1 - prefix.size());
  }
}

bus_process::~bus_process() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_)
    fclose(out_);
}

} // namespace ispflow::testing
