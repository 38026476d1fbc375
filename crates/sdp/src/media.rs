//! Media sections: a borrowed typed view and a mutable handle.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, SocketAddr};

use crate::codec::{static_payload_type, Codec};
use crate::fields::{
    payload_type, socket, Attribute, Bandwidth, Connection, Direction, Fmtp, Line, MediaLine, Rtcp,
    RtpMap,
};
use crate::session::{LineEdit, Section, Session};
use crate::Error;

/// A media section (`m=` line and the lines up to the next `m=`), borrowed
/// from its [`Session`]. Every accessor decodes from the text on demand.
#[derive(Clone, Copy)]
pub struct Media<'a> {
    session: &'a Session,
    index: usize,
    section: Section<'a>,
    line: MediaLine<'a>,
}

impl fmt::Debug for Media<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Media")
            .field("index", &self.index)
            .field("line", &self.line)
            .finish()
    }
}

const EMPTY_LINE: MediaLine<'static> = MediaLine {
    media_type: "",
    port: 0,
    port_count: None,
    proto: "",
    formats: "",
};

impl<'a> Media<'a> {
    pub(crate) fn new(session: &'a Session, index: usize) -> Option<Media<'a>> {
        let section = session.media_section(index)?;
        let m = session.line_at(section.start)?;
        Some(Media {
            session,
            index,
            section,
            line: MediaLine::parse(m.value)?,
        })
    }

    /// Index of this section among the description's media sections.
    pub fn index(&self) -> usize {
        self.index
    }

    /// 1-based line number of the `m=` line.
    pub fn line_number(&self) -> usize {
        self.section.start + 1
    }

    /// The decoded `m=` line.
    pub fn media_line(&self) -> MediaLine<'a> {
        self.line
    }

    /// `audio`, `video`, `image`, ...
    pub fn media_type(&self) -> &'a str {
        self.line.media_type
    }

    /// The transport port; 0 for a rejected or disabled stream.
    pub fn port(&self) -> u16 {
        self.line.port
    }

    /// The optional number of ports (`m=audio 49170/2 ...`).
    pub fn port_count(&self) -> Option<u16> {
        self.line.port_count
    }

    /// The transport protocol (`RTP/AVP`, ...).
    pub fn proto(&self) -> &'a str {
        self.line.proto
    }

    /// True when the port is 0 (RFC 3264 §6: the stream is rejected).
    pub fn is_rejected(&self) -> bool {
        self.line.port == 0
    }

    /// The formats of the `m=` line, in order.
    pub fn formats(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.line.formats()
    }

    /// The formats that are RTP payload types (0..=127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + 'a {
        self.line.formats().filter_map(payload_type)
    }

    /// Every line of the section, the `m=` line first.
    pub fn lines(&self) -> impl Iterator<Item = Line<'a>> + 'a {
        self.section.lines()
    }

    /// The media-level `i=` title.
    pub fn information(&self) -> Option<&'a str> {
        self.section.first('i')
    }

    /// The media-level `c=` line only.
    pub fn connection(&self) -> Option<Connection<'a>> {
        self.section.connection()
    }

    /// The media-level `c=` line, or else the session-level one.
    pub fn effective_connection(&self) -> Option<Connection<'a>> {
        self.connection().or_else(|| self.session.connection())
    }

    /// The media-level `b=` lines.
    pub fn bandwidths(&self) -> impl Iterator<Item = Bandwidth<'a>> + 'a {
        self.section.bandwidths()
    }

    /// The media-level `k=` line (obsolete), verbatim.
    pub fn key(&self) -> Option<&'a str> {
        self.section.first('k')
    }

    /// The media-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'a>> + 'a {
        self.section.attributes()
    }

    /// The first media-level attribute called `name`.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'a>> {
        self.section.attribute(name)
    }

    /// Whether a media-level attribute called `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The `a=rtpmap` attributes, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'a>> + 'a {
        self.section
            .attribute_values("rtpmap")
            .filter_map(RtpMap::parse)
    }

    /// The `a=rtpmap` for payload type `pt`.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap<'a>> {
        self.rtpmaps().find(|r| r.payload_type == pt)
    }

    /// What payload type `pt` stands for: its `a=rtpmap`, or else the static
    /// assignment of RFC 3551 §6 (0 PCMU, 8 PCMA, 9 G722, 18 G729, ...).
    pub fn codec(&self, pt: u8) -> Option<RtpMap<'a>> {
        self.rtpmap(pt).or_else(|| static_payload_type(pt))
    }

    /// What each payload type of the `m=` line stands for, in `m=` order
    /// (see [`Media::codec`]); payload types that are neither mapped nor
    /// static are skipped. One pass over the section, however many formats.
    pub fn codecs(&self) -> impl Iterator<Item = RtpMap<'a>> + 'a {
        let mut table: [Option<RtpMap<'a>>; 128] = [None; 128];
        for r in self.rtpmaps() {
            if let Some(slot @ None) = table.get_mut(usize::from(r.payload_type)) {
                *slot = Some(r);
            }
        }
        self.payload_types().filter_map(move |pt| {
            table
                .get(usize::from(pt))
                .copied()
                .flatten()
                .or_else(|| static_payload_type(pt))
        })
    }

    /// The `a=fmtp` attributes, in order.
    pub fn fmtps(&self) -> impl Iterator<Item = Fmtp<'a>> + 'a {
        self.section
            .attribute_values("fmtp")
            .filter_map(Fmtp::parse)
    }

    /// The format parameters for `format` (a payload type number as text).
    pub fn fmtp(&self, format: &str) -> Option<&'a str> {
        self.fmtps().find(|f| f.format == format).map(|f| f.params)
    }

    /// `a=ptime` in milliseconds: media level, else session level.
    pub fn ptime(&self) -> Option<u32> {
        self.section
            .ptime("ptime")
            .or_else(|| self.session.session_section().ptime("ptime"))
    }

    /// `a=maxptime` in milliseconds: media level, else session level.
    pub fn maxptime(&self) -> Option<u32> {
        self.section
            .ptime("maxptime")
            .or_else(|| self.session.session_section().ptime("maxptime"))
    }

    /// The media-level direction attribute only.
    pub fn explicit_direction(&self) -> Option<Direction> {
        self.section.direction()
    }

    /// The direction in force: media level, else session level, else
    /// sendrecv (RFC 8866 §6.7). A `c=0.0.0.0` hold is not folded in here;
    /// see [`Connection::is_hold`].
    pub fn direction(&self) -> Direction {
        self.explicit_direction()
            .or_else(|| self.session.direction())
            .unwrap_or_default()
    }

    /// The `a=rtcp` attribute (RFC 3605).
    pub fn rtcp(&self) -> Option<Rtcp<'a>> {
        self.section.attribute_values("rtcp").find_map(Rtcp::parse)
    }

    /// Whether `a=rtcp-mux` is present (RFC 5761).
    pub fn rtcp_mux(&self) -> bool {
        self.attributes()
            .any(|a| a.name == "rtcp-mux" && a.value.is_none())
    }

    /// The payload types of the `m=` line mapped to `telephone-event`.
    pub fn telephone_event_payload_types(&self) -> impl Iterator<Item = u8> + 'a {
        self.codecs()
            .filter(RtpMap::is_telephone_event)
            .map(|r| r.payload_type)
    }

    /// Where to send RTP: the effective connection address and the port.
    /// `None` when the address is not an IP literal.
    pub fn rtp_address(&self) -> Option<SocketAddr> {
        let ip = self.effective_connection()?.ip()?;
        Some(socket(ip, self.port()))
    }

    /// Where to send RTCP when it is not multiplexed: the `a=rtcp` port and
    /// address (RFC 3605, the address defaulting to the connection address),
    /// else the RTP port + 1 (RFC 3550 §11).
    pub fn rtcp_address(&self) -> Option<SocketAddr> {
        match self.rtcp() {
            Some(r) => {
                let ip = match r.ip() {
                    Some(ip) => ip,
                    None => self.effective_connection()?.ip()?,
                };
                Some(socket(ip, r.port))
            }
            None => {
                let ip = self.effective_connection()?.ip()?;
                Some(socket(ip, self.port().checked_add(1)?))
            }
        }
    }
}

