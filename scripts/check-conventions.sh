#!/usr/bin/env bash
# criterion's conventions as a user types them, end to end, through every bench target:
# --save-baseline / --baseline / --quick / a regex filter work, and the runs that measure
# nothing (--list, a filter matching nothing, `threadbench env`, the benches' test mode) change
# no file under target/threadbench/ nor any result criterion keeps; `threadbench report`
# afterwards draws the same figures. Used by .ci/run; about 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export THREADBENCH_PROFILE=ci

fail() { echo "check-conventions: FAIL: $*" >&2; exit 1; }
# Every suite artefact and every result criterion keeps (its latest run and saved baselines).
snapshot() {
  (cd target && find threadbench criterion -type f -name '*.json' -print0 | sort -z | xargs -0 sha256sum)
}
# index.html without the line that says when it was generated.
figures() { grep -v 'class="generated"' target/threadbench/index.html; }

cargo bench -- --save-baseline t --quick '^spawn/fork_exit_wait'
test -f target/criterion/spawn/fork_exit_wait/t/estimates.json || fail "--save-baseline t saved nothing"
grep -q '"id": "spawn/fork_exit_wait"' target/threadbench/criterion.json \
  || fail "criterion.json lacks spawn/fork_exit_wait"
if grep -q '"spawn/thread_spawn_join"' target/threadbench/criterion.json; then
  fail "'^spawn/fork_exit_wait' also recorded spawn/thread_spawn_join"
fi
before=$(snapshot)
page=$(figures)

listed=$(cargo bench -- --list 2>/dev/null)
for id in spawn/fork_exit_wait spawn_rss/fork_exit_wait/64 server_conns/sped/64 server_specweb/amped \
  server_wan/sped/64 server_wan/mp/256 \
  server_conns/apache_prefork/64 server_specweb/nginx; do
  grep -qx "$id: benchmark" <<<"$listed" || fail "--list does not list $id"
done
cargo bench -- --help >/dev/null
cargo bench -- '^no_such_group/'
cargo run --release --quiet --bin threadbench -- env >/dev/null
cargo test --benches
[ "$before" == "$(snapshot)" ] || {
  diff <(echo "$before") <(snapshot) >&2 || true
  fail "a run that measured nothing changed a result file"
}
cargo run --release --quiet --bin threadbench -- report >/dev/null
[ "$page" == "$(figures)" ] || fail "threadbench report drew different figures"

cargo bench -- --baseline t --quick '^spawn/fork_exit_wait'
status=0
cargo run --release --quiet --bin threadbench -- compare --baseline t >/dev/null || status=$?
[ "$status" -le 1 ] || fail "compare --baseline t exited $status"
echo "check-conventions: ok"
