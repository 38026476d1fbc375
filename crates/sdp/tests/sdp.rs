//! Integration tests: real-world fixtures, RFC 3264 §10 vectors, and
//! property tests of the parser and printer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proptest::prelude::*;
use sdp::{
    answer, negotiated, offer, Codec, CodecPreference, Direction, Error, LocalCapabilities, Session,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(name: &str) -> Session {
    Session::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn local(ip: &str, port: u16) -> LocalCapabilities {
    let mut l = LocalCapabilities::new(ip.parse().unwrap(), port);
    l.session_id = 5555;
    l.session_version = 1;
    l
}

/// The lines of media section `k`, joined with CRLF.
fn section(s: &Session, k: usize) -> String {
    let m = s.media_at(k).unwrap();
    m.lines()
        .map(|l| format!("{}={}\r\n", l.kind, l.value))
        .collect()
}

const FIXTURES: &[&str] = &[
    "linphone_offer.sdp",
    "baresip_offer.sdp",
    "carrier_g711_offer.sdp",
    "rfc3264_10_1_offer.sdp",
    "rfc3264_10_1_answer.sdp",
    "rfc3264_10_1_reoffer.sdp",
    "rfc3264_10_1_reanswer.sdp",
    "rfc3264_10_2_offer.sdp",
    "rfc3264_10_2_answer.sdp",
    "ipv6_offer.sdp",
    "hold_offer.sdp",
];

#[test]
fn every_fixture_prints_back_byte_for_byte() {
    for name in FIXTURES {
        let text = fixture(name);
        assert!(text.ends_with("\r\n"), "{name} must be CRLF");
        let s = Session::parse(&text).unwrap();
        assert_eq!(s.as_str(), text, "{name}");
        let lf = Session::parse(&text.replace("\r\n", "\n")).unwrap();
        assert_eq!(lf, s, "{name} with LF endings");
        assert_eq!(Session::parse_bytes(text.as_bytes()).unwrap(), s);
    }
}

// ---- Linphone ---------------------------------------------------------------

#[test]
fn linphone_offer_typed_access() {
    let s = load("linphone_offer.sdp");
    let o = s.origin().unwrap();
    assert_eq!(
        (o.username, o.session_id, o.session_version),
        ("alice", "3218", "2871")
    );
    assert_eq!(s.session_name(), Some("Talk"));
    assert_eq!(s.attribute("record").unwrap().value, Some("off"));
    assert_eq!(s.attribute("rtcp-xr").unwrap().line, 6);
    assert_eq!(s.media_count(), 2);

    let a = s.media_at(0).unwrap();
    assert_eq!(
        (a.media_type(), a.port(), a.proto()),
        ("audio", 7078, "RTP/AVP")
    );
    assert_eq!(
        a.payload_types().collect::<Vec<_>>(),
        [96, 97, 98, 0, 8, 101, 99, 100]
    );
    let speex = a.codec(97).unwrap();
    assert_eq!(
        (speex.encoding, speex.clock_rate, speex.channels),
        ("speex", 16000, None)
    );
    assert_eq!(a.codec(96).unwrap().channels, Some(2));
    assert_eq!(a.codec(0).unwrap().encoding, "PCMU");
    assert_eq!(a.fmtp("97"), Some("vbr=on"));
    assert_eq!(
        a.telephone_event_payload_types().collect::<Vec<_>>(),
        [101, 99, 100]
    );
    assert_eq!(a.rtcp().unwrap().port, 7079);
    assert!(!a.rtcp_mux());
    assert_eq!(a.rtp_address(), Some(addr("192.0.2.20:7078")));
    assert_eq!(a.rtcp_address(), Some(addr("192.0.2.20:7079")));
    assert_eq!(a.direction(), Direction::SendRecv);
    assert_eq!(a.ptime(), None);
    assert_eq!(a.attributes().filter(|x| x.name == "rtcp-fb").count(), 2);

    let v = s.media_at(1).unwrap();
    assert_eq!((v.media_type(), v.port()), ("video", 9078));
    assert_eq!(v.codec(97).unwrap().encoding, "H264");
    assert_eq!(v.attributes().filter(|x| x.name == "rtcp-fb").count(), 8);
}

#[test]
fn linphone_offer_answered_with_opus_first() {
    let s = load("linphone_offer.sdp");
    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![
        Codec::OPUS,
        Codec::PCMU,
        Codec::PCMA,
        Codec::TELEPHONE_EVENT,
        Codec::TELEPHONE_EVENT_48K,
    ];
    l.rtp_ports = vec![30000, 30002];
    let ans = answer(&s, &l).unwrap();
    assert_eq!(
        ans.as_str(),
        "v=0\r\n\
         o=- 5555 1 IN IP4 203.0.113.5\r\n\
         s=ferroswitch\r\n\
         c=IN IP4 203.0.113.5\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 96 0 8 101 100\r\n\
         a=rtpmap:96 opus/48000/2\r\n\
         a=fmtp:96 useinbandfec=1\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/48000\r\n\
         a=rtpmap:100 telephone-event/8000\r\n\
         a=sendrecv\r\n\
         m=video 0 RTP/AVP 96 97\r\n"
    );
    let n = negotiated(&s, &ans);
    assert_eq!(n.streams.len(), 2);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::OPUS));
    assert_eq!(
        (a.offer.payload_type, a.answer.payload_type),
        (Some(96), Some(96))
    );
    assert_eq!(
        (a.offer.telephone_event, a.answer.telephone_event),
        (Some(101), Some(101))
    );
    assert_eq!(a.offer.rtp, Some(addr("192.0.2.20:7078")));
    assert_eq!(
        a.offer.rtcp,
        Some(addr("192.0.2.20:7079")),
        "a=rtcp honoured"
    );
    assert_eq!(a.answer.rtp, Some(addr("203.0.113.5:30000")));
    assert_eq!(a.answer.rtcp, Some(addr("203.0.113.5:30001")));
    assert!(!a.rtcp_mux);
    assert_eq!(a.direction, Direction::SendRecv);
    assert!(!n.streams[1].accepted);
}

