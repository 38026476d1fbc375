//! In-band DTMF: digits sent as tones in the audio (phones and carriers
//! that do not do RFC 4733), found with the Goertzel algorithm.
//!
//! Audio (8 kHz PCM) is cut into blocks of 205 samples (25.6 ms, 39 Hz
//! bins: the classic choice that separates the DTMF rows). In each block
//! the power at the eight DTMF frequencies is measured; a block holds a
//! digit when the strongest row and strongest column tone:
//!
//! * together carry most of the block's energy (speech and music spread
//!   theirs; the signal is not silence);
//! * each stand 6 dB above every other tone of their group;
//! * differ by no more than 8 dB (normal twist, the column louder) or 4 dB
//!   (reverse twist), as ITU-T Q.24 allows.
//!
//! A digit is reported once, when two blocks in a row (about 40 ms, Q.24's
//! shortest valid tone) hold it, and again only after a block without it.

/// Samples per analysis block.
pub const BLOCK: usize = 205;
const ROWS: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];

/// Finds digits in one stream's audio. See the module documentation.
#[derive(Clone, Debug)]
pub struct InbandDetector {
    coeffs: [f32; 8],
    block: Vec<f32>,
    /// The digit of the previous block (None: no digit).
    last: Option<char>,
    /// The digit reported and not yet released.
    reported: Option<char>,
}

impl Default for InbandDetector {
    fn default() -> InbandDetector {
        let mut coeffs = [0.0; 8];
        for (i, f) in ROWS.iter().chain(COLS.iter()).enumerate() {
            coeffs[i] = 2.0 * (2.0 * std::f32::consts::PI * f / 8000.0).cos();
        }
        InbandDetector { coeffs, block: Vec::with_capacity(BLOCK), last: None, reported: None }
    }
}

impl InbandDetector {
    /// Feed 8 kHz samples; the digits that started in them.
    pub fn push(&mut self, samples: &[i16], out: &mut Vec<char>) {
        for s in samples {
            self.block.push(f32::from(*s));
            if self.block.len() == BLOCK {
                let d = self.analyse();
                self.block.clear();
                if d.is_some() && d == self.last && self.reported != d {
                    self.reported = d;
                    out.extend(d);
                }
                if d != self.last || d.is_none() {
                    if d.is_none() {
                        self.reported = None;
                    }
                    self.last = d;
                }
            }
        }
    }

