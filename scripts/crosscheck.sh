#!/usr/bin/env bash
# crosscheck.sh — the suite's honesty check: runs the kernel's and C's own measurements of the
# same thing next to threadbench's, and prints each pair's medians and ratio (suite / reference).
#
#   scripts/crosscheck.sh                 # every section
#   scripts/crosscheck.sh sched_pipe      # only some: sched_pipe, spawn, ... (see below)
#
# Sections are files scripts/crosscheck/<name>.sh defining `section_<name>`; a new topic adds
# its own file (no edit here). Helpers they may use: suite_bench, suite_median_us, median,
# build_c, report_header, report_pair, and the variables ROOT, WORK, CPU_A, CPU_B, REPS.
# Environment: THREADBENCH_PROFILE (default ci), CROSSCHECK_REPS (default 5),
# CROSSCHECK_CPUS="A,B" (default: the first two CPUs this process may use).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
export THREADBENCH_PROFILE="${THREADBENCH_PROFILE:-ci}"
REPS="${CROSSCHECK_REPS:-5}"
CRITERION_DIR="${CRITERION_HOME:-${CARGO_TARGET_DIR:-$ROOT/target}/criterion}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/threadbench-crosscheck.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
STAMP="$WORK/started"
touch "$STAMP"

# Expands the kernel's CPU list format (0-3,8) into space-separated numbers.
expand_cpus() {
  local part out=()
  IFS=',' read -ra parts <<<"$1"
  for part in "${parts[@]}"; do
    if [[ $part == *-* ]]; then
      out+=($(seq "${part%-*}" "${part#*-}"))
    else
      out+=("$part")
    fi
  done
  echo "${out[@]}"
}

if [[ -n ${CROSSCHECK_CPUS:-} ]]; then
  CPU_A="${CROSSCHECK_CPUS%,*}"
  CPU_B="${CROSSCHECK_CPUS#*,}"
else
  read -ra allowed <<<"$(expand_cpus "$(taskset -cp $$ | sed 's/.*: *//')")"
  CPU_A="${allowed[0]}"
  CPU_B="${allowed[1]:-}"
fi

# median NUMBER... -> the median
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
    if (NR == 0) exit 1
    if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# build_c NAME SOURCE -> compiles scripts/crosscheck/SOURCE into $WORK/NAME
build_c() {
  if ! command -v cc >/dev/null; then
    echo "cc not found: apt-get install build-essential" >&2
    return 1
  fi
  cc -O2 -Wall -pthread -o "$WORK/$1" "$HERE/crosscheck/$2"
}

# suite_bench BENCH REGEX -> runs threadbench's criterion benchmarks matching REGEX
suite_bench() {
  local log="$WORK/suite-$1.log"
  echo "  running: THREADBENCH_PROFILE=$THREADBENCH_PROFILE cargo bench --bench $1 -- '$2'" >&2
  if ! (cd "$ROOT" && cargo bench --bench "$1" -- "$2" >"$log" 2>&1); then
    tail -n 30 "$log" >&2
    return 1
  fi
}

# suite_median_us ID -> criterion's median for benchmark ID in µs, written during this run
suite_median_us() {
  local file="$CRITERION_DIR/$1/new/estimates.json"
  if [[ ! $file -nt $STAMP ]]; then
    echo "no result for $1 from this run ($file)" >&2
    return 1
  fi
  # estimates.json: ..."median":{"confidence_interval":{...},"point_estimate":X,...
  grep -o '"median":{"confidence_interval":{[^}]*},"point_estimate":[0-9.eE+-]*' "$file" |
    sed 's/.*"point_estimate"://' | awk '{ printf "%.3f\n", $1 / 1000 }'
}

report_header() {
  echo
  echo "== $1 =="
  printf '%-44s %12s %14s %8s  %s\n' "pair (suite vs reference)" "suite µs" "reference µs" "ratio" "within ±10 %"
}

# report_pair LABEL SUITE_US REFERENCE_US
report_pair() {
  awk -v l="$1" -v s="$2" -v r="$3" 'BEGIN {
    ratio = s / r; ok = (ratio >= 0.9 && ratio <= 1.1) ? "yes" : "NO"
    printf "%-44s %12.2f %14.2f %8.3f  %s\n", l, s, r, ratio, ok }'
}

for f in "$HERE"/crosscheck/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done

if (($# > 0)); then
  sections=("$@")
else
  mapfile -t sections < <(declare -F | awk '{print $3}' | sed -n 's/^section_//p')
fi

# A busy machine makes every ratio below noise: say so up front.
if awk -v n="$(nproc)" '{ exit !($1 > 0.5 * n) }' /proc/loadavg; then
  echo "warning: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs: other work is running; ratios will be noisy" >&2
fi
echo "threadbench crosscheck: profile $THREADBENCH_PROFILE, CPUs ${CPU_A} and ${CPU_B:-none}, $REPS repetitions of each reference; machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${sections[@]}"; do
  if ! declare -F "section_$s" >/dev/null; then
    echo "unknown section $s; available: $(declare -F | awk '{print $3}' | sed -n 's/^section_//p' | xargs)" >&2
    exit 2
  fi
  "section_$s"
done