#[test]
fn reorder_puts_the_preferred_payload_types_first() {
    let mut s = load("linphone_offer.sdp");
    let before = s.as_str().to_owned();
    let mut m = s.media_mut(0).unwrap();
    let formats: Vec<String> = m.as_media().media_line().formats().map(str::to_owned).collect();
    m.reorder_payload_types(&[8, 0]);
    let after: Vec<String> = m.as_media().media_line().formats().map(str::to_owned).collect();
    assert_eq!(&after[..2], &["8".to_owned(), "0".to_owned()]);
    let rest: Vec<&String> = formats.iter().filter(|f| *f != "8" && *f != "0").collect();
    assert_eq!(after[2..].iter().collect::<Vec<_>>(), rest, "the others keep their order");
    // Only the m= line changed.
    let changed: Vec<(&str, &str)> = before.lines().zip(s.as_str().lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].0.starts_with("m=audio"));
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);
}

#[test]
fn linphone_offer_trimmed_to_g711_for_a_carrier() {
    let mut s = load("linphone_offer.sdp");
    let mut m = s.media_mut(0).unwrap();
    m.retain_payload_types(&[0, 8, 100]).unwrap();
    m.set_port(40000);
    m.remove_attributes("rtcp");
    s.media_mut(1).unwrap().set_port(0);
    s.set_all_connection_addresses("198.51.100.99".parse().unwrap());
    s.bump_origin_version().unwrap();
    assert_eq!(s.origin().unwrap().session_version, "2872");
    assert_eq!(
        section(&s, 0),
        "m=audio 40000 RTP/AVP 0 8 100\r\n\
         a=rtpmap:100 telephone-event/8000\r\n\
         a=rtcp-fb:* trr-int 1000\r\n\
         a=rtcp-fb:* ccm tmmbr\r\n"
    );
    assert!(s.as_str().starts_with(
        "v=0\r\no=alice 3218 2872 IN IP4 192.0.2.20\r\ns=Talk\r\nc=IN IP4 198.51.100.99\r\n"
    ));
    assert!(s.as_str().contains("\r\nm=video 0 RTP/AVP 96 97\r\n"));
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);
}

// ---- baresip ---------------------------------------------------------------

