use super::*;

#[test]
fn split_respects_quotes_and_angles() {
    let v: Vec<_> = split_top(r#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z>"#, b',').collect();
    assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z>"]);
}

#[test]
fn split_handles_escaped_quote() {
    let v: Vec<_> = split_top(r#""a \" , b", c"#, b',').collect();
    assert_eq!(v, vec![r#""a \" , b""#, "c"]);
}

#[test]
fn quoted_prefix_and_unescape() {
    let (raw, rest) = quoted_prefix(r#"  "J\"o" <sip:a>"#).expect("quoted");
    assert_eq!(raw, r#"J\"o"#);
    assert_eq!(rest, " <sip:a>");
    assert_eq!(unescape_quoted(raw), "J\"o");
    assert!(quoted_prefix(r#""unterminated"#).is_none());
}

#[test]
fn percent() {
    assert_eq!(percent_decode("%61lice"), "alice");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("a%2"), "a%2");
    assert_eq!(percent_decode("%zz"), "%zz");
}
