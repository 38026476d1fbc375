#!/usr/bin/env bash
# Issue 7, several nodes (docs/multi-node.md): two switches on one
# PostgreSQL store (a throwaway cluster on 127.0.0.1, started here).
#  1. node a claims the queue; node b, started after, does not (and
#     /metrics says so);
#  2. the agent's baresip registers on b and logs in through b's API:
#     a's engine sees it Available;
#  3. a caller on a dials the queue: a dispatches, the agent's phone on b
#     rings through b, audio both ways, a's CDR names queue and agent; the
#     agent's WebSocket client on b gets a's screen pop;
#  3b. the agent goes on break through b; a caller on a waits; b's API
#     shows the queue as a sees it; the agent is ready again through b and
#     the caller reaches it;
#  4. a caller on b dials the queue: b sends it to a (the owner), which
#     puts it through to the agent on b again; audio both ways;
#  4b. a caller in an IVR menu on b presses 1 (the queue): sent to a too;
#  4c. a uuid-standby agent logs in through b (its line stands on b); a
#     caller on a dials a's standby queue and is put through to the line
#     on b; the line outlives the caller; logout through a ends it on b;
#  4d. click-to-call asked of a between two phones registered on b;
#  5. node-to-node INVITEs: a good signature is accepted once (and finds
#     no phone: 480); replayed, stale, forged or missing, it is an
#     ordinary call and gets 407;
#  5b. a phone registered with a registers with b: a forgets its copy;
#  6. a caller on b waits in a's queue (agent on break); kill -9 a: b
#     holds the caller with music, claims the queue within the lease, the
#     caller rejoins it there and reaches the agent when it is ready; a new
#     caller on b reaches the agent through b alone;
#  7. a comes back with agent 1003's phone; b's caller is bridged to 1003
#     through a; kill -9 a and start it again at once (another address,
#     within the lease): b sees the old process's calls lost, the caller
#     goes back into b's queue and is put through to 1003 again, reached
#     through the restarted a (which restored its registration);
#  8. b stops (SIGTERM) with a caller waiting in its queue: b releases the
#     queue, a takes it, and the caller waits on there.
source "$(dirname "$0")/lib.sh"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$PGBIN/initdb" ]; then
  echo "  FAIL PostgreSQL is not installed (make test installs it)"; FAILED=1; summary cluster; exit 1
fi
PGDIR=$(mktemp -d /tmp/ferroswitch-cluster-pg.XXXXXX)
PGPORT=$(free_port)
stop_pg() { bash "$ROOT/crates/store/scripts/pg-test-cluster.sh" stop "$PGDIR" >/dev/null 2>&1; rm -rf "$PGDIR"; }
trap 'cleanup; stop_pg' EXIT
PG_URL=$(bash "$ROOT/crates/store/scripts/pg-test-cluster.sh" start "$PGDIR" "$PGPORT") || { cat "$PGDIR/log" "$PGDIR/initdb.log" 2>/dev/null; echo "  FAIL PostgreSQL did not start"; FAILED=1; summary cluster; exit 1; }
SECRET=cluster-test-secret-0123456789

# start_node NAME: a switch of the cluster; saves its ports and token.
start_node() {
  start_switch "cluster_$1" --set directory.first_run_extensions= --set storage.url="$PG_URL" \
      --set cluster.node_id="$1" --set cluster.secret="$SECRET" --set cluster.lease=3
  eval "SIP_$1=$SIP_PORT HTTP_$1=$HTTP_PORT TOKEN_$1=$TOKEN PID_$1=$SWITCH_PID LOG_$1=$SWITCH_LOG DATA_$1=$DATA"
}
# node NAME: later helpers (api, start_baresip) talk to this node.
node() { eval "SIP_PORT=\$SIP_$1 HTTP_PORT=\$HTTP_$1 TOKEN=\$TOKEN_$1 SWITCH_PID=\$PID_$1 SWITCH_LOG=\$LOG_$1 DATA=\$DATA_$1"; }
owns() { grep -q "this node now dispatches the queue.*queue=$2\|queue=$2.*this node now dispatches the queue" "$(eval echo \$LOG_$1)"; }
owner_is() { # owner_is NODE QUEUE: the store's queue_owners row
  local got; got=$("$PGBIN/psql" "$PG_URL" -Atc "SELECT node_id FROM queue_owners WHERE queue = '$2'"); echo "owner: $got"; [ "$got" = "$1" ]; }