#[test]
fn baresip_offer_with_rtcp_mux() {
    let s = load("baresip_offer.sdp");
    assert_eq!(s.attribute("tool").unwrap().value, Some("baresip 3.10.1"));
    let m = s.media_at(0).unwrap();
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [96, 9, 0, 8, 101]);
    assert_eq!(
        m.bandwidths().next().map(|b| (b.bw_type, b.bandwidth)),
        Some(("AS", 128))
    );
    assert_eq!(
        m.fmtp("96"),
        Some("stereo=1;sprop-stereo=1;maxaveragebitrate=28000")
    );
    assert_eq!(m.ptime(), Some(20));
    assert!(m.rtcp_mux());
    assert_eq!(m.explicit_direction(), Some(Direction::SendRecv));
    assert_eq!(
        m.attribute("ssrc").unwrap().value,
        Some("1946279183 cname:sip:alice@example.com")
    );

    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![
        Codec::G722,
        Codec::PCMU,
        Codec::PCMA,
        Codec::TELEPHONE_EVENT,
    ];
    l.single_codec = true;
    l.ptime = Some(20);
    let ans = answer(&s, &l).unwrap();
    assert_eq!(
        section(&ans, 0),
        "m=audio 30000 RTP/AVP 9 101\r\n\
         a=rtpmap:9 G722/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n\
         a=ptime:20\r\n\
         a=rtcp-mux\r\n\
         a=sendrecv\r\n"
    );
    let n = negotiated(&s, &ans);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::G722));
    assert!(a.rtcp_mux);
    assert_eq!(a.offer.rtp, Some(addr("192.0.2.33:10766")));
    assert_eq!(
        a.offer.rtcp,
        Some(addr("192.0.2.33:10766")),
        "rtcp-mux: RTCP on the RTP port"
    );
    assert_eq!(a.answer.rtcp, Some(addr("203.0.113.5:30000")));
    assert_eq!((a.offer.ptime, a.answer.ptime), (Some(20), Some(20)));
}

#[test]
fn baresip_offer_in_the_offerers_order() {
    let s = load("baresip_offer.sdp");
    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![
        Codec::PCMA,
        Codec::PCMU,
        Codec::G722,
        Codec::TELEPHONE_EVENT,
    ];
    l.preference = CodecPreference::Theirs;
    let ans = answer(&s, &l).unwrap();
    let m = ans.media_at(0).unwrap();
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [9, 0, 8, 101]);
    l.preference = CodecPreference::Ours;
    let ans = answer(&s, &l).unwrap();
    assert_eq!(
        ans.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [8, 0, 9, 101]
    );
}

// ---- G.711 carrier -----------------------------------------------------------

#[test]
fn carrier_offer_static_payload_types_without_rtpmap() {
    let s = load("carrier_g711_offer.sdp");
    assert_eq!(s.session_name(), Some("SIP Media Capabilities"));
    let m = s.media_at(0).unwrap();
    assert_eq!(m.rtpmap(0), None);
    assert_eq!(
        m.codec(0).map(|r| (r.encoding, r.clock_rate)),
        Some(("PCMU", 8000))
    );
    assert_eq!(m.codec(8).map(|r| r.encoding), Some("PCMA"));
    assert_eq!((m.ptime(), m.maxptime()), (Some(20), Some(30)));
    assert_eq!(
        m.attribute("silenceSupp").unwrap().value,
        Some("off - - - -")
    );

    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![
        Codec::OPUS,
        Codec::PCMA,
        Codec::PCMU,
        Codec::TELEPHONE_EVENT,
    ];
    l.ptime = Some(20);
    let ans = answer(&s, &l).unwrap();
    assert_eq!(
        section(&ans, 0),
        "m=audio 30000 RTP/AVP 8 0 101\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
    let n = negotiated(&s, &ans);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::PCMA));
    assert_eq!(
        (a.offer.payload_type, a.answer.payload_type),
        (Some(8), Some(8))
    );
    assert_eq!(a.offer.rtp, Some(addr("198.51.100.10:21372")));
    assert_eq!(a.offer.rtcp, Some(addr("198.51.100.10:21373")));
}

#[test]
fn carrier_offer_with_nothing_in_common_is_488() {
    let s = load("carrier_g711_offer.sdp");
    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![Codec::OPUS, Codec::G729, Codec::TELEPHONE_EVENT];
    let e = answer(&s, &l).unwrap_err();
    assert_eq!(e, Error::NoCommonMedia);
    assert_eq!(e.status_code(), 488);
}

// ---- RFC 3264 §10 ------------------------------------------------------------

