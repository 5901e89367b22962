# flowsteer — CNI chained plugin that enables RPS/RFS per pod.
PREFIX      ?= /usr/local
DESTDIR     ?=
CNI_BIN_DIR ?= /opt/cni/bin
BINDIR      ?= $(PREFIX)/bin

CC      ?= cc
PKG     ?= pkg-config
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

LIBS_PC := libcjson libnl-3.0 libnl-route-3.0 libcap
PC_CFLAGS := $(shell $(PKG) --cflags $(LIBS_PC))
PC_LIBS   := $(shell $(PKG) --libs $(LIBS_PC))

WARN    := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 $(WARN) -D_GNU_SOURCE -DFLOWSTEER_VERSION='"$(VERSION)"' \
           -Iplugin $(PC_CFLAGS) -MMD -MP -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDFLAGS += -Wl,-z,relro,-z,now -Wl,--as-needed
LDLIBS  += $(PC_LIBS)

ifeq ($(WERROR),1)
CFLAGS += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -O1 -U_FORTIFY_SOURCE
LDFLAGS += -fsanitize=address,undefined
BUILD   ?= build-san
endif
ifeq ($(DEBUG_HOOKS),1)
CFLAGS += -DFLOWSTEER_DEBUG_HOOKS
endif
BUILD ?= build

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

.PHONY: all test unit bats e2e bench bench-e2e demo fuzz install uninstall clean lint
all: $(BIN)

$(BIN): $(CMD_OBJ) $(BUILD)/libflowsteer.a
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libflowsteer.a $(LDLIBS)

$(BUILD)/libflowsteer.a: $(PLUGIN_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/test/%: test/unit/%.c $(BUILD)/libflowsteer.a
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libflowsteer.a $(LDLIBS) $(shell $(PKG) --libs cmocka)

unit: $(UNIT_BIN)
	$(Q)set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# bats needs root (network namespaces); FLOWSTEER_BIN selects the build.
bats: $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) bats --timing test/bats

test: all unit bats

e2e: $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/run.sh

bench: $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) test/bench/bench.sh

bench-e2e: $(BIN)
	$(Q)FLOWSTEER_BIN=$(abspath $(BIN)) e2e/bench.sh $(BENCH_ARGS)

demo:
	$(Q)e2e/demo.sh

fuzz:
	$(Q)test/fuzz/run.sh $(FUZZ_SECONDS)

install: $(BIN)
	install -d $(DESTDIR)$(CNI_BIN_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(CNI_BIN_DIR)/flowsteer

uninstall:
	rm -f $(DESTDIR)$(CNI_BIN_DIR)/flowsteer

clean:
	rm -rf build build-san build-debug build-fuzz

-include $(PLUGIN_OBJ:.o=.d) $(CMD_OBJ:.o=.d)

include agent/agent.mk
