//! G.722 (ITU-T G.722, 64 kbit/s mode): sub-band ADPCM at 16 kHz.
//!
//! A quadrature mirror filter splits the signal into a lower band
//! (0–4 kHz) and a higher band (4–8 kHz), each sampled at 8 kHz; the lower
//! band is coded with 6 bits per sample, the higher with 2, so each byte
//! carries one sample of each band: two 16 kHz samples. Both bands use the
//! standard's backward-adaptive predictor (two poles, six zeros), so the
//! decoder tracks the encoder from the codes alone. The block names in the
//! comments (INVQAL, LOGSCL, UPPOL2 ...) are the standard's.
//!
//! Written here rather than taken from a crate: the Rust ports we found
//! wrap C (spandsp) or are unmaintained, and the algorithm is small and
//! fully specified. The tests compare both directions bit for bit with
//! another implementation (ffmpeg's, data files under `tests/data/g722`).
//!
//! RTP (RFC 3551 §4.5.2): the clock runs at 8 kHz although the audio is
//! sampled at 16 kHz, so one byte advances the timestamp by one.
//!
//! For 8 kHz work (transcoding to G.711, recording) the lower band alone
//! is used, as the standard's sub-band structure allows: decoding gives
//! its reconstructed signal, encoding puts 8 kHz audio in the lower band
//! and silence in the higher. No resampling is needed either way.

/// The QMF's 24 taps, symmetric (h[i] = h[23 − i]); they sum to 2^13.
const QMF: [i32; 24] = [3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3];

/// Lower band: quantiser decision levels (for the magnitude, scaled by the
/// step size), and the 6-bit codes of each interval by sign.
const Q6: [i32; 30] = [0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919];
const ILN: [u8; 31] = [0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4];
const ILP: [u8; 31] = [0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32];
/// Lower band: inverse quantiser of the 6-bit code (the decoder's output).
const QM6: [i32; 64] = [
    -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856, -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728, 24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456, 4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
];
/// Lower band: inverse quantiser of the code's top 4 bits (the predictor's input).
const QM4: [i32; 16] = [0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0];
/// Lower band: log step-size multipliers by the 4-bit code.
const RL42: [usize; 16] = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0];
const WL: [i32; 8] = [-60, -30, 58, 172, 334, 538, 1198, 3042];
/// Higher band: inverse quantiser and log step-size multipliers.
const QM2: [i32; 4] = [-7408, -1616, 7408, 1616];
const RH2: [usize; 4] = [2, 1, 2, 1];
const WH: [i32; 3] = [0, -214, 798];
/// Step size from the log step size's fraction (antilog table).
const ILB: [i32; 32] = [2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834, 2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008];

fn sat(v: i32) -> i32 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX))
}

/// One sub-band's ADPCM state: step size, and the adaptive predictor.
#[derive(Clone, Debug)]
struct Band {
    /// Signal estimate (the prediction of the next sample).
    s: i32,
    /// Pole and zero parts of the prediction.
    sp: i32,
    sz: i32,
    /// Reconstructed signal, partially reconstructed signal and quantised
    /// difference, newest first.
    r: [i32; 3],
    p: [i32; 3],
    d: [i32; 7],
    /// Pole (a[1], a[2]) and zero (b[1..=6]) coefficients.
    a: [i32; 3],
    b: [i32; 7],
    /// Log step size and step size.
    nb: i32,
    det: i32,
}

impl Band {
    fn new(det: i32) -> Band {
        Band { s: 0, sp: 0, sz: 0, r: [0; 3], p: [0; 3], d: [0; 7], a: [0; 3], b: [0; 7], nb: 0, det }
    }

    /// LOGSCL and SCALEL/SCALEH: adapt the step size to the code's
    /// multiplier `w`, with the band's ceiling and shift.
    fn scale(&mut self, w: i32, max: i32, shift: i32) {
        self.nb = (((self.nb * 127) >> 7) + w).clamp(0, max);
        let frac = ILB[((self.nb >> 6) & 31) as usize];
        let e = shift - (self.nb >> 11);
        let det = if e < 0 { frac << -e } else { frac >> e };
        self.det = det << 2;
    }

