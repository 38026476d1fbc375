#!/usr/bin/env bash
# Issue 3 interop: softphones and sipp register to the switch with digest
# authentication over UDP and TCP; the admin API lists them; registrations
# survive kill -9; the digest corner cases; the brute-force ban.
source "$(dirname "$0")/lib.sh"

start_switch registrar --set directory.first_run_extensions=

# Extensions created over the API; passwords come back once.
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
P1002=$(new_extension 1002)
P1003=$(new_extension 1003)
echo "SEQUENTIAL" >"$OUT/users.csv"; echo "1003;$DOMAIN" >>"$OUT/users.csv"

reg_sipp() { # reg_sipp SCENARIO TRANSPORT USER PASS [args]
  local scen=$1 t=$2 u=$3 p=$4; shift 4
  sipp_run "$scen" "$t" -inf "$OUT/users.csv" -au "$u" -ap "$p" -m 1 "$@"
}

check "sipp REGISTER with digest over UDP → 200"        reg_sipp register_auth.xml u1 1003 "$P1003"
check "listed in GET /v1/registrations (udp)"            wait_for 5 registered 1003 udp
check "sipp REGISTER with digest over TCP → 200"        reg_sipp register_auth.xml t1 1003 "$P1003"
check "listed in GET /v1/registrations (tcp)"            wait_for 5 registered 1003 tcp
check "wrong password → 401 again"                       reg_sipp register_refused.xml u1 1003 wrongpassword
check "Expires below minimum → 423 Min-Expires: 60"     reg_sipp register_423.xml u1 1003 "$P1003"
check "replayed nonce-count refused"                     python3 "$ROOT/testbeds/register_peer.py" "$SIP_PORT" "$DOMAIN" replay 1003 "$P1003"
check "retransmitted REGISTER answered 200 again"         python3 "$ROOT/testbeds/register_peer.py" "$SIP_PORT" "$DOMAIN" retransmit 1003 "$P1003"
check "wrong password and unknown user look the same"   python3 "$ROOT/testbeds/register_peer.py" "$SIP_PORT" "$DOMAIN" same-answer 1003 "$P1003"

# The offline CLI writes to the same store while the switch runs; the
# switch picks the change up (directory version) without a restart.
cli() { "$BIN" extension "$@" --set data_dir="$DATA" --set sip.domain="$DOMAIN"; }
# Reloads counted before each write: the switch polls the directory
# version every second, so its reload may come before the next command.
reloads() { grep -c "configuration reloaded" "$SWITCH_LOG"; }
R0=$(reloads)
check "CLI: extension add with a password"               cli add 3000 --password cli-pass-3000
check "CLI: extension list shows it"                     bash -c "$(declare -f cli); BIN='$BIN' DATA='$DATA' DOMAIN='$DOMAIN'; cli list | grep -q '^3000 '"
echo "SEQUENTIAL" >"$OUT/cli.csv"; echo "3000;$DOMAIN" >>"$OUT/cli.csv"
# Wait for the switch to report the reload (a failed attempt would count
# towards the brute-force ban of 127.0.0.1).
check "switch reloads the directory after the CLI write" wait_for 5 bash -c "[ \$(grep -c 'configuration reloaded' '$SWITCH_LOG') -gt $R0 ]"
check "CLI-made extension registers (running switch)"  sipp_run register_auth.xml u1 -inf "$OUT/cli.csv" -au 3000 -ap cli-pass-3000 -m 1
R0=$(reloads)
check "CLI: generated password is printed once"          bash -c "$(declare -f cli); BIN='$BIN' DATA='$DATA' DOMAIN='$DOMAIN'; cli add 3001 | grep -Eq 'password: [A-Za-z0-9]{16}$'"
check "switch reloads the directory after the second add" wait_for 5 bash -c "[ \$(grep -c 'configuration reloaded' '$SWITCH_LOG') -gt $R0 ]"
R0=$(reloads)
check "CLI: extension del"                               cli del 3000
check "switch reloads the directory after the delete"  wait_for 5 bash -c "[ \$(grep -c 'configuration reloaded' '$SWITCH_LOG') -gt $R0 ]"
check "deleted extension can no longer register"         sipp_run register_refused.xml u1 -inf "$OUT/cli.csv" -au 3000 -ap cli-pass-3000 -m 1

