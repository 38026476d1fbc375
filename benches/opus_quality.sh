#!/usr/bin/env bash
# Issue 5 / issue 9: what the Opus a transcoded call sends sounds like, at
# each encoder complexity and bitrate, so media.opus_complexity and
# media.opus_bitrate are chosen on measured quality as well as CPU.
#
# Speech: espeak-ng (four voices, two male, two female) reading a call-center
# sentence, resampled to 8 kHz. Path: μ-law (the PCMU leg), the switch's
# Opus encoder (crates/media/examples/opus_quality.rs, the same
# media::codec::Encoder transcoded calls use), libopus decoding. Score:
# PESQ narrowband (ITU-T P.862, the `pesq` Python package) of the decoded
# audio against the 8 kHz speech. PESQ on synthetic speech ranks settings;
# its absolute values are not those of a listening test.
#
# Knobs: RATES ("0 16000 20000 24000 32000"; 0: libopus's own choice, about
# 11 kbit/s for 8 kHz audio in 20 ms frames), COMPLEXITIES ("0 1").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/benches/out/opus_quality; mkdir -p "$OUT"
SUDO=${SUDO:-$([ "$(id -u)" = 0 ] || echo sudo)}
command -v espeak-ng >/dev/null || { echo "installing espeak-ng"; $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng >/dev/null; }
VENV=$ROOT/benches/.venv-pesq
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pesq, scipy" 2>/dev/null || {
  echo "installing (venv): pesq numpy scipy"
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --disable-pip-version-check pesq numpy scipy
}
(cd "$ROOT" && cargo build --release --quiet -p media --example opus_quality)
TOOL=$ROOT/target/release/examples/opus_quality

TEXT="The quick brown fox jumps over the lazy dog. Please hold while we connect your call to the next available agent. Your account number is four seven two nine one. Thank you for calling, have a nice day."
for v in en+m3 en-us+m1 en+f2 en+f3; do espeak-ng -v "$v" -s 150 -w "$OUT/$v.wav" "$TEXT"; done

echo "== Opus from a PCMU leg: PESQ-NB by encoder complexity and bitrate (espeak-ng voices: en+m3 en-us+m1 en+f2 en+f3)"
RATES=${RATES:-0 16000 20000 24000 32000} COMPLEXITIES=${COMPLEXITIES:-0 1} "$VENV/bin/python" - "$TOOL" "$OUT" "$OUT"/en+m3.wav "$OUT"/en-us+m1.wav "$OUT"/en+f2.wav "$OUT"/en+f3.wav <<'PY'
import os, subprocess, sys
import numpy as np, scipy.io.wavfile as wav, scipy.signal as sg
from pesq import pesq
tool, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
rates = [int(r) for r in os.environ["RATES"].split()]
cxs = [int(c) for c in os.environ["COMPLEXITIES"].split()]
scores = {}
for f in files:
    rate, x = wav.read(f)
    x = np.clip(sg.resample_poly(x.astype(np.float64), 8000, rate), -32768, 32767).astype("<i2")
    src, dst = os.path.join(out, "in.raw"), os.path.join(out, "out.raw")
    x.tofile(src)
    for br in rates:
        for cx in cxs:
            subprocess.run([tool, src, dst, str(cx)], check=True, env=dict(os.environ, OPUS_BITRATE=str(br)))
            y = np.fromfile(dst, "<i2")
            n = min(len(x), len(y))
            scores.setdefault((br, cx), []).append(pesq(8000, x[:n].astype(np.float64), y[:n].astype(np.float64), "nb"))
ref = []
for f in files:
    rate, x = wav.read(f)
    x = np.clip(sg.resample_poly(x.astype(np.float64), 8000, rate), -32768, 32767).astype("<i2")
    x.tofile(src)
    subprocess.run([tool, src, dst, "pcmu"], check=True)
    y = np.fromfile(dst, "<i2")
    ref.append(pesq(8000, x.astype(np.float64), y.astype(np.float64), "nb"))
print(f"  {'PCMU alone':>17}  (the reference):  PESQ-NB mean {np.mean(ref):.2f}  (per voice: {' '.join(f'{s:.2f}' for s in ref)})")
for (br, cx), v in sorted(scores.items()):
    name = f"{br} bit/s" if br else "libopus's choice"
    print(f"  {name:>17}  complexity {cx}:  PESQ-NB mean {np.mean(v):.2f}  (per voice: {' '.join(f'{s:.2f}' for s in v)})")
PY
