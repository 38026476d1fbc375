//! ferroswitch: a SIP softswitch (B2BUA with embedded media).
#![forbid(unsafe_code)]
#![allow(clippy::disallowed_methods)] // the binary may read the clock

/// mimalloc instead of glibc malloc: per-message allocations are the
/// hot path's biggest cost after the kernel's (docs/benchmarks.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod event_push;
mod clock;
mod cluster;
mod config;
mod ctl;
mod persist;
mod secrets;
mod switch;
mod trunk_config;
mod uploads;
mod webhooks;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use registrar::{BanConfig, Registrar, RegistrarConfig};
use sip_proto::digest::{ha1, Algorithm, DigestServer};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switch::Command;
use tokio::sync::oneshot;

#[derive(Parser)]
#[command(name = "ferroswitch", version, about = "SIP softswitch: B2BUA with embedded media")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(clap::Args, Clone)]
struct ConfigArgs {
    /// Configuration file (TOML); every key defaults to configs/default.toml.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Override a key, e.g. --set sip.udp_port=5080 (repeatable; beats file and environment).
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the switch in the foreground (logs to stderr).
    Run {
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Print the effective configuration (defaults < file < environment < flags).
    Config {
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Talk to the running switch through its admin API:
    /// status | show registrations|calls|cdrs|blocks|gateways |
    /// originate CALLER CALLEE [gateway=G]... [caller_id=N] [record] | hangup UUID | unblock IP |
    /// show queues|agents | agent NAME login|logout|ready|break |
    /// trace on [--call UUID|--extension EXT] | trace off
    Ctl {
        #[arg(required = true, allow_hyphen_values = true)]
        command: Vec<String>,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
    /// Manage extensions directly in the store (works with the switch stopped or running).
    Extension {
        #[command(subcommand)]
        action: ExtAction,
        #[command(flatten)]
        cfg: ConfigArgs,
    },
}

#[derive(Subcommand)]
enum ExtAction {
    /// Create an extension; prints the password (generated when not given).
    Add {
        number: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// List extensions.
    List,
    /// Delete an extension and its registrations.
    Del { number: String },
}

fn overrides(set: &[String]) -> Result<config::Overrides> {
    let sets = set
        .iter()
        .map(|s| s.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.to_owned())).with_context(|| format!("--set {s}: expected KEY=VALUE")))
        .collect::<Result<Vec<_>>>()?;
    Ok(config::Overrides { sets })
}

fn load(a: &ConfigArgs) -> Result<config::Config> {
    config::load(a.config.as_deref(), &overrides(&a.set)?)
}

/// The log filter in force, changeable at run time (`PUT /v1/log`).
type LogHandle = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

fn init_logging(cfg: &config::Config) -> LogHandle {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    if cfg.log.format == "json" {
        registry.with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr)).init();
    } else {
        // Colours only for a terminal: a log file or journald gets plain text.
        use std::io::IsTerminal;
        registry.with(tracing_subscriber::fmt::layer().with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr)).init();
    }
    handle
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn open_store(cfg: &config::Config) -> Result<store::Store> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data_dir {}", cfg.data_dir.display()))?;
    let store = store::Store::open(&cfg.storage_url()).await.with_context(|| format!("opening store {}", cfg.storage_url()))?;
    let c = &cfg.cluster;
    if !c.node_id.is_empty() {
        if store.backend_kind() != store::BackendKind::Postgres {
            bail!("cluster.node_id is set but storage.url is not PostgreSQL: nodes share one PostgreSQL store (docs/multi-node.md)");
        }
        if c.secret.len() < 16 {
            bail!("cluster.secret must be set (at least 16 characters) with cluster.node_id: it signs node-to-node calls");
        }
    }
    Ok(store.with_node(&c.node_id)?)
}

async fn add_extension(store: &store::Store, realm: &str, number: &str, password: &str, name: Option<&str>) -> Result<store::Extension> {
    let mut new = store::NewExtension::new(number, ha1(Algorithm::Md5, number, realm, password), ha1(Algorithm::Sha256, number, realm, password), realm);
    if let Some(n) = name {
        new.display_name = n.to_owned();
    }
    Ok(store.create_extension(&new, now_ms()).await?)
}

