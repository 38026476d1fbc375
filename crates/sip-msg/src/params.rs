//! Generic parameters (`;name[=value]`), as found after URIs, name-addrs,
//! Via and most other headers. Kept as text and scanned on demand.

use crate::scan::{split_top, trim};

/// A parameter list, as written, starting at its first `;` (or empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Params<'a>(&'a str);

impl<'a> Params<'a> {
    /// No parameters.
    pub const EMPTY: Params<'static> = Params("");

    /// Wrap text that starts with `;` (leading LWS allowed) or is empty.
    pub fn new(raw: &'a str) -> Params<'a> {
        Params(raw)
    }

    /// The text as written.
    pub fn as_str(&self) -> &'a str {
        self.0
    }

    /// Iterate `(name, value)`; a flag parameter has no value. Quoted values
    /// are returned with their quotes.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + 'a {
        let s = trim(self.0);
        let s = s.strip_prefix(';').unwrap_or(s);
        let empty = s.is_empty();
        split_top(s, b';').filter(move |_| !empty).map(|p| match p.find('=') {
            Some(i) => (trim(&p[..i]), Some(trim(&p[i + 1..]))),
            None => (p, None),
        })
    }

    /// Look a parameter up by name, ignoring case. `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Look a parameter up and strip quotes from its value.
    pub fn get_unquoted(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten().map(|v| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v))
    }

    /// Is the parameter present (with or without a value)?
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Both lists hold the same parameters (order and case of names ignored).
    pub fn equivalent_all(&self, other: &Params<'_>) -> bool {
        let count = |p: &Params<'_>| p.iter().count();
        let same = |v: Option<&str>, w: Option<&str>| match (v, w) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        let covered = |a: &Params<'_>, b: &Params<'_>| a.iter().all(|(n, v)| b.iter().any(|(m, w)| m.eq_ignore_ascii_case(n) && same(v, w)));
        count(self) == count(other) && covered(self, other) && covered(other, self)
    }

    /// Check every parameter is `token [= (token / host / quoted-string)]`.
    pub(crate) fn well_formed(&self) -> bool {
        self.iter().all(|(n, v)| {
            crate::scan::is_token(n)
                && match v {
                    None => true,
                    Some(v) if v.starts_with('"') => v.len() >= 2 && v.ends_with('"'),
                    Some(v) => {
                        !v.is_empty()
                            && v.bytes().all(|b| {
                                crate::scan::is_token_char(b) || matches!(b, b'[' | b']' | b':')
                            })
                    }
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn lookups() {
        let p = Params::new(";branch=z9hG4bK1 ; RPORT ;received=10.0.0.1;x=\"a;b\"");
        assert_eq!(p.get("branch"), Some(Some("z9hG4bK1")));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.get("Received"), Some(Some("10.0.0.1")));
        assert_eq!(p.get("x"), Some(Some("\"a;b\"")));
        assert_eq!(p.get_unquoted("x"), Some("a;b"));
        assert_eq!(p.get("nope"), None);
        assert_eq!(Params::EMPTY.iter().count(), 0);
        assert!(p.well_formed());
        assert!(!Params::new(";a=b c").well_formed());
    }
}
