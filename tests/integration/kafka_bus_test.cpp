#include "adapters/kafka/consumer.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/tail_reader.hpp"
#include "events/errc.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#ifndef ISPFLOW_BUS_PATH
#  error "ISPFLOW_BUS_PATH must name the ispflow-bus binary"
#endif

using namespace std::chrono_literals;
namespace kafka = ispflow::adapters::kafka;
using ispflow::events::kafka_record;

namespace {

// Runs ispflow-bus as a child process with its stdout on a pipe.
struct bus_process {
  pid_t pid = -1;
  FILE* out = nullptr;

  explicit bus_process(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0)
      return;
    pid = fork();
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      std::string path = ISPFLOW_BUS_PATH;
      argv.push_back(path.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(fds[1]);
    out = fdopen(fds[0], "r");
  }

  ~bus_process() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (out)
      fclose(out);
  }

  std::string first_line() {
    char buf[4096];
    if (!out || !fgets(buf, sizeof buf, out))
      return {};
    std::string line = buf;
    if (!line.empty() && line.back() == '\n')
      line.pop_back();
    return line;
  }

  // Sends SIGTERM and returns the exit status (or -1 if it did not exit
  // normally).
  int terminate() {
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
};

const std::string prefix = "bootstrap.servers=";

std::string run_and_capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p)
    return out;
  char buf[1024];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  pclose(p);
  return out;
}

} // namespace

TEST(ispflow_bus, serves_producers_and_consumers_and_exits_on_sigterm) {
  bus_process bus{{"--brokers", "2", "--partitions", "3", "--topic",
                   "bus.events", "--topic", "bus.other"}};
  ASSERT_GT(bus.pid, 0);
  auto line = bus.first_line();
  ASSERT_EQ(line.rfind(prefix, 0), 0u) << line;
  kafka::client_settings cs;
  cs.bootstrap_servers = line.substr(prefix.size());
  ASSERT_FALSE(cs.bootstrap_servers.empty());

  auto p = kafka::producer::make(cs);
  ASSERT_TRUE(p) << ispflow::render_error(p.error());
  std::vector<kafka_record> sent;
  for (int i = 0; i < 6; ++i) {
    kafka_record x;
    x.topic = "bus.events";
    x.partition = i % 3;
    x.key = "k" + std::to_string(i);
    x.value = std::string("v\0", 2) + std::to_string(i);
    sent.push_back(x);
  }
  auto res = (*p)->produce_all(sent, 10s);
  ASSERT_TRUE(res) << ispflow::render_error(res.error());

  // --topic created all three partitions, so read_tail sees two per one.
  auto tail = kafka::read_tail(cs, "bus.events", 10);
  ASSERT_TRUE(tail) << ispflow::render_error(tail.error());
  ASSERT_EQ(tail->size(), 6u);
  EXPECT_EQ(tail->at(0).partition, 0);
  EXPECT_EQ(tail->at(5).partition, 2);

  auto group_cs = cs;
  group_cs.group_id = "bus-test";
  group_cs.extra = {{"session.timeout.ms", "4000"},
                    {"heartbeat.interval.ms", "1000"}};
  auto c = kafka::consumer::make(group_cs, {"bus.events"});
  ASSERT_TRUE(c) << ispflow::render_error(c.error());
  std::vector<kafka_record> got;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (got.size() < sent.size()
         && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*c)->poll_batch(100, 500ms);
    ASSERT_TRUE(batch) << ispflow::render_error(batch.error());
    got.insert(got.end(), batch->begin(), batch->end());
  }
  ASSERT_EQ(got.size(), sent.size());
  for (const auto& x : got)
    EXPECT_EQ(x.value.substr(0, 2), std::string("v\0", 2));
  ASSERT_TRUE((*c)->close());

  // kcat, when installed, lists the brokers and the pre-created topics.
  if (access("/usr/bin/kcat", X_OK) == 0) {
    auto listing = run_and_capture("/usr/bin/kcat -b " + cs.bootstrap_servers
                                   + " -L -m 5 2>&1");
    EXPECT_NE(listing.find("2 brokers"), std::string::npos) << listing;
    EXPECT_NE(listing.find("topic \"bus.events\" with 3 partitions"),
              std::string::npos)
      << listing;
    EXPECT_NE(listing.find("topic \"bus.other\" with 3 partitions"),
              std::string::npos)
      << listing;
  }

  EXPECT_EQ(bus.terminate(), 0);
}

TEST(ispflow_bus, rejects_bad_options) {
  bus_process bus{{"--brokers", "0"}};
  ASSERT_GT(bus.pid, 0);
  EXPECT_EQ(bus.first_line(), "");
  int status = 0;
  waitpid(bus.pid, &status, 0);
  bus.pid = -1;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
}