struct ControlImpl {
    log: Option<LogHandle>,
    events: tokio::sync::broadcast::Sender<Arc<api::LiveEvent>>,
    handle: runtime::Handle<Command>,
    draining: Arc<AtomicBool>,
    config: Arc<persist::ConfigLoader>,
    reloader: Arc<Reloader>,
}

/// Re-reads the configuration (file, environment, --set) on `ctl reload`,
/// `POST /v1/reload` and SIGHUP.
struct Reloader {
    args: Option<ConfigArgs>,
    current: tokio::sync::Mutex<config::Config>,
    handle: runtime::Handle<Command>,
    log: Option<LogHandle>,
    config: Arc<persist::ConfigLoader>,
}

impl Reloader {
    async fn reload(&self) -> Result<api::Reloaded, String> {
        let Some(args) = &self.args else { return Err("this process has no configuration to reload".into()) };
        let new = load(args).map_err(|e| format!("{e:#}"))?;
        let ringback = match new.media.ringback.trim() {
            "" => None,
            s => Some(media::ToneSpec::parse(s).ok_or_else(|| format!("media.ringback {s:?}: expected FREQ[+FREQ]@ON_MS/OFF_MS"))?),
        };
        let mut cur = self.current.lock().await;
        let mut out = api::Reloaded::default();
        // Sections a running process cannot take over (sockets, storage,
        // workers started with them).
        let frozen = [
            ("data_dir", format!("{:?}", cur.data_dir) != format!("{:?}", new.data_dir)),
            ("sip", format!("{:?}", cur.sip) != format!("{:?}", new.sip)),
            ("http", format!("{:?}", cur.http) != format!("{:?}", new.http)),
            ("storage", format!("{:?}", cur.storage) != format!("{:?}", new.storage)),
            ("registrar", format!("{:?}", cur.registrar) != format!("{:?}", new.registrar)),
            ("calls", format!("{:?}", cur.calls) != format!("{:?}", new.calls)),
            ("webhooks", format!("{:?}", cur.webhooks) != format!("{:?}", new.webhooks)),
            ("recordings", format!("{:?}", cur.recordings) != format!("{:?}", new.recordings)),
            ("log.format", cur.log.format != new.log.format),
            ("media.rtp_port_min/max, media.mode, media.threads", (cur.media.rtp_port_min, cur.media.rtp_port_max, &cur.media.mode, cur.media.threads) != (new.media.rtp_port_min, new.media.rtp_port_max, &new.media.mode, new.media.threads)),
            ("media.transcode, media.opus_complexity, media.opus_bitrate, media.jitter_playout", (&cur.media.transcode, cur.media.opus_complexity, cur.media.opus_bitrate, &cur.media.jitter_playout) != (&new.media.transcode, new.media.opus_complexity, new.media.opus_bitrate, &new.media.jitter_playout)),
        ];
        out.restart_required = frozen.iter().filter(|(_, changed)| *changed).map(|(k, _)| (*k).to_owned()).collect();
        let mut sec_old = cur.security.clone();
        sec_old.calls_per_minute = new.security.calls_per_minute;
        if format!("{sec_old:?}") != format!("{:?}", new.security) {
            out.restart_required.push("security (except calls_per_minute)".into());
        }
        for (key, changed) in [
            ("security.calls_per_minute", cur.security.calls_per_minute != new.security.calls_per_minute),
            ("media.ringback", cur.media.ringback != new.media.ringback),
            ("media.timeout", cur.media.timeout != new.media.timeout),
        ] {
            if changed {
                out.applied.push(key.into());
            }
        }
        if cur.log.level != new.log.level && std::env::var_os("RUST_LOG").is_none() {
            if let Some(h) = &self.log {
                let filter = tracing_subscriber::EnvFilter::try_new(&new.log.level).map_err(|e| format!("log.level: {e}"))?;
                h.reload(filter).map_err(|e| e.to_string())?;
                out.applied.push("log.level".into());
            }
        }
        self.handle
            .command(Command::Reload {
                calls_per_minute: new.security.calls_per_minute,
                ringback,
                media_timeout: (new.media.timeout > 0).then(|| Duration::from_secs(new.media.timeout)),
            })
            .await;
        // And the store: extensions, gateways, routes, queues, IVRs, prompts.
        self.config.apply().await.map_err(|e| format!("reading the store: {e}"))?;
        tracing::info!(applied = ?out.applied, restart_required = ?out.restart_required, "configuration file reloaded");
        *cur = new;
        Ok(out)
    }
}

