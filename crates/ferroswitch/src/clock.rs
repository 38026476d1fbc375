//! Maps the runtime's monotonic instants to wall-clock unix milliseconds
//! (registrations and CDRs outlive restarts, so they use wall time).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One anchor pair taken at start.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor: Instant,
    anchor_ms: u64,
}

impl Clock {
    /// Anchor at the current time.
    pub fn start() -> Clock {
        let anchor = tokio::time::Instant::now().into_std();
        let anchor_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        Clock { anchor, anchor_ms }
    }

    /// Unix ms for an instant.
    pub fn unix_ms(&self, t: Instant) -> u64 {
        if t >= self.anchor {
            self.anchor_ms + (t - self.anchor).as_millis() as u64
        } else {
            self.anchor_ms.saturating_sub((self.anchor - t).as_millis() as u64)
        }
    }

    /// Instant for unix ms.
    pub fn instant(&self, ms: u64) -> Instant {
        if ms >= self.anchor_ms {
            self.anchor + Duration::from_millis(ms - self.anchor_ms)
        } else {
            self.anchor.checked_sub(Duration::from_millis(self.anchor_ms - ms)).unwrap_or(self.anchor)
        }
    }

    /// Unix ms now.
    pub fn now_ms(&self) -> u64 {
        self.unix_ms(tokio::time::Instant::now().into_std())
    }
}
