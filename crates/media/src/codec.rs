//! Voice codecs the media engine decodes and encodes when two legs share
//! none: G.711 (both laws, our own tables), G.722 (ours, worked through
//! its lower sub-band) and Opus (RFC 7587, libopus built statically by the
//! `opus` crate).
//!
//! Audio between a decoder and an encoder is 16-bit mono PCM at 8 kHz, the
//! rate of G.711: libopus decodes and encodes at 8 kHz natively, and
//! G.722's lower sub-band is 8 kHz audio, so no call needs a resampler.

use crate::{g711, g722};

/// The rate of the PCM between decoder and encoder.
pub const PCM_RATE: u32 = 8000;

/// A codec the engine can transcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 μ-law (`PCMU/8000`).
    Pcmu,
    /// G.711 A-law (`PCMA/8000`).
    Pcma,
    /// Opus (`opus/48000/2`, RFC 7587; decoded to mono).
    Opus,
    /// G.722 (`G722/8000`: an 8 kHz RTP clock for 16 kHz audio, RFC 3551
    /// §4.5.2), worked at 8 kHz through its lower sub-band.
    G722,
}

impl Codec {
    /// The codec of an `a=rtpmap` encoding name and clock rate, if we
    /// transcode it (names compare without case, RFC 4855 §3).
    pub fn from_rtpmap(name: &str, clock_rate: u32) -> Option<Codec> {
        match clock_rate {
            8000 if name.eq_ignore_ascii_case("PCMU") => Some(Codec::Pcmu),
            8000 if name.eq_ignore_ascii_case("PCMA") => Some(Codec::Pcma),
            48000 if name.eq_ignore_ascii_case("opus") => Some(Codec::Opus),
            8000 if name.eq_ignore_ascii_case("G722") => Some(Codec::G722),
            _ => None,
        }
    }

    /// The RTP clock rate (Opus: always 48 kHz, RFC 7587 §4.1).
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => 8000,
            Codec::Opus => 48000,
        }
    }

    /// The encoding name as written in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Opus => "opus",
            Codec::G722 => "G722",
        }
    }

    /// Packet durations (ms) this codec can carry in one frame: any
    /// multiple of 10 ms for G.711 and G.722; 10, 20, 40 or 60 for Opus.
    pub fn supports_ptime(self, ms: u32) -> bool {
        match self {
            Codec::Pcmu | Codec::Pcma | Codec::G722 => matches!(ms, 10 | 20 | 30 | 40 | 50 | 60),
            Codec::Opus => matches!(ms, 10 | 20 | 40 | 60),
        }
    }
}

/// Why a codec could not be set up or used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError(pub String);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

impl From<opus::Error> for CodecError {
    fn from(e: opus::Error) -> CodecError {
        CodecError(format!("opus: {e}"))
    }
}

/// Decodes one codec's payloads to 8 kHz PCM.
pub enum Decoder {
    /// μ-law.
    Pcmu,
    /// A-law.
    Pcma,
    /// libopus, mono, at this rate: 8 kHz, or 16 kHz ([`Decoder::with_rate`]).
    Opus(Box<opus::Decoder>, u32),
    /// G.722's lower band (8 kHz).
    G722(Box<g722::Decoder>),
    /// G.722 whole (16 kHz: [`Decoder::with_rate`]).
    G722Wideband(Box<g722::Decoder>),
}

/// The longest frame libopus may return: 120 ms at 8 kHz.
const OPUS_MAX_SAMPLES: usize = 960;

impl Decoder {
    /// A decoder for `codec`.
    pub fn new(codec: Codec) -> Result<Decoder, CodecError> {
        Ok(match codec {
            Codec::Pcmu => Decoder::Pcmu,
            Codec::Pcma => Decoder::Pcma,
            Codec::Opus => Decoder::Opus(Box::new(opus::Decoder::new(PCM_RATE, opus::Channels::Mono)?), PCM_RATE),
            Codec::G722 => Decoder::G722(Box::default()),
        })
    }

    /// A decoder for `codec` giving PCM at `rate` where the codec carries
    /// it: 16000 for Opus and G.722 (wideband recordings); G.711 stays at
    /// 8 kHz, as does any other rate. See [`Decoder::rate`].
    pub fn with_rate(codec: Codec, rate: u32) -> Result<Decoder, CodecError> {
        Ok(match (codec, rate) {
            (Codec::Opus, 16000) => Decoder::Opus(Box::new(opus::Decoder::new(16000, opus::Channels::Mono)?), 16000),
            (Codec::G722, 16000) => Decoder::G722Wideband(Box::default()),
            _ => Decoder::new(codec)?,
        })
    }

