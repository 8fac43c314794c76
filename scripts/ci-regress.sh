#!/usr/bin/env bash
# Usage: scripts/ci-regress.sh <base-rev> [threadbench regress options]
#   e.g. scripts/ci-regress.sh origin/main --max-minutes 20 --format markdown --only-changed
#
# Benchmarks <base-rev> against the current checkout in paired rounds until every benchmark is
# decided, and exits with `threadbench regress`'s status: 0 clean, 1 regressed, 2 bad input,
# 3 still inconclusive when the budget ran out (with --gate ratios, 1 and 3 count ratio
# metrics only). The base revision is built in a temporary git worktree (removed on exit);
# each side has its own cargo target dir. Per bench file and pair k a fresh base process and
# a fresh head process run back to back in ABBA order (base, head, then head, base, …), saved
# as base[@k] / head[@k] in one criterion tree ($CRITERION_HOME, default
# target/criterion-regress, emptied first); after each pair the files whose benchmarks are
# all decided stop and the others get another pair, up to --max-rounds pairs (default 30) or
# --max-minutes (default 30). The rule: README, *Regression tracking*.
#
# THREADBENCH_PROFILE selects the profile (default ci). THREADBENCH_BENCHES="spawn sync"
# limits the bench files. THREADBENCH_BASE_TARGET keeps the base side's cargo target dir
# between runs (saves rebuilding its dependencies). THREADBENCH_ROUNDS=R runs exactly R pairs
# per file (--min-rounds R --max-rounds R).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 <base-rev> [threadbench regress options]" >&2
    exit 2
fi
base_rev=$1
shift

head_dir=$(git rev-parse --show-toplevel)
cd "$head_dir"
export THREADBENCH_PROFILE="${THREADBENCH_PROFILE:-ci}"
head_target="${CARGO_TARGET_DIR:-$head_dir/target}"
criterion_dir="${CRITERION_HOME:-$head_dir/target/criterion-regress}"

opts=()
if [[ -n ${THREADBENCH_ROUNDS:-} ]]; then
    if ! [[ $THREADBENCH_ROUNDS =~ ^[1-9][0-9]*$ ]]; then
        echo "THREADBENCH_ROUNDS must be a positive integer, got '$THREADBENCH_ROUNDS'" >&2
        exit 2
    fi
    opts+=(--min-rounds "$THREADBENCH_ROUNDS" --max-rounds "$THREADBENCH_ROUNDS")
fi
if [[ -n ${THREADBENCH_BENCHES:-} ]]; then
    opts+=(--benches "$(tr -s ' ' ',' <<<"$THREADBENCH_BENCHES")")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadbench-regress.XXXXXX")
base_dir="$tmp/base"
base_target="${THREADBENCH_BASE_TARGET:-$tmp/target}"
cleanup() {
    git -C "$head_dir" worktree remove --force "$base_dir" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

git worktree add --detach "$base_dir" "$base_rev" >/dev/null
CARGO_TARGET_DIR="$head_target" cargo build --release --quiet --bin threadbench
status=0
"$head_target/release/threadbench" regress --base-dir "$base_dir" --base-target "$base_target" \
    --head-dir "$head_dir" --head-target "$head_target" --criterion-dir "$criterion_dir" \
    "${opts[@]}" "$@" || status=$?
exit "$status"
