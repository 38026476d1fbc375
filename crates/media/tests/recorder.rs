//! The recorder on a virtual clock: known tones in, the stereo PCM checked
//! for channel placement, timing, silence and length.

// The virtual clock needs one real instant as its origin; time then only
// moves by the durations the tests add.
#![allow(clippy::disallowed_methods)]

use media::recorder::{Recorder, Side, RATE};
use media::{g711, rtp};
use std::time::{Duration, Instant};

/// 20 ms of a sine at `freq` starting at sample `n0`, encoded.
fn frame(freq: f64, n0: u64, alaw: bool) -> Vec<u8> {
    (0..160u64)
        .map(|k| {
            let t = (n0 + k) as f64 / f64::from(RATE);
            let s = (8000.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16;
            if alaw {
                g711::linear_to_alaw(s)
            } else {
                g711::linear_to_ulaw(s)
            }
        })
        .collect()
}

/// Power of `freq` in `x` (8 kHz).
fn power(x: &[i16], freq: f64) -> f64 {
    testkit::audio::power(x, freq, f64::from(RATE))
}

fn split(pcm: &[u8]) -> (Vec<i16>, Vec<i16>) {
    let mut l = Vec::new();
    let mut r = Vec::new();
    for f in pcm.chunks_exact(4) {
        l.push(i16::from_le_bytes([f[0], f[1]]));
        r.push(i16::from_le_bytes([f[2], f[3]]));
    }
    (l, r)
}

/// A xorshift generator seeded by `seed`: the tests' packets and losses.
fn xorshift(seed: u32) -> impl FnMut() -> u32 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    }
}

/// The 16-bit stereo recording `out` holds exactly `want`'s channels
/// (left, right), sample for sample.
fn same_channels(out: &[u8], want: &[Vec<i16>; 2]) -> Result<(), proptest::test_runner::TestCaseError> {
    let (l, r) = split(out);
    proptest::prop_assert_eq!(l.len(), want[0].len());
    proptest::prop_assert!(l == want[0], "left channel differs first at sample {:?}", l.iter().zip(&want[0]).position(|(a, b)| a != b));
    proptest::prop_assert!(r == want[1], "right channel differs first at sample {:?}", r.iter().zip(&want[1]).position(|(a, b)| a != b));
    Ok(())
}

/// Seconds `a..b` of a channel.
fn span(x: &[i16], a: f64, b: f64) -> &[i16] {
    let (a, b) = ((a * f64::from(RATE)) as usize, ((b * f64::from(RATE)) as usize).min(x.len()));
    &x[a.min(b)..b]
}

#[test]
fn two_streams_land_on_their_channels_at_the_right_time() {
    let t0 = Instant::now();
    let mut rec = Recorder::new(Duration::from_millis(200));
    let mut out = Vec::new();
    // Caller: 440 Hz μ-law from 0 s to 3 s. Callee: 1000 Hz A-law from 1 s
    // (answered late) to 3 s. Every fifth callee packet arrives 40 ms late
    // (after its successor); packet 30 of the caller is lost.
    let mut late: Option<(Instant, Vec<u8>)> = None;
    for k in 0..150u64 {
        let now = t0 + Duration::from_millis(20 * k);
        if k != 30 {
            rec.push(now, Side::Caller, &rtp::build(0, k == 0, k as u16, 1000 + 160 * k as u32, 0xaaaa, &frame(440.0, 160 * k, false)));
        }
        if k >= 50 {
            let j = k - 50;
            let p = rtp::build(8, j == 0, j as u16, 555 + 160 * j as u32, 0xbbbb, &frame(1000.0, 160 * j, true));
            if j % 5 == 1 {
                late = Some((now + Duration::from_millis(40), p));
            } else {
                rec.push(now, Side::Callee, &p);
            }
        }
        if let Some((t, p)) = late.take() {
            if t <= now {
                rec.push(now, Side::Callee, &p);
            } else {
                late = Some((t, p));
            }
        }
        rec.advance(now);
        out.extend(rec.take_output());
    }
    if let Some((t, p)) = late.take() {
        rec.push(t, Side::Callee, &p);
    }
    rec.finish(t0 + Duration::from_millis(3000));
    out.extend(rec.take_output());
    let (l, r) = split(&out);
    assert_eq!(l.len(), 24_000, "3 s at 8 kHz, no more, no less");
    // Left: 440 Hz throughout (but the lost 20 ms is silence).
    assert!(power(span(&l, 0.0, 0.55), 440.0) > 100.0 * power(span(&l, 0.0, 0.55), 1000.0));
    assert!(span(&l, 0.601, 0.619).iter().all(|&s| s == 0), "lost packet = silence of its length");
    assert!(power(span(&l, 0.7, 3.0), 440.0) > 1000.0);
    // Right: silent before the answer at 1 s, 1000 Hz after, reordered
    // packets in place (no gap anywhere after 1 s).
    assert!(span(&r, 0.0, 0.99).iter().all(|&s| s == 0), "nothing before the callee's stream");
    assert!(power(span(&r, 1.0, 3.0), 1000.0) > 100.0 * power(span(&r, 1.0, 3.0), 440.0));
    let longest_zero_run = span(&r, 1.01, 2.99).split(|&s| s != 0).map(<[i16]>::len).max().unwrap_or(0);
    assert!(longest_zero_run < 4, "reordered packets were placed by timestamp (zero run {longest_zero_run})");
}

