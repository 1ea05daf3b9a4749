# partyline: `make run` and `make test` are all a newcomer needs. Both install what is
# missing first (Debian 12 packages through apt, Go modules through the module proxy).

GO          ?= go
BIN         := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ARGS        ?=

# Debian packages: what building needs (cgo for oto, malgo and libopus), what the tests run against,
# and what the arm64 cross build and its emulated tests need.
APT_BUILD := gcc pkg-config libasound2-dev libopus-dev
APT_TEST  := kamailio kamailio-tls-modules sip-tester baresip-core chromium fonts-dejavu-core ffmpeg tshark prometheus
APT_STRESS := stress-ng
APT_CROSS := gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libasound2-dev:arm64 libopus-dev:arm64 curl
# The package: building it (dpkg-deb, readelf for its libc dependency, groff for the manual
# page), lintian, and the install test's arm64 Debian root.
APT_DEB   := dpkg binutils groff-base lintian debootstrap qemu-user-static curl

# apt-get as root, or through sudo for a developer who is not.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# install-missing installs those of the packages in $(1) that dpkg does not know as installed.
define install-missing
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

.PHONY: run build test test-stress soak check unit bench bench-peers cross test-arm64 deb deb-test deps-build deps-test deps-stress deps-cross deps-deb modules clean

## run: install what is missing, build, and run on the embedded defaults: on a PC the sim
## board with six virtual handsets (a Raspberry Pi detects its own board). ARGS come last and
## win, e.g. ARGS='-board sim' for two.
RUN_BOARD := $(if $(wildcard /proc/device-tree/model),,-board sim:6)
run: build
	./$(BIN)/partyline $(RUN_BOARD) $(ARGS)

# The version of this commit, which grows with every commit (board/rpi/version.sh), and the
# build (commit, "-dirty" for uncommitted changes): partyline -version prints both.
DEB_VERSION ?= $(shell sh board/rpi/version.sh 2>/dev/null || echo 0.1.0)
BUILD_ID    ?= $(shell git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
# Evaluated once, so that a commit made during a build cannot split it between two versions.
DEB_VERSION := $(DEB_VERSION)
BUILD_ID    := $(BUILD_ID)
VERSION_LDFLAGS = -X main.version=$(DEB_VERSION) -X main.build=$(BUILD_ID)

## build: the partyline binary for this machine.
build: deps-build modules
	$(GO) build -trimpath -ldflags='$(VERSION_LDFLAGS)' -o $(BIN)/partyline ./cmd/partyline

## test: install what is missing and run every test, with the race detector, against the
## real peers (Kamailio, SIPp, baresip) and real ALSA (file plugin).
test: deps-build deps-test modules check unit bench

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 -timeout 45m ./...
	$(GO) test -count=1 -run 'DoesNotAllocate|TestSoakNothingLeaks' ./media/... ./appliance/...

## test-stress: the steps of make test (check, unit, bench), RUNS times (default 3), each from
## a cold start (an empty GOCACHE of its own and no cached test results) with stress-ng loading
## the machine beside it. It stops at the first red run and prints how long each run took.
## The developer's own build cache is left alone.
RUNS ?= 3
STRESS := stress-ng --cpu 4 --io 2 --vm 1 --timeout 3h --quiet

test-stress: deps-build deps-test deps-stress modules
	@for run in $$(seq 1 $(RUNS)); do \
		cache=$$(mktemp -d); \
		$(STRESS) & stress=$$!; \
		trap 'kill $$stress 2>/dev/null; rm -rf $$cache' EXIT INT TERM; \
		start=$$(date +%s); \
		echo "== run $$run/$(RUNS): cold GOCACHE $$cache, $(STRESS)"; \
		GOCACHE=$$cache $(GO) clean -testcache && \
		GOCACHE=$$cache STATICCHECK_CACHE=$$cache/staticcheck \
			$(MAKE) --no-print-directory check unit bench; \
		rc=$$?; \
		kill $$stress; wait $$stress 2>/dev/null; rm -rf $$cache; trap - EXIT INT TERM; \
		elapsed=$$(( $$(date +%s) - start )); \
		if [ $$rc -ne 0 ]; then echo "== run $$run/$(RUNS): FAIL after $$((elapsed / 60))m$$((elapsed % 60))s"; exit 1; fi; \
		echo "== run $$run/$(RUNS): ok in $$((elapsed / 60))m$$((elapsed % 60))s"; \
	done

## soak: the real binary on the sim board for SOAK_DURATION (default 1h) with calls coming
## and going; its resident set, Go heap, goroutines, open files and CPU every SOAK_INTERVAL
## (default 1m) into $(BIN)/soak.csv (its log in $(BIN)/soak.log). It fails if any of them
## trends upward over the second half of the run (cmd/partyline/soak_test.go). Not part of test.
SOAK_DURATION ?= 1h
SOAK_INTERVAL ?= 1m

soak: deps-build deps-test modules
	@mkdir -p $(BIN)
	SOAK_DURATION=$(SOAK_DURATION) SOAK_INTERVAL=$(SOAK_INTERVAL) SOAK_CSV=$(CURDIR)/$(BIN)/soak.csv \
		$(GO) test -tags soak -count=1 -timeout 0 -v -run '^TestSoak$$' ./cmd/partyline/

## bench: every benchmark once, to show allocations per packet and keep them compiling.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 200x -benchmem ./media/... ./appliance/...

## bench-peers: partyline side by side with its peers, in one run (cmd/benchpeers): the
## binary on the sim board with handsets in call and bridging callers, baresip, and the
## SIPp echo floor, at BENCH_LEGS calls (default 1,10,50), each figure over BENCH_WINDOW
## (default 60s). It prints a Markdown table (CPU s/min idle and per leg net of idle, RSS,
## heap per leg, ratios partyline ÷ baresip and ÷ floor) and writes $(BIN)/bench-peers.csv;
## BENCH_PROFILE=DIR has partyline write a CPU profile of each run there. Not part of test.
## It then times 5 starts of partyline and of baresip until each answers SIP OPTIONS.
## BENCH_RUNS=scale makes the scale run instead: 250 callers bridged (500 legs), CPU in
## cores, each stream's send interval and the packets not sent on, from a loopback capture.
BENCH_WINDOW ?= 60s
BENCH_LEGS   ?= 1,10,50
BENCH_PROFILE ?=
BENCH_RUNS ?=

bench-peers: build deps-test
	$(GO) run ./cmd/benchpeers -bin $(BIN)/partyline -window $(BENCH_WINDOW) -legs $(BENCH_LEGS) \
		-csv $(BIN)/bench-peers.csv $(if $(BENCH_PROFILE),-cpuprofile $(BENCH_PROFILE)) $(if $(BENCH_RUNS),-runs $(BENCH_RUNS))

## cross: partyline for Raspberry Pi OS (linux/arm64), with Debian's aarch64 cross compiler,
## position-independent (PIE) with full RELRO, as Debian hardens its binaries.
cross: deps-cross modules
	CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig \
		$(GO) build -trimpath -buildmode=pie -ldflags='-s -w -extldflags=-Wl,-z,relro,-z,now $(VERSION_LDFLAGS)' -o $(BIN)/partyline-arm64 ./cmd/partyline
	@file $(BIN)/partyline-arm64 2>/dev/null || true

# The package's date (changelog, file times): the commit's, so that a build is reproducible.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
# MAINTAINER (name <address>) overrides the package's Maintainer field.
MAINTAINER ?= partyline maintainers <maintainers@partyline.invalid>
LINTIAN    ?= lintian --fail-on error
QEMU       ?= qemu-aarch64-static

## deb: the arm64 package for Raspberry Pi OS, bin/partyline_$(DEB_VERSION)_arm64.deb, with
## its manual page generated from the flags (partyline -man, run under qemu-user); lintian
## must find no error in it.
deb: cross deps-deb
	$(QEMU) $(BIN)/partyline-arm64 -man >$(BIN)/partyline.8
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) MAINTAINER='$(MAINTAINER)' sh board/rpi/mkdeb.sh \
		-b $(BIN)/partyline-arm64 -m $(BIN)/partyline.8 -v $(DEB_VERSION) -a arm64 -o $(BIN)
	$(LINTIAN) $(BIN)/partyline_$(DEB_VERSION)_arm64.deb

