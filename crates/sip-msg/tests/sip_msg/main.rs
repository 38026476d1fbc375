//! Integration tests of sip-msg: round-trip property tests and the RFC 4475 /
//! RFC 5118 test vectors (data files under `tests/vectors/`).

mod roundtrip;
mod vectors;
