# Section sched_pipe: `perf bench sched pipe` (processes, and -T threads) next to
# ctx_switch_same_core/pipe_{process,thread} and ctx_switch_cross_core/pipe_{process,thread}.
# Both report one round trip (two switches) per operation. Same core: perf under
# `taskset -c A`. Cross core: perf has no per-task pinning, so pin_peer.c starts it on CPU A
# and moves its second task (child process / second thread) to CPU B as soon as it appears.

# perf_pipe_us MODE(process|thread) PLACEMENT(same|cross) LOOPS -> µs per round trip
perf_pipe_us() {
  local flag=() cmd
  [[ $1 == thread ]] && flag=(-T)
  if [[ $2 == same ]]; then
    cmd=(taskset -c "$CPU_A" perf bench sched pipe "${flag[@]}" -l "$3")
  else
    cmd=("$WORK/pin_peer" "$CPU_A" "$CPU_B" "$1" -- perf bench sched pipe "${flag[@]}" -l "$3")
  fi
  "${cmd[@]}" 2>>"$WORK/perf.log" | awk '/usecs\/op/ { print $1 }'
}

section_sched_pipe() {
  if ! command -v perf >/dev/null || ! perf bench sched pipe -l 10 >/dev/null 2>&1; then
    echo
    echo "== sched_pipe: skipped: perf is missing or cannot run 'perf bench' (Debian: apt-get install linux-perf; Ubuntu: linux-tools-\$(uname -r)) =="
    return 0
  fi
  build_c pin_peer pin_peer.c
  local placements=(same)
  if [[ -n $CPU_B ]]; then
    placements+=(cross)
  else
    echo "sched_pipe: one CPU only: cross-core pairs skipped" >&2
  fi
  report_header "sched_pipe: perf bench sched pipe vs threadbench, µs per round trip (CPU $CPU_A / ${CPU_B:-})"
  local placement mode group fn probe loops before after r
  for placement in "${placements[@]}"; do
    group=ctx_switch_same_core
    [[ $placement == cross ]] && group=ctx_switch_cross_core
    for mode in process thread; do
      fn=pipe_$mode
      # Calibrate: about one second per perf run.
      probe="$(perf_pipe_us "$mode" "$placement" 2000)"
      loops="$(awk -v us="$probe" 'BEGIN { n = int(1e6 / us); print (n < 2000 ? 2000 : n) }')"
      # Back to back: half of perf's runs just before the suite's benchmark, half just after,
      # so a change in the machine's load hits both sides alike.
      before=() after=()
      for ((r = 0; r < (REPS + 1) / 2; r++)); do
        before+=("$(perf_pipe_us "$mode" "$placement" "$loops")")
      done
      suite_bench context_switch "^$group/$fn\$"
      for ((r = (REPS + 1) / 2; r < REPS; r++)); do
        after+=("$(perf_pipe_us "$mode" "$placement" "$loops")")
      done
      report_pair "$placement core $fn vs perf$([[ $mode == thread ]] && echo " -T")" \
        "$(suite_median_us "$group/$fn")" "$(median "${before[@]}" "${after[@]}")"
      echo "    perf runs ($loops loops each): ${before[*]} | suite | ${after[*]}"
    done
  done
}
