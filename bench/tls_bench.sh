#!/bin/sh
# HTTPS benchmark (a command, not a test): bastion serve over TLS 1.3 (ECDSA P-256 certificate from
# its local CA) next to the same server over plain HTTP, and nginx configured alike when it is
# installed, in one run on the same machine:
#   * requests/s on kept-alive connections to GET /api/version (wrk, 2 threads, CONNS connections)
#   * full TLS 1.3 handshakes/s (openssl s_time -new: every connection a fresh X25519 + ECDSA
#     handshake, no resumption), with PROCS client processes. The client's share (it verifies an
#     ECDSA signature, which costs more than making one) runs on the same cores, so on a small
#     machine this measures client + server together; compare servers, not absolute limits.
#
# Usage: bench/tls_bench.sh [path/to/bastion]      (default build/release/bastion)
# Environment: DURATION (seconds per measurement, 10), CONNS (64), PROCS (2).
# Needs wrk and openssl; nginx is optional:  apt-get install wrk nginx
# Client and servers share the machine's cores: the figures compare servers, not absolute limits.
set -eu
bin=${1:-build/release/bastion}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
PROCS=${PROCS:-2}
command -v wrk >/dev/null 2>&1 || { echo "wrk not found: apt-get install wrk"; exit 1; }
command -v openssl >/dev/null 2>&1 || { echo "openssl not found: apt-get install openssl"; exit 1; }
[ -x "$bin" ] || { echo "no bastion binary at $bin (build it, or pass its path)"; exit 1; }

work=$(mktemp -d /tmp/bastion-tls-bench-XXXXXX)
cleanup() {
  # start_bastion runs in a subshell ($(...)), so the server pids are kept in a file.
  [ -f "$work/pids" ] && for p in $(cat "$work/pids"); do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$bin" synth --preset tiny --type F16 -q -o "$work/tiny.gguf"

# start_bastion LOG ARGS...: starts a server, prints its port.
start_bastion() {
  log=$1; shift
  # The per-address rate limit would turn a one-address load test into a 429 test: lift it.
  "$bin" serve -m "$work/tiny.gguf" --host 127.0.0.1 --port 0 --http-threads 2 --max-connections 4096 \
    --rate 100000r/s --burst 100000 "$@" >"$log" 2>&1 &
  echo "$!" >>"$work/pids"
  for _ in $(seq 1 100); do
    port=$(sed -n 's|.*listening on https\{0,1\}://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.1
  done
  echo "server did not start:" >&2; cat "$log" >&2; exit 1
}

plain_port=$(start_bastion "$work/plain.log" --no-tls --state-dir "$work/plain-state")
tls_port=$(start_bastion "$work/tls.log" --state-dir "$work/state")

nginx_tls_port="" nginx_plain_port=""
if command -v nginx >/dev/null 2>&1; then
  mkdir -p "$work/nginx/logs"
  nginx_plain_port=$((20000 + $$ % 20000))
  nginx_tls_port=$((nginx_plain_port + 1))
  # Alike: 2 workers (bastion runs 2 I/O threads), TLS 1.2/1.3, the same AEAD-only ciphers, the
  # same certificate, a session cache and tickets, keep-alive, no logging.
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
  ssl_prefer_server_ciphers on;
  ssl_session_cache shared:SSL:10m;
  ssl_session_tickets on;
  ssl_certificate $work/state/tls/local/cert.pem;
  ssl_certificate_key $work/state/tls/local/key.pem;
  server {
    listen 127.0.0.1:$nginx_plain_port;
    listen 127.0.0.1:$nginx_tls_port ssl;
    location = /api/version { default_type application/json; return 200 '{"version":"nginx"}'; }
  }
}
CONF
  nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" || { echo "nginx did not start"; nginx_tls_port=""; }
  sleep 0.5
fi

keepalive() {  # URL -> requests/s
  wrk -t2 -c"$CONNS" -d"${DURATION}s" "$1" 2>&1 | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' | cut -d. -f1
}
handshakes() {  # PORT MODE(-new) -> handshakes/s summed over PROCS clients
  i=0
  while [ "$i" -lt "$PROCS" ]; do
    openssl s_time -connect "127.0.0.1:$1" "$2" -time "$DURATION" >"$work/s_time.$i" 2>&1 &
    i=$((i + 1))
  done
  wait_for=$((DURATION + 10))
  sleep "$wait_for"
  cat "$work"/s_time.* | sed -n 's/^\([0-9]*\) connections in \([0-9]*\) real seconds.*/\1 \2/p' |
    awk '{ n += $1; if ($2 > t) t = $2 } END { if (t > 0) printf "%d\n", n / t; else print "?" }'
  rm -f "$work"/s_time.*
}

echo "bastion $("$bin" --version 2>/dev/null | head -1); $(nproc) cores; wrk -t2 -c$CONNS -d${DURATION}s; s_time x$PROCS"
printf '%-34s %14s %16s\n' "server" "keep-alive r/s" "full TLS hs/s"
printf '%-34s %14s %16s\n' "bastion, plain HTTP" "$(keepalive "http://127.0.0.1:$plain_port/api/version")" "-"
printf '%-34s %14s %16s\n' "bastion, HTTPS (TLS 1.3, P-256)" "$(keepalive "https://127.0.0.1:$tls_port/api/version")" \
  "$(handshakes "$tls_port" -new)"
if [ -n "$nginx_tls_port" ]; then
  printf '%-34s %14s %16s\n' "nginx $(nginx -v 2>&1 | sed 's/.*\///'), plain HTTP" \
    "$(keepalive "http://127.0.0.1:$nginx_plain_port/api/version")" "-"
  printf '%-34s %14s %16s\n' "nginx, HTTPS (TLS 1.3, P-256)" "$(keepalive "https://127.0.0.1:$nginx_tls_port/api/version")" \
    "$(handshakes "$nginx_tls_port" -new)"
fi
