# Section spawn: minimal C loops next to spawn/fork_exit_wait and spawn/thread_spawn_join,
# all pinned to CPU A (threadbench pins its spawn bench to the first server core, and children
# and threads inherit the pin). Half of the C runs go just before the suite's benchmark, half
# just after, so a change in the machine's load hits both sides alike.

# c_runs PROG N IDLE COUNT -> COUNT results (µs per iteration) of a C loop pinned to CPU A
c_runs() {
  local r
  for ((r = 0; r < $4; r++)); do
    taskset -c "$CPU_A" "$WORK/$1" "$2" "$3"
  done
}

section_spawn() {
  build_c fork_exit_wait fork_exit_wait.c
  build_c pthread_create_join pthread_create_join.c
  report_header "spawn: C loops vs threadbench, µs per create + reap (CPU $CPU_A)"
  local half=$(((REPS + 1) / 2)) rest=$((REPS - (REPS + 1) / 2))
  local b0 b1 a0 a1 tb ta
  # fork_exit_wait against two references: the plain C loop, and the same loop with one idle
  # thread, because the bench process has criterion's helper thread besides its main thread
  # and a multi-threaded process forks more slowly (glibc's multi-threaded fork path).
  mapfile -t b0 < <(c_runs fork_exit_wait 3000 0 "$half")
  mapfile -t b1 < <(c_runs fork_exit_wait 3000 1 "$half")
  mapfile -t tb < <(c_runs pthread_create_join 30000 0 "$half")
  suite_bench spawn '^spawn/(fork_exit_wait|thread_spawn_join|pthread_create_join)$'
  mapfile -t a0 < <(c_runs fork_exit_wait 3000 0 "$rest")
  mapfile -t a1 < <(c_runs fork_exit_wait 3000 1 "$rest")
  mapfile -t ta < <(c_runs pthread_create_join 30000 0 "$rest")
  report_pair "fork_exit_wait vs C fork loop" "$(suite_median_us spawn/fork_exit_wait)" \
    "$(median "${b0[@]}" "${a0[@]}")"
  echo "    C runs (3000 iterations each): ${b0[*]} | suite | ${a0[*]}"
  report_pair "fork_exit_wait vs C fork loop +1 idle thread" \
    "$(suite_median_us spawn/fork_exit_wait)" "$(median "${b1[@]}" "${a1[@]}")"
  echo "    C runs (3000 iterations each): ${b1[*]} | suite | ${a1[*]}"
  report_pair "thread_spawn_join vs C pthread_create_join" \
    "$(suite_median_us spawn/thread_spawn_join)" "$(median "${tb[@]}" "${ta[@]}")"
  echo "    C runs (30000 iterations each): ${tb[*]} | suite | ${ta[*]}"
  # The suite's raw pthread loop: separates the harness from std::thread's own extra work.
  report_pair "pthread_create_join vs C pthread_create_join" \
    "$(suite_median_us spawn/pthread_create_join)" "$(median "${tb[@]}" "${ta[@]}")"
  grep -h '^spawn/.*: bench process at first sample' "$WORK/suite-spawn.log" | sed 's/^/    /' || true
}
