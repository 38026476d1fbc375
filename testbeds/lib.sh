# Shared helpers for the interop testbeds. Source it; do not run it.
# Every testbed starts its own ferroswitch on ports nobody else uses, in its
# own data directory, on 127.0.0.1 only, and stops it on exit.
# No -e: every assertion is an explicit check, and a failing setup step
# must not end the testbed before its summary (run-all counts a missing
# summary as a failure anyway).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${FS_BIN:-$ROOT/target/debug/ferroswitch}
SCEN=$ROOT/testbeds/scenarios
OUT=${TESTBED_OUT:-$ROOT/testbeds/out}
mkdir -p "$OUT"

PASSED=0
FAILED=0
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

# Free ports on 127.0.0.1, chosen by the kernel. Every port handed out in
# a run is written to $OUT/.ports_given and never handed out again: a port
# is only reserved once its user binds it, and two helpers called before
# that could get the same one (a webhook receiver once got the switch's
# SIP port, and the switch's SIP listener took the webhooks).
#   free_port        P free on UDP and TCP
#   free_port_pair   P even, P and P+1 free on UDP and TCP (baresip also
#                    listens for TLS on P+1)
#   free_media_port  P and P+2 free on UDP: sipp binds its audio socket on
#                    P and a video one on P+2 and exits at start if either
#                    is taken (so a plain free_port made a rare lost callee)
_free_port() {
  python3 - "$1" "$OUT/.ports_given" <<'PY'
import fcntl, socket, sys
mode, given_path = sys.argv[1], sys.argv[2]
offsets = {"single": (0,), "pair": (0, 1), "media": (0, 2)}[mode]
kinds = (socket.SOCK_DGRAM,) if mode == "media" else (socket.SOCK_STREAM, socket.SOCK_DGRAM)
def free(p):
    try:
        for kind in kinds:
            s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", p)); s.close()
        return True
    except OSError:
        return False
with open(given_path, "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    given = {int(l) for l in f if l.strip()}
    for _ in range(1000):
        t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]; t.close()
        if mode == "pair":
            p &= ~1  # Linux hands out odd ports for bind(0)
        ports = [p + o for o in offsets]
        if 1024 < p < 65000 and not given.intersection(ports) and all(free(q) for q in ports):
            f.write("".join(f"{q}\n" for q in ports)); f.flush(); print(p); break
    else:
        raise SystemExit(f"no free port ({mode})")
PY
}
free_port() { _free_port single; }
free_port_pair() { _free_port pair; }
free_media_port() { _free_port media; }

DOMAIN=127.0.0.1  # an address, so no peer ever asks DNS


# start_switch NAME [extra --set args...]: sets SIP_PORT, HTTP_PORT, TOKEN,
# SWITCH_PID, SWITCH_LOG, DATA. Reuses DATA/ports when RESTART=1.
start_switch() {
  local name=$1; shift
  if [ "${RESTART:-0}" != 1 ]; then
    SIP_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    DATA=$(mktemp -d "$OUT/$name.data.XXXX")
    SWITCH_ARGS=("$@")
    : >"$OUT/$name.switch.log"
  fi
  SWITCH_LOG=$OUT/$name.switch.log
  "$BIN" run --set sip.bind=127.0.0.1 --set sip.udp_port="$SIP_PORT" --set sip.tcp_port="$SIP_PORT" \
      --set http.listen="127.0.0.1:$HTTP_PORT" --set sip.domain="$DOMAIN" \
      --set data_dir="$DATA" --set log.level=debug "${SWITCH_ARGS[@]}" >>"$SWITCH_LOG" 2>&1 &
  SWITCH_PID=$!
  PIDS+=("$SWITCH_PID")
  for _ in $(seq 1 100); do
    if [ "$(grep -c "ferroswitch started" "$SWITCH_LOG" 2>/dev/null)" -ge "${STARTS:-1}" ]; then
      TOKEN=$(cat "$DATA/admin-token")
      return 0
    fi
    if ! kill -0 "$SWITCH_PID" 2>/dev/null; then break; fi
    sleep 0.05
  done
  echo "ferroswitch did not start:"; cat "$SWITCH_LOG"; exit 1
}

