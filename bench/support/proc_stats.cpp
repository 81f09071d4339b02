#include "bench/support/proc_stats.hpp"

#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace ispflow::bench {

namespace {

// The fields of /proc/PID/stat from the third (state) on: the command
// before them may hold spaces, so they start after the last ')'.
bool stat_fields(int pid, std::istringstream& out) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string line;
  if (!std::getline(in, line))
    return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size())
    return false;
  out.str(line.substr(close + 2));
  return true;
}

} // namespace

long cpu_ticks(int pid) {
  std::istringstream rest;
  if (!stat_fields(pid, rest))
    return -1;
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3.. after the command name; utime is 14, stime 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stol(field);
    if (i == 15)
      stime = std::stol(field);
  }
  return utime + stime;
}

int parent_pid(int pid) {
  std::istringstream rest;
  std::string state;
  int ppid = -1;
  if (!stat_fields(pid, rest) || !(rest >> state >> ppid))
    return -1;
  return ppid;
}

long cpu_ticks_with_children(int pid) {
  auto total = cpu_ticks(pid);
  if (total < 0)
    return total;
  DIR* dir = opendir("/proc");
  if (dir == nullptr)
    return total;
  while (auto* entry = readdir(dir)) {
    int child = std::atoi(entry->d_name);
    if (child <= 0 || child == pid || parent_pid(child) != pid)
      continue;
    if (auto t = cpu_ticks(child); t > 0)
      total += t;
  }
  closedir(dir);
  return total;
}

double ticks_to_seconds(long ticks) {
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string load_average(std::string_view separator) {
  std::ifstream in{"/proc/loadavg"};
  std::string a, b, c;
  in >> a >> b >> c;
  std::string out = a;
  out += separator;
  out += b;
  out += separator;
  out += c;
  return out;
}

} // namespace ispflow::bench
