# flowsteer — CNI chained plugin that enables RPS/RFS per pod.
PREFIX      ?= /usr/local
DESTDIR     ?=
CNI_BIN_DIR ?= /opt/cni/bin
BINDIR      ?= $(PREFIX)/bin

CC      ?= cc
PKG     ?= pkg-config
AR      ?= ar

# ARCH=arm64 cross-compiles on this machine (Debian's gcc-aarch64-linux-gnu
# and the :arm64 library packages: `make deps-arm64`) into build-arm64/;
# never under emulation, which is slow for compiled code. Its tests run
# under qemu-user (EMU): `make test-arm64`.
NATIVE_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
ARCH ?= $(NATIVE_ARCH)
ifneq ($(ARCH),$(NATIVE_ARCH))
ifneq ($(ARCH),arm64)
$(error ARCH=$(ARCH): only arm64 is cross-compiled (this machine is $(NATIVE_ARCH)))
endif
ifeq ($(SANITIZE),1)
$(error ARCH=$(ARCH) SANITIZE=1: the sanitizers run natively only)
endif
TRIPLET := aarch64-linux-gnu
EMU     ?= qemu-aarch64-static
ifneq ($(origin CC),command line)
CC      := $(TRIPLET)-gcc
endif
AR      := $(TRIPLET)-ar
PKG     := PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLET)/pkgconfig:/usr/share/pkgconfig pkg-config
ifeq ($(wildcard /usr/lib/$(TRIPLET)/pkgconfig/libnl-3.0.pc),)
$(error ARCH=$(ARCH): no :$(ARCH) libraries (/usr/lib/$(TRIPLET)/pkgconfig/libnl-3.0.pc): run `make deps-arm64` as root)
endif
BUILD   ?= build-$(ARCH)$(if $(filter 1,$(or $(STATIC),1)),,-dyn)
endif
# RELEASE (the file VERSION) tags the image that conf/flowsteer-daemonset.yaml
# names; VERSION (git describe) is what the binaries report.
RELEASE := $(strip $(file <VERSION))
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo $(RELEASE))

WARN    := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -DFLOWSTEER_VERSION='"$(VERSION)"' \
           -Iplugin $(PC_CFLAGS) -MMD -MP -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDFLAGS += -Wl,-z,relro,-z,now -Wl,--as-needed
LDLIBS  += $(PC_LIBS)

# The binary is copied onto every node and must run whatever the node has
# installed (a chained plugin that cannot exec fails every pod): it is
# static by default. STATIC=0 links dynamically (into build-dyn/);
# SANITIZE=1 always does.
STATIC ?= 1

ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1 -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
BUILD   ?= build-san
override STATIC := 0
endif
ifeq ($(DEBUG_HOOKS),1)
CFLAGS += -DFLOWSTEER_DEBUG_HOOKS
endif
ifneq ($(STATIC),1)
BUILD ?= build-dyn
endif
BUILD ?= build

# $(call pc,VAR,ARGS): pkg-config ARGS, asked once (kept in VAR) when a
# recipe first needs it and never at parse time: on a fresh machine `make
# test` reads this file before build-aux/deps.sh installs the libraries.
pc = $(if $(filter undefined,$(origin $(1))),$(eval $(1) := $(shell $(PKG) $(2))))$($(1))

# $(call deps,GROUP...): the first line of a target that needs Debian
# packages: installs what build-aux/packages/GROUP.txt lists and dpkg lacks
# (as root), or stops with one line naming it. The target then makes what it
# builds in a new make, which sees the installed libraries. DEPS=0 skips it.
deps = $(Q)build-aux/deps.sh $(1)
SUBMAKE = $(MAKE) --no-print-directory

