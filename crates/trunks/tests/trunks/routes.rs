//! The route table.

use trunks::routes::{route, Action, Decision, Matcher, Origin, Route, Source};

fn r(name: &str, priority: i32, dest: Matcher, action: Action) -> Route {
    Route { name: name.into(), priority, destination: dest, caller: None, source: Source::Any, action, strip: 0, prefix: String::new(), caller_id: None, media_bypass: None, record: false }
}

fn gws(names: &[&str]) -> Action {
    Action::Gateways(names.iter().map(|n| n.to_string()).collect())
}

fn re(s: &str) -> Matcher {
    Matcher::regex(s).expect("regex")
}

const EXT: Origin<'static> = Origin::Extension("1000");

#[test]
fn lowest_priority_first_ties_by_name_whatever_the_table_order() {
    let table = vec![
        r("z-catchall", 100, Matcher::prefix(""), gws(&["default"])),
        r("b-uk", 10, Matcher::prefix("0044"), gws(&["uk2"])),
        r("a-uk", 10, Matcher::prefix("0044"), gws(&["uk1"])),
        r("mobile", 5, Matcher::prefix("00447"), gws(&["mobile"])),
    ];
    let route_of = |n: &str| route(&table, n, "1000", EXT).map(|d| d.route);
    assert_eq!(route_of("00447700900123").as_deref(), Some("mobile"));
    assert_eq!(route_of("00442079460000").as_deref(), Some("a-uk"), "tie broken by name");
    assert_eq!(route_of("0033123").as_deref(), Some("z-catchall"), "empty prefix matches all");
    let mut reversed = table.clone();
    reversed.reverse();
    assert_eq!(route(&reversed, "00442079460000", "1000", EXT).map(|d| d.route).as_deref(), Some("a-uk"));
    assert_eq!(
        route(&table, "00447700900123", "1000", EXT),
        Some(Decision { route: "mobile".into(), action: gws(&["mobile"]), number: "00447700900123".into(), caller_id: None, media_bypass: None, record: false })
    );
}

#[test]
fn prefix_strip_and_regex_capture() {
    let mut strip = r("strip", 1, Matcher::prefix("9"), gws(&["gw"]));
    strip.strip = 1;
    strip.prefix = "+1".into();
    strip.caller_id = Some("+15550100".into());
    let mut capture = r("capture", 0, re(r"^8(\d{4})$"), Action::Extension("ignored".into()));
    capture.strip = 3; // not applied when the capture gives the number
    capture.prefix = "ext-".into();
    let mut no_group = r("no-group", 2, re(r"^7\d+$"), gws(&["gw"]));
    no_group.strip = 1;
    let table = vec![strip, capture, no_group];
    let d = route(&table, "95551234", "1000", EXT).expect("route");
    assert_eq!((d.route.as_str(), d.number.as_str(), d.caller_id.as_deref()), ("strip", "+15551234", Some("+15550100")));
    let d = route(&table, "81234", "1000", EXT).expect("route");
    assert_eq!((d.route.as_str(), d.number.as_str()), ("capture", "ext-1234"));
    // The regex is anchored by the author: 812345 does not match ^8(\d{4})$.
    assert_eq!(route(&table, "812345", "1000", EXT), None);
    let d = route(&table, "7123", "1000", EXT).expect("route");
    assert_eq!((d.route.as_str(), d.number.as_str()), ("no-group", "123"), "no capture group: strip applies");
    // An unanchored regex finds a match anywhere.
    assert!(re("555").matches("15551234"));
    assert!(!Matcher::prefix("555").matches("15551234"));
    // An optional group that did not take part: the whole number, stripped.
    let mut opt = r("opt", 0, re(r"^0(1)?\d+$"), gws(&["gw"]));
    opt.strip = 1;
    assert_eq!(route(&[opt], "0234", "", EXT).map(|d| d.number).as_deref(), Some("234"));
}