    /// The rate of the PCM this decoder gives.
    pub fn rate(&self) -> u32 {
        match self {
            Decoder::Opus(_, rate) => *rate,
            Decoder::G722Wideband(_) => 16000,
            _ => PCM_RATE,
        }
    }

    /// How long `payload` plays, in the codec's RTP clock units; `None`
    /// for a payload that cannot be decoded.
    pub fn duration(&self, payload: &[u8]) -> Option<u32> {
        match self {
            // One byte per 8 kHz clock tick (G.722: two 16 kHz samples).
            Decoder::Pcmu | Decoder::Pcma | Decoder::G722(_) | Decoder::G722Wideband(_) => u32::try_from(payload.len()).ok().filter(|n| *n > 0),
            Decoder::Opus(..) => {
                let n = opus::packet::get_nb_samples(payload, 48000).ok()?;
                u32::try_from(n).ok().filter(|n| *n > 0 && *n <= 5760)
            }
        }
    }

    /// Decode `payload`, appending its samples to `out`. A payload the
    /// codec rejects adds nothing (the caller conceals it as lost).
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> bool {
        match self {
            Decoder::Pcmu => {
                out.extend(payload.iter().map(|b| g711::ulaw_to_linear(*b)));
                true
            }
            Decoder::Pcma => {
                out.extend(payload.iter().map(|b| g711::alaw_to_linear(*b)));
                true
            }
            // The longest frame: 120 ms at the decoder's rate.
            Decoder::Opus(d, rate) => opus_into(d, payload, OPUS_MAX_SAMPLES * (*rate / PCM_RATE) as usize, false, out),
            Decoder::G722(d) => {
                d.decode_8k(payload, out);
                true
            }
            Decoder::G722Wideband(d) => {
                d.decode(payload, out);
                true
            }
        }
    }

    /// Conceal `samples` lost samples (8 kHz), appending them to `out`.
    /// Opus uses its own concealment, or the in-band FEC of `next` (the
    /// packet after the lost one) when there is one (RFC 6716 §2.1.7);
    /// G.711 repeats the last `history` with a fading gain (in the spirit
    /// of G.711 Appendix I, without its pitch search).
    pub fn conceal(&mut self, samples: usize, next: Option<&[u8]>, history: &[i16], run: u32, out: &mut Vec<i16>) {
        match self {
            Decoder::Opus(d, _) => {
                let done = match next {
                    Some(p) => opus_into(d, p, samples, true, out),
                    None => false,
                };
                if !done && !opus_into(d, &[], samples, false, out) {
                    out.resize(out.len() + samples, 0);
                }
            }
            Decoder::Pcmu | Decoder::Pcma | Decoder::G722(_) | Decoder::G722Wideband(_) => {
                // Full level for the first lost frame, then 20% less per
                // frame, silence after five.
                let gain = 1.0 - 0.2 * run.min(5) as f32;
                if history.is_empty() || gain <= 0.0 {
                    out.resize(out.len() + samples, 0);
                    return;
                }
                let start = history.len().saturating_sub(samples.min(history.len()));
                let tail = &history[start..];
                out.extend((0..samples).map(|i| (f32::from(tail[i % tail.len()]) * gain) as i16));
            }
        }
    }
}

fn opus_into(d: &mut opus::Decoder, payload: &[u8], max: usize, fec: bool, out: &mut Vec<i16>) -> bool {
    let at = out.len();
    out.resize(at + max, 0);
    match d.decode(payload, &mut out[at..], fec) {
        Ok(n) => {
            out.truncate(at + n);
            true
        }
        Err(_) => {
            out.truncate(at);
            false
        }
    }
}

/// Encodes 8 kHz PCM frames to one codec's payloads.
pub enum Encoder {
    /// μ-law.
    Pcmu,
    /// A-law.
    Pcma,
    /// libopus at 8 kHz, mono, VoIP mode.
    Opus(Box<opus::Encoder>),
    /// G.722 from 8 kHz audio (its lower band).
    G722(Box<g722::Encoder>),
}

impl Encoder {
    /// An encoder for `codec` (Opus at libopus's default complexity and
    /// bitrate, with FEC).
    pub fn new(codec: Codec) -> Result<Encoder, CodecError> {
        Encoder::with_options(codec, 10, true, 0)
    }

