//! The session description: one owned text buffer plus line spans.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use crate::fields::{
    parse_ptime, Attribute, Bandwidth, Connection, Direction, Fmtp, Line, MediaLine, Origin, Rtcp,
    RtpMap, Timing,
};
use crate::media::{Media, MediaMut};
use crate::Error;

/// Largest input [`Session::parse`] accepts, in bytes. SDP rides in one SIP
/// message, so this is the UDP datagram limit; it bounds all later work.
/// Edits may grow a description past it; such a description still prints
/// but no longer parses back.
pub const MAX_INPUT_LEN: usize = 65_536;

/// Most media sections a description may have.
pub const MAX_MEDIA: usize = 64;

/// Most formats one `m=` line may list (RTP has 128 payload types).
pub const MAX_FORMATS: usize = 128;

/// Byte range of one line in [`Session::text`], without its CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// An SDP session description (RFC 8866), kept losslessly.
///
/// The description is one `String` holding exactly the printed form (every
/// line CRLF-terminated) and a list of line spans into it; media sections are
/// index ranges of that list. Nothing else is stored: typed values
/// ([`Origin`], [`Connection`], [`RtpMap`], ...) are decoded from the text on
/// demand and borrow from it. [`Session::parse`] validates every line whose
/// grammar this crate types, so those decoders cannot fail on a parsed
/// description, and every mutation writes only valid lines.
///
/// Two descriptions are equal when their texts are equal.
#[derive(Clone, PartialEq, Eq)]
pub struct Session {
    text: String,
    lines: Vec<Span>,
    /// For each media section, the index in `lines` of its `m=` line.
    media: Vec<usize>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("text", &self.text).finish()
    }
}

impl fmt::Display for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Session {
    type Err = Error;
    fn from_str(s: &str) -> Result<Session, Error> {
        Session::parse(s)
    }
}

impl Session {
    // ---- parse / print ---------------------------------------------------

    /// Parses a description. Lines may end in CRLF or a bare LF; blank lines
    /// are skipped; a missing final line ending is tolerated. The result
    /// prints every line with CRLF, so for CRLF input without blank lines
    /// `parse(x)?.as_str() == x`.
    ///
    /// Work and memory are linear in the input, which is capped at
    /// [`MAX_INPUT_LEN`] bytes.
    pub fn parse(input: &str) -> Result<Session, Error> {
        if input.len() > MAX_INPUT_LEN {
            return Err(Error::TooLarge {
                len: input.len(),
                max: MAX_INPUT_LEN,
            });
        }
        let mut text = String::with_capacity(input.len() + 2);
        let mut lines = Vec::with_capacity(input.len() / 16 + 1);
        let mut media = Vec::new();
        let mut rest = input;
        let mut number = 0;
        while !rest.is_empty() {
            number += 1;
            let (raw, next) = match rest.find('\n') {
                Some(i) => rest.split_at(i + 1),
                None => (rest, ""),
            };
            rest = next;
            let content = raw.strip_suffix('\n').unwrap_or(raw);
            let content = content.strip_suffix('\r').unwrap_or(content);
            if content.is_empty() {
                continue;
            }
            let is_media = check_line(content, number, lines.is_empty())?;
            if is_media {
                if media.len() >= MAX_MEDIA {
                    return Err(Error::TooManyMedia {
                        line: number,
                        max: MAX_MEDIA,
                    });
                }
                media.push(lines.len());
            }
            let start = text.len();
            text.push_str(content);
            lines.push(Span {
                start,
                end: text.len(),
            });
            text.push_str("\r\n");
        }
        if lines.is_empty() {
            return Err(Error::MissingVersion { line: 1 });
        }
        Ok(Session { text, lines, media })
    }

    /// Parses a description from bytes (a SIP body); see [`Session::parse`].
    pub fn parse_bytes(input: &[u8]) -> Result<Session, Error> {
        if input.len() > MAX_INPUT_LEN {
            return Err(Error::TooLarge {
                len: input.len(),
                max: MAX_INPUT_LEN,
            });
        }
        match std::str::from_utf8(input) {
            Ok(s) => Session::parse(s),
            Err(e) => {
                let bad = input.get(..e.valid_up_to()).unwrap_or_default();
                let line = 1 + bad.iter().filter(|&&b| b == b'\n').count();
                Err(Error::InvalidUtf8 { line })
            }
        }
    }