impl api::Control for ControlImpl {
    fn log_level(&self) -> String {
        self.log.as_ref().and_then(|h| h.with_current(|f| f.to_string()).ok()).unwrap_or_default()
    }
    fn set_log_level(&self, level: &str) -> Result<(), String> {
        let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        let h = self.log.as_ref().ok_or("logging is not reloadable in this process")?;
        h.reload(filter).map_err(|e| e.to_string())?;
        tracing::warn!(%level, "log level changed");
        Ok(())
    }
    fn registrations(&self) -> api::BoxFuture<'_, Vec<api::RegistrationView>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Registrations(tx)).await;
            rx.await.unwrap_or_default()
        })
    }
    fn blocks(&self) -> api::BoxFuture<'_, Vec<api::BlockView>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Blocks(tx)).await;
            rx.await.unwrap_or_default()
        })
    }
    fn clear_block(&self, ip: IpAddr) -> api::BoxFuture<'_, bool> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::ClearBlock(ip, tx)).await;
            rx.await.unwrap_or(false)
        })
    }
    fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
    fn calls(&self) -> api::BoxFuture<'_, Vec<api::CallView>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Calls(tx)).await;
            rx.await.unwrap_or_default()
        })
    }
    fn hangup(&self, id: String) -> api::BoxFuture<'_, bool> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Hangup(id, tx)).await;
            rx.await.unwrap_or(false)
        })
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<api::LiveEvent>> {
        self.events.subscribe()
    }
    fn metrics(&self) -> api::BoxFuture<'_, String> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Metrics(tx)).await;
            rx.await.unwrap_or_default()
        })
    }
    fn directory_changed(&self) -> api::BoxFuture<'_, ()> {
        Box::pin(async move {
            match self.config.apply().await {
                Ok(Some(l)) => tracing::info!(version = l.version, "configuration applied after an API write"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "configuration reload after an API write failed; the watcher will retry"),
            }
        })
    }
    fn originate(&self, req: api::OriginateRequest) -> api::BoxFuture<'_, Result<String, api::ApiError>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Originate(req, tx)).await;
            rx.await.unwrap_or_else(|_| Err(api::ApiError::status(503, "unavailable", "the switch is not running")))
        })
    }
    fn reload(&self) -> api::BoxFuture<'_, Result<api::Reloaded, api::ApiError>> {
        Box::pin(async move { self.reloader.reload().await.map_err(|e| api::ApiError::invalid("configuration", e)) })
    }
    fn trace(&self, req: Option<api::Trace>) -> api::BoxFuture<'_, Result<api::Trace, api::ApiError>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Trace(req, tx)).await;
            rx.await.unwrap_or_else(|_| Err(api::ApiError::status(503, "unavailable", "the switch is not running")))
        })
    }
    fn callcenter(&self, req: api::CcRequest) -> api::BoxFuture<'_, Result<serde_json::Value, api::ApiError>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::Callcenter(req, tx)).await;
            rx.await.unwrap_or_else(|_| Err(api::ApiError::status(503, "unavailable", "the switch is not running")))
        })
    }
    fn gateway_status(&self) -> api::BoxFuture<'_, Vec<api::GatewayStatusView>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.handle.command(Command::GatewayStatus(tx)).await;
            rx.await.unwrap_or_default()
        })
    }
}