#[test]
fn rfc3264_10_1_basic_exchange() {
    let offer = load("rfc3264_10_1_offer.sdp");
    let ans = load("rfc3264_10_1_answer.sdp");
    assert_eq!(offer.session_name(), Some(""));
    assert_eq!(offer.connection().unwrap().address, "host.anywhere.com");
    assert_eq!(offer.connection().unwrap().ip(), None);

    let n = negotiated(&offer, &ans);
    assert_eq!(n.streams.len(), 3);
    let [audio, v1, v2] = &n.streams[..] else {
        panic!()
    };
    assert!(audio.accepted);
    assert_eq!(audio.codec, Some(Codec::PCMU));
    assert_eq!(
        (audio.offer.payload_type, audio.answer.payload_type),
        (Some(0), Some(0))
    );
    assert_eq!(audio.offer.rtp, None, "FQDN is not resolved here");
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(!v1.accepted);
    assert_eq!(v1.media_type, "video");
    assert!(v2.accepted);
    assert_eq!(v2.codec, Some(Codec::new("MPV", 90000, 1)));
    assert_eq!(v2.answer.payload_type, Some(32));

    // Our own answer to the same offer: audio only, both videos rejected.
    let mut l = local("203.0.113.5", 49920);
    l.codecs = vec![Codec::PCMU];
    l.rtp_ports = vec![49920, 51000, 53000];
    let ours = answer(&offer, &l).unwrap();
    let ms: Vec<_> = ours
        .lines()
        .filter(|l| l.kind == 'm')
        .map(|l| l.value)
        .collect();
    assert_eq!(
        ms,
        [
            "audio 49920 RTP/AVP 0",
            "video 0 RTP/AVP 31",
            "video 0 RTP/AVP 32"
        ]
    );
    assert_eq!(
        section(&ours, 0),
        "m=audio 49920 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    );
}

#[test]
fn rfc3264_10_1_second_exchange_adds_a_recvonly_stream() {
    let offer = load("rfc3264_10_1_reoffer.sdp");
    let ans = load("rfc3264_10_1_reanswer.sdp");
    assert_eq!(
        offer.origin().unwrap().session_version_number(),
        Some(2_890_844_731)
    );
    let n = negotiated(&offer, &ans);
    assert_eq!(n.streams.len(), 4);
    assert!(!n.streams[1].accepted, "offered with port 0");
    let events = &n.streams[3];
    assert!(events.accepted);
    // The RFC spells it "telephone-events": a codec like any other to us.
    assert_eq!(events.codec, Some(Codec::new("telephone-events", 8000, 1)));
    assert_eq!(events.answer.payload_type, Some(110));
    assert_eq!(
        events.direction,
        Direction::RecvOnly,
        "the offerer (Bob) only receives"
    );
    assert_eq!(ans.media_at(3).unwrap().direction(), Direction::SendOnly);
}

#[test]
fn rfc3264_10_2_inactive_offer_is_answered_inactive() {
    let offer = load("rfc3264_10_2_offer.sdp");
    let rfc_answer = load("rfc3264_10_2_answer.sdp");
    let mut l = local("203.0.113.5", 54344);
    l.codecs = vec![Codec::PCMU, Codec::new("G723", 8000, 1)];
    let ours = answer(&offer, &l).unwrap();
    assert_eq!(section(&ours, 0), section(&rfc_answer, 0));
    let n = negotiated(&offer, &rfc_answer);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::PCMU));
    assert_eq!(a.direction, Direction::Inactive);
}

// ---- IPv6 ---------------------------------------------------------------------

#[test]
fn ipv6_offer() {
    let s = load("ipv6_offer.sdp");
    let o = s.origin().unwrap();
    assert_eq!(
        (o.addr_type, o.address),
        ("IP6", "2001:db8:85a3::8a2e:370:7334")
    );
    let c = s.connection().unwrap();
    assert_eq!(
        c.ip(),
        Some("2001:db8:85a3::8a2e:370:7334".parse().unwrap())
    );
    let m = s.media_at(0).unwrap();
    assert_eq!(
        m.rtp_address(),
        Some(addr("[2001:db8:85a3::8a2e:370:7334]:40000"))
    );
    assert_eq!(
        m.rtcp_address(),
        Some(addr("[2001:db8:85a3::8a2e:370:7335]:40001"))
    );
    assert_eq!(m.fmtp("101"), Some("0-16"));

    let mut l = local("2001:db8::5", 30000);
    l.codecs = vec![Codec::G722, Codec::PCMU, Codec::TELEPHONE_EVENT];
    let ans = answer(&s, &l).unwrap();
    assert!(ans.as_str().starts_with(
        "v=0\r\no=- 5555 1 IN IP6 2001:db8::5\r\ns=ferroswitch\r\nc=IN IP6 2001:db8::5\r\n"
    ));
    let n = negotiated(&s, &ans);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::G722));
    assert_eq!(a.answer.rtp, Some(addr("[2001:db8::5]:30000")));
    assert_eq!(
        a.offer.rtcp,
        Some(addr("[2001:db8:85a3::8a2e:370:7335]:40001"))
    );
}

// ---- hold ---------------------------------------------------------------------

