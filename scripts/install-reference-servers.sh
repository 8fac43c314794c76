#!/usr/bin/env bash
# Installs the reference servers the server benches run beside the suite's own models
# (Debian/Ubuntu packages apache2, nginx, lighttpd) and leaves none of them running.
#
# Idempotent: a package already installed is left alone (and so is a service it runs). For the
# packages it installs, the services their postinst scripts would start on port 80 are kept
# from starting (policy-rc.d answers 101 "action forbidden" while apt runs, which invoke-rc.d
# and deb-systemd-invoke honour); on a machine that runs systemd they are also disabled so a
# reboot does not start them; anything one of them started anyway is stopped by the pid in its
# pidfile. The benches start their own instances: foreground, on 127.0.0.1 and a free port,
# from a configuration in a temporary directory. Needs root (apt-get). Used by .ci/run.
set -euo pipefail

packages=(apache2 nginx lighttpd)
binary_of() {
  case "$1" in
    apache2) echo /usr/sbin/apache2 ;;
    nginx) echo /usr/sbin/nginx ;;
    lighttpd) echo /usr/sbin/lighttpd ;;
  esac
}
pidfile_of() {
  case "$1" in
    apache2) echo /run/apache2/apache2.pid ;;
    nginx) echo /run/nginx.pid ;;
    lighttpd) echo /run/lighttpd.pid ;;
  esac
}

missing=()
for p in "${packages[@]}"; do
  [ -x "$(binary_of "$p")" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-reference-servers: ${packages[*]} already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-reference-servers: no apt-get: install ${missing[*]} with your package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-reference-servers: run as root (apt-get install ${missing[*]})" >&2
  exit 1
fi

# Keep the postinst scripts from starting the daemons (only if no policy is in place already).
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# install-reference-servers.sh: no service starts while it installs\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=true
fi
cleanup() { if $own_policy; then rm -f "$policy"; fi; }
trap cleanup EXIT

echo "install-reference-servers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

services() {
  for p in "${missing[@]}"; do echo "$p"; done
}
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  # A systemd machine: stop what runs and keep it from starting at boot.
  for s in $(services); do
    systemctl disable --now "$s.service" >/dev/null 2>&1 || true
  done
fi
# Whatever a postinst started anyway (no policy honoured, or an init script): by its pidfile.
for s in $(services); do
  f=$(pidfile_of "$s")
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
    && grep -q "$(basename "$(binary_of "$s")")" "/proc/$pid/cmdline" 2>/dev/null; then
    echo "install-reference-servers: stopping the $s daemon the package started (pid $pid)"
    kill -TERM "$pid" || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
done

for p in "${missing[@]}"; do
  [ -x "$(binary_of "$p")" ] || { echo "install-reference-servers: $p did not install $(binary_of "$p")" >&2; exit 1; }
done
if command -v ss >/dev/null && ss -Hltn 'sport = :80' | grep -q .; then
  echo "install-reference-servers: warning: something listens on port 80:" >&2
  ss -ltnp 'sport = :80' >&2 || true
fi
echo "install-reference-servers: installed ${missing[*]}; none of them is running"
