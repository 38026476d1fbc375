//! Gateway configuration, as the store hands it over.

use crate::cidr::IpCidr;
use sip_proto::{Peer, Transport};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One carrier trunk.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayConfig {
    /// Unique name; routes refer to gateways by it.
    pub name: String,
    /// Where requests are sent: the carrier's proxy, already resolved.
    pub proxy: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// Host part of the Request-URI, To and From (`carrier.example`, or the
    /// proxy's IP). A bare IPv6 address is bracketed when written in a URI.
    pub domain: String,
    /// Register with the carrier (RFC 3261 §10.2); `None`: IP-authenticated trunk.
    pub register: Option<RegisterConfig>,
    /// Caller number sent on every outbound call; `None` passes the caller through.
    pub caller_id: Option<String>,
    /// Prepended to the callee number after stripping.
    pub prefix: String,
    /// Leading characters removed from the callee number.
    pub strip: usize,
    /// Codec names the carrier accepts (`PCMU`, `PCMA`, ...); empty: any.
    pub codecs: Vec<String>,
    /// Most concurrent calls, outbound and inbound together.
    pub max_calls: Option<u32>,
    /// Most new calls per second (token bucket, burst `max(1, ceil(cps))`).
    /// Zero, negative or NaN refuses every call; infinity is no limit.
    pub max_cps: Option<f64>,
    /// OPTIONS ping period (at least one second); `None`: no pings, the
    /// gateway's health stays [`crate::PingState::Unknown`] and it is used.
    pub ping_interval: Option<Duration>,
    /// Source blocks the carrier sends calls from.
    pub inbound: Vec<IpCidr>,
}

impl GatewayConfig {
    /// A gateway named `name` at `proxy` over UDP, `domain` the proxy's IP,
    /// no registration, no limits, no pings, no number rules.
    pub fn new(name: &str, proxy: SocketAddr) -> GatewayConfig {
        GatewayConfig {
            name: name.to_owned(),
            proxy,
            transport: Transport::Udp,
            domain: proxy.ip().to_string(),
            register: None,
            caller_id: None,
            prefix: String::new(),
            strip: 0,
            codecs: vec![],
            max_calls: None,
            max_cps: None,
            ping_interval: None,
            inbound: vec![],
        }
    }

    /// Where this gateway's requests go.
    pub fn peer(&self) -> Peer {
        Peer { transport: self.transport, addr: self.proxy, conn: None }
    }

    /// Is `codec` (an encoding name such as `PCMU`, case-insensitive) allowed?
    pub fn allows_codec(&self, codec: &str) -> bool {
        self.codecs.is_empty() || self.codecs.iter().any(|c| c.eq_ignore_ascii_case(codec))
    }

    /// The domain as a URI host: bare IPv6 literals get brackets (RFC 3261 §25.1).
    pub(crate) fn uri_host(&self) -> String {
        uri_host(&self.domain)
    }
}

pub(crate) fn uri_host(domain: &str) -> String {
    if domain.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{domain}]")
    } else {
        domain.to_owned()
    }
}

/// Credentials and period of the registration with a carrier.
#[derive(Clone, PartialEq, Eq)]
pub struct RegisterConfig {
    /// User part of the address-of-record, and the digest username.
    pub username: String,
    /// Digest password.
    pub password: String,
    /// Realm the credentials belong to; `None` answers any realm. When set,
    /// a challenge for another realm is refused (the password is not sent
    /// to a realm it was not meant for).
    pub realm: Option<String>,
    /// Registration period asked for, in seconds (0 means 3600).
    pub expires: u32,
}

/// Debug output leaves the password out: configurations end up in logs.
impl fmt::Debug for RegisterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisterConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("realm", &self.realm)
            .field("expires", &self.expires)
            .finish()
    }
}