start_node a
node a
for e in 1000 1001 1002 1003 1007 1008 1009; do eval "P$e=\$(new_extension $e)"; done
api POST /v1/queues '{"name":"support","strategy":"longest-idle-agent","moh":"tone:600@1000/0","agent_ring_timeout":15}' >/dev/null
api POST /v1/agents '{"name":"1000","contact":"1000","wrap_up_time":0}' >/dev/null
api POST /v1/tiers '{"queue":"support","agent":"1000"}' >/dev/null
api POST /v1/agents '{"name":"1003","contact":"1003","wrap_up_time":0}' >/dev/null
api POST /v1/tiers '{"queue":"support","agent":"1003"}' >/dev/null
api POST /v1/routes '{"name":"support-line","destination_prefix":"7000","source":"any","action":{"queue":"support"}}' >/dev/null
api POST /v1/queues '{"name":"standby","moh":"silence","agent_ring_timeout":10}' >/dev/null
api POST /v1/agents '{"name":"s1","type":"uuid-standby","contact":"1002","wrap_up_time":0}' >/dev/null
api POST /v1/tiers '{"queue":"standby","agent":"s1"}' >/dev/null
api POST /v1/routes '{"name":"standby-line","destination_prefix":"7500","source":"any","action":{"queue":"standby"}}' >/dev/null
check "node a claims the queue" wait_for 10 owns a support
check "... and the standby queue"  wait_for 10 owns a standby
start_node b

python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_caller_a.wav" 1000 8
python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_caller_b.wav" 700 8
python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_agent.wav" 440 60