#[test]
fn silence_without_packets_keeps_its_length() {
    let t0 = Instant::now();
    let mut rec = Recorder::new(Duration::from_millis(100));
    // 1 s of tone, 2 s with no packets at all (VAD), 1 s of tone: the
    // timestamps say so and the arrival times agree.
    for k in (0..50u64).chain(150..200) {
        let now = t0 + Duration::from_millis(20 * k);
        rec.push(now, Side::Caller, &rtp::build(0, false, k as u16, 160 * k as u32, 7, &frame(440.0, 160 * k, false)));
        rec.advance(now);
    }
    rec.finish(t0 + Duration::from_millis(4000));
    let (l, r) = split(&rec.take_output());
    assert_eq!(l.len(), 32_000);
    assert!(span(&l, 1.01, 2.99).iter().all(|&s| s == 0));
    assert!(power(span(&l, 3.0, 4.0), 440.0) > 1000.0);
    assert!(r.iter().all(|&s| s == 0), "the other channel is silent");
}

#[test]
fn a_new_ssrc_is_anchored_at_its_arrival() {
    let t0 = Instant::now();
    let mut rec = Recorder::new(Duration::from_millis(100));
    for k in 0..25u64 {
        let now = t0 + Duration::from_millis(20 * k);
        rec.push(now, Side::Callee, &rtp::build(8, false, k as u16, 160 * k as u32, 1, &frame(1000.0, 160 * k, true)));
    }
    // After a re-INVITE: new SSRC, unrelated timestamps, from 1.5 s on.
    for k in 75..100u64 {
        let now = t0 + Duration::from_millis(20 * k);
        rec.push(now, Side::Callee, &rtp::build(8, false, k as u16, 0x7000_0000 + 160 * k as u32, 2, &frame(1000.0, 160 * k, true)));
    }
    rec.finish(t0 + Duration::from_millis(2000));
    let (_, r) = split(&rec.take_output());
    assert_eq!(r.len(), 16_000);
    assert!(span(&r, 0.51, 1.49).iter().all(|&s| s == 0));
    assert!(power(span(&r, 1.5, 2.0), 1000.0) > 1000.0);
}

#[test]
fn garbage_and_other_payloads_are_ignored() {
    let t0 = Instant::now();
    let mut rec = Recorder::default();
    rec.push(t0, Side::Caller, b"not rtp at all");
    rec.push(t0, Side::Caller, &rtp::build(101, true, 1, 0, 3, &[5, 0, 0, 160])); // RFC 4733 event
    rec.push(t0, Side::Callee, &[]);
    rec.finish(t0 + Duration::from_millis(500));
    let (l, r) = split(&rec.take_output());
    assert_eq!(l.len(), 4000, "time still passes");
    assert!(l.iter().chain(&r).all(|&s| s == 0));
}

