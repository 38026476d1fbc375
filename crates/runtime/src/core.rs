//! The core task: owns the endpoint and the application service.

use crate::tcp::{serve, ConnEvent, ConnLimits};
use bytes::Bytes;
use sip_proto::{ConnId, Endpoint, EndpointConfig, Event, Peer, Transmit, Transport};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// The application driven by the runtime: registrar, B2BUA, or (for now)
/// the plain user agent of the binary. It is sans-IO: it acts on the
/// endpoint it is handed and never touches a socket.
pub trait Service: Send + 'static {
    /// Commands sent from outside (the admin API) through [`Handle::command`].
    type Command: Send + 'static;
    /// An endpoint event.
    fn on_event(&mut self, now: Instant, ep: &mut Endpoint, ev: Event);
    /// A command.
    fn on_command(&mut self, now: Instant, ep: &mut Endpoint, cmd: Self::Command) {
        let _ = (now, ep, cmd);
    }
    /// The service's own deadline passed.
    fn on_timeout(&mut self, now: Instant, ep: &mut Endpoint) {
        let _ = (now, ep);
    }
    /// The service's next deadline.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    /// SIP trace: is this message (received or about to be sent) one to
    /// write to the log? Called for every message, so it must answer
    /// `false` at once while tracing is off.
    fn trace(&self, data: &[u8]) -> bool {
        let _ = data;
        false
    }
}

/// Write a traced SIP message to the log (target `sip_trace`).
fn trace_message(dir: &str, peer: &Peer, data: &[u8]) {
    tracing::info!(target: "sip_trace", %dir, transport = peer.transport.via_name(), peer = %peer.addr, "\n{}", String::from_utf8_lossy(data));
}

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Address to bind.
    pub bind: IpAddr,
    /// UDP port (0 disables UDP unless `ephemeral` is set).
    pub udp_port: u16,
    /// TCP port (0 disables TCP unless `ephemeral` is set).
    pub tcp_port: u16,
    /// TLS port (0 disables TLS).
    pub tls_port: u16,
    /// Certificate for TLS.
    pub tls: Option<crate::tls::TlsSource>,
    /// Bind port 0 (an OS-chosen port) for enabled transports: for tests.
    pub ephemeral: bool,
    /// Address written in Via/Contact when behind NAT.
    pub advertised: Option<IpAddr>,
    /// Largest SIP message accepted.
    pub max_message: usize,
    /// Idle TCP connections are closed after this.
    pub tcp_idle: Duration,
    /// Endpoint settings (sent-by is filled in from the bound sockets).
    pub endpoint: EndpointConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            udp_port: 5060,
            tcp_port: 5060,
            tls_port: 0,
            tls: None,
            ephemeral: false,
            advertised: None,
            max_message: 65_535,
            tcp_idle: Duration::from_secs(300),
            endpoint: EndpointConfig::default(),
        }
    }
}

/// Talks to a running core.
pub struct Handle<C> {
    cmd: mpsc::Sender<C>,
    shutdown: watch::Sender<bool>,
}

impl<C> Clone for Handle<C> {
    fn clone(&self) -> Self {
        Handle { cmd: self.cmd.clone(), shutdown: self.shutdown.clone() }
    }
}

impl<C: Send + 'static> Handle<C> {
    /// Send a command to the service.
    pub async fn command(&self, c: C) -> bool {
        self.cmd.send(c).await.is_ok()
    }
    /// Stop the core.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// A started runtime.
pub struct Started<C> {
    /// Bound UDP address.
    pub udp_addr: Option<SocketAddr>,
    /// Bound TCP address.
    pub tcp_addr: Option<SocketAddr>,
    /// Bound TLS address.
    pub tls_addr: Option<SocketAddr>,
    /// Handle to the core.
    pub handle: Handle<C>,
    /// The core task; ends after shutdown.
    pub join: JoinHandle<()>,
}

fn host_port(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        IpAddr::V4(v4) => format!("{v4}:{port}"),
    }
}