    /// The printed description: every line CRLF-terminated. No allocation.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The printed description as bytes, ready to be a SIP body.
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// Consumes the description, returning its printed form.
    pub fn into_string(self) -> String {
        self.text
    }

    // ---- lines -----------------------------------------------------------

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Every line, session level and media sections, in order.
    pub fn lines(&self) -> impl Iterator<Item = Line<'_>> + '_ {
        self.whole().lines()
    }

    pub(crate) fn line_at(&self, i: usize) -> Option<Line<'_>> {
        let sp = self.lines.get(i)?;
        let s = self.text.get(sp.start..sp.end)?;
        Some(Line {
            number: i + 1,
            kind: char::from(*s.as_bytes().first()?),
            value: s.get(2..)?,
        })
    }

    /// Line range of the session level (`None`) or of media section `k`.
    /// `None` for a media index out of range.
    pub(crate) fn range(&self, media: Option<usize>) -> Option<(usize, usize)> {
        match media {
            None => Some((0, self.media.first().copied().unwrap_or(self.lines.len()))),
            Some(k) => {
                let start = *self.media.get(k)?;
                let end = self.media.get(k + 1).copied().unwrap_or(self.lines.len());
                Some((start, end))
            }
        }
    }

    /// The whole description.
    pub(crate) fn whole(&self) -> Section<'_> {
        Section {
            session: self,
            start: 0,
            end: self.lines.len(),
        }
    }

    pub(crate) fn session_section(&self) -> Section<'_> {
        let (start, end) = self.range(None).unwrap_or((0, 0));
        Section {
            session: self,
            start,
            end,
        }
    }

    pub(crate) fn media_section(&self, k: usize) -> Option<Section<'_>> {
        let (start, end) = self.range(Some(k))?;
        Some(Section {
            session: self,
            start,
            end,
        })
    }

    // ---- session-level typed access ----------------------------------------

    /// The `o=` line.
    pub fn origin(&self) -> Option<Origin<'_>> {
        self.session_section().first('o').and_then(Origin::parse)
    }

    /// The `s=` session name.
    pub fn session_name(&self) -> Option<&str> {
        self.session_section().first('s')
    }

    /// The session-level `i=` information.
    pub fn information(&self) -> Option<&str> {
        self.session_section().first('i')
    }

    /// The `u=` URI.
    pub fn uri(&self) -> Option<&str> {
        self.session_section().first('u')
    }

    /// The `e=` email addresses.
    pub fn emails(&self) -> impl Iterator<Item = &str> + '_ {
        self.session_section().values('e')
    }

    /// The `p=` phone numbers.
    pub fn phones(&self) -> impl Iterator<Item = &str> + '_ {
        self.session_section().values('p')
    }

    /// The session-level `c=` line.
    pub fn connection(&self) -> Option<Connection<'_>> {
        self.session_section().connection()
    }

    /// The session-level `b=` lines.
    pub fn bandwidths(&self) -> impl Iterator<Item = Bandwidth<'_>> + '_ {
        self.session_section().bandwidths()
    }

    /// The first `t=` line.
    pub fn timing(&self) -> Option<Timing> {
        self.session_section().first('t').and_then(Timing::parse)
    }

    /// The `r=` repeat times, verbatim.
    pub fn repeats(&self) -> impl Iterator<Item = &str> + '_ {
        self.session_section().values('r')
    }

    /// The `z=` time zone adjustments, verbatim.
    pub fn time_zones(&self) -> Option<&str> {
        self.session_section().first('z')
    }

    /// The session-level `k=` key line (obsolete), verbatim.
    pub fn key(&self) -> Option<&str> {
        self.session_section().first('k')
    }

    /// The session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> + '_ {
        self.session_section().attributes()
    }

    /// The first session-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.session_section().attribute(name)
    }

    /// The session-level direction attribute, if any; it is the default for
    /// every media section that has none (RFC 8866 §6.7).
    pub fn direction(&self) -> Option<Direction> {
        self.session_section().direction()
    }

    // ---- media -------------------------------------------------------------

    /// Number of media sections.
    pub fn media_count(&self) -> usize {
        self.media.len()
    }

    /// The media sections, in order.
    pub fn media(&self) -> impl Iterator<Item = Media<'_>> + '_ {
        (0..self.media.len()).filter_map(move |k| self.media_at(k))
    }

    /// Media section `index` (0-based).
    pub fn media_at(&self, index: usize) -> Option<Media<'_>> {
        Media::new(self, index)
    }

    /// Mutable access to media section `index` (0-based).
    pub fn media_mut(&mut self, index: usize) -> Option<MediaMut<'_>> {
        if index < self.media.len() {
            Some(MediaMut::new(self, index))
        } else {
            None
        }
    }

    // ---- session-level mutation --------------------------------------------

    /// Sets the session-level `c=` to `IN IP4|IP6 <ip>`, replacing any
    /// present (TTL and count are dropped) or inserting one after the
    /// `o s i u e p` lines. Media-level `c=` lines are left alone; see
    /// [`Session::set_all_connection_addresses`].
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        self.set_connection_in(None, ip);
    }

    /// Sets the session-level `c=` and rewrites every media-level `c=` and
    /// every `a=rtcp` address to `ip`: what a media-anchoring B2BUA does to
    /// an SDP it forwards.
    pub fn set_all_connection_addresses(&mut self, ip: IpAddr) {
        let c = format!("c=IN {} {}", addr_type(ip), ip);
        let whole = (0, self.lines.len());
        self.edit_lines(whole, |l| match l.kind {
            'c' => LineEdit::Replace(c.clone()),
            'a' => {
                let a = Attribute::split(l.number, l.value);
                match a.value.and_then(Rtcp::parse) {
                    Some(r) if a.name == "rtcp" && r.address.is_some() => {
                        LineEdit::Replace(format!("a=rtcp:{} IN {} {}", r.port, addr_type(ip), ip))
                    }
                    _ => LineEdit::Keep,
                }
            }
            _ => LineEdit::Keep,
        });
        if self.connection().is_none() {
            self.set_connection_in(None, ip);
        }
    }

    /// Sets the session-level direction: replaces the first direction
    /// attribute at session level, removes any other, or appends one at the
    /// end of the session level. Media-level directions still override it.
    pub fn set_direction(&mut self, direction: Direction) {
        self.set_direction_in(None, direction);
    }

    /// Increments the `o=` session version by one (RFC 3264 §8: a changed
    /// description in the same session must carry a higher version). The
    /// version is a decimal string of any length, so this cannot overflow.
    pub fn bump_origin_version(&mut self) -> Result<(), Error> {
        let (start, end) = self.range(None).unwrap_or((0, 0));
        let found = (start..end).find_map(|i| {
            let l = self.line_at(i)?;
            if l.kind != 'o' {
                return None;
            }
            let o = Origin::parse(l.value)?;
            let version = increment_decimal(o.session_version);
            let new = format!(
                "o={} {} {} {} {} {}",
                o.username, o.session_id, version, o.net_type, o.addr_type, o.address
            );
            Some((i, new))
        });
        let (i, new) = found.ok_or(Error::MissingField { field: 'o' })?;
        self.replace_line(i, &new);
        Ok(())
    }

    /// Appends a session-level attribute `a=<name>` or `a=<name>:<value>`
    /// (before the first `m=`). Fails with [`Error::InvalidValue`] when the
    /// line would not parse back (line breaks, NUL, empty name, a malformed
    /// value for a typed attribute such as `rtpmap`).
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), Error> {
        self.add_attribute_in(None, name, value)
    }

    /// Removes every session-level attribute called `name`; returns how many.
    pub fn remove_attributes(&mut self, name: &str) -> usize {
        self.remove_attributes_in(None, name)
    }

    // ---- mutation primitives (shared with MediaMut) --------------------------

    pub(crate) fn set_connection_in(&mut self, media: Option<usize>, ip: IpAddr) {
        let Some((start, end)) = self.range(media) else {
            return;
        };
        let new = format!("c=IN {} {}", addr_type(ip), ip);
        let replaced = self.edit_lines((start, end), |l| {
            if l.kind == 'c' {
                LineEdit::Replace(new.clone())
            } else {
                LineEdit::Keep
            }
        });
        if replaced == 0 {
            // RFC 8866 §5 order: v o s i u e p c ... and m i c ...
            let before: &[char] = match media {
                None => &['v', 'o', 's', 'i', 'u', 'e', 'p'],
                Some(_) => &['m', 'i'],
            };
            let at = (start..end)
                .filter(|&i| self.line_at(i).is_some_and(|l| before.contains(&l.kind)))
                .max()
                .map_or(start, |i| i + 1);
            self.insert_line(at, &new);
        }
    }

    pub(crate) fn set_direction_in(&mut self, media: Option<usize>, direction: Direction) {
        let Some((start, end)) = self.range(media) else {
            return;
        };
        let new = format!("a={}", direction.as_str());
        let mut first = true;
        let changed = self.edit_lines((start, end), |l| {
            if l.kind != 'a' || Direction::from_name(l.value).is_none() {
                LineEdit::Keep
            } else if first {
                first = false;
                LineEdit::Replace(new.clone())
            } else {
                LineEdit::Remove
            }
        });
        if changed == 0 {
            self.insert_line(end, &new);
        }
    }

    pub(crate) fn add_attribute_in(
        &mut self,
        media: Option<usize>,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), Error> {
        let (_, end) = self.range(media).ok_or(Error::NoSuchMedia {
            index: media.unwrap_or(0),
            count: self.media.len(),
        })?;
        let mut new = String::with_capacity(3 + name.len() + value.map_or(0, str::len));
        new.push_str("a=");
        new.push_str(name);
        if let Some(v) = value {
            new.push(':');
            new.push_str(v);
        }
        let bad = name.is_empty()
            || name.contains([':', ' '])
            || new.contains(['\r', '\n'])
            || check_line(&new, 1, false).is_err();
        if bad {
            return Err(Error::InvalidValue { what: "attribute" });
        }
        self.insert_line(end, &new);
        Ok(())
    }

    pub(crate) fn remove_attributes_in(&mut self, media: Option<usize>, name: &str) -> usize {
        let Some(range) = self.range(media) else {
            return 0;
        };
        self.edit_lines(range, |l| {
            if l.kind == 'a' && Attribute::split(l.number, l.value).name == name {
                LineEdit::Remove
            } else {
                LineEdit::Keep
            }
        })
    }

    /// Rewrites the lines in `range` in one pass over the text: `f` says for
    /// each line whether to keep, replace (full `x=value`, no CRLF) or remove
    /// it. `m=` lines may be replaced but never removed. Returns how many
    /// lines were replaced or removed. O(length of the description), so
    /// edits stay linear however many lines they touch.
    pub(crate) fn edit_lines(
        &mut self,
        range: (usize, usize),
        mut f: impl FnMut(Line<'_>) -> LineEdit,
    ) -> usize {
        let edits: Vec<(usize, LineEdit)> = (range.0..range.1)
            .filter_map(|i| {
                let l = self.line_at(i)?;
                match f(l) {
                    LineEdit::Keep => None,
                    LineEdit::Remove if l.kind == 'm' => None,
                    e => Some((i, e)),
                }
            })
            .collect();
        if edits.is_empty() {
            return 0;
        }
        let mut text = String::with_capacity(self.text.len() + 64);
        let mut lines = Vec::with_capacity(self.lines.len());
        let mut media = Vec::with_capacity(self.media.len());
        let mut next_media = self.media.iter().copied().peekable();
        let mut pending = edits.iter().peekable();
        for (i, sp) in self.lines.iter().enumerate() {
            let edit = pending.next_if(|(j, _)| *j == i).map(|(_, e)| e);
            let content = match edit {
                Some(LineEdit::Remove) => {
                    // Never an m= line (filtered above).
                    continue;
                }
                Some(LineEdit::Replace(new)) => new.as_str(),
                _ => self.text.get(sp.start..sp.end).unwrap_or(""),
            };
            if next_media.next_if_eq(&i).is_some() {
                media.push(lines.len());
            }
            let start = text.len();
            text.push_str(content);
            lines.push(Span {
                start,
                end: text.len(),
            });
            text.push_str("\r\n");
        }
        self.text = text;
        self.lines = lines;
        self.media = media;
        edits.len()
    }

    /// Replaces line `i` (full `x=value`, no CRLF) and shifts later spans.
    pub(crate) fn replace_line(&mut self, i: usize, new: &str) {
        let Some(sp) = self.lines.get(i).copied() else {
            return;
        };
        self.text.replace_range(sp.start..sp.end, new);
        if let Some(s) = self.lines.get_mut(i) {
            s.end = sp.start + new.len();
        }
        let (grow, shrink) = (new.len(), sp.end - sp.start);
        for s in self.lines.iter_mut().skip(i + 1) {
            s.start = s.start + grow - shrink;
            s.end = s.end + grow - shrink;
        }
    }

    /// Inserts a non-`m=` line before line `i` (or at the end for
    /// `i == line_count()`); it belongs to the section that ends there.
    pub(crate) fn insert_line(&mut self, i: usize, new: &str) {
        let i = i.min(self.lines.len());
        let at = self.lines.get(i).map_or(self.text.len(), |s| s.start);
        self.text.insert_str(at, "\r\n");
        self.text.insert_str(at, new);
        let added = new.len() + 2;
        for s in self.lines.iter_mut().skip(i) {
            s.start += added;
            s.end += added;
        }
        self.lines.insert(
            i,
            Span {
                start: at,
                end: at + new.len(),
            },
        );
        for m in &mut self.media {
            if *m >= i {
                *m += 1;
            }
        }
    }

    /// Builds a description line by line; used by offer/answer, whose
    /// inputs are already valid.
    pub(crate) fn builder() -> Builder {
        Builder {
            session: Session {
                text: String::with_capacity(512),
                lines: Vec::with_capacity(24),
                media: Vec::new(),
            },
        }
    }
}