#[test]
fn hold_offer_is_mirrored() {
    let s = load("hold_offer.sdp");
    let c = s.connection().unwrap();
    assert!(c.is_hold());
    let m = s.media_at(0).unwrap();
    assert_eq!(m.direction(), Direction::SendOnly);
    assert_eq!(m.rtp_address(), Some(addr("0.0.0.0:16384")));

    let ans = answer(&s, &local("203.0.113.5", 30000)).unwrap();
    let am = ans.media_at(0).unwrap();
    assert_eq!(am.explicit_direction(), Some(Direction::RecvOnly));
    assert_eq!(am.payload_types().collect::<Vec<_>>(), [0, 8, 101]);
    let n = negotiated(&s, &ans);
    assert_eq!(n.audio().unwrap().direction, Direction::SendOnly);

    // The same offer with sendrecv but c=0.0.0.0 (RFC 2543 hold).
    let mut old = s.clone();
    old.media_mut(0).unwrap().set_direction(Direction::SendRecv);
    let ans = answer(&old, &local("203.0.113.5", 30000)).unwrap();
    assert_eq!(
        ans.media_at(0).unwrap().explicit_direction(),
        Some(Direction::RecvOnly)
    );

    // Resume: real address, sendrecv, next version.
    let mut resume = s.clone();
    resume.set_connection_address(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 77)));
    resume
        .media_mut(0)
        .unwrap()
        .set_direction(Direction::SendRecv);
    resume.bump_origin_version().unwrap();
    assert_eq!(
        resume.as_str(),
        fixture("hold_offer.sdp")
            .replace("3849602014 IN", "3849602015 IN")
            .replace("c=IN IP4 0.0.0.0", "c=IN IP4 203.0.113.77")
            .replace("a=sendonly", "a=sendrecv")
    );
    let ans = answer(&resume, &local("203.0.113.5", 30000)).unwrap();
    assert_eq!(
        ans.media_at(0).unwrap().explicit_direction(),
        Some(Direction::SendRecv)
    );
}

#[test]
fn our_offer_answered_by_a_carrier() {
    let mut l = local("203.0.113.5", 30000);
    l.codecs = vec![
        Codec::OPUS,
        Codec::PCMA,
        Codec::PCMU,
        Codec::TELEPHONE_EVENT,
    ];
    let o = offer(&l).unwrap();
    let carrier = Session::parse(
        "v=0\r\no=Sonus_UAC 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\n\
         m=audio 21372 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n",
    )
    .unwrap();
    let n = negotiated(&o, &carrier);
    let a = n.audio().unwrap();
    assert_eq!(a.codec, Some(Codec::PCMA));
    assert_eq!(
        (a.offer.telephone_event, a.answer.telephone_event),
        (Some(97), Some(101))
    );
    assert_eq!(a.answer.rtp, Some(addr("198.51.100.10:21372")));
    assert!(
        !a.rtcp_mux,
        "we offered rtcp-mux but the carrier did not take it"
    );
    assert_eq!(a.answer.rtcp, Some(addr("198.51.100.10:21373")));
}

// ---- property tests -------------------------------------------------------------

fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,24}"
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

fn addr_fields(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    }
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![
        Just(Direction::SendRecv),
        Just(Direction::SendOnly),
        Just(Direction::RecvOnly),
        Just(Direction::Inactive),
    ]
}

/// An attribute line value (after `a=`), typed or opaque.
fn attribute() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            0u8..128,
            "[A-Za-z][A-Za-z0-9-]{0,10}",
            1u32..200_000,
            proptest::option::of(1u16..9)
        )
            .prop_map(|(pt, name, rate, ch)| match ch {
                Some(ch) => format!("rtpmap:{pt} {name}/{rate}/{ch}"),
                None => format!("rtpmap:{pt} {name}/{rate}"),
            }),
        (0u8..128, "[ -~]{0,20}").prop_map(|(pt, p)| format!("fmtp:{pt} {p}")),
        (1u32..200).prop_map(|p| format!("ptime:{p}")),
        (1u32..200).prop_map(|p| format!("maxptime:{p}")),
        (any::<u16>(), proptest::option::of(ip())).prop_map(|(port, ip)| match ip {
            Some(ip) => format!("rtcp:{port} {}", addr_fields(ip)),
            None => format!("rtcp:{port}"),
        }),
        direction().prop_map(|d| d.as_str().to_owned()),
        Just("rtcp-mux".to_owned()),
        ("x-[a-z0-9-]{1,10}", proptest::option::of(text())).prop_map(|(n, v)| match v {
            Some(v) => format!("{n}:{v}"),
            None => n,
        }),
    ]
}

