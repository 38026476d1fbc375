//! Fuzz target for digest authentication on input a peer controls: any
//! Authorization/Proxy-Authorization value parses or fails cleanly, and
//! whatever parses goes through the server's verification (nonce
//! validation, nonce-count tracking, response check) without panicking.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_msg::Credentials;
use sip_proto::digest::{ha1, Algorithm, DigestServer, Ha1s};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(creds) = Credentials::parse(text) else { return };
    let mut server = DigestServer::new("fuzz.test", [7u8; 32], 30_000);
    let known = Ha1s { md5: ha1(Algorithm::Md5, "1000", "fuzz.test", "pw"), sha256: ha1(Algorithm::Sha256, "1000", "fuzz.test", "pw") };
    // A nonce of ours, so the parser's output reaches the later checks too.
    let _ = server.nonce(1_000);
    for now in [1_000u64, 20_000, 90_000] {
        let _ = server.verify(now, &creds, "INVITE", |_| Some(known.clone()));
        let _ = server.verify(now, &creds, "REGISTER", |_| None);
    }
});
