#!/usr/bin/env bash
# Issue 6 (click-to-call): the CRM asks for a call with POST /v1/calls; the
# switch rings the agent first, then the customer, and bridges them. Audio
# is checked both ways (tones) and in the stereo recording, and the CDR's
# webhook arrives signed with the CRM's ext_data byte for byte and the
# recording's URL. Then the same through a carrier gateway
# (sipp as the customer's carrier).
source "$(dirname "$0")/lib.sh"

WPORT=$(free_port)
HOOKS=$OUT/c2c_deliveries.jsonl; : >"$HOOKS"
# An S3-compatible object store (moto) for the recordings, with a bucket.
S3PORT=$(free_port)
"$ROOT/testbeds/.venv/bin/moto_server" -H 127.0.0.1 -p "$S3PORT" >"$OUT/c2c_moto.log" 2>&1 & PIDS+=($!)
wait_for 20 bash -c "curl -s -o /dev/null http://127.0.0.1:$S3PORT/" || { echo "moto did not start"; cat "$OUT/c2c_moto.log"; exit 1; }
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
"$ROOT/testbeds/.venv/bin/python" -c "import boto3,sys; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1').create_bucket(Bucket='calls')" "http://127.0.0.1:$S3PORT"
start_switch c2c --set directory.first_run_extensions= --set webhooks.secret=c2c-secret \
  --set recordings.s3_bucket=calls --set recordings.s3_endpoint="http://127.0.0.1:$S3PORT" --set recordings.s3_region=us-east-1
P1000=$(new_extension 1000)
P1001=$(new_extension 1001)
python3 "$ROOT/testbeds/webhook_receiver.py" "$WPORT" c2c-secret "$HOOKS" & PIDS+=($!)
python3 "$ROOT/testbeds/tones.py" make "$OUT/c2c_agent.wav" 440 5
python3 "$ROOT/testbeds/tones.py" make "$OUT/c2c_customer.wav" 1000 4

