#!/bin/sh
# `openssl s_client` (an independent TLS client) against `bastion serve` with its local CA:
# TLS 1.0/1.1 and non-AEAD or non-ECDHE TLS 1.2 ciphers are refused; TLS 1.2 AEAD and TLS 1.3
# work and verify against the local CA; a session resumes (-sess_out / -sess_in); ALPN
# acme-tls/1 without a challenge is refused. Exit 77 (skipped) without openssl.
set -u
command -v openssl >/dev/null 2>&1 || { echo "openssl not found: skipping"; exit 77; }
[ -x "${BASTION_BIN:-}" ] || { echo "set BASTION_BIN"; exit 1; }

work=$(mktemp -d /tmp/bastion-s-client-XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$BASTION_BIN" synth --preset tiny --type F16 -q -o "$work/tiny.gguf" || exit 1
"$BASTION_BIN" serve -m "$work/tiny.gguf" --host 127.0.0.1 --port 0 --state-dir "$work/state" >"$work/log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\).*|\1|p' "$work/log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start:"; cat "$work/log"; exit 1; }
ca="$work/state/tls/local-ca/ca.crt"

failures=0
# handshake NAME EXPECT(ok|refused) s_client-args...
handshake() {
  name=$1; expect=$2; shift 2
  out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" 2>&1)
  if echo "$out" | grep -q "Cipher is (NONE)\|alert\|errno\|handshake failure"; then got=refused; else got=ok; fi
  if [ "$got" = "$expect" ]; then
    echo "ok: $name ($got)"
  else
    echo "FAIL: $name: expected $expect, got $got"; echo "$out" | tail -20
    failures=$((failures + 1))
  fi
}

handshake "TLS 1.0" refused -tls1 -cipher 'ALL:@SECLEVEL=0'
handshake "TLS 1.1" refused -tls1_1 -cipher 'ALL:@SECLEVEL=0'
handshake "TLS 1.2 AES128-SHA256 (no ECDHE, no AEAD)" refused -tls1_2 -cipher AES128-SHA256
handshake "TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC)" refused -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA
handshake "TLS 1.2 ECDHE-RSA-AES128-SHA (CBC)" refused -tls1_2 -cipher ECDHE-RSA-AES128-SHA
handshake "TLS 1.2 AES128-GCM-SHA256 (no ECDHE)" refused -tls1_2 -cipher AES128-GCM-SHA256
handshake "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256" ok -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 -CAfile "$ca" -verify_return_error
handshake "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305" ok -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305 -CAfile "$ca" -verify_return_error
handshake "TLS 1.3" ok -tls1_3 -CAfile "$ca" -verify_return_error -verify_hostname localhost
handshake "ALPN acme-tls/1 without a challenge" refused -alpn acme-tls/1

# Resumption: save a session, offer it again.
for v in -tls1_2 -tls1_3; do
  printf 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n' | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
    -servername localhost $v -sess_out "$work/sess$v" -ign_eof >/dev/null 2>&1 &
  sleep 1; kill $! 2>/dev/null; wait $! 2>/dev/null
  out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -servername localhost $v -sess_in "$work/sess$v" 2>&1)
  if echo "$out" | grep -q "^Reused,"; then echo "ok: resumption $v"; else
    echo "FAIL: resumption $v"; echo "$out" | grep -E "New|Reused|Session" | head; failures=$((failures + 1)); fi
done

[ "$failures" -eq 0 ] && echo "all s_client checks passed"
exit "$failures"