# --- 2. the agent on b ---------------------------------------------------------
node b
start_baresip cl_agent 1000 "$P1000" udp auto "$OUT/cl_agent.wav"
check "the agent's phone registered on b" wait_for 10 registered 1000
node a
check "... and a knows no binding of it (a restores and lists its own)" not_registered 1000
node b
check "agent login through b's API" bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/login | grep -q '\"status\":\"Available\"'"
agent_status_on() { # agent_status_on NODE STATUS
  node "$1"; api GET /v1/agents/1000 | python3 -c 'import json,sys; a=json.load(sys.stdin)["live"]; print(a); sys.exit(0 if a["status"] == sys.argv[1] else 1)' "$2"
}
check "a's engine sees the agent Available within a few seconds" wait_for 5 agent_status_on a Available
agent_status_on_s1() { node "$1"; api GET /v1/agents/s1 | python3 -c 'import json,sys; a=json.load(sys.stdin)["live"]; print(a); sys.exit(0 if a["status"] == sys.argv[1] else 1)' "$2"; }
cdr_standby() { node a; api GET "/v1/cdrs?queue=standby&limit=5" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"]
print(c[:1])
sys.exit(0 if c and (c[0]["caller"], c[0]["agent"], c[0]["queue_result"], c[0]["disposition"]) == ("1009", "s1", "answered", "answered") else 1)'; }
check "a still owns the queue (b, started later, renews nothing)" owner_is a support
check "b never claimed it"                                        bash -c "! grep -q 'this node now dispatches' '$LOG_b'"
metric_is() { # metric_is NODE LINE: the node's /metrics has this exact line
  node "$1"; curl -sS -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT/metrics" | grep -x "$2"; }
check "a's /metrics: one other live node"                    metric_is a 'ferroswitch_cluster_nodes_live 1'
check "... two queues owned"                                 metric_is a 'ferroswitch_cluster_queues_owned 2'
check "... and extension 1000 reachable only through b"      metric_is a 'ferroswitch_cluster_remote_extensions 1'

# --- 3. a caller on a ----------------------------------------------------------
node a
start_baresip cl_caller_a 1009 "$P1009" udp manual "$OUT/cl_caller_a.wav"; CTRL_A=$BARESIP_CTRL
check "caller registered on a" wait_for 10 registered 1009
# The agent's desktop watches its events on b; the queue's events happen on a.
node b
rm -f "$OUT"/cl_*.jsonl.ready
python3 "$ROOT/testbeds/ws_events.py" "$HTTP_b" "$TOKEN_b" "agent=1000" collect "$OUT/cl_events_b.jsonl" 40 agent_bridge_ended & WS_B=$!
wait_for 5 test -e "$OUT/cl_events_b.jsonl.ready"
node a
baresip_cmd "$CTRL_A" dial "sip:7000@$DOMAIN" >/dev/null
# The nodes share one store: every node's API lists the cluster's CDRs.
cdr_q() { # cdr_q NODE CALLER N KEY=VALUE...: CALLER has N queue CDRs; the newest has these values
  node "$1"; api GET "/v1/cdrs?queue=support&limit=20" | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin)["items"] if c["caller"] == sys.argv[1]]
print(c[:1])
assert len(c) == int(sys.argv[2]), f"{len(c)} CDRs"
for kv in sys.argv[3:]:
    k, v = kv.split("=", 1)
    assert str(c[0][k]) == v, (k, c[0][k])' "${@:2}"
}
check "a's CDR: answered by agent 1000 on b" wait_for 30 cdr_q a 1009 1 agent=1000 queue_result=answered disposition=answered
rec() { ls "$OUT/$1.baresip/snd/"*"$2"*.wav 2>/dev/null | head -1; }
# heard PHONE FREQ OTHER: what PHONE received has FREQ dominant (its
# recording is complete once baresip closed the call).
heard() { python3 "$ROOT/testbeds/tones.py" detect "$(rec "$1" dec)" "$2" "$3"; }
check "the caller on a heard the agent (440 Hz)"   wait_for 5 heard cl_caller_a 440 1000
check "the agent on b heard the caller (1000 Hz)"  wait_for 5 heard cl_agent 1000 700
check "b logged the call from node a"              grep -q "call from another node started.*node=a" "$LOG_b"
gone() { ! kill -0 "$1" 2>/dev/null; }
screen_pop_on_b() {
  wait_for 20 gone "$WS_B"; python3 - "$OUT/cl_events_b.jsonl" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print([(e["type"], e.get("node")) for e in evs])
pop = [e for e in evs if e["type"] == "agent_offering"]
assert pop and (pop[0]["node"], pop[0]["queue"], pop[0]["caller_number"]) == ("a", "support", "1009"), pop
assert any(e["type"] == "agent_bridged" and e["node"] == "a" for e in evs), evs
PY
}
check "the agent's WebSocket on b got a's screen pop and bridge" screen_pop_on_b

# --- 3b. the agent takes a break on b; a caller waits at a; b's API shows it --
node b
check "agent on break through b's API"          bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/break | grep -q '\"status\":\"On Break\"'"
check "... a's engine has it On Break"          wait_for 5 agent_status_on a "On Break"
node a
baresip_cmd "$CTRL_A" dial "sip:7000@$DOMAIN" >/dev/null
stats_on_b() { # the queue's statistics asked of b: one caller waiting, as a saw it
  node b; api GET /v1/queues/support/stats | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s); sys.exit(0 if (s["waiting"], s.get("node")) == (1, "a") else 1)'; }
