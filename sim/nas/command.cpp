#include "sim/nas/command.hpp"

#include "events/errc.hpp"
#include "sim/nas/control.hpp"
#include "sim/nas/simulator.hpp"

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <thread>

namespace ispflow::sim::nas {

namespace {

std::atomic<bool> interrupted{false};

extern "C" void on_signal(int) {
  interrupted = true;
}

bool parse_endpoint(const std::string& text, endpoint& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return false;
  out.host = text.substr(0, colon);
  try {
    auto port = std::stoul(text.substr(colon + 1));
    if (port == 0 || port > 65535)
      return false;
    out.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

struct options {
  std::string radius = "127.0.0.1:1812";
  std::string acct = "127.0.0.1:1813";
  std::string secret_file;
  std::string secret_env;
  uint16_t coa_port = 3799;
  uint16_t control_port = 8799;
  std::string nas_ip = "127.0.0.1";
  std::string dictionary = "/usr/share/freeradius/dictionary";
  bool unsigned_replies = false;
  bool accounting_on = false;
  uint32_t acct_senders = 4;
  uint32_t reply_delay_ms = 0;
  uint32_t drop_every = 0;
};

int run(const options& o) {
  config cfg;
  if (!parse_endpoint(o.radius, cfg.auth)
      || !parse_endpoint(o.acct, cfg.acct)) {
    std::fprintf(stderr, "nas: --radius and --acct take host:port\n");
    return 2;
  }
  if (!o.secret_file.empty()) {
    std::ifstream in(o.secret_file);
    std::getline(in, cfg.secret);
  } else if (!o.secret_env.empty()) {
    const char* v = std::getenv(o.secret_env.c_str());
    cfg.secret = v != nullptr ? v : "";
  }
  if (cfg.secret.empty()) {
    std::fprintf(stderr, "nas: a shared secret is required (--secret-file or "
                         "--secret-env)\n");
    return 2;
  }
  cfg.nas_ip = o.nas_ip;
  cfg.coa_port = o.coa_port;
  cfg.dictionary_path = o.dictionary;
  cfg.unsigned_replies = o.unsigned_replies;
  cfg.accounting_on = o.accounting_on;
  cfg.acct_senders = o.acct_senders;
  cfg.faults.reply_delay = std::chrono::milliseconds{o.reply_delay_ms};
  cfg.faults.drop_every = o.drop_every;
  auto sim = simulator::start(cfg);
  if (!sim) {
    std::fprintf(stderr, "nas: %s\n", render_error(sim.error()).c_str());
    return 1;
  }
  auto control = control_server::start(**sim, "127.0.0.1", o.control_port);
  if (!control) {
    std::fprintf(stderr, "nas: %s\n", render_error(control.error()).c_str());
    return 1;
  }
  std::printf("nas: coa on %s:%u (%s replies), control on "
              "http://127.0.0.1:%u\n",
              cfg.coa_bind.c_str(), (*sim)->coa_port(),
              cfg.unsigned_replies ? "unsigned" : "signed", (*control)->port());
  std::fflush(stdout);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  while (!interrupted)
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  (*control)->stop();
  (*sim)->stop();
  return 0;
}

} // namespace

void add_command(CLI::App& app) {
  auto opts = std::make_shared<options>();
  auto* cmd = app.add_subcommand("nas",
                                 "BNG stand-in: RADIUS client of "
                                 "FreeRADIUS and RFC 5176 CoA/DM server");
  cmd->add_option("--radius", opts->radius, "FreeRADIUS auth host:port");
  cmd->add_option("--acct", opts->acct, "FreeRADIUS accounting host:port");
  cmd->add_option("--secret-file", opts->secret_file,
                  "file whose first line is the shared secret");
  cmd->add_option("--secret-env", opts->secret_env,
                  "environment variable holding the shared secret");
  cmd->add_option("--coa-port", opts->coa_port, "CoA/DM UDP port");
  cmd->add_option("--control-port", opts->control_port,
                  "loopback HTTP control port");
  cmd->add_option("--nas-ip", opts->nas_ip, "NAS-IP-Address");
  cmd->add_option("--dictionary", opts->dictionary,
                  "FreeRADIUS dictionary file");
  cmd->add_flag("--unsigned-replies", opts->unsigned_replies,
                "answer CoA/Disconnect without Message-Authenticator, as "
                "accel-ppp does");
  cmd->add_flag("--accounting-on", opts->accounting_on,
                "send Accounting-On at start, as a NAS after a reboot");
  cmd
    ->add_option("--acct-senders", opts->acct_senders,
                 "Accounting-Stops in flight at once")
    ->check(CLI::Range(1, 256));
  cmd->add_option("--reply-delay-ms", opts->reply_delay_ms,
                  "fault: answer each CoA/DM this much later (slow NAS)");
  cmd->add_option("--drop-every", opts->drop_every,
                  "fault: drop every Nth CoA/DM unanswered (1: all)");
  cmd->callback([opts] {
    int rc = run(*opts);
    if (rc != 0)
      throw CLI::RuntimeError(rc);
  });
}

} // namespace ispflow::sim::nas
