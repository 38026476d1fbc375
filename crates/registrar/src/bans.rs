//! Brute-force defence: too many failed authentications from one source
//! address within a window block that source for a while.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Ban policy.
#[derive(Clone, Copy, Debug)]
pub struct BanConfig {
    /// Off switch.
    pub enabled: bool,
    /// Failures within `window_ms` that trigger a ban.
    pub max_failures: u32,
    /// Counting window.
    pub window_ms: u64,
    /// How long a ban lasts.
    pub ban_ms: u64,
}

impl Default for BanConfig {
    fn default() -> Self {
        BanConfig { enabled: true, max_failures: 5, window_ms: 60_000, ban_ms: 600_000 }
    }
}

/// A blocked source, as listed over the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockedSource {
    /// The address.
    pub ip: IpAddr,
    /// Unix ms when the ban ends.
    pub until_ms: u64,
    /// Failures that led to it.
    pub failures: u32,
}

/// Failure counters and bans. Bounded: at most `MAX_TRACKED` sources are
/// counted; the oldest counters are forgotten first.
#[derive(Debug, Default)]
pub struct Bans {
    cfg: BanConfig,
    failures: HashMap<IpAddr, VecDeque<u64>>,
    order: VecDeque<IpAddr>,
    blocked: HashMap<IpAddr, BlockedSource>,
    failures_total: u64,
    bans_total: u64,
}

const MAX_TRACKED: usize = 100_000;

impl Bans {
    /// With a policy.
    pub fn new(cfg: BanConfig) -> Bans {
        Bans { cfg, ..Default::default() }
    }

    /// Is `ip` blocked at `now_ms`?
    pub fn is_blocked(&self, ip: IpAddr, now_ms: u64) -> bool {
        self.blocked.get(&ip).is_some_and(|b| b.until_ms > now_ms)
    }

    /// Count a failure; returns true if this failure started a ban.
    pub fn record_failure(&mut self, ip: IpAddr, now_ms: u64) -> bool {
        if !self.cfg.enabled {
            return false;
        }
        self.failures_total += 1;
        let already = self.is_blocked(ip, now_ms);
        let q = match self.failures.get_mut(&ip) {
            Some(q) => q,
            None => {
                if self.order.len() >= MAX_TRACKED {
                    if let Some(old) = self.order.pop_front() {
                        self.failures.remove(&old);
                    }
                }
                self.order.push_back(ip);
                self.failures.entry(ip).or_default()
            }
        };
        q.push_back(now_ms);
        while q.front().is_some_and(|t| now_ms.saturating_sub(*t) > self.cfg.window_ms) {
            q.pop_front();
        }
        if q.len() as u32 >= self.cfg.max_failures && !already {
            let failures = q.len() as u32;
            q.clear();
            self.blocked.insert(ip, BlockedSource { ip, until_ms: now_ms + self.cfg.ban_ms, failures });
            self.bans_total += 1;
            return true;
        }
        false
    }

    /// A successful authentication clears the source's failure count.
    pub fn record_success(&mut self, ip: IpAddr) {
        if let Some(q) = self.failures.get_mut(&ip) {
            q.clear();
        }
    }

    /// Sources blocked at `now_ms` (expired bans are dropped).
    pub fn list(&mut self, now_ms: u64) -> Vec<BlockedSource> {
        self.blocked.retain(|_, b| b.until_ms > now_ms);
        let mut v: Vec<_> = self.blocked.values().cloned().collect();
        v.sort_by_key(|b| b.ip);
        v
    }

    /// Number of sources blocked at `now_ms`.
    pub fn blocked_count(&self, now_ms: u64) -> usize {
        self.blocked.values().filter(|b| b.until_ms > now_ms).count()
    }

    /// Failed authentications counted since start.
    pub fn failures_total(&self) -> u64 {
        self.failures_total
    }

    /// Bans imposed since start.
    pub fn bans_total(&self) -> u64 {
        self.bans_total
    }

    /// Lift a ban; returns whether there was one.
    pub fn clear(&mut self, ip: IpAddr) -> bool {
        self.failures.remove(&ip);
        self.blocked.remove(&ip).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ban_engages_expires_and_clears() {
        let mut b = Bans::new(BanConfig { enabled: true, max_failures: 3, window_ms: 10_000, ban_ms: 60_000 });
        let ip: IpAddr = "192.0.2.9".parse().expect("ip");
        assert!(!b.record_failure(ip, 0));
        assert!(!b.record_failure(ip, 20_000), "first one fell out of the window");
        assert!(!b.record_failure(ip, 21_000));
        assert!(b.record_failure(ip, 22_000));
        assert!(b.is_blocked(ip, 22_001));
        assert_eq!(b.list(30_000).len(), 1);
        assert!(!b.is_blocked(ip, 82_001));
        assert!(b.list(82_001).is_empty());
        b.record_failure(ip, 90_000);
        b.record_failure(ip, 90_001);
        b.record_failure(ip, 90_002);
        assert!(b.clear(ip));
        assert!(!b.is_blocked(ip, 90_003));
        let mut off = Bans::new(BanConfig { enabled: false, ..BanConfig::default() });
        for t in 0..100 {
            assert!(!off.record_failure(ip, t));
        }
    }
}
