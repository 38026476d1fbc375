//! Jitter buffer and transcoder on a virtual clock: every test runs in
//! milliseconds whatever the media time it covers.

// Tests take one clock reading as the origin of their virtual time.
#![allow(clippy::disallowed_methods)]

use media::codec::{Codec, Decoder, Encoder};
use media::jitter::{Frame, JitterBuffer, Playout, CAPACITY};
use media::transcode::{Config, Format, Transcoder};
use media::{g711, rtp};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Drain every frame due by `now`.
fn drain(jb: &mut JitterBuffer, now: Instant) -> Vec<Frame> {
    std::iter::from_fn(|| jb.pop(now)).collect()
}

fn seq_of(f: &Frame) -> Option<u8> {
    match f {
        Frame::Audio { payload, .. } => payload.first().copied(),
        Frame::Lost { .. } => None,
    }
}

/// Run a buffer over `arrivals` (packet index, arrival ms): packet k has
/// sequence k, timestamp 160·k and payload [k]. Returns the frames in
/// playout order with the time each came out.
fn run(arrivals: &[(u16, u64)], until_ms: u64) -> (Vec<(u64, Frame)>, JitterBuffer) {
    run_with(Playout::Paced, arrivals, until_ms)
}

fn run_with(playout: Playout, arrivals: &[(u16, u64)], until_ms: u64) -> (Vec<(u64, Frame)>, JitterBuffer) {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(8000, ms(20), ms(200), playout);
    let mut out = Vec::new();
    let mut arrivals = arrivals.to_vec();
    arrivals.sort_by_key(|a| a.1);
    let mut i = 0;
    for t in 0..=until_ms {
        let now = t0 + ms(t);
        while i < arrivals.len() && arrivals[i].1 == t {
            let k = arrivals[i].0;
            jb.push(now, k, 160 * u32::from(k), 7, k == 0, 160, &[k as u8; 160]);
            i += 1;
        }
        for f in drain(&mut jb, now) {
            out.push((t, f));
        }
    }
    (out, jb)
}

#[test]
fn in_order_packets_come_out_at_their_time_plus_the_delay() {
    let arrivals: Vec<(u16, u64)> = (0..10).map(|k| (k, 20 * u64::from(k))).collect();
    let (out, jb) = run(&arrivals, 400);
    let audio: Vec<(u64, u8)> = out.iter().filter_map(|(t, f)| seq_of(f).map(|s| (*t, s))).collect();
    assert_eq!(audio, (0..10u8).map(|k| (20 + 20 * u64::from(k), k)).collect::<Vec<_>>());
    assert_eq!(jb.delay(), ms(20), "no jitter: the minimum delay");
    // After the last packet: three concealed frames, then nothing (paused).
    let lost = out.iter().filter(|(_, f)| matches!(f, Frame::Lost { .. })).count();
    assert_eq!(lost, 3);
}

#[test]
fn reordered_packets_are_put_back_in_order() {
    // 2 arrives after 3, both before 2's playout time.
    let arrivals = [(0, 0), (1, 20), (3, 55), (2, 58), (4, 80)];
    let (out, jb) = run(&arrivals, 200);
    let audio: Vec<u8> = out.iter().filter_map(|(_, f)| seq_of(f)).collect();
    assert_eq!(audio, vec![0, 1, 2, 3, 4]);
    assert_eq!(jb.stats().late, 0);
    assert_eq!(out.iter().take(5).filter(|(_, f)| matches!(f, Frame::Lost { .. })).count(), 0);
}

#[test]
fn a_lost_packet_is_concealed_with_the_next_one_offered() {
    let arrivals = [(0, 0), (1, 20), (3, 60), (4, 80)];
    let (out, _) = run(&arrivals, 200);
    let first: Vec<&Frame> = out.iter().map(|(_, f)| f).take(5).collect();
    assert_eq!(seq_of(first[1]), Some(1));
    match first[2] {
        Frame::Lost { duration, next } => {
            assert_eq!(*duration, 160);
            assert_eq!(next.as_deref(), Some(&[3u8; 160][..]), "packet 3 is here: its FEC can rebuild 2");
        }
        other => panic!("expected a lost frame, got {other:?}"),
    }
    assert_eq!(seq_of(first[3]), Some(3));
    assert_eq!(seq_of(first[4]), Some(4));
}

