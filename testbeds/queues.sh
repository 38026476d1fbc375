#!/usr/bin/env bash
# Issue 7 (call-center queues), end to end with real peers:
#  1. a baresip caller dials the queue number, hears music on hold, an agent
#     logs in over the API, gets the screen pop on the WebSocket, its
#     auto-answering baresip is bridged; audio checked both ways; the CDR
#     names the queue, the agent, the wait and the position;
#  2. sipp as a carrier sends calls one after another into a round-robin
#     queue of three baresip agents, one of which never answers: the calls
#     go round in tier order, the silent agent is skipped after its ring
#     timeout and put On Break (max_no_answer 1), and stays so across a
#     kill -9;
#  3. a queue with no agent: the caller is hung up at max_wait_time, CDR
#     says timeout;
#  4. an IVR menu digit lands the caller in a queue (recorded);
#  5. a full queue dissuades: the caller hears the queue's message, then
#     goes to the fallback extension;
#  6. the periodic announcement says the estimated wait;
#  7. skills, an agent on another call skipped, ring-all (the agent who
#     does not answer is cancelled, not penalised, not left reserved) and
#     ring-progressively's delay, with the carrier's calls and the agents
#     of section 2;
#  8. a uuid-standby agent: logging in calls its phone once; callers are
#     then put through to that standing call at once (no ringing), audio
#     both ways; the line outlives each caller; the agent hanging up ends
#     the caller's call and logs the agent out; logout hangs the line up.
source "$(dirname "$0")/lib.sh"

start_switch queues --set directory.first_run_extensions=
for e in 1000 1001 1002 1003 1004 1009; do eval "P$e=\$(new_extension $e)"; done
python3 "$ROOT/testbeds/tones.py" make "$OUT/q_caller.wav" 1000 9
python3 "$ROOT/testbeds/tones.py" make "$OUT/q_agent.wav" 440 30

