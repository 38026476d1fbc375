use super::*;

const OFFER: &str = "v=0\r\n\
o=- 1 1 IN IP4 192.0.2.1\r\n\
s=-\r\n\
c=IN IP4 192.0.2.1\r\n\
t=0 0\r\n\
a=sendonly\r\n\
a=ptime:30\r\n\
m=audio 49170 RTP/AVPF 96 0 8 101 13\r\n\
i=voice\r\n\
b=AS:64\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=rtcp-fb:96 nack\r\n\
a=rtcp-fb:* trr-int 100\r\n\
a=rtcp-fb:0 nack\r\n\
a=rtcp:49999 IN IP4 192.0.2.2\r\n\
a=rtcp-mux\r\n\
a=maxptime:40\r\n\
m=video 0 RTP/AVP 31\r\n\
c=IN IP6 2001:db8::1\r\n\
a=inactive\r\n";

fn offer() -> Session {
    Session::parse(OFFER).unwrap()
}

#[test]
fn media_accessors() {
    let s = offer();
    let m = s.media_at(0).unwrap();
    assert_eq!(m.index(), 0);
    assert_eq!(m.line_number(), 8);
    assert_eq!(
        (m.media_type(), m.port(), m.port_count(), m.proto()),
        ("audio", 49170, None, "RTP/AVPF")
    );
    assert_eq!(
        m.formats().collect::<Vec<_>>(),
        ["96", "0", "8", "101", "13"]
    );
    assert_eq!(m.payload_types().collect::<Vec<_>>(), [96, 0, 8, 101, 13]);
    assert_eq!(m.information(), Some("voice"));
    assert_eq!(m.bandwidths().next().map(|b| b.bandwidth), Some(64));
    assert_eq!(m.connection(), None);
    assert_eq!(m.effective_connection().unwrap().address, "192.0.2.1");
    assert_eq!(m.rtpmaps().count(), 2);
    assert_eq!(m.rtpmap(96).unwrap().encoding, "opus");
    assert_eq!(m.rtpmap(0), None);
    assert_eq!(m.codec(0).unwrap().encoding, "PCMU");
    assert_eq!(m.codec(8).unwrap().encoding, "PCMA");
    assert_eq!(m.codec(13).unwrap().encoding, "CN");
    assert_eq!(m.codec(9).unwrap().encoding, "G722");
    assert_eq!(m.codec(18).unwrap().encoding, "G729");
    assert_eq!(m.codec(97), None);
    assert_eq!(m.fmtp("96"), Some("useinbandfec=1"));
    assert_eq!(m.fmtp("8"), None);
    assert_eq!(m.fmtps().count(), 2);
    assert_eq!(m.ptime(), Some(30), "session-level ptime applies");
    assert_eq!(m.maxptime(), Some(40));
    assert_eq!(m.explicit_direction(), None);
    assert_eq!(
        m.direction(),
        Direction::SendOnly,
        "session-level direction applies"
    );
    assert_eq!(m.rtcp().unwrap().port, 49999);
    assert!(m.rtcp_mux());
    assert_eq!(m.telephone_event_payload_types().collect::<Vec<_>>(), [101]);
    assert_eq!(m.rtp_address(), Some("192.0.2.1:49170".parse().unwrap()));
    assert_eq!(m.rtcp_address(), Some("192.0.2.2:49999".parse().unwrap()));
    assert!(m.has_attribute("rtcp-fb"));
    assert!(!m.is_rejected());
    assert!(format!("{m:?}").contains("audio"));

    let v = s.media_at(1).unwrap();
    assert!(v.is_rejected());
    assert_eq!(v.direction(), Direction::Inactive);
    assert_eq!(
        v.connection().unwrap().ip(),
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(v.rtcp_address(), Some("[2001:db8::1]:1".parse().unwrap()));
    assert_eq!(v.lines().count(), 3);
    assert!(s.media_at(2).is_none());
    assert!(s.media().map(|m| m.index()).eq([0, 1]));
}

#[test]
fn rtcp_defaults_to_rtp_port_plus_one() {
    let s = Session::parse("v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 65535 RTP/AVP 0\r\nm=audio 8000 RTP/AVP 0\r\na=rtcp:8001\r\n").unwrap();
    assert_eq!(s.media_at(0).unwrap().rtcp_address(), None);
    assert_eq!(
        s.media_at(1).unwrap().rtcp_address(),
        Some("192.0.2.1:8001".parse().unwrap())
    );
    let s = Session::parse("v=0\r\nm=audio 8000 RTP/AVP 0\r\n").unwrap();
    assert_eq!(s.media_at(0).unwrap().rtp_address(), None);
}

#[test]
fn set_port_keeps_count_and_formats() {
    let mut s = Session::parse("v=0\r\nm=audio 49170/2 RTP/AVP 0 8\r\na=x\r\n").unwrap();
    s.media_mut(0).unwrap().set_port(0);
    assert_eq!(s.as_str(), "v=0\r\nm=audio 0/2 RTP/AVP 0 8\r\na=x\r\n");
    s.media_mut(0).unwrap().set_port(40000);
    assert_eq!(s.as_str(), "v=0\r\nm=audio 40000/2 RTP/AVP 0 8\r\na=x\r\n");
    assert!(s.media_mut(1).is_none());
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);
}