/// The address written into Via, Contact and SDP: `sip.external_ip`, else
/// the bound address, else (bound to all interfaces) the address of the
/// interface with the default route, found without sending anything.
fn advertised_ip(cfg: &config::Config) -> Result<IpAddr> {
    if let Some(ip) = cfg.external_ip()? {
        return Ok(ip);
    }
    let bind = cfg.bind_ip()?;
    if !bind.is_unspecified() {
        return Ok(bind);
    }
    // connect() on UDP only selects a route; no packet leaves the host.
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| {
        s.connect("192.0.2.1:9")?;
        s.local_addr()
    });
    Ok(probe.map(|a| a.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1])))
}

/// `ip:port`, with brackets around an IPv6 address.
fn contact_host_for(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(ip) => format!("[{ip}]:{port}"),
        ip => format!("{ip}:{port}"),
    }
}

async fn run(cfg: config::Config, log: Option<LogHandle>, args: Option<ConfigArgs>) -> Result<()> {
    let store = open_store(&cfg).await?;
    let realm = cfg.domain();
    let clock = clock::Clock::start();

    // First start: a couple of extensions with random passwords, shown once.
    let mut snapshot = store.directory_snapshot().await?;
    if snapshot.extensions.is_empty() && !cfg.directory.first_run_extensions.is_empty() {
        for number in &cfg.directory.first_run_extensions {
            let pw = secrets::password();
            add_extension(&store, &realm, number, &pw, None).await?;
            // Through the log (not a bare line on stderr) so that a JSON
            // log stays one object per line.
            tracing::warn!(extension = %number, password = %pw, "first start: created an extension; its password is shown only now");
        }
        snapshot = store.directory_snapshot().await?;
    }
    // Calls that were live when the process last died become CDRs marked
    // interrupted, so every call leaves a record.
    // Their webhook goes where a live call's would have: a click-to-call's
    // own URL with its ext_data (kept in the live call's row), else
    // webhooks.url.
    // A call that was being recorded links the file it left: made whole
    // (the header names all the audio written) and given its final name.
    // (Not uploaded to object storage: the webhook names the local copy,
    // as after a failed upload.)
    let hook_url = (!cfg.webhooks.url.is_empty()).then(|| cfg.webhooks.url.clone());
    let recording_base = if cfg.webhooks.recording_url_base.is_empty() { format!("http://{}/v1/recordings", cfg.http.listen) } else { cfg.webhooks.recording_url_base.clone() };
    let recordings_dir = cfg.data_dir.join("recordings");
    let opus_recordings = cfg.recordings.format == "opus";
    let finish_recording = |file: &str| {
        // Only a plain name under the recordings directory.
        let name = std::path::Path::new(file).file_name().filter(|n| *n == std::ffi::OsStr::new(file))?;
        let done = runtime::finish_cut_recording(&recordings_dir.join(name), opus_recordings)?;
        done.file_name().map(|f| f.to_string_lossy().into_owned())
    };
    let interrupted = store
        .recover_interrupted_calls(now_ms(), finish_recording, |c, url, ext| {
            let url = url.map(str::to_owned).or_else(|| hook_url.clone())?;
            let ext = ext.and_then(|e| serde_json::value::RawValue::from_string(e.to_owned()).ok());
            let rec_url = c.recording.as_ref().map(|f| format!("{}/{f}", recording_base.trim_end_matches('/')));
            Some(store::NewWebhook { cdr_id: c.id.clone(), url, body: webhooks::body(c, ext.as_deref(), rec_url.as_deref()) })
        })
        .await?;
    if !interrupted.is_empty() {
        tracing::warn!(count = interrupted.len(), "calls interrupted by the last stop were recorded as CDRs");
    }
    let stale_realm = snapshot.extensions.iter().filter(|e| e.realm != realm).count();
    if stale_realm > 0 {
        tracing::warn!(count = stale_realm, %realm, "extensions whose credentials were made for another realm cannot authenticate; reset their passwords");
    }
    let directory = persist::directory_of(&snapshot.extensions, &realm);

    let rcfg = &cfg.registrar;
    let mut registrar = Registrar::new(
        RegistrarConfig {
            min_expires: rcfg.min_expires,
            max_expires: rcfg.max_expires,
            default_expires: rcfg.default_expires,
            max_contacts: rcfg.max_contacts,
            keepalive_ms: (rcfg.keepalive_interval > 0).then_some(rcfg.keepalive_interval * 1000),
            bans: BanConfig {
                enabled: cfg.security.auth_ban,
                max_failures: cfg.security.auth_ban_failures,
                window_ms: cfg.security.auth_ban_window * 1000,
                ban_ms: cfg.security.auth_ban_time * 1000,
            },
            md5_only_agents: cfg.security.md5_only_user_agents.clone(),
        },
        DigestServer::new(&realm, secrets::digest_key(&cfg.data_dir)?, cfg.security.nonce_lifetime.max(1) * 1000).with_algorithms(&cfg.digest_algorithms()?),
    );
    let bindings: Vec<_> = store.load_bindings(now_ms()).await?.into_iter().filter_map(persist::from_store).collect();
    let restored = bindings.len();
    registrar.restore(bindings, clock.now_ms());

    let rcfg = runtime::RuntimeConfig {
        bind: cfg.bind_ip()?,
        udp_port: cfg.sip.udp_port,
        tcp_port: cfg.sip.tcp_port,
        tls_port: cfg.sip.tls_port,
        tls: Some(if cfg.sip.tls_cert.is_empty() {
            runtime::TlsSource::SelfSigned { dir: cfg.data_dir.join("tls"), names: vec![realm.clone(), "localhost".into()] }
        } else {
            runtime::TlsSource::Files { cert: cfg.sip.tls_cert.clone().into(), key: cfg.sip.tls_key.clone().into() }
        }),
        ephemeral: false,
        advertised: Some(advertised_ip(&cfg)?),
        max_message: cfg.sip.max_message_size,
        tcp_idle: Duration::from_secs(cfg.sip.tcp_idle_timeout),
        endpoint: sip_proto::EndpointConfig {
            timers: sip_proto::TimerConfig { t1: Duration::from_millis(cfg.sip.t1_ms), ..Default::default() },
            max_transactions: cfg.sip.max_transactions,
            overload_after: (cfg.sip.overload_after_ms > 0).then(|| Duration::from_millis(cfg.sip.overload_after_ms)),
            seed: u64::from_le_bytes(secrets::random_bytes::<8>()),
            warning_agent: realm.clone(),
            ..Default::default()
        },
    };
    let (jobs_tx, jobs_rx, jobs_depth) = persist::Jobs::new(STORE_QUEUE_LIMIT);
    let media_ip = advertised_ip(&cfg)?;
    let b2bua = b2bua::B2bua::new(b2bua::B2buaConfig {
        domain: realm.clone(),
        media_ip,
        media_mode: if cfg.media.mode == "bypass" { b2bua::MediaMode::Bypass } else { b2bua::MediaMode::Relay },
        ring_timeout: Duration::from_secs(cfg.calls.ring_timeout),
        gateway_progress_timeout: Duration::from_secs(cfg.calls.gateway_progress_timeout.max(1)),
        user_agent: cfg.user_agent(),
        transcode: cfg.media.transcode.iter().filter_map(|c| config::transcode_codec(c)).collect(),
        hold_bye_reply: true,
    });
    let relay_bind = if cfg.bind_ip()?.is_unspecified() { cfg.bind_ip()? } else { media_ip };
    let mut media = runtime::RelayPool::new(relay_bind, cfg.media.rtp_port_min, cfg.media.rtp_port_max).with_threads(cfg.media.thread_count()).context("starting media threads")?;
    let (relay_events_tx, mut relay_events) = tokio::sync::mpsc::unbounded_channel();
    media.set_events(relay_events_tx);
    let jitter = media::transcode::JitterConfig { playout: cfg.media.playout().unwrap_or_default(), ..Default::default() };
    media.set_transcoding(media::transcode::Config { opus_complexity: cfg.media.opus_complexity, opus_bitrate: cfg.media.opus_bitrate, jitter });
    media.set_recording_rate(cfg.recordings.rate);
    media.set_g711_recordings(cfg.recordings.encoding == "g711");
    media.set_opus_recordings(match cfg.recordings.format.as_str() {
        "wav" => false,
        "opus" => true,
        s => anyhow::bail!("recordings.format {s:?}: expected \"wav\" or \"opus\""),
    });
    // Bounded: a subscriber that falls this far behind is disconnected.
    let (events_tx, _) = tokio::sync::broadcast::channel(cfg.http.events_buffer.max(1));
    let contact_host = contact_host_for(media_ip, cfg.sip.udp_port);
    let trunks = trunks::Trunks::new(contact_host, cfg.user_agent());
    let service = switch::Switch::new(cfg.user_agent(), registrar, directory.clone(), jobs_tx, clock, b2bua, media, events_tx.clone(), trunks);
    let mut service = service;
    let outbox_depth = service.webhook_outbox.clone();
    service.domain = realm.clone();
    service.recordings_dir = cfg.data_dir.join("recordings");
    service.calls_per_minute = cfg.security.calls_per_minute;
    service.s3 = uploads::S3::from_config(&cfg.recordings)?;
    service.record_early_media = match cfg.recordings.start.as_str() {
        "answer" => false,
        "early_media" => true,
        s => anyhow::bail!("recordings.start {s:?}: expected \"answer\" or \"early_media\""),
    };
    service.ringback = match cfg.media.ringback.trim() {
        "" => None,
        s => Some(media::ToneSpec::parse(s).with_context(|| format!("media.ringback {s:?}: expected FREQ[+FREQ]@ON_MS/OFF_MS"))?),
    };
    service.media_timeout = (cfg.media.timeout > 0).then(|| Duration::from_secs(cfg.media.timeout));
    if !cfg.cluster.node_id.is_empty() {
        service.cluster = Some(switch::ClusterState::new(&cfg.cluster.node_id, &cfg.cluster.secret));
    }
    let started = runtime::run(rcfg, service).await.context("binding SIP sockets")?;
    let draining = Arc::new(AtomicBool::new(false));
    let mut cluster_task = None;
    if !cfg.cluster.node_id.is_empty() {
        let advertise = if cfg.cluster.advertise.is_empty() { contact_host_for(advertised_ip(&cfg)?, started.udp_addr.map_or(cfg.sip.udp_port, |a| a.port())) } else { cfg.cluster.advertise.clone() };
        advertise.parse::<std::net::SocketAddr>().with_context(|| format!("cluster.advertise {advertise:?}: expected ip:port"))?;
        tracing::info!(node = %cfg.cluster.node_id, %advertise, "clustered: sharing queues and locations with the other nodes of the store");
        let settings = cluster::Settings { node: cfg.cluster.node_id.clone(), advertise, lease: Duration::from_secs(cfg.cluster.lease.max(1)) };
        cluster_task = Some(tokio::spawn(cluster::run(store.clone(), settings, started.handle.clone(), draining.clone())));
        tokio::spawn(cluster::events_out(store.clone(), cfg.cluster.node_id.clone(), events_tx.subscribe()));
        tokio::spawn(cluster::events_in(store.clone(), cfg.cluster.node_id.clone(), events_tx.clone()));
    }
    {
        // Digits and finished prompts from the relays, to the core.
        let handle = started.handle.clone();
        tokio::spawn(async move {
            while let Some(ev) = relay_events.recv().await {
                if !handle.command(Command::Media(ev)).await {
                    break;
                }
            }
        });
    }
    let wake_webhooks = Arc::new(tokio::sync::Notify::new());
    let default_webhook = (!cfg.webhooks.url.is_empty()).then(|| cfg.webhooks.url.clone());
    let worker = tokio::spawn(persist::store_worker(store.clone(), jobs_rx, jobs_depth, started.handle.clone(), clock, default_webhook, wake_webhooks.clone(), recording_base));
    let hooks = webhooks::Settings {
        secret: secrets::webhook_secret(&cfg.webhooks.secret, &cfg.data_dir)?,
        max_attempts: cfg.webhooks.max_attempts.max(1),
        timeout: Duration::from_secs(cfg.webhooks.timeout.max(1)),
    };
    if !cfg.http.events_push_url.is_empty() {
        tokio::spawn(event_push::run(cfg.http.events_push_url.clone(), hooks.secret.clone(), events_tx.subscribe()));
    }
    tokio::spawn(webhooks::worker(store.clone(), hooks, clock, wake_webhooks, outbox_depth));
    // Gateways and routes of the version just loaded.
    let trunking = trunk_config::load(&store).await?;
    let callcenter = switch::load_callcenter(&store, &cfg.data_dir.join("prompts")).await?;
    started.handle.command(Command::Config { directory, policy: persist::policy_of(&snapshot.extensions), trunking, callcenter }).await;
    let config_loader = Arc::new(persist::ConfigLoader::new(store.clone(), started.handle.clone(), realm.clone(), cfg.data_dir.join("prompts")));
    tokio::spawn(persist::directory_watcher(config_loader.clone(), snapshot.version));

    // Admin API.
    let (token, generated) = secrets::admin_token(&cfg.http.token, &cfg.data_dir)?;
    if generated {
        // The token itself stays out of logs: it is read from the file.
        tracing::info!(path = %cfg.data_dir.join("admin-token").display(), "generated an admin API token");
    }
    let reloader = Arc::new(Reloader { args, current: tokio::sync::Mutex::new(cfg.clone()), handle: started.handle.clone(), log: log.clone(), config: config_loader.clone() });
    let listener = tokio::net::TcpListener::bind(&cfg.http.listen).await.with_context(|| format!("binding http.listen {}", cfg.http.listen))?;
    let http_addr = listener.local_addr()?;
    let state = api::ApiState {
        store: store.clone(),
        control: Arc::new(ControlImpl { log: log.clone(), events: events_tx.clone(), handle: started.handle.clone(), draining: draining.clone(), config: config_loader.clone(), reloader: reloader.clone() }),
        token: token.into(),
        realm: realm.clone().into(),
        version: env!("CARGO_PKG_VERSION"),
        now_ms,
        recordings_dir: cfg.data_dir.join("recordings"),
    };
    let (http_stop_tx, http_stop_rx) = oneshot::channel::<()>();
    let http_tls = if cfg.http.tls_cert.is_empty() {
        None
    } else {
        let src = runtime::TlsSource::Files { cert: cfg.http.tls_cert.clone().into(), key: cfg.http.tls_key.clone().into() };
        Some(runtime::server_config(&src).with_context(|| format!("http.tls_cert {} / http.tls_key {}", cfg.http.tls_cert, cfg.http.tls_key))?)
    };
    let http_scheme = if http_tls.is_some() { "https" } else { "http" };
    let http = tokio::spawn(api::serve(listener, state, http_tls, async move {
        let _ = http_stop_rx.await;
    }));

    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        udp = ?started.udp_addr,
        tcp = ?started.tcp_addr,
        tls = ?started.tls_addr,
        http = %http_addr,
        http_scheme,
        %realm,
        restored_registrations = restored,
        "ferroswitch started"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                if let Err(e) = reloader.reload().await {
                    tracing::error!(error = %e, "reload failed; the running configuration stays");
                }
            }
        }
    }
    // Drain: refuse new work (503 + Retry-After, health reports draining),
    // let live calls finish for up to calls.drain_timeout, then hang up the
    // rest and stop. A second signal skips the wait.
    draining.store(true, Ordering::Relaxed);
    started.handle.command(Command::Drain).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(cfg.calls.drain_timeout);
    loop {
        let (tx, rx) = oneshot::channel();
        started.handle.command(Command::Calls(tx)).await;
        let live = rx.await.map(|c| c.len()).unwrap_or(0);
        if live == 0 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(live, "drain timeout: hanging up the remaining calls");
            started.handle.command(Command::HangupAll).await;
            // Let the BYEs and CDRs go out.
            tokio::time::sleep(Duration::from_millis(500)).await;
            break;
        }
        tracing::info!(live, "draining: waiting for live calls to end");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = tokio::signal::ctrl_c() => { started.handle.command(Command::HangupAll).await; tokio::time::sleep(Duration::from_millis(500)).await; break; }
            _ = term.recv() => { started.handle.command(Command::HangupAll).await; tokio::time::sleep(Duration::from_millis(500)).await; break; }
        }
    }
    if let Some(t) = cluster_task {
        // Calls are over: this node's queues go to another node now, not
        // after the lease.
        t.abort();
        cluster::release_all(&store, &cfg.cluster.node_id).await;
    }
    started.handle.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), started.join).await;
    let _ = http_stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    // The core is gone, so is the worker's last sender: wait for the
    // worker to write what is queued (CDRs of the calls just hung up)
    // before closing the store.
    if tokio::time::timeout(Duration::from_secs(60), worker).await.is_err() {
        tracing::error!("the store worker did not finish within 60 s; records still queued are lost");
    }
    store.close().await;
    tracing::info!("ferroswitch stopped");
    Ok(())
}

