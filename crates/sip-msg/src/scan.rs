//! Low-level scanning helpers shared by the typed header parsers.
//!
//! Every function here works on `&str` slices of the message head and never
//! allocates. Linear whitespace (LWS, RFC 3261 §25.1) includes folded line
//! ends: a header value keeps its raw folding and these helpers treat CR and
//! LF as whitespace.

/// Is `b` linear whitespace (SP, HT, or part of a folded CRLF)?
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trim LWS on both sides.
#[inline]
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_lws(c as u8))
}

/// RFC 3261 §25.1 `token` characters.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Is the whole string a non-empty token?
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Split `s` at top-level occurrences of `sep`, ignoring separators inside
/// quoted strings (with quoted-pairs) and inside `<...>`. Pieces are trimmed.
pub(crate) fn split_top(s: &str, sep: u8) -> SplitTop<'_> {
    SplitTop { s, pos: 0, sep, done: false }
}

/// Iterator returned by [`split_top`].
#[derive(Clone, Debug)]
pub(crate) struct SplitTop<'a> {
    s: &'a str,
    pos: usize,
    sep: u8,
    done: bool,
}

impl<'a> Iterator for SplitTop<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let mut i = start;
        let mut in_quote = false;
        let mut in_angle = false;
        while i < bytes.len() {
            let b = bytes[i];
            if in_quote {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_quote = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_quote = true,
                    b'<' => in_angle = true,
                    b'>' => in_angle = false,
                    _ if b == self.sep && !in_angle => {
                        self.pos = i + 1;
                        return Some(trim(&self.s[start..i]));
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        self.done = true;
        Some(trim(&self.s[start.min(self.s.len())..]))
    }
}

/// Find the first top-level `sep` (outside quotes and angle brackets).
pub(crate) fn find_top(s: &str, sep: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quote {
            match b {
                b'\\' => i += 1,
                b'"' => in_quote = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_quote = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                _ if b == sep && !in_angle => return Some(i),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Parse a quoted string at the start of `s` (after optional LWS). Returns the
/// raw contents between the quotes (quoted-pairs still escaped) and the rest.
pub(crate) fn quoted_prefix(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(|c: char| c.is_ascii() && is_lws(c as u8));
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some((&s[1..i], &s[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

/// Remove quoted-pair escapes from the contents of a quoted string.
pub(crate) fn unescape_quoted(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('\\') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Decode %-escapes (RFC 3986 §2.1). Invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('%') {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = (b[i + 1] as char).to_digit(16);
            let l = (b[i + 2] as char).to_digit(16);
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => std::borrow::Cow::Owned(s),
        Err(e) => std::borrow::Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests;
