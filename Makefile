# Thin wrapper: the real work is in scripts/ and tests/.
#
#   make demo    install what is missing, build, run the demo
#   make check   install what is missing, build, run all tests
#   make build   configure (once) and build in $(BUILD)
#   make deps    install the packages for the tests (which covers the build)
#   make bench   ferry against skopeo on synthetic images (by hand; slow)
#   make mutants take safety checks out one at a time; a test must notice each
#   make static  build-static/ferry-static: one binary, no shared libraries
#   make deb     the Debian packages ferry, libferry0, libferry-dev in build-deb/
#   make package-test  install them in a fresh Debian 12 root and try them (slow)
#   make image   ferry's own image (OCI layout + docker-archive) in build-image/
#   make clean   remove $(BUILD)

BUILD ?= build
SAN_BUILD ?= build-san

STATIC_BUILD ?= build-static
IMAGE_BUILD ?= build-image
DEB_BUILD ?= build-deb

.PHONY: all build build-san check demo deps deps-build deps-test clean fuzz bench mutants \
	static deb package-test image

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

# glibc static: Debian's .a files where they link cleanly, and the rest (curl,
# libarchive, libmicrohttpd, isa-l) built from Debian sources once, cached in
# $(STATIC_BUILD)/deps (scripts/static-deps.sh says why each).  Only the ferry
# target is built: the tests and libferry.so stay dynamic in $(BUILD).
static:
	scripts/install-deps.sh static
	scripts/static-deps.sh $(STATIC_BUILD)/deps
	@if [ ! -f $(STATIC_BUILD)/meson/build.ninja ]; then \
		PKG_CONFIG_PATH=$(CURDIR)/$(STATIC_BUILD)/deps/lib/pkgconfig \
		meson setup $(STATIC_BUILD)/meson --prefer-static -Dbuildtype=release -Db_ndebug=false \
			-Dc_link_args='-static -s' -Dc_args=-DCURL_DISABLE_TYPECHECK; fi
	ninja -C $(STATIC_BUILD)/meson ferry
	cp $(STATIC_BUILD)/meson/ferry $(STATIC_BUILD)/ferry-static
	@file $(STATIC_BUILD)/ferry-static
	@cd $(STATIC_BUILD) && ls -l ferry-static && sha256sum ferry-static

# dpkg-buildpackage writes its packages into the parent directory: build from
# a copy of the tree so they land in $(DEB_BUILD).
deb:
	scripts/install-deps.sh deb
	scripts/make-deb.sh $(DEB_BUILD)

package-test: deb
	scripts/package-test.sh $(DEB_BUILD)

# Every mtime and the config's date are the last commit's: the same tree
# gives the same image digest.
image: static
	$(MAKE) build
	rm -rf $(IMAGE_BUILD)
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
		$(BUILD)/example-image $(STATIC_BUILD)/ferry-static /etc/ssl/certs/ca-certificates.crt $(IMAGE_BUILD)

demo: deps-build
	$(MAKE) build
	scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(STATIC_BUILD)/meson $(STATIC_BUILD)/ferry-static $(IMAGE_BUILD) $(DEB_BUILD)
