use super::*;

#[test]
fn backoff_doubles_from_two_seconds_and_caps_at_300() {
    let secs: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(secs, vec![2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]);
    assert_eq!(backoff(u32::MAX).as_secs(), 300);
}

#[test]
fn refresh_margin() {
    let base = testkit::sim::SimNet::new(0).now();
    let at = |e: u32| refresh_at(base, base, e).duration_since(base).as_millis();
    assert_eq!(at(3600), 3_060_000, "85 %");
    assert_eq!(at(20), 15_000, "5 s before expiry beats 85 %");
    assert_eq!(at(4), 1_000, "never less than 1 s ahead");
    assert_eq!(at(0), 1_000);
    // Measured from the request; but never in the past of `now`.
    let later = base + Duration::from_secs(100);
    assert_eq!(refresh_at(base, later, 60).duration_since(base).as_secs(), 101);
}

#[test]
fn user_parts_are_escaped() {
    assert_eq!(escape_user("alice+1"), "alice+1");
    assert_eq!(escape_user("a b@c"), "a%20b%40c");
}

#[test]
fn deltas() {
    assert_eq!(parse_delta("60"), Some(60));
    assert_eq!(parse_delta("99999999999999999999"), Some(u32::MAX));
    assert_eq!(parse_delta("-1"), None);
    assert_eq!(parse_delta(""), None);
}
