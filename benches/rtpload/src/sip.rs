//! A minimal SIP UAC and UAS over UDP, enough to put calls through
//! ferroswitch trunk to trunk: the UAC (on the caller's address, which the
//! switch knows as an inbound carrier gateway) sends INVITE with SDP to
//! `77<call id, 8 digits>`; a route sends that to the outbound gateway,
//! which is this UAS (on the callee's address). The UAS answers every
//! INVITE at once with 200 and SDP; the UAC ACKs the 200. The relay ports
//! come from the SDP the switch sends each side. BYE at the end.
//!
//! Retransmissions: the UAC resends an INVITE that got no answer (500 ms,
//! doubling); the UAS answers a repeated INVITE with the same 200; the UAC
//! ACKs every 200 it gets. Every wait has a deadline.

use crate::media::NewCall;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// A parsed SIP message (just what we need).
pub struct Msg<'a> {
    pub first: &'a str,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a str,
}

pub fn parse(text: &str) -> Option<Msg<'_>> {
    let (head, body) = match text.find("\r\n\r\n") {
        Some(i) => (&text[..i], &text[i + 4..]),
        None => (text, ""),
    };
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let mut headers = Vec::new();
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim(), v.trim()));
        }
    }
    Some(Msg { first, headers, body })
}

impl<'a> Msg<'a> {
    pub fn hdr(&self, full: &str, compact: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(full) || n.eq_ignore_ascii_case(compact)).map(|(_, v)| *v)
    }
    fn all(&self, full: &str, compact: &str) -> Vec<&'a str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(full) || n.eq_ignore_ascii_case(compact)).map(|(_, v)| *v).collect()
    }
    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        let rest = self.first.strip_prefix("SIP/2.0 ")?;
        rest.get(..3)?.parse().ok()
    }
    /// Method of a request.
    pub fn method(&self) -> Option<&'a str> {
        if self.first.starts_with("SIP/2.0") {
            return None;
        }
        self.first.split(' ').next()
    }
    fn cseq_method(&self) -> Option<&'a str> {
        self.hdr("CSeq", "CSeq")?.split_whitespace().nth(1)
    }
}

/// `;tag=` of a From/To value.
pub fn tag(v: &str) -> Option<&str> {
    let i = v.find(";tag=")?;
    let t = &v[i + 5..];
    Some(t.split([';', '>', ' ']).next().unwrap_or(t))
}

/// The URI inside `<...>`, or the value up to the first `;`.
fn uri(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if b > a => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v),
    }
}

/// The audio address of an SDP body; loopback only (never send elsewhere).
pub fn sdp_audio(body: &str) -> Option<SocketAddrV4> {
    let mut ip = None;
    let mut port = None;
    for l in body.lines() {
        let l = l.trim();
        if let Some(c) = l.strip_prefix("c=IN IP4 ") {
            ip = c.split('/').next().and_then(|s| s.trim().parse::<Ipv4Addr>().ok());
        } else if let Some(m) = l.strip_prefix("m=audio ") {
            port = m.split_whitespace().next().and_then(|p| p.parse::<u16>().ok());
        }
    }
    let ip = ip?;
    if !ip.is_loopback() {
        return None;
    }
    Some(SocketAddrV4::new(ip, port?))
}

/// Whether our SDP offers telephone-event (`--events`), set once at start.
pub static EVENTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
/// Whether the caller offers Opus only (`--opus-caller`).
pub static OPUS_CALLER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
/// G.711 calls speak PCMA rather than PCMU (`--alaw`).
pub static ALAW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// The G.711 payload type the calls speak, and its SDP name.
pub fn g711() -> (u8, &'static str) {
    if ALAW.get().copied().unwrap_or(false) {
        (8, "PCMA")
    } else {
        (0, "PCMU")
    }
}

/// The caller's offer: Opus only with `--opus-caller`, else [`sdp`].
pub fn caller_sdp(ip: Ipv4Addr, port: u16, id: u32) -> String {
    if !OPUS_CALLER.get().copied().unwrap_or(false) {
        return sdp(ip, port, id);
    }
    let (fmts, te) = if EVENTS.get().copied().unwrap_or(false) { (" 101", "a=rtpmap:101 telephone-event/48000\r\na=fmtp:101 0-16\r\n") } else { ("", "") };
    format!("v=0\r\no=rtpload {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 111{fmts}\r\na=rtpmap:111 opus/48000/2\r\n{te}a=ptime:20\r\na=sendrecv\r\n")
}