/// Bind the sockets and start the core task with `service`.
pub async fn run<S: Service>(mut cfg: RuntimeConfig, service: S) -> io::Result<Started<S::Command>> {
    let port = |p: u16| if cfg.ephemeral { 0 } else { p };
    let udp = if cfg.udp_port != 0 || cfg.ephemeral {
        Some(bind_udp(SocketAddr::new(cfg.bind, port(cfg.udp_port)))?)
    } else {
        None
    };
    let tcp = if cfg.tcp_port != 0 || cfg.ephemeral {
        Some(TcpListener::bind(SocketAddr::new(cfg.bind, port(cfg.tcp_port))).await?)
    } else {
        None
    };
    let tls = if cfg.tls_port != 0 {
        let src = cfg.tls.clone().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "TLS port set without a certificate source"))?;
        let acceptor = crate::tls::acceptor(&src)?;
        let port = if cfg.ephemeral { 0 } else { cfg.tls_port };
        Some((TcpListener::bind(SocketAddr::new(cfg.bind, port)).await?, acceptor))
    } else {
        None
    };
    let tls_addr = tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?;
    let udp_addr = udp.as_ref().map(|s| s.local_addr()).transpose()?;
    let tcp_addr = tcp.as_ref().map(|s| s.local_addr()).transpose()?;
    let adv = |a: SocketAddr| {
        let ip = cfg.advertised.unwrap_or(if a.ip().is_unspecified() { IpAddr::from([127, 0, 0, 1]) } else { a.ip() });
        host_port(ip, a.port())
    };
    cfg.endpoint.sent_by.clear();
    if let Some(a) = udp_addr {
        cfg.endpoint.sent_by.push((Transport::Udp, adv(a)));
    }
    if let Some(a) = tcp_addr {
        cfg.endpoint.sent_by.push((Transport::Tcp, adv(a)));
    }
    if let Some(a) = tls_addr {
        cfg.endpoint.sent_by.push((Transport::Tls, adv(a)));
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (sd_tx, sd_rx) = watch::channel(false);
    let (conn_tx, conn_rx) = mpsc::channel(4096);
    let next_conn = Arc::new(AtomicU64::new(1));
    let limits = || ConnLimits { max_message: cfg.max_message, idle: cfg.tcp_idle };
    let accept = AcceptCtx { conn_tx: conn_tx.clone(), next_conn: next_conn.clone(), max_message: cfg.max_message, idle: cfg.tcp_idle };
    if let Some(listener) = tcp {
        tokio::spawn(accept_loop(listener, None, accept.clone(), sd_rx.clone()));
    }
    if let Some((listener, acceptor)) = tls {
        tokio::spawn(accept_loop(listener, Some(acceptor), accept.clone(), sd_rx.clone()));
    }
    // The core gets a thread and a single-threaded runtime of its own:
    // nothing else (store writes, HTTP, relays, which stay on the caller's
    // runtime) can sit between it and its socket, and waking it is no
    // work-stealing scheduler's business.
    let ep = Endpoint::new(cfg.endpoint.clone());
    let limits = limits();
    let outer = tokio::runtime::Handle::current();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<io::Result<()>>();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("sip-core".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let udp = {
            let _in = rt.enter();
            if let Some(u) = &udp {
                crate::udp_batch::enable_timestamps(u);
            }
            match udp.map(UdpSocket::from_std).transpose() {
                Ok(u) => u,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            }
        };
        let _ = ready_tx.send(Ok(()));
        let core = Core { ep, service, udp, conn_tx, writers: HashMap::new(), by_addr: HashMap::new(), pending: HashMap::new(), next_conn, limits, overload_logged: None, outer, reader: crate::udp_batch::UdpReader::new(), writer: crate::udp_batch::UdpWriter::new() };
        rt.block_on(core.run(conn_rx, cmd_rx, sd_rx));
        let _ = done_tx.send(());
    })?;
    ready_rx.await.map_err(|_| io::Error::other("the SIP core thread ended at start"))??;
    let join = tokio::spawn(async move {
        let _ = done_rx.await;
    });
    Ok(Started { udp_addr, tcp_addr, tls_addr, handle: Handle { cmd: cmd_tx, shutdown: sd_tx }, join })
}

struct Core<S: Service> {
    ep: Endpoint,
    service: S,
    udp: Option<UdpSocket>,
    conn_tx: mpsc::Sender<ConnEvent>,
    writers: HashMap<ConnId, (SocketAddr, mpsc::Sender<Bytes>)>,
    by_addr: HashMap<SocketAddr, ConnId>,
    pending: HashMap<SocketAddr, Vec<Bytes>>,
    next_conn: Arc<AtomicU64>,
    limits: ConnLimits,
    /// When the last overload warning was logged.
    overload_logged: Option<Instant>,
    /// The runtime that serves TCP connections the core opens.
    outer: tokio::runtime::Handle,
    /// Batched datagram reads.
    reader: crate::udp_batch::UdpReader,
    /// Datagrams of this turn, sent together.
    writer: crate::udp_batch::UdpWriter,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Last line of defence: a bug reached by some input must not kill the
/// core task (and with it every call). The panic is logged loudly with the
/// input that caused it, and the switch carries on.
fn guarded(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        tracing::error!(what, "BUG: panic while handling input; input dropped");
    }
}

