use super::*;
use crate::Direction;

const BASIC: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\n\
s=-\r\n\
c=IN IP4 192.0.2.1\r\n\
t=0 0\r\n\
a=x-unknown:kept as is\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
a=rtpmap:97 iLBC/8000\r\n\
y=unknown line type\r\n\
m=video 51372 RTP/AVP 31\r\n\
a=rtpmap:31 H261/90000\r\n";

fn parse(s: &str) -> Session {
    Session::parse(s).unwrap()
}

/// Every span covers its line and the CRLF after it; the spans tile the text.
fn assert_consistent(s: &Session) {
    let mut pos = 0;
    for sp in &s.lines {
        assert_eq!(sp.start, pos);
        assert_eq!(&s.text[sp.end..sp.end + 2], "\r\n");
        pos = sp.end + 2;
    }
    assert_eq!(pos, s.text.len());
    assert_eq!(&Session::parse(&s.text).unwrap(), s);
}

#[test]
fn print_is_the_input() {
    let s = parse(BASIC);
    assert_eq!(s.as_str(), BASIC);
    assert_eq!(s.to_string(), BASIC);
    assert_eq!(s.line_count(), 11);
    assert_eq!(s.media_count(), 2);
    assert_consistent(&s);
}

#[test]
fn lf_input_prints_crlf() {
    let lf = BASIC.replace("\r\n", "\n");
    let s = parse(&lf);
    assert_eq!(s.as_str(), BASIC);
}

#[test]
fn blank_lines_and_missing_final_newline_are_tolerated() {
    let s = parse("v=0\r\n\r\ns=-\n\no=- 1 1 IN IP4 192.0.2.1");
    assert_eq!(s.as_str(), "v=0\r\ns=-\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
    assert_eq!(s.origin().unwrap().session_version, "1");
}

#[test]
fn parse_bytes_checks_utf8() {
    assert_eq!(
        Session::parse_bytes(b"v=0\r\ns=\xff\r\n"),
        Err(Error::InvalidUtf8 { line: 2 })
    );
    assert_eq!(
        Session::parse_bytes(BASIC.as_bytes()).unwrap().as_str(),
        BASIC
    );
    let s: Session = BASIC.parse().unwrap();
    assert_eq!(s.as_bytes(), BASIC.as_bytes());
}

#[test]
fn errors_carry_the_line_number() {
    let cases: &[(&str, Error)] = &[
        ("", Error::MissingVersion { line: 1 }),
        ("\r\n\r\n", Error::MissingVersion { line: 1 }),
        ("s=-\r\n", Error::MissingVersion { line: 1 }),
        ("v=1\r\n", Error::UnsupportedVersion { line: 1 }),
        (
            "\r\nv=0\r\nv=0\r\n",
            Error::Misplaced {
                line: 3,
                field: 'v',
            },
        ),
        ("v=0\r\nnonsense\r\n", Error::MalformedLine { line: 2 }),
        ("v=0\r\n=x\r\n", Error::MalformedLine { line: 2 }),
        ("v=0\r\n1=x\r\n", Error::MalformedLine { line: 2 }),
        ("v=0\r\ns=a\rb\r\n", Error::InvalidCharacter { line: 2 }),
        ("v=0\r\ns=a\0b\r\n", Error::InvalidCharacter { line: 2 }),
        ("v=0\r\ns=x\r\r\n", Error::InvalidCharacter { line: 2 }),
        (
            "v=0\r\no=- 1 1 IN IP4\r\n",
            Error::MalformedField {
                line: 2,
                field: 'o',
            },
        ),
        (
            "v=0\r\nc=IN\r\n",
            Error::MalformedField {
                line: 2,
                field: 'c',
            },
        ),
        (
            "v=0\r\nt=now\r\n",
            Error::MalformedField {
                line: 2,
                field: 't',
            },
        ),
        (
            "v=0\r\nb=AS\r\n",
            Error::MalformedField {
                line: 2,
                field: 'b',
            },
        ),
        (
            "v=0\r\nm=audio 99999 RTP/AVP 0\r\n",
            Error::MalformedField {
                line: 2,
                field: 'm',
            },
        ),
        (
            "v=0\r\na=\r\n",
            Error::MalformedAttribute { line: 2, name: "" },
        ),
        (
            "v=0\r\na=rtpmap:x\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "rtpmap",
            },
        ),
        (
            "v=0\r\na=rtpmap\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "rtpmap",
            },
        ),
        (
            "v=0\r\na=fmtp:\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "fmtp",
            },
        ),
        (
            "v=0\r\na=ptime:fast\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "ptime",
            },
        ),
        (
            "v=0\r\na=maxptime:\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "maxptime",
            },
        ),
        (
            "v=0\r\na=rtcp:1 IN\r\n",
            Error::MalformedAttribute {
                line: 2,
                name: "rtcp",
            },
        ),
    ];
    for (input, want) in cases {
        assert_eq!(Session::parse(input).as_ref(), Err(want), "{input:?}");
        assert!(want.line().is_some());
        assert_eq!(want.status_code(), 400);
    }
}