    fn analyse(&self) -> Option<char> {
        let energy: f32 = self.block.iter().map(|x| x * x).sum();
        // Quieter than about -50 dBm0: nothing to find.
        if energy < BLOCK as f32 * 100.0 {
            return None;
        }
        // The eight filters run side by side over one pass of the block
        // (fixed-size arrays the compiler keeps in vector registers): each
        // filter's recurrence is a chain of dependent steps, so running
        // them one after another left the core waiting on each step. This
        // runs on every packet of a caller without telephone-event.
        let c = self.coeffs;
        let (mut s1, mut s2) = ([0.0f32; 8], [0.0f32; 8]);
        for x in &self.block {
            for i in 0..8 {
                let s = x + c[i] * s1[i] - s2[i];
                s2[i] = s1[i];
                s1[i] = s;
            }
        }
        let mut p = [0.0f32; 8];
        for i in 0..8 {
            p[i] = s1[i] * s1[i] + s2[i] * s2[i] - c[i] * s1[i] * s2[i];
        }
        let best = |g: &[f32]| {
            let (i, v) = g.iter().enumerate().fold((0, 0.0f32), |acc, (i, v)| if *v > acc.1 { (i, *v) } else { acc });
            let others_ok = g.iter().enumerate().all(|(j, w)| j == i || *w * 4.0 <= v);
            (i, v, others_ok)
        };
        let (r, rp, r_ok) = best(&p[..4]);
        let (c, cp, c_ok) = best(&p[4..]);
        if !(r_ok && c_ok) {
            return None;
        }
        // Twist: column at most 8 dB above the row, row at most 4 dB above the column.
        if cp > rp * 6.3 || rp > cp * 2.5 {
            return None;
        }
        // A pure tone of amplitude A over N samples gives power ≈ (A·N/2)²,
        // and its energy is A²·N/2: the pair's share of the block is
        // (rp + cp) · 2 / (N · energy).
        let share = (rp + cp) * 2.0 / (BLOCK as f32 * energy);
        if share < 0.7 {
            return None;
        }
        Some(KEYS[r][c])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freqs: &[f32], ms: usize, amp: f32, phase0: usize) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| {
                let t = (i + phase0) as f32 / 8000.0;
                (freqs.iter().map(|f| (2.0 * std::f32::consts::PI * f * t).sin()).sum::<f32>() * amp) as i16
            })
            .collect()
    }

    fn digit(d: char, ms: usize) -> Vec<i16> {
        let (r, c) = KEYS.iter().enumerate().find_map(|(r, row)| row.iter().position(|k| *k == d).map(|c| (r, c))).expect("key");
        tone(&[ROWS[r], COLS[c]], ms, 6000.0, 0)
    }

    fn detect(x: &[i16]) -> String {
        let mut d = InbandDetector::default();
        let mut out = Vec::new();
        // In 20 ms packets, as the relay feeds it.
        for p in x.chunks(160) {
            d.push(p, &mut out);
        }
        out.into_iter().collect()
    }

    #[test]
    fn every_key_is_found_once() {
        for row in KEYS {
            for k in row {
                let mut x = digit(k, 100);
                x.extend(vec![0i16; 800]);
                assert_eq!(detect(&x), k.to_string(), "{k}");
            }
        }
    }

    #[test]
    fn a_sequence_with_short_gaps_and_noise() {
        let mut x = Vec::new();
        for k in "159#0*".chars() {
            x.extend(digit(k, 70));
            x.extend(vec![0i16; 50 * 8]);
        }
        // Low-level noise over all of it.
        let mut seed = 1u32;
        for s in &mut x {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *s = s.saturating_add(((seed >> 16) % 400) as i16 - 200);
        }
        assert_eq!(detect(&x), "159#0*");
    }

    #[test]
    fn too_short_tones_and_speech_like_sound_are_not_digits() {
        // 20 ms: below Q.24's 23 ms rejection limit.
        let mut x = digit('5', 20);
        x.extend(vec![0i16; 800]);
        assert_eq!(detect(&x), "");
        // Single tones, a chord of one row tone and a non-DTMF tone, and a
        // two-tone "voice" with an envelope.
        assert_eq!(detect(&tone(&[770.0], 500, 8000.0, 0)), "");
        assert_eq!(detect(&tone(&[770.0, 1000.0], 500, 6000.0, 0)), "");
        let voice: Vec<i16> = tone(&[220.0, 1130.0, 697.0 * 1.5], 2000, 4000.0, 3);
        assert_eq!(detect(&voice), "");
        // Silence.
        assert_eq!(detect(&vec![0i16; 8000]), "");
    }

    #[test]
    fn twist_beyond_the_limits_is_refused() {
        // Row 10 dB above the column (reverse twist > 4 dB).
        let x: Vec<i16> = (0..800).map(|i| {
            let t = i as f32 / 8000.0;
            ((2.0 * std::f32::consts::PI * 770.0 * t).sin() * 9000.0 + (2.0 * std::f32::consts::PI * 1336.0 * t).sin() * 2850.0) as i16
        }).collect();
        assert_eq!(detect(&x), "");
        // 3 dB either way is a digit.
        let y: Vec<i16> = (0..800).map(|i| {
            let t = i as f32 / 8000.0;
            ((2.0 * std::f32::consts::PI * 770.0 * t).sin() * 5000.0 + (2.0 * std::f32::consts::PI * 1336.0 * t).sin() * 7000.0) as i16
        }).collect();
        assert_eq!(detect(&y), "5");
    }

    #[test]
    fn a_held_key_is_one_digit_and_a_repeat_after_a_gap_is_two() {
        let mut x = digit('8', 400);
        assert_eq!(detect(&x), "8");
        x.extend(vec![0i16; 400]);
        x.extend(digit('8', 100));
        assert_eq!(detect(&x), "88");
    }
}
