#!/bin/bash
# Turns a bench.sh output dir (runs.csv, cpu.csv) into the summary and the
# plots: stats.csv, cpu-stats.csv, summary.md, normalized_bitrate.png,
# bitrate.png, cpu_r<N>.png. Re-runnable on its own:
#   e2e/bench-report.sh e2e/results/<timestamp>
# Normalised bitrate = a run's aggregate bitrate / the mean Baseline bitrate
# at the same replica count, as in the study; mean ± 95% confidence
# interval from the t-distribution over the repetitions.
set -uo pipefail
E2E_DIR=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$E2E_DIR/.." && pwd)
OUT=${1:?usage: $0 OUTPUT_DIR}
STUDY_DIR=${STUDY_DIR:-$REPO/e2e/study}
ORDER="Baseline RPS RPS-7 RFS RPS+ RPS-7+ RFS+"

die() { echo "bench-report: $*" >&2; exit 1; }
[ -s "$OUT/runs.csv" ] || die "$OUT/runs.csv is missing or empty"
cd "$OUT" || die "cannot enter $OUT"

# Configurations present, in the study's order; replica counts, ascending.
present=$(awk -F, 'NR > 1 { print $2 }' runs.csv | sort -u)
CONFIGS=()
for c in $ORDER; do grep -qxF -- "$c" <<<"$present" && CONFIGS+=("$c"); done
mapfile -t REPLICAS < <(awk -F, 'NR > 1 { print $3 }' runs.csv | sort -n -u)
[ ${#CONFIGS[@]} -gt 0 ] || die "no runs in runs.csv"
REF=Baseline
[[ " ${CONFIGS[*]} " == *" Baseline "* ]] || REF=${CONFIGS[0]}

# Two-sided 95% quantile of Student's t for df degrees of freedom.
AWK_T='function tq(df) {
	split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086 2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", T, " ")
	if (df < 1) return 0
	if (df <= 30) return T[df]
	if (df <= 40) return 2.021
	if (df <= 60) return 2.000
	if (df <= 120) return 1.980
	return 1.960
}
function ci(sum, sumsq, n,   m, v) {
	if (n < 2) return ""
	m = sum / n; v = (sumsq - n * m * m) / (n - 1); if (v < 0) v = 0
	return tq(n - 1) * sqrt(v) / sqrt(n)
}'

# stats.csv: config,replicas,runs,mean_bps,ci_bps,norm_mean,norm_ci
# (runs where a pair failed are left out and counted in "excluded").
awk -F, -v ref="$REF" "$AWK_T"'
NR == 1 { next }
$7 < $6 { bad[$2 SUBSEP $3]++; next }
{ k = $2 SUBSEP $3; n[k]++; s[k] += $8; q[k] += $8 * $8 }
END {
	print "config,replicas,runs,excluded,mean_bps,ci_bps,norm_mean,norm_ci"
	for (k in n) mean[k] = s[k] / n[k]
	for (k in n) {
		split(k, a, SUBSEP); c = ci(s[k], q[k], n[k]); b = mean[ref SUBSEP a[2]]
		nm = b > 0 ? mean[k] / b : ""; nc = (b > 0 && c != "") ? c / b : ""
		printf "%s,%s,%d,%d,%.0f,%s,%s,%s\n", a[1], a[2], n[k], bad[k] + 0, mean[k],
			c == "" ? "" : sprintf("%.0f", c), nm == "" ? "" : sprintf("%.4f", nm), nc == "" ? "" : sprintf("%.4f", nc)
	}
	for (k in bad) if (!(k in n)) { split(k, a, SUBSEP); printf "%s,%s,0,%d,,,,\n", a[1], a[2], bad[k] }
}' runs.csv >stats.csv

# cpu-stats.csv: config,replicas,cpu,soft_mean,soft_ci,idle_mean,idle_ci,runs,node
# (node: server or client; cpu.csv files without the column are server-only)
awk -F, "$AWK_T"'
NR == 1 { next }
{ node = $10 == "" ? "server" : $10; k = $1 SUBSEP $2 SUBSEP $4 SUBSEP node
  n[k]++; s[k] += $7; q[k] += $7 * $7; i[k] += $8; j[k] += $8 * $8 }
END {
	print "config,replicas,cpu,soft_mean,soft_ci,idle_mean,idle_ci,runs,node"
	for (k in n) {
		split(k, a, SUBSEP)
		printf "%s,%s,%s,%.2f,%s,%.2f,%s,%d,%s\n", a[1], a[2], a[3], s[k] / n[k], ci(s[k], q[k], n[k]),
			i[k] / n[k], ci(i[k], j[k], n[k]), n[k], a[4]
	}
}' cpu.csv >cpu-stats.csv

st() { # CONFIG REPLICAS FIELD(4..8)
	awk -F, -v c="$1" -v r="$2" -v f="$3" '$1 == c && $2 == r { print $f }' stats.csv
}
study() { # FILE CONFIG REPLICAS
	[ -f "$STUDY_DIR/$1" ] || return 0
	awk -F, -v c="$2" -v r="$3" '
		NR == 1 { for (i = 2; i <= NF; i++) col[$i] = i; next }
		{ split($1, w, " ") } w[1] == r && (c in col) { printf "%.3f", $col[c] }' "$STUDY_DIR/$1"
}
fmt() { # MEAN CI DIGITS
	[ -n "$1" ] || { printf 'n/a'; return; }
	if [ -n "$2" ]; then printf "%.${3}f ± %.${3}f" "$1" "$2"; else printf "%.${3}f" "$1"; fi
}
cpus_of() { awk -F, -v r="$1" -v n="${2:-server}" 'NR > 1 && $2 == r && $9 == n { print $3 }' cpu-stats.csv | sort -n -u; }
nic_cpu=$(sed -n 's/.*NIC interrupt emulated on CPU \([0-9]*\)).*/\1/p' setup.txt 2>/dev/null | head -1)

# ---------------------------------------------------------------- summary.md
{
	echo "# flowsteer e2e benchmark: summary"
	echo
	if [ -f README.md ] && grep -q 'pipeline check' README.md; then
		echo "> **2-core pipeline check, not a measurement of the effect** (see README.md)."
		echo
	fi
	echo '```'
	cat setup.txt 2>/dev/null
	echo '```'
	echo
	echo "Command (also in command.txt):"
	echo
	echo '```'
	cat command.txt 2>/dev/null
	echo '```'
	echo
	echo "## Bitrate normalised to $REF, per replica count"
	echo
	echo "Aggregate iperf3 bitrate of all pairs divided by the mean $REF bitrate at the same"
	echo "replica count; mean ± 95% confidence interval (t-distribution, over repetitions;"
	echo "n/a with one repetition). In parentheses: the seed study's value"
	echo "([e2e/study/normalized_bitrate.csv](../../study/normalized_bitrate.csv), 4-core nodes)."
	echo
	printf '| Replicas |'; printf ' %s |' "${CONFIGS[@]}"; echo
	printf '| ---: |'; printf ' ---: |%.0s' "${CONFIGS[@]}"; echo
	for r in "${REPLICAS[@]}"; do
		printf '| %s |' "$r"
		for c in "${CONFIGS[@]}"; do
			s=$(study normalized_bitrate.csv "$c" "$r")
			printf ' %s%s |' "$(fmt "$(st "$c" "$r" 7)" "$(st "$c" "$r" 8)" 3)" "${s:+ ($s)}"
		done
		echo
	done
	echo
	echo "## Aggregate bitrate (Gbit/s, mean ± 95% CI)"
	echo
	printf '| Replicas |'; printf ' %s |' "${CONFIGS[@]}"; echo
	printf '| ---: |'; printf ' ---: |%.0s' "${CONFIGS[@]}"; echo
	for r in "${REPLICAS[@]}"; do
		printf '| %s |' "$r"
		for c in "${CONFIGS[@]}"; do
			m=$(st "$c" "$r" 5) e=$(st "$c" "$r" 6)
			printf ' %s |' "$(fmt "${m:+$(awk -v x="$m" 'BEGIN { print x / 1e9 }')}" "${e:+$(awk -v x="$e" 'BEGIN { print x / 1e9 }')}" 2)"
		done
		echo
	done
	echo
	ex=$(awk -F, 'NR > 1 { s += $4 } END { print s + 0 }' stats.csv)
	[ "$ex" = 0 ] || { echo "$ex run(s) with a failed iperf3 pair were left out (see runs.csv, pairs_ok)."; echo; }
	for r in $(printf '%s\n' "${REPLICAS[0]}" "${REPLICAS[${#REPLICAS[@]} - 1]}" | sort -n -u); do
		echo "## Per core: %soft / %idle at $r replica(s) (mpstat, mean over the run)"
		echo
		echo "Server node first (the NIC's CPU marked), then the client node, which must not be the"
		echo "bottleneck for the server side to be what is measured."
		echo
		printf '| CPU |'; printf ' %s |' "${CONFIGS[@]}"; echo
		printf '| ---: |'; printf ' ---: |%.0s' "${CONFIGS[@]}"; echo
		for node in server client; do
			for cpu in $(cpus_of "$r" $node); do
				if [ $node = server ]; then
					printf '| server %s%s |' "$cpu" "$([ "$cpu" = "$nic_cpu" ] && echo ' (NIC)')"
				else
					printf '| client %s |' "$cpu"
				fi
				for c in "${CONFIGS[@]}"; do
					awk -F, -v c="$c" -v r="$r" -v u="$cpu" -v n=$node '$1 == c && $2 == r && $3 == u && $9 == n { printf " %.1f / %.1f |", $4, $6; f = 1 }
						END { if (!f) printf " n/a |" }' cpu-stats.csv
				done
				echo
			done
		done
		echo
	done
	echo "## Tuning in effect (first run of each configuration, server node)"
	echo
	echo "| config | pod eth0 rps_cpus | pod eth0 rps_flow_cnt | cali rps_cpus | vxlan.calico rps_cpus | vxlan.calico rps_flow_cnt | underlay (emulated NIC) rps_cpus | rps_sock_flow_entries |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	for c in "${CONFIGS[@]}"; do
		awk -F, -v c="$c" '$2 == c { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c, $10, $11, $12, $13, $14, $15, $16; exit }' runs.csv
	done
	echo
	echo "Files: runs.csv (one line per run), cpu.csv (per run and core), stats.csv,"
	echo "cpu-stats.csv, flowsteer-<config>.json (flowsteer's ADD report for the first server pod),"
	echo "normalized_bitrate.png, bitrate.png, cpu_r<N>.png."
} >summary.md

# ------------------------------------------------------------------ plots
names="${CONFIGS[*]}"
ncfg=${#CONFIGS[@]}
xt=$(printf '%s,' "${REPLICAS[@]}")
xt=${xt%,}
{
	for r in "${REPLICAS[@]}"; do
		printf '%s' "$r"
		for c in "${CONFIGS[@]}"; do
			m=$(st "$c" "$r" 7) e=$(st "$c" "$r" 8)
			printf ' %s %s' "${m:-?}" "${e:-0}"
		done
		echo
	done
} >norm.dat
{
	for r in "${REPLICAS[@]}"; do
		printf '%s' "$r"
		for c in "${CONFIGS[@]}"; do
			m=$(study normalized_bitrate.csv "$c" "$r") e=$(study confidence_bitrate.csv "$c" "$r")
			printf ' %s %s' "${m:-?}" "${e:-0}"
		done
		echo
	done
} >study.dat
{
	for r in "${REPLICAS[@]}"; do
		printf '%s' "$r"
		for c in "${CONFIGS[@]}"; do
			m=$(st "$c" "$r" 5) e=$(st "$c" "$r" 6)
			if [ -n "$m" ]; then
				awk -v m="$m" -v e="${e:-0}" 'BEGIN { printf " %.4f %.4f", m / 1e9, e / 1e9 }'
			else
				printf ' ? 0'
			fi
		done
		echo
	done
} >bitrate.dat
# One y range for both panels, so the two can be compared by eye.
yr=$(awk '{ for (i = 2; i < NF; i += 2) if ($i != "?") { lo = $i - $(i + 1); hi = $i + $(i + 1)
	if (min == "" || lo < min) min = lo; if (max == "" || hi > max) max = hi } }
	END { d = (max - min) * 0.1 + 0.02; printf "%.3f:%.3f", min - d, max + d }' norm.dat study.dat)
# The study's panel only where it has a value for one of these points.
panels=1
awk '{ for (i = 2; i <= NF; i += 2) if ($i != "?") f = 1 } END { exit !f }' study.dat && panels=2
[ $panels = 2 ] || echo "bench-report: no study values for these points ($STUDY_DIR): one panel" >&2
title_note=""
grep -q 'pipeline check' README.md 2>/dev/null && title_note=" — 2-core pipeline check, not a measurement"

gnuplot <<EOF || die "gnuplot failed (normalized_bitrate.png, bitrate.png)"
set terminal pngcairo size 1400,560 font ",10"
set datafile missing '?'
set logscale x 2
set xtics ($(sed 's/\([0-9]*\)/"\1" \1/g' <<<"$xt"))
set xrange [${REPLICAS[0]} / 1.3 : ${REPLICAS[${#REPLICAS[@]} - 1]} * 1.3]
set grid
set key top left
set xlabel "client/server pod pairs (replicas)"
set ylabel "bitrate normalised to $REF"
names = "$names"
set output 'normalized_bitrate.png'
set multiplot layout 1,$panels title "Normalised iperf3 bitrate vs replicas (mean ± 95% CI)$title_note"
set yrange [$yr]
set title "this testbed (e2e/bench.sh)"
plot for [i=1:$ncfg] 'norm.dat' using 1:(column(2*i)):(column(2*i+1)) with yerrorlines lw 2 pt 7 title word(names, i)
if ($panels == 2) {
	set title "seed study (4-core nodes, e2e/study)"
	plot for [i=1:$ncfg] 'study.dat' using 1:(column(2*i)):(column(2*i+1)) with yerrorlines lw 2 dt 2 pt 6 title word(names, i)
}
unset multiplot
set terminal pngcairo size 800,560 font ",10"
set output 'bitrate.png'
set yrange [0:*]
set ylabel "aggregate bitrate (Gbit/s)"
set title "Aggregate iperf3 bitrate vs replicas (mean ± 95% CI)$title_note"
plot for [i=1:$ncfg] 'bitrate.dat' using 1:(column(2*i)):(column(2*i+1)) with yerrorlines lw 2 pt 7 title word(names, i)
EOF

for r in $(printf '%s\n' "${REPLICAS[0]}" "${REPLICAS[${#REPLICAS[@]} - 1]}" | sort -n -u); do
	cpus=$(cpus_of "$r")
	[ -n "$cpus" ] || continue
	{
		for cpu in $cpus; do
			printf '"cpu%s%s"' "$cpu" "$([ "$cpu" = "$nic_cpu" ] && echo ' (NIC)')"
			for c in "${CONFIGS[@]}"; do
				awk -F, -v c="$c" -v r="$r" -v u="$cpu" '$1 == c && $2 == r && $3 == u && $9 == "server" {
					printf " %s %s %s %s", $4, ($5 == "" ? 0 : $5), $6, ($7 == "" ? 0 : $7); f = 1 }
					END { if (!f) printf " ? 0 ? 0" }' cpu-stats.csv
			done
			echo
		done
	} >"cpu_r$r.dat"
	gnuplot <<EOF || die "gnuplot failed (cpu_r$r.png)"
set terminal pngcairo size 1400,520 font ",10"
set output 'cpu_r$r.png'
set datafile missing '?'
set style data histogram
set style histogram clustered gap 1 errorbars lw 1
set style fill solid 0.85 border -1
set grid ytics
set yrange [0:100]
set key outside right
names = "$names"
set multiplot layout 1,2 title "Server node, per core, $r replica(s) (mpstat, mean ± 95% CI)$title_note"
set title "%soft (softirq)"
set ylabel "%"
plot for [i=1:$ncfg] 'cpu_r$r.dat' using (column(4*i-2)):(column(4*i-1)):xtic(1) title word(names, i)
set title "%idle"
plot for [i=1:$ncfg] 'cpu_r$r.dat' using (column(4*i)):(column(4*i+1)):xtic(1) title word(names, i)
unset multiplot
EOF
done
echo "bench-report: wrote $OUT/summary.md and $(ls ./*.png | wc -l) plot(s)"