    /// Block 4: reconstruct with the quantised difference `dq`, adapt the
    /// predictor, and predict the next sample.
    fn update(&mut self, dq: i32) {
        // RECONS, PARREC
        self.d[0] = dq;
        self.r[0] = sat(self.s + dq);
        self.p[0] = sat(self.sz + dq);
        // UPPOL2: the second pole.
        let sg = |v: i32| v >> 15;
        let (s0, s1, s2) = (sg(self.p[0]), sg(self.p[1]), sg(self.p[2]));
        let a1x4 = sat(self.a[1] << 2);
        let t = if s0 == s1 { -a1x4 } else { a1x4 }.min(32767);
        let a2 = (if s0 == s2 { 128 } else { -128 }) + (t >> 7) + ((self.a[2] * 32512) >> 15);
        let a2 = a2.clamp(-12288, 12288);
        // UPPOL1: the first pole, bounded by the second.
        let a1 = sat((if s0 == s1 { 192 } else { -192 }) + ((self.a[1] * 32640) >> 15));
        let bound = sat(15360 - a2);
        let a1 = a1.clamp(-bound, bound);
        // UPZERO: the six zeros, by sign agreement with the new difference.
        let step = if dq == 0 { 0 } else { 128 };
        let sd = sg(dq);
        let mut b = [0i32; 7];
        for (i, bi) in b.iter_mut().enumerate().skip(1) {
            let agree = if sg(self.d[i]) == sd { step } else { -step };
            *bi = sat(agree + ((self.b[i] * 32640) >> 15));
        }
        // DELAYA
        for i in (1..7).rev() {
            self.d[i] = self.d[i - 1];
        }
        self.b = b;
        for i in (1..3).rev() {
            self.r[i] = self.r[i - 1];
            self.p[i] = self.p[i - 1];
        }
        self.a = [0, a1, a2];
        // FILTEP, FILTEZ, PREDIC
        let pole = |a: i32, r: i32| (a * sat(r + r)) >> 15;
        self.sp = sat(pole(self.a[1], self.r[1]) + pole(self.a[2], self.r[2]));
        let mut sz = 0;
        for i in (1..7).rev() {
            sz += (self.b[i] * sat(self.d[i] + self.d[i])) >> 15;
        }
        self.sz = sat(sz);
        self.s = sat(self.sp + self.sz);
    }

    /// Lower band, encoder: the 6-bit code of `x`, the state advanced.
    fn encode_low(&mut self, x: i32) -> u8 {
        let e = sat(x - self.s);
        let m = if e >= 0 { e } else { -(e + 1) };
        let i = (1..30).find(|&i| m < (Q6[i] * self.det) >> 12).unwrap_or(30);
        let code = if e < 0 { ILN[i] } else { ILP[i] };
        self.adapt_low(code);
        code
    }

    /// Lower band, decoder: the reconstructed sample of a 6-bit code.
    fn decode_low(&mut self, code: u8) -> i32 {
        let r = (self.s + ((self.det * QM6[usize::from(code & 63)]) >> 15)).clamp(-16384, 16383);
        self.adapt_low(code);
        r
    }

    /// INVQAL, LOGSCL, SCALEL and block 4 for a lower-band code.
    fn adapt_low(&mut self, code: u8) {
        let c4 = usize::from((code & 63) >> 2);
        let dq = (self.det * QM4[c4]) >> 15;
        self.scale(WL[RL42[c4]], 18432, 8);
        self.update(dq);
    }

