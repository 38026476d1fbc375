//! Configuration: defaults (configs/default.toml, compiled in) < file <
//! environment (`FERROSWITCH_<SECTION>__<KEY>`) < command-line flags.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Value;

/// The documented defaults, compiled in so the binary runs without files.
pub const DEFAULTS: &str = include_str!("../../../configs/default.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub sip: Sip,
    pub registrar: Registrar,
    pub security: Security,
    pub directory: Directory,
    pub calls: Calls,
    pub media: Media,
    pub http: Http,
    pub webhooks: Webhooks,
    pub recordings: Recordings,
    pub storage: Storage,
    pub cluster: Cluster,
    pub log: Log,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sip {
    pub bind: String,
    pub udp_port: u16,
    pub tcp_port: u16,
    pub tls_port: u16,
    pub tls_cert: String,
    pub tls_key: String,
    pub domain: String,
    pub external_ip: String,
    pub max_message_size: usize,
    pub tcp_idle_timeout: u64,
    pub t1_ms: u64,
    pub max_transactions: usize,
    pub overload_after_ms: u64,
    pub user_agent: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registrar {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
    pub keepalive_interval: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    pub digest_algorithms: Vec<String>,
    pub md5_only_user_agents: Vec<String>,
    pub nonce_lifetime: u64,
    pub auth_ban: bool,
    pub auth_ban_failures: u32,
    pub auth_ban_window: u64,
    pub auth_ban_time: u64,
    pub calls_per_minute: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Directory {
    pub first_run_extensions: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    pub ring_timeout: u64,
    pub drain_timeout: u64,
    pub gateway_progress_timeout: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recordings {
    /// "answer" or "early_media".
    pub start: String,
    /// "wav" or "opus".
    pub format: String,
    /// 8000 or 16000.
    pub rate: u32,
    /// "pcm16" or "g711".
    pub encoding: String,
    pub s3_bucket: String,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    pub s3_prefix: String,
    pub s3_public_url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    pub url: String,
    pub secret: String,
    pub max_attempts: u32,
    pub timeout: u64,
    pub recording_url_base: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    pub mode: String,
    pub ringback: String,
    pub timeout: u64,
    pub transcode: Vec<String>,
    pub opus_complexity: u8,
    pub opus_bitrate: u32,
    pub jitter_playout: String,
    pub threads: usize,
}

impl Media {
    /// Media threads to run (`media.threads`; 0: one per core).
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// How a transcoder's jitter buffer gives out frames (`media.jitter_playout`).
    pub fn playout(&self) -> Option<media::jitter::Playout> {
        match self.jitter_playout.as_str() {
            "arrival" => Some(media::jitter::Playout::OnArrival),
            "paced" => Some(media::jitter::Playout::Paced),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub listen: String,
    pub token: String,
    pub events_buffer: usize,
    pub events_push_url: String,
    pub tls_cert: String,
    pub tls_key: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    pub url: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub node_id: String,
    pub advertise: String,
    pub secret: String,
    pub lease: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub level: String,
    pub format: String,
}

/// The SDP codec of a `media.transcode` entry.
pub fn transcode_codec(name: &str) -> Option<sdp::Codec> {
    [sdp::Codec::PCMU, sdp::Codec::PCMA, sdp::Codec::OPUS, sdp::Codec::G722].into_iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Merge `over` into `base` (tables recursively; unknown keys are errors).
fn merge(base: &mut Value, over: Value, path: &str) -> Result<()> {
    match (base, over) {
        (Value::Table(b), Value::Table(o)) => {
            for (k, v) in o {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v, &p)?,
                    None => bail!("unknown configuration key `{p}`"),
                }
            }
            Ok(())
        }
        (slot, v) => {
            if std::mem::discriminant(slot) != std::mem::discriminant(&v) {
                bail!("configuration key `{path}` must be a {}, got {}", slot.type_str(), v.type_str());
            }
            *slot = v;
            Ok(())
        }
    }
}

/// Convert an environment string to the type of the default at that key.
fn typed(default: &Value, raw: &str, key: &str) -> Result<Value> {
    Ok(match default {
        Value::String(_) => Value::String(raw.to_owned()),
        Value::Integer(_) => Value::Integer(raw.trim().parse().with_context(|| format!("{key} must be an integer"))?),
        Value::Boolean(_) => Value::Boolean(match raw.trim() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => bail!("{key} must be true or false"),
        }),
        Value::Float(_) => Value::Float(raw.trim().parse().with_context(|| format!("{key} must be a number"))?),
        // Lists: comma-separated strings ("" is the empty list).
        Value::Array(_) => Value::Array(raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_owned())).collect()),
        _ => bail!("{key} cannot be set from the environment"),
    })
}

/// Apply `FERROSWITCH_...` variables.
fn apply_env(v: &mut Value, vars: impl Iterator<Item = (String, String)>) -> Result<()> {
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("FERROSWITCH_") else { continue };
        let (section, key) = match rest.split_once("__") {
            Some((s, k)) => (Some(s.to_ascii_lowercase()), k.to_ascii_lowercase()),
            None => (None, rest.to_ascii_lowercase()),
        };
        let table = v.as_table_mut().ok_or_else(|| anyhow!("config root is not a table"))?;
        let (slot, label) = match &section {
            Some(s) => match table.get_mut(s).and_then(|t| t.as_table_mut()) {
                Some(t) => (t.get_mut(&key), format!("{s}.{key}")),
                None => (None, format!("{s}.{key}")),
            },
            None => (table.get_mut(&key).filter(|v| !v.is_table()), key.clone()),
        };
        match slot {
            Some(slot) => *slot = typed(slot, &raw, &name)?,
            // Variables the switch does not know are not ours to judge
            // (FERROSWITCH_LOG etc. may be used by scripts); say so once.
            None => eprintln!("ferroswitch: ignoring {name}: no configuration key `{label}`"),
        }
    }
    Ok(())
}

/// Command-line overrides, applied last.
#[derive(Default)]
pub struct Overrides {
    pub sets: Vec<(String, String)>,
}

pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config> {
    load_with_env(file, overrides, std::env::vars())
}

pub fn load_with_env(file: Option<&Path>, overrides: &Overrides, env: impl Iterator<Item = (String, String)>) -> Result<Config> {
    let mut v: Value = toml::from_str(DEFAULTS).context("built-in defaults")?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file_v: Value = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        merge(&mut v, file_v, "").with_context(|| format!("in {}", path.display()))?;
    }
    apply_env(&mut v, env)?;
    for (key, raw) in &overrides.sets {
        let mut parts = key.splitn(2, '.');
        let (a, b) = (parts.next().unwrap_or(""), parts.next());
        let table = v.as_table_mut().ok_or_else(|| anyhow!("config root is not a table"))?;
        let slot = match b {
            Some(b) => table.get_mut(a).and_then(|t| t.as_table_mut()).and_then(|t| t.get_mut(b)),
            None => table.get_mut(a),
        };
        let slot = slot.ok_or_else(|| anyhow!("unknown configuration key `{key}`"))?;
        *slot = typed(slot, raw, key)?;
    }
    let cfg: Config = v.try_into().context("configuration")?;
    cfg.validate()?;
    Ok(cfg)
}