pub fn sdp(ip: Ipv4Addr, port: u16, id: u32) -> String {
    let (pt, name) = g711();
    if EVENTS.get().copied().unwrap_or(false) {
        return format!("v=0\r\no=rtpload {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n");
    }
    format!("v=0\r\no=rtpload {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pt}\r\na=rtpmap:{pt} {name}/8000\r\na=sendrecv\r\n")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Inviting,
    Up,
    Failed(u16),
    Byeing,
    Done,
}

struct Call {
    state: State,
    a_port: u16,
    b_port: u16,
    invite: String,
    next_retrans: Instant,
    interval: Duration,
    deadline: Instant,
    to_tag: String,
    target: String,
    relay_a: Option<SocketAddrV4>,
    relay_b: Option<SocketAddrV4>,
    started: bool,
    bye: String,
    /// The switch's answer asked for narrowband Opus (`--opus-caller`).
    narrowband: bool,
}

/// Both signalling sockets and the calls.
pub struct Sip {
    uac: UdpSocket,
    uas: UdpSocket,
    server: SocketAddrV4,
    uac_addr: SocketAddrV4,
    uas_addr: SocketAddrV4,
    calls: Vec<Call>,
    b_legs: HashMap<String, (u32, String)>,
    tag_base: u32,
    /// Calls that just learnt a relay port (to check whether both are known).
    check: Vec<u32>,
    /// Why calls failed: status code -> count (0 = no answer in time).
    pub failures: HashMap<u16, u32>,
}

const NUMBER_PREFIX: &str = "77";

