//! Admission: max_calls and the calls-per-second token bucket.

use crate::harness::*;
use std::time::Duration;
use trunks::Refused;

fn limited(max_calls: Option<u32>, max_cps: Option<f64>) -> Rig {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.register = None;
    g.max_calls = max_calls;
    g.max_cps = max_cps;
    rig.set(vec![g]);
    rig
}

fn calls(rig: &Rig) -> u32 {
    rig.trunks.status(rig.now)[0].calls
}

#[test]
fn max_calls_counts_until_release() {
    let mut rig = limited(Some(2), None);
    let now = rig.now;
    assert_eq!(rig.trunks.acquire(now, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(now, "gw"), Ok(()));
    assert_eq!(calls(&rig), 2);
    assert_eq!(rig.trunks.acquire(now, "gw"), Err(Refused::MaxCalls));
    assert_eq!(Refused::MaxCalls.as_str(), "max_calls");
    rig.trunks.release("gw");
    assert_eq!(rig.trunks.acquire(now, "gw"), Ok(()));
    for _ in 0..5 {
        rig.trunks.release("gw");
    }
    assert_eq!(calls(&rig), 0, "never below zero");
    rig.trunks.release("nope");
    assert_eq!(rig.trunks.acquire(now, "nope"), Err(Refused::Unknown));
    assert_eq!(rig.trunks.acquire_inbound(now, "nope"), Err(Refused::Unknown));
}

#[test]
fn cps_bucket_bursts_then_refills_on_the_virtual_clock() {
    let mut rig = limited(None, Some(2.0));
    let t = rig.now;
    // Burst of ceil(2) = 2.
    assert_eq!(rig.trunks.acquire(t, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(t, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(t, "gw"), Err(Refused::MaxCps));
    // 2 tokens/s: one more after 0.5 s, not before.
    assert_eq!(rig.trunks.acquire(t + Duration::from_millis(499), "gw"), Err(Refused::MaxCps));
    assert_eq!(rig.trunks.acquire(t + Duration::from_millis(500), "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(t + Duration::from_millis(500), "gw"), Err(Refused::MaxCps));
    // A long pause refills only up to the burst.
    let later = t + Duration::from_secs(60);
    assert_eq!(rig.trunks.acquire(later, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(later, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(later, "gw"), Err(Refused::MaxCps));
    assert_eq!(calls(&rig), 5);
}

#[test]
fn fractional_cps_has_a_burst_of_one() {
    let mut rig = limited(None, Some(0.3));
    let t = rig.now;
    assert_eq!(rig.trunks.acquire(t, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(t + Duration::from_secs(3), "gw"), Err(Refused::MaxCps));
    // 1 / 0.3 = 3.333 s.
    assert_eq!(rig.trunks.acquire(t + Duration::from_millis(3334), "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire(t + Duration::from_millis(3334), "gw"), Err(Refused::MaxCps));
}

#[test]
fn refusal_by_max_calls_spends_no_token() {
    let mut rig = limited(Some(1), Some(1.0));
    let t = rig.now;
    assert_eq!(rig.trunks.acquire(t, "gw"), Ok(()));
    let t1 = t + Duration::from_secs(1);
    assert_eq!(rig.trunks.acquire(t1, "gw"), Err(Refused::MaxCalls));
    rig.trunks.release("gw");
    assert_eq!(rig.trunks.acquire(t1, "gw"), Ok(()), "the token refilled at 1 s is still there");
}

#[test]
fn zero_cps_refuses_everything_and_infinite_admits_everything() {
    let mut rig = limited(None, Some(0.0));
    assert_eq!(rig.trunks.acquire(rig.now, "gw"), Err(Refused::MaxCps));
    assert_eq!(Refused::MaxCps.to_string(), "max_cps");
    let mut rig = limited(None, Some(f64::NAN));
    assert_eq!(rig.trunks.acquire(rig.now, "gw"), Err(Refused::MaxCps));
    let mut rig = limited(None, Some(f64::INFINITY));
    for _ in 0..1000 {
        assert_eq!(rig.trunks.acquire(rig.now, "gw"), Ok(()));
    }
}

#[test]
fn inbound_admission_skips_the_health_check() {
    let mut rig = Rig::new();
    let mut g = gateway("gw");
    g.register = None;
    g.ping_interval = Some(Duration::from_secs(10));
    g.max_calls = Some(1);
    rig.set(vec![g]);
    // Two unanswered pings: Down.
    rig.advance_secs(70);
    assert_eq!(rig.trunks.status(rig.now)[0].ping, trunks::PingState::Down);
    assert_eq!(rig.trunks.acquire(rig.now, "gw"), Err(Refused::Down));
    assert_eq!(Refused::Down.as_str(), "gateway_down");
    assert_eq!(rig.trunks.acquire_inbound(rig.now, "gw"), Ok(()));
    assert_eq!(rig.trunks.acquire_inbound(rig.now, "gw"), Err(Refused::MaxCalls), "limits still apply");
}