/// Mutable handle on one media section, from [`Session::media_mut`].
#[derive(Debug)]
pub struct MediaMut<'a> {
    session: &'a mut Session,
    index: usize,
}

impl<'a> MediaMut<'a> {
    pub(crate) fn new(session: &'a mut Session, index: usize) -> MediaMut<'a> {
        MediaMut { session, index }
    }

    /// Index of this section among the description's media sections.
    pub fn index(&self) -> usize {
        self.index
    }

    /// A read-only view of the section as it is now.
    pub fn as_media(&self) -> Media<'_> {
        let session: &Session = self.session;
        Media::new(session, self.index).unwrap_or(Media {
            session,
            index: self.index,
            section: session.whole(),
            line: EMPTY_LINE,
        })
    }

    /// Sets the `m=` line's port (keeps any `/<count>`); 0 rejects the stream.
    pub fn set_port(&mut self, port: u16) {
        let Some(media) = Media::new(self.session, self.index) else {
            return;
        };
        let new = media_line(&media.line, port, media.formats());
        let at = media.section.start;
        self.session.replace_line(at, &new);
    }

    /// Sets the media-level `c=` to `IN IP4|IP6 <ip>`, replacing any present
    /// or inserting one after the `m=` and `i=` lines.
    pub fn set_connection_address(&mut self, ip: IpAddr) {
        self.session.set_connection_in(Some(self.index), ip);
    }

    /// Sets the media-level direction: replaces the first direction
    /// attribute, removes any other, or appends one.
    pub fn set_direction(&mut self, direction: Direction) {
        self.session.set_direction_in(Some(self.index), direction);
    }

