#include "sim/common/run.hpp"

#include "events/errc.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <pthread.h>
#include <sstream>

namespace ispflow::sim::common {

namespace {

sigset_t stop_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

std::string trim(std::string s) {
  auto ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

} // namespace

void block_stop_signals() {
  auto set = stop_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void wait_for_stop_signal() {
  auto set = stop_set();
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
    // nop: retry on spurious failure
  }
}

int run_until_signal(const std::string& name,
                     const std::function<caf::expected<uint16_t>()>& start,
                     const std::function<void()>& stop) {
  block_stop_signals();
  auto port = start();
  if (!port) {
    std::cerr << "ispflow-sim " << name << ": " << render_error(port.error())
              << '\n';
    return 1;
  }
  std::cout << "listening=127.0.0.1:" << *port << std::endl;
  wait_for_stop_signal();
  stop();
  return 0;
}

caf::expected<std::string> read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return caf::make_error(errc::invalid_config,
                           std::string{"cannot read "} + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

caf::expected<std::vector<std::string>> load_tokens(const std::string& file,
                                                    const char* env_var) {
  std::vector<std::string> tokens;
  if (!file.empty()) {
    auto text = read_file(file);
    if (!text)
      return text.error();
    std::istringstream in{*text};
    std::string line;
    while (std::getline(in, line)) {
      line = trim(line);
      if (!line.empty() && line[0] != '#')
        tokens.push_back(line);
    }
  }
  if (env_var != nullptr) {
    if (const char* env = std::getenv(env_var); env != nullptr) {
      std::istringstream in{env};
      std::string tok;
      while (std::getline(in, tok, ','))
        if (tok = trim(tok); !tok.empty())
          tokens.push_back(tok);
    }
  }
  return tokens;
}

int64_t now_micros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
    .count();
}

std::string format_iso8601(int64_t micros) {
  time_t secs = static_cast<time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(micros % 1000000));
  return buf;
}

std::string now_iso8601() {
  return format_iso8601(now_micros());
}

caf::expected<int64_t> parse_iso8601(const std::string& text) {
  std::tm tm{};
  int frac_len = 0;
  long frac = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  &consumed)
      != 6)
    return caf::make_error(errc::invalid_input,
                           std::string{"not an ISO 8601 timestamp"});
  size_t pos = static_cast<size_t>(consumed);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size()
           && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (frac_len < 6) {
        frac = frac * 10 + (text[pos] - '0');
        ++frac_len;
      }
      ++pos;
    }
    while (frac_len < 6) {
      frac *= 10;
      ++frac_len;
    }
  }
  auto rest = text.substr(pos);
  if (!rest.empty() && rest != "Z" && rest != "+00:00" && rest != "+0000")
    return caf::make_error(errc::invalid_input,
                           std::string{"only UTC timestamps are supported"});
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000000 + frac;
}

} // namespace ispflow::sim::common
