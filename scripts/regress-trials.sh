#!/usr/bin/env bash
# Usage: scripts/regress-trials.sh <aa | ID=FRACTION> <trials> [threadbench regress options]
#   e.g. scripts/regress-trials.sh aa 20 --benches spawn --max-minutes 10
#        scripts/regress-trials.sh spawn/thread_spawn_join=0.25 20 --benches spawn
#
# How often `threadbench regress` cries wolf and how often it catches a slowdown of known
# size, on this machine. Each trial compares this checkout with itself — the same binaries on
# both sides — in paired rounds until decided; `ID=FRACTION` makes benchmark ID that much
# slower on the head side only, through the benches' injected-slowdown hook
# (THREADBENCH_INJECT_SLOWDOWN, src/harness/clock.rs). Every trial also judges its rounds
# unpaired (`compare` over the rounds' medians, Mann-Whitney), so the two rules can be set
# side by side. Appends one line per trial to $THREADBENCH_TRIALS (default
# target/regress-trials.tsv) and keeps each trial's tree and log under target/regress-trials/.
# THREADBENCH_TIMING_LOCK=<file> runs each trial under `flock <file>` so timing runs of
# several people on one machine never overlap. THREADBENCH_PROFILE defaults to ci. Needs jq.
set -euo pipefail

if [[ $# -lt 2 ]] || ! [[ $2 =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: $0 <aa | ID=FRACTION> <trials> [threadbench regress options]" >&2
    exit 2
fi
kind=$1 trials=$2
shift 2
command -v jq >/dev/null || { echo "$0: needs jq" >&2; exit 2; }
cd "$(dirname "$0")/.."
export THREADBENCH_PROFILE="${THREADBENCH_PROFILE:-ci}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
table="${THREADBENCH_TRIALS:-$target/regress-trials.tsv}"
slow_id=""
head_env=()
if [[ $kind != aa ]]; then
    slow_id=${kind%=*}
    head_env=(--head-env "THREADBENCH_INJECT_SLOWDOWN=$kind")
fi
lock=()
[[ -n ${THREADBENCH_TIMING_LOCK:-} ]] && lock=(flock "$THREADBENCH_TIMING_LOCK")

cargo build --release --quiet --bin threadbench
tb="$target/release/threadbench"
[[ -f $table ]] || printf 'started\tprofile\tkind\texit\tminutes\tpairs\tregressed\timproved\tunchanged\tinconclusive\ttarget\tunpaired_exit\tunpaired_flagged\tunpaired_target\n' >"$table"

# verdict JSON ID -> the verdict of benchmark ID ("-" without one).
verdict_of() { jq -r --arg id "$2" '[.benchmarks[] | select(.id == $id) | .verdict][0] // "-"' "$1"; }
# flagged JSON -> rows (benchmarks and ratios) called regressed or improved.
flagged() { jq '[.benchmarks[], .ratios[] | select(.verdict == "regressed" or .verdict == "improved")] | length' "$1"; }

for ((t = 1; t <= trials; t++)); do
    dir="$target/regress-trials/$(date -u +%Y%m%dT%H%M%S)-$t"
    mkdir -p "$dir"
    started=$(date -u +%FT%TZ)
    status=0
    "${lock[@]}" "$tb" regress --base-dir . --base-target "$target" --head-dir . \
        --head-target "$target" --criterion-dir "$dir/criterion" --format json \
        "${head_env[@]}" "$@" >"$dir/paired.json" 2>"$dir/log" || status=$?
    # regress's own time: waiting for the lock does not count.
    minutes=$(sed -n 's/^threadbench regress: \([0-9.]*\) min.*/\1/p' "$dir/log")
    if ((status == 2)); then
        echo "trial $t: threadbench regress failed, see $dir/log" >&2
        tail -n 5 "$dir/log" >&2
        exit 2
    fi
    ustatus=0
    "$tb" compare --baseline base --head head --criterion-dir "$dir/criterion" --format json \
        >"$dir/unpaired.json" || ustatus=$?
    s() { jq -r ".summary.$1" "$dir/paired.json"; }
    pairs=$(jq '[.benchmarks[].rounds] | max' "$dir/paired.json")
    line=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$started" \
        "$THREADBENCH_PROFILE" "$kind" "$status" "$minutes" "$pairs" "$(s regressed)" \
        "$(s improved)" "$(s unchanged)" "$(s inconclusive)" \
        "$(verdict_of "$dir/paired.json" "$slow_id")" "$ustatus" "$(flagged "$dir/unpaired.json")" \
        "$(verdict_of "$dir/unpaired.json" "$slow_id")")
    echo "$line" >>"$table"
    echo "trial $t/$trials: $line" >&2
done