/// A line that may appear anywhere: attribute, bandwidth, or opaque type.
fn any_level_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => attribute().prop_map(|a| format!("a={a}")),
        1 => ("[A-Z]{1,5}", any::<u32>()).prop_map(|(t, n)| format!("b={t}:{n}")),
        1 => ip().prop_map(|ip| format!("c={}", addr_fields(ip))),
        1 => ("[dfghijklnpqruwxyzA-Z]", text()).prop_map(|(k, v)| format!("{k}={v}")),
    ]
}

fn media_section() -> impl Strategy<Value = String> {
    (
        "[a-z]{1,8}",
        any::<u16>(),
        proptest::option::of(1u16..8),
        prop_oneof![
            Just("RTP/AVP".to_owned()),
            Just("RTP/AVPF".to_owned()),
            "[A-Za-z/]{1,12}"
        ],
        proptest::collection::vec(prop_oneof!["[0-9]{1,3}", "[a-z0-9]{1,5}"], 0..6),
        proptest::collection::vec(any_level_line(), 0..8),
    )
        .prop_map(|(media, port, count, proto, fmts, lines)| {
            let mut s = format!("m={media} {port}");
            if let Some(n) = count {
                s += &format!("/{n}");
            }
            s += &format!(" {proto}");
            for f in fmts {
                s += &format!(" {f}");
            }
            s += "\r\n";
            for l in lines {
                s += &l;
                s += "\r\n";
            }
            s
        })
}

/// The text of a well-formed description.
fn session_text() -> impl Strategy<Value = String> {
    (
        ("[a-z-]{1,8}", any::<u64>(), any::<u64>(), ip()),
        text(),
        proptest::collection::vec(any_level_line(), 0..8),
        (any::<u32>(), any::<u32>()),
        proptest::collection::vec(media_section(), 0..4),
    )
        .prop_map(|((user, id, ver, ip), name, lines, (t0, t1), media)| {
            let mut s = format!(
                "v=0\r\no={user} {id} {ver} {}\r\ns={name}\r\n",
                addr_fields(ip)
            );
            for l in lines {
                s += &l;
                s += "\r\n";
            }
            s += &format!("t={t0} {t1}\r\n");
            for m in media {
                s += &m;
            }
            s
        })
}

