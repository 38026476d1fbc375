#!/usr/bin/env bash
# Issue 6 interop (carrier trunks) with sipp playing the carriers: outbound
# registration with a 401 challenge and again after the carrier restarts,
# failover from a 503 gateway to the next, no failover on 486, and an
# INVITE from an address that is neither a gateway nor authenticated never
# reaching a gateway; a carrier's call in from its listed address routed by
# DID to an extension, and no carrier-to-carrier transit.
source "$(dirname "$0")/lib.sh"

# Every event is also pushed over HTTP (issue 8) to a receiver that checks
# the signature: gateway registration and health changes among them.
EPORT=$(free_port); PUSHED=$OUT/tk_pushed.jsonl; : >"$PUSHED"
python3 "$ROOT/testbeds/webhook_receiver.py" "$EPORT" tk-secret "$PUSHED" & PIDS+=($!)
start_switch trunks --set directory.first_run_extensions= --set calls.ring_timeout=10 \
  --set webhooks.secret=tk-secret --set http.events_push_url="http://127.0.0.1:$EPORT/events"
P1000=$(new_extension 1000)
echo "SEQUENTIAL" >"$OUT/tk_caller.csv"; echo "1000;$DOMAIN" >>"$OUT/tk_caller.csv"
gw_status() { # gw_status NAME FIELD: one field of the gateway's live state
  api GET /v1/gateways/status | python3 -c 'import json,sys; g=[g for g in json.load(sys.stdin)["items"] if g["name"]==sys.argv[1]]; print(g[0][sys.argv[2]] if g else "")' "$1" "$2"
}

# --- outbound registration -------------------------------------------------
CPORT=$(free_port)
carrier() { sipp -sf "$SCEN/carrier_register.xml" -i 127.0.0.1 -p "$CPORT" -t u1 -m 1 -timeout 30 -timeout_error -nostdin \
              -trace_err -error_file "$OUT/tk_carrier.$1.err" >"$OUT/tk_carrier.$1.log" 2>&1; }
carrier 1 & C1=$!
PIDS+=("$C1")
check "gateway with registration created"             bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/gateways '{\"name\":\"reg\",\"proxy\":\"127.0.0.1:$CPORT\",\"register\":{\"username\":\"acct\",\"password\":\"carrier-pw\",\"expires\":10}}' | grep -q '\"name\":\"reg\"'"
check "carrier challenged, credentials accepted"      wait "$C1"
check "gateway shows registered"                      wait_for 5 bash -c "[ \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status reg registration)\" = registered ]"
# The carrier restarts (a new process with no memory of us): the next
# refresh (at ~85% of 10 s) is challenged again and accepted.
carrier 2 & C2=$!
PIDS+=("$C2")
check "re-registered with the restarted carrier"      wait "$C2"
check "still registered"                              wait_for 5 bash -c "[ \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status reg registration)\" = registered ]"
pushed_state() { # pushed_state GATEWAY FIELD VALUE: a signed pushed gateway_state event says so
  python3 - "$PUSHED" "$@" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ev = [r for r in rows if r.get("push") and r["event"].get("type") == "gateway_state" and r["event"]["gateway"] == sys.argv[2]]
print(ev)
sys.exit(0 if ev and all(r["sig_ok"] for r in rows) and any(r["event"][sys.argv[3]] == sys.argv[4] for r in ev) else 1)
PY
}
check "events pushed over HTTP, signed: gateway reg registered" wait_for 5 pushed_state reg registration registered
check "/metrics: ferroswitch_gateway_registered{gateway=reg} 1" bash -c "curl -sf -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/metrics | grep -q 'ferroswitch_gateway_registered{gateway=\"reg\"} 1'"
check "the password is never shown"                   bash -c "! (curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/gateways/reg | grep -q carrier-pw)"

