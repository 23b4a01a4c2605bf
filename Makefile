# Thin wrapper: the real work is in scripts/ and tests/.
#
#   make demo    install what is missing, build, run the demo
#   make check   install what is missing, build, run all tests
#   make build   configure (once) and build in $(BUILD)
#   make deps    install the packages for the tests (which covers the build)
#   make clean   remove $(BUILD)

BUILD ?= build

.PHONY: all build check demo deps deps-build deps-test clean

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
	tests/run-tests.sh $(BUILD)

demo: deps-build
	$(MAKE) build
	scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)