impl<S: Service> Core<S> {
    async fn run(mut self, mut conn_rx: mpsc::Receiver<ConnEvent>, mut cmd_rx: mpsc::Receiver<S::Command>, mut sd: watch::Receiver<bool>) {
        let mut batch: Vec<(Bytes, SocketAddr)> = Vec::with_capacity(UDP_BATCH);
        // One timer for the life of the loop, moved only when the deadline
        // changes: a new timer per turn cost a timer-wheel insertion and
        // removal for every datagram.
        let sleep = tokio::time::sleep_until(tokio::time::Instant::now());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = match (self.ep.poll_timeout(), self.service.poll_timeout()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(d) = deadline {
                if armed != Some(d) {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                    armed = Some(d);
                }
            }
            tokio::select! {
                _ = sd.changed() => break,
                _ = udp_readable(self.udp.as_ref()) => {
                    // Read what is queued (up to a batch, PER_CALL datagrams
                    // per recvmmsg), tell the endpoint whether the socket was
                    // emptied and how long the oldest datagram waited (its
                    // load-shedding signal), then handle the batch.
                    let mut emptied = false;
                    let mut waited = None;
                    if let Some(udp) = &self.udp {
                        let reader = &mut self.reader;
                        while batch.len() < UDP_BATCH {
                            match udp.try_io(tokio::io::Interest::READABLE, || reader.read(udp, &mut batch, &mut waited)) {
                                Ok(r) if r.emptied => {
                                    emptied = true;
                                    break;
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    // Only "nothing queued" says the queue is empty (an
                                    // ICMP error reported on the socket says nothing).
                                    emptied = e.kind() == io::ErrorKind::WouldBlock;
                                    break;
                                }
                            }
                        }
                    }
                    if !batch.is_empty() {
                        let was_shedding = self.ep.is_shedding();
                        let t = now();
                        self.ep.note_receive_queue(t, emptied, waited);
                        if self.ep.is_shedding() && !was_shedding && self.overload_logged.is_none_or(|l| t.saturating_duration_since(l) >= Duration::from_secs(10)) {
                            // Shedding flips on and off as the queue drains;
                            // one line per 10 s, the counters say the rest.
                            self.overload_logged = Some(t);
                            tracing::warn!(episodes = self.ep.stats().overload_episodes, shed = self.ep.stats().load_shed, "SIP overload: requests arrive faster than they are served; new calls and registrations get 503 while the receive queue stays full");
                        }
                        for (data, from) in batch.drain(..) {
                            if self.service.trace(&data) {
                                trace_message("recv", &Peer::udp(from), &data);
                            }
                            guarded("udp datagram", || self.ep.handle_input(now(), Peer::udp(from), data));
                        }
                    }
                }
                Some(ev) = conn_rx.recv() => {
                    self.conn_event(ev);
                    for _ in 0..256 {
                        match conn_rx.try_recv() {
                            Ok(ev) => self.conn_event(ev),
                            Err(_) => break,
                        }
                    }
                }
                Some(cmd) = cmd_rx.recv() => {
                    // Commands come in bursts (a group commit's REGISTERs):
                    // take what is queued in one turn.
                    let now = now();
                    self.service.on_command(now, &mut self.ep, cmd);
                    for _ in 0..256 {
                        match cmd_rx.try_recv() {
                            Ok(cmd) => self.service.on_command(now, &mut self.ep, cmd),
                            Err(_) => break,
                        }
                    }
                }
                _ = &mut sleep, if deadline.is_some() => {
                    armed = None;
                }
            }
            let now = now();
            self.ep.handle_timeout(now);
            if self.service.poll_timeout().is_some_and(|t| t <= now) {
                self.service.on_timeout(now, &mut self.ep);
            }
            self.drain(now).await;
        }
    }