impl Sip {
    /// `ports(id)` gives the generator's (A, B) RTP ports of call `id`.
    /// `uas` is bound before anything else binds on the callee's address
    /// (its port is the gateway's, chosen by the script).
    pub fn new(caller_ip: Ipv4Addr, uas: UdpSocket, server: SocketAddrV4, n: usize, ports: impl Fn(u32) -> (u16, u16)) -> std::io::Result<Sip> {
        let uac = UdpSocket::bind(SocketAddrV4::new(caller_ip, 0))?;
        let uas_addr = match uas.local_addr()? {
            SocketAddr::V4(a) => a,
            _ => return Err(std::io::Error::other("not IPv4")),
        };
        for s in [&uac, &uas] {
            s.set_nonblocking(true)?;
            nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::RcvBuf, &(4 << 20))?;
        }
        let uac_addr = match uac.local_addr()? {
            SocketAddr::V4(a) => a,
            _ => return Err(std::io::Error::other("not IPv4")),
        };
        let now = Instant::now();
        let calls = (0..n as u32)
            .map(|id| {
                let (a_port, b_port) = ports(id);
                Call { state: State::Idle, a_port, b_port, invite: String::new(), next_retrans: now, interval: Duration::ZERO, deadline: now, to_tag: String::new(), target: String::new(), relay_a: None, relay_b: None, started: false, bye: String::new(), narrowband: false }
            })
            .collect();
        Ok(Sip { uac, uas, server, uac_addr, uas_addr, calls, b_legs: HashMap::new(), tag_base: std::process::id(), check: Vec::new(), failures: HashMap::new() })
    }

    fn call_id(&self, id: u32) -> String {
        format!("rtpload-{}-{id}@{}", self.tag_base, self.uac_addr.ip())
    }

    fn number(id: u32) -> String {
        format!("{NUMBER_PREFIX}{id:08}")
    }

    fn send_invite(&mut self, id: u32, now: Instant, timeout: Duration) {
        let body = caller_sdp(*self.uac_addr.ip(), self.calls[id as usize].a_port, id);
        let (srv, me) = (self.server, self.uac_addr);
        let num = Self::number(id);
        let msg = format!(
            "INVITE sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl-{id}-1;rport\r\nMax-Forwards: 70\r\n\
             From: <sip:c{id}@{ip}>;tag=rl{id}\r\nTo: <sip:{num}@{sip}>\r\nCall-ID: {cid}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{me}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
            ip = me.ip(),
            sip = srv.ip(),
            cid = self.call_id(id),
            len = body.len()
        );
        let _ = self.uac.send_to(msg.as_bytes(), self.server);
        let c = &mut self.calls[id as usize];
        c.invite = msg;
        c.state = State::Inviting;
        c.interval = Duration::from_millis(500);
        c.next_retrans = now + c.interval;
        c.deadline = now + timeout;
    }

    /// Place `n` calls at `rate` per second; `ready` gets each call whose
    /// both relay ports are known. Returns (up, failed).
    pub fn setup(&mut self, rate: f64, call_timeout: Duration, overall: Duration, mut ready: impl FnMut(NewCall)) -> (usize, usize) {
        let t0 = Instant::now();
        let n = self.calls.len();
        let mut next = 0usize;
        let mut buf = vec![0u8; 65536];
        // Calls placed and not yet streaming.
        let mut pending: Vec<u32> = Vec::new();
        loop {
            let now = Instant::now();
            // INVITEs due by the rate.
            let due = ((now.duration_since(t0).as_secs_f64() * rate) as usize + 1).min(n);
            while next < due {
                self.send_invite(next as u32, now, call_timeout);
                pending.push(next as u32);
                next += 1;
            }
            // Retransmissions and deadlines.
            for &id in &pending {
                let c = &mut self.calls[id as usize];
                if c.state != State::Inviting {
                    continue;
                }
                if now >= c.deadline {
                    c.state = State::Failed(0);
                    *self.failures.entry(0).or_default() += 1;
                } else if now >= c.next_retrans {
                    let _ = self.uac.send_to(c.invite.as_bytes(), self.server);
                    c.interval = (c.interval * 2).min(Duration::from_secs(4));
                    c.next_retrans = now + c.interval;
                }
            }
            self.pump(&mut buf, &mut ready);
            pending.retain(|&id| {
                let c = &self.calls[id as usize];
                c.state == State::Inviting || (c.state == State::Up && !c.started)
            });
            if next == n && pending.is_empty() {
                break;
            }
            if now.duration_since(t0) > overall {
                break;
            }
            wait_readable(&[&self.uac, &self.uas], Duration::from_millis(1));
        }
        let up = self.calls.iter().filter(|c| c.state == State::Up && c.started).count();
        (up, n - up)
    }

    /// Hang every call up (BYE from the caller) at `rate` per second.
    /// Returns how many BYEs were answered with 200 in time.
    pub fn teardown(&mut self, rate: f64, overall: Duration) -> usize {
        let t0 = Instant::now();
        let ups: Vec<u32> = (0..self.calls.len() as u32).filter(|&i| self.calls[i as usize].state == State::Up).collect();
        let mut next = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            let due = ((now.duration_since(t0).as_secs_f64() * rate) as usize + 1).min(ups.len());
            while next < due {
                let id = ups[next];
                let cid = self.call_id(id);
                let me = self.uac_addr;
                let c = &mut self.calls[id as usize];
                c.bye = format!(
                    "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl-{id}-bye;rport\r\nMax-Forwards: 70\r\n\
                     From: <sip:c{id}@{ip}>;tag=rl{id}\r\nTo: <sip:{num}@{sip}>;tag={tt}\r\nCall-ID: {cid}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                    target = c.target,
                    ip = me.ip(),
                    num = Self::number(id),
                    sip = self.server.ip(),
                    tt = c.to_tag
                );
                c.state = State::Byeing;
                c.interval = Duration::from_millis(500);
                c.next_retrans = now + c.interval;
                let _ = self.uac.send_to(c.bye.as_bytes(), self.server);
                next += 1;
            }
            for &id in &ups[..next] {
                let c = &mut self.calls[id as usize];
                if c.state == State::Byeing && now >= c.next_retrans {
                    let _ = self.uac.send_to(c.bye.as_bytes(), self.server);
                    c.interval *= 2;
                    c.next_retrans = now + c.interval;
                }
            }
            self.pump(&mut buf, &mut |_| {});
            let byeing = ups[..next].iter().filter(|&&i| self.calls[i as usize].state == State::Byeing).count();
            if (next == ups.len() && byeing == 0) || now.duration_since(t0) > overall {
                break;
            }
            wait_readable(&[&self.uac, &self.uas], Duration::from_millis(1));
        }
        ups.iter().filter(|&&i| self.calls[i as usize].state == State::Done).count()
    }

    /// Read and handle everything waiting on both sockets.
    fn pump(&mut self, buf: &mut [u8], ready: &mut impl FnMut(NewCall)) {
        for side in 0..2 {
            loop {
                let r = if side == 0 { self.uac.recv_from(buf) } else { self.uas.recv_from(buf) };
                let Ok((len, from)) = r else { break };
                let Ok(text) = std::str::from_utf8(&buf[..len]) else { continue };
                let text = text.to_owned();
                let Some(m) = parse(&text) else { continue };
                if side == 0 {
                    self.on_uac(&m, from);
                } else {
                    self.on_uas(&m, from);
                }
            }
        }
        // Calls whose both relay ports are known start streaming.
        for id in std::mem::take(&mut self.check) {
            let c = &mut self.calls[id as usize];
            if c.state == State::Up && !c.started {
                if let (Some(a), Some(b)) = (c.relay_a, c.relay_b) {
                    c.started = true;
                    ready(NewCall { id, a_dst: a, b_dst: b, narrowband: c.narrowband });
                }
            }
        }
    }

    fn id_of_call_id(&self, cid: &str) -> Option<u32> {
        let prefix = format!("rtpload-{}-", self.tag_base);
        cid.strip_prefix(&prefix)?.split('@').next()?.parse().ok().filter(|&i: &u32| (i as usize) < self.calls.len())
    }

    fn on_uac(&mut self, m: &Msg<'_>, from: SocketAddr) {
        let Some(cid) = m.hdr("Call-ID", "i") else { return };
        if let Some(method) = m.method() {
            // BYE (the switch hung up), OPTIONS, anything: 200.
            if method != "ACK" {
                let _ = self.uac.send_to(response(m, 200, "OK", None, None).as_bytes(), from);
            }
            if method == "BYE" {
                if let Some(id) = self.id_of_call_id(cid) {
                    self.calls[id as usize].state = State::Done;
                }
            }
            return;
        }
        let Some(id) = self.id_of_call_id(cid) else { return };
        let Some(code) = m.status() else { return };
        let cseq = m.cseq_method().unwrap_or("");
        let c = &mut self.calls[id as usize];
        if cseq == "BYE" {
            if code >= 200 && c.state == State::Byeing {
                c.state = State::Done;
            }
            return;
        }
        if cseq != "INVITE" {
            return;
        }
        if code < 200 {
            // Provisional: stop retransmitting, keep the deadline.
            c.next_retrans = c.deadline;
            return;
        }
        let to = m.hdr("To", "t").unwrap_or("");
        let to_tag = tag(to).unwrap_or("").to_owned();
        let me = self.uac_addr;
        let from_line = format!("<sip:c{id}@{}>;tag=rl{id}", me.ip());
        if code < 300 {
            let target = m.hdr("Contact", "m").map(uri).unwrap_or("").to_owned();
            let target = if target.is_empty() { format!("sip:{}", self.server) } else { target };
            let ack = format!(
                "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl-{id}-ack;rport\r\nMax-Forwards: 70\r\n\
                 From: {from_line}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            );
            let _ = self.uac.send_to(ack.as_bytes(), self.server);
            if c.state == State::Inviting {
                match sdp_audio(m.body) {
                    Some(a) => {
                        c.relay_a = Some(a);
                        // RFC 7587: the answer asks for narrowband Opus.
                        c.narrowband = m.body.contains("maxplaybackrate=8000");
                        c.state = State::Up;
                        c.to_tag = to_tag;
                        c.target = target;
                        self.check.push(id);
                    }
                    None => {
                        c.state = State::Failed(1);
                        *self.failures.entry(1).or_default() += 1;
                    }
                }
            }
        } else {
            // Non-2xx: ACK in the INVITE's transaction (same branch).
            let ack = format!(
                "ACK sip:{num}@{srv} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-rl-{id}-1;rport\r\nMax-Forwards: 70\r\n\
                 From: {from_line}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
                num = Self::number(id),
                srv = self.server
            );
            let _ = self.uac.send_to(ack.as_bytes(), self.server);
            if c.state == State::Inviting {
                c.state = State::Failed(code);
                *self.failures.entry(code).or_default() += 1;
            }
        }
    }

    fn on_uas(&mut self, m: &Msg<'_>, from: SocketAddr) {
        let Some(method) = m.method() else { return };
        let Some(cid) = m.hdr("Call-ID", "i") else { return };
        match method {
            "INVITE" => {
                if let Some((_, resp)) = self.b_legs.get(cid) {
                    // A retransmission (or a re-INVITE): the same answer.
                    let _ = self.uas.send_to(resp.as_bytes(), from);
                    return;
                }
                let id = m.first.split(' ').nth(1).and_then(|u| u.strip_prefix("sip:")).and_then(|u| u.split('@').next()).and_then(|u| u.strip_prefix(NUMBER_PREFIX)).and_then(|n| n.parse::<u32>().ok());
                let Some(id) = id.filter(|&i| (i as usize) < self.calls.len()) else {
                    let _ = self.uas.send_to(response(m, 404, "Not Found", Some("rl404"), None).as_bytes(), from);
                    return;
                };
                let Some(relay_b) = sdp_audio(m.body) else {
                    let _ = self.uas.send_to(response(m, 488, "Not Acceptable Here", Some("rl488"), None).as_bytes(), from);
                    return;
                };
                let body = sdp(*self.uas_addr.ip(), self.calls[id as usize].b_port, id);
                let contact = format!("<sip:callee@{}>", self.uas_addr);
                let resp = response(m, 200, "OK", Some(&format!("rlb{id}")), Some((&contact, &body)));
                let _ = self.uas.send_to(resp.as_bytes(), from);
                self.calls[id as usize].relay_b = Some(relay_b);
                self.check.push(id);
                self.b_legs.insert(cid.to_owned(), (id, resp));
            }
            "ACK" => {}
            _ => {
                let _ = self.uas.send_to(response(m, 200, "OK", None, None).as_bytes(), from);
            }
        }
    }
}

