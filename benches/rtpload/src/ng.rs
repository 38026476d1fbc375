//! rtpengine's ng control protocol (bencode dictionaries over UDP, each
//! message prefixed by a cookie the answer repeats): `offer` with the
//! caller's SDP, `answer` with the callee's, `delete` at the end, exactly
//! what a SIP proxy (Kamailio's rtpengine module) sends for a call.
//! The SDP rtpengine returns for the offer is what the callee is given
//! (where B sends); the one it returns for the answer goes to the caller.

use crate::media::NewCall;
use crate::sip::{sdp, sdp_audio, wait_readable};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

/// A bencode value (the subset rtpengine uses).
#[derive(Debug, PartialEq)]
pub enum Ben {
    Str(Vec<u8>),
    Int(i64),
    List(Vec<Ben>),
    Dict(Vec<(Vec<u8>, Ben)>),
}

impl Ben {
    pub fn s(v: &str) -> Ben {
        Ben::Str(v.as_bytes().to_vec())
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ben::Str(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            Ben::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Ben::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Ben::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Ben::Str(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
    /// Decode one value from the start of `b`; returns it and the rest.
    pub fn decode(b: &[u8]) -> Option<(Ben, &[u8])> {
        match *b.first()? {
            b'i' => {
                let end = b.iter().position(|&c| c == b'e')?;
                let i = std::str::from_utf8(&b[1..end]).ok()?.parse().ok()?;
                Some((Ben::Int(i), &b[end + 1..]))
            }
            b'l' => {
                let mut rest = &b[1..];
                let mut l = Vec::new();
                while *rest.first()? != b'e' {
                    let (v, r) = Ben::decode(rest)?;
                    l.push(v);
                    rest = r;
                }
                Some((Ben::List(l), &rest[1..]))
            }
            b'd' => {
                let mut rest = &b[1..];
                let mut d = Vec::new();
                while *rest.first()? != b'e' {
                    let (k, r) = Ben::decode(rest)?;
                    let (v, r) = Ben::decode(r)?;
                    let Ben::Str(k) = k else { return None };
                    d.push((k, v));
                    rest = r;
                }
                Some((Ben::Dict(d), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = b.iter().position(|&c| c == b':')?;
                let n: usize = std::str::from_utf8(&b[..colon]).ok()?.parse().ok()?;
                let s = b.get(colon + 1..colon + 1 + n)?;
                Some((Ben::Str(s.to_vec()), &b[colon + 1 + n..]))
            }
            _ => None,
        }
    }
    pub fn get(&self, key: &str) -> Option<&Ben> {
        match self {
            Ben::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Ben::Str(s) => std::str::from_utf8(s).ok(),
            _ => None,
        }
    }
}

fn dict(items: Vec<(&str, Ben)>) -> Ben {
    Ben::Dict(items.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Offering,
    Answering,
    Up,
    Failed,
    Deleting,
    Done,
}

struct Call {
    state: State,
    a_port: u16,
    b_port: u16,
    msg: Vec<u8>,
    next_retrans: Instant,
    deadline: Instant,
    /// Where B sends (from the offer's answer).
    b_dst: Option<SocketAddrV4>,
}

pub struct Ng {
    sock: UdpSocket,
    server: SocketAddrV4,
    caller_ip: Ipv4Addr,
    callee_ip: Ipv4Addr,
    calls: Vec<Call>,
    tag_base: u32,
    /// Why calls failed: rtpengine's error-reason (or "timeout") -> count.
    pub failures: HashMap<String, u32>,
}

impl Ng {
    pub fn new(caller_ip: Ipv4Addr, callee_ip: Ipv4Addr, server: SocketAddrV4, n: usize, ports: impl Fn(u32) -> (u16, u16)) -> std::io::Result<Ng> {
        let sock = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
        sock.set_nonblocking(true)?;
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBuf, &(4 << 20))?;
        let now = Instant::now();
        let calls = (0..n as u32)
            .map(|id| {
                let (a_port, b_port) = ports(id);
                Call { state: State::Idle, a_port, b_port, msg: Vec::new(), next_retrans: now, deadline: now, b_dst: None }
            })
            .collect();
        Ok(Ng { sock, server, caller_ip, callee_ip, calls, tag_base: std::process::id(), failures: HashMap::new() })
    }

    fn call_id(&self, id: u32) -> String {
        format!("rtpload-{}-{id}", self.tag_base)
    }

    fn send(&mut self, id: u32, cookie: &str, body: Ben, now: Instant) {
        let mut msg = format!("{cookie} ").into_bytes();
        body.encode(&mut msg);
        let _ = self.sock.send_to(&msg, self.server);
        let c = &mut self.calls[id as usize];
        c.msg = msg;
        c.next_retrans = now + Duration::from_millis(1000);
    }

    fn offer(&mut self, id: u32, now: Instant) {
        let body = dict(vec![
            ("command", Ben::s("offer")),
            ("call-id", Ben::s(&self.call_id(id))),
            ("from-tag", Ben::s(&format!("a{id}"))),
            ("sdp", Ben::s(&sdp(self.caller_ip, self.calls[id as usize].a_port, id))),
        ]);
        self.send(id, &format!("o{id}"), body, now);
        self.calls[id as usize].state = State::Offering;
    }

    fn answer(&mut self, id: u32, now: Instant) {
        let body = dict(vec![
            ("command", Ben::s("answer")),
            ("call-id", Ben::s(&self.call_id(id))),
            ("from-tag", Ben::s(&format!("a{id}"))),
            ("to-tag", Ben::s(&format!("b{id}"))),
            ("sdp", Ben::s(&sdp(self.callee_ip, self.calls[id as usize].b_port, id))),
        ]);
        self.send(id, &format!("a{id}"), body, now);
        self.calls[id as usize].state = State::Answering;
    }

    fn fail(&mut self, id: u32, why: String) {
        self.calls[id as usize].state = State::Failed;
        *self.failures.entry(why).or_default() += 1;
    }

    /// Offer and answer `n` calls at `rate` per second; `ready` gets each
    /// set-up call. Returns (up, failed).
    pub fn setup(&mut self, rate: f64, call_timeout: Duration, overall: Duration, mut ready: impl FnMut(NewCall)) -> (usize, usize) {
        let t0 = Instant::now();
        let n = self.calls.len();
        let mut next = 0usize;
        let mut pending: Vec<u32> = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            let due = ((now.duration_since(t0).as_secs_f64() * rate) as usize + 1).min(n);
            while next < due {
                self.calls[next].deadline = now + call_timeout;
                self.offer(next as u32, now);
                pending.push(next as u32);
                next += 1;
            }
            for &id in &pending {
                let c = &mut self.calls[id as usize];
                if !matches!(c.state, State::Offering | State::Answering) {
                    continue;
                }
                if now >= c.deadline {
                    self.fail(id, "timeout".into());
                } else if now >= c.next_retrans {
                    // Same cookie: rtpengine answers a repeat from its cache.
                    let _ = self.sock.send_to(&c.msg, self.server);
                    c.next_retrans = now + Duration::from_millis(1000);
                }
            }
            while let Ok((len, _)) = self.sock.recv_from(&mut buf) {
                let Some(sp) = buf[..len].iter().position(|&c| c == b' ') else { continue };
                let cookie = String::from_utf8_lossy(&buf[..sp]).into_owned();
                let Some((reply, _)) = Ben::decode(&buf[sp + 1..len]) else { continue };
                let (kind, id) = cookie.split_at(1);
                let Ok(id) = id.parse::<u32>() else { continue };
                if id as usize >= n {
                    continue;
                }
                let result = reply.get("result").and_then(Ben::str).unwrap_or("");
                if result != "ok" {
                    if matches!(self.calls[id as usize].state, State::Offering | State::Answering) {
                        let why = reply.get("error-reason").and_then(Ben::str).unwrap_or(result).to_owned();
                        self.fail(id, why);
                    }
                    continue;
                }
                let addr = reply.get("sdp").and_then(Ben::str).and_then(sdp_audio);
                match (kind, self.calls[id as usize].state, addr) {
                    ("o", State::Offering, Some(b)) => {
                        self.calls[id as usize].b_dst = Some(b);
                        self.answer(id, now);
                    }
                    ("a", State::Answering, Some(a)) => {
                        let c = &mut self.calls[id as usize];
                        c.state = State::Up;
                        if let Some(b) = c.b_dst {
                            ready(NewCall { id, a_dst: a, b_dst: b, narrowband: false });
                        }
                    }
                    (_, State::Offering | State::Answering, None) => self.fail(id, "no loopback audio in the returned SDP".into()),
                    _ => {}
                }
            }
            pending.retain(|&id| matches!(self.calls[id as usize].state, State::Offering | State::Answering));
            if next == n && pending.is_empty() {
                break;
            }
            if now.duration_since(t0) > overall {
                break;
            }
            wait_readable(&[&self.sock], Duration::from_millis(1));
        }
        let up = self.calls.iter().filter(|c| c.state == State::Up).count();
        (up, n - up)
    }

    /// `delete` every call at `rate` per second; returns how many were
    /// acknowledged in time.
    pub fn teardown(&mut self, rate: f64, overall: Duration) -> usize {
        let t0 = Instant::now();
        let ups: Vec<u32> = (0..self.calls.len() as u32).filter(|&i| self.calls[i as usize].state == State::Up).collect();
        let mut next = 0;
        let mut buf = vec![0u8; 65536];
        let mut done = 0;
        loop {
            let now = Instant::now();
            let due = ((now.duration_since(t0).as_secs_f64() * rate) as usize + 1).min(ups.len());
            while next < due {
                let id = ups[next];
                let body = dict(vec![("command", Ben::s("delete")), ("call-id", Ben::s(&self.call_id(id))), ("from-tag", Ben::s(&format!("a{id}")))]);
                self.send(id, &format!("d{id}"), body, now);
                self.calls[id as usize].state = State::Deleting;
                next += 1;
            }
            while let Ok((len, _)) = self.sock.recv_from(&mut buf) {
                let Some(sp) = buf[..len].iter().position(|&c| c == b' ') else { continue };
                let cookie = String::from_utf8_lossy(&buf[..sp]).into_owned();
                if let Some(id) = cookie.strip_prefix('d').and_then(|i| i.parse::<u32>().ok()) {
                    if let Some(c) = self.calls.get_mut(id as usize) {
                        if c.state == State::Deleting {
                            c.state = State::Done;
                            done += 1;
                        }
                    }
                }
            }
            for &id in &ups[..next] {
                let c = &mut self.calls[id as usize];
                if c.state == State::Deleting && now >= c.next_retrans {
                    let _ = self.sock.send_to(&c.msg, self.server);
                    c.next_retrans = now + Duration::from_millis(1000);
                }
            }
            if (next == ups.len() && done == ups.len()) || now.duration_since(t0) > overall {
                break;
            }
            wait_readable(&[&self.sock], Duration::from_millis(1));
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trip() {
        let v = dict(vec![("command", Ben::s("ping")), ("n", Ben::Int(-3)), ("l", Ben::List(vec![Ben::s("a")]))]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, b"d7:command4:ping1:ni-3e1:ll1:aee");
        let (back, rest) = Ben::decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back, v);
        assert_eq!(back.get("command").and_then(Ben::str), Some("ping"));
    }
}