alive() { kill -0 "$SWITCH_PID" 2>/dev/null; }

# restart_switch [SIGNAL]: stop the switch (default KILL: a crash) and start
# it again on the same data directory and ports.
restart_switch() {
  kill -"${1:-KILL}" "$SWITCH_PID" 2>/dev/null || true
  wait "$SWITCH_PID" 2>/dev/null || true
  STARTS=$(( $(grep -c "ferroswitch started" "$SWITCH_LOG") + 1 ))
  RESTART=1 start_switch "$(basename "$SWITCH_LOG" .switch.log)"
  STARTS=1
}

# check NAME COMMAND...: run a check, report it, count it.
check() {
  local name=$1; shift
  local log=$OUT/$(echo "$name" | tr -c 'A-Za-z0-9_.-' '_').log
  if "$@" >"$log" 2>&1; then
    echo "  ok   $name"; PASSED=$((PASSED + 1))
  else
    echo "  FAIL $name (exit $?; log: $log)"; FAILED=$((FAILED + 1))
    tail -n 30 "$log" | sed 's/^/       /'
  fi
}

# sipp_run SCENARIO TRANSPORT(u1|t1) [extra args]: one sipp client run against the switch.
sipp_run() {
  local scen=$1 transport=$2; shift 2
  sipp -sf "$SCEN/$scen" "127.0.0.1:$SIP_PORT" -i 127.0.0.1 -p "$(free_port)" -mp "$(free_media_port)" -t "$transport" \
       -timeout 20 -timeout_error -nostdin -trace_err -error_file "$OUT/${scen%.xml}.$transport.err" "$@"
}