    /// Keeps only the formats of the `m=` line that are payload types in
    /// `keep` (in the `m=` line's order; formats that are not payload types
    /// go too), and removes the `a=rtpmap`, `a=fmtp` and `a=rtcp-fb` lines of
    /// the removed ones (`a=rtcp-fb:*` stays). Fails, changing nothing, when
    /// no format would remain.
    pub fn retain_payload_types(&mut self, keep: &[u8]) -> Result<(), Error> {
        let Some(media) = Media::new(self.session, self.index) else {
            return Ok(());
        };
        let m = media.line;
        let kept = |f: &str| payload_type(f).is_some_and(|pt| keep.contains(&pt));
        if !m.formats().any(kept) {
            return Err(Error::NoFormatLeft {
                line: media.line_number(),
            });
        }
        let new = media_line(&m, m.port, m.formats().filter(|f| kept(f)));
        let range = (media.section.start, media.section.end);
        // The borrowed view ends here; decide from owned copies below.
        let removed: Vec<String> = m
            .formats()
            .filter(|f| !kept(f))
            .map(str::to_owned)
            .collect();
        let mut new = Some(new);
        self.session.edit_lines(range, |l| {
            if l.kind == 'm' {
                return new.take().map_or(LineEdit::Keep, LineEdit::Replace);
            }
            if l.kind != 'a' {
                return LineEdit::Keep;
            }
            let a = Attribute::split(l.number, l.value);
            let fmt = a.value.and_then(|v| v.split(' ').next()).unwrap_or("");
            if matches!(a.name, "rtpmap" | "fmtp" | "rtcp-fb") && removed.iter().any(|r| r == fmt) {
                LineEdit::Remove
            } else {
                LineEdit::Keep
            }
        });
        Ok(())
    }

    /// Puts the `m=` line's payload types listed in `first` before the
    /// others, in `first`'s order; the rest keep their order after them.
    /// Only the `m=` line changes (attribute lines are keyed by payload
    /// type, so their order does not matter).
    pub fn reorder_payload_types(&mut self, first: &[u8]) {
        let Some(media) = Media::new(self.session, self.index) else { return };
        let m = media.line;
        let mut formats: Vec<(usize, &str)> = m.formats().enumerate().collect();
        let rank = |i: usize, f: &str| payload_type(f).and_then(|pt| first.iter().position(|p| *p == pt)).unwrap_or(first.len() + i);
        formats.sort_by_key(|(i, f)| rank(*i, f));
        let new = media_line(&m, m.port, formats.into_iter().map(|(_, f)| f));
        let range = (media.section.start, media.section.end);
        let mut new = Some(new);
        self.session.edit_lines(range, |l| if l.kind == 'm' { new.take().map_or(LineEdit::Keep, LineEdit::Replace) } else { LineEdit::Keep });
    }

    /// Appends payload type `pt` to the `m=` line's formats, with its
    /// `a=rtpmap` line for `codec` (and `a=fmtp:<pt> <fmtp>` when given).
    /// Fails, changing nothing, when `pt` is not a payload type number
    /// (0–127), is already listed, or the codec or fmtp cannot be printed.
    pub fn add_payload_type(&mut self, pt: u8, codec: &Codec, fmtp: Option<&str>) -> Result<(), Error> {
        let Some(media) = Media::new(self.session, self.index) else {
            return Err(Error::NoSuchMedia { index: self.index, count: self.session.media().count() });
        };
        let listed = media.payload_types().any(|p| p == pt);
        let printable = |s: &str| !s.is_empty() && !s.contains(['\r', '\n', '\0']);
        if pt > 127 || listed || !printable(&codec.name) || codec.name.contains([' ', '/']) || fmtp.is_some_and(|f| !printable(f)) {
            return Err(Error::InvalidValue { what: "payload type" });
        }
        let mut rtpmap = format!("{pt} {}/{}", codec.name, codec.clock_rate);
        if codec.channels != 1 {
            let _ = write!(rtpmap, "/{}", codec.channels);
        }
        let pts = pt.to_string();
        let new = media_line(&media.line, media.port(), media.formats().chain(std::iter::once(pts.as_str())));
        let at = media.section.start;
        self.session.replace_line(at, &new);
        self.add_attribute("rtpmap", Some(&rtpmap))?;
        if let Some(f) = fmtp {
            self.add_attribute("fmtp", Some(&format!("{pt} {f}")))?;
        }
        Ok(())
    }

    /// Appends a media-level attribute; see [`Session::add_attribute`].
    pub fn add_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), Error> {
        self.session.add_attribute_in(Some(self.index), name, value)
    }

    /// Removes every media-level attribute called `name`; returns how many.
    pub fn remove_attributes(&mut self, name: &str) -> usize {
        self.session.remove_attributes_in(Some(self.index), name)
    }
}

/// Prints an `m=` line with a new port and format list.
fn media_line<'f>(m: &MediaLine<'_>, port: u16, formats: impl Iterator<Item = &'f str>) -> String {
    let mut s = String::with_capacity(16 + m.media_type.len() + m.proto.len() + m.formats.len());
    let _ = write!(s, "m={} {}", m.media_type, port);
    if let Some(n) = m.port_count {
        let _ = write!(s, "/{n}");
    }
    let _ = write!(s, " {}", m.proto);
    for f in formats {
        s.push(' ');
        s.push_str(f);
    }
    s
}

#[cfg(test)]
mod tests;
