//! Transcoding cost: one iteration is one second of one call, both
//! directions, Opus (20 ms, 8 kHz audio bandwidth as a G.711 call carries)
//! to PCMU and PCMU to Opus, through the jitter buffers, decoders, PLC-free
//! path and encoders, on a virtual clock. Iterations per second on one
//! core = concurrent transcoded calls one core sustains.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::codec::{Codec, Encoder};
use media::rtp;
use media::transcode::{Config, Format, Transcoder};
use std::time::{Duration, Instant};

const OPUS: Format = Format {
    codec: Codec::Opus,
    payload_type: 111,
    events: Some(110),
    events_rate: 48000,
    ptime_ms: 20,
    fec: false,
    max_bitrate: None,
};
const PCMU: Format = Format {
    codec: Codec::Pcmu,
    payload_type: 0,
    events: Some(101),
    events_rate: 8000,
    ptime_ms: 20,
    fec: false,
    max_bitrate: None,
};

/// One second of 20 ms packets of a speech-like signal (two tones with a
/// slow envelope), in `fmt`.
fn second(fmt: Format) -> Vec<Vec<u8>> {
    let pcm: Vec<i16> = (0..8000)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.5 + 0.5 * (t * 3.0 * std::f64::consts::TAU).sin();
            (env * 6000.0
                * ((t * 220.0 * std::f64::consts::TAU).sin()
                    + 0.5 * (t * 1130.0 * std::f64::consts::TAU).sin())) as i16
        })
        .collect();
    let mut enc = Encoder::new(fmt.codec).expect("encoder");
    let step = fmt.codec.clock_rate() / 50;
    pcm.chunks(160)
        .enumerate()
        .map(|(k, f)| {
            let mut p = Vec::new();
            enc.encode(f, &mut p).expect("encode");
            rtp::build(fmt.payload_type, false, k as u16, step * k as u32, 1, &p)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let opus = second(OPUS);
    let pcmu = second(PCMU);
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut g = c.benchmark_group("transcode");
    g.throughput(Throughput::Elements(1));
    // Complexity: the lowest and ours by default (0), the next (1), and
    // libopus's own default (10); at our default bitrate (24 kbit/s).
    for cx in [0u8, 1, 10] {
        let cfg = Config {
            opus_complexity: cx,
            ..Config::default()
        };
        let mut a2b = Transcoder::new(OPUS, PCMU, cfg, 7, 0, 0).expect("transcoder");
        let mut b2a = Transcoder::new(PCMU, OPUS, cfg, 8, 0, 0).expect("transcoder");
        let mut sec = 0u64;
        let mut sent = 0usize;
        g.bench_function(format!("opus<->pcmu call-second, complexity {cx}"), |b| {
            b.iter(|| {
                // Packets keep their sequence numbers and timestamps running
                // across iterations (50 per second).
                for k in 0..50u64 {
                    let now = t0 + Duration::from_millis(sec * 1000 + 20 * k);
                    let n = sec * 50 + k;
                    let mut p = opus[k as usize].clone();
                    p[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                    p[4..8].copy_from_slice(&((n * 960) as u32).to_be_bytes());
                    a2b.push(now, &p);
                    let mut q = pcmu[k as usize].clone();
                    q[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                    q[4..8].copy_from_slice(&((n * 160) as u32).to_be_bytes());
                    b2a.push(now, &q);
                    while let Some(o) = a2b.poll_transmit() {
                        sent += o.len();
                    }
                    while let Some(o) = b2a.poll_transmit() {
                        sent += o.len();
                    }
                }
                sec += 1;
            })
        });
        // A bench left out by a name filter never ran.
        assert!(
            sec == 0 || (sent > 0 && a2b.jitter_stats().late == 0),
            "{:?}",
            a2b.jitter_stats()
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
