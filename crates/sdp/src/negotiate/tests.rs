use super::*;
use std::net::Ipv4Addr;

fn local() -> LocalCapabilities {
    let mut l = LocalCapabilities::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)), 30000);
    l.session_id = 42;
    l.session_version = 7;
    l
}

fn sdp(body: &str) -> Session {
    Session::parse(body).unwrap()
}

const OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 192.0.2.1\r\n\
s=-\r\n\
c=IN IP4 192.0.2.1\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 96 0 8 100 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:100 telephone-event/48000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n";

#[test]
fn answer_in_our_order_with_offer_payload_numbers() {
    let mut l = local();
    l.codecs = vec![
        Codec::PCMA,
        Codec::OPUS,
        Codec::PCMU,
        Codec::TELEPHONE_EVENT,
    ];
    l.ptime = Some(20);
    let a = answer(&sdp(OFFER), &l).unwrap();
    assert_eq!(
        a.as_str(),
        "v=0\r\n\
         o=- 42 7 IN IP4 203.0.113.5\r\n\
         s=ferroswitch\r\n\
         c=IN IP4 203.0.113.5\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 8 96 0 101\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:96 opus/48000/2\r\n\
         a=fmtp:96 useinbandfec=1\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
    assert_eq!(Session::parse(a.as_str()).unwrap(), a);
}

#[test]
fn answer_in_their_order() {
    let mut l = local();
    l.codecs = vec![
        Codec::PCMA,
        Codec::OPUS,
        Codec::PCMU,
        Codec::TELEPHONE_EVENT_48K,
    ];
    l.preference = CodecPreference::Theirs;
    let a = answer(&sdp(OFFER), &l).unwrap();
    let m = a.media_at(0).unwrap();
    // opus first as offered; te at 48 kHz to go with opus.
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [96, 0, 8, 100]);
}

#[test]
fn single_codec_keeps_one_and_its_telephone_event() {
    let mut l = local();
    l.codecs = vec![
        Codec::OPUS,
        Codec::PCMU,
        Codec::TELEPHONE_EVENT,
        Codec::TELEPHONE_EVENT_48K,
    ];
    l.single_codec = true;
    let a = answer(&sdp(OFFER), &l).unwrap();
    assert_eq!(
        a.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [96, 100]
    );
}

#[test]
fn telephone_event_falls_back_to_a_rate_we_take() {
    let mut l = local();
    l.codecs = vec![Codec::OPUS, Codec::TELEPHONE_EVENT];
    let a = answer(&sdp(OFFER), &l).unwrap();
    assert_eq!(
        a.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [96, 101]
    );
    // Without telephone-event in our list, none is answered.
    l.codecs = vec![Codec::OPUS];
    let a = answer(&sdp(OFFER), &l).unwrap();
    assert_eq!(
        a.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [96]
    );
}

#[test]
fn comfort_noise_goes_along_at_a_matching_rate_only() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4 RTP/AVP 13 0\r\n");
    let mut l = local();
    l.codecs = vec![Codec::CN, Codec::PCMU];
    let a = answer(&o, &l).unwrap();
    assert_eq!(
        a.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [0, 13]
    );
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4 RTP/AVP 96 97\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:97 CN/8000\r\n");
    l.codecs = vec![Codec::OPUS, Codec::CN];
    let a = answer(&o, &l).unwrap();
    assert_eq!(
        a.media_at(0).unwrap().payload_types().collect::<Vec<_>>(),
        [96]
    );
}

#[test]
fn auxiliary_alone_is_no_common_codec() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4 RTP/AVP 96 101\r\na=rtpmap:96 AMR/8000\r\na=rtpmap:101 telephone-event/8000\r\n");
    assert_eq!(answer(&o, &local()), Err(Error::NoCommonMedia));
    assert_eq!(Error::NoCommonMedia.status_code(), 488);
}

#[test]
fn codec_names_match_case_insensitively_and_channels_count() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4 RTP/AVP 97 98\r\na=rtpmap:97 OPUS/48000/1\r\na=rtpmap:98 pcmu/8000\r\n");
    let mut l = local();
    l.codecs = vec![Codec::OPUS, Codec::PCMU];
    let a = answer(&o, &l).unwrap();
    let m = a.media_at(0).unwrap();
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [98]);
    assert_eq!(
        m.rtpmap(98).unwrap().encoding,
        "pcmu",
        "offer's rtpmap is echoed"
    );
}