#[test]
fn source_and_caller_restrictions() {
    let mut from_carrier = r("did-carrier-a", 1, Matcher::prefix("3120"), Action::Queue("sales".into()));
    from_carrier.source = Source::Gateway(Some("carrier-a".into()));
    let mut any_gateway = r("did-any", 2, Matcher::prefix("3120"), Action::Extension("1000".into()));
    any_gateway.source = Source::Gateway(None);
    let mut ext_only = r("outbound", 3, Matcher::prefix(""), gws(&["carrier-a"]));
    ext_only.source = Source::Extension;
    let mut vip = r("vip", 0, Matcher::prefix(""), gws(&["premium"]));
    vip.source = Source::Extension;
    vip.caller = Some(re("^10[0-4]$"));
    let table = vec![from_carrier, any_gateway, ext_only, vip];

    let d = route(&table, "3120555", "+441", Origin::Gateway("carrier-a")).expect("route");
    assert_eq!((d.route.as_str(), &d.action), ("did-carrier-a", &Action::Queue("sales".into())));
    assert_eq!(route(&table, "3120555", "+441", Origin::Gateway("carrier-b")).map(|d| d.route).as_deref(), Some("did-any"));
    // A carrier cannot use the outbound route (no toll fraud through us).
    assert_eq!(route(&table, "0044123", "+441", Origin::Gateway("carrier-b")), None);
    // Extensions: the VIP route only for callers 100-104.
    assert_eq!(route(&table, "0044123", "103", Origin::Extension("103")).map(|d| d.route).as_deref(), Some("vip"));
    assert_eq!(route(&table, "0044123", "1000", Origin::Extension("1000")).map(|d| d.route).as_deref(), Some("outbound"));
    assert!(Source::Any.admits(Origin::Gateway("x")) && Source::Any.admits(EXT));
    assert!(!Source::Extension.admits(Origin::Gateway("x")));
    assert!(!Source::Gateway(None).admits(EXT));
}

#[test]
fn reject_action_and_no_match() {
    let mut premium = r("no-premium", 0, Matcher::prefix("0900"), Action::Reject { code: 403, reason: "Premium numbers barred".into() });
    premium.source = Source::Extension;
    let table = vec![premium, r("uk", 1, Matcher::prefix("0"), gws(&["gw"]))];
    let d = route(&table, "0900123", "1000", EXT).expect("route");
    assert_eq!(d.action, Action::Reject { code: 403, reason: "Premium numbers barred".into() });
    assert_eq!(route(&table, "123", "1000", EXT), None);
    assert_eq!(route(&[], "123", "1000", EXT), None);
}

#[test]
fn bad_regex_is_an_error_message() {
    let e = Matcher::regex("^(9").expect_err("unbalanced");
    assert!(!e.is_empty());
    assert!(Matcher::regex("a{1000000000}").is_err(), "size-limited");
    assert_eq!(re("^9").as_str(), "^9");
    assert_eq!(re("^9"), re("^9"));
    assert_ne!(re("^9"), Matcher::prefix("^9"));
    assert_eq!(Matcher::prefix("9").to_string(), "prefix \"9\"");
}

#[test]
fn the_decision_carries_the_routes_media_choice() {
    let mut bypass = r("bypass", 1, Matcher::prefix("7"), Action::Extension("1001".into()));
    bypass.media_bypass = Some(true);
    let mut relay = r("relay", 1, Matcher::prefix("8"), Action::Extension("1001".into()));
    relay.media_bypass = Some(false);
    let table = vec![bypass, relay, r("default", 1, Matcher::prefix("9"), Action::Extension("1001".into()))];
    let media = |n: &str| route(&table, n, "1000", EXT).map(|d| d.media_bypass);
    assert_eq!(media("7001"), Some(Some(true)));
    assert_eq!(media("8001"), Some(Some(false)));
    assert_eq!(media("9001"), Some(None), "as configured");
}