#[test]
fn a_late_packet_is_dropped_and_the_next_talkspurt_waits_longer() {
    // Packet 2 comes 50 ms late: its frame was concealed already.
    let mut arrivals: Vec<(u16, u64)> = vec![(0, 0), (1, 20), (3, 60), (2, 90), (4, 80)];
    // A pause, then a new talkspurt (marker on packet 0 only: the pause
    // itself makes the rebase).
    arrivals.extend((20..25).map(|k| (k, 20 * u64::from(k) + 500)));
    let (out, jb) = run(&arrivals, 1200);
    let audio: Vec<u8> = out.iter().filter_map(|(_, f)| seq_of(f)).collect();
    assert_eq!(audio, vec![0, 1, 3, 4, 20, 21, 22, 23, 24]);
    assert_eq!(jb.stats().late, 1);
    assert!(jb.delay() > ms(20), "delay grew after a late packet: {:?}", jb.delay());
    // The new talkspurt starts flagged as resumed.
    let resumed: Vec<u8> = out.iter().filter_map(|(_, f)| match f {
        Frame::Audio { payload, resumed: true, .. } => payload.first().copied(),
        _ => None,
    }).collect();
    assert_eq!(resumed, vec![0, 20]);
}

#[test]
fn jittery_arrivals_raise_the_delay_within_its_bounds() {
    // ±30 ms of arrival jitter around a 20 ms cadence, over two talkspurts.
    let wobble = [0u64, 30, 5, 25, 0, 30, 10, 20, 0, 30];
    let mut arrivals: Vec<(u16, u64)> = (0..10).map(|k| (k, 20 * u64::from(k) + wobble[k as usize])).collect();
    arrivals.extend((40..50).map(|k| (k, 20 * u64::from(k) + 400 + wobble[(k - 40) as usize])));
    let (_, jb) = run(&arrivals, 1500);
    assert!(jb.delay() > ms(20) && jb.delay() <= ms(200), "{:?}", jb.delay());
}

#[test]
fn a_burst_is_bounded_by_the_delay_and_the_capacity() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(8000, ms(20), ms(200), Playout::Paced);
    // 200 packets at once (a stalled network releasing its queue).
    for k in 0..200u16 {
        jb.push(t0, k, 160 * u32::from(k), 1, false, 160, &[0; 160]);
        assert!(jb.len() <= CAPACITY);
    }
    assert!(jb.len() <= 5, "kept about the delay plus 60 ms, not the whole burst: {}", jb.len());
    assert!(jb.stats().overflow >= 195);
    // The newest survive and play.
    let out = drain(&mut jb, t0 + ms(200));
    assert!(!out.is_empty());
}

