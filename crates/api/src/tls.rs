//! HTTPS for the admin API: a [`Listener`] that accepts TCP connections and
//! hands axum only those that completed a TLS handshake.
//!
//! Handshakes run in tasks of their own, each bounded by
//! [`HANDSHAKE_TIMEOUT`], so a client that connects and sends nothing (or
//! fails its handshake) delays nobody else; at most [`MAX_HANDSHAKES`] run
//! at once (new connections wait in the kernel's backlog meanwhile).

use axum::serve::Listener;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to complete its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at most.
pub(crate) const MAX_HANDSHAKES: usize = 1024;

/// TCP listener + TLS acceptor.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tune: fn(&TcpStream),
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor, tune: fn(&TcpStream)) -> TlsListener {
        TlsListener { tcp, acceptor, tune, handshakes: JoinSet::new() }
    }
}

async fn handshake(acceptor: TlsAcceptor, tcp: TcpStream, peer: SocketAddr) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some((tls, peer)),
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "admin API: TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%peer, "admin API: TLS handshake timed out");
            None
        }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    // Cancel-safe (axum drops this future on shutdown): TCP accept and
    // `join_next` are, and the handshakes live in `self`.
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                (tcp, peer) = Listener::accept(&mut self.tcp), if room => {
                    (self.tune)(&tcp);
                    self.handshakes.spawn(handshake(self.acceptor.clone(), tcp, peer));
                }
                Some(done) = self.handshakes.join_next() => {
                    if let Ok(Some(conn)) = done {
                        return conn;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
