//! G.722 against another implementation, bit for bit (ffmpeg's encoder
//! and decoder, files made by `data/g722/make.sh`), and the 8 kHz path
//! the transcoder and recorder use.

use media::g722::{Decoder, Encoder};
use proptest::prelude::*;
use testkit::audio::power;

fn samples(bytes: &[u8]) -> Vec<i16> {
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

const INPUT: &[u8] = include_bytes!("data/g722/input.s16");
const FFMPEG_CODED: &[u8] = include_bytes!("data/g722/ffmpeg.g722");
const FFMPEG_DECODED: &[u8] = include_bytes!("data/g722/ffmpeg_decoded.s16");

/// Index of the first difference, for a readable failure.
fn first_difference<T: PartialEq>(a: &[T], b: &[T]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[test]
fn the_encoder_matches_ffmpegs_bit_for_bit() {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    // In uneven (even-length) pieces: the state carries across calls.
    for piece in samples(INPUT).chunks(322) {
        enc.encode(piece, &mut out);
    }
    assert_eq!(out.len(), FFMPEG_CODED.len());
    assert_eq!(first_difference(&out, FFMPEG_CODED), None, "codes differ");
}

#[test]
fn the_decoder_matches_ffmpegs_bit_for_bit() {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    for piece in FFMPEG_CODED.chunks(161) {
        dec.decode(piece, &mut out);
    }
    let want = samples(FFMPEG_DECODED);
    assert_eq!(out.len(), want.len());
    assert_eq!(first_difference(&out, &want), None, "samples differ");
}

fn tone(freq: f64, rate: f64, n: usize, amp: f64) -> Vec<i16> {
    (0..n).map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as i16).collect()
}


/// Wideband: a 6 kHz tone (higher band) and a 500 Hz one (lower band)
/// come back through the full codec.
#[test]
fn both_bands_survive_a_round_trip() {
    for freq in [500.0, 6000.0] {
        let x = tone(freq, 16000.0, 8000, 10000.0);
        let mut coded = Vec::new();
        Encoder::new().encode(&x, &mut coded);
        assert_eq!(coded.len(), 4000, "one byte per two samples");
        let mut y = Vec::new();
        Decoder::new().decode(&coded, &mut y);
        let tail = &y[1000..];
        let other = if freq < 1000.0 { 6000.0 } else { 500.0 };
        assert!(power(tail, freq, 16000.0) > 1000.0 * power(tail, other, 16000.0).max(1e-3), "{freq} Hz");
    }
}

/// The 8 kHz path: encoded from 8 kHz audio, decoded by a full 16 kHz
/// decoder (as a G.722 phone hears it) and by the 8 kHz one.
#[test]
fn the_8_khz_path_carries_narrowband_audio_both_ways() {
    let x = tone(1000.0, 8000.0, 4000, 10000.0);
    let mut coded = Vec::new();
    Encoder::new().encode_8k(&x, &mut coded);
    assert_eq!(coded.len(), 4000, "one byte per 8 kHz sample");
    let mut wide = Vec::new();
    Decoder::new().decode(&coded, &mut wide);
    assert!(power(&wide[2000..], 1000.0, 16000.0) > 1000.0 * power(&wide[2000..], 3000.0, 16000.0).max(1e-3));
    let mut narrow = Vec::new();
    Decoder::new().decode_8k(&coded, &mut narrow);
    assert_eq!(narrow.len(), 4000);
    let p = power(&narrow[1000..], 1000.0, 8000.0);
    // Level kept within about 3 dB (amplitude 10,000: power 2.5e7 by this measure).
    assert!(p > 1.2e7 && p < 5e7, "level {p}");
    // A wideband phone's 1 kHz, decoded at 8 kHz.
    let mut coded = Vec::new();
    Encoder::new().encode(&tone(1000.0, 16000.0, 8000, 10000.0), &mut coded);
    let mut narrow = Vec::new();
    Decoder::new().decode_8k(&coded, &mut narrow);
    assert!(power(&narrow[1000..], 1000.0, 8000.0) > 1e7);
}

proptest! {
    /// Any bytes decode (two samples each) and any samples encode, with
    /// no panic and no overflow, whatever the state reaches.
    #[test]
    fn any_input_is_coded_without_failing(bytes in proptest::collection::vec(any::<u8>(), 0..2000), pcm in proptest::collection::vec(any::<i16>(), 0..2000)) {
        let mut out = Vec::new();
        Decoder::new().decode(&bytes, &mut out);
        prop_assert_eq!(out.len(), bytes.len() * 2);
        let mut narrow = Vec::new();
        Decoder::new().decode_8k(&bytes, &mut narrow);
        prop_assert_eq!(narrow.len(), bytes.len());
        let mut coded = Vec::new();
        Encoder::new().encode(&pcm, &mut coded);
        prop_assert_eq!(coded.len(), pcm.len() / 2);
        let mut coded = Vec::new();
        Encoder::new().encode_8k(&pcm, &mut coded);
        prop_assert_eq!(coded.len(), pcm.len());
    }

    /// A round trip keeps any speech-band tone at any level (within 6 dB):
    /// the decoder's predictors track the encoder's.
    #[test]
    fn a_round_trip_keeps_a_tone(freq in 200.0f64..3400.0, amp in 1000.0f64..20000.0) {
        let x = tone(freq, 16000.0, 4000, amp);
        let mut coded = Vec::new();
        Encoder::new().encode(&x, &mut coded);
        let mut y = Vec::new();
        Decoder::new().decode(&coded, &mut y);
        let tail = &y[1000..];
        prop_assert!(power(tail, freq, 16000.0) > 0.25 * power(&x[1000..], freq, 16000.0));
    }
}