#[test]
fn a_new_ssrc_starts_over() {
    let t0 = Instant::now();
    let mut jb = JitterBuffer::new(8000, ms(20), ms(200), Playout::Paced);
    jb.push(t0, 100, 1000, 1, true, 160, &[1]);
    jb.push(t0 + ms(5), 7, 99_999, 2, false, 160, &[2]);
    let out = drain(&mut jb, t0 + ms(40));
    assert_eq!(out.iter().filter_map(seq_of).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn on_arrival_in_order_packets_come_out_at_once() {
    // Arrivals wobble by up to 15 ms; each comes out the moment it arrives.
    let wobble = [0u64, 15, 3, 12, 0, 9, 15, 1, 7, 0];
    let arrivals: Vec<(u16, u64)> = (0..10).map(|k| (k, 20 * u64::from(k) + wobble[k as usize])).collect();
    let (out, jb) = run_with(Playout::OnArrival, &arrivals, 400);
    let audio: Vec<(u64, u8)> = out.iter().filter_map(|(t, f)| seq_of(f).map(|s| (*t, s))).collect();
    assert_eq!(audio, arrivals.iter().map(|(k, t)| (*t, *k as u8)).collect::<Vec<_>>());
    assert_eq!(jb.stats().late, 0);
    // Nothing was concealed until the stream stopped: then three frames.
    let lost: Vec<u64> = out.iter().filter(|(_, f)| matches!(f, Frame::Lost { .. })).map(|(t, _)| *t).collect();
    assert_eq!(lost.len(), 3);
    assert!(lost[0] > 200, "{lost:?}");
}

#[test]
fn on_arrival_a_gap_waits_for_the_missing_packet_up_to_the_delay() {
    // 2 comes after 3 but before its time plus the delay (40 + 20 ms):
    // both come out, in order, when 2 arrives.
    let (out, _) = run_with(Playout::OnArrival, &[(0, 0), (1, 20), (3, 45), (2, 55), (4, 80)], 200);
    let audio: Vec<(u64, u8)> = out.iter().filter_map(|(t, f)| seq_of(f).map(|s| (*t, s))).collect();
    assert_eq!(audio, vec![(0, 0), (20, 1), (55, 2), (55, 3), (80, 4)]);
    // 2 comes too late: at 60 ms it is concealed with 3 offered, then 3 plays.
    let (out, jb) = run_with(Playout::OnArrival, &[(0, 0), (1, 20), (3, 60), (4, 80), (2, 90)], 200);
    let first: Vec<(u64, Option<u8>)> = out.iter().take(5).map(|(t, f)| (*t, seq_of(f))).collect();
    assert_eq!(first, vec![(0, Some(0)), (20, Some(1)), (60, None), (60, Some(3)), (80, Some(4))]);
    match &out[2].1 {
        Frame::Lost { next, .. } => assert_eq!(next.as_deref(), Some(&[3u8; 160][..])),
        other => panic!("expected a lost frame, got {other:?}"),
    }
    assert_eq!(jb.stats().late, 1, "2 came after it was concealed");
}

proptest! {
    /// Any arrival pattern (loss, reordering, duplicates, sequence and
    /// timestamp wrap), either playout: frames come out in order, the
    /// buffer stays bounded, and a frame is never played twice.
    #[test]
    fn any_arrivals_keep_the_buffer_sane(start in any::<u16>(), ts0 in any::<u32>(), jitter in proptest::collection::vec((0u64..80, 0u8..10), 1..150), paced in any::<bool>()) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(8000, ms(20), ms(200), if paced { Playout::Paced } else { Playout::OnArrival });
        let mut arrivals: Vec<(u64, u16)> = Vec::new();
        for (k, (j, fate)) in jitter.iter().enumerate() {
            let k = k as u16;
            match fate {
                0 => {}                                           // lost
                1 => { arrivals.push((20 * u64::from(k) + j, k)); arrivals.push((20 * u64::from(k) + j + 3, k)); } // duplicated
                _ => arrivals.push((20 * u64::from(k) + j, k)),
            }
        }
        arrivals.sort();
        let mut played: Vec<u16> = Vec::new();
        let mut i = 0;
        let end = 20 * jitter.len() as u64 + 600;
        for t in 0..end {
            let now = t0 + ms(t);
            while i < arrivals.len() && arrivals[i].0 == t {
                let k = arrivals[i].1;
                let mut payload = k.to_be_bytes().to_vec();
                payload.resize(160, 0);
                jb.push(now, start.wrapping_add(k), ts0.wrapping_add(160 * u32::from(k)), 9, false, 160, &payload);
                i += 1;
                prop_assert!(jb.len() <= CAPACITY);
            }
            while let Some(f) = jb.pop(now) {
                if let Frame::Audio { payload, .. } = f {
                    played.push(u16::from_be_bytes([payload[0], payload[1]]));
                }
            }
        }
        let mut sorted = played.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, &played, "in order, each once");
    }
}

// ---- transcoder ----

