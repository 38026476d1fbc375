#!/usr/bin/env bash
# Issue 10 (item 4): the admin API over HTTPS. A throwaway certificate
# (openssl), http.tls_cert/http.tls_key from a configuration file; curl and
# `ferroswitch ctl` as the clients; plain HTTP and unverified clients are
# refused, and a client that connects and never completes its handshake
# neither blocks others nor holds its connection past the 10 s bound.
source "$(dirname "$0")/lib.sh"

CERT=$OUT/https_api.cert.pem
KEY=$OUT/https_api.key.pem
OTHER_CERT=$OUT/https_api.other-cert.pem
gen_cert() { # gen_cert CERT KEY
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -days 2 -keyout "$2" -out "$1"
}
rm -f "$CERT" "$KEY" "$OTHER_CERT"
check "openssl generates a certificate and key" gen_cert "$CERT" "$KEY"
check "openssl generates a second, unrelated certificate" gen_cert "$OTHER_CERT" "$OUT/https_api.other-key.pem"

# Configuration: one without the other is an error.
pairing_case() {
  local out
  out=$("$BIN" config --set http.tls_cert="$CERT" 2>&1) && { echo "accepted: $out"; return 1; }
  echo "$out"; echo "$out" | grep -q "http.tls_cert and http.tls_key must be set together"
}
check "http.tls_cert without http.tls_key is a configuration error" pairing_case

CONF=$OUT/https_api.toml
printf '[http]\ntls_cert = "%s"\ntls_key = "%s"\n' "$CERT" "$KEY" >"$CONF"
start_switch https_api --config "$CONF"
URL=https://127.0.0.1:$HTTP_PORT

started_case() { grep -a "ferroswitch started" "$SWITCH_LOG" | grep -q 'http_scheme="https"'; }
check "the start line says the admin API is HTTPS" started_case

# status_is CODE FILE CURL_ARGS...: curl answers CODE, body into FILE.
status_is() {
  local want=$1 body=$2; shift 2
  local code; code=$(curl -sS -m 10 -o "$body" -w '%{http_code}' "$@")
  echo "HTTP $code"; cat "$body"; echo
  [ "$code" = "$want" ]
}
health_case() { status_is 200 "$OUT/https_api.health.json" --cacert "$CERT" "$URL/v1/health" && grep -q '"status":"ok"' "$OUT/https_api.health.json"; }
check "GET /v1/health over HTTPS (--cacert): 200" health_case

extensions_case() {
  status_is 200 "$OUT/https_api.extensions.json" --cacert "$CERT" -H "Authorization: Bearer $TOKEN" "$URL/v1/extensions" || return 1
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert isinstance(d["items"], list), d' "$OUT/https_api.extensions.json"
}
check "GET /v1/extensions over HTTPS with the token: 200, JSON list" extensions_case
check "GET /v1/extensions over HTTPS without the token: 401" status_is 401 "$OUT/https_api.noauth.json" --cacert "$CERT" "$URL/v1/extensions"

create_case() {
  status_is 201 "$OUT/https_api.create.json" --cacert "$CERT" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"number":"4100"}' "$URL/v1/extensions" && grep -q '"password"' "$OUT/https_api.create.json"
}
check "POST /v1/extensions over HTTPS: 201 with a password" create_case

plain_case() {
  local code rc
  code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/v1/health"); rc=$?
  echo "curl exit $rc, HTTP '$code'"
  [ "$rc" -ne 0 ] && [ "$code" = 000 ]
}
check "plain http:// to the HTTPS port gets no HTTP answer" plain_case

unverified_case() {
  local rc
  curl -sS -m 5 -o /dev/null "$URL/v1/health"; rc=$?
  echo "curl exit $rc"
  [ "$rc" -eq 60 ]  # CURLE_PEER_FAILED_VERIFICATION
}
check "curl without --cacert fails certificate verification" unverified_case
wrong_ca_case() { local rc; curl -sS -m 5 -o /dev/null --cacert "$OTHER_CERT" "$URL/v1/health"; rc=$?; echo "curl exit $rc"; [ "$rc" -eq 60 ]; }
check "curl trusting another certificate fails verification" wrong_ca_case

# ctl finds the switch from the same configuration file (lib.sh's ctl adds
# http.listen and data_dir).
ctl_case() { local out; out=$(ctl --config "$CONF" status) || return 1; echo "$out"; echo "$out" | grep -q '^health: *"ok" (200)'; }
check "ferroswitch ctl status over HTTPS (http.tls_cert from --config)" ctl_case
ctl_env_case() {
  local out
  out=$(FERROSWITCH_HTTP__TLS_CERT=$CERT FERROSWITCH_HTTP__TLS_KEY=$KEY ctl status) || return 1
  echo "$out"; echo "$out" | grep -q '^health: *"ok" (200)'
}
check "ferroswitch ctl over HTTPS (http.tls_cert from the environment)" ctl_env_case
ctl_wrong_case() {
  local out
  out=$(RUST_BACKTRACE=0 ctl --config "$CONF" --set http.tls_cert="$OTHER_CERT" status 2>&1) && { echo "$out"; return 1; }
  echo "$out"; echo "$out" | grep -q "invalid peer certificate"
}
check "ferroswitch ctl trusting another certificate fails" ctl_wrong_case
ctl_plain_case() {
  local out
  out=$(RUST_BACKTRACE=0 ctl status 2>&1) && { echo "$out"; return 1; }
  echo "$out"; echo "$out" | grep -q "malformed"
}
check "ferroswitch ctl without http.tls_cert (plain HTTP) fails against HTTPS" ctl_plain_case

# A client that connects and sends nothing, and one that sends garbage
# instead of a ClientHello: both stay connected while a valid client is
# served, and the silent one is dropped within the handshake bound.
HOLD=$OUT/https_api.hold.log
: >"$HOLD"
python3 - "$HTTP_PORT" "$HOLD" <<'PY' &
import socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
silent = socket.create_connection(("127.0.0.1", port))
junk = socket.create_connection(("127.0.0.1", port))
junk.sendall(b"\x16\x03\x01\x00\x05junk")
with open(log, "a") as f: f.write("connected\n")
start = time.monotonic()
silent.settimeout(30)
try:
    data = silent.recv(100)
    what = "closed" if not data else "data %r" % data
except socket.timeout:
    what = "still open"
with open(log, "a") as f: f.write("%s after %.1f s\n" % (what, time.monotonic() - start))
PY
HOLD_PID=$!
PIDS+=("$HOLD_PID")
silent_case() {
  wait_for 5 grep -q connected "$HOLD" || return 1
  status_is 200 "$OUT/https_api.health2.json" -m 3 --cacert "$CERT" "$URL/v1/health" || return 1
  # The silent connection was still held while curl was served.
  kill -0 "$HOLD_PID" && ! grep -q after "$HOLD"
}
check "a connected client that sends nothing does not block a concurrent HTTPS request" silent_case
timeout_case() {
  wait_for 20 grep -q after "$HOLD" || return 1
  cat "$HOLD"
  grep -Eq '^closed after ([0-9]|1[0-4])\.' "$HOLD"
}
check "the silent client is dropped by the handshake timeout (10 s)" timeout_case
check "switch still running" alive

summary https_api
