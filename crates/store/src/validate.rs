//! Input validation. Every check names the field it rejects, as the admin
//! API reports it (422 with the field).

use crate::StoreError;

/// The longest extension number (and AOR user part) accepted.
pub const MAX_NUMBER_LEN: usize = 32;

/// Longest free text (display names, caller ID).
const MAX_TEXT_LEN: usize = 256;
/// Most codecs in a preference list, and the longest codec name.
const MAX_CODECS: usize = 32;
const MAX_CODEC_LEN: usize = 64;
/// Largest serialized `tags` object.
const MAX_TAGS_LEN: usize = 64 * 1024;
/// Longest URI-ish values kept for bindings (Contact, Path).
const MAX_URI_LEN: usize = 4096;

type Result<T = ()> = std::result::Result<T, StoreError>;

/// An extension number: 1–32 of ASCII alphanumerics, `.`, `-`, `_`.
pub(crate) fn number(field: &'static str, value: &str) -> Result {
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NUMBER_LEN {
        return Err(StoreError::invalid(
            field,
            format!("longer than {MAX_NUMBER_LEN} characters"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(StoreError::invalid(
            field,
            format!("character {c:?} not allowed (ASCII letters, digits, '.', '-', '_')"),
        ));
    }
    Ok(())
}

/// A name used as a key (a gateway, route, queue, agent, IVR menu or node):
/// 1 to 64 of ASCII letters, digits, `-`, `_`, `.`.
pub(crate) fn name(field: &'static str, value: &str) -> Result {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(field, "1 to 64 characters: letters, digits, '-', '_', '.'"))
    }
}

/// Free text: at most `max` bytes, no control characters (they would end
/// up in SIP headers).
pub(crate) fn text(field: &'static str, value: &str, max: usize) -> Result {
    if value.len() > max {
        return Err(StoreError::invalid(
            field,
            format!("longer than {max} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::invalid(field, "control characters not allowed"));
    }
    Ok(())
}

/// Free text that must not be empty.
pub(crate) fn non_empty_text(field: &'static str, value: &str, max: usize) -> Result {
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty"));
    }
    text(field, value, max)
}

pub(crate) fn display_text(field: &'static str, value: &str) -> Result {
    text(field, value, MAX_TEXT_LEN)
}

/// A codec preference list: names in order, no empties, no duplicates
/// (compared case-insensitively, as SDP encoding names are).
pub(crate) fn codecs(codecs: &[String]) -> Result {
    const FIELD: &str = "codecs";
    if codecs.len() > MAX_CODECS {
        return Err(StoreError::invalid(
            FIELD,
            format!("more than {MAX_CODECS} entries"),
        ));
    }
    for (i, c) in codecs.iter().enumerate() {
        if c.is_empty() || c.len() > MAX_CODEC_LEN {
            return Err(StoreError::invalid(
                FIELD,
                format!("entry {i} must be 1-{MAX_CODEC_LEN} characters"),
            ));
        }
        if !c.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(StoreError::invalid(
                FIELD,
                format!("entry {i} ({c:?}) must be printable ASCII without spaces"),
            ));
        }
        if codecs[..i].iter().any(|p| p.eq_ignore_ascii_case(c)) {
            return Err(StoreError::invalid(
                FIELD,
                format!("entry {i} ({c:?}) is repeated"),
            ));
        }
    }
    Ok(())
}

/// Tags: a JSON object of bounded size. Returns its serialized form.
pub(crate) fn tags(tags: &serde_json::Value) -> Result<String> {
    if !tags.is_object() {
        return Err(StoreError::invalid("tags", "must be a JSON object"));
    }
    let s = tags.to_string();
    if s.len() > MAX_TAGS_LEN {
        return Err(StoreError::invalid(
            "tags",
            format!("larger than {MAX_TAGS_LEN} bytes"),
        ));
    }
    Ok(s)
}

/// A hex digest of exactly `hex_len` digits. Returns it in lower case.
fn hex_digest(field: &'static str, value: &str, hex_len: usize) -> Result<String> {
    if value.len() != hex_len || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::invalid(
            field,
            format!("must be {hex_len} hexadecimal digits"),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// HA1 credentials (RFC 7616 §3.4.2): `MD5(username:realm:password)` and
/// `SHA-256(username:realm:password)` in hex, and the realm they were
/// computed for. Returns them normalized (lower-case hex).
pub(crate) fn credentials(
    ha1_md5: &str,
    ha1_sha256: &str,
    realm: &str,
) -> Result<(String, String, String)> {
    let md5 = hex_digest("ha1_md5", ha1_md5, 32)?;
    let sha256 = hex_digest("ha1_sha256", ha1_sha256, 64)?;
    non_empty_text("realm", realm, MAX_TEXT_LEN)?;
    if realm.contains(['"', '\\']) {
        // It is sent as a quoted-string in WWW-Authenticate (RFC 7616 §3.3).
        return Err(StoreError::invalid(
            "realm",
            "must not contain '\"' or '\\'",
        ));
    }
    Ok((md5, sha256, realm.to_owned()))
}

/// A URI-ish binding value (Contact, Path): not empty, bounded, no control
/// characters.
pub(crate) fn uri(field: &'static str, value: &str) -> Result {
    non_empty_text(field, value, MAX_URI_LEN)
}

/// A short token-ish binding value (Call-ID, instance, User-Agent).
pub(crate) fn header_value(field: &'static str, value: &str) -> Result {
    non_empty_text(field, value, 1024)
}

/// RFC 5626 §4.2.1: `reg-id` is 1 to 2^31-1.
pub(crate) fn reg_id(value: u32) -> Result {
    if value == 0 || value > i32::MAX as u32 {
        return Err(StoreError::invalid(
            "reg_id",
            "must be 1 to 2^31-1 (RFC 5626)",
        ));
    }
    Ok(())
}

/// RFC 3261 §20.10: `q` is 0 to 1.
pub(crate) fn q(value: f32) -> Result {
    if !(0.0..=1.0).contains(&value) {
        return Err(StoreError::invalid("q", "must be between 0 and 1"));
    }
    Ok(())
}

/// The `source` of a REGISTER: `ip:port` (`[v6]:port` for IPv6).
pub(crate) fn socket_addr(field: &'static str, value: &str) -> Result {
    value
        .parse::<std::net::SocketAddr>()
        .map(drop)
        .map_err(|_| StoreError::invalid(field, "must be ip:port ([v6]:port for IPv6)"))
}

#[cfg(test)]
mod tests;