check "b's /v1/queues/support/stats: the caller waiting at a" wait_for 5 stats_on_b
check "b's members: caller 1009"                bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api GET /v1/queues/support/members | grep -q '\"caller_number\":\"1009\"'"
node b
check "agent ready again through b's API"       bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/ready | grep -q '\"status\":\"Available\"'"
in_call_seen_from_b() { # b shows the agent as a (the queue's owner) sees it: in the queue call
  node b; api GET /v1/agents/1000 | python3 -c 'import json,sys; l=json.load(sys.stdin)["live"]; print(l); sys.exit(0 if (l["state"], l.get("node")) == ("In a queue call", "a") else 1)'; }
check "b's /v1/agents/1000: In a queue call, as a sees it" wait_for 5 in_call_seen_from_b
check "... and the waiting caller reaches it"   wait_for 30 cdr_q a 1009 2 agent=1000 queue_result=answered disposition=answered

# --- 4. a caller on b, sent to the owner a --------------------------------------
waiting_on_a() { node a; api GET /v1/agents/1000 | grep -q '"state":"Waiting"'; }
check "agent back to Waiting on a" wait_for 10 waiting_on_a
node b
rm -rf "$OUT/cl_agent.baresip/snd/"*
start_baresip cl_caller_b 1008 "$P1008" udp manual "$OUT/cl_caller_b.wav"; CTRL_B=$BARESIP_CTRL
check "caller registered on b" wait_for 10 registered 1008
baresip_cmd "$CTRL_B" dial "sip:7000@$DOMAIN" >/dev/null
check "b sent the caller to a, the queue's owner" wait_for 10 grep -q "queue caller sent to the node that owns the queue.*owner=a" "$LOG_b"
check "a's CDR: the caller from b answered by agent 1000" wait_for 30 cdr_q a 1008 1 agent=1000 queue_result=answered disposition=answered
check "the caller on b heard the agent (440 Hz)"  wait_for 5 heard cl_caller_b 440 700
check "the agent heard the caller on b (700 Hz)"  wait_for 5 heard cl_agent 700 1000

# --- 4b. an IVR menu on b puts the caller into the queue a owns ----------------
python3 - "$DATA_b/prompts/welcome.wav" <<'PY'
import math, os, struct, sys, wave
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 500 * i / 8000))) for i in range(8000)))
PY
node b
api POST /v1/ivrs '{"name":"main","prompt":"welcome.wav","timeout":10,"choices":{"1":{"queue":"support"}}}' >/dev/null
api POST /v1/routes '{"name":"menu-line","destination_prefix":"7100","source":"any","action":{"ivr":"main"}}' >/dev/null
check "agent Waiting on a again" wait_for 10 waiting_on_a
node b
rm -rf "$OUT/cl_caller_b.baresip/snd/"*
in_menu_on_b() { # the caller's call was answered by the menu at least 1.2 s ago (the prompt heard)
  node b; api GET /v1/calls | python3 -c 'import json,sys,time; c=[c for c in json.load(sys.stdin)["items"] if c["callee"] == "main" and c.get("answer_ms")]; print(c); sys.exit(0 if c and time.time()*1000 - c[0]["answer_ms"] >= 1200 else 1)'; }
baresip_cmd "$CTRL_B" dial "sip:7100@$DOMAIN" >/dev/null
check "b's IVR answers the caller" wait_for 10 in_menu_on_b
baresip_cmd "$CTRL_B" sndcode 1 >/dev/null
check "digit 1: b sends the caller to a, the queue's owner" wait_for 10 grep -q "IVR caller sent to the node that owns the queue.*queue=support owner=a" "$LOG_b"
check "a's CDR: the caller through b's menu answered by agent 1000" wait_for 30 cdr_q a 1008 2 agent=1000 queue_result=answered disposition=answered
heard_late() { TONES_FROM=6 heard "$@"; }
talk() { python3 -c "import time; time.sleep($1)"; }  # a conversation of that many seconds (not a wait for an event)
# heard_tail PHONE FREQ OTHER: the last two seconds of what PHONE received.
heard_tail() {
  local f secs; f=$(rec "$1" dec); secs=$(python3 "$ROOT/testbeds/tones.py" info "$f" 2>/dev/null | sed 's/.*seconds=//')
  TONES_FROM=$(python3 -c "print(max(0, ${secs:-0} - 2))") python3 "$ROOT/testbeds/tones.py" detect "$f" "$2" "$3"; }
