#include "tests/integration/radius_sql_support.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace ispflow::testing {

namespace {

std::string script() {
  return std::string{ISPFLOW_SOURCE_DIR} + "/deploy/local/freeradius.sh";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

std::string unquote(std::string v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
    v = v.substr(1, v.size() - 2);
  return v;
}

} // namespace

freeradius_server::freeradius_server(const std::string& dsn, int auth_port)
  : auth_port_(auth_port) {
  char tmpl[] = "/tmp/ispflow-radius-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  auto cmd = script() + " start " + shell_quote(dir_) + " " + shell_quote(dsn)
             + " " + std::to_string(auth_port) + " "
             + std::to_string(auth_port + 1) + " "
             + std::to_string(auth_port + 2) + " >/dev/null 2>&1";
  ok_ = std::system(cmd.c_str()) == 0;
}

freeradius_server::~freeradius_server() {
  // A failed test gets FreeRADIUS's own account (each authentication's
  // outcome and reason) before the directory goes with its log.
  auto* unit = ::testing::UnitTest::GetInstance();
  if (unit->failed_test_count() > 0
      || (unit->current_test_info() != nullptr
          && ::testing::Test::HasFailure()))
    std::fprintf(stderr, "FreeRADIUS log (%s), the last lines:\n%s",
                 dir_.c_str(), log_tail().c_str());
  auto cmd = script() + " stop " + shell_quote(dir_) + " >/dev/null 2>&1";
  [[maybe_unused]] auto rc = std::system(cmd.c_str());
  [[maybe_unused]] auto rm
    = std::system(("rm -rf " + shell_quote(dir_)).c_str());
}

std::string freeradius_server::log_tail() const {
  return run("tail -n 30 " + shell_quote(dir_ + "/radius.log"));
}

std::string radius_answer::first(const std::string& name) const {
  auto i = attributes.find(name);
  return i == attributes.end() || i->second.empty() ? "" : i->second.front();
}

radius_answer radclient(int port, const std::string& type,
                        const std::vector<std::string>& pairs,
                        const std::string& secret) {
  // The packet goes through a file, so no password is on a command line.
  char tmpl[] = "/tmp/ispflow-radclient-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0)
    throw std::runtime_error("mkstemp failed");
  ::close(fd);
  {
    std::ofstream f{tmpl};
    for (const auto& p : pairs)
      f << p << '\n';
  }
  auto out = run("radclient -x -r 2 -t 3 -f " + shell_quote(tmpl)
                 + " 127.0.0.1:" + std::to_string(port) + " " + type + " "
                 + shell_quote(secret) + " 2>&1");
  ::unlink(tmpl);
  radius_answer ans;
  std::istringstream in{out};
  std::string line;
  bool in_reply = false;
  while (std::getline(in, line)) {
    if (line.rfind("Received ", 0) == 0) {
      auto rest = line.substr(9);
      ans.code = rest.substr(0, rest.find(' '));
      in_reply = true;
      continue;
    }
    if (line.rfind("Sent ", 0) == 0 || line.rfind("(", 0) == 0) {
      in_reply = false;
      continue;
    }
    if (in_reply && !line.empty() && line[0] == '\t') {
      auto eq = line.find(" = ");
      if (eq == std::string::npos)
        continue;
      ans.attributes[line.substr(1, eq - 1)].push_back(
        unquote(line.substr(eq + 3)));
    }
  }
  return ans;
}

radius_answer access_request(int port, const std::string& user,
                             const std::string& password, bool chap) {
  return radclient(port, "auth",
                   {"User-Name = \"" + user + "\"",
                    std::string{chap ? "CHAP-Password" : "User-Password"}
                      + " = \"" + password + "\"",
                    "NAS-IP-Address = 127.0.0.1"});
}

} // namespace ispflow::testing