# Real softphones.
start_baresip bs1000 1000 "$P1000" udp; BS1000_PID=$BARESIP_PID; BS1000_CTRL=$BARESIP_CTRL
start_baresip bs1001 1001 "$P1001" tcp; BS1001_PID=$BARESIP_PID; BS1001_CTRL=$BARESIP_CTRL
check "baresip registers over UDP"                       wait_for 10 registered 1000 udp
check "baresip registers over TCP"                       wait_for 10 registered 1001 tcp
check "linphonec registers over UDP, then unregisters"  python3 "$ROOT/testbeds/linphone_peer.py" register 1002 "$P1002" "$DOMAIN" "sip:127.0.0.1:$SIP_PORT" "$(free_port)" "$HTTP_PORT" "$TOKEN" "$OUT"
check "linphonec registers over TCP, then unregisters"  python3 "$ROOT/testbeds/linphone_peer.py" register 1002 "$P1002" "$DOMAIN" "sip:127.0.0.1:$SIP_PORT;transport=tcp" "$(free_port)" "$HTTP_PORT" "$TOKEN" "$OUT"

# kill -9 and restart: bindings acknowledged with 200 are still there.
restart_switch KILL
check "after kill -9: baresip (udp) binding restored"    registered 1000 udp
check "after kill -9: baresip (tcp) binding restored"    registered 1001 tcp
check "after kill -9: sipp binding restored"             registered 1003
# baresip re-registers (TCP reconnects) and unregisters on quit.
baresip_cmd "$BS1001_CTRL" reginfo >/dev/null 2>&1 || true
kill "$BS1001_PID" 2>/dev/null || true; wait "$BS1001_PID" 2>/dev/null || true
start_baresip bs1001b 1001 "$P1001" tcp; BS1001_PID=$BARESIP_PID; BS1001_CTRL=$BARESIP_CTRL
check "baresip re-registers over TCP after the restart" wait_for 10 registered 1001 tcp
baresip_cmd "$BS1000_CTRL" quit >/dev/null 2>&1
check "baresip unregisters on quit"                      wait_for 10 not_registered 1000
check "switch process still running"                     alive

# Short nonce lifetime and brute force, on their own switch so neither
# disturbs the phones above.
start_switch registrar_ban --set security.auth_ban_failures=4 --set security.nonce_lifetime=2 --set directory.first_run_extensions= \
  --set registrar.keepalive_interval=1 --set sip.t1_ms=50
PBAN=$(new_extension 2000)
PKA=$(new_extension 2001)
echo "SEQUENTIAL" >"$OUT/users.csv"; echo "2000;$DOMAIN" >>"$OUT/users.csv"
check "old nonce → 401 stale=true"                       reg_sipp register_stale.xml u1 2000 "$PBAN"
# NAT keep-alive: OPTIONS every second (T1 = 50 ms, so Timer F = 3.2 s). A
# contact nobody answers for (sipp exits after registering) is dropped; a
# live phone (baresip answers OPTIONS) keeps its binding.
echo "SEQUENTIAL" >"$OUT/ka.csv"; echo "2001;$DOMAIN" >>"$OUT/ka.csv"
check "keep-alive: registered contact"                   sipp_run register_auth.xml u1 -inf "$OUT/ka.csv" -au 2001 -ap "$PKA" -m 1
check "keep-alive: unanswered contact is dropped"        wait_for 15 not_registered 2001
start_baresip ka_live 2001 "$PKA" udp
check "keep-alive: the phone registers"                  wait_for 10 registered 2001
# Watch the pings themselves (SIP trace of 2001's messages): once the phone
# has answered four of them, more than a whole Timer F has passed since the
# first, so a binding that pings could drop would be gone by now. (While
# the trace is on, the only 200s of 2001's are the phone's answers to pings:
# it re-registers every 300 s.)
answers() { grep -A1 'sip_trace' "$SWITCH_LOG" | grep -c '^SIP/2.0 200'; }
ANSWERS0=$(answers)
ctl trace on --extension 2001 >/dev/null
check "keep-alive: the phone answers four pings"         wait_for 15 bash -c "[ \$(grep -A1 'sip_trace' '$SWITCH_LOG' | grep -c '^SIP/2.0 200') -ge $((ANSWERS0 + 4)) ]"
ctl trace off >/dev/null
check "keep-alive: a phone that answers stays registered" registered 2001
check "failed digests get the source blocked"            python3 "$ROOT/testbeds/register_peer.py" "$SIP_PORT" "$DOMAIN" ban 2000 wrong
check "blocked source listed by the API"                 bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/security/blocks | grep -q '\"127.0.0.1\"'"
check "blocked source cannot register even correctly"    bash -c "! python3 '$ROOT/testbeds/register_peer.py' $SIP_PORT $DOMAIN unbanned 2000 '$PBAN'"
check "block cleared over the API"                       bash -c "curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/security/blocks/127.0.0.1 | grep -q 204"
check "cleared source registers again"                   python3 "$ROOT/testbeds/register_peer.py" "$SIP_PORT" "$DOMAIN" unbanned 2000 "$PBAN"

summary "registrar"
