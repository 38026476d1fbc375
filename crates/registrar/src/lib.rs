//! # registrar
//!
//! The sans-IO registrar of ferroswitch: REGISTER processing per RFC 3261
//! §10.3 (authentication, To check, several contacts with q and per-contact
//! expires, Min-Expires and 423, a maximum clamp, `*` with Expires 0,
//! Call-ID/CSeq ordering, the 200 listing every binding), the location
//! service kept in memory, NAT keep-alive scheduling, digest policy for
//! other requests, and the per-source brute-force ban.
//!
//! It owns no storage and no clock: time is unix milliseconds passed in
//! (bindings outlive restarts, so their expiry is wall-clock time). Every
//! change to bindings comes out as [`Change`]s that the driver makes
//! durable *before* sending the reply it is paired with ([`Outcome::Commit`]),
//! so an acknowledged registration survives a crash. It does not decide
//! routing and does not send anything itself.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bans;
mod date;
mod registrar;

pub use bans::{BanConfig, Bans, BlockedSource};
pub use date::{http_date, utc_parts, UtcParts};
pub use registrar::{AuthOutcome, Binding, Change, Directory, DirectoryEntry, Outcome, PingDue, Registrar, RegistrarConfig};