    /// Higher band, encoder: the 2-bit code of `x`, the state advanced.
    fn encode_high(&mut self, x: i32) -> u8 {
        let e = sat(x - self.s);
        let m = if e >= 0 { e } else { -(e + 1) };
        let outer = m >= (564 * self.det) >> 12;
        let code = match (e < 0, outer) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        self.adapt_high(code);
        code
    }

    /// Higher band, decoder: the reconstructed sample of a 2-bit code.
    fn decode_high(&mut self, code: u8) -> i32 {
        let dq = (self.det * QM2[usize::from(code & 3)]) >> 15;
        let r = (self.s + dq).clamp(-16384, 16383);
        self.adapt_high(code);
        r
    }

    /// INVQAH, LOGSCH, SCALEH and block 4 for a higher-band code.
    fn adapt_high(&mut self, code: u8) {
        let c = usize::from(code & 3);
        let dq = (self.det * QM2[c]) >> 15;
        self.scale(WH[RH2[c]], 22528, 10);
        self.update(dq);
    }
}

/// The QMF's delay line: the last 24 values, oldest first.
#[derive(Clone, Debug, Default)]
struct Qmf {
    x: [i32; 24],
}

impl Qmf {
    /// Push two values; the filter's two phase sums (even taps, odd taps).
    fn push(&mut self, a: i32, b: i32) -> (i32, i32) {
        self.x.copy_within(2.., 0);
        self.x[22] = a;
        self.x[23] = b;
        let (mut even, mut odd) = (0i32, 0i32);
        for i in 0..12 {
            even += self.x[2 * i] * QMF[2 * i];
            odd += self.x[2 * i + 1] * QMF[2 * i + 1];
        }
        (even, odd)
    }
}

/// G.722 encoder, 64 kbit/s.
#[derive(Clone, Debug)]
pub struct Encoder {
    low: Band,
    high: Band,
    qmf: Qmf,
}

impl Default for Encoder {
    fn default() -> Encoder {
        Encoder::new()
    }
}

impl Encoder {
    /// A fresh encoder.
    pub fn new() -> Encoder {
        Encoder { low: Band::new(32), high: Band::new(8), qmf: Qmf::default() }
    }

    /// Encode 16 kHz samples, two per byte (an odd last sample waits for
    /// nothing: it is dropped).
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        for pair in pcm.chunks_exact(2) {
            let (even, odd) = self.qmf.push(i32::from(pair[0]), i32::from(pair[1]));
            let xl = (odd + even) >> 14;
            let xh = (odd - even) >> 14;
            let l = self.low.encode_low(xl);
            let h = self.high.encode_high(xh);
            out.push((h << 6) | l);
        }
    }

    /// Encode 8 kHz samples, one per byte: the lower band only (the
    /// higher band codes silence).
    pub fn encode_8k(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        for &s in pcm {
            let l = self.low.encode_low(i32::from(s) >> 1);
            let h = self.high.encode_high(0);
            out.push((h << 6) | l);
        }
    }
}

/// G.722 decoder, 64 kbit/s.
#[derive(Clone, Debug)]
pub struct Decoder {
    low: Band,
    high: Band,
    qmf: Qmf,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new()
    }
}

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Decoder {
        Decoder { low: Band::new(32), high: Band::new(8), qmf: Qmf::default() }
    }

    /// Decode to 16 kHz: two samples per byte.
    pub fn decode(&mut self, data: &[u8], out: &mut Vec<i16>) {
        for &b in data {
            let rl = self.low.decode_low(b & 63);
            let rh = self.high.decode_high(b >> 6);
            let (even, odd) = self.qmf.push(rl + rh, rl - rh);
            out.push(sat(odd >> 11) as i16);
            out.push(sat(even >> 11) as i16);
        }
    }

    /// Decode to 8 kHz, one sample per byte: the lower band alone.
    pub fn decode_8k(&mut self, data: &[u8], out: &mut Vec<i16>) {
        for &b in data {
            let rl = self.low.decode_low(b & 63);
            out.push(sat(rl << 1) as i16);
        }
    }
}
