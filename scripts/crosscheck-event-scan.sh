#!/usr/bin/env bash
# Cross-checks event_scan_fds against a minimal C loop: prints the C per-call time next to
# criterion's median for the same function and N (run `cargo bench --bench event_scan` first).
# Usage: scripts/crosscheck-event-scan.sh [iterations]
set -euo pipefail

cd "$(dirname "$0")/.."
iters="${1:-20000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cc -O2 -Wall -o "$tmp/event_scan" scripts/crosscheck/event_scan.c

median_ns() {
    local f="${CRITERION_HOME:-${CARGO_TARGET_DIR:-target}/criterion}/event_scan_fds/$1/$2/new/estimates.json"
    if [[ -f "$f" ]]; then
        # {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":X,...},...}
        sed -E 's/.*"median":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$f" |
            awk '{ printf "%.0f", $1 }'
    else
        printf 'n/a'
    fi
}

printf '%-8s %6s %12s %14s %8s\n' function n_fds "C ns/call" "criterion ns" "ratio"
for n in 1 1000; do
    while read -r fn n_fds c_ns rest; do
        if [[ "$c_ns" == skipped ]]; then
            printf '%-8s %6s %12s %14s\n' "$fn" "$n_fds" "$c_ns $rest" "-"
            continue
        fi
        rust_ns="$(median_ns "$fn" "$n_fds")"
        ratio="n/a"
        if [[ "$rust_ns" != n/a ]]; then
            ratio="$(awk -v r="$rust_ns" -v c="$c_ns" 'BEGIN { printf "%.2f", r / c }')"
        fi
        printf '%-8s %6s %12s %14s %8s\n' "$fn" "$n_fds" "$c_ns" "$rust_ns" "$ratio"
    done < <("$tmp/event_scan" "$n" "$((n >= 1000 ? iters / 10 : iters))")
done
echo "(machine load: $(cut -d' ' -f1-3 /proc/loadavg); compare runs made close together)"
