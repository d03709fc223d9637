#!/bin/sh
# Guard load test (a command, not a test): bastion serve (plain HTTP, tiny model, the default
# guard: 5 r/s burst 10 per client address) under 1000 kept-alive connections from wrk:
#   1. GET /health            — never rate limited: the server's raw request rate
#   2. GET /api/version       — rate limited from one address: almost every request gets 429,
#                               which must stay cheap
#   3. GET /api/version with a random X-Forwarded-For per request from a trusted proxy (an
#      address flood): the limiter's table must stay bounded (resident memory is reported)
# Usage: bench/guard_load.sh [path/to/bastion]   Environment: DURATION (10), CONNS (1000).
# Needs wrk (apt-get install wrk). Client and server share the machine's cores.
set -eu
bin=${1:-build/release/bastion}
DURATION=${DURATION:-10}
CONNS=${CONNS:-1000}
command -v wrk >/dev/null 2>&1 || { echo "wrk not found: apt-get install wrk"; exit 1; }
[ -x "$bin" ] || { echo "no bastion binary at $bin"; exit 1; }
work=$(mktemp -d /tmp/bastion-guard-load-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

"$bin" synth --preset tiny --type F16 -q -o "$work/tiny.gguf"
"$bin" serve -m "$work/tiny.gguf" --no-tls --host 127.0.0.1 --port 0 --http-threads 2 --max-connections 4096 \
  --trusted-proxies 127.0.0.1 --state-dir "$work/state" >"$work/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$work/log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/log"; exit 1; }

cat >"$work/flood.lua" <<'LUA'
-- A different client address for every request, as from a proxy in front of many clients.
local n = 0
request = function()
  n = n + 1
  -- wrk runs LuaJIT (Lua 5.1): no integer-division operator.
  local a = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  return wrk.format("GET", "/api/version", { ["X-Forwarded-For"] = a })
end
LUA

rss() { awk '/^VmRSS/ {print $2 " kB"}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2 " kB"}' "/proc/$pid/status"; }
run() {  # name path [script]
  name=$1; path=$2; shift 2
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "$@" "http://127.0.0.1:$port$path" 2>&1)
  rps=$(echo "$out" | sed -n 's/^Requests\/sec: *//p')
  non2xx=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *//p')
  errs=$(echo "$out" | sed -n 's/.*Socket errors: *//p')
  printf '%-44s %10s r/s   non-2xx %-9s rss %s\n' "$name" "$rps" "${non2xx:-0}" "$(rss)"
  [ -z "$errs" ] || echo "    socket errors: $errs"
}
echo "bastion $("$bin" --version 2>/dev/null | head -1); $(nproc) cores; wrk -t2 -c$CONNS -d${DURATION}s"
echo "rss at start: $(rss)"
run "/health (not limited)" /health
run "/api/version, one address (5 r/s burst 10)" /api/version
run "/api/version, a new XFF address per request" /api/version -s "$work/flood.lua"
echo "peak rss: $(hwm)"
