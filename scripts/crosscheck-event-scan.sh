#!/usr/bin/env bash
# Cross-checks event_scan_fds against a minimal C loop: prints the C per-call time (median of
# REPS runs) next to criterion's median for the same function and N, against two references —
# the single-threaded C loop, and the same loop with one idle thread (threadbench's bench
# process is multi-threaded, which makes the kernel's per-descriptor lookups in select and poll
# take a reference each; see scripts/crosscheck/event_scan.c). Run
# `cargo bench --bench event_scan` first.
# Usage: scripts/crosscheck-event-scan.sh [iterations] (CROSSCHECK_REPS, default 5)
set -euo pipefail

cd "$(dirname "$0")/.."
iters="${1:-20000}"
reps="${CROSSCHECK_REPS:-5}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cc -O2 -Wall -pthread -o "$tmp/event_scan" scripts/crosscheck/event_scan.c

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

# c_median N IDLE_THREADS -> lines "<fn>/<n_fds> <median ns per call over reps>", or
# "<fn>/<n_fds> skipped" (select above FD_SETSIZE)
c_median() {
    local n=$1 idle=$2 r
    for ((r = 0; r < reps; r++)); do
        "$tmp/event_scan" "$n" "$((n >= 1000 ? iters / 10 : iters))" "$idle"
    done | sort -k1,1 -k2,2n -k3,3n | awk '
        function flush() {
            if (m == 0) return
            if (v[1] == "skipped") print key, "skipped"
            else printf "%s %.0f\n", key, (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
            m = 0
        }
        $1 "/" $2 != key { flush(); key = $1 "/" $2 }
        { v[++m] = $3 }
        END { flush() }'
}

ratio() { if [[ $1 == n/a ]]; then printf 'n/a'; else awk -v r="$1" -v c="$2" 'BEGIN { printf "%.2f", r / c }'; fi; }

printf '%-8s %6s %10s %12s %14s %9s %11s\n' function n_fds "C ns/call" "C+thread ns" "criterion ns" "ratio C" "ratio C+thr"
for n in 1 1000; do
    paste -d' ' <(c_median "$n" 0) <(c_median "$n" 1) |
    while read -r key c0 _ c1; do
        fn="${key%/*}" n_fds="${key#*/}"
        if [[ "$c0" == skipped ]]; then
            printf '%-8s %6s %s\n' "$fn" "$n_fds" "skipped (descriptor above FD_SETSIZE)"
            continue
        fi
        rust_ns="$(median_ns "$fn" "$n_fds")"
        printf '%-8s %6s %10s %12s %14s %9s %11s\n' "$fn" "$n_fds" "$c0" "$c1" "$rust_ns" \
            "$(ratio "$rust_ns" "$c0")" "$(ratio "$rust_ns" "$c1")"
    done
done
echo "(C: median of $reps runs each; machine load: $(cut -d' ' -f1-3 /proc/loadavg); compare runs made close together)"