# deb-test's first package: the version of the commit before (a lower one), same code.
DEB_OLD_VERSION ?= $(shell sh board/rpi/version.sh HEAD~1 2>/dev/null || echo 0.0.0)
DEB_OLD_VERSION := $(DEB_OLD_VERSION)

## deb-test (as root): the package installed into an arm64 Debian 12 root under qemu-user,
## upgraded from the previous commit's version, removed and purged (board/rpi/deb-test.sh).
## The root is bootstrapped once into /var/cache/partyline-deb-test (DEB_TEST_CACHE).
deb-test: deps-deb
	$(MAKE) deb DEB_VERSION='$(DEB_OLD_VERSION)' BIN=$(BIN)/deb-test-old LINTIAN=true
	$(MAKE) deb DEB_VERSION='$(DEB_VERSION)'
	sh board/rpi/deb-test.sh $(BIN)/deb-test-old/partyline_$(DEB_OLD_VERSION)_arm64.deb \
		$(BIN)/partyline_$(DEB_VERSION)_arm64.deb

## test-arm64: the unit tests of the pure packages, built for arm64 and run under qemu-user,
## then the arm64 binary itself on the sim board under qemu-user, serving its admin page.
## The WAV crash test re-executes its own test binary, which an amd64 host runs only with
## binfmt_misc set up for qemu; it runs natively in make test.
test-arm64: deps-cross modules cross
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64-static \
		-skip 'TestWAVSurvivesSIGKILL' \
		./media/... ./board/... ./hw/led/... ./hw/gesture/... ./hw/codec/... ./appliance/config/...
	sh board/rpi/smoke-arm64.sh $(BIN)/partyline-arm64

deps-build:
	$(call install-missing,$(APT_BUILD))

deps-test:
	$(call install-missing,$(APT_TEST))

deps-stress:
	$(call install-missing,$(APT_STRESS))

deps-cross:
	@dpkg --print-foreign-architectures | grep -qx arm64 || $(SUDO) dpkg --add-architecture arm64
	$(call install-missing,$(APT_CROSS))

deps-deb:
	$(call install-missing,$(APT_DEB))

modules:
	$(GO) mod download

clean:
	rm -rf $(BIN)