/// Power of `freq` in `x` (8 kHz), relative to the signal's total power.
fn goertzel(x: &[i16], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / 8000.0;
    let c = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for v in x {
        let s = f64::from(*v) + c * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let p = s1 * s1 + s2 * s2 - c * s1 * s2;
    let total: f64 = x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() * x.len() as f64 / 2.0;
    if total == 0.0 {
        0.0
    } else {
        p / total
    }
}

fn tone(freq: f64, n: usize) -> Vec<i16> {
    (0..n).map(|i| ((i as f64 * freq * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect()
}

const OPUS: Format = Format { codec: Codec::Opus, payload_type: 111, events: Some(110), events_rate: 48000, ptime_ms: 20, fec: true, max_bitrate: None };
const PCMU: Format = Format { codec: Codec::Pcmu, payload_type: 0, events: Some(101), events_rate: 8000, ptime_ms: 20, fec: false, max_bitrate: None };

/// Encode `pcm` as RTP packets of `fmt` (20 ms each).
fn packets(fmt: Format, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(fmt.codec).expect("encoder");
    let step = fmt.codec.clock_rate() / 50;
    pcm.chunks(160)
        .enumerate()
        .map(|(k, f)| {
            let mut p = Vec::new();
            enc.encode(f, &mut p).expect("encode");
            rtp::build(fmt.payload_type, k == 0, 1000 + k as u16, 5000 + step * k as u32, 0xabc, &p)
        })
        .collect()
}

/// Feed packets every 20 ms (dropping those `drop` says), run the clock
/// 1 ms at a time; the packets that come out.
fn transcode(t: &mut Transcoder, pkts: &[Vec<u8>], drop: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let end = 20 * pkts.len() as u64 + 300;
    for ms_ in 0..end {
        let now = t0 + ms(ms_);
        if ms_ % 20 == 0 {
            let k = (ms_ / 20) as usize;
            if k < pkts.len() && !drop(k) {
                t.push(now, &pkts[k]);
            }
        }
        if t.poll_timeout().is_some_and(|d| d <= now) {
            t.handle_timeout(now);
        }
        while let Some(p) = t.poll_transmit() {
            out.push(p);
        }
    }
    out
}

fn decode_all(fmt: Format, pkts: &[Vec<u8>]) -> Vec<i16> {
    let mut dec = Decoder::new(fmt.codec).expect("decoder");
    let mut pcm = Vec::new();
    for p in pkts {
        let h = rtp::parse(p).expect("rtp");
        if h.payload_type == fmt.payload_type {
            assert!(dec.decode(h.payload, &mut pcm));
        }
    }
    pcm
}

fn assert_continuous(pkts: &[Vec<u8>], pt: u8, step: u32) {
    let hs: Vec<_> = pkts.iter().map(|p| rtp::parse(p).expect("rtp")).collect();
    assert!(hs.iter().all(|h| h.payload_type == pt && h.ssrc == 0x5eed));
    for w in hs.windows(2) {
        assert_eq!(w[1].seq, w[0].seq.wrapping_add(1));
        assert_eq!(w[1].timestamp, w[0].timestamp.wrapping_add(step));
    }
    assert!(hs[0].marker && hs.iter().skip(1).all(|h| !h.marker));
}

#[test]
fn opus_to_pcmu_carries_the_tone() {
    let input = tone(440.0, 160 * 100);
    let mut t = Transcoder::new(OPUS, PCMU, Config::default(), 0x5eed, 1, 0).expect("transcoder");
    let out = transcode(&mut t, &packets(OPUS, &input), |_| false);
    assert!(out.len() >= 100, "every frame, plus the concealed tail: {}", out.len());
    assert_continuous(&out[..100], 0, 160);
    let pcm = decode_all(PCMU, &out[..100]);
    let steady = &pcm[1600..];
    assert!(goertzel(steady, 440.0) > 0.8, "440 Hz dominates: {}", goertzel(steady, 440.0));
    assert!(goertzel(steady, 1000.0) < 0.05);
}

/// A transcoder that replaces another (the call's codecs negotiated again
/// while it streams: local ringback through one plan, then the answer's)
/// goes on with its stream: same SSRC, the next sequence number, the
/// timestamp moved on by the time between. A new SSRC whose sequence
/// numbers jump back made baresip drop everything after it as late.
#[test]
fn a_replacing_transcoder_goes_on_with_the_stream() {
    let pkts = packets(PCMU, &tone(1000.0, 160 * 20));
    let t0 = Instant::now();
    let mut first = Transcoder::new(PCMU, OPUS, Config::default(), 0x5eed, 65530, u32::MAX - 1000).expect("transcoder");
    let (mut out, mut last_at) = (Vec::new(), t0);
    for m in 0..400u64 {
        let now = t0 + ms(m);
        if m % 20 == 0 && ((m / 20) as usize) < 10 {
            first.push(now, &pkts[(m / 20) as usize]);
        }
        if first.poll_timeout().is_some_and(|d| d <= now) {
            first.handle_timeout(now);
        }
        while let Some(p) = first.poll_transmit() {
            out.push(p);
            last_at = now;
        }
    }
    assert!(out.len() >= 10, "{}", out.len());
    let last = rtp::parse(out.last().expect("packets")).expect("rtp");
    // A frame later: the very next packet. 120 ms later: 100 ms skipped.
    assert_eq!(first.resume_point(last_at + ms(20)), (0x5eed, last.seq.wrapping_add(1), last.timestamp.wrapping_add(960)));
    assert_eq!(first.resume_point(last_at + ms(120)), (0x5eed, last.seq.wrapping_add(1), last.timestamp.wrapping_add(6 * 960)));

    let (ssrc, seq, ts) = first.resume_point(last_at + ms(20));
    let mut second = Transcoder::new(PCMU, OPUS, Config::default(), ssrc, seq, ts).expect("transcoder");
    let more = transcode(&mut second, &pkts[10..], |_| false);
    let h = rtp::parse(&more[0]).expect("rtp");
    assert_eq!((h.ssrc, h.seq, h.timestamp), (0x5eed, last.seq.wrapping_add(1), last.timestamp.wrapping_add(960)));
    assert!(h.marker, "a new talkspurt as far as the phone's jitter buffer is concerned");
}

#[test]
fn pcmu_to_opus_with_ptime_translation_to_40_ms() {
    let input = tone(1000.0, 160 * 100);
    let to = Format { ptime_ms: 40, ..OPUS };
    let mut t = Transcoder::new(PCMU, to, Config::default(), 0x5eed, 65530, u32::MAX - 1000).expect("transcoder");
    let out = transcode(&mut t, &packets(PCMU, &input), |_| false);
    assert!((50..=52).contains(&out.len()), "100 × 20 ms in, 40 ms frames out: {}", out.len());
    assert_continuous(&out[..50], 111, 1920);
    let pcm = decode_all(to, &out[..50]);
    assert_eq!(pcm.len(), 50 * 320);
    assert!(goertzel(&pcm[1600..], 1000.0) > 0.8, "{}", goertzel(&pcm[1600..], 1000.0));
}

#[test]
fn opus_goes_out_at_the_configured_bitrate_or_the_sides_lower_cap() {
    let input = testkit::audio::noise(160 * 100, 7);
    let bits_per_second = |to: Format, cfg: Config| {
        let mut t = Transcoder::new(PCMU, to, cfg, 1, 1, 1).expect("transcoder");
        let out = transcode(&mut t, &packets(PCMU, &input), |_| false);
        assert!(out.len() >= 99, "{}", out.len());
        out.iter().map(|p| (p.len() - 12) * 8).sum::<usize>() / 2
    };
    let opus = Format { fec: false, ..OPUS };
    let default = bits_per_second(opus, Config::default());
    assert!((20_000..=25_000).contains(&default), "24 kbit/s by default, {default} sent");
    let capped = bits_per_second(Format { max_bitrate: Some(12_000), ..opus }, Config::default());
    assert!((9_000..=13_000).contains(&capped), "the side's maxaveragebitrate 12000, {capped} sent");
    let higher_cap = bits_per_second(Format { max_bitrate: Some(64_000), ..opus }, Config { opus_bitrate: 16_000, ..Config::default() });
    assert!((13_000..=17_000).contains(&higher_cap), "configured 16000 under the side's 64000, {higher_cap} sent");
}

#[test]
fn a_ptime_opus_cannot_carry_falls_back_to_20_ms() {
    let t = Transcoder::new(PCMU, Format { ptime_ms: 30, ..OPUS }, Config::default(), 1, 1, 1).expect("transcoder");
    assert_eq!(t.to().ptime_ms, 20);
    let t = Transcoder::new(OPUS, Format { ptime_ms: 30, ..PCMU }, Config::default(), 1, 1, 1).expect("transcoder");
    assert_eq!(t.to().ptime_ms, 30);
}

#[test]
fn lost_packets_are_concealed_and_the_stream_stays_continuous() {
    let input = tone(440.0, 160 * 100);
    for (from, to) in [(OPUS, PCMU), (PCMU, OPUS)] {
        let mut t = Transcoder::new(from, to, Config::default(), 0x5eed, 1, 0).expect("transcoder");
        let out = transcode(&mut t, &packets(from, &input), |k| k % 7 == 3);
        let step = to.codec.clock_rate() / 50;
        assert_continuous(&out[..100], to.payload_type, step);
        assert!(t.jitter_stats().concealed >= 14, "{:?}", t.jitter_stats());
        // Concealment keeps the pitch but not the phase: judge frame by
        // frame (after the codec's start-up) rather than over the whole.
        let pcm = decode_all(to, &out[..100]);
        let frames: Vec<f64> = pcm[1600..].chunks(160).map(|f| goertzel(f, 440.0)).collect();
        let good = frames.iter().filter(|g| **g > 0.5).count();
        assert!(good * 100 >= frames.len() * 85, "{from:?}→{to:?}: 440 Hz in {good} of {} frames", frames.len());
    }
}

#[test]
fn telephone_events_cross_with_the_other_payload_type_and_clock() {
    let mut t = Transcoder::new(PCMU, OPUS, Config::default(), 0x5eed, 1, 0).expect("transcoder");
    let t0 = Instant::now();
    let audio = packets(PCMU, &tone(440.0, 160 * 5));
    for (k, p) in audio.iter().enumerate() {
        t.push(t0 + ms(20 * k as u64), p);
        t.handle_timeout(t0 + ms(20 * k as u64));
    }
    // Digit 5: three updates then three end packets, all with timestamp 9000.
    let ev = |dur: u16, end: bool| vec![5, if end { 0x8a } else { 0x0a }, (dur >> 8) as u8, dur as u8];
    let mut pkts = Vec::new();
    for (i, (d, e)) in [(160, false), (320, false), (480, false), (640, true), (640, true), (640, true)].iter().enumerate() {
        pkts.push(rtp::build(101, i == 0, 2000 + i as u16, 9000, 0xabc, &ev(*d, *e)));
    }
    let mut out = Vec::new();
    while t.poll_transmit().is_some() {}
    for (i, p) in pkts.iter().enumerate() {
        t.push(t0 + ms(100 + 20 * i as u64), p);
        while let Some(o) = t.poll_transmit() {
            out.push(o);
        }
    }
    let evs: Vec<_> = out.iter().map(|p| rtp::parse(p).expect("rtp")).filter(|h| h.payload_type == 110).collect();
    assert_eq!(evs.len(), 6);
    assert!(evs.iter().all(|h| h.timestamp == evs[0].timestamp), "one event, one timestamp");
    assert!(evs[0].marker);
    let durs: Vec<u16> = evs.iter().map(|h| media::dtmf::parse(h.payload).expect("event").duration).collect();
    assert_eq!(durs, vec![960, 1920, 2880, 3840, 3840, 3840], "durations in the 48 kHz clock");
    assert_eq!(media::dtmf::parse(evs[5].payload).map(|e| (e.code, e.end)), Some((5, true)));
    // Without events on the far side they are dropped, not sent as audio.
    let mut none = Transcoder::new(PCMU, Format { events: None, ..OPUS }, Config::default(), 1, 1, 1).expect("transcoder");
    none.push(t0, &pkts[0]);
    assert!(none.poll_transmit().is_none());
}

#[test]
fn a_pause_skips_time_and_marks_the_new_talkspurt() {
    let mut t = Transcoder::new(PCMU, PCMU, Config::default(), 0x5eed, 1, 0).expect("transcoder");
    let t0 = Instant::now();
    // Five packets, one second of silence (none sent), five more.
    let mut schedule: Vec<(u64, Vec<u8>)> = Vec::new();
    for k in 0..5u16 {
        schedule.push((20 * u64::from(k), rtp::build(0, k == 0, k, 160 * u32::from(k), 3, &[g711::linear_to_ulaw(1000); 160])));
    }
    for k in 0..5u16 {
        schedule.push((1100 + 20 * u64::from(k), rtp::build(0, k == 0, 5 + k, 160 * (55 + u32::from(k)), 3, &[g711::linear_to_ulaw(1000); 160])));
    }
    let mut out = Vec::new();
    let mut next = schedule.iter().peekable();
    for m in 0..1400 {
        let now = t0 + ms(m);
        while let Some((_, p)) = next.next_if(|(at, _)| *at == m) {
            t.push(now, p);
        }
        t.handle_timeout(now);
        while let Some(p) = t.poll_transmit() {
            out.push(rtp::parse(&p).map(|h| (h.seq, h.timestamp, h.marker)).expect("rtp"));
        }
    }
    // 5 frames, 3 concealed, then the second talkspurt (5) and 3 concealed.
    assert_eq!(out.len(), 16, "{out:?}");
    let resume = out[8];
    assert!(resume.2, "marker on the new talkspurt");
    assert_eq!(resume.0, out[7].0.wrapping_add(1), "sequence numbers stay continuous");
    let gap = resume.1.wrapping_sub(out[7].1);
    assert!((7000..=9000).contains(&gap), "timestamps skip the ~1 s pause: {gap}");
}

