#!/usr/bin/env bash
# Issue 4: a phone behind NAT. sipp plays the phone (extension 1002): it
# registers with a Contact and Via naming an address it cannot be reached
# at (127.0.0.99:5099 stands for its private address; nothing listens
# there, and it is loopback, so nothing leaves the host), and its 200
# announces media at 127.0.0.99. baresip (1001) calls it. The call
# works only if the switch sends the INVITE, the ACK and the BYE's answer
# where the phone really is (the binding's source, received/rport), and
# latches the media onto the address the phone's RTP comes from: the
# phone's 440 Hz burst must reach baresip, and baresip's own 1000 Hz must
# come back from the phone's echo (so it reached the phone's real port).
source "$(dirname "$0")/lib.sh"

start_switch nat --set directory.first_run_extensions=
P1001=$(new_extension 1001)
P1002=$(new_extension 1002)
python3 "$ROOT/testbeds/tones.py" make "$OUT/nat_b1000.wav" 1000 8
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/nat_burst.pcap" 440 1
echo "SEQUENTIAL" >"$OUT/nat.csv"; echo "1002;$DOMAIN" >>"$OUT/nat.csv"
UPORT=$(free_port)
MPORT=$(free_media_port)
check "the NATed phone registers (Contact 127.0.0.99:5099)" sipp -sf "$SCEN/register_nat.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$UPORT" -t u1 \
    -inf "$OUT/nat.csv" -au 1002 -ap "$P1002" -m 1 -timeout 10 -timeout_error -nostdin
binding() { api GET /v1/registrations | python3 -c '
import json, sys
b = [i for i in json.load(sys.stdin)["items"] if i.get("extension", i.get("aor", "")).startswith("1002")]
print(b)
sys.exit(0 if b and "127.0.0.99:5099" in json.dumps(b) and ("127.0.0.1:" + sys.argv[1]) in json.dumps(b) else 1)' "$UPORT"; }
check "the binding keeps both the Contact and where the phone really is" binding
(cd "$OUT" && exec sipp -sf "$SCEN/uas_nat.xml" -i 127.0.0.1 -p "$UPORT" -mp "$MPORT" -rtp_echo -t u1 -m 1 -timeout 30 -timeout_error \
    -nostdin -trace_err -error_file "$OUT/nat_uas.err" >"$OUT/nat_uas.log" 2>&1) &
NAT_UAS=$!
PIDS+=("$NAT_UAS")
udp_ready "$UPORT" >/dev/null
start_baresip nat_b 1001 "$P1001" udp manual "$OUT/nat_b1000.wav"; B_CTRL=$BARESIP_CTRL
check "baresip 1001 registered"                     wait_for 10 registered 1001
baresip_cmd "$B_CTRL" dial "sip:1002@$DOMAIN" >/dev/null
check "the NATed phone answered, got the ACK and hung up (sipp scenario passed)" wait "$NAT_UAS"
cdr_nat() { api GET "/v1/cdrs?extension=1002" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"][0]
print({k: c[k] for k in ("disposition", "hangup_side", "packets_to_a", "packets_to_b", "lost_to_a", "lost_to_b")})
sys.exit(0 if c["disposition"] == "answered" and c["hangup_side"] == "callee" and c["packets_to_a"] > 100 and c["packets_to_b"] > 100 else 1)'; }
check "CDR: answered, the NATed callee hung up, media relayed both ways" wait_for 10 cdr_nat
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
check "baresip heard the phone's 440 Hz, then its own 1000 Hz back from the phone's real port" \
    python3 "$ROOT/testbeds/tones.py" sequence "$(rec nat_b dec)" 440 1000
check "switch process still running"                alive
summary "nat"