LIBS_PC := libnl-3.0 libnl-route-3.0 libcap
ifeq ($(STATIC),1)
# Debian ships libnl-3, libnl-route-3 and libcap as .a, but cJSON only as a
# shared library: libcjson.a is built from Debian's cjson source package,
# which build-aux/fetch-cjson.sh fetches once into CJSON_SRC (git-ignored,
# kept by `make clean`; `make distclean` drops it). The plugin compiles
# against that source's own cJSON.h.
CJSON_SRC ?= deps/cjson
CJSON_DIR := $(BUILD)/cjson
CJSON_A   := $(CJSON_DIR)/libcjson.a
CJSON_H   := $(CJSON_DIR)/include/cjson/cJSON.h
CJSON_CFLAGS ?= -O2 -g
PC_CFLAGS = -I$(CJSON_DIR)/include $(call pc,PC_CFLAGS_,--cflags $(LIBS_PC))
PC_LIBS   = $(CJSON_A) $(call pc,PC_LIBS_,--static --libs $(LIBS_PC)) -lm
# libnl's references to glibc's NSS lookups go to build-aux/static-nss.c;
# --fatal-warnings turns glibc's "Using 'X' in statically linked
# applications" link warning into an error should another one appear.
NSS_WRAP  := getaddrinfo getnameinfo getprotobyname getprotobynumber
NSS_OBJ   := $(BUILD)/build-aux/static-nss.o
BIN_LDFLAGS := -static -Wl,--fatal-warnings $(NSS_WRAP:%=-Wl,--wrap=%)
else
PC_CFLAGS = $(call pc,PC_CFLAGS_,--cflags libcjson $(LIBS_PC))
PC_LIBS   = $(call pc,PC_LIBS_,--libs libcjson $(LIBS_PC))
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

