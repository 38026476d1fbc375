//! Fuzz target for the media path a peer controls: RTP header parsing,
//! RTCP sender reports (what the relay reads from a transcoded leg),
//! stream continuity across sources, RFC 4733 / SIP INFO digit detection,
//! and the stereo recorder (G.711 packets, and decoded audio of 48 kHz
//! streams). Whatever parses must rebuild to the same fields;
//! any byte stream fed to the recorder (as packets from either side, at
//! advancing virtual times) must neither panic nor grow without bound.
//! The same bytes are read as a recording's WAV header (what a restart
//! reads back from a file a `kill -9` cut short): a header that parses
//! is written again byte for byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use media::{rtp, Recorder, Side};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    if let Some(h) = media::wav::parse_header(data) {
        let again = media::wav::header_for(h.enc, h.channels, h.rate, h.data_len);
        assert_eq!(again.bytes(), &data[..h.header_len], "a parsed header is written again as it was");
    }
    if let Ok(p) = rtp::parse(data) {
        let again = rtp::build(p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc, p.payload);
        let q = rtp::parse(&again).expect("a rebuilt packet parses");
        assert_eq!((q.payload_type, q.marker, q.seq, q.timestamp, q.ssrc, q.payload), (p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc, p.payload));
    }
    // RTCP: a sender report found in the input, built again, reads back
    // the same; one we build from the input's fields reads back too.
    if let Some((ssrc, mid)) = media::rtcp::find_sender_report(data) {
        let info = media::rtcp::SenderInfo { ssrc, ntp: u64::from(mid) << 16, ..Default::default() };
        assert_eq!(media::rtcp::find_sender_report(&media::rtcp::sender_report(&info, None, "f")), Some((ssrc, mid)));
    }
    // Continuity: packets cut from the input (any sources, any order) go
    // out under one SSRC, and their payload is never touched.
    let mut cont = rtp::Continuity::default();
    let mut first_ssrc = None;
    for (i, chunk) in data.chunks(16).enumerate() {
        let mut pkt = chunk.to_vec();
        if let Some((ssrc, _, _)) = cont.apply(&mut pkt, i as u64 * 15_000) {
            assert_eq!(*first_ssrc.get_or_insert(ssrc), ssrc, "one SSRC out");
            assert_eq!(pkt[12..], chunk[12..], "payload untouched");
        }
    }
    // Digits: each packet of a stream through the detector, the whole as
    // an INFO body; a digit is always one of the sixteen DTMF characters.
    let mut det = media::dtmf::Detector::default();
    for (i, chunk) in data.chunks(6).enumerate() {
        let ts = u32::from(chunk[0]) + (i as u32 / 3);
        if let Some(d) = det.push(ts, chunk.get(1..).unwrap_or_default()) {
            assert!("0123456789*#ABCD".contains(d), "{d:?}");
        }
    }
    if let Some(d) = media::dtmf::from_info(data) {
        assert!("0123456789*#ABCD".contains(d), "{d:?}");
    }
    // Split the input into packets at 0xff 0xff; the byte after each split
    // picks the side and how far time moves (0–255 ms).
    let t0 = Instant::now();
    let mut now = t0;
    // The first byte picks the recording: 16-bit at 8 kHz, G.711 (A-law),
    // or 16-bit at 16 kHz.
    let jitter = Duration::from_millis(60);
    let mut rec = match data.first().map(|b| b % 3) {
        Some(1) => Recorder::g711(jitter, media::g711::Law::Alaw),
        Some(2) => Recorder::with_rate(jitter, 16_000),
        _ => Recorder::new(jitter),
    };
    let mut out = 0usize;
    let mut spare: [Vec<u8>; 2] = Default::default();
    for chunk in data.split(|&b| b == 0xff).filter(|c| !c.is_empty()) {
        now += Duration::from_millis(u64::from(chunk[0]));
        let side = if chunk[0] & 1 == 0 { Side::Caller } else { Side::Callee };
        // Make most chunks RTP version 2 with a G.711 payload type.
        let mut pkt = chunk[1..].to_vec();
        if pkt.len() >= 12 {
            pkt[0] = 0x80 | (pkt[0] & 0x3f);
            pkt[1] &= 0x88;
        }
        if chunk[0] & 2 == 0 {
            rec.push(now, side, &pkt);
        } else if let Ok(p) = rtp::parse(&pkt) {
            // As decoded audio of a 48 kHz stream (Opus): any timestamps.
            let pcm: Vec<i16> = p.payload.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
            rec.push_pcm(now, side, p.ssrc, p.timestamp, 48_000, &pcm, if chunk[0] & 4 == 0 { 8000 } else { 16000 });
        }
        if chunk[0] & 8 == 0 {
            out += rec.take_output().len();
        } else {
            // Taken over the buffers of earlier output, as the relay does.
            let c = rec.take_chunk(std::mem::take(&mut spare));
            let mut bytes = Vec::new();
            c.write_to(&mut bytes);
            assert_eq!(bytes.len(), c.len());
            out += bytes.len();
            spare = c.into_buffers();
        }
    }
    rec.finish(now);
    out += rec.take_output().len();
    // Output is bounded by the elapsed time plus what the jitter window
    // and the 2 s look-ahead can hold, per stereo frame (4 bytes at most).
    let elapsed = now.duration_since(t0).as_millis() as usize;
    let per_ms = rec.rate() as usize / 1000;
    assert!(out <= (elapsed * per_ms + per_ms * 3000 + 2048 * 16) * 4, "{out} bytes for {elapsed} ms");
});