check "the caller heard the agent at the end (440 Hz)" wait_for 5 heard_late cl_caller_b 440 500

# --- 4c. a uuid-standby agent logs in on b; a's queue puts callers through --
python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_standby.wav" 1300 120
node b
start_baresip cl_s1 1002 "$P1002" udp auto "$OUT/cl_standby.wav"
check "standby agent's phone registered on b" wait_for 10 registered 1002
standby_up_on() { # standby_up_on NODE: s1 is Available with a standing call there
  node "$1"; api GET /v1/agents/s1 | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a); l=a["live"]; sys.exit(0 if l["status"] == "Available" and l.get("standby_call") else 1)'; }
check "login of s1 through b calls its phone; its line stands on b" bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/s1/login | grep -q uuid-standby"
check "... Available on its standing call (b)" wait_for 10 standby_up_on b
check "... Available on a too"                 wait_for 5 agent_status_on_s1 a Available
line_on_b_seen_from_a() { node a; api GET /v1/agents/s1 | grep -q '"standby_node":"b"'; }
check "... and a's view names b as the line's node" wait_for 5 line_on_b_seen_from_a
node a
rm -rf "$OUT/cl_s1.baresip/snd/"* "$OUT/cl_caller_a.baresip/snd/"*
baresip_cmd "$CTRL_A" dial "sip:7500@$DOMAIN" >/dev/null
check "a puts the caller through to s1's line on b" wait_for 10 grep -q "another node's caller put through to a uuid-standby agent.*agent=s1" "$LOG_b"
check "a's CDR: queue standby, agent s1"        wait_for 30 cdr_standby
check "the caller heard the standby agent (1300 Hz)" wait_for 5 heard_tail cl_caller_a 1300 1000
check "the line outlives the caller (b)"        wait_for 5 standby_up_on b
node a
check "logout through a ends the line on b"     bash -c "$(declare -f api); HTTP_PORT=$HTTP_a TOKEN=$TOKEN_a; api POST /v1/agents/s1/logout | grep -q 'Logged Out'"
line_gone_on_b() { node b; api GET /v1/agents/s1 | python3 -c 'import json,sys; l=json.load(sys.stdin)["live"]; print(l); sys.exit(0 if l["status"] == "Logged Out" and not l.get("standby_call") else 1)'; }
check "... within a refresh"                    wait_for 5 line_gone_on_b

# --- 4d. click-to-call through a between two phones registered on b ---------
node a
check "agent back to Waiting on a before the click-to-call" wait_for 10 waiting_on_a
rm -rf "$OUT/cl_agent.baresip/snd/"*
node a
C2C=$(api POST /v1/calls '{"caller":"1000","callee":"1002"}' | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("id") or d)')
c2c_cdr() { node a; api GET "/v1/cdrs/$C2C" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c); sys.exit(0 if (c.get("disposition"), c.get("caller"), c.get("callee")) == ("answered", "1000", "1002") else 1)'; }
live_c2c() { node a; api GET /v1/calls | grep -q "$C2C"; }
check "POST /v1/calls on a: the call is up"    wait_for 10 live_c2c
talk 3
node a; api DELETE "/v1/calls/$C2C" >/dev/null
check "... rang both phones through b: answered" wait_for 20 c2c_cdr
check "the first phone heard the second (1300 Hz)"  wait_for 5 heard_tail cl_agent 1300 440

