//! IpCidr parsing, printing and matching.

use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use trunks::{CidrError, IpCidr};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn cidr(s: &str) -> IpCidr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn ipv4_blocks() {
    let c = cidr("192.0.2.0/24");
    assert_eq!((c.addr(), c.prefix()), (ip("192.0.2.0"), 24));
    assert!(c.contains(ip("192.0.2.0")));
    assert!(c.contains(ip("192.0.2.255")));
    assert!(!c.contains(ip("192.0.3.0")));
    assert!(!c.contains(ip("2001:db8::1")));
    assert!(c.contains(ip("::ffff:192.0.2.77")), "IPv4-mapped IPv6");
    // Host bits are cleared.
    assert_eq!(cidr("192.0.2.77/24"), c);
    assert_eq!(cidr(" 192.0.2.0/24 ").to_string(), "192.0.2.0/24");
    // A bare address is a /32.
    let h = cidr("10.0.0.1");
    assert_eq!(h.to_string(), "10.0.0.1/32");
    assert!(h.contains(ip("10.0.0.1")) && !h.contains(ip("10.0.0.2")));
    // /0 holds every IPv4 address and no IPv6 one.
    let all = cidr("0.0.0.0/0");
    assert!(all.contains(ip("255.255.255.255")) && all.contains(ip("1.2.3.4")));
    assert!(!all.contains(ip("::1")));
    assert!(cidr("10.0.0.0/31").contains(ip("10.0.0.1")) && !cidr("10.0.0.0/31").contains(ip("10.0.0.2")));
}

#[test]
fn ipv6_blocks() {
    let c = cidr("2001:db8::/32");
    assert!(c.contains(ip("2001:db8:ffff::1")));
    assert!(!c.contains(ip("2001:db9::")));
    assert!(!c.contains(ip("32.1.13.184")), "no IPv4 address is in an IPv6 block");
    let lo = cidr("::1/128");
    assert!(lo.contains(ip("::1")) && !lo.contains(ip("::2")));
    assert_eq!(cidr("::1"), lo);
    assert_eq!(cidr("2001:db8::1234/64").to_string(), "2001:db8::/64");
    assert!(cidr("::/0").contains(ip("ffff::1")));
    assert_eq!(IpCidr::host(ip("fe80::1")).prefix(), 128);
    assert_eq!(IpCidr::new(ip("fe80::1"), 129), Err(CidrError::BadPrefix));
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let bad = [
        ("", CidrError::BadAddress),
        ("abc", CidrError::BadAddress),
        ("10.0.0/8", CidrError::BadAddress),
        ("10.0.0.256", CidrError::BadAddress),
        ("/8", CidrError::BadAddress),
        ("[::1]/128", CidrError::BadAddress),
        ("10.0.0.1/", CidrError::BadPrefix),
        ("10.0.0.1/33", CidrError::BadPrefix),
        ("10.0.0.1/+8", CidrError::BadPrefix),
        ("10.0.0.1/-1", CidrError::BadPrefix),
        ("10.0.0.1/8/8", CidrError::BadPrefix),
        ("10.0.0.1/1000", CidrError::BadPrefix),
        ("10.0.0.1/99999999999999999999", CidrError::BadPrefix),
        ("::1/129", CidrError::BadPrefix),
        ("::1/ 64", CidrError::BadPrefix),
    ];
    for (s, e) in bad {
        assert_eq!(s.parse::<IpCidr>(), Err(e), "{s:?}");
    }
    assert_eq!(CidrError::BadPrefix.to_string(), "prefix length out of range");
}

proptest! {
    /// print then parse gives the block back, and the block holds its own address.
    #[test]
    fn round_trip_v4(a in any::<u32>(), p in 0u8..=32) {
        let c = IpCidr::new(IpAddr::V4(Ipv4Addr::from(a)), p).expect("valid");
        prop_assert_eq!(c.to_string().parse::<IpCidr>(), Ok(c));
        prop_assert!(c.contains(IpAddr::V4(Ipv4Addr::from(a))));
    }

    #[test]
    fn round_trip_v6(a in any::<u128>(), p in 0u8..=128) {
        let c = IpCidr::new(IpAddr::V6(Ipv6Addr::from(a)), p).expect("valid");
        prop_assert_eq!(c.to_string().parse::<IpCidr>(), Ok(c));
        prop_assert!(c.contains(IpAddr::V6(Ipv6Addr::from(a))));
    }

    /// Arbitrary text never panics, and whatever parses prints back to the same block.
    #[test]
    fn arbitrary_text(s in "[0-9a-fA-F:./ +-]{0,48}") {
        if let Ok(c) = s.parse::<IpCidr>() {
            prop_assert_eq!(c.to_string().parse::<IpCidr>(), Ok(c));
        }
    }
}