    /// An encoder for `codec`; Opus at `complexity` (0–10: CPU against
    /// quality; the encoder is most of a transcoded call's cost), with
    /// in-band FEC when `fec`, at `bitrate` bits per second (clamped to
    /// Opus's 6,000–510,000; 0: libopus's choice).
    pub fn with_options(codec: Codec, complexity: u8, fec: bool, bitrate: u32) -> Result<Encoder, CodecError> {
        Ok(match codec {
            Codec::Pcmu => Encoder::Pcmu,
            Codec::Pcma => Encoder::Pcma,
            Codec::Opus => {
                let mut e = opus::Encoder::new(PCM_RATE, opus::Channels::Mono, opus::Application::Voip)?;
                e.set_complexity(i32::from(complexity.min(10)))?;
                if bitrate > 0 {
                    e.set_bitrate(opus::Bitrate::Bits(bitrate.clamp(6_000, 510_000) as i32))?;
                }
                if fec {
                    // Redundancy the far end can use when a packet is lost.
                    e.set_inband_fec(true)?;
                    e.set_packet_loss_perc(5)?;
                }
                Encoder::Opus(Box::new(e))
            }
            Codec::G722 => Encoder::G722(Box::default()),
        })
    }

    /// Encode one frame of PCM (a duration the codec supports), appending
    /// the payload to `out`.
    pub fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        match self {
            Encoder::Pcmu => out.extend(pcm.iter().map(|s| g711::linear_to_ulaw(*s))),
            Encoder::Pcma => out.extend(pcm.iter().map(|s| g711::linear_to_alaw(*s))),
            Encoder::G722(e) => e.encode_8k(pcm, out),
            Encoder::Opus(e) => {
                let at = out.len();
                out.resize(at + 1275, 0);
                match e.encode(pcm, &mut out[at..]) {
                    Ok(n) => out.truncate(at + n),
                    Err(err) => {
                        out.truncate(at);
                        return Err(err.into());
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<i16> {
        (0..n).map(|i| ((i as f32 * freq * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect()
    }

    #[test]
    fn names_and_rates() {
        assert_eq!(Codec::from_rtpmap("opus", 48000), Some(Codec::Opus));
        assert_eq!(Codec::from_rtpmap("pcmu", 8000), Some(Codec::Pcmu));
        assert_eq!(Codec::from_rtpmap("PCMA", 16000), None);
        assert_eq!(Codec::from_rtpmap("G722", 8000), Some(Codec::G722));
        assert_eq!(Codec::from_rtpmap("G722", 16000), None);
        assert!(Codec::Opus.supports_ptime(40) && !Codec::Opus.supports_ptime(30));
        assert!(Codec::Pcmu.supports_ptime(30) && !Codec::Pcmu.supports_ptime(25));
    }

    #[test]
    fn opus_encodes_at_the_bitrate_asked() {
        let pcm = testkit::audio::noise(8000 * 2, 1);
        let rate = |bitrate: u32| {
            let mut enc = Encoder::with_options(Codec::Opus, 1, false, bitrate).expect("encoder");
            let mut bytes = 0;
            for frame in pcm.chunks(160) {
                let mut p = Vec::new();
                enc.encode(frame, &mut p).expect("encode");
                bytes += p.len();
            }
            bytes * 8 / 2
        };
        let (low, high) = (rate(12_000), rate(24_000));
        assert!((9_000..=13_000).contains(&low), "12 kbit/s asked, {low} sent");
        assert!((20_000..=25_000).contains(&high), "24 kbit/s asked, {high} sent");
    }

    #[test]
    fn opus_round_trip_keeps_length_and_tone() {
        let mut enc = Encoder::new(Codec::Opus).expect("encoder");
        let mut dec = Decoder::new(Codec::Opus).expect("decoder");
        let pcm = tone(440.0, 160 * 50);
        let mut out = Vec::new();
        for frame in pcm.chunks(160) {
            let mut p = Vec::new();
            enc.encode(frame, &mut p).expect("encode");
            assert_eq!(dec.duration(&p), Some(960), "20 ms in the 48 kHz RTP clock");
            assert!(dec.decode(&p, &mut out));
        }
        assert_eq!(out.len(), pcm.len());
        // After the codec's start-up, the energy is that of the input (within 3 dB).
        let e = |x: &[i16]| x.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / x.len() as f64;
        let ratio = e(&out[1600..]) / e(&pcm[1600..]);
        assert!((0.5..2.0).contains(&ratio), "energy ratio {ratio}");
    }

    #[test]
    fn concealment_fills_the_frame() {
        let mut dec = Decoder::new(Codec::Pcmu).expect("pcmu");
        let hist = tone(440.0, 160);
        let mut out = Vec::new();
        dec.conceal(160, None, &hist, 0, &mut out);
        assert_eq!(out, hist, "first lost frame: the last one again");
        out.clear();
        dec.conceal(160, None, &hist, 5, &mut out);
        assert!(out.iter().all(|s| *s == 0), "silence after five");
        let mut op = Decoder::new(Codec::Opus).expect("opus");
        out.clear();
        op.conceal(160, None, &[], 0, &mut out);
        assert_eq!(out.len(), 160);
    }
}