#[test]
fn rejects_unwanted_streams_with_port_zero_keeping_order() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
         m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         m=audio 6000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n\
         m=audio 7000 RTP/AVP 0\r\n\
         m=image 8000 udptl t38\r\n\
         m=audio 0 RTP/AVP 0\r\n\
         m=audio 9000 RTP/AVP 18\r\n");
    let mut l = local();
    l.rtp_ports = vec![1000, 1002, 1004, 1006, 1008, 1010];
    let a = answer(&o, &l).unwrap();
    let lines: Vec<&str> = a
        .lines()
        .filter(|l| l.kind == 'm')
        .map(|l| l.value)
        .collect();
    assert_eq!(
        lines,
        [
            "video 0 RTP/AVP 96",
            "audio 0 RTP/SAVP 0",
            "audio 1004 RTP/AVP 0",
            "image 0 udptl t38",
            "audio 0 RTP/AVP 0",
            "audio 0 RTP/AVP 18",
        ]
    );
}

#[test]
fn stream_without_a_local_port_is_rejected() {
    let o =
        sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4 RTP/AVP 0\r\nm=audio 6 RTP/AVP 0\r\n");
    let a = answer(&o, &local()).unwrap();
    assert_eq!(a.media_at(0).unwrap().port(), 30000);
    assert_eq!(a.media_at(1).unwrap().port(), 0);
}

#[test]
fn offer_without_media_gets_answer_without_media() {
    let o = sdp("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=3034423619 3042462419\r\n");
    let a = answer(&o, &local()).unwrap();
    assert_eq!(a.media_count(), 0);
    assert_eq!(
        a.timing(),
        Some(Timing {
            start: 3_034_423_619,
            stop: 3_042_462_419
        }),
        "t= is copied"
    );
}

#[test]
fn direction_rules_and_hold() {
    let cases = [
        (
            "a=sendonly\r\n",
            "IN IP4 192.0.2.1",
            Direction::SendRecv,
            Direction::RecvOnly,
        ),
        (
            "a=recvonly\r\n",
            "IN IP4 192.0.2.1",
            Direction::SendRecv,
            Direction::SendOnly,
        ),
        (
            "a=inactive\r\n",
            "IN IP4 192.0.2.1",
            Direction::SendRecv,
            Direction::Inactive,
        ),
        (
            "",
            "IN IP4 192.0.2.1",
            Direction::SendRecv,
            Direction::SendRecv,
        ),
        (
            "",
            "IN IP4 192.0.2.1",
            Direction::SendOnly,
            Direction::SendOnly,
        ),
        (
            "a=sendonly\r\n",
            "IN IP4 192.0.2.1",
            Direction::SendOnly,
            Direction::Inactive,
        ),
        // RFC 2543 hold: c=0.0.0.0 means the offerer does not receive.
        (
            "",
            "IN IP4 0.0.0.0",
            Direction::SendRecv,
            Direction::RecvOnly,
        ),
        (
            "a=recvonly\r\n",
            "IN IP4 0.0.0.0",
            Direction::SendRecv,
            Direction::Inactive,
        ),
        ("", "IN IP6 ::", Direction::SendRecv, Direction::RecvOnly),
    ];
    for (attr, c, ours, want) in cases {
        let o = sdp(&format!(
            "v=0\r\nc={c}\r\nt=0 0\r\nm=audio 4 RTP/AVP 0\r\n{attr}"
        ));
        let mut l = local();
        l.direction = ours;
        let a = answer(&o, &l).unwrap();
        assert_eq!(
            a.media_at(0).unwrap().explicit_direction(),
            Some(want),
            "{attr:?} {c} {ours:?}"
        );
        let n = negotiated(&o, &a);
        assert_eq!(
            n.streams[0].direction,
            want.reversed(),
            "{attr:?} {c} {ours:?}"
        );
    }
}

#[test]
fn rtcp_mux_only_when_both_want_it() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    let a = answer(&o, &local()).unwrap();
    assert!(a.media_at(0).unwrap().rtcp_mux());
    let n = negotiated(&o, &a);
    let s = n.audio().unwrap();
    assert!(s.rtcp_mux);
    assert_eq!(s.offer.rtcp, Some("192.0.2.1:4000".parse().unwrap()));
    assert_eq!(s.answer.rtcp, Some("203.0.113.5:30000".parse().unwrap()));

    let mut l = local();
    l.rtcp_mux = false;
    let a = answer(&o, &l).unwrap();
    assert!(!a.media_at(0).unwrap().rtcp_mux());
    let s = negotiated(&o, &a).streams.remove(0);
    assert!(!s.rtcp_mux);
    assert_eq!(s.offer.rtcp, Some("192.0.2.1:4001".parse().unwrap()));
}