# --- 1. music on hold, screen pop, bridge, audio, CDR --------------------------
api POST /v1/queues '{"name":"support","strategy":"longest-idle-agent","moh":"tone:600@1000/0","agent_ring_timeout":10}' >/dev/null
api POST /v1/agents '{"name":"1000","contact":"1000","wrap_up_time":0}' >/dev/null
api POST /v1/tiers '{"queue":"support","agent":"1000"}' >/dev/null
api POST /v1/routes '{"name":"support-line","destination_prefix":"7000","source":"any","action":{"queue":"support"}}' >/dev/null
start_baresip q_agent 1000 "$P1000" udp auto "$OUT/q_agent.wav"
start_baresip q_caller 1009 "$P1009" udp manual "$OUT/q_caller.wav"; CALLER_CTRL=$BARESIP_CTRL
check "caller and agent registered" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1009"
rm -f "$OUT"/q_*.jsonl.ready
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "queue=support" collect "$OUT/q_events.jsonl" 40 agent_bridge_ended & WS_PID=$!
wait_for 5 test -e "$OUT/q_events.jsonl.ready"
baresip_cmd "$CALLER_CTRL" dial "sip:7000@$DOMAIN" >/dev/null
waiting() { # waiting QUEUE N [MIN_WAIT_MS]
  api GET "/v1/queues/$1/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s); sys.exit(0 if s["waiting"] == int(sys.argv[1]) and s["longest_wait_ms"] >= int(sys.argv[2]) else 1)' "$2" "${3:-0}"
}
check "the caller waits in the queue (no agent logged in)" wait_for 10 waiting support 1 2500
check "GET /v1/queues/support/members lists the caller"    bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/queues/support/members | grep -q '\"caller_number\":\"1009\"'"
check "agent login over the API"                           bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api POST /v1/agents/1000/login | grep -q '\"status\":\"Available\"'"
gone() { ! kill -0 "$1" 2>/dev/null; }
check "screen pop, bridge and hang-up events in order" bash -c "$(declare -f wait_for gone); wait_for 40 gone $WS_PID; python3 - '$OUT/q_events.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
types = [e['type'] for e in evs]
print(types)
want = ['member_joined', 'agent_offering', 'agent_bridged', 'member_left', 'agent_bridge_ended']
it = iter(types)
assert all(w in it for w in want), types
pop = [e for e in evs if e['type'] == 'agent_offering'][0]
assert (pop['agent'], pop['queue'], pop['caller_number']) == ('1000', 'support', '1009'), pop
left = [e for e in evs if e['type'] == 'member_left'][0]
assert left['cause'] == 'answered' and left['wait_ms'] >= 2500, left
seqs = [e['seq'] for e in evs]
assert seqs == sorted(seqs), seqs
PY"
cdr_q() { api GET "/v1/cdrs?queue=$1&limit=1" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"][0]
print(c)
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if v.startswith(">="):
        assert c[k] is not None and c[k] >= int(v[2:]), (k, c[k])
    else:
        assert str(c[k]) == v, (k, c[k])' "${@:2}"; }
check "CDR: queue, agent, wait, position, talk time" wait_for 20 cdr_q support queue=support agent=1000 queue_result=answered queue_position=1 queue_wait_ms=">=2500" talk_ms=">=1000" disposition=answered caller=1009 callee=support
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
CREC=$(rec q_caller dec)
CSECS=$(python3 "$ROOT/testbeds/tones.py" info "$CREC" 2>/dev/null | sed 's/.*seconds=//')
check "the caller heard music on hold (600 Hz) while waiting" env TONES_FROM=0.3 TONES_TO=2.0 python3 "$ROOT/testbeds/tones.py" detect "$CREC" 600 440
check "... then the agent (440 Hz)"                          env TONES_FROM="$(python3 -c "print(max(0, ${CSECS:-0} - 2))")" python3 "$ROOT/testbeds/tones.py" detect "$CREC" 440 600
check "the agent heard the caller (1000 Hz)"                  python3 "$ROOT/testbeds/tones.py" detect "$(rec q_agent dec)" 1000 600
check "agent back to Waiting after the call, one call counted" bash -c "$(declare -f api wait_for); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 5 bash -c \"\$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/agents/1000 | python3 -c 'import json,sys; a=json.load(sys.stdin)[\\\"live\\\"]; print(a); sys.exit(0 if (a[\\\"state\\\"], a[\\\"calls_answered\\\"]) == (\\\"Waiting\\\", 1) else 1)'\""
api POST /v1/agents/1000/logout >/dev/null

# --- 2. round-robin over three agents, one never answers -------------------
api POST /v1/queues '{"name":"sales","strategy":"round-robin","agent_ring_timeout":3,"moh":"silence"}' >/dev/null
for a in 1001 1002 1003; do
  api POST /v1/agents "{\"name\":\"$a\",\"contact\":\"$a\",\"wrap_up_time\":0,\"max_no_answer\":1,\"no_answer_delay_time\":0}" >/dev/null
  api POST /v1/tiers "{\"queue\":\"sales\",\"agent\":\"$a\",\"position\":$((a - 1000))}" >/dev/null
done
api POST /v1/gateways '{"name":"carrier","proxy":"127.0.0.2:5060","inbound":["127.0.0.2/32"]}' >/dev/null
api POST /v1/routes '{"name":"sales-did","destination_prefix":"4930777","source":"gateway","action":{"queue":"sales"}}' >/dev/null
start_baresip q_a1001 1001 "$P1001" udp auto
start_baresip q_a1002 1002 "$P1002" udp auto
start_baresip q_a1003 1003 "$P1003" udp manual
check "three agents registered" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1001 && wait_for 10 registered 1002 && wait_for 10 registered 1003"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "agent=1003" collect "$OUT/q_1003.jsonl" 120 none & WS1003=$!
wait_for 5 test -e "$OUT/q_1003.jsonl.ready"
for a in 1001 1002 1003; do api POST "/v1/agents/$a/login" >/dev/null; done
echo "SEQUENTIAL" >"$OUT/q_carrier.csv"; echo "4930111222;carrier.test" >>"$OUT/q_carrier.csv"
carrier_call() { # one call into the sales queue, hung up by the carrier 5 s after the (switch's) answer
  sipp -sf "$SCEN/carrier_hold.xml" -d 5000 "127.0.0.1:$SIP_PORT" -i 127.0.0.2 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s 49307770001 -inf "$OUT/q_carrier.csv" \
       -m 1 -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/q_carrier.err" >"$OUT/q_carrier.log" 2>&1
}
agents_of_calls() { # the agents of the sales queue's CDRs, oldest first
  api GET "/v1/cdrs?queue=sales&limit=20" | python3 -c 'import json,sys; print(" ".join(str(c["agent"]) for c in reversed(json.load(sys.stdin)["items"])))'
}
cdrs_are() { [ "$(agents_of_calls)" = "$1" ]; }
check "call 1 answered"                 carrier_call
check "... by 1001 (first in tier order)" wait_for 5 cdrs_are "1001"
check "call 2 answered"                 carrier_call
check "... by 1002 (next in turn)"      wait_for 5 cdrs_are "1001 1002"
check "call 3 answered after 1003 rang out" carrier_call
check "... by 1001: 1003 skipped"       wait_for 5 cdrs_are "1001 1002 1001"
status_is() { api GET "/v1/agents/$1" | python3 -c 'import json,sys; a=json.load(sys.stdin)["live"]; print(a); sys.exit(0 if a["status"] == sys.argv[1] and a["no_answer_count"] >= int(sys.argv[2]) else 1)' "$2" "${3:-0}"; }
check "1003 went On Break after max_no_answer (1)" status_is 1003 "On Break" 1
kill "$WS1003" 2>/dev/null
check "1003's own event stream: its login, the offer (screen pop), On Break" bash -c "python3 - '$OUT/q_1003.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print([(e['type'], e.get('status') or e.get('state') or e.get('queue')) for e in evs])
assert all(e.get('agent') == '1003' for e in evs), evs
st = [e['status'] for e in evs if e['type'] == 'agent_status']
assert st[0] == 'Available' and st[-1] == 'On Break', st
offers = [e for e in evs if e['type'] == 'agent_offering']
assert len(offers) == 1 and offers[0]['queue'] == 'sales' and offers[0]['caller_number'] == '4930111222', offers
PY"
check "call 4 answered"                 carrier_call
check "... by 1002: On Break agents are not offered" wait_for 5 cdrs_are "1001 1002 1001 1002"
check "queue stats: 4 answered, none waiting" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/queues/sales/stats | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s); sys.exit(0 if (s[\"answered\"], s[\"waiting\"], s[\"agents_on_break\"], s[\"agents_available\"]) == (4, 0, 1, 2) else 1)'"
check "metrics: agents by status and queue counters" bash -c "curl -sf -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/metrics | grep -q 'ferroswitch_agents{status=\"On Break\"} 1' && curl -sf -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:$HTTP_PORT/metrics | grep -q 'ferroswitch_queue_answered_total{queue=\"sales\"} 4'"
restart_switch KILL
check "after kill -9: 1003 still On Break, counters kept" wait_for 5 status_is 1003 "On Break" 1
check "after kill -9: 1001's answered calls kept" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET /v1/agents/1001 | python3 -c 'import json,sys; a=json.load(sys.stdin)[\"live\"]; print(a); sys.exit(0 if (a[\"status\"], a[\"calls_answered\"]) == (\"Available\", 2) else 1)'"
check "ctl show agents: 1003 On Break"        bash -c "$(declare -f ctl); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA; ctl show agents | grep -E '^1003 +1003 +On Break'"
check "ctl show queues: sales, round-robin, nobody waiting" bash -c "$(declare -f ctl); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA; ctl show queues | grep -E '^sales +round-robin +0 '"
check "ctl agent 1003 ready: back to Available" bash -c "$(declare -f ctl); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA; ctl agent 1003 ready | grep -q 'agent 1003: Available / Waiting'"

# --- 3. nobody to answer: max_wait_time -------------------------------------
api POST /v1/queues '{"name":"night","max_wait_time":2,"moh":"silence"}' >/dev/null
api POST /v1/routes '{"name":"night-did","destination_prefix":"4930888","source":"gateway","action":{"queue":"night"}}' >/dev/null
timeout_call() {
  sipp -sf "$SCEN/carrier_wait_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.2 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s 49308880001 -inf "$OUT/q_carrier.csv" \
       -m 1 -timeout 15 -timeout_error -nostdin -trace_err -error_file "$OUT/q_night.err" >"$OUT/q_night.log" 2>&1
}
check "ctl trace on --extension (the carrier's caller)" bash -c "$(declare -f ctl); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA; ctl trace on --extension 4930111222"
check "the switch hangs up a caller nobody answers at max_wait_time" timeout_call
check "SIP trace: the carrier's INVITE and our BYE are in the log" bash -c "grep -q 'INVITE sip:49308880001@' '$SWITCH_LOG' && grep -A1 'sip_trace' '$SWITCH_LOG' | grep -q '^BYE sip:4930111222@'"
check "ctl trace off" bash -c "$(declare -f ctl); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA; ctl trace off"
TRACED=$(grep -c sip_trace "$SWITCH_LOG")
check "CDR: queue night, result timeout, waited about 2 s" wait_for 5 cdr_q night queue=night queue_result=timeout agent=None queue_wait_ms=">=1900" hangup_side=system

# --- 3b. periodic announcements with the caller's position -------------------
mkdir -p "$DATA/prompts/digits"
python3 "$ROOT/testbeds/tones.py" make "$DATA/prompts/ann.wav" 300 0.8
python3 "$ROOT/testbeds/tones.py" make "$DATA/prompts/digits/1.wav" 900 0.4
api POST /v1/queues '{"name":"hotline","max_wait_time":8,"moh":"silence","announce":"ann.wav","announce_frequency":3}' >/dev/null
api POST /v1/routes '{"name":"hotline-line","destination_prefix":"7200","source":"any","action":{"queue":"hotline"}}' >/dev/null
rm -f "$OUT/q_ann.jsonl.ready"; rm -rf "$OUT/q_caller.baresip/snd/"*
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "queue=hotline" collect "$OUT/q_ann.jsonl" 30 member_left & WSANN=$!
wait_for 5 test -e "$OUT/q_ann.jsonl.ready"
check "caller registered" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1009"
baresip_cmd "$CALLER_CTRL" dial "sip:7200@$DOMAIN" >/dev/null
check "events: announced twice at position 1, then timed out" bash -c "$(declare -f wait_for gone); wait_for 30 gone $WSANN; python3 - '$OUT/q_ann.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(evs)
ann = [e for e in evs if e['type'] == 'member_announced']
assert len(ann) >= 2 and all(e['position'] == 1 for e in ann), ann
assert evs[-1]['type'] == 'member_left' and evs[-1]['cause'] == 'timeout', evs[-1]
PY"
check "CDR: hotline, timeout" wait_for 10 cdr_q hotline queue=hotline queue_result=timeout
heard_announcements() { python3 "$ROOT/testbeds/tones.py" sequence "$(ls "$OUT"/q_caller.baresip/snd/*dec*.wav | head -1)" 300 900 300 900; }
check "the caller heard the announcement and its position, twice" wait_for 10 heard_announcements
check "no SIP trace once it is off" test "$(grep -c sip_trace "$SWITCH_LOG")" = "$TRACED"

# --- 4. IVR menu: a digit lands the caller in the right queue -----------------
# The prompt is a 16 kHz WAV (decoded and resampled once at load); choice 1
# is the support queue, where agent 1000 is logged in again.
mkdir -p "$DATA/prompts"
python3 - "$DATA/prompts/welcome.wav" <<'PY'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 500 * i / 16000))) for i in range(int(1.5 * 16000))))
PY
api POST /v1/ivrs '{"name":"main","prompt":"welcome.wav","timeout":10,"choices":{"1":{"queue":"support"},"2":{"extension":"1001"}}}' >/dev/null
api POST /v1/routes '{"name":"menu-line","destination_prefix":"7100","source":"any","action":{"ivr":"main"}}' >/dev/null
api POST /v1/agents/1000/login >/dev/null
api PATCH /v1/queues/support '{"record_template":"{queue}-{date}-{agent}-{caller}-{call_id}.wav"}' >/dev/null
check "caller and agent registered again" bash -c "$(declare -f api wait_for registered); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; wait_for 10 registered 1000 && wait_for 10 registered 1009"
rm -f "$OUT/q_ivr.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "type=ivr_entered,dtmf,ivr_choice,member_joined" collect "$OUT/q_ivr.jsonl" 40 member_joined & WSIVR=$!
wait_for 5 test -e "$OUT/q_ivr.jsonl.ready"
rm -rf "$OUT/q_caller.baresip/snd/"*
baresip_cmd "$CALLER_CTRL" dial "sip:7100@$DOMAIN" >/dev/null
in_menu_for() { # in_menu_for MS: the caller's call was answered at least MS ago
  api GET /v1/calls | python3 -c 'import json,sys,time; c=[c for c in json.load(sys.stdin)["items"] if c["callee"] == "main" and c.get("answer_ms")]; print(c); sys.exit(0 if c and time.time()*1000 - c[0]["answer_ms"] >= int(sys.argv[1]) else 1)' "$1"
}
check "the IVR answers the caller" wait_for 10 in_menu_for 1700
baresip_cmd "$CALLER_CTRL" sndcode 1 >/dev/null
check "events: menu entered, digit 1, choice queue support, joined" bash -c "$(declare -f wait_for gone); wait_for 20 gone $WSIVR; python3 - '$OUT/q_ivr.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(evs)
t = [e['type'] for e in evs]
assert t[0] == 'ivr_entered' and evs[0]['menu'] == 'main', t
assert [e['digit'] for e in evs if e['type'] == 'dtmf'] == ['1'], evs
ch = [e for e in evs if e['type'] == 'ivr_choice'][0]
assert ch['target'] == {'queue': 'support'}, ch
assert t[-1] == 'member_joined' and evs[-1]['queue'] == 'support', t
PY"
bridged_now() { api GET /v1/queues/support/stats | python3 -c 'import json,sys; s=json.load(sys.stdin); sys.exit(0 if s["agents_in_call"] == 1 else 1)'; }
check "the caller is bridged to agent 1000" wait_for 10 bridged_now
check "reload mid-call (ctl reload, and a route changed over the API)" bash -c "$(declare -f ctl api); BIN=$BIN HTTP_PORT=$HTTP_PORT DATA=$DATA TOKEN=$TOKEN; ctl reload && api PATCH /v1/routes/hotline-line '{\"destination_prefix\":\"7300\"}' | grep -q 7300"
check "CDR: through the menu into support, answered by 1000, not cut by the reload" wait_for 20 cdr_q support queue=support agent=1000 queue_result=answered caller=1009 callee=main hangup_side=caller talk_ms=">=3000"
CREC=$(rec q_caller dec)
check "the caller heard the menu prompt (500 Hz, resampled from 16 kHz)" env TONES_FROM=0.2 TONES_TO=1.4 python3 "$ROOT/testbeds/tones.py" detect "$CREC" 500 440
CSECS=$(python3 "$ROOT/testbeds/tones.py" info "$CREC" 2>/dev/null | sed 's/.*seconds=//')
check "... then the agent (440 Hz)" env TONES_FROM="$(python3 -c "print(max(0, ${CSECS:-0} - 2))")" python3 "$ROOT/testbeds/tones.py" detect "$CREC" 440 500
QREC=$(api GET "/v1/cdrs?queue=support&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["recording"] or "")')
check "the queue records: the CDR names the recording"   test -n "$QREC"
check "... by the queue's record_template"               bash -c "echo '$QREC' | grep -Eq '^support-20[0-9]{2}-[0-9]{2}-[0-9]{2}-1000-1009-[0-9a-f-]{36}\.wav\$'"
check "... served by the API, stereo 8 kHz"              bash -c "curl -sSf -H 'Authorization: Bearer $TOKEN' -o '$OUT/q_rec.wav' 'http://127.0.0.1:$HTTP_PORT/v1/recordings/$QREC' && python3 '$ROOT/testbeds/tones.py' info '$OUT/q_rec.wav' | grep -q 'channels=2 rate=8000'"
check "... caller (1000 Hz) left, agent (440 Hz) right"  bash -c "python3 '$ROOT/testbeds/tones.py' detectch '$OUT/q_rec.wav' 0 1000 440 && python3 '$ROOT/testbeds/tones.py' detectch '$OUT/q_rec.wav' 1 440 1000"
# --- 5. dissuading with a message ---------------------------------------------
# Queue "presales" takes one waiting caller at most. A second caller is
# answered, hears the queue's dissuade message (800 Hz, busy.wav), then
# goes to the fallback extension 1000 (its phone answers with 440 Hz).
python3 "$ROOT/testbeds/tones.py" make "$DATA/prompts/busy.wav" 800 1.2
api POST /v1/queues '{"name":"presales","dissuade_max_waiting":1,"dissuade_prompt":"busy.wav","fallback":"1000","max_wait_time":60,"moh":"tone:600@1000/0"}' >/dev/null
api POST /v1/routes '{"name":"presales-line","destination_prefix":"7400","source":"any","action":{"queue":"presales"}}' >/dev/null
check "the dissuade message is loaded" wait_for 10 grep -q 'prompt loaded.*busy.wav\|prompt=busy.wav.*prompt loaded' "$SWITCH_LOG"
echo "SEQUENTIAL" >"$OUT/q_sales.csv"; echo "1002;$DOMAIN" >>"$OUT/q_sales.csv"
sipp -sf "$SCEN/uac_callee_bye.xml" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s 7400 -inf "$OUT/q_sales.csv" \
     -au 1002 -ap "$P1002" -m 1 -timeout 40 -timeout_error -nostdin -trace_err -error_file "$OUT/q_sales_first.err" >"$OUT/q_sales_first.log" 2>&1 &
SALES_FIRST=$!
PIDS+=("$SALES_FIRST")
check "a first caller waits in presales" wait_for 10 waiting presales 1
rm -f "$OUT/q_dis.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "type=queue_dissuaded" collect "$OUT/q_dis.jsonl" 30 queue_dissuaded & WSDIS=$!
wait_for 5 test -e "$OUT/q_dis.jsonl.ready"
rm -rf "$OUT/q_caller.baresip/snd/"*
PUT0=$(grep -c "parked call put through" "$SWITCH_LOG")
baresip_cmd "$CALLER_CTRL" dial "sip:7400@$DOMAIN" >/dev/null
check "the second caller is dissuaded, with the message" bash -c "$(declare -f wait_for gone); wait_for 20 gone $WSDIS; cat '$OUT/q_dis.jsonl'; grep -q '\"caller\":\"1009\".*\"fallback\":\"1000\".*\"message\":true' '$OUT/q_dis.jsonl'"
check "after the message it is put through to the fallback 1000" wait_for 20 bash -c "[ \$(grep -c 'parked call put through' '$SWITCH_LOG') -gt $PUT0 ]"
heard_fallback() { python3 "$ROOT/testbeds/tones.py" sequence "$(rec q_caller dec)" 800 440; }
check "the caller heard the message (800 Hz), then extension 1000 (440 Hz)" wait_for 10 heard_fallback
baresip_cmd "$CALLER_CTRL" hangup >/dev/null
FIRST=$(api GET /v1/calls | python3 -c 'import json,sys; print(next(c["id"] for c in json.load(sys.stdin)["items"] if c["caller"] == "1002"))')
check "the first caller is still waiting in presales" test -n "$FIRST"
api DELETE "/v1/calls/$FIRST" >/dev/null
check "... hung up over the API, its sipp got the BYE" wait "$SALES_FIRST"
check "CDR of the dissuaded call: answered, to 1000" wait_for 10 bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api GET '/v1/cdrs?extension=1009&limit=1' | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"items\"][0]; print(c); sys.exit(0 if c[\"disposition\"]==\"answered\" and c[\"callee\"]==\"presales\" else 1)'"
# --- 6. the estimated wait, spoken ---------------------------------------------
# Support has answered calls now (talk time known). With its only agent on
# break, a caller waits and is told: the announcement (300 Hz), position 1
# (digits/1.wav, 900 Hz), "estimated wait" (1200 Hz), 1 (900 Hz; one
# minute, the wait rounded up), "minutes" (1500 Hz).
python3 "$ROOT/testbeds/tones.py" make "$DATA/prompts/estimated_wait.wav" 1200 0.5
python3 "$ROOT/testbeds/tones.py" make "$DATA/prompts/minutes.wav" 1500 0.5
api POST /v1/agents/1000/break >/dev/null
api PATCH /v1/queues/support '{"announce":"ann.wav","announce_frequency":4,"max_wait_time":7,"moh":"silence"}' >/dev/null
check "the wait prompts are loaded" wait_for 10 grep -q 'prompt loaded.*minutes.wav\|prompt=minutes.wav.*prompt loaded' "$SWITCH_LOG"
rm -f "$OUT/q_wait.jsonl.ready"; rm -rf "$OUT/q_caller.baresip/snd/"*
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "type=member_announced,member_left" collect "$OUT/q_wait.jsonl" 30 member_left & WSWAIT=$!
wait_for 5 test -e "$OUT/q_wait.jsonl.ready"
baresip_cmd "$CALLER_CTRL" dial "sip:7000@$DOMAIN" >/dev/null
check "events: announced with an estimated wait under a minute" bash -c "$(declare -f wait_for gone); wait_for 30 gone $WSWAIT; python3 - '$OUT/q_wait.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(evs)
ann = [e for e in evs if e['type'] == 'member_announced']
assert ann and all(e['position'] == 1 and 0 < e['estimated_wait'] <= 60 for e in ann), ann
PY"
heard_wait() { python3 "$ROOT/testbeds/tones.py" sequence "$(rec q_caller dec)" 300 900 1200 900 1500; }
check "the caller heard: announcement, position 1, estimated wait, 1, minutes" wait_for 10 heard_wait
# --- 7. skills, busy agents, ring-all, ring-progressively ---------------------
# Agents 1001 and 1002 auto-answer, 1003 never does (all Available again).
carrier_to() { # carrier_to NUMBER [HOLD_MS]: one carrier call, hung up HOLD_MS after the switch answers
  sipp -sf "$SCEN/carrier_hold.xml" -d "${2:-4000}" "127.0.0.1:$SIP_PORT" -i 127.0.0.2 -p "$(free_port)" -mp "$(free_media_port)" -t u1 -s "$1" -inf "$OUT/q_carrier.csv" \
       -m 1 -timeout 25 -timeout_error -nostdin -trace_err -error_file "$OUT/q_carrier_$1.err" >"$OUT/q_carrier_$1.log" 2>&1
}
agent_of_last() { [ "$(api GET "/v1/cdrs?queue=$1&limit=1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print(i[0]["agent"] if i else "")')" = "$2" ]; }
agent_live() { # agent_live NAME STATUS STATE NO_ANSWER_COUNT
  api GET "/v1/agents/$1" | python3 -c 'import json,sys; a=json.load(sys.stdin)["live"]; print(a); sys.exit(0 if (a["status"], a["state"], a["no_answer_count"]) == (sys.argv[1], sys.argv[2], int(sys.argv[3])) else 1)' "$2" "$3" "$4"
}
NA1003=$(api GET /v1/agents/1003 | python3 -c 'import json,sys; print(json.load(sys.stdin)["live"]["no_answer_count"])')
for q in french:top-down:4930551 topdown:top-down:4930552 everyone:ring-all:4930553 progressive:ring-progressively:4930554; do
  IFS=: read -r name strategy did <<<"$q"
  extra=""; [ "$name" = french ] && extra=',"skills":["fr"]'
  api POST /v1/queues "{\"name\":\"$name\",\"strategy\":\"$strategy\",\"agent_ring_timeout\":20,\"ring_progressively_delay\":2,\"moh\":\"silence\"$extra}" >/dev/null
  api POST /v1/routes "{\"name\":\"$name-did\",\"destination_prefix\":\"$did\",\"source\":\"gateway\",\"action\":{\"queue\":\"$name\"}}" >/dev/null
done
# Tier order: 1001 first in french and topdown; 1003 first in everyone and progressive.
for t in french:1001:1 french:1002:2 topdown:1001:1 topdown:1002:2 everyone:1003:1 everyone:1002:2 progressive:1003:1 progressive:1002:2; do
  IFS=: read -r q a pos <<<"$t"
  api POST /v1/tiers "{\"queue\":\"$q\",\"agent\":\"$a\",\"position\":$pos}" >/dev/null
done
check "agent 1002 gets the skill fr" bash -c "$(declare -f api); HTTP_PORT=$HTTP_PORT TOKEN=$TOKEN; api PATCH /v1/agents/1002 '{\"skills\":[\"fr\"]}' | grep -q '\"fr\"'"
check "skills: a call into french (needs fr) answered" carrier_to 49305510001
check "... by 1002, who has fr (1001 comes first but has not)" wait_for 5 agent_of_last french 1002
# 1001 on a call of its own (the caller phone dials it; it auto-answers).
baresip_cmd "$CALLER_CTRL" dial "sip:1001@$DOMAIN" >/dev/null
on_call() { api GET /v1/calls | python3 -c 'import json,sys; sys.exit(0 if any(c["callee"] == sys.argv[1] and c.get("answer_ms") for c in json.load(sys.stdin)["items"]) else 1)' "$1"; }
check "1001 is on a direct call" wait_for 10 on_call 1001
check "busy: a call into topdown answered" carrier_to 49305520001
check "... by 1002: 1001, first in order, is on another call" wait_for 5 agent_of_last topdown 1002
baresip_cmd "$CALLER_CTRL" hangup >/dev/null
not_on_call() { ! on_call "$1"; }
check "1001's call is over" wait_for 10 not_on_call 1001
check "... and the next topdown call goes to 1001 again" carrier_to 49305520002
check "... answered by 1001" wait_for 5 agent_of_last topdown 1001
rm -f "$OUT/q_all.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "queue=everyone" collect "$OUT/q_all.jsonl" 30 agent_bridge_ended & WSALL=$!
wait_for 5 test -e "$OUT/q_all.jsonl.ready"
check "ring-all: a call into everyone answered" carrier_to 49305530001
check "... by 1002" wait_for 5 agent_of_last everyone 1002
check "events: both agents were offered the call at once" bash -c "$(declare -f wait_for gone); wait_for 20 gone $WSALL; python3 - '$OUT/q_all.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
offers = {e['agent']: e['ts_ms'] for e in evs if e['type'] == 'agent_offering'}
bridged = [e['ts_ms'] for e in evs if e['type'] == 'agent_bridged' and e['agent'] == '1002']
print(offers, bridged)
assert set(offers) == {'1002', '1003'}, offers
assert abs(offers['1002'] - offers['1003']) < 500 and bridged and bridged[0] >= max(offers.values()), (offers, bridged)
PY"
check "... 1003, who rang and lost, is Waiting, not penalised" wait_for 5 agent_live 1003 Available Waiting "$NA1003"
rm -f "$OUT/q_prog.jsonl.ready"
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "queue=progressive" collect "$OUT/q_prog.jsonl" 30 agent_bridge_ended & WSPROG=$!
wait_for 5 test -e "$OUT/q_prog.jsonl.ready"
check "ring-progressively: a call into progressive answered" carrier_to 49305540001 5000
check "... by 1002, after the 2 s delay (1003 rang first)" wait_for 5 cdr_q progressive queue=progressive agent=1002 queue_result=answered queue_wait_ms=">=1900"
check "events: 1003 offered, 1002 added 2 s later while 1003 still rang" bash -c "$(declare -f wait_for gone); wait_for 20 gone $WSPROG; python3 - '$OUT/q_prog.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
offers = [(e['agent'], e['ts_ms']) for e in evs if e['type'] == 'agent_offering']
print(offers)
assert [a for a, _ in offers] == ['1003', '1002'], offers
assert 1900 <= offers[1][1] - offers[0][1] <= 3000, offers
PY"
check "... 1003 Waiting again, not penalised" wait_for 5 agent_live 1003 Available Waiting "$NA1003"

# --- 8. a uuid-standby agent ---------------------------------------------------
python3 "$ROOT/testbeds/tones.py" make "$OUT/q_standby.wav" 1300 120
api POST /v1/queues '{"name":"standby","moh":"silence","agent_ring_timeout":10}' >/dev/null
api POST /v1/agents '{"name":"1004","type":"uuid-standby","contact":"1004","wrap_up_time":1}' >/dev/null
api POST /v1/tiers '{"queue":"standby","agent":"1004"}' >/dev/null
api POST /v1/routes '{"name":"standby-line","destination_prefix":"7500","source":"any","action":{"queue":"standby"}}' >/dev/null
start_baresip q_s1004 1004 "$P1004" udp auto "$OUT/q_standby.wav"; SB_CTRL=$BARESIP_CTRL
check "standby agent 1004 registered" wait_for 10 registered 1004
standby_line() { # standby_line STATUS [CALL]: the agent's status, and its standing call (any when CALL is "up", none when "none")
  api GET /v1/agents/1004 | python3 -c '
import json, sys
a = json.load(sys.stdin)["live"]; print(a)
line = a.get("standby_call")
ok = a["status"] == sys.argv[1] and {"up": line is not None, "none": line is None}.get(sys.argv[2], line == sys.argv[2])
sys.exit(0 if ok else 1)' "$1" "$2"
}
login_1004() { api POST /v1/agents/1004/login | grep -q '"type":"uuid-standby"'; }
check "login of a uuid-standby agent calls its phone" login_1004
check "... it answers: Available on its standing call" wait_for 10 standby_line Available up
LINE=$(api GET /v1/agents/1004 | python3 -c 'import json,sys; print(json.load(sys.stdin)["live"]["standby_call"])')
calls_of_1004() { api GET /v1/calls | python3 -c 'import json,sys; print(sorted(c["id"] for c in json.load(sys.stdin)["items"] if "1004" in (c["caller"], c["callee"])))'; }
rm -f "$OUT/q_sb.jsonl.ready"; rm -rf "$OUT/q_caller.baresip/snd/"*
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_PORT" "$TOKEN" "queue=standby" collect "$OUT/q_sb.jsonl" 30 agent_bridge_ended & WSSB=$!
wait_for 5 test -e "$OUT/q_sb.jsonl.ready"
baresip_cmd "$CALLER_CTRL" dial "sip:7500@$DOMAIN" >/dev/null
bridged_to() { [ "$(api GET /v1/agents/1004 | python3 -c 'import json,sys; a=json.load(sys.stdin)["live"]; print(a["state"], a.get("call_id"))')" = "In a queue call $1" ]; }
member_of() { api GET /v1/calls | python3 -c 'import json,sys; print(next((c["id"] for c in json.load(sys.stdin)["items"] if c["caller"] == "1009"), ""))'; }
put_through() { local m; m=$(member_of); [ -n "$m" ] && bridged_to "$m"; }
check "a caller is put through to the standing call" wait_for 10 put_through
only_line() { [ "$(calls_of_1004)" = "['$LINE']" ]; }
check "... without a new call to the agent's phone" only_line
sleep 3 # the call's length: both phones talk, for the recordings checked below
baresip_cmd "$CALLER_CTRL" hangup >/dev/null
check "offered and bridged in the same moment (no ringing)" bash -c "$(declare -f wait_for gone); wait_for 20 gone $WSSB; python3 - '$OUT/q_sb.jsonl' <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = {e['type']: e['ts_ms'] for e in evs if e.get('agent') == '1004'}
print(t)
assert t['agent_bridged'] - t['agent_offering'] < 300, t
PY"
check "CDR: queue standby, agent 1004, answered" wait_for 10 cdr_q standby queue=standby agent=1004 queue_result=answered disposition=answered talk_ms=">=2000"
CREC=$(rec q_caller dec)
CSECS=$(python3 "$ROOT/testbeds/tones.py" info "$CREC" 2>/dev/null | sed 's/.*seconds=//')
check "the caller heard the standby agent (1300 Hz)" env TONES_FROM="$(python3 -c "print(max(0, ${CSECS:-0} - 2))")" python3 "$ROOT/testbeds/tones.py" detect "$CREC" 1300 600
line_waiting() { standby_line Available "$LINE" && api GET /v1/agents/1004 | grep -q '"state":"Waiting"'; }
check "the standing call outlives the caller, agent Waiting again" wait_for 10 line_waiting
rm -rf "$OUT/q_caller.baresip/snd/"*
baresip_cmd "$CALLER_CTRL" dial "sip:7500@$DOMAIN" >/dev/null
check "a second caller is put through to the same line" wait_for 10 put_through
sleep 3 # the call's length
baresip_cmd "$SB_CTRL" hangup >/dev/null
check "the agent hanging up its line ends the caller's call" wait_for 10 cdr_q standby queue=standby agent=1004 hangup_cause=agent_hangup
check "... who heard the agent (1300 Hz)" python3 "$ROOT/testbeds/tones.py" detect "$(rec q_caller dec)" 1300 600
check "... and logs the agent out" wait_for 10 standby_line "Logged Out" none
check "the agent heard the callers (1000 Hz) on its line" python3 "$ROOT/testbeds/tones.py" detect "$(rec q_s1004 dec)" 1000 600
api POST /v1/agents/1004/login >/dev/null
new_line() { standby_line Available up && ! standby_line Available "$LINE"; }
check "login again: a new standing call" wait_for 10 new_line
api POST /v1/agents/1004/logout >/dev/null
line_gone() { standby_line "Logged Out" none && [ "$(calls_of_1004)" = "[]" ]; }
check "logout hangs the standing call up" wait_for 10 line_gone
check "the switch is still up" alive
summary queues
