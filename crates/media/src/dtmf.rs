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

/// The event code of a DTMF digit (inverse of [`digit`]).
pub fn code(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The packets of one generated event (RFC 4733 §2.5.1): a first packet
/// (the marker set), updates with growing durations every `step` clock
/// units, then the final duration three times with the E bit. All carry
/// the same timestamp (the caller's).
#[derive(Clone, Debug)]
pub struct EventGen {
    code: u8,
    total: u32,
    step: u32,
    sent: u32,
    ends: u8,
}

impl EventGen {
    /// An event for `digit` lasting `duration` clock units, updated every
    /// `step` (e.g. 160 at 8 kHz: every 20 ms). `None` for a non-digit.
    pub fn new(digit: char, duration: u32, step: u32) -> Option<EventGen> {
        Some(EventGen { code: code(digit)?, total: duration.clamp(1, u32::from(u16::MAX)), step: step.max(1), sent: 0, ends: 0 })
    }

    /// The next payload and whether it carries the marker; `None` when done.
    pub fn next_payload(&mut self) -> Option<([u8; 4], bool)> {
        let first = self.sent == 0;
        let (dur, end) = if self.sent < self.total {
            self.sent = (self.sent + self.step).min(self.total);
            (self.sent, self.sent == self.total)
        } else if self.ends < 3 {
            (self.total, true)
        } else {
            return None;
        };
        if end {
            self.ends += 1;
        }
        let d = (dur.min(u32::from(u16::MAX)) as u16).to_be_bytes();
        Some(([self.code, if end { 0x80 | 10 } else { 10 }, d[0], d[1]], first))
    }
}

/// The duration of a SIP INFO digit (`Duration=` in ms), if given.
pub fn info_duration(body: &[u8]) -> Option<u32> {
    std::str::from_utf8(body).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("duration") {
            v.trim().parse().ok()
        } else {
            None
        }
    })
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
    fn generated_events_grow_then_end_three_times_and_detect_once() {
        let mut g = EventGen::new('#', 800, 160).expect("digit");
        let mut got = Vec::new();
        while let Some((p, m)) = g.next_payload() {
            let e = parse(&p).expect("event");
            got.push((e.code, e.end, e.duration, m));
        }
        assert_eq!(got, vec![(11, false, 160, true), (11, false, 320, false), (11, false, 480, false), (11, false, 640, false), (11, true, 800, false), (11, true, 800, false), (11, true, 800, false)]);
        let mut d = Detector::default();
        let digits: String = EventGen::new('7', 400, 160).into_iter().flat_map(|mut g| std::iter::from_fn(move || g.next_payload())).filter_map(|(p, _)| d.push(42, &p)).collect();
        assert_eq!(digits, "7");
        assert!(EventGen::new('x', 100, 160).is_none());
        assert_eq!((code('0'), code('*'), code('d')), (Some(0), Some(10), Some(15)));
        assert_eq!(info_duration(b"Signal=5\r\nDuration=250\r\n"), Some(250));
        assert_eq!(info_duration(b"Signal=5"), None);
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