/// What [`Session::edit_lines`] does to one line.
pub(crate) enum LineEdit {
    Keep,
    Replace(String),
    Remove,
}

/// Appends lines to a new [`Session`]. The caller guarantees each line is
/// valid (its parts come from a parsed description or were checked).
pub(crate) struct Builder {
    session: Session,
}

impl Builder {
    pub(crate) fn line(&mut self, kind: char, value: fmt::Arguments<'_>) {
        let s = &mut self.session;
        if kind == 'm' {
            s.media.push(s.lines.len());
        }
        let start = s.text.len();
        s.text.push(kind);
        s.text.push('=');
        // Writing into a String cannot fail.
        let _ = s.text.write_fmt(value);
        s.lines.push(Span {
            start,
            end: s.text.len(),
        });
        s.text.push_str("\r\n");
    }

    /// Appends ` <item>` for each item to the last line (the format list of
    /// an `m=` line just written).
    pub(crate) fn extend_last<T: fmt::Display>(&mut self, items: impl Iterator<Item = T>) {
        let s = &mut self.session;
        let Some(last) = s.lines.last_mut() else {
            return;
        };
        s.text.truncate(last.end);
        for item in items {
            let _ = write!(s.text, " {item}");
        }
        last.end = s.text.len();
        s.text.push_str("\r\n");
    }