#[test]
fn local_values_are_checked() {
    let o = sdp(OFFER);
    let mut l = local();
    l.username = "a b".into();
    assert_eq!(
        answer(&o, &l),
        Err(Error::InvalidValue { what: "username" })
    );
    let mut l = local();
    l.session_name = "".into();
    assert_eq!(
        answer(&o, &l),
        Err(Error::InvalidValue {
            what: "session name"
        })
    );
    let mut l = local();
    l.codecs.push(Codec::new("bad name", 8000, 1));
    assert_eq!(offer(&l), Err(Error::InvalidValue { what: "codec name" }));
    let mut l = local();
    l.protos = vec!["RTP/AVP\r\n".into()];
    assert_eq!(offer(&l), Err(Error::InvalidValue { what: "proto" }));
    let mut l = local();
    l.rtp_ports.clear();
    assert_eq!(offer(&l), Err(Error::InvalidValue { what: "rtp_ports" }));
    let mut l = local();
    l.codecs.clear();
    assert_eq!(offer(&l), Err(Error::InvalidValue { what: "codecs" }));
    let mut l = local();
    l.codecs = (0..40)
        .map(|i| Codec::new(format!("X{i}"), 8000, 1))
        .collect();
    assert_eq!(offer(&l), Err(Error::InvalidValue { what: "codecs" }));
}

#[test]
fn offer_assigns_static_then_dynamic_payload_types() {
    let mut l = local();
    l.codecs = vec![
        Codec::OPUS,
        Codec::PCMU,
        Codec::G722,
        Codec::TELEPHONE_EVENT_48K,
        Codec::TELEPHONE_EVENT,
    ];
    l.ptime = Some(20);
    let o = offer(&l).unwrap();
    assert_eq!(
        o.as_str(),
        "v=0\r\n\
         o=- 42 7 IN IP4 203.0.113.5\r\n\
         s=ferroswitch\r\n\
         c=IN IP4 203.0.113.5\r\n\
         t=0 0\r\n\
         m=audio 30000 RTP/AVP 96 0 9 97 98\r\n\
         a=rtpmap:96 opus/48000/2\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:9 G722/8000\r\n\
         a=rtpmap:97 telephone-event/48000\r\n\
         a=rtpmap:98 telephone-event/8000\r\n\
         a=ptime:20\r\n\
         a=rtcp-mux\r\n\
         a=sendrecv\r\n"
    );
    assert_eq!(Session::parse(o.as_str()).unwrap(), o);
    // Answering our own offer with the same capabilities accepts all of it.
    let a = answer(&o, &l).unwrap();
    let n = negotiated(&o, &a);
    let s = n.audio().unwrap();
    assert_eq!(s.codec, Some(Codec::OPUS));
    assert_eq!(
        (s.offer.telephone_event, s.answer.telephone_event),
        (Some(97), Some(97))
    );
}

#[test]
fn negotiated_when_answer_renumbers() {
    // A non-compliant answer that renumbers a dynamic payload type: each side
    // sends with the number the other side declared.
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 96 101\r\na=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\na=ptime:20\r\n");
    let a = sdp("v=0\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 111 110\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\na=ptime:40\r\n");
    let n = negotiated(&o, &a);
    let s = n.audio().unwrap();
    assert_eq!(s.codec, Some(Codec::OPUS));
    assert_eq!(
        (s.offer.payload_type, s.answer.payload_type),
        (Some(96), Some(111))
    );
    assert_eq!(
        (s.offer.telephone_event, s.answer.telephone_event),
        (Some(101), Some(110))
    );
    assert_eq!((s.offer.ptime, s.answer.ptime), (Some(20), Some(40)));
    assert_eq!(s.answer.rtp, Some("198.51.100.2:5000".parse().unwrap()));
    assert_eq!(s.direction, Direction::SendRecv);
}

#[test]
fn negotiated_with_missing_or_rejected_answer_streams() {
    let o = sdp("v=0\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 0\r\n");
    let a = sdp("v=0\r\nc=IN IP4 198.51.100.2\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n");
    let n = negotiated(&o, &a);
    assert_eq!(n.streams.len(), 2);
    assert!(n.streams.iter().all(|s| !s.accepted && s.codec.is_none()));
    assert!(n.streams.iter().all(|s| s.direction == Direction::Inactive));
    assert_eq!(n.audio(), None);
    assert_eq!(n.streams[1].answer, StreamSide::default());
}