/// A sender that starts its timestamps over on the same SSRC (a carrier's
/// announcement, then the answered call, from one RTP stack): the new run
/// is placed at its arrival, wherever that is relative to the old one's
/// timeline (here about 2 s later, the recorder's limit for trusting
/// timestamps), and the old run's audio stays as it was.
#[test]
fn a_sender_restarting_its_timestamps_is_anchored_anew() {
    for gap_ms in [1990u64, 2000, 2010, 2020, 2500] {
        let t0 = Instant::now();
        let mut rec = Recorder::new(Duration::from_millis(200));
        for k in 0..100u64 {
            let now = t0 + Duration::from_millis(20 * k);
            rec.push(now, Side::Callee, &rtp::build(0, false, k as u16, 160 * k as u32, 0x1234, &frame(1200.0, 160 * k, false)));
        }
        for k in 0..100u64 {
            let now = t0 + Duration::from_millis(gap_ms + 20 * k);
            rec.push(now, Side::Callee, &rtp::build(0, false, k as u16, 160 * k as u32, 0x1234, &frame(700.0, 160 * k, false)));
        }
        rec.finish(t0 + Duration::from_millis(gap_ms + 2000));
        let (_, r) = split(&rec.take_output());
        let first = span(&r, 0.0, 1.9);
        assert!(power(first, 1200.0) > 1000.0 * power(first, 700.0).max(1e-9), "gap {gap_ms} ms: the first run is 1200 Hz only");
        let later = span(&r, gap_ms as f64 / 1000.0 + 0.1, gap_ms as f64 / 1000.0 + 1.9);
        assert!(power(later, 700.0) > 1000.0 * power(later, 1200.0).max(1e-9), "gap {gap_ms} ms: the second run is 700 Hz, at its arrival");
    }
}

/// Decoded audio of a codec with a 48 kHz RTP clock (Opus): placed by its
/// timestamps scaled to 8 kHz, a packet arriving late still in its place,
/// a lost one silence, and the timestamps wrapping through 2^32 in between.
#[test]
fn decoded_audio_of_a_48_khz_stream_is_placed_by_its_scaled_timestamps() {
    let t0 = Instant::now();
    let mut rec = Recorder::new(Duration::from_millis(200));
    let pcm = |k: u64| -> Vec<i16> { (0..160u64).map(|n| g711::ulaw_to_linear(frame(600.0, 160 * k, false)[n as usize])).collect() };
    // 2 s of 20 ms frames: 960 ticks each at 48 kHz, starting just before the wrap.
    let ts0 = u32::MAX - 960 * 20;
    let mut held = None;
    for k in 0..100u64 {
        let now = t0 + Duration::from_millis(20 * k);
        let ts = ts0.wrapping_add(960 * k as u32);
        match k {
            40 => {}                              // lost
            60 => held = Some((ts, pcm(k))),      // arrives 60 ms late
            _ => rec.push_pcm(now, Side::Callee, 0x0b, ts, 48_000, &pcm(k), 8000),
        }
        if k == 63 {
            if let Some((ts, p)) = held.take() {
                rec.push_pcm(now, Side::Callee, 0x0b, ts, 48_000, &p, 8000);
            }
        }
        rec.advance(now);
    }
    rec.finish(t0 + Duration::from_millis(2000));
    let (l, r) = split(&rec.take_output());
    assert_eq!(r.len(), 16_000, "2 s at 8 kHz");
    assert!(l.iter().all(|&s| s == 0), "the caller's channel is silent");
    assert!(span(&r, 0.801, 0.819).iter().all(|&s| s == 0), "the lost frame is silence of its length");
    let after_loss = span(&r, 0.83, 1.99);
    let longest_zero_run = after_loss.split(|&s| s != 0).map(<[i16]>::len).max().unwrap_or(0);
    assert!(longest_zero_run < 4, "the late frame is in its place (zero run {longest_zero_run})");
    assert!(power(span(&r, 0.0, 0.79), 600.0) > 1000.0 && power(after_loss, 600.0) > 1000.0, "600 Hz across the wrap");
}

