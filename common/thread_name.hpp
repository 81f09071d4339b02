#pragma once

// Names the calling thread (at most 15 characters are kept), as `top -H`,
// `ps -L` and perf show it. Detached actors call it first thing, from
// their own thread: without it every one of them is "caf.actor".

#include <pthread.h>
#include <string>
#include <string_view>

namespace ispflow::common {

inline void name_this_thread(std::string_view name) {
  std::string s{name.substr(0, 15)};
  pthread_setname_np(pthread_self(), s.c_str());
}

} // namespace ispflow::common
