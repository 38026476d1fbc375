//! TLS (RFC 3261 §26.2, `sips:`) with rustls: the server configuration from
//! PEM files, or a self-signed certificate generated once into the data
//! directory when none is configured.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Where the TLS certificate and key come from.
#[derive(Clone, Debug)]
pub enum TlsSource {
    /// PEM files given in the configuration.
    Files {
        /// Certificate chain (PEM).
        cert: PathBuf,
        /// Private key (PEM, PKCS#8/PKCS#1/SEC1).
        key: PathBuf,
    },
    /// Generate (once) a self-signed certificate for `names` into `dir`.
    SelfSigned {
        /// Directory to keep `tls-cert.pem` and `tls-key.pem` in.
        dir: PathBuf,
        /// Subject alternative names.
        names: Vec<String>,
    },
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// The certificates of a PEM file (at least one). Also what a client of our
/// own API trusts as its root (`ferroswitch ctl` against an HTTPS admin API).
pub fn load_certs(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let mut rd = io::BufReader::new(std::fs::File::open(path)?);
    let certs: Vec<_> = rustls_pemfile::certs(&mut rd).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        return Err(invalid(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> io::Result<PrivateKeyDer<'static>> {
    let mut rd = io::BufReader::new(std::fs::File::open(path)?);
    rustls_pemfile::private_key(&mut rd)?.ok_or_else(|| invalid(format!("no private key in {}", path.display())))
}

/// Build the acceptor.
pub fn acceptor(src: &TlsSource) -> io::Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(Arc::new(server_config(src)?)))
}

/// The rustls server configuration (ring provider, safe protocol versions,
/// no client authentication) for `src`; callers may add ALPN protocols.
pub fn server_config(src: &TlsSource) -> io::Result<ServerConfig> {
    let (cert, key) = match src {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::SelfSigned { dir, names } => {
            let cert = dir.join("tls-cert.pem");
            let key = dir.join("tls-key.pem");
            if !cert.exists() || !key.exists() {
                std::fs::create_dir_all(dir)?;
                let ck = rcgen::generate_simple_self_signed(names.clone()).map_err(|e| invalid(e.to_string()))?;
                std::fs::write(&cert, ck.cert.pem())?;
                write_private(&key, ck.key_pair.serialize_pem().as_bytes())?;
                tracing::warn!(cert = %cert.display(), "no TLS certificate configured: generated a self-signed one");
            }
            (cert, key)
        }
    };
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(load_certs(&cert)?, load_key(&key)?)
        .map_err(|e| invalid(format!("{}: {e}", cert.display())))?;
    Ok(cfg)
}

fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(data)
}