# --- health pings ------------------------------------------------------------
# A gateway pinged every second: the far end (here the switch itself, which
# answers OPTIONS) is up, with a latency (down after failed pings: trunks tests).
api POST /v1/gateways "{\"name\":\"pinged\",\"proxy\":\"127.0.0.1:$SIP_PORT\",\"ping_interval\":1}" >/dev/null
check "OPTIONS pings: gateway up with a latency"      wait_for 5 bash -c "[ \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status pinged ping)\" = up ] && [ -n \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status pinged latency_ms | grep -v None)\" ]"
check "pushed: gateway pinged up"                     wait_for 5 pushed_state pinged ping up
api DELETE /v1/gateways/pinged >/dev/null

# --- failover ----------------------------------------------------------------
PA=$(free_port); PB=$(free_port)
api POST /v1/gateways "{\"name\":\"gwa\",\"proxy\":\"127.0.0.1:$PA\"}" >/dev/null
api POST /v1/gateways "{\"name\":\"gwb\",\"proxy\":\"127.0.0.1:$PB\",\"caller_id\":\"4930999\",\"codecs\":[\"PCMA\"]}" >/dev/null
api POST /v1/routes '{"name":"out","destination_prefix":"9","strip":1,"source":"extension","action":{"gateways":["gwa","gwb"]}}' >/dev/null
# outbound_case NAME UAS_A UAS_B UAC: carriers A and B answer per their scenario; B may be "none".
outbound_case() {
  local name=$1 a=$2 b=$3 uac=$4 pa pb
  sipp -sf "$SCEN/$a" -i 127.0.0.1 -p "$PA" -t u1 -m 1 -timeout 20 -timeout_error -nostdin -trace_msg -message_file "$OUT/tk_$name.a.msg" >"$OUT/tk_$name.a.log" 2>&1 & pa=$!
  if [ "$b" != none ]; then
    sipp -sf "$SCEN/$b" -i 127.0.0.1 -p "$PB" -t u1 -m 1 -timeout 20 -timeout_error -nostdin -trace_msg -message_file "$OUT/tk_$name.b.msg" >"$OUT/tk_$name.b.log" 2>&1 & pb=$!
  fi
  udp_ready "$PA" || return 1
  [ "$b" = none ] || udp_ready "$PB" || return 1
  sipp -sf "$SCEN/$uac" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 90301234 -inf "$OUT/tk_caller.csv" \
       -au 1000 -ap "$P1000" -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/tk_$name.uac.err" >"$OUT/tk_$name.uac.log" 2>&1
  local rc=$? ra rb=0
  wait "$pa"; ra=$?
  [ "$b" != none ] && { wait "$pb"; rb=$?; }
  echo "uac=$rc carrierA=$ra carrierB=$rb"
  [ $rc -eq 0 ] && [ $ra -eq 0 ] && [ $rb -eq 0 ]
}
check "503 from the first gateway fails over to the second" outbound_case failover uas_503.xml uas_answer.xml uac_bye.xml
check "the carrier got the number stripped and B's caller ID" bash -c "grep -q '^INVITE sip:0301234@127.0.0.1:$PB' '$OUT/tk_failover.b.msg' && grep -q '^From: .*<sip:4930999@' '$OUT/tk_failover.b.msg'"
check "gwb (codecs PCMA) was offered only PCMA and events" grep -q '^m=audio [0-9]* RTP/AVP 8 101' "$OUT/tk_failover.b.msg"
check "CDR: answered through gwb"                      wait_for 5 last_cdr disposition=answered gateway=gwb
check "486 does not fail over"                        outbound_case busy uas_busy.xml none uac_busy.xml
check "CDR: busy at gwa"                               wait_for 5 last_cdr disposition=busy gateway=gwa b_status=486
check "gateways released (no calls counted)"           bash -c "[ \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status gwa calls)\" = 0 ] && [ \"\$($(declare -f api gw_status); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN gw_status gwb calls)\" = 0 ]"

