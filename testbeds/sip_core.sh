#!/usr/bin/env bash
# Issue 2 interop: sipp and a raw scripted peer against the running binary,
# over UDP and TCP. Checks OPTIONS, 405/501/481/420/416 policy, the INVITE
# server transaction (100 Trying, final response retransmission, ACK
# matching), malformed input answered with 400 + Warning, and that no input
# stops the switch.
source "$(dirname "$0")/lib.sh"

TLS_PORT=$(free_port); export TLS_PORT
start_switch sip_core --set sip.tls_port="$TLS_PORT"

for t in u1 t1; do
  check "OPTIONS 200 with Allow/Accept ($t)"      sipp_run options.xml "$t" -m 50 -r 500
  check "unknown method gets 501 ($t)"            sipp_run unknown_method.xml "$t" -m 5
  check "Require: unknown gets 420 ($t)"          sipp_run require.xml "$t" -m 5
  check "stray in-dialog BYE gets 481 ($t)"       sipp_run in_dialog_bye.xml "$t" -m 5
  check "INVITE: 407 at once, no 100, ACK absorbs ($t)" sipp_run invite_rejected.xml "$t" -m 5 -r 5
done
check "INVITE over UDP: Timer G until ACK, then silence"  python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" timer-g
check "malformed UDP requests get 400 with Warning"  python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" malformed-udp
check "3000 hostile datagrams do not stop it"        python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" garbage-udp
check "TCP pipelining, split frames, keep-alive"     python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" tcp-framing
check "TCP hostile framing closes, switch stays up"  python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" tcp-hostile
check "TLS: OPTIONS, pipelining, keep-alive (self-signed)" python3 "$ROOT/testbeds/raw_peer.py" "$SIP_PORT" tls
check "OPTIONS load 2000 calls at 1000/s (u1)"       sipp_run options.xml u1 -m 2000 -r 1000 -l 200
check "OPTIONS load 2000 calls at 1000/s (t1)"       sipp_run options.xml t1 -m 2000 -r 1000 -l 200
check "switch process still running"                 alive

summary "sip_core"