impl Config {
    fn validate(&self) -> Result<()> {
        if self.media.rtp_port_min > self.media.rtp_port_max {
            bail!("media.rtp_port_min must not exceed media.rtp_port_max");
        }
        if !matches!(self.media.mode.as_str(), "relay" | "bypass") {
            bail!("media.mode must be \"relay\" or \"bypass\"");
        }
        if self.media.opus_complexity > 10 {
            bail!("media.opus_complexity must be 0 to 10");
        }
        if !(6_000..=510_000).contains(&self.media.opus_bitrate) {
            bail!("media.opus_bitrate must be 6000 to 510000 (bits per second, RFC 7587)");
        }
        if !matches!(self.recordings.rate, 8000 | 16000) {
            bail!("recordings.rate must be 8000 or 16000");
        }
        match self.recordings.encoding.as_str() {
            "pcm16" => {}
            "g711" if self.recordings.rate == 8000 => {}
            "g711" => bail!("recordings.encoding \"g711\" is 8 kHz: set recordings.rate = 8000 or encoding = \"pcm16\""),
            s => bail!("recordings.encoding {s:?}: expected \"pcm16\" or \"g711\""),
        }
        if self.media.threads > 256 {
            bail!("media.threads must be 0 (one per core) to 256");
        }
        if self.media.playout().is_none() {
            bail!("media.jitter_playout must be \"arrival\" or \"paced\"");
        }
        if let Some(c) = self.media.transcode.iter().find(|c| transcode_codec(c).is_none()) {
            bail!("media.transcode: {c:?} is not a codec the switch transcodes (PCMU, PCMA, opus, G722)");
        }
        if !matches!(self.log.format.as_str(), "human" | "json") {
            bail!("log.format must be \"human\" or \"json\"");
        }
        self.bind_ip()?;
        self.external_ip()?;
        self.digest_algorithms()?;
        if self.registrar.min_expires > self.registrar.max_expires {
            bail!("registrar.min_expires must not exceed registrar.max_expires");
        }
        if self.sip.tls_cert.is_empty() != self.sip.tls_key.is_empty() {
            bail!("sip.tls_cert and sip.tls_key must be set together");
        }
        if self.http.tls_cert.is_empty() != self.http.tls_key.is_empty() {
            bail!("http.tls_cert and http.tls_key must be set together");
        }
        if self.sip.t1_ms == 0 {
            bail!("sip.t1_ms must be positive");
        }
        Ok(())
    }

