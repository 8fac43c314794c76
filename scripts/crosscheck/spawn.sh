# Section spawn: minimal C loops next to spawn/fork_exit_wait and spawn/thread_spawn_join,
# all pinned to CPU A (threadbench pins its spawn bench to the first server core, and children
# and threads inherit the pin).

section_spawn() {
  build_c fork_exit_wait fork_exit_wait.c
  build_c pthread_create_join pthread_create_join.c
  suite_bench spawn '^spawn/(fork_exit_wait|thread_spawn_join)$'
  report_header "spawn: C loops vs threadbench, µs per create + reap (CPU $CPU_A)"
  local pair fn prog n runs r
  # The third field: idle threads the C program starts first. The bench process has
  # criterion's helper thread besides its main thread, and a multi-threaded process forks
  # more slowly, so fork_exit_wait is also compared with a C loop that has one idle thread.
  for pair in fork_exit_wait:fork_exit_wait:3000:0 fork_exit_wait:fork_exit_wait:3000:1 \
    thread_spawn_join:pthread_create_join:30000:0; do
    IFS=: read -r fn prog n idle <<<"$pair"
    runs=()
    for ((r = 0; r < REPS; r++)); do
      runs+=("$(taskset -c "$CPU_A" "$WORK/$prog" "$n" "$idle")")
    done
    report_pair "$fn vs C $prog$( ((idle > 0)) && echo " +$idle idle thread")" \
      "$(suite_median_us "spawn/$fn")" "$(median "${runs[@]}")"
    echo "    C runs ($n iterations each): ${runs[*]}"
  done
  grep -h '^spawn/.*: bench process at first sample' "$WORK/suite-spawn.log" | sed 's/^/    /' || true
}
