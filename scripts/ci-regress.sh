#!/usr/bin/env bash
# Usage: scripts/ci-regress.sh <base-rev> [compare options, e.g. --format markdown --only-changed]
#
# Benchmarks <base-rev> against the current checkout and exits with `threadbench compare`'s
# status (0 clean, 1 regressed, 2 bad input; with --gate ratios 1 only when a ratio metric moved
# in the direction its row calls worse). By hand the same comparison is
# `cargo bench -- --save-baseline base` on the old code, `cargo bench -- --baseline base` on the
# new, then `threadbench compare --baseline base`; this script adds a clean tree and interleaving.
# The base revision is built in a temporary git worktree (removed on exit). Bench files run
# interleaved — base A, head A, base B, head B, … — so slow drift of the machine hits both sides
# alike. Both sides write into ONE criterion tree
# ($CRITERION_HOME, default target/criterion-regress, wiped first): criterion's `--save-baseline
# base` stores the base run under <bench>/base/ and the head run with `--baseline-lenient base`
# lands in <bench>/new/ next to it. Each side keeps its own cargo target dir so the two builds
# never overwrite each other's binaries. THREADBENCH_PROFILE selects the profile (default ci);
# THREADBENCH_BASE_TARGET keeps the base side's cargo target dir between runs.
# THREADBENCH_ROUNDS=R (default 1) runs every bench file R times per side, interleaved (base A,
# head A, base A, head A, …), saved as base, base@2, … and head, head@2, …; with R >= 5 compare
# judges each benchmark over the rounds' medians — what a machine whose speed drifts from run to
# run needs (see the README's *Regression tracking*). THREADBENCH_BENCHES="spawn ..." limits the
# bench files.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 <base-rev> [threadbench compare options]" >&2
    exit 2
fi
base_rev=$1
shift

head_dir=$(git rev-parse --show-toplevel)
cd "$head_dir"
export THREADBENCH_PROFILE="${THREADBENCH_PROFILE:-ci}"
export CRITERION_HOME="${CRITERION_HOME:-$head_dir/target/criterion-regress}"
rounds="${THREADBENCH_ROUNDS:-1}"
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
    echo "THREADBENCH_ROUNDS must be a positive integer, got '$rounds'" >&2
    exit 2
fi
# round NAME K -> the baseline name of round K: NAME, NAME@2, NAME@3, ...
round() { if (($2 == 1)); then echo "$1"; else echo "$1@$2"; fi; }
if ((rounds > 1 && rounds < 5)); then
    echo "THREADBENCH_ROUNDS=$rounds: with fewer than 5 rounds per side no rank test can reach p < 0.01; use 1 or >= 5" >&2
    exit 2
fi
extra=()
((rounds > 1)) && extra=(--noplot)
head_target="${CARGO_TARGET_DIR:-$head_dir/target}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadbench-regress.XXXXXX")
base_dir="$tmp/base"
# A persistent target dir for the base build (THREADBENCH_BASE_TARGET) saves rebuilding the
# dependencies on every run; it must not be the head's.
base_target="${THREADBENCH_BASE_TARGET:-$tmp/target}"
cleanup() {
    git -C "$head_dir" worktree remove --force "$base_dir" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

git worktree add --detach "$base_dir" "$base_rev" >/dev/null
rm -rf "$CRITERION_HOME"
mkdir -p "$CRITERION_HOME"

# Build both sides first so no compile runs between the interleaved measurements.
(cd "$base_dir" && CARGO_TARGET_DIR="$base_target" cargo bench --no-run --quiet)
CARGO_TARGET_DIR="$head_target" cargo bench --no-run --quiet
CARGO_TARGET_DIR="$head_target" cargo build --release --quiet --bin threadbench

benches_of() { find "$1/benches" -maxdepth 1 -name '*.rs' -printf '%f\n' | sed 's/\.rs$//' | sort; }
mapfile -t benches < <(sort -u <(benches_of "$head_dir") <(benches_of "$base_dir"))
# THREADBENCH_BENCHES="spawn context_switch" limits the run to those bench files.
if [[ -n ${THREADBENCH_BENCHES:-} ]]; then
    read -ra benches <<<"$THREADBENCH_BENCHES"
fi

stamp="$tmp/stamp"
for b in "${benches[@]}"; do
    for ((k = 1; k <= rounds; k++)); do
        if [[ -f "$base_dir/benches/$b.rs" ]]; then
            touch "$stamp"
            echo "== base $base_rev: $b (round $k of $rounds)" >&2
            (cd "$base_dir" && CARGO_TARGET_DIR="$base_target" cargo bench --quiet --bench "$b" -- \
                "${extra[@]}" --save-baseline "$(round base "$k")") >&2
            # Criterion also leaves the base run in new/: drop it, or a benchmark the head no
            # longer has would look unchanged instead of missing.
            find "$CRITERION_HOME" -type d -name new -newer "$stamp" -prune -exec rm -rf {} +
        fi
        if [[ -f "$head_dir/benches/$b.rs" ]]; then
            echo "== head: $b (round $k of $rounds)" >&2
            if ((rounds == 1)); then
                CARGO_TARGET_DIR="$head_target" cargo bench --quiet --bench "$b" -- --baseline-lenient base >&2
            else
                CARGO_TARGET_DIR="$head_target" cargo bench --quiet --bench "$b" -- \
                    "${extra[@]}" --save-baseline "$(round head "$k")" >&2
            fi
        fi
    done
done

head_args=()
((rounds > 1)) && head_args=(--head head)
status=0
"$head_target/release/threadbench" compare --baseline base "${head_args[@]}" --criterion-dir "$CRITERION_HOME" "$@" || status=$?
exit "$status"
