#!/usr/bin/env python3
"""Tone files and tone detection for audio checks (no dependencies).
  tones.py make FILE FREQ SECONDS [RATE [CHANNELS]]
                                         write a 16-bit WAV (8 kHz mono by default)
  tones.py detect FILE FREQ [OTHER...]   exit 0 if FREQ dominates the file's
                                         voiced part and each OTHER is absent
  tones.py detectch FILE CH FREQ [OTHER...]  the same on channel CH (0 = left)
  (TONES_FROM / TONES_TO in the environment: only that part of the file, in seconds)
  tones.py sequence FILE F1 F2 ...       exit 0 if the voiced part holds tones F1, F2, ...
                                         in that order (runs of >= 100 ms where it carries
                                         most of the sound; other sounds between them allowed)
  tones.py info FILE                     channels, rate, encoding, seconds
  (files read: WAV of 16-bit PCM, or G.711 μ-law or A-law)
  tones.py pcap FILE FREQ SECONDS [LAW]  a pcap of G.711 RTP packets (20 ms) of the
                                         tone, for sipp's play_pcap_audio: PCMU
                                         (payload type 0), or PCMA (8) with LAW alaw
  tones.py dtmfpcap FILE DIGITS          the same of in-band DTMF DIGITS (after 1 s of 440 Hz)"""
import math, struct, sys, wave

def make(path, freq, secs, rate=8000, channels=1):
    with wave.open(path, "wb") as w:
        w.setnchannels(channels); w.setsampwidth(2); w.setframerate(rate)
        n = int(secs * rate)
        w.writeframes(b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * i / rate))) * channels for i in range(n)))

def ulaw(x):
    """16-bit linear to G.711 mu-law."""
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 0x84
    exp, mask = 7, 0x4000
    while exp > 0 and not x & mask:
        exp, mask = exp - 1, mask >> 1
    return ~(sign | (exp << 4) | ((x >> (exp + 3)) & 0x0F)) & 0xFF

def alaw(x):
    """16-bit linear to G.711 A-law: the 13-bit magnitude's segment (0 up
    to bit 4; then how far above bit 4 its highest set bit is) and the
    four bits below that bit, with the sign bit set for positive values
    and the even bits inverted."""
    if x >= 0:
        mask, mag = 0xD5, min(x, 32767) >> 3
    else:
        mask, mag = 0x55, (min(-x, 32768) - 1) >> 3
    seg = max(mag.bit_length() - 5, 0)
    if seg > 7:
        return 0x7F ^ mask
    return ((seg << 4) | ((mag >> (seg if seg else 1)) & 0x0F)) ^ mask