#[derive(Debug, Clone)]
enum Edit {
    Connection(IpAddr),
    AllConnections(IpAddr),
    MediaConnection(usize, IpAddr),
    Port(usize, u16),
    Direction(Option<usize>, Direction),
    Retain(usize, Vec<u8>),
    Reorder(usize, Vec<u8>),
    Bump,
    Add(Option<usize>, String, Option<String>),
    Remove(Option<usize>, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let k = 0usize..4;
    prop_oneof![
        ip().prop_map(Edit::Connection),
        ip().prop_map(Edit::AllConnections),
        (k.clone(), ip()).prop_map(|(k, ip)| Edit::MediaConnection(k, ip)),
        (k.clone(), any::<u16>()).prop_map(|(k, p)| Edit::Port(k, p)),
        (proptest::option::of(k.clone()), direction()).prop_map(|(k, d)| Edit::Direction(k, d)),
        (k.clone(), proptest::collection::vec(0u8..128, 0..4))
            .prop_map(|(k, v)| Edit::Retain(k, v)),
        (k.clone(), proptest::collection::vec(0u8..128, 0..4))
            .prop_map(|(k, v)| Edit::Reorder(k, v)),
        Just(Edit::Bump),
        (
            proptest::option::of(k.clone()),
            "[a-z-]{0,8}",
            proptest::option::of(text())
        )
            .prop_map(|(k, n, v)| Edit::Add(k, n, v)),
        (
            proptest::option::of(k),
            prop_oneof![Just("rtpmap".to_owned()), "[a-z-]{1,8}"]
        )
            .prop_map(|(k, n)| Edit::Remove(k, n)),
    ]
}

fn apply(s: &mut Session, e: &Edit) {
    match e {
        Edit::Connection(ip) => s.set_connection_address(*ip),
        Edit::AllConnections(ip) => s.set_all_connection_addresses(*ip),
        Edit::MediaConnection(k, ip) => {
            if let Some(mut m) = s.media_mut(*k) {
                m.set_connection_address(*ip);
            }
        }
        Edit::Port(k, p) => {
            if let Some(mut m) = s.media_mut(*k) {
                m.set_port(*p);
                assert_eq!(m.as_media().port(), *p);
            }
        }
        Edit::Direction(None, d) => {
            s.set_direction(*d);
            assert_eq!(s.direction(), Some(*d));
        }
        Edit::Direction(Some(k), d) => {
            if let Some(mut m) = s.media_mut(*k) {
                m.set_direction(*d);
                assert_eq!(m.as_media().direction(), *d);
            }
        }
        Edit::Retain(k, keep) => {
            if let Some(mut m) = s.media_mut(*k) {
                if m.retain_payload_types(keep).is_ok() {
                    assert!(m.as_media().payload_types().all(|pt| keep.contains(&pt)));
                }
            }
        }
        Edit::Reorder(k, first) => {
            if let Some(mut m) = s.media_mut(*k) {
                let mut before: Vec<String> = m.as_media().media_line().formats().map(str::to_owned).collect();
                m.reorder_payload_types(first);
                let after: Vec<String> = m.as_media().media_line().formats().map(str::to_owned).collect();
                // The listed payload types lead, in the order asked for.
                let listed: Vec<u8> = first.iter().copied().filter(|pt| before.iter().any(|f| f.parse::<u8>().ok() == Some(*pt))).fold(Vec::new(), |mut v, pt| {
                    if !v.contains(&pt) {
                        v.push(pt);
                    }
                    v
                });
                let lead: Vec<u8> = after.iter().take(listed.len()).filter_map(|f| f.parse().ok()).collect();
                assert_eq!(lead, listed, "{first:?}: {after:?}");
                // Nothing added or lost.
                let mut sorted = after.clone();
                sorted.sort();
                before.sort();
                assert_eq!(sorted, before);
            }
        }
        Edit::Bump => {
            let before = s.origin().map(|o| o.session_version.to_owned());
            s.bump_origin_version().unwrap();
            assert_ne!(s.origin().map(|o| o.session_version.to_owned()), before);
        }
        Edit::Add(None, n, v) => {
            let _ = s.add_attribute(n, v.as_deref());
        }
        Edit::Add(Some(k), n, v) => {
            if let Some(mut m) = s.media_mut(*k) {
                let _ = m.add_attribute(n, v.as_deref());
            }
        }
        Edit::Remove(None, n) => {
            s.remove_attributes(n);
        }
        Edit::Remove(Some(k), n) => {
            if let Some(mut m) = s.media_mut(*k) {
                m.remove_attributes(n);
            }
        }
    }
}

/// Calls every accessor and the offer/answer functions; none may panic.
fn exercise(s: &Session) {
    let _ = (
        s.origin(),
        s.session_name(),
        s.information(),
        s.uri(),
        s.connection(),
    );
    let _ = (s.timing(), s.time_zones(), s.key(), s.direction());
    let _ = (s.emails().count(), s.phones().count(), s.repeats().count());
    let _ = (
        s.bandwidths().count(),
        s.attributes().count(),
        s.lines().count(),
    );
    for m in s.media() {
        let _ = (
            m.media_type(),
            m.port(),
            m.port_count(),
            m.proto(),
            m.is_rejected(),
        );
        let _ = (
            m.connection(),
            m.effective_connection().map(|c| (c.ip(), c.is_hold())),
        );
        let _ = (
            m.ptime(),
            m.maxptime(),
            m.direction(),
            m.rtcp(),
            m.rtcp_mux(),
        );
        let _ = (m.rtp_address(), m.rtcp_address(), m.information(), m.key());
        let _ = m.telephone_event_payload_types().count();
        for pt in m.payload_types() {
            let _ = (m.codec(pt), m.fmtp(&pt.to_string()));
        }
        let _ = (
            m.rtpmaps().count(),
            m.fmtps().count(),
            m.bandwidths().count(),
        );
    }
    let mut l = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    l.rtp_ports = vec![4000; 8];
    l.codecs.push(Codec::OPUS);
    if let Ok(a) = answer(s, &l) {
        assert_eq!(Session::parse(a.as_str()).as_ref(), Ok(&a));
        assert_eq!(a.media_count(), s.media_count());
        let _ = negotiated(s, &a);
    }
    let _ = negotiated(s, s);
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(text in session_text()) {
        let s = Session::parse(&text).unwrap();
        prop_assert_eq!(s.as_str(), text.as_str());
        let again = Session::parse(&s.to_string()).unwrap();
        prop_assert_eq!(&again, &s);
        let lf = Session::parse(&text.replace("\r\n", "\n")).unwrap();
        prop_assert_eq!(&lf, &s);
        exercise(&s);
    }

    #[test]
    fn edits_keep_the_description_printable(
        text in session_text(),
        edits in proptest::collection::vec(edit(), 0..10),
    ) {
        let mut s = Session::parse(&text).unwrap();
        let media = s.media_count();
        for e in &edits {
            apply(&mut s, e);
            let again = Session::parse(s.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&s), "after {:?}", e);
            prop_assert_eq!(s.media_count(), media);
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        if let Ok(s) = Session::parse(&input) {
            exercise(&s);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(s) = Session::parse_bytes(&input) {
            exercise(&s);
        }
    }

    #[test]
    fn sdp_like_soup_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                1 => Just("v=0".to_owned()),
                1 => "o=[ -~]{0,30}",
                1 => "c=IN IP[46] [0-9a-f.:/]{0,20}",
                3 => "c=IN IP4 [0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
                6 => "m=(audio|video) [0-9]{1,4}(/[0-9])? RTP/AVP( [0-9]{1,3}){0,5}",
                6 => "a=(fmtp:[0-9]{1,3}|rtcp-mux|sendonly|recvonly|inactive|sendrecv|rtcp-fb)(:[ -~]{0,20})?",
                1 => "a=(rtpmap|ptime|maxptime|rtcp)(:[ -~]{0,20})?",
                2 => "a=rtcp:[0-9]{1,4}( IN IP4 [0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3})?",
                2 => "a=(ptime|maxptime):[0-9]{1,3}",
                10 => "a=rtpmap:[0-9]{1,2} (PCMU|PCMA|opus|telephone-event|CN|G722)/(8000|16000|48000)(/[12])?",
                1 => "[a-zA-Z0-9=]=[ -~\r]{0,10}",
                1 => "t=[0-9 ]{0,8}",
                1 => "b=[A-Z]{0,3}:?[0-9]{0,5}",
            ],
            1..12,
        ),
        lf in any::<bool>(),
    ) {
        let sep = if lf { "\n" } else { "\r\n" };
        let text = format!("v=0{sep}c=IN IP4 192.0.2.1{sep}{}", lines.join(sep));
        if let Ok(s) = Session::parse(&text) {
            exercise(&s);
            let again = Session::parse(s.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&s));
        }
    }

    #[test]
    fn damaged_descriptions_never_panic(
        text in session_text(),
        at in any::<proptest::sample::Index>(),
        cut in 0usize..8,
        junk in "[ -~\r\n\t]{0,6}",
    ) {
        let mut bytes = text.into_bytes();
        let start = at.index(bytes.len() + 1);
        let end = (start + cut).min(bytes.len());
        bytes.splice(start..end, junk.bytes());
        if let Ok(s) = Session::parse_bytes(&bytes) {
            exercise(&s);
            let again = Session::parse(s.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&s));
        }
    }
}