summary() {
  echo "$1: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# The admin API of the switch started by start_switch (HTTP_PORT, TOKEN).
api() { # api METHOD PATH [JSON]
  local m=$1 p=$2 body=${3:-}
  if [ -n "$body" ]; then
    curl -sS -X "$m" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$HTTP_PORT$p"
  else
    curl -sS -X "$m" -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HTTP_PORT$p"
  fi
}

# wait_for SECONDS COMMAND...: poll a condition until it holds or time runs out.
wait_for() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while [ $SECONDS -le $end ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  "$@"
}

# registered EXT [TRANSPORT]: the API lists a registration for EXT (over TRANSPORT).
registered() {
  api GET /v1/registrations | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
ext, tr = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
sys.exit(0 if any(i["extension"] == ext and (tr is None or i["transport"] == tr) for i in items) else 1)' "$@"
}
not_registered() { ! registered "$@"; }

# new_extension EXT: create it over the API; prints the generated password.
new_extension() {
  api POST /v1/extensions "{\"number\":\"$1\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])'
}

# cdr_answered_in EXT CODEC: the last CDR of extension EXT is answered, in
# CODEC (the CDR's "codec", e.g. "opus/48000" or "G722/8000>PCMU/8000"),
# and names a recording.
cdr_answered_in() {
  api GET "/v1/cdrs?extension=$1" | python3 -c '
import json, sys
i = json.load(sys.stdin)["items"]
print(i[0] if i else "no CDR yet")
sys.exit(0 if i and i[0]["disposition"] == "answered" and i[0]["codec"] == sys.argv[1] and i[0]["recording"] else 1)' "$2"
}

# recording_has EXT RATE LEFT RIGHT: the recording the last CDR of
# extension EXT names is a stereo WAV at RATE Hz with LEFT Hz on the left
# channel (the caller) and RIGHT Hz on the right (the callee).
recording_has() {
  local f; f=$(api GET "/v1/cdrs?extension=$1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print((i[0]["recording"] or "") if i else "")')
  [ -n "$f" ] && [ -f "$DATA/recordings/$f" ] || { echo "no recording: '$f'"; return 1; }
  python3 "$ROOT/testbeds/tones.py" info "$DATA/recordings/$f" | grep "channels=2 rate=$2" &&
  python3 "$ROOT/testbeds/tones.py" detectch "$DATA/recordings/$f" 0 "$3" "$4" &&
  python3 "$ROOT/testbeds/tones.py" detectch "$DATA/recordings/$f" 1 "$4" "$3"
}

# start_baresip NAME EXT PASSWORD TRANSPORT(udp|tcp) [answermode] [WAV]: a
# headless baresip registered to the switch; plays WAV (the call ends when it
# ends) and records what it sends and receives into $OUT/NAME.baresip/snd;
# sets BARESIP_PID and BARESIP_CTRL.
# BARESIP_OPUS=1 loads the Opus module, BARESIP_G722=1 the G.722 one;
# BARESIP_CODECS restricts the account's codecs (e.g. "opus/48000/2",
# "PCMU/8000" or "G722/16000/1": G.722 by its audio rate); BARESIP_EXTRA
# adds config lines (e.g. "opus_bitrate 12000").
start_baresip() {
  local name=$1 ext=$2 pw=$3 tr=$4 answer=${5:-auto} wav=${6:-}
  local source="aubridge,nil"
  [ -n "$wav" ] && source="aufile,$wav"
  local dir=$OUT/$name.baresip
  rm -rf "$dir"; mkdir -p "$dir/snd"
  local sip_port; sip_port=$(free_port_pair)
  BARESIP_CTRL=$(free_port)
  local rtp; rtp=$(free_port)
  cat >"$dir/config" <<CFG
poll_method		epoll
sip_listen		127.0.0.1:$sip_port
net_interface		127.0.0.1
audio_player		aubridge,nil
audio_source		$source
snd_path		$dir/snd
rtp_ports		$rtp-$((rtp + 10))
dns_server		127.0.0.1:53
module_path		/usr/lib/baresip/modules
module			g711.so
${BARESIP_OPUS:+module			opus.so}
${BARESIP_G722:+module			g722.so}
module			aubridge.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$BARESIP_CTRL
${BARESIP_EXTRA:-}
CFG
  echo "<sip:$ext@$DOMAIN>;auth_pass=$pw;outbound=\"sip:127.0.0.1:$SIP_PORT;transport=$tr\";regint=${REGINT:-300};answermode=$answer${BARESIP_CODECS:+;audio_codecs=$BARESIP_CODECS}" >"$dir/accounts"
  : >"$dir/contacts"
  baresip -f "$dir" </dev/null >"$OUT/$name.baresip.log" 2>&1 &
  BARESIP_PID=$!
  PIDS+=("$BARESIP_PID")
}

# baresip_cmd CTRL_PORT COMMAND [PARAMS]: one ctrl_tcp command (netstring JSON).
baresip_cmd() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, socket, sys
port, cmd, params = int(sys.argv[1]), sys.argv[2], sys.argv[3]
body = json.dumps({"command": cmd, "params": params, "token": "t"}).encode()
s = socket.create_connection(("127.0.0.1", port), timeout=3)
s.sendall(str(len(body)).encode() + b":" + body + b",")
try:
    print(s.recv(65535).decode(errors="replace"))
except socket.timeout:
    pass
PY
}

# ctl ARGS...: the ferroswitch ctl CLI against the switch started by start_switch.
ctl() { "$BIN" ctl "$@" --set http.listen="127.0.0.1:$HTTP_PORT" --set data_dir="$DATA"; }

# udp_ready PORT...: wait (up to 5 s) until something listens on each UDP
# port on 127.0.0.1 (a sipp UAS started in the background).
udp_ready() {
  local p
  for p in "$@"; do
    wait_for 5 bash -c "ss -lun | grep -q '127.0.0.1:$p '" || return 1
  done
}

# last_cdr FIELD=VALUE...: the newest CDR has these values.
last_cdr() {
  api GET "/v1/cdrs?limit=1${CDR_FILTER:-}" | python3 -c '
import json, sys
c = json.load(sys.stdin)["items"][0]
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if str(c[k]) != v:
        print(json.dumps(c, indent=1)); sys.exit(f"{k} = {c[k]}, expected {v}")' "$@"
}
