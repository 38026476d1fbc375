#!/usr/bin/env bash
# Issue 10 (scanners): sipvicious against the switch. svmap finds a SIP
# server; svwar cannot tell existing extensions from missing ones by
# REGISTER, OPTIONS or INVITE; svcrack gets its source blocked and finds no
# password. Its own switch: the scans get 127.0.0.1 banned.
source "$(dirname "$0")/lib.sh"

start_switch sipvicious --set directory.first_run_extensions= --set security.auth_ban_failures=5
new_extension 1000 >/dev/null
new_extension 1001 >/dev/null

check "svmap sees a SIP server"                        bash -c "timeout 30 svmap -p$SIP_PORT 127.0.0.1 2>&1 | grep -q 'ferroswitch'"
for m in REGISTER OPTIONS INVITE; do
  check "svwar ($m) cannot tell 1000/1001 exist"      bash -c "out=\$(timeout 60 svwar --force -e990-1010 -m $m -p $SIP_PORT 127.0.0.1 2>&1); echo \"\$out\" | tail -12; ! echo \"\$out\" | grep -Eq '\\| *10(00|01) +\\|'"
done
check "svcrack finds no password"                       bash -c "out=\$(timeout 120 svcrack -u1000 -r1-400 -p $SIP_PORT 127.0.0.1 2>&1); echo \"\$out\" | tail -5; echo \"\$out\" | grep -q 'found nothing'"
check "svcrack got its source blocked"                  bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/security/blocks | grep -q '\"127.0.0.1\"'"
check "the blocked source shows in /metrics"             bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/metrics | grep -Eqx 'ferroswitch_blocked_sources [1-9][0-9]*'"
check "switch process still running"                    alive

summary "sipvicious"
