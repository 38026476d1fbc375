#!/usr/bin/env bash
# How the G.722 vectors here were made (ffmpeg 5.1, Debian): a 0.75 s
# signal that exercises both sub-bands and the quantisers' ends (a sweep
# from 100 Hz to 7.9 kHz, a loud 6 kHz burst that clips, white noise,
# silence), encoded by ffmpeg's G.722 encoder, and that stream decoded by
# ffmpeg. media's tests check our encoder and decoder against them bit
# for bit. Not run by the tests; kept to say where the files come from.
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import math, random, struct
random.seed(722)
rate, out = 16000, []
for n in range(12000):
    t = n / rate
    if n < 5000:    # sweep 100 Hz -> 7.9 kHz
        f0, f1, T = 100.0, 7900.0, 5000 / rate
        v = 12000 * math.sin(2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * T)))
    elif n < 7000:  # loud 6 kHz plus 300 Hz, clipped
        v = 30000 * math.sin(2 * math.pi * 6000 * t) + 12000 * math.sin(2 * math.pi * 300 * t)
    elif n < 10000: # white noise
        v = random.uniform(-20000, 20000)
    else:           # silence
        v = 0
    out.append(max(-32768, min(32767, int(v))))
open("input.s16", "wb").write(struct.pack("<%dh" % len(out), *out))
PY
ffmpeg -v error -y -f s16le -ar 16000 -ac 1 -i input.s16 -c:a g722 -f g722 ffmpeg.g722
ffmpeg -v error -y -f g722 -i ffmpeg.g722 -f s16le -ar 16000 -ac 1 ffmpeg_decoded.s16
