#!/usr/bin/env bash
# Issue 5 / issue 9 scenario 3: transcoding cost per call, and the peer.
#
# ferroswitch: the criterion bench crates/media/benches/transcode.rs runs one
# call-second per iteration through both of a transcoded call's directions
# (Opus -> jitter buffer -> decoder -> PCMU, and PCMU -> Opus), at Opus
# encoder complexity 0 (media.opus_complexity's default), 1 and 10 (libopus's), at
# media.opus_bitrate's default 24 kbit/s.
# Iterations per second on one core = transcoded calls one core sustains.
#
# Peer: ffmpeg 5.1 (Debian) doing the same codec work on the same audio with
# one thread: PCMU -> Opus (libopus, VoIP, 20 ms frames, same complexity),
# then Opus -> PCMU. Its CPU time (user+sys) over AUDIO_SECONDS of audio, minus the
# CPU of a run that only reads the input (startup and file I/O), gives
# CPU per call-second. ffmpeg does a little more (its Opus decoder works at
# 48 kHz and resamples) and nothing of a live call (no jitter buffer, no
# RTP), so the ratio says how close the switch's pipeline is to bare codec
# work, not who wins a feature comparison.
#
# Knobs: AUDIO_SECONDS (300) of audio for the peer (not SECONDS: bash keeps
# its own SECONDS, the shell's age, so that name always read 0).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_AUDIO=${AUDIO_SECONDS:-300}
OUT=benches/out/transcode; mkdir -p "$OUT"
command -v ffmpeg >/dev/null || { echo "installing ffmpeg"; ${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; }

echo "== ferroswitch (criterion, one core)"
[ -n "${SKIP_CRITERION:-}" ] || cargo bench -p media --bench transcode -- --warm-up-time 2 --measurement-time 5 2>/dev/null | tee "$OUT/criterion.txt" |
  awk '/complexity/ && !/time:/ { name = $0 } /thrpt:/ && !/%/ { gsub(/\[|\]/, ""); print name, "->", $4, "calls per core" }'

# Speech-like signal (the bench's: 220 Hz + 1130 Hz under a 3 Hz envelope), PCMU.
python3 - "$OUT/speech.wav" "$SECONDS_AUDIO" <<'PY'
import math, struct, sys, wave
path, secs = sys.argv[1], int(sys.argv[2])
with wave.open(path, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
    frames = bytearray()
    for i in range(8000 * secs):
        t = i / 8000
        env = 0.5 + 0.5 * math.sin(t * 3 * 2 * math.pi)
        frames += struct.pack("<h", int(env * 6000 * (math.sin(t * 220 * 2 * math.pi) + 0.5 * math.sin(t * 1130 * 2 * math.pi))))
    w.writeframes(bytes(frames))
PY
FF=(ffmpeg -hide_banner -loglevel error -threads 1 -y)
"${FF[@]}" -i "$OUT/speech.wav" -c:a pcm_mulaw "$OUT/pcmu.wav"
cpu() { /usr/bin/time -f "%U %S" -o "$OUT/time.txt" "$@" && awk '{ print $1 + $2 }' "$OUT/time.txt"; }
base=$(cpu "${FF[@]}" -i "$OUT/pcmu.wav" -f null -)
echo "== ffmpeg (one thread, $SECONDS_AUDIO s of audio; reading alone: ${base}s CPU)"
for cx in 0 1 10; do
  enc=$(cpu "${FF[@]}" -i "$OUT/pcmu.wav" -c:a libopus -application voip -compression_level "$cx" -frame_duration 20 -b:a 24k "$OUT/speech.$cx.ogg")
  dec=$(cpu "${FF[@]}" -i "$OUT/speech.$cx.ogg" -ar 8000 -c:a pcm_mulaw "$OUT/back.$cx.wav")
  python3 - "$cx" "$enc" "$dec" "$base" "$SECONDS_AUDIO" "$OUT/criterion.txt" <<'PY'
import re, sys
cx, enc, dec, base, secs, crit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
per = max(enc + dec - 2 * base, 1e-6) / secs           # CPU s per call-second
peer = 1 / per
ours = None
name = None
for line in open(crit):
    if "complexity" in line and "time:" not in line:
        name = line
    m = re.search(r"thrpt:\s+\[\s*[\d.]+\s+\S?elem/s\s+([\d.]+)\s+(\S?)elem/s", line)
    if m and name and re.search(rf"complexity {cx}\b", name):
        ours = float(m.group(1)) * {"": 1, "K": 1e3, "M": 1e6}[m.group(2)]
print(f"complexity {cx}: ffmpeg {peer:.0f} calls per core ({per * 1e3:.2f} ms CPU per call-second); "
      f"ferroswitch {ours:.0f}; ratio ferroswitch/ffmpeg {ours / peer:.2f}" if ours else f"complexity {cx}: ffmpeg {peer:.0f} calls per core; ferroswitch: no figure")
PY
done