/// A response to request `m`, copying Via, From, To (adding `to_tag` when
/// To has none), Call-ID and CSeq.
fn response(m: &Msg<'_>, code: u16, reason: &str, to_tag: Option<&str>, contact_body: Option<(&str, &str)>) -> String {
    let mut r = format!("SIP/2.0 {code} {reason}\r\n");
    for v in m.all("Via", "v") {
        r.push_str("Via: ");
        r.push_str(v);
        r.push_str("\r\n");
    }
    if let Some(f) = m.hdr("From", "f") {
        r.push_str(&format!("From: {f}\r\n"));
    }
    if let Some(t) = m.hdr("To", "t") {
        match (tag(t), to_tag) {
            (None, Some(tt)) => r.push_str(&format!("To: {t};tag={tt}\r\n")),
            _ => r.push_str(&format!("To: {t}\r\n")),
        }
    }
    for (full, compact) in [("Call-ID", "i"), ("CSeq", "CSeq")] {
        if let Some(v) = m.hdr(full, compact) {
            r.push_str(&format!("{full}: {v}\r\n"));
        }
    }
    match contact_body {
        Some((contact, body)) => r.push_str(&format!("Contact: {contact}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}", body.len())),
        None => r.push_str("Content-Length: 0\r\n\r\n"),
    }
    r
}

/// Block until one of `socks` is readable or `max` passes.
pub fn wait_readable(socks: &[&UdpSocket], max: Duration) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds: Vec<PollFd<'_>> = socks.iter().map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN)).collect();
    let ms = u16::try_from(max.as_millis().max(1)).unwrap_or(u16::MAX);
    let _ = poll(&mut fds, PollTimeout::from(ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sdp_and_tags() {
        let body = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 0\r\n";
        assert_eq!(sdp_audio(body), Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 20000)));
        assert_eq!(sdp_audio("c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"), None);
        assert_eq!(tag("<sip:a@b>;tag=xyz;foo"), Some("xyz"));
        assert_eq!(uri("\"x\" <sip:a@127.0.0.1:5060;transport=udp>;expires=3"), "sip:a@127.0.0.1:5060;transport=udp");
    }
}
