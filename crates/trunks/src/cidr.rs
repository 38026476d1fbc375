//! Address blocks (RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6) naming the
//! sources a carrier may send from.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 address block such as `192.0.2.0/24`, `10.0.0.1`
/// (a single host, `/32`) or `2001:db8::/32`.
///
/// Host bits below the prefix are cleared when parsing, so
/// `192.0.2.7/24` is the block `192.0.2.0/24`; printing always writes the
/// prefix length, and `parse(print(c)) == c`.
///
/// An IPv4 block also contains the IPv4-mapped IPv6 form of its addresses
/// (`::ffff:192.0.2.1`), which is what a dual-stack socket reports for an
/// IPv4 peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpCidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why a block could not be parsed. Configuration errors: the operator's
/// input, reported back to them, never a panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    BadAddress,
    /// The part after `/` is not a number from 0 to 32 (IPv4) or 128 (IPv6).
    BadPrefix,
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::BadAddress => f.write_str("not an IP address"),
            CidrError::BadPrefix => f.write_str("prefix length out of range"),
        }
    }
}

impl std::error::Error for CidrError {}

fn mask_v4(a: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    Ipv4Addr::from(u32::from(a) & m)
}

fn mask_v6(a: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
    Ipv6Addr::from(u128::from(a) & m)
}

impl IpCidr {
    /// The block of `prefix` leading bits of `addr` (host bits cleared).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpCidr, CidrError> {
        match addr {
            IpAddr::V4(a) if prefix <= 32 => Ok(IpCidr { addr: IpAddr::V4(mask_v4(a, prefix)), prefix }),
            IpAddr::V6(a) if prefix <= 128 => Ok(IpCidr { addr: IpAddr::V6(mask_v6(a, prefix)), prefix }),
            _ => Err(CidrError::BadPrefix),
        }
    }

    /// A block holding exactly one address.
    pub fn host(addr: IpAddr) -> IpCidr {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpCidr { addr, prefix }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Is `ip` inside the block? IPv4-mapped IPv6 addresses match IPv4 blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(a)) => mask_v4(a, self.prefix) == net,
            (IpAddr::V4(net), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| mask_v4(a, self.prefix) == net),
            (IpAddr::V6(net), IpAddr::V6(a)) => mask_v6(a, self.prefix) == net,
            (IpAddr::V6(_), IpAddr::V4(_)) => false,
        }
    }
}

impl FromStr for IpCidr {
    type Err = CidrError;

    /// `address` or `address/prefix`; surrounding whitespace is ignored.
    fn from_str(s: &str) -> Result<IpCidr, CidrError> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| CidrError::BadAddress)?;
        match p {
            None => Ok(IpCidr::host(addr)),
            Some(p) => {
                // Digits only: u8::from_str would accept "+8".
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CidrError::BadPrefix);
                }
                let prefix: u8 = p.parse().map_err(|_| CidrError::BadPrefix)?;
                IpCidr::new(addr, prefix)
            }
        }
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