# The agent (1000) and, for the first call, the customer (1001) auto-answer;
# the customer's file ends first and it hangs up.
start_baresip c2c_agent 1000 "$P1000" udp auto "$OUT/c2c_agent.wav"; AGENT_PID=$BARESIP_PID
start_baresip c2c_customer 1001 "$P1001" udp auto "$OUT/c2c_customer.wav"
check "both phones registered"                 bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1001"
EXT='{"crm_ticket": "T-42", "amount": 1.50, "tags":["vip" ,"é"]}'
originate() { # originate JSON_BODY: prints the call id
  api POST /v1/calls "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("id") or d)'
}
CALL1=$(originate "{\"caller\":\"1000\",\"callee\":\"1001\",\"record\":true,\"ext_data\":$EXT,\"webhook_url\":\"http://127.0.0.1:$WPORT/crm\"}")
check "POST /v1/calls returns the call id at once"     bash -c "[[ '$CALL1' =~ ^[0-9a-f-]{36}$ ]]"
cdr_of() { api GET "/v1/cdrs/$1" | python3 -c 'import json,sys; c=json.load(sys.stdin); sys.exit(0 if c.get("id") else 1)'; }
check "the call ends and its CDR is written"           wait_for 30 cdr_of "$CALL1"
check "CDR: answered, agent then customer"             bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL1 | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c); sys.exit(0 if (c[\"disposition\"], c[\"caller\"], c[\"callee\"], c[\"hangup_side\"]) == (\"answered\", \"1000\", \"1001\", \"callee\") and c[\"billable_ms\"] > 2000 else 1)'"
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
check "the agent heard the customer's 1000 Hz"         python3 "$ROOT/testbeds/tones.py" detect "$(rec c2c_agent dec)" 1000 440
check "the customer heard the agent's 440 Hz"          python3 "$ROOT/testbeds/tones.py" detect "$(rec c2c_customer dec)" 440 1000
hook_ok() { # hook_ok CALL_ID: one delivery for it, signed, with ext_data exactly as sent
  python3 - "$HOOKS" "$1" "$EXT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in rows if r["cdr_id"] == sys.argv[2]]
print(mine)
ok = len(mine) == 1 and mine[0]["sig_ok"] and mine[0]["ext_data_raw"].startswith(sys.argv[3] + ",")
sys.exit(0 if ok else 1)
PY
}
check "webhook at the call's URL: signed, ext_data byte for byte" wait_for 10 hook_ok "$CALL1"
# The recording: named in the CDR and the webhook, served by the API;
# stereo, the agent (caller) left, the customer right, as long as the call.
REC_URL=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if json.loads(l)["cdr_id"] == sys.argv[2]][0]["recording_url"])' "$HOOKS" "$CALL1")
check "webhook carries the uploaded recording's URL"     bash -c "[ '$REC_URL' = 'http://127.0.0.1:$S3PORT/calls/recordings/$CALL1.wav' ]"
s3_copy_ok() { # the object in the store is the recording, byte for byte
  "$ROOT/testbeds/.venv/bin/python" - "http://127.0.0.1:$S3PORT" "recordings/$CALL1.wav" "$OUT/c2c_rec_s3.wav" <<'PY'
import boto3, sys
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").download_file("calls", sys.argv[2], sys.argv[3])
PY
  cmp "$OUT/c2c_rec_s3.wav" "$OUT/c2c_rec.wav"
}
check "the API serves the local copy with the token"      curl -sSf -H "Authorization: Bearer $TOKEN" -o "$OUT/c2c_rec.wav" "http://127.0.0.1:$HTTP_PORT/v1/recordings/$CALL1.wav"
check "the object store holds the same file"              s3_copy_ok
check "stereo, 8 kHz"                                     bash -c "python3 '$ROOT/testbeds/tones.py' info '$OUT/c2c_rec.wav' | grep -q 'channels=2 rate=8000'"
rec_len_ok() {
  local secs; secs=$(python3 "$ROOT/testbeds/tones.py" info "$OUT/c2c_rec.wav" | sed 's/.*seconds=//')
  api GET "/v1/cdrs/$CALL1" | python3 -c 'import json,sys; c=json.load(sys.stdin); s=float(sys.argv[1]); print(s, c["billable_ms"], c["duration_ms"]); sys.exit(0 if c["billable_ms"]/1000 - 0.5 <= s <= c["duration_ms"]/1000 + 0.5 else 1)' "$secs"
}
check "its length matches the call (CDR)"                 rec_len_ok
check "left channel: the agent's 440 Hz"                  python3 "$ROOT/testbeds/tones.py" detectch "$OUT/c2c_rec.wav" 0 440 1000
check "right channel: the customer's 1000 Hz"             python3 "$ROOT/testbeds/tones.py" detectch "$OUT/c2c_rec.wav" 1 1000 440

# Through a carrier: the customer is behind gateway "carrier" (sipp rings
# 2.5 s without early media, answers and plays 700 Hz, waits for the BYE):
# the agent hears our ringback, then the customer; the agent (playing
# 1400 Hz) hangs up when its 6 s file ends; the call is recorded.
GW=$(free_port)
api POST /v1/gateways "{\"name\":\"carrier\",\"proxy\":\"127.0.0.1:$GW\",\"prefix\":\"0\"}" >/dev/null
python3 "$ROOT/testbeds/tones.py" make "$OUT/c2c_agent2.wav" 1400 6
python3 "$ROOT/testbeds/tones.py" pcap "$OUT/c2c_customer.pcap" 700 3
kill "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null
start_baresip c2c_agent2 1000 "$P1000" udp auto "$OUT/c2c_agent2.wav"
AGENT2_PORT=$(awk '/^sip_listen/ {split($2, a, ":"); print a[2]}' "$OUT/c2c_agent2.baresip/config")
check "the new agent phone registered"                 wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/registrations | grep -q '\"source\":\"127.0.0.1:$AGENT2_PORT\"'"
(cd "$OUT" && exec sipp -sf "$SCEN/uas_ring_answer_tone.xml" -i 127.0.0.1 -p "$GW" -mp "$(free_media_port)" -t u1 -m 1 -timeout 30 -timeout_error -nostdin \
   -trace_msg -message_file "$OUT/c2c_carrier.msg") >"$OUT/c2c_carrier.log" 2>&1 & CARRIER=$!
PIDS+=("$CARRIER")
# (started from the command line this time: ctl originate)
CALL2=$(ctl originate 1000 4930123456 gateway=carrier caller_id=4930999 record)
check "ctl originate prints the call id"                bash -c "[[ '$CALL2' =~ ^[0-9a-f-]{36}$ ]]"
check "carrier leg answered and ended by the agent"    wait "$CARRIER"
check "the carrier got the prefixed number and our caller ID" bash -c "grep -q '^INVITE sip:04930123456@' '$OUT/c2c_carrier.msg' && grep -q '^From: .*<sip:4930999@' '$OUT/c2c_carrier.msg'"
check "the agent heard ringback (450 Hz) while the customer rang" env TONES_TO=2.3 python3 "$ROOT/testbeds/tones.py" detect "$(rec c2c_agent2 dec)" 450 700 1400
check "then the customer's 700 Hz (sipp through the carrier)"    env TONES_FROM=2.8 python3 "$ROOT/testbeds/tones.py" detect "$(rec c2c_agent2 dec)" 700 450 1400
check "CDR: answered through the gateway"               wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL2 | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c); sys.exit(0 if (c[\"disposition\"], c[\"gateway\"], c[\"hangup_side\"]) == (\"answered\", \"carrier\", \"caller\") else 1)'"
rec2() { api GET "/v1/cdrs/$CALL2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["recording"] or "")'; }
check "the carrier call is recorded: agent left (1400 Hz)"       bash -c "f=\$($(declare -f api rec2); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN CALL2=$CALL2 rec2); [ -n \"\$f\" ] && python3 '$ROOT/testbeds/tones.py' detectch '$DATA/recordings/'\"\$f\" 0 1400 700"
check "... and the customer right (700 Hz)"                      bash -c "f=\$($(declare -f api rec2); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN CALL2=$CALL2 rec2); [ -n \"\$f\" ] && python3 '$ROOT/testbeds/tones.py' detectch '$DATA/recordings/'\"\$f\" 1 700 1400"
# The other way round: the caller is an external number rung through the
# carrier (sipp answers), then the callee is extension 1001 (baresip, plays
# its 4 s file and hangs up).
sipp -sf "$SCEN/uas_answer.xml" -i 127.0.0.1 -p "$GW" -t u1 -m 1 -timeout 30 -timeout_error -nostdin >"$OUT/c2c_carrier3.log" 2>&1 & CARRIER3=$!
PIDS+=("$CARRIER3")
CALL3=$(originate '{"caller":"4930777","callee":"1001","gateways":["carrier"]}')
check "external caller through the carrier, then the extension" wait "$CARRIER3"
check "CDR: answered, caller via the carrier"           wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/cdrs/$CALL3 | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c); sys.exit(0 if (c[\"disposition\"], c[\"caller\"], c[\"callee\"], c[\"gateway\"]) == (\"answered\", \"4930777\", \"1001\", \"carrier\") else 1)'"
check "ctl show gateways lists the carrier"             bash -c "$(declare -f ctl); BIN='$BIN' HTTP_PORT=$HTTP_PORT DATA='$DATA'; ctl show gateways | grep -q '^carrier '"
check "unknown caller: 404, nothing rung"              bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/calls '{\"caller\":\"7777\",\"callee\":\"1001\"}' | grep -q '\"code\":\"no_route\"'"
check "no call left behind"                            bash -c "curl -sS -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/v1/calls | grep -q '\"items\":\[\]'"
check "switch process still running"                   alive
summary "click_to_call"