# --- concurrency limit ---------------------------------------------------------
# gwl1 takes at most 2 calls: of 3 calls up at once, the third goes to gwl2.
L1=$(free_port); L2=$(free_port)
api POST /v1/gateways "{\"name\":\"gwl1\",\"proxy\":\"127.0.0.1:$L1\",\"max_calls\":2}" >/dev/null
api POST /v1/gateways "{\"name\":\"gwl2\",\"proxy\":\"127.0.0.1:$L2\"}" >/dev/null
api POST /v1/routes '{"name":"lim","destination_prefix":"8","strip":1,"source":"extension","action":{"gateways":["gwl1","gwl2"]}}' >/dev/null
limit_case() {
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$L1" -t u1 -m 2 -timeout 20 -timeout_error -nostdin >"$OUT/tk_lim.1.log" 2>&1 & local a=$!
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$L2" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/tk_lim.2.log" 2>&1 & local b=$!
  udp_ready "$L1" "$L2" || return 1
  # Three calls, 20 ms apart, each held for 1 s (uac_bye pauses before its BYE).
  sipp -sf "$SCEN/uac_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 80301234 -inf "$OUT/tk_caller.csv" \
       -au 1000 -ap "$P1000" -m 3 -l 3 -r 50 -timeout 20 -timeout_error -nostdin >"$OUT/tk_lim.uac.log" 2>&1
  local rc=$?; wait "$a"; local ra=$?; wait "$b"; local rb=$?
  echo "uac=$rc gwl1(2 calls)=$ra gwl2(1 call)=$rb"; [ $rc -eq 0 ] && [ $ra -eq 0 ] && [ $rb -eq 0 ]
}
check "max_calls 2: the third call takes the next gateway" limit_case
# --- no open relay -----------------------------------------------------------
# An INVITE to a gateway-routed number from an address that is no gateway's
# and without credentials is challenged, never forwarded.
TRIED=$(grep -c "trying gateway" "$SWITCH_LOG")
unauth_invite() {
  python3 - "$SIP_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(3)
lp = s.getsockname()[1]
m = (f"INVITE sip:90301234@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bKfraud1\r\nFrom: <sip:1000@127.0.0.1>;tag=f\r\n"
     f"To: <sip:90301234@127.0.0.1>\r\nCall-ID: fraud-{lp}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:{lp}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.sendto(m.encode(), ("127.0.0.1", port))
codes = []
try:
    while True:
        r = s.recv(65535).decode(errors="replace")
        codes.append(int(r.split(" ", 2)[1]))
        if codes[-1] >= 200:
            break
except socket.timeout:
    pass
print(codes)
sys.exit(0 if codes and codes[-1] == 407 else 1)
PY
}
check "unauthenticated INVITE to a routed number gets 407" unauth_invite
check "... and no gateway was tried"                   test "$(grep -c "trying gateway" "$SWITCH_LOG")" = "$TRIED"
# --- toll-fraud bypass attempts ------------------------------------------------
# An authenticated extension cannot reach a gateway by naming it in a Route
# header, nor through a number no route sends out.
TRIED=$(grep -c "trying gateway" "$SWITCH_LOG")
check "Route header at a gateway is ignored (404, no gateway tried)" bash -c "[ \"\$(python3 '$ROOT/testbeds/auth_invite.py' $SIP_PORT 1000 '$P1000' 77001234 'Route: <sip:127.0.0.1:$PA;lr>')\" = 404 ]"
check "... and no gateway was tried"                 test "$(grep -c "trying gateway" "$SWITCH_LOG")" = "$TRIED"

# --- inbound from a carrier ---------------------------------------------------
# The carrier sends from 127.0.0.2 (its listed address): no credentials asked,
# the DID is routed to extension 1001 (a sipp phone registered with digest).
P1001=$(new_extension 1001)
echo "SEQUENTIAL" >"$OUT/tk_callee.csv"; echo "1001;$DOMAIN" >>"$OUT/tk_callee.csv"
echo "SEQUENTIAL" >"$OUT/tk_carrier.csv"; echo "4930111222;carrier.test" >>"$OUT/tk_carrier.csv"
UPORT=$(free_port)
api POST /v1/gateways '{"name":"incoming","proxy":"127.0.0.2:5060","inbound":["127.0.0.2/32"]}' >/dev/null
api POST /v1/routes '{"name":"did","destination_prefix":"4930555","source":"gateway","action":{"extension":"1001"}}' >/dev/null
inbound_call() {
  sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 -inf "$OUT/tk_callee.csv" \
       -au 1001 -ap "$P1001" -m 1 -timeout 10 -timeout_error -nostdin >"$OUT/tk_in.reg.log" 2>&1 || return 1
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/tk_in.uas.log" 2>&1 & local u=$!
  udp_ready "$UPORT" || return 1
  sipp -sf "$SCEN/carrier_inbound.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.2 -p "$(free_port)" -t u1 -s 49305551001 -inf "$OUT/tk_carrier.csv" \
       -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/tk_in.uac.err" >"$OUT/tk_in.uac.log" 2>&1
  local rc=$?; wait "$u"; local ru=$?
  echo "carrier=$rc phone=$ru"; [ $rc -eq 0 ] && [ $ru -eq 0 ]
}
check "carrier call from its address reaches the DID's extension" inbound_call
check "CDR: answered, caller is the carrier's caller" wait_for 5 last_cdr disposition=answered caller=4930111222 callee=1001
# A carrier calling from an address we do not list, with the digest
# credentials we issued it: challenged (407), then let in as that gateway.
api POST /v1/gateways '{"name":"digestcarrier","proxy":"127.0.0.3:5060","inbound_username":"carrier7","inbound_password":"in-pass-123"}' >/dev/null
digest_inbound() {
  sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$UPORT" -t u1 -m 1 -timeout 20 -timeout_error -nostdin >"$OUT/tk_din.uas.log" 2>&1 & local u=$!
  udp_ready "$UPORT" || return 1
  sipp -sf "$SCEN/uac_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -s 49305551001 -inf "$OUT/tk_carrier.csv" \
       -au carrier7 -ap in-pass-123 -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/tk_din.uac.err" >"$OUT/tk_din.uac.log" 2>&1
  local rc=$?; wait "$u"; local ru=$?
  echo "carrier=$rc phone=$ru"; [ $rc -eq 0 ] && [ $ru -eq 0 ]
}
check "carrier with issued digest credentials reaches the DID" digest_inbound
check "CDR: answered, the carrier's caller"           wait_for 5 last_cdr disposition=answered caller=4930111222 callee=1001
check "the carrier's password is never shown"         bash -c "! (curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/gateways/digestcarrier | grep -q in-pass-123)"
reg_as_carrier() { # the carrier's credentials do not register (no AOR for them)
  echo "SEQUENTIAL" >"$OUT/tk_c7.csv"; echo "carrier7;$DOMAIN" >>"$OUT/tk_c7.csv"
  ! sipp -sf "$SCEN/register_auth.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -t u1 -inf "$OUT/tk_c7.csv" \
       -au carrier7 -ap in-pass-123 -m 1 -timeout 5 -timeout_error -nostdin >"$OUT/tk_c7.log" 2>&1
}
check "... and do not register"                      reg_as_carrier
transit() { # from the carrier's address to a number only extensions may route out: refused, no gateway tried
  python3 - "$SIP_PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.2", 0)); s.settimeout(3)
lp = s.getsockname()[1]
m = (f"INVITE sip:90301234@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:{lp};branch=z9hG4bKtransit1\r\nFrom: <sip:4930111222@carrier.test>;tag=t\r\n"
     f"To: <sip:90301234@127.0.0.1>\r\nCall-ID: transit-{lp}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.2:{lp}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
s.sendto(m.encode(), ("127.0.0.1", port))
codes = []
try:
    while not codes or codes[-1] < 200:
        codes.append(int(s.recv(65535).decode(errors="replace").split(" ", 2)[1]))
except socket.timeout:
    pass
print(codes)
sys.exit(0 if codes and codes[-1] in (403, 404) else 1)
PY
}
TRIED=$(grep -c "trying gateway" "$SWITCH_LOG")
check "carrier-to-carrier transit is refused"          transit
check "... and no gateway was tried"                   test "$(grep -c "trying gateway" "$SWITCH_LOG")" = "$TRIED"
check "switch process still running"                  alive
summary "trunks"
