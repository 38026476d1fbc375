//! Typed views of header values, parsed on demand. Each borrows from the
//! message it came from and allocates nothing.

mod auth;
mod misc;
mod name_addr;
mod via;

pub use auth::{Credentials, DigestParams};
pub use misc::{CSeq, ContentType, RAck, Reason, Replaces, RetryAfter, SessionExpires, Refresher};
pub use name_addr::NameAddr;
pub use via::Via;

#[cfg(test)]
mod tests;