# --- 5. node-to-node INVITEs are signed ----------------------------------------
NI="python3 $ROOT/testbeds/node_invite.py $SIP_b"
code_is() { local got; got=$($NI "$2" "$3" "$SECRET"); echo "$got"; [ "$got" = "$1" ]; }
check "a good signature is accepted (1001 has no phone: 480)" code_is 480 1001 "good:$OUT/cl_header"
check "the same header again (replay): 407"     code_is 407 1001 "replay:$OUT/cl_header"
check "a signature 60 s old: 407"               code_is 407 1001 stale
check "a forged signature: 407"                  code_is 407 1000 forged
check "no header at all: 407"                    code_is 407 1000 none
check "the forged INVITE rang no one on b"       bash -c "! grep -q 'call from another node started.*caller=5555' '$LOG_b'"

# --- 5b. a phone moves its registration from a to b ----------------------------
MOVER=$(free_port)
check "1001 registers with a"                 env BIND_PORT="$MOVER" python3 "$ROOT/testbeds/register_peer.py" "$SIP_a" "$DOMAIN" once 1001 "$P1001"
registered_on() { node "$1"; registered "$2"; }
check "... a lists it"                         registered_on a 1001
check "the same phone registers with b"        env BIND_PORT="$MOVER" CSEQ=10 python3 "$ROOT/testbeds/register_peer.py" "$SIP_b" "$DOMAIN" once 1001 "$P1001"
check "... b lists it"                         registered_on b 1001
not_registered_on() { node "$1"; not_registered "$2"; }
check "a forgets its copy within a refresh"    wait_for 5 not_registered_on a 1001
check "a logged why"                           grep -q "binding moved to another node; forgotten here" "$LOG_a"

# --- 6. a dies with a caller from b waiting in its queue: b takes the queue
# over, the caller waits on at b and reaches the agent -----------------------
python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_caller_c.wav" 800 40
node b
start_baresip cl_caller_c 1007 "$P1007" udp manual "$OUT/cl_caller_c.wav"; CTRL_C=$BARESIP_CTRL
check "caller 1007 registered on b" wait_for 10 registered 1007
check "agent on break again (through b)" bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/break | grep -q 'On Break'"
check "... on a too"                     wait_for 5 agent_status_on a "On Break"
node b
baresip_cmd "$CTRL_C" dial "sip:7000@$DOMAIN" >/dev/null
waiting_at_a() { node a; api GET /v1/queues/support/members | grep -q '"caller_number":"1007"'; }
check "caller 1007 waits in a's queue"   wait_for 10 waiting_at_a
node a
{ kill -9 "$PID_a"; wait "$PID_a"; } 2>/dev/null
check "b holds the caller when a is lost" wait_for 10 grep -q "queue caller held here until the queue has a new owner.*queue=support node=a" "$LOG_b"
check "b claims the queue within the lease (3 s) and a tick" wait_for 10 owns b support
check "... and the store says so"                          owner_is b support
check "b's /metrics: no other live node"                    wait_for 5 metric_is b 'ferroswitch_cluster_nodes_live 0'
check "... two queues owned"                                 metric_is b 'ferroswitch_cluster_queues_owned 2'
check "the held caller rejoins the queue, now b's"           wait_for 5 grep -q "held queue caller rejoins the queue" "$LOG_b"
waiting_at_b() { node b; api GET /v1/queues/support/members | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m); sys.exit(0 if [x["caller_number"] for x in m["items"]] == ["1007"] else 1)'; }
check "... and waits there"                                  waiting_at_b
check "agent ready (through b)"          bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/ready | grep -q Available"
bridged_on_b() { node b; api GET /v1/queues/support/stats | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s); sys.exit(0 if s["agents_in_call"] == 1 else 1)'; }
check "the caller is put through to the agent" wait_for 10 bridged_on_b
talk 3
baresip_cmd "$CTRL_C" hangup >/dev/null
check "b's CDR of the caller: queue support, agent 1000" wait_for 20 cdr_q b 1007 1 agent=1000 queue_result=answered disposition=answered
check "... who heard the agent at the end (440 Hz)" wait_for 5 heard_tail cl_caller_c 440 800
node b
rm -rf "$OUT/cl_agent.baresip/snd/"* "$OUT/cl_caller_b.baresip/snd/"*
baresip_cmd "$CTRL_B" dial "sip:7000@$DOMAIN" >/dev/null
check "b's CDR: the caller answered by the agent, through b alone" wait_for 30 cdr_q b 1008 3 agent=1000 queue_result=answered disposition=answered
check "the caller heard the agent (440 Hz)"    wait_for 5 heard cl_caller_b 440 700

