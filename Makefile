# Thin wrapper: the real work is in scripts/ and tests/.
#
#   make demo    install what is missing, build, run the demo
#   make check   install what is missing, build, run all tests
#   make build   configure (once) and build in $(BUILD)
#   make deps    install the packages for the tests (which covers the build)
#   make bench   ferry against skopeo on synthetic images (by hand; slow)
#   make mutants take safety checks out one at a time; a test must notice each
#   make clean   remove $(BUILD)

BUILD ?= build
SAN_BUILD ?= build-san

.PHONY: all build build-san check demo deps deps-build deps-test clean fuzz bench mutants

all: build

deps: deps-test

deps-build:
	scripts/install-deps.sh build

deps-test:
	scripts/install-deps.sh test

build:
	@if [ ! -f $(BUILD)/build.ninja ]; then meson setup $(BUILD); fi
	ninja -C $(BUILD)

check: deps-test
	$(MAKE) build
	$(MAKE) build-san
	tests/run-tests.sh $(BUILD) $(SAN_BUILD)

# The sanitizer build: clang with ASan+UBSan and libFuzzer coverage; make
# check runs every test again with it, plus a short run of each fuzzer.
build-san:
	@if [ ! -f $(SAN_BUILD)/build.ninja ]; then \
		CC=clang meson setup $(SAN_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; fi
	ninja -C $(SAN_BUILD)

# Fuzz every target for FUZZ_SECONDS each (default 60).
fuzz: deps-test
	$(MAKE) build-san
	tests/fuzz/run.sh $(SAN_BUILD) $(or $(FUZZ_SECONDS),60)

# Throughput of ferry against skopeo (scripts/bench.sh says how to size it:
# BENCH_SCALE=0.1 for a quick run). Never part of check: figures, no asserts.
bench: deps-test
	$(MAKE) build
	scripts/bench.sh $(BUILD)

# Each mutant of tests/mutants/mutants.txt on a private copy of the tree,
# rebuilt, with the tests that must catch it (tests/mutants/run.sh says
# how).  Not part of check: one rebuild and test run per mutant.
mutants: deps-test
	tests/mutants/run.sh

demo: deps-build
	$(MAKE) build
	scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
