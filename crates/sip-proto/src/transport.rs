//! Transport-level addressing shared by the endpoint and its driver.

use bytes::Bytes;
use std::net::SocketAddr;

/// A SIP transport (RFC 3261 §18, RFC 7118).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, the endpoint retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// WebSocket.
    Ws,
    /// Secure WebSocket.
    Wss,
}

impl Transport {
    /// Does the transport itself retransmit (RFC 3261 §17: timers are cut)?
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
    /// Name used in Via (`SIP/2.0/UDP`).
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
        }
    }
    /// Parse a Via transport token.
    pub fn from_via(s: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Ws, Transport::Wss]
            .into_iter()
            .find(|t| t.via_name().eq_ignore_ascii_case(s))
    }
    /// Is it a stream transport where one connection carries many messages?
    pub fn is_stream(self) -> bool {
        self.is_reliable()
    }
}

/// Identifies one stream connection owned by the driver.
pub type ConnId = u64;

/// Where a message came from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport.
    pub transport: Transport,
    /// Remote address.
    pub addr: SocketAddr,
    /// For stream transports, the connection the message arrived on (or
    /// should leave by); the driver opens a new one when absent or closed.
    pub conn: Option<ConnId>,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer { transport: Transport::Udp, addr, conn: None }
    }
}

/// A message for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dest: Peer,
    /// The bytes, one whole message (or a keep-alive).
    pub data: Bytes,
}