#[test]
fn media_connection_and_direction() {
    let mut s = offer();
    let mut m = s.media_mut(0).unwrap();
    m.set_connection_address("198.51.100.7".parse().unwrap());
    m.set_direction(Direction::RecvOnly);
    assert_eq!(m.index(), 0);
    assert_eq!(m.as_media().direction(), Direction::RecvOnly);
    let mut v = s.media_mut(1).unwrap();
    v.set_connection_address("198.51.100.8".parse().unwrap());
    v.set_direction(Direction::SendRecv);
    assert!(s.as_str().contains(
        "m=audio 49170 RTP/AVPF 96 0 8 101 13\r\ni=voice\r\nc=IN IP4 198.51.100.7\r\nb=AS:64\r\n"
    ));
    assert!(s.as_str().ends_with("a=maxptime:40\r\na=recvonly\r\nm=video 0 RTP/AVP 31\r\nc=IN IP4 198.51.100.8\r\na=sendrecv\r\n"));
    let m = s.media_at(0).unwrap();
    assert_eq!(m.rtp_address(), Some("198.51.100.7:49170".parse().unwrap()));
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);
}

#[test]
fn retain_payload_types_drops_their_attributes() {
    let mut s = offer();
    s.media_mut(0)
        .unwrap()
        .retain_payload_types(&[101, 0])
        .unwrap();
    let m = s.media_at(0).unwrap();
    assert_eq!(
        m.formats().collect::<Vec<_>>(),
        ["0", "101"],
        "m= line order is kept"
    );
    assert_eq!(m.rtpmap(96), None);
    assert_eq!(m.fmtp("96"), None);
    assert_eq!(m.fmtp("101"), Some("0-15"));
    let fb: Vec<_> = m
        .attributes()
        .filter(|a| a.name == "rtcp-fb")
        .filter_map(|a| a.value)
        .collect();
    assert_eq!(fb, ["* trr-int 100", "0 nack"]);
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);

    let before = s.clone();
    assert_eq!(
        s.media_mut(0).unwrap().retain_payload_types(&[96]),
        Err(Error::NoFormatLeft { line: 8 })
    );
    assert_eq!(s, before);
}

#[test]
fn media_attributes_add_remove() {
    let mut s = offer();
    let mut m = s.media_mut(1).unwrap();
    m.add_attribute("label", Some("2")).unwrap();
    assert_eq!(m.remove_attributes("inactive"), 1);
    assert_eq!(
        m.add_attribute("ptime", Some("x")),
        Err(Error::InvalidValue { what: "attribute" })
    );
    assert!(s
        .as_str()
        .ends_with("m=video 0 RTP/AVP 31\r\nc=IN IP6 2001:db8::1\r\na=label:2\r\n"));
    assert_eq!(s.media_mut(0).unwrap().remove_attributes("rtcp-fb"), 3);
    assert_eq!(Session::parse(s.as_str()).unwrap(), s);
}

#[test]
fn add_payload_type_appends_format_rtpmap_and_fmtp() {
    let mut s = Session::parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 111 110\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:110 telephone-event/48000\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\n").unwrap();
    let mut m = s.media_mut(0).unwrap();
    m.add_payload_type(0, &Codec::PCMU, None).unwrap();
    m.add_payload_type(101, &Codec::TELEPHONE_EVENT, Some("0-16")).unwrap();
    assert!(m.add_payload_type(0, &Codec::PCMA, None).is_err(), "0 is taken");
    assert!(m.add_payload_type(128, &Codec::PCMA, None).is_err());
    assert!(m.add_payload_type(9, &Codec::new("G 722", 8000, 1), None).is_err());
    let text = s.to_string();
    assert!(text.contains("m=audio 4000 RTP/AVP 111 110 0 101\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\nm=video"), "{text}");
    let again = Session::parse(&text).unwrap();
    let a = again.media_at(0).unwrap();
    assert_eq!(a.codec(101).map(|r| r.encoding), Some("telephone-event"));
    assert_eq!(a.fmtp("101"), Some("0-16"));
    assert_eq!(again.media_at(1).map(|m| m.port()), Some(0), "the other stream is untouched");
}
