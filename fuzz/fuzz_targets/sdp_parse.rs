//! Fuzz target for the `sdp` crate: parse arbitrary bytes; whatever parses
//! must print back to itself, decode through every typed accessor, survive
//! the edits, and go through offer/answer without panicking.
//!
//! Needs in fuzz/Cargo.toml: `libfuzzer-sys = "0.4"`, `sdp = { path =
//! "../crates/sdp" }`, and a `[[bin]] name = "sdp_parse"` with
//! `path = "fuzz_targets/sdp_parse.rs"`, `test = false`, `doc = false`,
//! `bench = false`. Seed corpus: `crates/sdp/tests/fixtures/*.sdp`.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use sdp::{answer, negotiated, Codec, Direction, LocalCapabilities, Session};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = Session::parse_bytes(data) else {
        return;
    };

    // Lossless: the printed form parses back to the same description.
    assert_eq!(Session::parse(s.as_str()).as_ref(), Ok(&s));

    // Typed access never fails on a parsed description.
    let _ = (s.origin(), s.connection(), s.timing(), s.direction());
    for m in s.media() {
        let _ = (m.rtp_address(), m.rtcp_address(), m.ptime(), m.direction());
        let _ = m.codecs().count() + m.telephone_event_payload_types().count();
    }

    // Offer/answer: an answer must itself be valid SDP with as many m= lines.
    let mut local = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 4000);
    local.codecs = vec![
        Codec::OPUS,
        Codec::PCMA,
        Codec::PCMU,
        Codec::G722,
        Codec::TELEPHONE_EVENT,
        Codec::TELEPHONE_EVENT_48K,
        Codec::CN,
    ];
    local.rtp_ports = vec![4000; sdp::MAX_MEDIA];
    if let Ok(a) = answer(&s, &local) {
        assert_eq!(Session::parse(a.as_str()).as_ref(), Ok(&a));
        assert_eq!(a.media_count(), s.media_count());
        let _ = negotiated(&s, &a);
    }
    let _ = negotiated(&s, &s);

    // Edits keep the description valid.
    let mut e = s.clone();
    e.set_all_connection_addresses(IpAddr::V6(Ipv6Addr::LOCALHOST));
    e.set_direction(Direction::Inactive);
    let _ = e.bump_origin_version();
    if let Some(mut m) = e.media_mut(0) {
        m.set_port(5000);
        m.set_direction(Direction::SendOnly);
        let _ = m.retain_payload_types(&[0, 8, 101]);
    }
    if e.as_str().len() <= sdp::MAX_INPUT_LEN {
        assert_eq!(Session::parse(e.as_str()).as_ref(), Ok(&e));
    }
});