PLUGIN_SRC := $(sort $(wildcard plugin/*.c))
CMD_SRC    := $(sort $(wildcard cmd/*.c))
PLUGIN_OBJ := $(PLUGIN_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ    := $(CMD_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC   := $(sort $(wildcard test/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:test/unit/%.c=$(BUILD)/test/%)

BIN := $(BUILD)/flowsteer

.PHONY: all test unit bats e2e e2e-cri e2e-k8s e2e-steer test-prom check-prom prom-rules bench bench-e2e demo fuzz install uninstall clean distclean lint
all: $(BIN)

$(BIN): $(CMD_OBJ) $(NSS_OBJ) $(BUILD)/libflowsteer.a $(CJSON_A)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) $(BIN_LDFLAGS) -o $@ $(CMD_OBJ) $(NSS_OBJ) $(BUILD)/libflowsteer.a $(LDLIBS)

$(BUILD)/libflowsteer.a: $(PLUGIN_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/test/%: test/unit/%.c $(BUILD)/libflowsteer.a $(CJSON_A)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libflowsteer.a $(LDLIBS) $(call pc,CMOCKA_LIBS_,--libs cmocka)

ifeq ($(STATIC),1)
$(PLUGIN_OBJ) $(CMD_OBJ) $(NSS_OBJ) $(UNIT_BIN): | $(CJSON_H)

$(CJSON_SRC)/cJSON.c $(CJSON_SRC)/cJSON.h &:
	$(Q)build-aux/fetch-cjson.sh $(CJSON_SRC)

$(CJSON_H): $(CJSON_SRC)/cJSON.h
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

# cJSON's own flags (CMakeLists.txt, as Debian builds it) plus ours for hardening.
$(CJSON_DIR)/cJSON.o: $(CJSON_SRC)/cJSON.c $(CJSON_SRC)/cJSON.h
	@mkdir -p $(dir $@)
	@echo "  CC      $< ($$(cat $(CJSON_SRC)/DEBIAN-VERSION 2>/dev/null || echo local))"
	$(Q)$(CC) $(CJSON_CFLAGS) -std=c89 -fvisibility=hidden -DCJSON_EXPORT_SYMBOLS \
		-DCJSON_API_VISIBILITY -fstack-protector-strong -D_FORTIFY_SOURCE=2 -c -o $@ $<

$(CJSON_A): $(CJSON_DIR)/cJSON.o
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^
endif

unit: $(UNIT_BIN)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "== $$t"; $(EMU) $$t; done

# The suite also needs the plain static build (100-static.bats checks and
# chroots it) and a plain dynamic one (110-valgrind.bats: memcheck can neither
# replace malloc in a static binary nor run an ASan one), whatever BIN is.
STATIC_BIN := build/flowsteer
DYN_BIN    := build-dyn/flowsteer
.PHONY: bin-static bin-dyn
bin-static:
	$(Q)$(MAKE) --no-print-directory STATIC=1 SANITIZE=0 DEBUG_HOOKS=0 BUILD=build all
bin-dyn:
	$(Q)$(MAKE) --no-print-directory STATIC=0 SANITIZE=0 DEBUG_HOOKS=0 BUILD=build-dyn all
BATS_BINS := $(BIN) $(if $(filter $(STATIC_BIN),$(BIN)),,bin-static) $(if $(filter $(DYN_BIN),$(BIN)),,bin-dyn)

# bats needs root (network namespaces); FLOWSTEER_BIN selects the build.
bats: $(BATS_BINS)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) FLOWSTEER_STATIC_BIN=$(abspath $(STATIC_BIN)) \
		FLOWSTEER_DYN_BIN=$(abspath $(DYN_BIN)) bats --timing test/bats

test:
	$(call deps,build test)
	$(Q)$(SUBMAKE) all unit bats

# The arm64 build (cross-compiled, build-arm64/) under qemu-user: the unit
# tests, then the static checks and the core bats cases (test/arm64/run.sh).
.PHONY: deps-arm64 test-arm64
deps-arm64:
	$(Q)build-aux/arm64-deps.sh
test-arm64: deps-arm64
	$(Q)$(MAKE) --no-print-directory ARCH=arm64 all unit
	$(Q)test/arm64/run.sh

e2e:
	$(call deps,build test e2e)
	$(Q)$(SUBMAKE) $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/run.sh

# Pods through a real runtime: containerd 1.6's CRI, its own instance in a
# temp dir and the testbed's node netns (root; see e2e/README.md).
e2e-cri:
	$(call deps,build test e2e)
	$(Q)$(SUBMAKE) $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/cri/run.sh

# A real single-node Kubernetes (built once from Debian's source package,
# cached), the shipped manifests and the image from make image (root; see
# e2e/README.md). K8S_QUIET_SECONDS (default 600) shortens the quiet phase.
e2e-k8s:
	$(call deps,build test e2e image k8s)
	$(Q)$(SUBMAKE) image
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/k8s/run.sh

# The steering section alone, on its own testbed: STEER_ARGS='--repeat 20'.
e2e-steer:
	$(call deps,build test e2e)
	$(Q)$(SUBMAKE) $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/steering.sh $(STEER_ARGS)

# Alerts and dashboard (conf/prometheus, conf/grafana): promtool, then a
# real Prometheus and node_exporter scraping the agent on the e2e testbed
# (root; see docs/alerts.md). prom-rules regenerates the PrometheusRule.
test-prom:
	$(call deps,build test e2e prom)
	$(Q)$(SUBMAKE) $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) test/prom/run.sh

# The static part alone (no root): promtool, the PrometheusRule, the dashboard.
check-prom:
	$(Q)PROM_ONLY=static test/prom/run.sh

prom-rules:
	$(Q)build-aux/gen-prometheusrule.py

bench:
	$(call deps,build test e2e)
	$(Q)$(SUBMAKE) $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) test/bench/bench.sh

bench-e2e:
	$(call deps,build test e2e)
	$(Q)$(SUBMAKE) $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/bench.sh $(BENCH_ARGS)

demo:
	$(Q)e2e/demo.sh

fuzz:
	$(call deps,build test)
	$(Q)test/fuzz/run.sh $(FUZZ_SECONDS)

install: $(BIN)
	install -d $(DESTDIR)$(CNI_BIN_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(CNI_BIN_DIR)/flowsteer

uninstall:
	rm -f $(DESTDIR)$(CNI_BIN_DIR)/flowsteer

clean:
	rm -rf build build-dyn build-san build-debug build-fuzz build-arm64 build-arm64-dyn

distclean: clean
	rm -rf deps

-include $(PLUGIN_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(NSS_OBJ:.o=.d)

include agent/agent.mk