#[test]
fn limits_bound_the_work() {
    let big = "v=0\r\n".to_owned() + &"a=x\r\n".repeat(MAX_INPUT_LEN / 5);
    assert!(matches!(Session::parse(&big), Err(Error::TooLarge { .. })));
    assert!(matches!(
        Session::parse_bytes(big.as_bytes()),
        Err(Error::TooLarge { .. })
    ));

    let many = "v=0\r\n".to_owned() + &"m=audio 0 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1);
    assert_eq!(
        Session::parse(&many),
        Err(Error::TooManyMedia {
            line: MAX_MEDIA + 2,
            max: MAX_MEDIA
        })
    );
    let fmts = vec!["0"; MAX_FORMATS + 1].join(" ");
    let wide = format!("v=0\r\nm=audio 0 RTP/AVP {fmts}\r\n");
    assert_eq!(
        Session::parse(&wide),
        Err(Error::TooManyFormats {
            line: 2,
            max: MAX_FORMATS
        })
    );
    let fmts = vec!["0"; MAX_FORMATS].join(" ");
    assert!(Session::parse(&format!("v=0\r\nm=audio 0 RTP/AVP {fmts}\r\n")).is_ok());
}

#[test]
fn session_level_accessors() {
    let s = parse(
        "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=Talk\r\ni=info\r\nu=http://example.com/\r\n\
         e=a@example.com\r\ne=b@example.com\r\np=+1 555 0100\r\nc=IN IP4 192.0.2.1\r\n\
         b=AS:64\r\nt=1 2\r\nr=604800 3600 0 90000\r\nz=2882844526 -1h\r\nk=prompt\r\n\
         a=recvonly\r\na=tool:x\r\n",
    );
    assert_eq!(s.session_name(), Some("Talk"));
    assert_eq!(s.information(), Some("info"));
    assert_eq!(s.uri(), Some("http://example.com/"));
    assert_eq!(
        s.emails().collect::<Vec<_>>(),
        ["a@example.com", "b@example.com"]
    );
    assert_eq!(s.phones().collect::<Vec<_>>(), ["+1 555 0100"]);
    assert_eq!(s.connection().unwrap().address, "192.0.2.1");
    assert_eq!(s.bandwidths().next().unwrap().bandwidth, 64);
    assert_eq!(s.timing(), Some(Timing { start: 1, stop: 2 }));
    assert_eq!(s.repeats().collect::<Vec<_>>(), ["604800 3600 0 90000"]);
    assert_eq!(s.time_zones(), Some("2882844526 -1h"));
    assert_eq!(s.key(), Some("prompt"));
    assert_eq!(s.direction(), Some(Direction::RecvOnly));
    assert_eq!(s.attribute("tool").unwrap().value, Some("x"));
    assert_eq!(s.attribute("tool").unwrap().line, 16);
    assert_eq!(s.attributes().count(), 2);
    assert_eq!(s.media_count(), 0);
    let kinds: String = s.lines().map(|l| l.kind).collect();
    assert_eq!(kinds, "vosiueepcbtrzkaa");
}

#[test]
fn set_connection_replaces_or_inserts_in_rfc_order() {
    let mut s = parse(BASIC);
    s.set_connection_address("2001:db8::5".parse().unwrap());
    assert!(s.as_str().contains("\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n"));
    assert_consistent(&s);

    let mut s = parse("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n");
    s.set_connection_address("192.0.2.9".parse().unwrap());
    assert_eq!(
        s.as_str(),
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\n"
    );
    assert_eq!(s.media_at(0).unwrap().port(), 1);
    assert_consistent(&s);
}

