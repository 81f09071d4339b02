#!/usr/bin/env bash
# Installs every Debian package that ispflow's build, tests and demo need.
# Idempotent: only missing packages are installed, and they are named first.
set -euo pipefail

packages=(
  # build
  cmake g++ make pkg-config
  libcaf-dev librdkafka-dev libpqxx-dev libpq-dev rapidjson-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev
  libcurl4-openssl-dev libcpp-httplib-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # the allocator of ispflowd and the saga benchmark
  libjemalloc-dev
  # metrics (/metrics): the core library of prometheus-cpp
  prometheus-cpp-dev
  # VOLTHA's northbound is gRPC: our .proto subset is compiled at build time
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # servers the tests and the demo start on loopback
  postgresql postgresql-contrib
  freeradius freeradius-postgresql freeradius-utils
  # tools the tests and the demo drive the programs with (openssl makes the
  # admin API's throwaway TLS certificates; zlib and brotli compress the
  # admin hardening tests' bodies)
  kcat procps openssl zlib1g-dev libbrotli-dev
  # ss (the simulators' accept queue test)
  iproute2
  # the web console's browser test (headless)
  chromium chromium-driver
  # promtool (from the Prometheus server package, the only Debian package
  # that ships it): checks /metrics and unit-tests deploy/monitoring's rules
  prometheus
  # deploy/monitoring/check_metric_names.py reads the alert rules (YAML)
  python3 python3-yaml
  # formatting (make format, make format-check)
  clang-format
  # packaging and its tests: cpack -G DEB (dpkg-shlibdeps, file), the unit
  # check (systemd-analyze), the offline manifest validation
  dpkg-dev file systemd python3 python3-jsonschema python3-yaml
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: done"
