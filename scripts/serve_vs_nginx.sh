#!/usr/bin/env bash
# Bar of issue 5: every model and nginx, 1 KiB file, wrk pinned to core 1, servers pinned to
# core 0, keep-alive and Connection: close; req/s and server CPU µs/request (process-tree
# stats before/after). Needs wrk and nginx (apt-get install -y wrk nginx). Cross-check only.
set -euo pipefail
TB=${TB:-target/release/threadbench}
DUR=${DUR:-5s}
D=$(mktemp -d /tmp/tb-serve-XXXX)
trap 'rm -rf "$D"' EXIT
mkdir -p "$D/root"; head -c 1024 /dev/urandom > "$D/root/1k.bin"
measure() { # name pid addr
  local name=$1 pid=$2 addr=$3
  for mode in keepalive close; do
    local hdr=(); [ $mode = close ] && hdr=(-H 'Connection: close')
    local b a out
    b=$($TB tree-stats --pid "$pid")
    out=$(taskset -c 1 wrk -t1 -c32 -d"$DUR" "${hdr[@]}" "http://$addr/1k.bin")
    a=$($TB tree-stats --pid "$pid")
    python3 - "$name" "$mode" "$b" "$a" "$out" <<'PY'
import json, re, sys
name, mode, b, a, out = sys.argv[1:]
b, a = json.loads(b), json.loads(a)
reqs = int(re.search(r"(\d+) requests in", out).group(1))
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
cpu = (a["user_us"] + a["system_us"]) - (b["user_us"] + b["system_us"])
err = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
print(f"{name:9} {mode:9} {rps:10.0f} req/s  {cpu/max(reqs,1):7.2f} us/req  vcs={a['voluntary_cs']-b['voluntary_cs']} ivcs={a['involuntary_cs']-b['involuntary_cs']} pss={a['pss_bytes']>>10}KiB procs={a['processes']} thr={a['threads']} {err.group(0) if err else ''}")
PY
  done
}
for m in ${MODELS:-sped amped amted mt mt_spawn mp mp_fork}; do
  $TB serve --model "$m" --docroot "$D/root" --cores 0 > "$D/out" 2> "$D/err" &
  pid=$!
  for _ in $(seq 50); do [ -s "$D/out" ] && break; sleep 0.1; done
  addr=$(sed 's/listening on //' "$D/out")
  measure "$m" "$pid" "$addr"
  kill -TERM "$pid"; wait "$pid" || true
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$D/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $D/nginx.pid;
error_log $D/nginx.err;
events { worker_connections 1024; }
http {
  access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path $D; proxy_temp_path $D; fastcgi_temp_path $D; uwsgi_temp_path $D; scgi_temp_path $D;
  server { listen 127.0.0.1:$port; root $D/root; }
}
CONF
taskset -c 0 nginx -c "$D/nginx.conf" -p "$D" &
npid=$!
sleep 0.5
measure nginx "$npid" "127.0.0.1:$port"
kill -TERM "$npid"; wait "$npid" || true
