# The two commands a newcomer types: `make demo` and `make test`.
# Both install missing Debian packages first (deploy/local/deps.sh).
PRESET ?= ci
BUILD  := build/$(PRESET)
JOBS   ?= $(shell nproc)

.PHONY: all deps configure build test unit demo bench chaos fuzz format format-check clean

all: build

deps:
	@deploy/local/deps.sh

configure: deps
	@cmake --preset $(PRESET) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

# Every test: unit, integration and e2e. Fixtures start the servers they need.
test: build
	@ctest --preset $(PRESET) -j $(JOBS)

unit: build
	@ctest --preset $(PRESET) -j $(JOBS) -L unit

# The embedded stack: PostgreSQL, ispflow-bus, ispflowd and a billing feed.
demo: build
	@deploy/local/demo.sh $(BUILD)

bench: build
	@deploy/local/bench.sh $(BUILD)

# The demo's stack under load while ispflowd is SIGKILLed at random points,
# PostgreSQL and the bus restart and the simulators inject faults; then an
# independent checker (minutes; not part of `make test`).
chaos: build
	@deploy/local/chaos.sh $(BUILD)

# libFuzzer targets (clang, ASan+UBSan), each run FUZZ_SECONDS (default 60)
# on its corpus in fuzz/corpus; see fuzz/README.md.
FUZZ_SECONDS ?= 60
fuzz: deps
	@command -v clang++ >/dev/null \
	  || { echo "make fuzz needs clang: apt-get install clang" >&2; exit 1; }
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh build/fuzz

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

clean:
	@rm -rf build