/// Inputs at the size limits built to make every loop as long as it can
/// be; the test finishing quickly is the assertion (work is linear).
#[test]
fn worst_case_inputs_stay_bounded() {
    let fmts: Vec<String> = (0..128).map(|pt| pt.to_string()).collect();
    let fmts = fmts.join(" ");

    // Many media sections, each listing every payload type.
    let mut wide = String::from("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n");
    for _ in 0..sdp::MAX_MEDIA {
        wide += &format!("m=audio 4000 RTP/AVP {fmts}\r\n");
    }
    let wide = Session::parse(&wide).unwrap();
    let mut l = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    l.rtp_ports = vec![4000; sdp::MAX_MEDIA];
    let ans = answer(&wide, &l).unwrap();
    assert_eq!(ans.media_count(), sdp::MAX_MEDIA);
    assert_eq!(negotiated(&wide, &ans).streams.len(), sdp::MAX_MEDIA);

    // One section with every payload type mapped and as many short lines as fit.
    let mut tall = format!("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP {fmts}\r\n");
    for pt in 0..128 {
        tall += &format!("a=rtpmap:{pt} X{pt}/8000\r\n");
    }
    while tall.len() + 32 < sdp::MAX_INPUT_LEN {
        tall += "a=sendonly\r\na=rtcp:9 IN IP4 1.2.3.4\r\nc=IN IP4 1.2.3.4\r\n";
    }
    let mut s = Session::parse(&tall).unwrap();
    assert_eq!(answer(&s, &l), Err(Error::NoCommonMedia));
    let _ = negotiated(&s, &s);
    s.set_all_connection_addresses(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut m = s.media_mut(0).unwrap();
    m.set_direction(Direction::RecvOnly);
    m.retain_payload_types(&[0]).unwrap();
    assert!(m.remove_attributes("rtcp") > 1000);
    assert_eq!(m.remove_attributes("rtcp"), 0);
    assert_eq!(Session::parse(s.as_str()).as_ref(), Ok(&s));
}
