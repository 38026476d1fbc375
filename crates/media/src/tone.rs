//! Call-progress tones as RTP (ringback to a caller while the callee rings;
//! the same generator serves hold music's simplest form). 20 ms G.711
//! packets with continuous sequence numbers and timestamps, silence
//! packets in the off-phase of the cadence (so the stream stays continuous).

use crate::{g711, rtp};

/// A tone: frequencies mixed, cadence on/off in milliseconds (off 0 = steady).
#[derive(Clone, Debug, PartialEq)]
pub struct ToneSpec {
    /// Frequencies in Hz (one or two: 425, or 440+480).
    pub freqs: Vec<f64>,
    /// Tone on, ms.
    pub on_ms: u32,
    /// Silence after it, ms (0: continuous).
    pub off_ms: u32,
}

impl ToneSpec {
    /// Ringback as in China (GB 3380): 450 Hz, 1 s on, 4 s off.
    pub fn ringback_cn() -> ToneSpec {
        ToneSpec { freqs: vec![450.0], on_ms: 1000, off_ms: 4000 }
    }

    /// Parse `"450@1000/4000"` or `"440+480@2000/4000"` (frequencies @ on/off).
    pub fn parse(s: &str) -> Option<ToneSpec> {
        let (f, c) = s.split_once('@')?;
        let freqs: Vec<f64> = f.split('+').map(|x| x.trim().parse::<f64>().ok().filter(|v| *v > 0.0 && *v < 4000.0)).collect::<Option<_>>()?;
        let (on, off) = c.split_once('/')?;
        let (on_ms, off_ms) = (on.trim().parse().ok()?, off.trim().parse().ok()?);
        (!freqs.is_empty() && freqs.len() <= 4 && on_ms > 0).then_some(ToneSpec { freqs, on_ms, off_ms })
    }
}

/// Generates the packets of one tone stream.
pub struct ToneGen {
    spec: ToneSpec,
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    sample: u64,
}

impl ToneGen {
    /// A stream in payload type 0 (μ-law) or 8 (A-law); `None` otherwise.
    pub fn new(spec: ToneSpec, payload_type: u8, ssrc: u32, first_seq: u16) -> Option<ToneGen> {
        matches!(payload_type, 0 | 8).then_some(ToneGen { spec, payload_type, ssrc, seq: first_seq, sample: 0 })
    }

    /// The next 20 ms packet.
    pub fn next_packet(&mut self) -> Vec<u8> {
        let period = u64::from(self.spec.on_ms + self.spec.off_ms) * 8;
        let on = u64::from(self.spec.on_ms) * 8;
        let amp = 8000.0 / self.spec.freqs.len() as f64;
        let payload: Vec<u8> = (0..160u64)
            .map(|k| {
                let n = self.sample + k;
                let sounding = self.spec.off_ms == 0 || n % period < on;
                let v = if sounding {
                    let t = n as f64 / 8000.0;
                    self.spec.freqs.iter().map(|f| amp * (2.0 * std::f64::consts::PI * f * t).sin()).sum::<f64>()
                } else {
                    0.0
                };
                let v = v.clamp(-32768.0, 32767.0) as i16;
                if self.payload_type == 8 {
                    g711::linear_to_alaw(v)
                } else {
                    g711::linear_to_ulaw(v)
                }
            })
            .collect();
        let p = rtp::build(self.payload_type, self.sample == 0, self.seq, self.sample as u32, self.ssrc, &payload);
        self.seq = self.seq.wrapping_add(1);
        self.sample += 160;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadence_continuity_and_content() {
        let mut g = ToneGen::new(ToneSpec::ringback_cn(), 8, 42, 100).expect("alaw");
        let pkts: Vec<Vec<u8>> = (0..250).map(|_| g.next_packet()).collect(); // 5 s
        let parsed: Vec<_> = pkts.iter().map(|p| rtp::parse(p).expect("rtp")).collect();
        assert!(parsed[0].marker && !parsed[1].marker);
        for (i, p) in parsed.iter().enumerate() {
            assert_eq!((p.payload_type, p.ssrc, p.seq, p.timestamp), (8, 42, 100 + i as u16, 160 * i as u32));
        }
        // 1 s of tone (packets 0..50), then 4 s of A-law silence (0xd5).
        assert!(parsed[10].payload.iter().any(|&b| b != 0xd5));
        assert!(parsed[60..250].iter().all(|p| p.payload.iter().all(|&b| b == 0xd5)));
        assert!(ToneGen::new(ToneSpec::ringback_cn(), 101, 1, 1).is_none());
    }

    #[test]
    fn parse_specs() {
        assert_eq!(ToneSpec::parse("440+480@2000/4000"), Some(ToneSpec { freqs: vec![440.0, 480.0], on_ms: 2000, off_ms: 4000 }));
        assert_eq!(ToneSpec::parse("450@1000/4000"), Some(ToneSpec::ringback_cn()));
        for bad in ["", "450", "x@1/1", "450@0/1", "450@1", "9000@1/1"] {
            assert_eq!(ToneSpec::parse(bad), None, "{bad}");
        }
    }
}