# --- 7. a node comes back; the agent's node dies mid-call: the caller goes
# back into the queue ------------------------------------------------------------
start_node a
node a
python3 "$ROOT/testbeds/tones.py" make "$OUT/cl_agent2.wav" 520 60
start_baresip cl_a1003 1003 "$P1003" udp auto "$OUT/cl_agent2.wav"
check "a, started again, registers agent 1003's phone" wait_for 10 registered 1003
remote_view_current() { # b's view counts every extension the store has on a (1003 among them)
  local n; n=$("$PGBIN/psql" "$PG_URL" -Atc "SELECT count(DISTINCT aor) FROM bindings WHERE node_id = 'a' AND expires_at_ms > (extract(epoch from now()) * 1000)::bigint AND EXISTS (SELECT 1 FROM bindings WHERE node_id = 'a' AND aor = '1003')")
  [ "${n:-0}" -gt 0 ] && metric_is b "ferroswitch_cluster_remote_extensions $n"; }
check "b reaches 1003 through a"               wait_for 5 remote_view_current
node b
api POST /v1/agents/1000/logout >/dev/null
api POST /v1/agents/1003/login >/dev/null
rm -rf "$OUT/cl_caller_c.baresip/snd/"*
baresip_cmd "$CTRL_C" dial "sip:7000@$DOMAIN" >/dev/null
offered_1003() { grep -q "offering the call to an agent.*agent=1003" "$LOG_b" && bridged_on_b; }
check "b's caller is bridged to agent 1003 on a" wait_for 10 offered_1003
node a
{ kill -9 "$PID_a"; wait "$PID_a"; } 2>/dev/null
# ... and a is started again at once, at another address, well within the
# lease: b must still see the old process's calls as lost.
start_node a
check "b puts the caller back into the queue"  wait_for 10 grep -q "agent lost with its node; the caller goes back into the queue.*agent=Some(\"1003\")" "$LOG_b"
check "... and it is put through again: the restarted a reaches 1003's phone" wait_for 10 bridged_on_b
talk 2
baresip_cmd "$CTRL_C" hangup >/dev/null
check "the caller's CDR: answered by 1003"     wait_for 20 cdr_q b 1007 2 agent=1003 queue_result=answered disposition=answered
check "... who heard 1003 at the end (520 Hz)" wait_for 5 heard_tail cl_caller_c 520 440
node b
api POST /v1/agents/1003/logout >/dev/null

# --- 8. b stops (SIGTERM, a drain) with a caller waiting in its queue: the
# queue and the caller go to a at once --------------------------------------------
node b
check "agent 1000 on break (through b)"       bash -c "$(declare -f api); HTTP_PORT=$HTTP_b TOKEN=$TOKEN_b; api POST /v1/agents/1000/break | grep -q 'On Break'"
baresip_cmd "$CTRL_C" dial "sip:7000@$DOMAIN" >/dev/null
check "caller 1007 waits in b's queue"        wait_for 10 waiting_at_b
kill -TERM "$PID_b"
check "b, draining, releases the queue and hands the caller over" wait_for 10 grep -q "handing its waiting callers over.*queue=support callers=1" "$LOG_b"
waiting_at_a_again() { node a; api GET /v1/queues/support/members | python3 -c 'import json,sys; m=json.load(sys.stdin)["items"]; print(m); sys.exit(0 if [x["caller_number"] for x in m] == ["1007"] else 1)'; }
check "... and the caller waits on in a's queue" wait_for 10 waiting_at_a_again
check "a owns the queue now"                  owner_is a support
baresip_cmd "$CTRL_C" hangup >/dev/null

summary cluster
