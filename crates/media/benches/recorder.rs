//! Recording cost on a media thread: one iteration is one second of
//! `CALLS` recorded G.711 calls, both directions, the packets of all calls
//! interleaved as a relay thread sees them (each call's 20 ms packet from
//! the caller, then the callee's), each recording's output handed over
//! once a second with buffers given back, as `runtime::relay` does, and
//! interleaved into the file's bytes as the writer thread does. The
//! recorders together hold tens of megabytes, as on a loaded switch, so
//! the memory traffic of placing and interleaving the audio is measured,
//! not a recorder that sits in the cache. Throughput: packets.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use media::recorder::{Law, Recorder, Side};
use media::rtp;
use std::time::{Duration, Instant};

const CALLS: usize = 500;

fn run(c: &mut Criterion, name: &str, make: fn() -> Recorder) {
    let caller: Vec<u8> = (0..160u32).map(|i| (i * 7 % 251) as u8).collect();
    let callee: Vec<u8> = (0..160u32).map(|i| (i * 13 % 241) as u8).collect();
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut recs: Vec<Recorder> = (0..CALLS).map(|_| make()).collect();
    let mut spares: Vec<[Vec<u8>; 2]> = Vec::new();
    let mut file: Vec<u8> = Vec::new();
    let mut second = 0u64;
    let mut g = c.benchmark_group("recorder");
    g.sample_size(10).throughput(Throughput::Elements((CALLS * 100) as u64));
    g.bench_function(name, |b| {
        b.iter(|| {
            for k in 0..50u64 {
                let n = second * 50 + k;
                let now = t0 + Duration::from_millis(20 * n);
                let ts = (160 * n) as u32;
                for (j, r) in recs.iter_mut().enumerate() {
                    let a = rtp::Rtp { payload_type: 0, marker: false, seq: n as u16, timestamp: ts, ssrc: j as u32, payload: &caller };
                    r.push_rtp(now, Side::Caller, &a);
                    let b = rtp::Rtp { payload_type: 0, marker: false, seq: n as u16, timestamp: ts.wrapping_add(999), ssrc: 1 << 20 | j as u32, payload: &callee };
                    r.push_rtp(now, Side::Callee, &b);
                }
            }
            second += 1;
            let now = t0 + Duration::from_millis(1000 * second);
            for r in &mut recs {
                r.advance(now);
                let chunk = r.take_chunk(spares.pop().unwrap_or_default());
                // As the writer thread makes the file's bytes, into a
                // buffer of its own it writes from.
                file.clear();
                chunk.write_to(&mut file);
                std::hint::black_box(file.len());
                spares.push(chunk.into_buffers());
            }
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    run(c, "500 calls, 16-bit 8 kHz", || Recorder::new(Duration::from_millis(200)));
    run(c, "500 calls, G.711", || Recorder::g711(Duration::from_millis(200), Law::Mulaw));
}

criterion_group!(benches, bench);
criterion_main!(benches);