#[test]
fn set_all_connection_addresses_rewrites_media_and_rtcp() {
    let mut s = parse(
        "v=0\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 192.0.2.1\r\na=rtcp:9 IN IP4 192.0.2.1\r\n\
         m=audio 3 RTP/AVP 0\r\na=rtcp:4\r\n",
    );
    s.set_all_connection_addresses("203.0.113.1".parse().unwrap());
    assert_eq!(
        s.as_str(),
        "v=0\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 203.0.113.1\r\n\
         a=rtcp:9 IN IP4 203.0.113.1\r\nm=audio 3 RTP/AVP 0\r\na=rtcp:4\r\n"
    );
    assert_consistent(&s);
}

#[test]
fn set_direction_replaces_first_and_drops_others() {
    let mut s = parse("v=0\r\ns=-\r\na=sendonly\r\na=x\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\n");
    s.set_direction(Direction::SendRecv);
    assert_eq!(
        s.as_str(),
        "v=0\r\ns=-\r\na=sendrecv\r\na=x\r\nm=audio 1 RTP/AVP 0\r\n"
    );
    let mut s = parse("v=0\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n");
    s.set_direction(Direction::Inactive);
    assert_eq!(
        s.as_str(),
        "v=0\r\ns=-\r\na=inactive\r\nm=audio 1 RTP/AVP 0\r\n"
    );
    assert_eq!(s.media_at(0).unwrap().direction(), Direction::Inactive);
    assert_consistent(&s);
}

#[test]
fn bump_origin_version_carries() {
    let mut s = parse("v=0\r\no=- 7 999 IN IP4 192.0.2.1\r\ns=-\r\n");
    s.bump_origin_version().unwrap();
    assert_eq!(s.origin().unwrap().session_version, "1000");
    let mut s = parse("v=0\r\no=- 7 18446744073709551615 IN IP4 192.0.2.1\r\ns=-\r\n");
    s.bump_origin_version().unwrap();
    assert_eq!(s.origin().unwrap().session_version, "18446744073709551616");
    assert_consistent(&s);
    let mut s = parse("v=0\r\ns=-\r\n");
    assert_eq!(
        s.bump_origin_version(),
        Err(Error::MissingField { field: 'o' })
    );
    assert_eq!(increment_decimal("0"), "1");
    assert_eq!(increment_decimal("09"), "10");
}

#[test]
fn add_and_remove_attributes() {
    let mut s = parse(BASIC);
    s.add_attribute("group", Some("BUNDLE 0")).unwrap();
    assert!(s
        .as_str()
        .contains("a=x-unknown:kept as is\r\na=group:BUNDLE 0\r\nm=audio"));
    assert_eq!(s.remove_attributes("x-unknown"), 1);
    assert_eq!(s.remove_attributes("nothing"), 0);
    assert_consistent(&s);
    for (name, value) in [
        ("", None),
        ("a:b", None),
        ("a b", None),
        ("x", Some("a\r\nm=audio 1 RTP/AVP 0")),
        ("rtpmap", Some("junk")),
    ] {
        assert_eq!(
            s.add_attribute(name, value),
            Err(Error::InvalidValue { what: "attribute" }),
            "{name:?} {value:?}"
        );
    }
    assert_consistent(&s);
}

#[test]
fn builder_extends_the_last_line() {
    let mut b = Session::builder();
    b.line('v', format_args!("0"));
    b.line('m', format_args!("audio 5 RTP/AVP"));
    b.extend_last([0u8, 8].iter());
    b.line('a', format_args!("sendrecv"));
    let s = b.finish();
    assert_eq!(s.as_str(), "v=0\r\nm=audio 5 RTP/AVP 0 8\r\na=sendrecv\r\n");
    assert_consistent(&s);
}

#[test]
fn error_faults_map_to_sip_statuses() {
    assert_eq!(Error::NoCommonMedia.status_code(), 488);
    assert_eq!(Error::NoCommonMedia.fault(), crate::Fault::Incompatible);
    assert_eq!(Error::InvalidValue { what: "x" }.status_code(), 500);
    assert_eq!(Error::NoSuchMedia { index: 1, count: 0 }.line(), None);
    assert_eq!(
        Error::MalformedField {
            line: 4,
            field: 'c'
        }
        .to_string(),
        "line 4: malformed `c=` line"
    );
}
