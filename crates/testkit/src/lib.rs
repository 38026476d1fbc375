//! # testkit
//!
//! Dev-only helpers: a deterministic network simulator that runs several
//! sans-IO [`sip_proto::Endpoint`]s on a virtual clock over a lossy,
//! duplicating, reordering network, scripted SIP message builders, and
//! audio checks (tone power) for media tests.
//! Nothing here is used by the switch itself.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(clippy::disallowed_methods)] // the one real Instant below anchors the virtual clock

pub mod audio;
pub mod sim;
pub mod sipmsg;