    pub(crate) fn finish(self) -> Session {
        self.session
    }
}

/// A run of lines of one description: the session level, a media section, or
/// the whole thing. Shared plumbing of the typed accessors.
#[derive(Clone, Copy)]
pub(crate) struct Section<'a> {
    pub(crate) session: &'a Session,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl<'a> Section<'a> {
    pub(crate) fn lines(self) -> impl Iterator<Item = Line<'a>> + 'a {
        let s = self.session;
        (self.start..self.end).filter_map(move |i| s.line_at(i))
    }

    pub(crate) fn values(self, kind: char) -> impl Iterator<Item = &'a str> + 'a {
        self.lines()
            .filter(move |l| l.kind == kind)
            .map(|l| l.value)
    }

    pub(crate) fn first(self, kind: char) -> Option<&'a str> {
        self.values(kind).next()
    }

    pub(crate) fn connection(self) -> Option<Connection<'a>> {
        self.first('c').and_then(Connection::parse)
    }

    pub(crate) fn bandwidths(self) -> impl Iterator<Item = Bandwidth<'a>> + 'a {
        self.values('b').filter_map(Bandwidth::parse)
    }

    pub(crate) fn attributes(self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        self.lines()
            .filter(|l| l.kind == 'a')
            .map(|l| Attribute::split(l.number, l.value))
    }

    pub(crate) fn attribute(self, name: &str) -> Option<Attribute<'a>> {
        self.attributes().find(|a| a.name == name)
    }

    pub(crate) fn attribute_values(self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attributes()
            .filter(move |a| a.name == name)
            .filter_map(|a| a.value)
    }

    pub(crate) fn direction(self) -> Option<Direction> {
        self.attributes()
            .filter(|a| a.value.is_none())
            .find_map(|a| Direction::from_name(a.name))
    }

    pub(crate) fn ptime(self, name: &'a str) -> Option<u32> {
        self.attribute_values(name).find_map(parse_ptime)
    }
}

