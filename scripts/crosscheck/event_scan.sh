# Section event_scan: the suite's event_scan_fds/{select,poll,epoll} at 1 and 1000 descriptors,
# then minimal C loops of the same calls (scripts/crosscheck-event-scan.sh prints both).

section_event_scan() {
  echo; echo "== event_scan: C loops vs threadbench, ns per wait call (bar: within ±15 %) =="
  suite_bench event_scan '^event_scan_fds/(select|poll|epoll)/(1|1000)$'
  "$ROOT/scripts/crosscheck-event-scan.sh"
}
