#![allow(clippy::disallowed_methods)] // an anchor for virtual time
use super::*;

#[test]
fn backoff_doubles_and_caps() {
    let t0 = Instant::now();
    let mut b = Backoff::default();
    b.start(t0, Duration::from_millis(500));
    let mut fired = vec![];
    let mut now = t0;
    while now < t0 + Duration::from_secs(20) {
        now += Duration::from_millis(100);
        if b.fire(now, Some(Duration::from_secs(4))) {
            fired.push((now - t0).as_millis());
        }
    }
    assert_eq!(fired, vec![500, 1500, 3500, 7500, 11500, 15500, 19500]);
    b.stop();
    assert_eq!(b.get(), None);
}

#[test]
fn deadline_fires_once() {
    let t0 = Instant::now();
    let mut d = Deadline::default();
    d.set(t0 + Duration::from_secs(1));
    assert!(!d.fire(t0));
    assert!(d.fire(t0 + Duration::from_secs(1)));
    assert!(!d.fire(t0 + Duration::from_secs(2)));
    assert_eq!(earliest(&[None, Some(t0), Some(t0 + Duration::from_secs(1))]), Some(t0));
}
