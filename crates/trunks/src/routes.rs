//! The route table: where a dialled number goes.
//!
//! Each [`Route`] matches the destination (and optionally the caller)
//! number by prefix or regular expression, restricts who may use it
//! ([`Source`]), rewrites the number, and names an [`Action`]: an
//! extension, an ordered list of gateways to try (moving on when
//! [`crate::fails_over`] says so), a queue, or a rejection. Routes are
//! tried by ascending priority, ties broken by name, and the first match
//! wins, so the outcome never depends on the order the store returned
//! them in.
//!
//! Pure functions over data: no state, no clock.
//!
//! ```
//! use trunks::routes::{route, Action, Matcher, Origin, Route, Source};
//! let table = vec![Route {
//!     name: "national".into(),
//!     priority: 10,
//!     destination: Matcher::regex(r"^9(0\d+)$").unwrap(),
//!     caller: None,
//!     source: Source::Extension,
//!     action: Action::Gateways(vec!["carrier-a".into(), "carrier-b".into()]),
//!     strip: 0,
//!     prefix: "+33".into(),
//!     caller_id: None,
//!     media_bypass: None,
//!     record: false,
//! }];
//! let d = route(&table, "90142", "1000", Origin::Extension("1000")).unwrap();
//! assert_eq!(d.number, "+330142");
//! assert!(route(&table, "90142", "x", Origin::Gateway("carrier-a")).is_none());
//! ```

use regex::{Regex, RegexBuilder};
use std::fmt;

/// How a number is matched.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// The number starts with this text; `""` matches every number.
    Prefix(String),
    /// The regular expression finds a match in the number (anchor it with
    /// `^…$` to match the whole number). When it has a capture group 1 that
    /// took part in the match, that capture becomes the number the route
    /// sends on (before the prefix; `strip` is then not applied).
    Regex(Regex),
}

/// Bound on a compiled pattern, so a hostile or careless route cannot
/// take unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Matcher {
    /// A prefix matcher.
    pub fn prefix(s: &str) -> Matcher {
        Matcher::Prefix(s.to_owned())
    }

    /// A regular-expression matcher; the error says what is wrong with the
    /// pattern (to show to whoever wrote it).
    pub fn regex(s: &str) -> Result<Matcher, String> {
        RegexBuilder::new(s).size_limit(REGEX_SIZE_LIMIT).build().map(Matcher::Regex).map_err(|e| e.to_string())
    }

    /// Does `number` match?
    pub fn matches(&self, number: &str) -> bool {
        match self {
            Matcher::Prefix(p) => number.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(number),
        }
    }

    /// Match and return capture group 1 if the pattern has one that took
    /// part. `None` if no match; `Some(None)` for a match without a capture.
    fn capture<'n>(&self, number: &'n str) -> Option<Option<&'n str>> {
        match self {
            Matcher::Prefix(p) => number.starts_with(p.as_str()).then_some(None),
            Matcher::Regex(r) => {
                let caps = r.captures(number)?;
                Some(caps.get(1).map(|m| m.as_str()))
            }
        }
    }

    /// The prefix or pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            Matcher::Prefix(p) => p,
            Matcher::Regex(r) => r.as_str(),
        }
    }
}

impl PartialEq for Matcher {
    /// Same kind and same text.
    fn eq(&self, other: &Matcher) -> bool {
        match (self, other) {
            (Matcher::Prefix(a), Matcher::Prefix(b)) => a == b,
            (Matcher::Regex(a), Matcher::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Prefix(p) => write!(f, "prefix {p:?}"),
            Matcher::Regex(r) => write!(f, "regex {:?}", r.as_str()),
        }
    }
}

/// Who may use a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Anyone: extensions and calls arriving from gateways.
    Any,
    /// Only authenticated extensions (outbound dialling).
    Extension,
    /// Only calls arriving from a gateway; from the named one if given
    /// (inbound DIDs per carrier).
    Gateway(Option<String>),
}

impl Source {
    /// May a call from `origin` use the route?
    pub fn admits(&self, origin: Origin<'_>) -> bool {
        match (self, origin) {
            (Source::Any, _) => true,
            (Source::Extension, Origin::Extension(_)) => true,
            (Source::Gateway(None), Origin::Gateway(_)) => true,
            (Source::Gateway(Some(want)), Origin::Gateway(g)) => want == g,
            _ => false,
        }
    }
}

/// Where a call being routed comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin<'a> {
    /// An authenticated extension (its number).
    Extension(&'a str),
    /// A gateway recognised by its source address (its name).
    Gateway(&'a str),
}

/// What to do with a matched call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring an extension (the rewritten number is the dialled one).
    Extension(String),
    /// Try these gateways in order; move on when [`crate::fails_over`].
    Gateways(Vec<String>),
    /// Put the call in a queue.
    Queue(String),
    /// Send the call to an IVR menu.
    Ivr(String),
    /// Refuse with this status and reason phrase.
    Reject {
        /// SIP status code (403, 404, 486, 603 ...).
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// One route.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Unique name (breaks priority ties; reported in the decision).
    pub name: String,
    /// Lower is tried first.
    pub priority: i32,
    /// Matched against the dialled number.
    pub destination: Matcher,
    /// Matched against the caller number, when set.
    pub caller: Option<Matcher>,
    /// Who may use it.
    pub source: Source,
    /// What to do.
    pub action: Action,
    /// Leading characters removed from the destination (unless a regex
    /// capture gives the number).
    pub strip: usize,
    /// Prepended to the number.
    pub prefix: String,
    /// Caller number to present instead of the caller's.
    pub caller_id: Option<String>,
    /// Media bypassed (`Some(true)`), relayed (`Some(false)`), or as
    /// configured (`None`).
    pub media_bypass: Option<bool>,
    /// Record the calls it routes.
    pub record: bool,
}

impl Route {
    /// The number this route sends on for `destination`, if it matches.
    fn rewrite(&self, destination: &str) -> Option<String> {
        let base: String = match self.destination.capture(destination)? {
            Some(cap) => cap.to_owned(),
            None => destination.chars().skip(self.strip).collect(),
        };
        Some(format!("{}{base}", self.prefix))
    }
}

/// The outcome of routing one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Name of the route that matched.
    pub route: String,
    /// What to do.
    pub action: Action,
    /// The destination after rewriting: capture group 1 of a regex route
    /// if it has one, else the destination minus `strip` leading
    /// characters; then `prefix` in front.
    pub number: String,
    /// Caller number to present, if the route sets one.
    pub caller_id: Option<String>,
    /// The route's media choice (see [`Route::media_bypass`]).
    pub media_bypass: Option<bool>,
    /// Record the call (see [`Route::record`]).
    pub record: bool,
}

/// Route a call: the first route, by ascending priority then name, whose
/// source admits `origin`, whose destination matcher matches `destination`
/// and whose caller matcher (if any) matches `caller`. `None`: no route.
pub fn route(table: &[Route], destination: &str, caller: &str, origin: Origin<'_>) -> Option<Decision> {
    let mut order: Vec<&Route> = table.iter().collect();
    order.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.name.cmp(&b.name)));
    order.into_iter().find_map(|r| {
        if !r.source.admits(origin) || !r.caller.as_ref().is_none_or(|m| m.matches(caller)) {
            return None;
        }
        let number = r.rewrite(destination)?;
        Some(Decision { route: r.name.clone(), action: r.action.clone(), number, caller_id: r.caller_id.clone(), media_bypass: r.media_bypass, record: r.record })
    })
}
