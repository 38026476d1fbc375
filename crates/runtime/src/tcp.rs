//! TCP connections: framing, keep-alives, idle timeout, writes.

use bytes::{Bytes, BytesMut};
use sip_msg::{frame, Frame};
use sip_proto::{ConnId, Peer, Transport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// What connection tasks tell the core.
pub(crate) enum ConnEvent {
    Opened { conn: ConnId, peer: SocketAddr, writer: mpsc::Sender<Bytes> },
    Message { source: Peer, data: Bytes },
    Closed { conn: ConnId, peer: SocketAddr },
    ConnectFailed { peer: SocketAddr },
}

pub(crate) struct ConnLimits {
    pub max_message: usize,
    pub idle: Duration,
}

/// Run one connection until it closes: read and frame, write what the core sends.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Send + 'static>(
    stream: S,
    transport: Transport,
    conn: ConnId,
    peer: SocketAddr,
    to_core: mpsc::Sender<ConnEvent>,
    limits: ConnLimits,
    first: Option<Bytes>,
) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::channel::<Bytes>(256);
    if to_core.send(ConnEvent::Opened { conn, peer, writer: wtx.clone() }).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        if let Some(b) = first {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
        while let Some(b) = wrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut buf = BytesMut::with_capacity(8192);
    let source = Peer { transport, addr: peer, conn: Some(conn) };
    'outer: loop {
        // Frame everything already buffered.
        loop {
            match frame(&buf, limits.max_message) {
                Ok(Frame::Incomplete) => break,
                Ok(Frame::Ping(n)) => {
                    let _ = buf.split_to(n);
                    // RFC 5626 §3.5.1: answer a double-CRLF ping with one CRLF.
                    if wtx.send(Bytes::from_static(b"\r\n")).await.is_err() {
                        break 'outer;
                    }
                }
                Ok(Frame::Pong(n)) => {
                    let _ = buf.split_to(n);
                }
                Ok(Frame::Message(n)) => {
                    let data = buf.split_to(n).freeze();
                    if to_core.send(ConnEvent::Message { source, data }).await.is_err() {
                        break 'outer;
                    }
                }
                Err(e) => {
                    tracing::debug!(%peer, ?e, "closing connection that cannot be framed");
                    break 'outer;
                }
            }
        }
        if buf.capacity() - buf.len() < 2048 {
            buf.reserve(8192);
        }
        match tokio::time::timeout(limits.idle, rd.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(_)) => {}
            Err(_) => {
                tracing::debug!(%peer, "closing idle connection");
                break;
            }
        }
    }
    drop(wtx);
    writer.abort();
    let _ = to_core.send(ConnEvent::Closed { conn, peer }).await;
}
