//! Secrets kept in the data directory, generated on first start and
//! readable only by the switch's user: the admin API token and the key
//! that signs digest nonces (so nonces stay valid across restarts).

use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => b,
        Err(e) => {
            // Fail closed: passwords, tokens and nonces must not be guessable.
            eprintln!("ferroswitch: cannot read /dev/urandom ({e}); refusing to run without randomness");
            std::process::exit(70);
        }
    }
}

/// A random password: 16 characters from an unambiguous alphabet (~93 bits).
pub fn password() -> String {
    const A: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    random_bytes::<16>().iter().map(|b| A[*b as usize % A.len()] as char).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn write_private(path: &Path, data: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Read a secret file, or create it with `make()`; returns (value, created).
pub fn load_or_create(path: &Path, make: impl FnOnce() -> String) -> Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok((s.trim().to_owned(), false)),
        _ => {
            let v = make();
            let _ = std::fs::remove_file(path);
            write_private(path, &v)?;
            Ok((v, true))
        }
    }
}

/// The admin token: the configured one, or one generated into the data dir.
pub fn admin_token(configured: &str, data_dir: &Path) -> Result<(String, bool)> {
    if !configured.is_empty() {
        return Ok((configured.to_owned(), false));
    }
    load_or_create(&data_dir.join("admin-token"), || hex(&random_bytes::<24>()))
}

/// The webhook signing key: configured, or generated into the data dir.
pub fn webhook_secret(configured: &str, data_dir: &Path) -> Result<String> {
    if !configured.is_empty() {
        return Ok(configured.to_owned());
    }
    Ok(load_or_create(&data_dir.join("webhook-secret"), || hex(&random_bytes::<32>()))?.0)
}

/// The nonce-signing key.
pub fn digest_key(data_dir: &Path) -> Result<[u8; 32]> {
    let (h, _) = load_or_create(&data_dir.join("digest.key"), || hex(&random_bytes::<32>()))?;
    let mut k = [0u8; 32];
    for (i, chunk) in h.as_bytes().chunks(2).take(32).enumerate() {
        let s = std::str::from_utf8(chunk).unwrap_or("00");
        k[i] = u8::from_str_radix(s, 16).unwrap_or(0);
    }
    Ok(k)
}

/// A random (version 4) UUID.
pub fn uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}
