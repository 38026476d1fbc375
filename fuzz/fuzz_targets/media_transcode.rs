//! Fuzz target for what a peer controls in a transcoded call: RTP packets
//! (any header, any payload: Opus packets go to libopus) into the jitter
//! buffer and the transcoder both ways, at virtual times the input picks;
//! and audio into the in-band DTMF detector. Nothing may panic, the jitter
//! buffer stays within its capacity, and what comes out is bounded by the
//! time that passed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use media::codec::Codec;
use media::transcode::{Config, Format, Transcoder};
use std::time::{Duration, Instant};

const OPUS: Format = Format { codec: Codec::Opus, payload_type: 111, events: Some(110), events_rate: 48000, ptime_ms: 20, fec: true, max_bitrate: None };
const PCMU: Format = Format { codec: Codec::Pcmu, payload_type: 0, events: Some(101), events_rate: 8000, ptime_ms: 40, fec: false, max_bitrate: None };

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut dirs = [
        Transcoder::new(OPUS, PCMU, Config::default(), 1, 2, 3).expect("opus to pcmu"),
        Transcoder::new(PCMU, OPUS, Config::default(), 4, 5, 6).expect("pcmu to opus"),
    ];
    let mut out = [0usize; 2];
    // Packets are separated by 0xfe 0xfe; the first byte of each moves the
    // clock (0-255 ms) and picks the direction; headers are mostly made
    // RTP version 2 with one of the negotiated payload types.
    for chunk in data.split(|&b| b == 0xfe).filter(|c| !c.is_empty()) {
        now += Duration::from_millis(u64::from(chunk[0]));
        let k = usize::from(chunk[0] & 1);
        let mut pkt = chunk[1..].to_vec();
        if pkt.len() >= 12 && chunk[0] & 2 == 0 {
            pkt[0] = 0x80 | (pkt[0] & 0x0f);
            let pts = if k == 0 { [111, 110] } else { [0, 101] };
            pkt[1] = (pkt[1] & 0x80) | pts[usize::from(pkt[1] & 1)];
        }
        dirs[k].push(now, &pkt);
        for (i, d) in dirs.iter_mut().enumerate() {
            if d.poll_timeout().is_some_and(|t| t <= now) {
                d.handle_timeout(now);
            }
            while d.poll_transmit().is_some() {
                out[i] += 1;
            }
        }
    }
    // Let every buffered frame play out.
    now += Duration::from_secs(1);
    for (i, d) in dirs.iter_mut().enumerate() {
        d.handle_timeout(now);
        while d.poll_transmit().is_some() {
            out[i] += 1;
        }
    }
    // At most one audio frame per 10 ms of input time and per packet in
    // (a frame, its concealment, an event), plus what one packet can hold.
    let elapsed = now.duration_since(t0).as_millis() as usize;
    let packets = data.len();
    for o in out {
        assert!(o <= elapsed / 10 + 3 * packets + 64, "{o} packets out for {elapsed} ms and {packets} bytes in");
    }
    // The bytes as 8 kHz audio into the in-band detector.
    let pcm: Vec<i16> = data.chunks(2).map(|b| i16::from_le_bytes([b[0], *b.get(1).unwrap_or(&0)])).collect();
    let mut det = media::inband::InbandDetector::default();
    let mut digits = Vec::new();
    det.push(&pcm, &mut digits);
    assert!(digits.len() <= pcm.len() / media::inband::BLOCK + 1);
    assert!(digits.iter().all(|d| "0123456789*#ABCD".contains(*d)));
});