/// Validates one line (no line ending, not empty). Returns whether it is an
/// `m=` line. `first` is true for the description's first line.
pub(crate) fn check_line(line: &str, number: usize, first: bool) -> Result<bool, Error> {
    let b = line.as_bytes();
    if b.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n') {
        return Err(Error::InvalidCharacter { line: number });
    }
    let kind = match (b.first(), b.get(1)) {
        (Some(&k), Some(b'=')) if k.is_ascii_alphabetic() => char::from(k),
        _ => return Err(Error::MalformedLine { line: number }),
    };
    let value = line.get(2..).unwrap_or("");
    if first {
        return match (kind, value) {
            ('v', "0") => Ok(false),
            ('v', _) => Err(Error::UnsupportedVersion { line: number }),
            _ => Err(Error::MissingVersion { line: number }),
        };
    }
    let field = |ok: bool| {
        if ok {
            Ok(kind == 'm')
        } else {
            Err(Error::MalformedField {
                line: number,
                field: kind,
            })
        }
    };
    match kind {
        'v' => Err(Error::Misplaced {
            line: number,
            field: 'v',
        }),
        'o' => field(Origin::parse(value).is_some()),
        'c' => field(Connection::parse(value).is_some()),
        'b' => field(Bandwidth::parse(value).is_some()),
        't' => field(Timing::parse(value).is_some()),
        'm' => {
            let m = MediaLine::parse(value).ok_or(Error::MalformedField {
                line: number,
                field: 'm',
            })?;
            if m.formats().nth(MAX_FORMATS).is_some() {
                return Err(Error::TooManyFormats {
                    line: number,
                    max: MAX_FORMATS,
                });
            }
            Ok(true)
        }
        'a' => check_attribute(value, number).map(|()| false),
        _ => Ok(false),
    }
}

fn check_attribute(value: &str, number: usize) -> Result<(), Error> {
    let a = Attribute::split(number, value);
    let bad = |name: &'static str| Error::MalformedAttribute { line: number, name };
    if a.name.is_empty() {
        return Err(bad(""));
    }
    let v = a.value;
    match a.name {
        "rtpmap" => v.and_then(RtpMap::parse).map(drop).ok_or(bad("rtpmap")),
        "fmtp" => v.and_then(Fmtp::parse).map(drop).ok_or(bad("fmtp")),
        "ptime" => v.and_then(parse_ptime).map(drop).ok_or(bad("ptime")),
        "maxptime" => v.and_then(parse_ptime).map(drop).ok_or(bad("maxptime")),
        "rtcp" => v.and_then(Rtcp::parse).map(drop).ok_or(bad("rtcp")),
        _ => Ok(()),
    }
}

pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// Adds one to a string of ASCII digits (`"99"` → `"100"`).
pub(crate) fn increment_decimal(digits: &str) -> String {
    let mut out: Vec<u8> = digits.bytes().collect();
    let mut carry = true;
    for d in out.iter_mut().rev() {
        if !carry {
            break;
        }
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            carry = false;
        }
    }
    if carry {
        out.insert(0, b'1');
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests;