async fn extension_cmd(cfg: config::Config, action: ExtAction) -> Result<()> {
    let store = open_store(&cfg).await?;
    let realm = cfg.domain();
    match action {
        ExtAction::Add { number, password, name } => {
            let (pw, generated) = match password {
                Some(p) => {
                    if p.chars().count() < 8 {
                        bail!("--password must be at least 8 characters");
                    }
                    (p, false)
                }
                None => (secrets::password(), true),
            };
            let e = add_extension(&store, &realm, &number, &pw, name.as_deref()).await?;
            if generated {
                println!("extension {} created; password: {pw}", e.number);
            } else {
                println!("extension {} created", e.number);
            }
        }
        ExtAction::List => {
            let mut after: Option<String> = None;
            println!("{:<12} {:<8} {}", "NUMBER", "ENABLED", "NAME");
            loop {
                let page = store.list_extensions(500, after.as_deref()).await?;
                for e in &page {
                    println!("{:<12} {:<8} {}", e.number, e.enabled, e.display_name);
                }
                match page.last() {
                    Some(l) if page.len() == 500 => after = Some(l.number.clone()),
                    _ => break,
                }
            }
        }
        ExtAction::Del { number } => {
            if !store.delete_extension(&number).await? {
                bail!("no extension {number}");
            }
            println!("extension {number} deleted");
        }
    }
    store.close().await;
    Ok(())
}