def pcap(path, freq, secs, rate=8000, law="mulaw"):
    """Ethernet/IPv4/UDP/RTP frames of a tone, one per 20 ms."""
    pcap_samples(path, [int(12000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(int(secs * rate))], law)

DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
        "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
        "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
        "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633)}

def dtmf_samples(digits, rate=8000):
    """1 s of 440 Hz (must not be taken for a digit), then each digit as
    100 ms of its two tones and 100 ms of silence."""
    x = [int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(rate)]
    for d in digits:
        lo, hi = DTMF[d]
        x += [int(6000 * (math.sin(2 * math.pi * lo * i / rate) + math.sin(2 * math.pi * hi * i / rate))) for i in range(rate // 10)]
        x += [0] * (rate // 10)
    return x + [0] * (rate // 2)

def pcap_samples(path, samples, law="mulaw"):
    """Ethernet/IPv4/UDP/RTP frames of PCMU (or PCMA, `law` "alaw"), one per
    20 ms, timestamps in the capture."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    encode, pt = (alaw, 8) if law == "alaw" else (ulaw, 0)
    for k in range(len(samples) // 160):
        payload = bytes(encode(v) for v in samples[160 * k:160 * k + 160])
        rtp = struct.pack("!BBHII", 0x80, pt, k & 0xFFFF, 160 * k, 0x1234) + payload
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        eth = b"\x00" * 12 + b"\x08\x00" + ip
        t = k * 20000
        out.append(struct.pack("<IIII", t // 1000000, t % 1000000, len(eth), len(eth)) + eth)
    with open(path, "wb") as f:
        f.write(b"".join(out))

def ulaw_linear(u):
    u = ~u & 0xff
    t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84

def alaw_linear(a):
    a ^= 0x55
    t = (a & 0x0f) << 4
    seg = (a & 0x70) >> 4
    t = t + 8 if seg == 0 else (t + 0x108) << max(seg - 1, 0)
    return t if a & 0x80 else -t

ENCODINGS = {1: "pcm16", 6: "alaw", 7: "mulaw"}

def parse(path):
    """The WAV's channels, rate, encoding (pcm16, alaw, mulaw) and sample
    bytes (as many as its data chunk names: what a player plays)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SystemExit(f"{path}: not a RIFF/WAVE file")
    at, fmt = 12, None
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        body = data[at + 8:at + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            enc = ENCODINGS.get(tag)
            if enc is None or bits != (16 if tag == 1 else 8):
                raise SystemExit(f"{path}: format {tag} with {bits}-bit samples, expected PCM 16-bit or G.711")
            fmt = (ch, rate, enc)
        elif cid == b"data":
            if fmt is None:
                raise SystemExit(f"{path}: data before fmt")
            return fmt + (body,)
        at += 8 + size + (size & 1)
    raise SystemExit(f"{path}: no data chunk")

def read(path):
    ch, rate, enc, raw = parse(path)
    if enc == "pcm16":
        samples = struct.unpack("<%dh" % (len(raw) // 2), raw[:len(raw) // 2 * 2])
    else:
        table = [(ulaw_linear if enc == "mulaw" else alaw_linear)(b) for b in range(256)]
        samples = [table[b] for b in raw]
    n = len(samples) // ch * ch
    chans = [samples[c:n:ch] for c in range(ch)]
    return chans, rate

def goertzel(block, rate, freq):
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in block:
        s1, s2 = x + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2

def window(samples, rate):
    """The part between $TONES_FROM and $TONES_TO seconds (default: all)."""
    import os
    a = int(float(os.environ.get("TONES_FROM", "0")) * rate)
    b = os.environ.get("TONES_TO")
    return samples[a:int(float(b) * rate)] if b else samples[a:]

def tone_share(samples, rate, freq, others):
    """Over 20 ms blocks with energy: fraction of blocks where FREQ is the strongest of FREQ+others by 10x."""
    samples = window(samples, rate)
    blk = rate // 50
    voiced = hits = 0
    for i in range(0, len(samples) - blk, blk):
        b = samples[i:i + blk]
        energy = sum(x * x for x in b) / blk
        if energy < 1e4:  # silence
            continue
        voiced += 1
        p = goertzel(b, rate, freq)
        if all(p > 10 * goertzel(b, rate, o) for o in others):
            hits += 1
    return voiced, hits

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), *(int(a) for a in sys.argv[5:7]))
    elif cmd == "noise":
        # noise PATH SECONDS: white noise, 8 kHz mono, a quarter of full scale.
        import random, struct, wave
        rng = random.Random(7)
        with wave.open(sys.argv[2], "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", rng.randint(-8192, 8192)) for _ in range(int(8000 * float(sys.argv[3])))))
    elif cmd == "dtmfpcap":
        pcap_samples(sys.argv[2], dtmf_samples(sys.argv[3]))
    elif cmd == "detect":
        path, freq = sys.argv[2], float(sys.argv[3])
        others = [float(o) for o in sys.argv[4:]] or [freq * 1.5, freq / 2]
        chans, rate = read(path)
        voiced, hits = tone_share(chans[0], rate, freq, others)
        print(f"{path}: {voiced * 20} ms voiced, {freq:.0f} Hz dominant in {hits}/{voiced} blocks")
        if voiced < 25 or hits < 0.8 * voiced:
            sys.exit(1)
    elif cmd == "detectch":
        path, ch, freq = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        others = [float(o) for o in sys.argv[5:]] or [freq * 1.5, freq / 2]
        chans, rate = read(path)
        if ch >= len(chans):
            raise SystemExit(f"{path}: no channel {ch} ({len(chans)} channels)")
        voiced, hits = tone_share(chans[ch], rate, freq, others)
        print(f"{path} channel {ch}: {voiced * 20} ms voiced, {freq:.0f} Hz dominant in {hits}/{voiced} blocks")
        if voiced < 25 or hits < 0.8 * voiced:
            sys.exit(1)
    elif cmd == "sequence":
        path, want = sys.argv[2], [float(f) for f in sys.argv[3:]]
        chans, rate = read(path)
        samples, blk, freqs = window(chans[0], rate), rate // 50, sorted(set(want))
        runs = []  # (freq, blocks) of consecutive blocks where freq dominates 10x
        for i in range(0, len(samples) - blk, blk):
            b = samples[i:i + blk]
            energy = sum(x * x for x in b)
            if energy / blk < 1e4:
                f = None
            else:
                p = {f: goertzel(b, rate, f) for f in freqs}
                best = max(p, key=p.get)
                # The tone must also carry most of the block (a pure tone at
                # FREQ gives p = N * energy / 2): a tone not in the list is
                # no run of the nearest listed one.
                carries = p[best] >= 0.3 * blk * energy / 2
                f = best if carries and all(p[best] > 10 * v for k, v in p.items() if k != best) else None
            if runs and runs[-1][0] == f:
                runs[-1][1] += 1
            else:
                runs.append([f, 1])
        seen = [f for f, n in runs if f is not None and n >= 5]
        print(f"{path}: tone runs {[(f, n * 20) for f, n in runs if f is not None]}")
        it = iter(seen)
        sys.exit(0 if all(w in it for w in want) else 1)
    elif cmd == "pcap":
        pcap(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), law=(sys.argv[5:] or ["mulaw"])[0])
    elif cmd == "info":
        chans, rate = read(sys.argv[2])
        print(f"channels={len(chans)} rate={rate} encoding={parse(sys.argv[2])[2]} seconds={len(chans[0]) / rate:.3f}")
    else:
        raise SystemExit(__doc__)