    async fn drain(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.ep.poll_event() {
                progressed = true;
                let (service, ep) = (&mut self.service, &mut self.ep);
                guarded("service event", || service.on_event(now, ep, ev));
            }
            while let Some(t) = self.ep.poll_transmit() {
                progressed = true;
                if t.dest.transport == Transport::Udp && self.udp.is_some() {
                    // Datagrams of this turn go out together (sendmmsg).
                    if self.service.trace(&t.data) {
                        trace_message("send", &t.dest, &t.data);
                    }
                    self.writer.push(t.data, t.dest.addr);
                    if self.writer.len() >= crate::udp_batch::PER_CALL {
                        self.flush_udp().await;
                    }
                } else {
                    self.transmit(t).await;
                }
            }
            if !progressed {
                break;
            }
        }
        self.flush_udp().await;
    }

    /// Send the queued datagrams, waiting for room in the socket's buffer
    /// if it is full.
    async fn flush_udp(&mut self) {
        let Some(udp) = &self.udp else { return };
        while self.writer.len() > 0 {
            let writer = &mut self.writer;
            match udp.try_io(tokio::io::Interest::WRITABLE, || writer.flush(udp)) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = udp.writable().await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "udp send failed");
                    return;
                }
            }
        }
    }

    fn conn_event(&mut self, ev: ConnEvent) {
        match ev {
            ConnEvent::Opened { conn, peer, writer } => {
                if let Some(queued) = self.pending.remove(&peer) {
                    for b in queued {
                        let _ = writer.try_send(b);
                    }
                }
                self.by_addr.insert(peer, conn);
                self.writers.insert(conn, (peer, writer));
            }
            ConnEvent::Message { source, data } => {
                if self.service.trace(&data) {
                    trace_message("recv", &source, &data);
                }
                guarded("stream message", || self.ep.handle_input(now(), source, data))
            }
            ConnEvent::Closed { conn, peer } => {
                self.writers.remove(&conn);
                if self.by_addr.get(&peer) == Some(&conn) {
                    self.by_addr.remove(&peer);
                }
            }
            ConnEvent::ConnectFailed { peer } => {
                self.pending.remove(&peer);
                self.ep.handle_transport_error(Peer { transport: Transport::Tcp, addr: peer, conn: None });
            }
        }
    }

    async fn transmit(&mut self, t: Transmit) {
        if self.service.trace(&t.data) {
            trace_message("send", &t.dest, &t.data);
        }
        match t.dest.transport {
            Transport::Udp => {
                let Some(udp) = &self.udp else { return };
                match udp.try_send_to(&t.data, t.dest.addr) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let _ = udp.send_to(&t.data, t.dest.addr).await;
                    }
                    Err(e) => tracing::debug!(dest = %t.dest.addr, error = %e, "udp send failed"),
                }
            }
            _ => {
                let conn = t.dest.conn.filter(|c| self.writers.contains_key(c)).or_else(|| self.by_addr.get(&t.dest.addr).copied());
                if let Some((_, w)) = conn.and_then(|c| self.writers.get(&c)) {
                    if w.try_send(t.data.clone()).is_ok() {
                        return;
                    }
                }
                if t.dest.transport != Transport::Tcp {
                    // Outbound TLS/WS connections are not opened by this
                    // build: only the connection the peer opened is used.
                    self.ep.handle_transport_error(t.dest);
                    return;
                }
                // No usable connection: open one and queue the message.
                let queue = self.pending.entry(t.dest.addr).or_default();
                queue.push(t.data);
                if queue.len() == 1 {
                    let addr = t.dest.addr;
                    let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
                    let conn_tx = self.conn_tx.clone();
                    let limits = ConnLimits { max_message: self.limits.max_message, idle: self.limits.idle };
                    self.outer.spawn(async move {
                        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await {
                            Ok(Ok(stream)) => {
                                let _ = stream.set_nodelay(true);
                                serve(stream, Transport::Tcp, id, addr, conn_tx, limits, None).await
                            }
                            _ => {
                                let _ = conn_tx.send(ConnEvent::ConnectFailed { peer: addr }).await;
                            }
                        }
                    });
                }
            }
        }
    }
}

#[derive(Clone)]
struct AcceptCtx {
    conn_tx: mpsc::Sender<ConnEvent>,
    next_conn: Arc<AtomicU64>,
    max_message: usize,
    idle: Duration,
}

/// Accept TCP connections (TLS when `tls` is given) until shutdown; each
/// connection is served by its own task.
async fn accept_loop(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>, ctx: AcceptCtx, mut sd: watch::Receiver<bool>) {
    loop {
        let (stream, peer) = tokio::select! {
            _ = sd.changed() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        };
        let id = ctx.next_conn.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let limits = ConnLimits { max_message: ctx.max_message, idle: ctx.idle };
        let conn_tx = ctx.conn_tx.clone();
        match &tls {
            None => {
                tokio::spawn(serve(stream, Transport::Tcp, id, peer, conn_tx, limits, None));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A handshake that stalls must not hold a task forever.
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => serve(tls, Transport::Tls, id, peer, conn_tx, limits, None).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

/// Most datagrams read from the socket before they are handled (and
/// other work gets a turn).
const UDP_BATCH: usize = 256;

/// A UDP socket with large kernel buffers, so a burst is queued rather than dropped.
fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let domain = if addr.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

async fn udp_readable(udp: Option<&UdpSocket>) {
    match udp {
        Some(s) => {
            let _ = s.readable().await;
        }
        None => std::future::pending().await,
    }
}
