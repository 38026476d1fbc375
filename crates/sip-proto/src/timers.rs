//! RFC 3261 §17 timer values. Every transaction deadline is derived from
//! these; the endpoint never reads a clock, the caller passes `now`.

use std::time::Duration;

/// T1, T2 and T4 (RFC 3261 Table 4). Tests shrink or keep them: time is virtual.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J (unreliable), L, M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
    /// Timer D: at least 32 s on unreliable transports, zero on reliable ones.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1x64() / 2)
        }
    }
    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
    /// Timer J: 64·T1 on unreliable transports, zero on reliable ones.
    pub fn timer_j(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t1x64()
        }
    }
}