/// Records the store may fall behind by before new calls and registrations
/// are refused with 503.
const STORE_QUEUE_LIMIT: usize = 20_000;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match cli.command {
        Cmd::Run { cfg } => {
            let args = cfg.clone();
            let cfg = load(&cfg)?;
            let log = init_logging(&cfg);
            rt()?.block_on(run(cfg, Some(log), Some(args)))
        }
        Cmd::Config { cfg } => {
            let cfg = load(&cfg)?;
            println!("{cfg:#?}");
            Ok(())
        }
        Cmd::Ctl { command, mut cfg } => {
            // The command takes words that start with '-' (trace on
            // --call UUID), so --set/--config after it arrive here too.
            let mut words = Vec::new();
            let mut it = command.into_iter();
            while let Some(w) = it.next() {
                match w.as_str() {
                    "--set" => cfg.set.extend(it.next()),
                    "--config" | "-c" => cfg.config = it.next().map(PathBuf::from),
                    _ => match (w.strip_prefix("--set="), w.strip_prefix("--config=")) {
                        (Some(kv), _) => cfg.set.push(kv.to_owned()),
                        (_, Some(f)) => cfg.config = Some(PathBuf::from(f)),
                        _ => words.push(w),
                    },
                }
            }
            let cfg = load(&cfg)?;
            ctl::run(&cfg, &words)
        }
        Cmd::Extension { action, cfg } => {
            let cfg = load(&cfg)?;
            rt()?.block_on(extension_cmd(cfg, action))
        }
    }
}
