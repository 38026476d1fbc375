//! ferroswitch: a SIP softswitch (B2BUA with embedded media).
#![forbid(unsafe_code)]
#![allow(clippy::disallowed_methods)] // the binary may read the clock

mod config;
mod ua;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "ferroswitch", version, about = "SIP softswitch: B2BUA with embedded media")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the switch in the foreground (logs to stderr).
    Run {
        /// Configuration file (TOML); every key defaults to configs/default.toml.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Override a key, e.g. --set sip.udp_port=5080 (repeatable; beats file and environment).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the effective configuration (defaults < file < environment < flags).
    Config {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

fn overrides(set: &[String]) -> Result<config::Overrides> {
    let sets = set
        .iter()
        .map(|s| s.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.to_owned())).with_context(|| format!("--set {s}: expected KEY=VALUE")))
        .collect::<Result<Vec<_>>>()?;
    Ok(config::Overrides { sets })
}

fn init_logging(cfg: &config::Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut b).is_ok() {
            return u64::from_le_bytes(b);
        }
    }
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
}

async fn run(cfg: config::Config) -> Result<()> {
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("creating data_dir {}", cfg.data_dir.display()))?;
    let rcfg = runtime::RuntimeConfig {
        bind: cfg.bind_ip()?,
        udp_port: cfg.sip.udp_port,
        tcp_port: cfg.sip.tcp_port,
        tls_port: cfg.sip.tls_port,
        tls: Some(if cfg.sip.tls_cert.is_empty() {
            runtime::TlsSource::SelfSigned { dir: cfg.data_dir.join("tls"), names: vec![cfg.domain(), "localhost".into()] }
        } else {
            runtime::TlsSource::Files { cert: cfg.sip.tls_cert.clone().into(), key: cfg.sip.tls_key.clone().into() }
        }),
        ephemeral: false,
        advertised: cfg.external_ip()?,
        max_message: cfg.sip.max_message_size,
        tcp_idle: Duration::from_secs(cfg.sip.tcp_idle_timeout),
        endpoint: sip_proto::EndpointConfig {
            timers: sip_proto::TimerConfig { t1: Duration::from_millis(cfg.sip.t1_ms), ..Default::default() },
            max_transactions: cfg.sip.max_transactions,
            seed: random_seed(),
            warning_agent: cfg.domain(),
            ..Default::default()
        },
    };
    let service = ua::Switch::new(cfg.user_agent());
    let started = runtime::run(rcfg, service).await.context("binding SIP sockets")?;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        udp = ?started.udp_addr,
        tcp = ?started.tcp_addr,
        tls = ?started.tls_addr,
        domain = %cfg.domain(),
        "ferroswitch started"
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
    }
    // No calls exist yet to drain; refuse new work and stop.
    started.handle.command(ua::Command::Drain).await;
    started.handle.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), started.join).await;
    tracing::info!("ferroswitch stopped");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run { config, set } => {
            let cfg = config::load(config.as_deref(), &overrides(&set)?)?;
            init_logging(&cfg);
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(run(cfg))
        }
        Cmd::Config { config, set } => {
            let cfg = config::load(config.as_deref(), &overrides(&set)?)?;
            println!("{cfg:#?}");
            Ok(())
        }
    }
}
