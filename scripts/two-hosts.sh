#!/usr/bin/env bash
# Two hosts on one machine: network namespace tb<pid>s0 (the server, 10.77.0.1) and
# tb<pid>c0 (the load, 10.77.0.2), joined by a veth pair — each its own TCP stack, a link
# between them instead of loopback. Runs `threadbench serve` in the first and
# `threadbench load --allow-remote` in the second, prints the load's output, and removes
# both namespaces (the veth pair goes with them), the server and the temp docroot on exit,
# on error and on Ctrl-C. Nothing outside the two namespaces is addressed or changed.
#
#   scripts/two-hosts.sh [MODEL] [-- LOAD FLAGS]     e.g.  scripts/two-hosts.sh mt -- --conns 64 --json
#
# The server serves /file.bin (FILE_BYTES, default 1024) and the load always requests it;
# default load flags: --conns 32 --duration 5s. Cores: the server the lower half of the CPUs
# (the profile's plan), the load the upper half (CLIENT_CORES to override). TB: the binary
# (default target/release/threadbench). Needs root and iproute2; exit status 77 (with one
# line saying why) when namespaces cannot be created.
set -euo pipefail
cd "$(dirname "$0")/.."
TB=${TB:-target/release/threadbench}
MODEL=${1:-sped}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || set -- --conns 32 --duration 5s
S=tb$$s0 C=tb$$c0
D=$(mktemp -d /tmp/tb-two-hosts-XXXX)
server=
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  for ns in "$S" "$C"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! ip netns add "$S" 2>"$D/err"; then
  echo "two-hosts: SKIPPING: cannot create a network namespace (needs root, CONFIG_NET_NS and iproute2): $(cat "$D/err")" >&2
  exit 77
fi
ip netns add "$C"
ip link add "$S" netns "$S" type veth peer name "$C" netns "$C"
ip -n "$S" addr add 10.77.0.1/24 dev "$S"
ip -n "$C" addr add 10.77.0.2/24 dev "$C"
for ns in "$S" "$C"; do ip -n "$ns" link set "$ns" up; ip -n "$ns" link set lo up; done

mkdir -p "$D/root"
head -c "${FILE_BYTES:-1024}" /dev/urandom > "$D/root/file.bin"
ip netns exec "$S" "$TB" serve --model "$MODEL" --docroot "$D/root" --bind 10.77.0.1:0 >"$D/out" &
server=$!
for _ in $(seq 100); do [ -s "$D/out" ] && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$D/out")
[ -n "$addr" ] || { echo "two-hosts: the server did not start" >&2; exit 1; }
n=$(nproc)
cores=()
if [ -n "${CLIENT_CORES:-}" ]; then cores=(--cores "$CLIENT_CORES")
elif [ "$n" -gt 1 ]; then cores=(--cores "$(( (n + 1) / 2 ))-$(( n - 1 ))"); fi
echo "two-hosts: $MODEL in $S on $addr, load in $C (10.77.0.2)" >&2
ip netns exec "$C" "$TB" load --target "$addr" --allow-remote --path /file.bin "${cores[@]}" "$@"
