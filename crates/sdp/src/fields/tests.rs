use super::*;

#[test]
fn origin_parses_six_fields() {
    let o = Origin::parse("alice 2890844526 2890844527 IN IP4 host.example.com").unwrap();
    assert_eq!(o.username, "alice");
    assert_eq!(o.session_id, "2890844526");
    assert_eq!(o.session_version, "2890844527");
    assert_eq!(o.session_version_number(), Some(2_890_844_527));
    assert_eq!((o.net_type, o.addr_type), ("IN", "IP4"));
    assert_eq!(o.address, "host.example.com");
}

#[test]
fn origin_rejects_bad_shapes() {
    for bad in [
        "",
        "alice 1 2 IN IP4",
        "alice 1 2 IN IP4 a extra",
        "alice 1 x IN IP4 a",
        "alice  1 2 IN IP4 a",
        "alice 1 2 IN IP4 a ",
    ] {
        assert_eq!(Origin::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn connection_ip4_ip6_and_fqdn() {
    let c = Connection::parse("IN IP4 192.0.2.1").unwrap();
    assert_eq!(c.ip(), Some("192.0.2.1".parse().unwrap()));
    assert!(!c.is_hold());
    let c = Connection::parse("IN IP6 2001:db8::1").unwrap();
    assert_eq!(c.ip(), Some("2001:db8::1".parse().unwrap()));
    let c = Connection::parse("IN IP4 host.example.com").unwrap();
    assert_eq!(c.address, "host.example.com");
    assert_eq!(c.ip(), None);
    assert!(Connection::parse("IN IP4 0.0.0.0").unwrap().is_hold());
    assert!(Connection::parse("IN IP6 ::").unwrap().is_hold());
    // An IP6 literal declared as IP4 is not an IP4 address.
    assert_eq!(Connection::parse("IN IP4 2001:db8::1").unwrap().ip(), None);
}

#[test]
fn connection_multicast_suffixes() {
    let c = Connection::parse("IN IP4 233.252.0.1/127/3").unwrap();
    assert_eq!(
        (c.address, c.ttl, c.count),
        ("233.252.0.1", Some(127), Some(3))
    );
    let c = Connection::parse("IN IP4 233.252.0.1/127").unwrap();
    assert_eq!((c.ttl, c.count), (Some(127), None));
    let c = Connection::parse("IN IP6 ff00::db8:0:101/3").unwrap();
    assert_eq!(
        (c.address, c.ttl, c.count),
        ("ff00::db8:0:101", None, Some(3))
    );
    assert_eq!(Connection::parse("IN IP6 ff00::1/3/2"), None);
    assert_eq!(Connection::parse("IN IP4 233.252.0.1/300"), None);
    assert_eq!(Connection::parse("IN IP4"), None);
    assert_eq!(Connection::parse("IN IP4 1.2.3.4 x"), None);
}

#[test]
fn media_line_fields() {
    let m = MediaLine::parse("audio 49170/2 RTP/AVP 0 8 97").unwrap();
    assert_eq!(m.media_type, "audio");
    assert_eq!((m.port, m.port_count), (49170, Some(2)));
    assert_eq!(m.proto, "RTP/AVP");
    assert_eq!(m.formats().collect::<Vec<_>>(), ["0", "8", "97"]);
    assert_eq!(m.format_count(), 3);
    let m = MediaLine::parse("image 0 udptl t38").unwrap();
    assert_eq!(m.formats().collect::<Vec<_>>(), ["t38"]);
    // No formats at all is tolerated.
    assert_eq!(
        MediaLine::parse("audio 0 RTP/AVP").unwrap().format_count(),
        0
    );
}

#[test]
fn media_line_rejects() {
    for bad in [
        "audio",
        "audio 70000 RTP/AVP 0",
        "audio x RTP/AVP 0",
        "audio 1/ RTP/AVP 0",
        "audio 1 RTP/AVP 0 ",
        "audio 1 RTP/AVP ",
        "audio 1 RTP/AVP 0  8",
        "audio -1 RTP/AVP 0",
    ] {
        assert_eq!(MediaLine::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn rtpmap_variants() {
    let r = RtpMap::parse("96 opus/48000/2").unwrap();
    assert_eq!(
        (r.payload_type, r.encoding, r.clock_rate, r.channels),
        (96, "opus", 48000, Some(2))
    );
    let r = RtpMap::parse("0 PCMU/8000").unwrap();
    assert_eq!(r.channel_count(), 1);
    assert!(RtpMap::parse("101 telephone-event/8000")
        .unwrap()
        .is_telephone_event());
    assert!(RtpMap::parse("13 CN/8000").unwrap().is_comfort_noise());
    // Trailing blanks, as some gateways send, are tolerated.
    assert_eq!(RtpMap::parse("8 PCMA/8000 ").unwrap().clock_rate, 8000);
    for bad in [
        "128 x/8000",
        "96 opus",
        "96 /8000",
        "96 opus/x",
        "96 opus/48000/2/1",
        "opus/8000",
        "96 a b/8000",
    ] {
        assert_eq!(RtpMap::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn fmtp_rtcp_ptime() {
    assert_eq!(
        Fmtp::parse("101 0-15"),
        Some(Fmtp {
            format: "101",
            params: "0-15"
        })
    );
    assert_eq!(Fmtp::parse("18").unwrap().params, "");
    assert_eq!(Fmtp::parse(""), None);
    let r = Rtcp::parse("53020").unwrap();
    assert_eq!((r.port, r.address, r.ip()), (53020, None, None));
    let r = Rtcp::parse("53020 IN IP4 126.16.64.4").unwrap();
    assert_eq!(r.ip(), Some("126.16.64.4".parse().unwrap()));
    assert_eq!(Rtcp::parse("53020 IN IP4"), None);
    assert_eq!(Rtcp::parse("x"), None);
    assert_eq!(parse_ptime("20"), Some(20));
    assert_eq!(parse_ptime("22.5"), Some(22));
    assert_eq!(parse_ptime("x"), None);
    assert_eq!(parse_ptime("20.x"), None);
}

#[test]
fn bandwidth_and_timing() {
    assert_eq!(
        Bandwidth::parse("AS:64"),
        Some(Bandwidth {
            bw_type: "AS",
            bandwidth: 64
        })
    );
    assert_eq!(Bandwidth::parse("AS:"), None);
    assert_eq!(Bandwidth::parse(":64"), None);
    assert_eq!(Timing::parse("0 0"), Some(Timing { start: 0, stop: 0 }));
    assert_eq!(
        Timing::parse("3034423619 3042462419").unwrap().stop,
        3_042_462_419
    );
    assert_eq!(Timing::parse("0"), None);
}

#[test]
fn direction_rules_of_rfc3264_6_1() {
    use Direction::*;
    assert_eq!(Direction::answer_to(SendOnly, SendRecv), RecvOnly);
    assert_eq!(Direction::answer_to(RecvOnly, SendRecv), SendOnly);
    assert_eq!(Direction::answer_to(Inactive, SendRecv), Inactive);
    assert_eq!(Direction::answer_to(SendRecv, SendRecv), SendRecv);
    assert_eq!(Direction::answer_to(SendRecv, SendOnly), SendOnly);
    assert_eq!(Direction::answer_to(SendOnly, SendOnly), Inactive);
    assert_eq!(Direction::answer_to(RecvOnly, Inactive), Inactive);
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(d.reversed().reversed(), d);
        assert_eq!(Direction::from_name(d.as_str()), Some(d));
        assert_eq!(Direction::from_flags(d.sends(), d.receives()), d);
    }
    assert_eq!(Direction::from_name("sendrecv:x"), None);
}

#[test]
fn payload_type_range() {
    assert_eq!(payload_type("0"), Some(0));
    assert_eq!(payload_type("127"), Some(127));
    assert_eq!(payload_type("128"), None);
    assert_eq!(payload_type("+1"), None);
    assert_eq!(payload_type(""), None);
}
