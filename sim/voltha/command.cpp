#include "sim/voltha/command.hpp"

#include "events/errc.hpp"
#include "sim/voltha/server.hpp"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <pthread.h>
#include <sstream>
#include <vector>

namespace ispflow::sim::voltha {

namespace {

struct command_args {
  options opts;
  int transition_ms = 100;
  int program_ms = 100;
  std::vector<std::string> sadis_services;
  std::string password_file;
  std::string faults_json;
};

std::string trimmed(std::string s) {
  while (!s.empty()
         && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

void run(command_args& args) {
  auto opts = args.opts;
  opts.transition_delay = std::chrono::milliseconds{args.transition_ms};
  opts.program_delay = std::chrono::milliseconds{args.program_ms};
  for (auto& text : args.sadis_services) {
    auto svc = parse_sadis_service(text);
    if (!svc) {
      std::cerr << "voltha: --sadis-service: " << render_error(svc.error())
                << '\n';
      throw CLI::RuntimeError(1);
    }
    opts.sadis_services.push_back(*svc);
  }
  if (!args.password_file.empty()) {
    std::ifstream in{args.password_file};
    if (!in) {
      std::cerr << "voltha: cannot read --onos-password-file\n";
      throw CLI::RuntimeError(1);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    opts.onos_password = trimmed(ss.str());
  } else if (auto* env = std::getenv("ISPFLOW_SIM_ONOS_PASSWORD")) {
    opts.onos_password = env;
  }
  if (!args.faults_json.empty()) {
    auto f = parse_faults(args.faults_json);
    if (!f) {
      std::cerr << "voltha: " << render_error(f.error()) << '\n';
      throw CLI::RuntimeError(1);
    }
    opts.initial_faults = std::move(*f);
  }
  // Block the stop signals before any server thread exists, so they all
  // inherit the mask and sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto srv = server::start(std::move(opts));
  if (!srv) {
    std::cerr << "voltha: " << render_error(srv.error()) << '\n';
    throw CLI::RuntimeError(1);
  }
  std::cout << "listening.grpc=" << args.opts.host << ':' << (*srv)->grpc_port()
            << '\n'
            << "listening.rest=" << args.opts.host << ':' << (*srv)->rest_port()
            << '\n'
            << std::flush;
  int sig = 0;
  sigwait(&set, &sig);
  (*srv)->stop();
}

} // namespace

void add_command(CLI::App& app) {
  auto args = std::make_shared<command_args>();
  auto* sub = app.add_subcommand(
    "voltha",
    "VOLTHA gRPC (voltha.VolthaService subset) and ONOS olt app REST");
  sub->add_option("--host", args->opts.host, "Address to listen on")
    ->capture_default_str();
  sub->add_option("--grpc-port", args->opts.grpc_port, "gRPC port (0: any)")
    ->capture_default_str();
  sub
    ->add_option("--rest-port", args->opts.rest_port,
                 "olt app and /_sim REST port (0: any)")
    ->capture_default_str();
  sub->add_option("--olts", args->opts.olts, "OLTs seeded, already active")
    ->capture_default_str()
    ->check(CLI::Range(0, 1024));
  sub
    ->add_option("--onus-per-olt", args->opts.onus_per_olt,
                 "ONUs discovered per OLT")
    ->capture_default_str()
    ->check(CLI::Range(0, 128));
  sub
    ->add_option("--serial-prefix", args->opts.serial_prefix,
                 "ONU serial prefix (serials <prefix>00000001...)")
    ->capture_default_str();
  sub
    ->add_option("--transition-delay-ms", args->transition_ms,
                 "Time spent ACTIVATING / DISCOVERED before ACTIVE")
    ->capture_default_str()
    ->check(CLI::Range(0, 600000));
  sub
    ->add_option("--program-delay-ms", args->program_ms,
                 "Time before a provisioned (removed) service shows in "
                 "(leaves) programmed-subscribers")
    ->capture_default_str()
    ->check(CLI::Range(0, 600000));
  sub
    ->add_option("--unis-per-onu", args->opts.unis_per_onu,
                 "UNI ports per ONU (<serial>-1..<serial>-n)")
    ->capture_default_str()
    ->check(CLI::Range(1, 16));
  sub->add_option("--sadis-service", args->sadis_services,
                  "S/C/TP added to every UNI's SADIS entry (repeatable), "
                  "e.g. 100/0/64; each UNI also has 900+PON/100+ONU id/64");
  sub
    ->add_option("--onos-user", args->opts.onos_user, "olt app basic-auth user")
    ->capture_default_str();
  sub->add_option("--onos-password-file", args->password_file,
                  "File holding the olt app password (else env "
                  "ISPFLOW_SIM_ONOS_PASSWORD, else karaf)");
  sub->add_option("--faults", args->faults_json,
                  "Initial faults, JSON as for POST /_sim/faults");
  sub->callback([args] { run(*args); });
}

} // namespace ispflow::sim::voltha
