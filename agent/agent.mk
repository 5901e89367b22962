# flowsteer-agent: the node agent (agent/), included by the Makefile.
# libcurl, libmicrohttpd and libyaml are linked here only; the agent shares
# the plugin's conflist/util code through libflowsteer.a.
AGENT_PC     := libcurl libmicrohttpd yaml-0.1 libcjson
AGENT_CFLAGS = $(call pc,AGENT_CFLAGS_,--cflags $(AGENT_PC)) -Iagent
AGENT_LIBS   = $(call pc,AGENT_LIBS_,--libs $(AGENT_PC)) -pthread

AGENT_SRC := $(sort $(wildcard agent/*.c))
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/%.o)
AGENT_LIB_OBJ := $(filter-out $(BUILD)/agent/main.o,$(AGENT_OBJ))
AGENT_BIN := $(BUILD)/flowsteer-agent
AGENT_UNIT_SRC := $(sort $(wildcard test/agent/unit/test_*.c))
AGENT_UNIT_BIN := $(AGENT_UNIT_SRC:test/agent/unit/%.c=$(BUILD)/test/agent/%)

.PHONY: agent agent-unit image test-image bench-agent bench-remask bench-agent-stall
# kpatch: a test client of the status patch (kube_patch_prepare/finish) for the bats tests.
AGENT_KPATCH := $(BUILD)/test/agent/kpatch
all: $(AGENT_BIN) $(AGENT_KPATCH)
agent: $(AGENT_BIN)

$(BUILD)/agent/%.o: CFLAGS += $(AGENT_CFLAGS)

$(AGENT_BIN): $(AGENT_OBJ) $(BUILD)/libflowsteer.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(AGENT_OBJ) $(BUILD)/libflowsteer.a $(AGENT_LIBS) $(LDLIBS)

$(BUILD)/test/agent/%: test/agent/unit/%.c $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(AGENT_CFLAGS) $(LDFLAGS) -o $@ $< $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a \
		$(AGENT_LIBS) $(LDLIBS) $(call pc,CMOCKA_LIBS_,--libs cmocka)

$(AGENT_KPATCH): test/agent/kpatch.c $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(AGENT_CFLAGS) $(LDFLAGS) -o $@ $< $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a \
		$(AGENT_LIBS) $(LDLIBS)

agent-unit: $(AGENT_UNIT_BIN)
	$(Q)set -e; for t in $(AGENT_UNIT_BIN); do echo "== $$t"; $(EMU) $$t; done
unit: agent-unit
# The bats files find the agent next to $(FLOWSTEER_BIN).
bats: $(AGENT_BIN) $(AGENT_KPATCH)

# The image (podman; bases made from Debian packages by mmdebstrap, since
# no base image can be pulled): see test/image/build.sh.
# Tagged with the release (the file VERSION), the tag the DaemonSet names;
# the agent inside reports git describe (flowsteer-agent --version).
IMAGE ?= localhost/flowsteer-agent:$(RELEASE)
# One image index, linux/amd64 and linux/arm64 (IMAGE_ARCHES narrows it):
# the arm64 binaries are cross-compiled here (make ARCH=arm64), never built
# under emulation.
IMAGE_ARCHES ?= amd64 arm64
.PHONY: image-arm64-bins
image-arm64-bins: deps-arm64
	$(Q)$(MAKE) --no-print-directory ARCH=arm64 BUILD=build-arm64 build-arm64/flowsteer build-arm64/flowsteer-agent
IMAGE_ARM64 := $(if $(filter arm64,$(IMAGE_ARCHES)),image-arm64-bins)
image:
	$(call deps,build image)
	$(Q)$(SUBMAKE) $(BIN) $(AGENT_BIN) $(IMAGE_ARM64)
	$(Q)IMAGE=$(IMAGE) IMAGE_ARCHES="$(IMAGE_ARCHES)" test/image/build.sh
test-image:
	$(call deps,build test image)
	$(Q)$(SUBMAKE) $(BIN) $(AGENT_BIN) $(IMAGE_ARM64)
	$(Q)IMAGE=$(IMAGE) IMAGE_ARCHES="$(IMAGE_ARCHES)" test/image/test.sh

bench-agent: $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) test/agent/bench.sh

# Status patch latency, re-mask time and rescan cost for PODS attachments.
bench-remask: $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) FLOWSTEER_BIN=$(abspath $(BIN)) test/agent/bench-remask.sh

# Event-to-file latency of the loop with 200 tuned pods, quiet and with a
# scrape every 100 ms (re-masks in both): a scrape must never stall it.
bench-agent-stall: $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) FLOWSTEER_BIN=$(abspath $(BIN)) test/agent/bench-stall.sh

-include $(AGENT_OBJ:.o=.d)