    pub fn bind_ip(&self) -> Result<std::net::IpAddr> {
        self.sip.bind.parse().with_context(|| format!("sip.bind `{}` is not an IP address", self.sip.bind))
    }

    pub fn external_ip(&self) -> Result<Option<std::net::IpAddr>> {
        if self.sip.external_ip.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.sip.external_ip.parse().with_context(|| format!("sip.external_ip `{}` is not an IP address", self.sip.external_ip))?))
    }

    pub fn domain(&self) -> String {
        if !self.sip.domain.is_empty() {
            return self.sip.domain.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    }

    pub fn digest_algorithms(&self) -> Result<Vec<sip_proto::digest::Algorithm>> {
        let v = self
            .security
            .digest_algorithms
            .iter()
            .map(|a| sip_proto::digest::Algorithm::from_name(Some(a)).with_context(|| format!("security.digest_algorithms: unknown algorithm `{a}` (MD5, SHA-256)")))
            .collect::<Result<Vec<_>>>()?;
        if v.is_empty() {
            bail!("security.digest_algorithms must not be empty");
        }
        Ok(v)
    }

    pub fn storage_url(&self) -> String {
        if self.storage.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("ferroswitch.db").display())
        } else {
            self.storage.url.clone()
        }
    }

    pub fn user_agent(&self) -> String {
        if self.sip.user_agent.is_empty() {
            format!("ferroswitch/{}", env!("CARGO_PKG_VERSION"))
        } else {
            self.sip.user_agent.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        vars.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn defaults_match_the_interface() {
        let c = load_with_env(None, &Overrides::default(), env(&[])).expect("defaults");
        assert_eq!(c.sip.bind, "0.0.0.0");
        assert_eq!((c.sip.udp_port, c.sip.tcp_port, c.sip.tls_port), (5060, 5060, 0));
        assert_eq!((c.media.rtp_port_min, c.media.rtp_port_max), (16384, 32767));
        assert_eq!(c.media.mode, "relay");
        assert_eq!(c.http.listen, "127.0.0.1:8080");
        assert_eq!(c.http.token, "");
        assert_eq!((c.http.tls_cert.as_str(), c.http.tls_key.as_str()), ("", ""), "plain HTTP by default");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
    }

    #[test]
    fn precedence_file_env_flags() {
        let dir = std::env::temp_dir().join(format!("fs-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("c.toml");
        std::fs::write(&f, "data_dir = \"/tmp/x\"\n[sip]\nudp_port = 5070\ntcp_port = 5071\n").expect("write");
        let c = load_with_env(Some(&f), &Overrides::default(), env(&[("FERROSWITCH_SIP__UDP_PORT", "5080")])).expect("load");
        assert_eq!(c.sip.udp_port, 5080, "environment beats file");
        assert_eq!(c.sip.tcp_port, 5071, "file beats defaults");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let o = Overrides { sets: vec![("sip.udp_port".into(), "5090".into())] };
        let c = load_with_env(Some(&f), &o, env(&[("FERROSWITCH_SIP__UDP_PORT", "5080"), ("FERROSWITCH_DATA_DIR", "/srv")])).expect("load");
        assert_eq!(c.sip.udp_port, 5090, "flags beat environment");
        assert_eq!(c.data_dir, PathBuf::from("/srv"));
        std::fs::write(&f, "[sip]\nudp_prot = 1\n").expect("write");
        let e = load_with_env(Some(&f), &Overrides::default(), env(&[])).expect_err("typo");
        assert!(format!("{e:#}").contains("sip.udp_prot"), "{e:#}");
        let e = load_with_env(None, &Overrides::default(), env(&[("FERROSWITCH_SIP__UDP_PORT", "x")])).expect_err("bad int");
        assert!(format!("{e:#}").contains("integer"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn http_tls_cert_and_key_go_together() {
        let set = |kv: &[(&str, &str)]| Overrides { sets: kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() };
        let e = load_with_env(None, &set(&[("http.tls_cert", "/c.pem")]), env(&[])).expect_err("cert without key");
        assert!(format!("{e:#}").contains("http.tls_cert and http.tls_key"), "{e:#}");
        let e = load_with_env(None, &Overrides::default(), env(&[("FERROSWITCH_HTTP__TLS_KEY", "/k.pem")])).expect_err("key without cert");
        assert!(format!("{e:#}").contains("http.tls_cert and http.tls_key"), "{e:#}");
        let c = load_with_env(None, &set(&[("http.tls_key", "/k.pem")]), env(&[("FERROSWITCH_HTTP__TLS_CERT", "/c.pem")])).expect("both");
        assert_eq!((c.http.tls_cert.as_str(), c.http.tls_key.as_str()), ("/c.pem", "/k.pem"));
    }
}
