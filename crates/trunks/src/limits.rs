//! Per-gateway admission: concurrent calls and calls per second.

use std::fmt;
use std::time::Instant;

/// Why a new call through a gateway was refused. All are conditions of
/// ours or of the carrier, not of the caller: a B2BUA answers the caller
/// 503 (or tries the next gateway of the route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// No gateway of that name is configured.
    Unknown,
    /// The gateway's OPTIONS pings are failing.
    Down,
    /// `max_calls` calls are already up.
    MaxCalls,
    /// The calls-per-second bucket is empty.
    MaxCps,
}

impl Refused {
    /// Short machine-readable name (for CDRs and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Unknown => "unknown_gateway",
            Refused::Down => "gateway_down",
            Refused::MaxCalls => "max_calls",
            Refused::MaxCps => "max_cps",
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for Refused {}

/// A token bucket: `rate` tokens per second, holding at most `burst`.
/// It starts full, so a burst of `burst` calls passes at once.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// Burst is `max(1, ceil(rate))`. A rate that is not positive refuses
    /// everything; an infinite one admits everything.
    pub fn new(rate: f64) -> TokenBucket {
        let rate = if rate.is_nan() || rate <= 0.0 { 0.0 } else { rate };
        let burst = if rate.is_finite() { rate.ceil().max(1.0) } else { f64::INFINITY };
        TokenBucket { rate, burst, tokens: if rate > 0.0 { burst } else { 0.0 }, last: None }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            // A `now` earlier than the last one adds nothing.
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        if self.last.is_none_or(|l| now > l) {
            self.last = Some(now);
        }
    }

    /// Take a token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.rate.is_infinite() {
            return true;
        }
        self.refill(now);
        // A hair of slack for float rounding (0.3 tokens/s after 10/3 s).
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens = (self.tokens - 1.0).max(0.0);
            true
        } else {
            false
        }
    }
}

/// The admission state of one gateway.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    pub calls: u32,
    pub bucket: Option<TokenBucket>,
}

impl Limits {
    pub fn new(max_cps: Option<f64>) -> Limits {
        Limits { calls: 0, bucket: max_cps.map(TokenBucket::new) }
    }

    /// Check `max_calls` first (refusing there spends no token), then the bucket.
    pub fn admit(&mut self, now: Instant, max_calls: Option<u32>) -> Result<(), Refused> {
        if max_calls.is_some_and(|m| self.calls >= m) {
            return Err(Refused::MaxCalls);
        }
        if let Some(b) = &mut self.bucket {
            if !b.try_take(now) {
                return Err(Refused::MaxCps);
            }
        }
        self.calls = self.calls.saturating_add(1);
        Ok(())
    }

    pub fn release(&mut self) {
        self.calls = self.calls.saturating_sub(1);
    }
}
