//! DTMF as RFC 4733 telephone events: parsing the event payload (§2.3)
//! and turning a packet stream into digits, each reported once.
//!
//! A digit is one event: every packet of it (the first, the updates, the
//! three redundant end packets) carries the same RTP timestamp (§2.5.1.2),
//! so a digit is reported on the first packet with a new timestamp and
//! never again, whatever is lost or repeated after it.

/// One telephone-event payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// Event code (0–9 digits, 10 `*`, 11 `#`, 12–15 A–D, others: tones).
    pub code: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    /// Volume, dBm0 below 0 (0–63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

/// Parse the 4-byte event payload; `None` if too short.
pub fn parse(payload: &[u8]) -> Option<Event> {
    let b = payload.get(..4)?;
    Some(Event { code: b[0], end: b[1] & 0x80 != 0, volume: b[1] & 0x3F, duration: u16::from_be_bytes([b[2], b[3]]) })
}

/// The character of a DTMF event code (`None` for codes that are not
/// DTMF, such as fax tones).
pub fn digit(code: u8) -> Option<char> {
    match code {
        0..=9 => Some(char::from(b'0' + code)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + code - 12)),
        _ => None,
    }
}

/// Digits from one RTP stream's telephone events.
#[derive(Clone, Debug, Default)]
pub struct Detector {
    last: Option<u32>,
}

impl Detector {
    /// Feed one RTP packet's timestamp and payload (of the negotiated
    /// telephone-event payload type); the digit if it starts a new event.
    pub fn push(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let e = parse(payload)?;
        if self.last == Some(timestamp) {
            return None;
        }
        self.last = Some(timestamp);
        digit(e.code)
    }
}

/// The digit carried by a SIP INFO body of type `application/dtmf-relay`
/// (`Signal=5\r\nDuration=160`), or `application/dtmf` (`5`).
pub fn from_info(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let value = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case("signal").then_some(v.trim())
        })
        .unwrap_or_else(|| text.trim());
    let mut chars = value.chars();
    let c = chars.next()?.to_ascii_uppercase();
    if chars.next().is_some() {
        // "10"/"11" are sometimes sent for * and #.
        return match value {
            "10" => Some('*'),
            "11" => Some('#'),
            _ => None,
        };
    }
    matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: u8, end: bool, dur: u16) -> [u8; 4] {
        let d = dur.to_be_bytes();
        [code, if end { 0x8A } else { 0x0A }, d[0], d[1]]
    }

    #[test]
    fn rfc4733_payload() {
        assert_eq!(parse(&ev(11, true, 800)), Some(Event { code: 11, end: true, volume: 10, duration: 800 }));
        assert_eq!(parse(&[1, 2, 3]), None);
        assert_eq!((digit(0), digit(9), digit(10), digit(11), digit(15), digit(16)), (Some('0'), Some('9'), Some('*'), Some('#'), Some('D'), None));
    }

    #[test]
    fn one_digit_per_event_despite_updates_and_redundant_ends() {
        let mut d = Detector::default();
        let mut got = String::new();
        // "2" (ts 1000): start, two updates, three end packets; then "#" (ts 3000), end only (start lost).
        for (ts, p) in [(1000, ev(2, false, 160)), (1000, ev(2, false, 320)), (1000, ev(2, false, 480)), (1000, ev(2, true, 640)), (1000, ev(2, true, 640)), (1000, ev(2, true, 640)), (3000, ev(11, true, 800)), (3000, ev(11, true, 800))] {
            if let Some(c) = d.push(ts, &p) {
                got.push(c);
            }
        }
        assert_eq!(got, "2#");
        // The same digit pressed twice is two events (new timestamp).
        assert_eq!(d.push(5000, &ev(2, false, 160)), Some('2'));
        assert_eq!(d.push(5000, &[2]), None, "short payload ignored");
    }

    #[test]
    fn sip_info_bodies() {
        assert_eq!(from_info(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(from_info(b"Signal= #\r\nDuration=100"), Some('#'));
        assert_eq!(from_info(b"signal=11\r\n"), Some('#'));
        assert_eq!(from_info(b"7"), Some('7'));
        assert_eq!(from_info(b"Signal=x"), None);
        assert_eq!(from_info(b"Signal=55"), None);
        assert_eq!(from_info(&[0xff, 0xfe]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(ts: u32, p: Vec<u8>) {
            let mut d = Detector::default();
            let _ = d.push(ts, &p);
            let _ = from_info(&p);
        }
    }
}
