#!/usr/bin/env bash
# Cross-check event_scan_fds: per-call time of minimal C loops (scripts/crosscheck/event_scan.c)
# next to the suite's criterion medians (run `cargo bench --bench event_scan` first).
# Usage: scripts/crosscheck-event-scan.sh [N ...]   (default: 1 1000)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cc -O2 -o "$tmp/event_scan" "$root/scripts/crosscheck/event_scan.c"

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(1 1000)

median_ns() { # <function> <n>: criterion's median point estimate, or "-" when absent
    local f="$root/target/criterion/event_scan_fds/$1/$2/new/estimates.json"
    if [ -f "$f" ]; then
        python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$f"
    else
        echo "-"
    fi
}

printf '%-8s %7s %12s %12s %8s\n' function n_fds c_ns suite_ns ratio
for n in "${sizes[@]}"; do
    iters=$(( n >= 1000 ? 20000 : 500000 ))
    while read -r fn nn cns; do
        sns="$(median_ns "$fn" "$nn")"
        ratio="-"
        [ "$sns" != "-" ] && ratio="$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$sns" "$cns")"
        printf '%-8s %7s %12s %12s %8s\n' "$fn" "$nn" "$cns" "$sns" "$ratio"
    done < <("$tmp/event_scan" "$n" "$iters")
done
