//! Parse-and-print throughput for a typical INVITE with SDP and its 200 OK.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sip_msg::Message;

const INVITE: &[u8] = include_bytes!("../tests/fixtures/invite_sdp.sip");
const OK200: &[u8] = include_bytes!("../tests/fixtures/ok200_sdp.sip");

fn bench(c: &mut Criterion) {
    let invite = bytes::Bytes::from_static(INVITE);
    let ok = bytes::Bytes::from_static(OK200);
    let mut g = c.benchmark_group("sip-msg");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse INVITE", |b| b.iter(|| Message::parse(invite.clone()).map(|m| m.header_count())));
    g.bench_function("parse 200 OK", |b| b.iter(|| Message::parse(ok.clone()).map(|m| m.header_count())));
    g.bench_function("parse INVITE + typed core headers", |b| {
        b.iter(|| {
            let m = Message::parse(invite.clone()).ok()?;
            m.check_core().ok()?;
            Some(m.top_via().ok()?.branch()?.len())
        })
    });
    let parsed = Message::parse(invite.clone()).expect("fixture parses");
    let mut out = Vec::with_capacity(2048);
    g.bench_function("print INVITE", |b| {
        b.iter(|| {
            out.clear();
            parsed.encode(&mut out);
            out.len()
        })
    });
    g.bench_function("parse+print INVITE", |b| {
        b.iter(|| {
            let m = Message::parse(invite.clone()).ok()?;
            out.clear();
            m.encode(&mut out);
            Some(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