/// At 16 kHz: a G.711 caller is interpolated up (its 1 kHz, with no
/// image worth hearing at 7 kHz), and a wideband callee's decoded 16 kHz
/// audio keeps its 6 kHz; both placed by their timestamps (the callee's
/// on an 8 kHz clock, as G.722's RTP clock runs), the file 16,000 frames
/// a second.
#[test]
fn a_16_khz_recording_keeps_wideband_audio_and_interpolates_g711() {
    let t0 = Instant::now();
    let mut rec = Recorder::with_rate(Duration::from_millis(200), 16_000);
    assert_eq!(rec.rate(), 16_000);
    let wide = |k: u64| -> Vec<i16> { (0..320u64).map(|n| (8000.0 * (2.0 * std::f64::consts::PI * 6000.0 * (320 * k + n) as f64 / 16000.0).sin()) as i16).collect() };
    for k in 0..100u64 {
        let now = t0 + Duration::from_millis(20 * k);
        rec.push(now, Side::Caller, &rtp::build(0, false, k as u16, 160 * k as u32, 1, &frame(1000.0, 160 * k, false)));
        rec.push_pcm(now, Side::Callee, 2, 160 * k as u32, 8000, &wide(k), 16_000);
        rec.advance(now);
    }
    rec.finish(t0 + Duration::from_millis(2000));
    let (l, r) = split(&rec.take_output());
    assert_eq!(l.len(), 32_000, "2 s at 16 kHz");
    let p = |x: &[i16], f: f64| testkit::audio::power(x, f, 16_000.0);
    let (l, r) = (&l[4000..28000], &r[4000..28000]);
    assert!(p(l, 1000.0) > 1000.0 * p(l, 7000.0).max(1e-3), "1 kHz left, its image at 7 kHz 30 dB down at least");
    assert!(p(r, 6000.0) > 1000.0 * p(r, 1000.0).max(1e-3), "6 kHz right");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Lost packets on either side and a hold (no packets from either,
    /// the clock ticking on), seconds long (the recorder drops its
    /// released front and reuses its buffers many times over): every
    /// received sample is in its place on its channel, every lost one is
    /// silence, never audio left over from earlier in the buffers, and
    /// the length is the call's, whether the output is copied out or
    /// swapped for a buffer still holding other bytes.
    #[test]
    fn every_sample_in_place_and_every_gap_silent(packets in 150usize..400, seed: u32, loss_l in 0u32..40, loss_r in 0u32..40, offset_ms in 0u64..20, pull_every in 1usize..60, hold_at in 1usize..140, hold_len in 0usize..60) {
        let table = g711::table(0).expect("PCMU");
        let mut next = xorshift(seed);
        let mut rec = Recorder::new(Duration::from_millis(200));
        let t0 = Instant::now();
        let mut want = [vec![0i16; packets * 160], vec![0i16; packets * 160]];
        let mut out = Vec::new();
        for k in 0..packets {
            for (i, side, loss) in [(0, Side::Caller, loss_l), (1, Side::Callee, loss_r)] {
                // Both sides' first packet arrives (it anchors the side);
                // the caller's last too (the call's end).
                let held = (hold_at..hold_at + hold_len).contains(&k);
                let keep = k == 0 || (i == 0 && k == packets - 1) || (!held && next() % 100 >= loss);
                if !keep {
                    continue;
                }
                let payload: Vec<u8> = (0..160).map(|_| next() as u8).collect();
                for (j, b) in payload.iter().enumerate() {
                    want[i][k * 160 + j] = table[usize::from(*b)];
                }
                // The callee's packets come `offset_ms` later, within the
                // same 20 ms: placed by timestamp all the same.
                let at = t0 + Duration::from_millis(20 * k as u64 + if i == 1 && k > 0 { offset_ms } else { 0 });
                rec.push(at, side, &rtp::build(0, false, k as u16, 160 * k as u32, 10 + i as u32, &payload));
            }
            rec.advance(t0 + Duration::from_millis(20 * k as u64 + 10));
            if k % pull_every == 0 {
                // Copied out, or swapped for a buffer of old bytes (as the
                // relay hands it over): the same either way.
                if next() % 2 == 0 {
                    out.extend(rec.take_output());
                } else {
                    let spare = [vec![0xa5u8; (next() % 20_000) as usize], vec![0x5au8; (next() % 20_000) as usize]];
                    rec.take_chunk(spare).write_to(&mut out);
                }
            }
        }
        rec.finish(t0 + Duration::from_millis(20 * packets as u64));
        out.extend(rec.take_output());
        same_channels(&out, &want)?;
    }
}

/// Handing the output over as chunks over reused buffers gives exactly the bytes
/// copying it out does, whatever the spare buffer held: a gap, a lost
/// packet and a side that has not started are written as silence over
/// the old bytes, never left as they were.
#[test]
fn output_taken_over_spare_buffers_is_the_copied_output() {
    let t0 = Instant::now();
    let (mut copied, mut swapped) = (Recorder::new(Duration::from_millis(60)), Recorder::new(Duration::from_millis(60)));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut spare = [vec![0xa5u8; 100_000], vec![0x5au8; 3_000]];
    for k in (0..80u64).chain(130..200) {
        let now = t0 + Duration::from_millis(20 * k);
        for rec in [&mut copied, &mut swapped] {
            if k % 7 != 3 {
                rec.push(now, Side::Caller, &rtp::build(0, false, k as u16, 160 * k as u32, 7, &frame(440.0, 160 * k, false)));
            }
            if k >= 40 {
                rec.push(now, Side::Callee, &rtp::build(8, false, k as u16, 160 * k as u32, 9, &frame(1000.0, 160 * k, true)));
            }
            rec.advance(now);
        }
        a.extend(copied.take_output());
        if k % 10 == 0 {
            // The buffer given back still holds what it carried.
            let out = swapped.take_chunk(std::mem::take(&mut spare));
            out.write_to(&mut b);
            spare = out.into_buffers();
        }
    }
    copied.finish(t0 + Duration::from_millis(4000));
    swapped.finish(t0 + Duration::from_millis(4000));
    a.extend(copied.take_output());
    swapped.take_chunk(Default::default()).write_to(&mut b);
    assert_eq!(a.len(), 4 * 8000 * 4, "4 s of stereo frames");
    assert!(a == b, "the same bytes whichever way the output is taken");
    let (l, r) = split(&b);
    assert!(span(&l, 1.7, 2.5).iter().all(|&s| s == 0), "the gap is silence");
    assert!(span(&r, 0.0, 0.75).iter().all(|&s| s == 0), "the callee before its first packet is silence");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

    /// A G.711 recording (μ-law file) of a PCMU caller and a PCMA callee,
    /// with losses, a hold and any cadence of taking the output (swapped
    /// over a spare full of old bytes): one byte a sample, and every
    /// sample the 16-bit recording of the same packets has, in μ-law: the
    /// caller's bytes as they came, the callee's converted, silence as
    /// μ-law silence.
    #[test]
    fn a_g711_recording_is_the_16_bit_recording_in_its_law(packets in 60usize..300, seed: u32, loss in 0u32..40, hold_at in 1usize..100, hold_len in 0usize..50, pull_every in 1usize..40) {
        let mut next = xorshift(seed);
        let t0 = Instant::now();
        let jitter = Duration::from_millis(200);
        let (mut pcm, mut law) = (Recorder::new(jitter), Recorder::g711(jitter, g711::Law::Mulaw));
        proptest::prop_assert_eq!((law.rate(), law.encoding(), law.encoding().sample_bytes()), (8000, media::wav::Encoding::G711(g711::Law::Mulaw), 1));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut spare = [vec![0x3cu8; 20_000], vec![0xc3u8; 7_000]];
        let mut sent = vec![Vec::new(); 2];
        for k in 0..packets {
            let now = t0 + Duration::from_millis(20 * k as u64);
            for (i, side, pt) in [(0usize, Side::Caller, 0u8), (1, Side::Callee, 8)] {
                let held = (hold_at..hold_at + hold_len).contains(&k);
                if k > 0 && (held || next() % 100 < loss) {
                    continue;
                }
                let payload: Vec<u8> = (0..160).map(|_| next() as u8).collect();
                let p = rtp::build(pt, false, k as u16, 160 * k as u32, 20 + i as u32, &payload);
                pcm.push(now, side, &p);
                law.push(now, side, &p);
                sent[i].push((k, payload));
            }
            pcm.advance(now);
            law.advance(now);
            a.extend(pcm.take_output());
            if k % pull_every == 0 {
                let out = law.take_chunk(std::mem::take(&mut spare));
                out.write_to(&mut b);
                spare = out.into_buffers();
            }
        }
        let end = t0 + Duration::from_millis(20 * packets as u64);
        pcm.finish(end);
        law.finish(end);
        a.extend(pcm.take_output());
        b.extend(law.take_output());
        let (l, r) = split(&a);
        proptest::prop_assert_eq!(b.len(), 2 * l.len(), "one byte a sample");
        for (n, f) in b.chunks_exact(2).enumerate() {
            proptest::prop_assert_eq!(g711::ulaw_to_linear(f[0]), l[n], "caller, sample {}", n);
            proptest::prop_assert_eq!(f[1], g711::linear_to_ulaw(r[n]), "callee, sample {}", n);
        }
        // The caller's bytes are the packets' own (μ-law's two zeros aside).
        for (k, payload) in &sent[0] {
            for (j, byte) in payload.iter().enumerate() {
                let got = b[2 * (k * 160 + j)];
                proptest::prop_assert!(got == *byte || g711::ulaw_to_linear(*byte) == 0 && got == 0xff);
            }
        }
    }
}

/// Decoded audio into a G.711 recording: encoded in the file's law at
/// 8 kHz, 16 kHz audio halved first; a gap before it is A-law silence.
#[test]
fn decoded_audio_goes_into_a_g711_recording_in_its_law() {
    let t0 = Instant::now();
    let mut rec = Recorder::g711(Duration::from_millis(100), g711::Law::Alaw);
    let narrow: Vec<i16> = (0..160).map(|n| (n * 97 % 2000 - 1000) as i16).collect();
    let wide: Vec<i16> = (0..320).map(|n| (n * 31 % 3000 - 1500) as i16).collect();
    rec.push_pcm(t0, Side::Caller, 1, 0, 48_000, &narrow, 8000);
    rec.push_pcm(t0, Side::Callee, 2, 0, 16_000, &wide, 16_000);
    // The caller's next frame 40 ms later by its timestamps: 20 ms of gap.
    rec.push_pcm(t0 + Duration::from_millis(40), Side::Caller, 1, 1920, 48_000, &narrow, 8000);
    rec.finish(t0 + Duration::from_millis(60));
    let out = rec.take_output();
    assert_eq!(out.len(), 2 * 480, "60 ms of stereo bytes");
    for n in 0..160 {
        assert_eq!(out[2 * n], g711::linear_to_alaw(narrow[n]));
        assert_eq!(out[2 * (n + 160)], 0xd5, "the gap is A-law silence");
        assert_eq!(out[2 * (n + 320)], g711::linear_to_alaw(narrow[n]));
        let half = ((i32::from(wide[2 * n]) + i32::from(wide[2 * n + 1])) / 2) as i16;
        assert_eq!(out[2 * n + 1], g711::linear_to_alaw(half));
        assert_eq!(out[2 * (n + 160) + 1], 0xd5, "no callee audio after its frame");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// A 16-bit recording keeps a G.711 side's bytes as they came and
    /// decodes them only when the file is written; a side that changes
    /// law mid-call (a re-INVITE from PCMU to PCMA), or sends audio of
    /// another codec, or starts late in the other law, still records every
    /// sample exactly as decoded, and silence where nothing came.
    #[test]
    fn a_side_changing_codecs_records_every_sample_exactly(packets in 40usize..200, seed: u32, switches in proptest::collection::vec((1usize..200, 0u8..3), 0..5), late in 0usize..40, pull_every in 1usize..30) {
        let mut next = xorshift(seed);
        let t0 = Instant::now();
        let mut rec = Recorder::new(Duration::from_millis(100));
        let mut want = [vec![0i16; packets * 160], vec![0i16; packets * 160]];
        let mut out = Vec::new();
        let mut spare = [vec![0x11u8; 9_000], vec![0x99u8; 500]];
        // What each side sends from packet k on: 0 PCMU, 1 PCMA, 2 decoded audio.
        let kind = |side: usize, k: usize| -> u8 {
            let mut c = side as u8;
            for (at, to) in &switches {
                if *at <= k && side == 0 {
                    c = *to;
                }
            }
            c
        };
        for k in 0..packets {
            let now = t0 + Duration::from_millis(20 * k as u64);
            for (i, side) in [(0usize, Side::Caller), (1, Side::Callee)] {
                if i == 1 && k < late && k + 1 < packets {
                    continue;
                }
                let bytes: Vec<u8> = (0..160).map(|_| next() as u8).collect();
                let ts = 160 * k as u32;
                match kind(i, k) {
                    2 => {
                        let pcm: Vec<i16> = bytes.chunks(2).flat_map(|c| [i16::from_le_bytes([c[0], c[1]]); 2]).collect();
                        want[i][k * 160..k * 160 + 160].copy_from_slice(&pcm);
                        rec.push_pcm(now, side, 30 + i as u32, ts, 8000, &pcm, 8000);
                    }
                    c => {
                        let pt = if c == 0 { 0 } else { 8 };
                        let table = g711::table(pt).expect("G.711");
                        for (j, b) in bytes.iter().enumerate() {
                            want[i][k * 160 + j] = table[usize::from(*b)];
                        }
                        rec.push(now, side, &rtp::build(pt, false, k as u16, ts, 30 + i as u32, &bytes));
                    }
                }
            }
            rec.advance(now);
            if k % pull_every == 0 {
                let c = rec.take_chunk(std::mem::take(&mut spare));
                c.write_to(&mut out);
                spare = c.into_buffers();
            }
        }
        rec.finish(t0 + Duration::from_millis(20 * packets as u64));
        out.extend(rec.take_output());
        same_channels(&out, &want)?;
    }
}
