#!/usr/bin/env bash
# Builds test/fuzz/fuzz_config.c with libFuzzer + ASan + UBSan (clang) into
# build-fuzz/ and runs it for a bounded time.
#
#   test/fuzz/run.sh [SECONDS]     (default 60; `make fuzz FUZZ_SECONDS=30`)
#
# Seeds: the committed test/fuzz/seeds/, plus configurations made here from
# the committed fixtures (test/fixtures: Calico's
# prevResults wrapped into flowsteer configs, the conflist's entries).
# New interesting inputs accumulate in test/fuzz/corpus-run/ (git-ignored).
# A crash leaves its input in build-fuzz/crash-* and fails the run; replay it
# with: build-fuzz/fuzz_config build-fuzz/crash-<hash>
set -euo pipefail

SECONDS_TO_RUN=${1:-${FUZZ_SECONDS:-60}}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$REPO/build-fuzz
CC=${FUZZ_CC:-clang}
FIXTURES=${FIXTURES:-$REPO/test/fixtures}
CORPUS=$REPO/test/fuzz/corpus-run

command -v "$CC" >/dev/null || { echo "fuzz: $CC not installed (Debian: clang libclang-rt-14-dev)" >&2; exit 1; }
cd "$REPO"
mkdir -p "$OUT/obj" "$OUT/seeds" "$CORPUS"

# The pure parsing modules only: nothing here may touch the kernel.
SRCS=(plugin/config.c plugin/cni.c plugin/prevres.c plugin/annot.c plugin/cpumask.c
	plugin/err.c plugin/log.c plugin/util.c plugin/json.c plugin/conflist.c plugin/annotcache.c plugin/cpuset.c
	plugin/model.c plugin/model_json.c plugin/model_parse.c plugin/sysfs.c)
FLAGS=(-g -O1 -std=gnu11 -D_GNU_SOURCE -Iplugin $(pkg-config --cflags libcjson)
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
	-fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter)
objs=()
for s in "${SRCS[@]}" test/fuzz/fuzz_config.c; do
	o=$OUT/obj/$(basename "${s%.c}").o
	if [ ! -e "$o" ] || [ "$s" -nt "$o" ] || [ -n "$(find plugin -name '*.h' -newer "$o")" ]; then
		echo "  CC      $s"
		"$CC" "${FLAGS[@]}" -c -o "$o" "$s"
	fi
	objs+=("$o")
done
echo "  LD      $OUT/fuzz_config"
"$CC" -fsanitize=fuzzer,address,undefined -o "$OUT/fuzz_config" "${objs[@]}" \
	$(pkg-config --libs libcjson) -lm

# Seeds from the committed fixtures.
rm -f "$OUT"/seeds/*
if [ -d "$FIXTURES" ] && command -v jq >/dev/null; then
	for f in "$FIXTURES"/calico-*-prevresult-*.json; do
		[ -e "$f" ] || continue
		b=$(basename "$f" .json)
		for v in 0.3.1 0.4.0 1.0.0 1.1.0; do
			jq -c --arg v "$v" '{cniVersion: $v, name: "k8s-pod-network", type: "flowsteer",
				fuzzNetns: "/var/run/netns/cni-fuzz",
				prevResult: (.cniVersion = $v | .interfaces |= map(if .sandbox then .sandbox = "/var/run/netns/cni-fuzz" else . end))}' \
				"$f" >"$OUT/seeds/$b-$v.json"
		done
	done
	for f in "$FIXTURES"/*.conflist; do
		[ -e "$f" ] || continue
		jq -c '.cniVersion as $v | .name as $n | .plugins[] | .cniVersion = $v | .name = $n' "$f" |
			split -l 1 - "$OUT/seeds/$(basename "$f" .conflist)-"
	done
else
	echo "fuzz: no fixtures at $FIXTURES; using the committed seeds only"
fi

echo "  FUZZ    ${SECONDS_TO_RUN}s"
"$OUT/fuzz_config" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=2048 \
	-max_len=65536 -print_final_stats=1 -artifact_prefix="$OUT/" \
	-dict="$REPO/test/fuzz/config.dict" \
	"$CORPUS" "$REPO/test/fuzz/seeds" "$OUT/seeds"
