//! Typed views of single SDP lines, borrowed from the description's text.
//!
//! Every `parse` here is both the validator run once by
//! [`Session::parse`](crate::Session::parse) and the on-demand decoder run by
//! the typed accessors; it does no allocation. They return `None` when the
//! value does not follow the grammar.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One line of the description, as it appears in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number in the printed description.
    pub number: usize,
    /// The type letter (`v`, `o`, `a`, ...).
    pub kind: char,
    /// Everything after `<type>=`.
    pub value: &'a str,
}

/// An `a=` attribute line: `a=<name>` or `a=<name>:<value>` (RFC 8866 §5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// 1-based line number in the printed description.
    pub line: usize,
    /// The attribute name.
    pub name: &'a str,
    /// The value after the first `:`, if there is one.
    pub value: Option<&'a str>,
}

impl<'a> Attribute<'a> {
    pub(crate) fn split(line: usize, v: &'a str) -> Attribute<'a> {
        match v.split_once(':') {
            Some((name, value)) => Attribute {
                line,
                name,
                value: Some(value),
            },
            None => Attribute {
                line,
                name: v,
                value: None,
            },
        }
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`
/// (RFC 8866 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// User name, `-` when none.
    pub username: &'a str,
    /// Session id (digits by the RFC; not checked).
    pub session_id: &'a str,
    /// Session version: always ASCII digits (checked at parse, needed to bump).
    pub session_version: &'a str,
    /// Network type, `IN`.
    pub net_type: &'a str,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: &'a str,
    /// Unicast address or FQDN of the originating host.
    pub address: &'a str,
}

impl<'a> Origin<'a> {
    /// Parses the value of an `o=` line.
    pub fn parse(v: &'a str) -> Option<Origin<'a>> {
        let mut it = v.split(' ');
        let o = Origin {
            username: nonempty(it.next())?,
            session_id: nonempty(it.next())?,
            session_version: nonempty(it.next())?,
            net_type: nonempty(it.next())?,
            addr_type: nonempty(it.next())?,
            address: nonempty(it.next())?,
        };
        if it.next().is_some() || !is_digits(o.session_version) {
            return None;
        }
        Some(o)
    }

    /// The session version as a number, if it fits in a `u64`.
    pub fn session_version_number(&self) -> Option<u64> {
        self.session_version.parse().ok()
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// Network type, `IN`.
    pub net_type: &'a str,
    /// Address type, `IP4` or `IP6`.
    pub addr_type: &'a str,
    /// The address without any `/ttl` or `/count` suffix (IP or FQDN).
    pub address: &'a str,
    /// Multicast TTL (`IP4` only).
    pub ttl: Option<u8>,
    /// Number of multicast addresses.
    pub count: Option<u32>,
}

impl<'a> Connection<'a> {
    /// Parses the value of a `c=` line.
    pub fn parse(v: &'a str) -> Option<Connection<'a>> {
        let mut it = v.split(' ');
        let net_type = nonempty(it.next())?;
        let addr_type = nonempty(it.next())?;
        let full = nonempty(it.next())?;
        if it.next().is_some() {
            return None;
        }
        let mut parts = full.split('/');
        let address = nonempty(parts.next())?;
        let a = parts.next();
        let b = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let ip6 = addr_type.eq_ignore_ascii_case("IP6");
        let (ttl, count) = match (a, b) {
            (None, _) => (None, None),
            // IP6 has no TTL: `addr/count` (RFC 8866 §5.7).
            (Some(n), None) if ip6 => (None, Some(n.parse().ok()?)),
            (Some(t), None) => (Some(t.parse().ok()?), None),
            (Some(_), Some(_)) if ip6 => return None,
            (Some(t), Some(n)) => (Some(t.parse().ok()?), Some(n.parse().ok()?)),
        };
        Some(Connection {
            net_type,
            addr_type,
            address,
            ttl,
            count,
        })
    }

    /// The address as an IP address, when it is a literal of the declared
    /// type (`IN IP4` or `IN IP6`); `None` for an FQDN.
    pub fn ip(&self) -> Option<IpAddr> {
        ip_of(self.net_type, self.addr_type, self.address)
    }

    /// True for `0.0.0.0` (or `::`): the old RFC 2543 way to put a stream on
    /// hold, still sent by some equipment (RFC 3264 §8.4).
    pub fn is_hold(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

pub(crate) fn ip_of(net_type: &str, addr_type: &str, address: &str) -> Option<IpAddr> {
    if !net_type.eq_ignore_ascii_case("IN") {
        return None;
    }
    if addr_type.eq_ignore_ascii_case("IP4") {
        address.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else if addr_type.eq_ignore_ascii_case("IP6") {
        address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        None
    }
}

/// `b=<bwtype>:<bandwidth>` (RFC 8866 §5.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth<'a> {
    /// Bandwidth type (`AS`, `CT`, `TIAS`, ...).
    pub bw_type: &'a str,
    /// The value, in kbit/s for `AS`/`CT` (bit/s for `TIAS`).
    pub bandwidth: u64,
}

impl<'a> Bandwidth<'a> {
    /// Parses the value of a `b=` line.
    pub fn parse(v: &'a str) -> Option<Bandwidth<'a>> {
        let (t, n) = v.split_once(':')?;
        Some(Bandwidth {
            bw_type: nonempty(Some(t))?,
            bandwidth: digits_u64(n)?,
        })
    }
}

/// `t=<start-time> <stop-time>` (RFC 8866 §5.9), NTP seconds, 0 = unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Start time.
    pub start: u64,
    /// Stop time.
    pub stop: u64,
}

impl Timing {
    /// Parses the value of a `t=` line.
    pub fn parse(v: &str) -> Option<Timing> {
        let (a, b) = v.split_once(' ')?;
        Some(Timing {
            start: digits_u64(a)?,
            stop: digits_u64(b)?,
        })
    }
}

/// The `m=` line: `m=<media> <port>[/<count>] <proto> <fmt> ...` (RFC 8866 §5.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaLine<'a> {
    /// `audio`, `video`, `image`, `application`, ...
    pub media_type: &'a str,
    /// Transport port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// The optional `/<number of ports>`.
    pub port_count: Option<u16>,
    /// Transport protocol: `RTP/AVP`, `RTP/AVPF`, `RTP/SAVP`, `udptl`, ...
    pub proto: &'a str,
    /// The format list as written: space-separated, no empty entries.
    pub formats: &'a str,
}

impl<'a> MediaLine<'a> {
    /// Parses the value of an `m=` line. An `m=` line without any format is
    /// accepted (the grammar wants one; some equipment sends none).
    pub fn parse(v: &'a str) -> Option<MediaLine<'a>> {
        let mut it = v.splitn(4, ' ');
        let media_type = nonempty(it.next())?;
        let port_s = nonempty(it.next())?;
        let proto = nonempty(it.next())?;
        let formats = match it.next() {
            Some("") => return None, // trailing space
            Some(f) => f,
            None => "",
        };
        let (port, port_count) = match port_s.split_once('/') {
            Some((p, n)) => (digits_u16(p)?, Some(digits_u16(n)?)),
            None => (digits_u16(port_s)?, None),
        };
        if !formats.is_empty() && formats.split(' ').any(str::is_empty) {
            return None;
        }
        Some(MediaLine {
            media_type,
            port,
            port_count,
            proto,
            formats,
        })
    }

    /// The formats, in order.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.formats.split(' ').filter(|f| !f.is_empty())
    }

    /// Number of formats.
    pub fn format_count(&self) -> usize {
        self.formats().count()
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
/// (RFC 8866 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// RTP payload type, 0..=127.
    pub payload_type: u8,
    /// Encoding name as written (compare case-insensitively).
    pub encoding: &'a str,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Encoding parameters: the channel count for audio.
    pub channels: Option<u16>,
}

impl<'a> RtpMap<'a> {
    /// Parses the value of an `a=rtpmap` attribute.
    pub fn parse(v: &'a str) -> Option<RtpMap<'a>> {
        let v = v.trim_end_matches([' ', '\t']);
        let (pt, rest) = v.split_once(' ')?;
        let mut it = rest.split('/');
        let encoding = nonempty(it.next())?;
        let clock_rate = u32::try_from(digits_u64(it.next()?)?).ok()?;
        let channels = match it.next() {
            Some(c) => Some(digits_u16(c)?),
            None => None,
        };
        if it.next().is_some() || encoding.contains(' ') {
            return None;
        }
        Some(RtpMap {
            payload_type: payload_type(pt)?,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// The channel count, 1 when not given (RFC 8866 §6.6).
    pub fn channel_count(&self) -> u16 {
        self.channels.unwrap_or(1)
    }

    /// True for `telephone-event` (RFC 4733).
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }

    /// True for `CN`, comfort noise (RFC 3389).
    pub fn is_comfort_noise(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("CN")
    }
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// The format (payload type for RTP) the parameters apply to.
    pub format: &'a str,
    /// The parameters, verbatim (may be empty).
    pub params: &'a str,
}

impl<'a> Fmtp<'a> {
    /// Parses the value of an `a=fmtp` attribute.
    pub fn parse(v: &'a str) -> Option<Fmtp<'a>> {
        let (format, params) = v.split_once(' ').unwrap_or((v, ""));
        Some(Fmtp {
            format: nonempty(Some(format))?,
            params,
        })
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// RTCP port.
    pub port: u16,
    /// Network type, if an address is given.
    pub net_type: Option<&'a str>,
    /// Address type, if an address is given.
    pub addr_type: Option<&'a str>,
    /// The address, if given.
    pub address: Option<&'a str>,
}

impl<'a> Rtcp<'a> {
    /// Parses the value of an `a=rtcp` attribute.
    pub fn parse(v: &'a str) -> Option<Rtcp<'a>> {
        let v = v.trim_end_matches([' ', '\t']);
        let mut it = v.split(' ');
        let port = digits_u16(it.next()?)?;
        let r = match it.next() {
            None => Rtcp {
                port,
                net_type: None,
                addr_type: None,
                address: None,
            },
            Some(n) => Rtcp {
                port,
                net_type: Some(nonempty(Some(n))?),
                addr_type: Some(nonempty(it.next())?),
                address: Some(nonempty(it.next())?),
            },
        };
        if it.next().is_some() {
            return None;
        }
        Some(r)
    }

    /// The explicit address as an IP, if one is given and is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        ip_of(self.net_type?, self.addr_type?, self.address?)
    }
}

/// Parses an `a=ptime` / `a=maxptime` value: milliseconds, an integer or a
/// real (RFC 8866 §6.4); the fraction is dropped.
pub(crate) fn parse_ptime(v: &str) -> Option<u32> {
    let v = v.trim_end_matches([' ', '\t']);
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    if !is_digits(frac) {
        return None;
    }
    u32::try_from(digits_u64(int)?).ok()
}

/// The stream direction (RFC 8866 §6.7, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `a=sendrecv`, the default when nothing is said.
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an attribute name stands for.
    pub fn from_name(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }

    /// Builds a direction from whether this side sends and receives.
    pub fn from_flags(sends: bool, receives: bool) -> Direction {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether this side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other end: sendonly ↔ recvonly.
    pub fn reversed(self) -> Direction {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// The direction an answerer whose own wish is `local` must answer to an
    /// offered direction (RFC 3264 §6.1): it may send only if the offerer
    /// receives and may receive only if the offerer sends. Thus sendonly is
    /// answered recvonly (or inactive), recvonly sendonly (or inactive),
    /// inactive inactive, and sendrecv with `local` itself.
    pub fn answer_to(offered: Direction, local: Direction) -> Direction {
        Direction::from_flags(
            offered.receives() && local.sends(),
            offered.sends() && local.receives(),
        )
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A socket address from an IP and a port.
pub(crate) fn socket(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn digits_u64(s: &str) -> Option<u64> {
    if is_digits(s) {
        s.parse().ok()
    } else {
        None
    }
}

fn digits_u16(s: &str) -> Option<u16> {
    if is_digits(s) {
        s.parse().ok()
    } else {
        None
    }
}

/// An RTP payload type: decimal 0..=127.
pub(crate) fn payload_type(s: &str) -> Option<u8> {
    digits_u16(s)
        .filter(|&n| n <= 127)
        .and_then(|n| u8::try_from(n).ok())
}

#[cfg(test)]
mod tests;
