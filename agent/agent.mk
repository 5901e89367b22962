# flowsteer-agent: the node agent (agent/), included by the Makefile.
# libcurl, libmicrohttpd and libyaml are linked here only; the agent shares
# the plugin's conflist/util code through libflowsteer.a.
AGENT_PC     := libcurl libmicrohttpd yaml-0.1 libcjson
AGENT_CFLAGS := $(shell $(PKG) --cflags $(AGENT_PC)) -Iagent
AGENT_LIBS   := $(shell $(PKG) --libs $(AGENT_PC)) -pthread

AGENT_SRC := $(sort $(wildcard agent/*.c))
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/%.o)
AGENT_LIB_OBJ := $(filter-out $(BUILD)/agent/main.o,$(AGENT_OBJ))
AGENT_BIN := $(BUILD)/flowsteer-agent
AGENT_UNIT_SRC := $(sort $(wildcard test/agent/unit/test_*.c))
AGENT_UNIT_BIN := $(AGENT_UNIT_SRC:test/agent/unit/%.c=$(BUILD)/test/agent/%)

.PHONY: agent agent-unit image test-image bench-agent bench-remask
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
		$(AGENT_LIBS) $(LDLIBS) $(shell $(PKG) --libs cmocka)

$(AGENT_KPATCH): test/agent/kpatch.c $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(AGENT_CFLAGS) $(LDFLAGS) -o $@ $< $(AGENT_LIB_OBJ) $(BUILD)/libflowsteer.a \
		$(AGENT_LIBS) $(LDLIBS)

agent-unit: $(AGENT_UNIT_BIN)
	$(Q)set -e; for t in $(AGENT_UNIT_BIN); do echo "== $$t"; $$t; done
unit: agent-unit
# The bats files find the agent next to $(FLOWSTEER_BIN).
bats: $(AGENT_BIN) $(AGENT_KPATCH)

# The image (podman; bases made from Debian packages by mmdebstrap, since
# no base image can be pulled): see test/image/build.sh.
IMAGE ?= localhost/flowsteer-agent:$(VERSION)
image: $(BIN) $(AGENT_BIN)
	$(Q)IMAGE=$(IMAGE) test/image/build.sh
test-image: $(BIN) $(AGENT_BIN)
	$(Q)IMAGE=$(IMAGE) test/image/test.sh

bench-agent: $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) test/agent/bench.sh

# Status patch latency, re-mask time and rescan cost for PODS attachments.
bench-remask: $(BIN) $(AGENT_BIN)
	$(Q)FLOWSTEER_AGENT_BIN=$(abspath $(AGENT_BIN)) FLOWSTEER_BIN=$(abspath $(BIN)) test/agent/bench-remask.sh

-include $(AGENT_OBJ:.o=.d)
