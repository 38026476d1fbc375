//! Audio prompts: any WAV, FLAC, MP3 or Ogg Vorbis file decoded once
//! (symphonia) into 8 kHz mono 16-bit samples for [`crate::player`].
//!
//! Channels are mixed down; other rates are resampled with a windowed-sinc
//! low-pass (cut-off just under 4 kHz) and interpolation, so music recorded
//! at 44.1 kHz does not alias into the telephone band.

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::DecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// The rate prompts are played at.
pub const RATE: u32 = 8000;

/// At most this many seconds of audio are kept (a bound on memory).
pub const MAX_SECONDS: u32 = 600;

/// Why a prompt could not be decoded.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptError {
    /// Not a format we read, or corrupt.
    Format(String),
    /// No audio track.
    NoAudio,
    /// Longer than [`MAX_SECONDS`].
    TooLong,
}

impl std::fmt::Display for PromptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PromptError::Format(e) => write!(f, "unreadable audio: {e}"),
            PromptError::NoAudio => f.write_str("no audio track"),
            PromptError::TooLong => write!(f, "longer than {MAX_SECONDS} s"),
        }
    }
}

impl std::error::Error for PromptError {}

/// Decode a whole audio file (`extension` helps guess the format) into
/// 8 kHz mono samples.
pub fn decode(bytes: Vec<u8>, extension: Option<&str>) -> Result<Vec<i16>, PromptError> {
    let mut hint = Hint::new();
    if let Some(e) = extension {
        hint.with_extension(e);
    }
    let mss = MediaSourceStream::new(Box::new(std::io::Cursor::new(bytes)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        .map_err(|e| PromptError::Format(e.to_string()))?;
    let mut format = probed.format;
    let track = format.default_track().ok_or(PromptError::NoAudio)?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default()).map_err(|e| PromptError::Format(e.to_string()))?;
    let mut rate = track.codec_params.sample_rate.unwrap_or(RATE);
    let mut mono: Vec<f32> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(symphonia::core::errors::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(symphonia::core::errors::Error::ResetRequired) => break,
            Err(e) => return Err(PromptError::Format(e.to_string())),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet is skipped, as players do.
            Err(symphonia::core::errors::Error::DecodeError(_)) => continue,
            Err(e) => return Err(PromptError::Format(e.to_string())),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks(channels) {
            mono.push(frame.iter().sum::<f32>() / channels as f32);
        }
        if mono.len() as u64 > u64::from(MAX_SECONDS) * u64::from(rate.max(1)) {
            return Err(PromptError::TooLong);
        }
    }
    if rate == 0 {
        return Err(PromptError::NoAudio);
    }
    let out = resample(&mono, rate, RATE);
    Ok(out.into_iter().map(|v| (v * 32767.0).clamp(-32768.0, 32767.0) as i16).collect())
}

/// Resample `x` from `from` Hz to `to` Hz: a windowed-sinc low-pass at
/// 0.45 × the lower rate, evaluated at each output instant.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() || from == 0 || to == 0 {
        return x.to_vec();
    }
    let ratio = f64::from(from) / f64::from(to);
    let cutoff = 0.45 * f64::from(from.min(to)) / f64::from(from); // cycles per input sample
    let half = (8.0 * ratio.max(1.0)).ceil() as i64; // taps each side
    let n_out = ((x.len() as f64) / ratio).floor() as usize;
    let mut out = Vec::with_capacity(n_out);
    for k in 0..n_out {
        let t = k as f64 * ratio;
        let center = t.floor() as i64;
        let (mut acc, mut norm) = (0.0f64, 0.0f64);
        for i in (center - half + 1)..=(center + half) {
            let d = t - i as f64;
            let w = 0.5 + 0.5 * (std::f64::consts::PI * d / half as f64).cos(); // Hann
            if d.abs() >= half as f64 {
                continue;
            }
            let s = if d == 0.0 { 2.0 * cutoff } else { (2.0 * std::f64::consts::PI * cutoff * d).sin() / (std::f64::consts::PI * d) };
            let c = s * w;
            norm += c;
            if let Some(v) = usize::try_from(i).ok().and_then(|i| x.get(i)) {
                acc += c * f64::from(*v);
            }
        }
        out.push(if norm.abs() > 1e-9 { (acc / norm) as f32 } else { 0.0 });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize).map(|i| (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin()) as f32).collect()
    }

    /// Power of `freq` in `x` (Goertzel), normalised by length.
    fn power(x: &[f32], rate: u32, freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for v in x {
            let s = f64::from(*v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
    }

    fn wav(samples: &[i16], rate: u32, channels: u16) -> Vec<u8> {
        let mut v = crate::wav::header(channels, rate, (samples.len() * 2) as u32).to_vec();
        for s in samples {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    #[test]
    fn resampling_keeps_the_band_and_removes_what_would_alias() {
        for from in [16000, 44100, 48000] {
            let x = tone(1000.0, from, 1.0);
            let y = resample(&x, from, 8000);
            assert!((y.len() as i64 - 8000).abs() <= 1, "{from}: {} samples", y.len());
            let p = power(&y, 8000, 1000.0);
            assert!((0.05..0.07).contains(&p), "{from}: 1 kHz kept (power {p})");
            // 6 kHz would fold to 2 kHz at 8 kHz: it must be filtered out.
            let z = resample(&tone(6000.0, from, 1.0), from, 8000);
            assert!(power(&z, 8000, 2000.0) < 0.001 * p, "{from}: alias of 6 kHz {}", power(&z, 8000, 2000.0));
        }
        let up = resample(&tone(1000.0, 8000, 0.5), 8000, 16000);
        assert!((power(&up, 16000, 1000.0) - 0.0625).abs() < 0.01);
    }

    #[test]
    fn decodes_wav_at_any_rate_and_mixes_stereo_down() {
        let mono: Vec<i16> = tone(440.0, 8000, 0.5).iter().map(|v| (v * 32767.0) as i16).collect();
        let got = decode(wav(&mono, 8000, 1), Some("wav")).expect("8 kHz wav");
        assert_eq!(got.len(), 4000);
        assert!(got.iter().zip(&mono).all(|(a, b)| (a - b).abs() <= 1), "8 kHz mono passes through");
        let st: Vec<i16> = tone(440.0, 44100, 0.5).iter().flat_map(|v| [(v * 32767.0) as i16, 0]).collect();
        let got = decode(wav(&st, 44100, 2), None).expect("44.1 kHz stereo wav");
        assert!((got.len() as i64 - 4000).abs() <= 1);
        let f: Vec<f32> = got.iter().map(|v| f32::from(*v) / 32768.0).collect();
        assert!(power(&f, 8000, 440.0) > 0.01, "the tone survives, at half amplitude (one channel silent)");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(decode(b"not audio at all".to_vec(), None), Err(PromptError::Format(_))));
        assert!(decode(Vec::new(), Some("wav")).is_err());
        let mut truncated = wav(&[1, 2, 3, 4], 8000, 1);
        truncated.truncate(30);
        assert!(decode(truncated, Some("wav")).is_err());
    }
}
