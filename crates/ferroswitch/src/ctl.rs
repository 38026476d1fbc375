//! `ferroswitch ctl`: talks to a running switch through its admin API,
//! found from the same configuration (http.listen, http.token or the token
//! generated into data_dir). A small HTTP/1.1 client over std: the API is
//! local, and the binary stays free of an HTTP client stack. When
//! http.tls_cert is set the API is HTTPS and ctl speaks TLS (rustls),
//! trusting that certificate file, the switch's own, as its only root.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

struct Api {
    addr: String,
    token: String,
    /// HTTPS: the client configuration and the name the certificate is checked against.
    tls: Option<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)>,
}

/// A client trusting only the certificates in `cert` (PEM), and the name to
/// verify for `addr` (its host; an unspecified address means loopback,
/// where the switch is reached).
fn tls_client(cert: &str, addr: &str) -> Result<(Arc<rustls::ClientConfig>, rustls::pki_types::ServerName<'static>)> {
    let certs = runtime::load_certs(std::path::Path::new(cert)).with_context(|| format!("http.tls_cert {cert}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in &certs {
        roots.add(c.clone()).with_context(|| format!("http.tls_cert {cert}: not a usable certificate"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?;
    let verifier = Arc::new(OwnCert { webpki, pinned: certs });
    let cfg = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    let host = match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) if sa.ip().is_unspecified() && sa.is_ipv4() => "127.0.0.1".to_owned(),
        Ok(sa) if sa.ip().is_unspecified() => "::1".to_owned(),
        Ok(sa) => sa.ip().to_string(),
        Err(_) => addr.rsplit_once(':').map_or(addr, |(h, _)| h).trim_matches(['[', ']']).to_owned(),
    };
    let name = rustls::pki_types::ServerName::try_from(host).with_context(|| format!("http.listen {addr}: no host name to check the certificate against"))?;
    Ok((Arc::new(cfg), name))
}

/// The configured certificate file as the only trust: the usual WebPKI
/// check with its certificates as roots, and, for a self-signed certificate
/// webpki will not take as an end entity (`openssl req -x509` marks it a
/// CA), the exact certificate of the file. Handshake signatures are always
/// checked, so the server must hold the key.
#[derive(Debug)]
struct OwnCert {
    webpki: Arc<rustls::client::WebPkiServerVerifier>,
    pinned: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl rustls::client::danger::ServerCertVerifier for OwnCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(_) if self.pinned.iter().any(|c| c.as_ref() == end_entity.as_ref()) => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            // Another self-signed certificate: webpki's complaint (a CA used
            // as an end entity) would hide that it is simply not ours.
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_))) => Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

impl Api {
    fn from_config(cfg: &Config) -> Result<Api> {
        let token = if cfg.http.token.is_empty() {
            std::fs::read_to_string(cfg.data_dir.join("admin-token"))
                .with_context(|| format!("reading the admin token from {}", cfg.data_dir.join("admin-token").display()))?
                .trim()
                .to_owned()
        } else {
            cfg.http.token.clone()
        };
        let tls = if cfg.http.tls_cert.is_empty() { None } else { Some(tls_client(&cfg.http.tls_cert, &cfg.http.listen)?) };
        Ok(Api { addr: cfg.http.listen.clone(), token, tls })
    }

    fn call(&self, method: &str, path: &str) -> Result<(u16, String)> {
        self.call_json(method, path, "")
    }

    /// A request with a JSON body (empty: none).
    fn call_json(&self, method: &str, path: &str, body: &str) -> Result<(u16, String)> {
        let tcp = TcpStream::connect(&self.addr).with_context(|| format!("connecting to the switch at {} (is it running?)", self.addr))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut s: Box<dyn ReadWrite> = match &self.tls {
            None => Box::new(tcp),
            Some((cfg, name)) => Box::new(rustls::StreamOwned::new(rustls::ClientConnection::new(cfg.clone(), name.clone())?, tcp)),
        };
        let ct = if body.is_empty() { "" } else { "Content-Type: application/json\r\n" };
        let req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n{ct}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", self.addr, self.token, body.len());
        let scheme = if self.tls.is_some() { "https (trusting http.tls_cert)" } else { "http" };
        s.write_all(req.as_bytes()).with_context(|| format!("talking to the switch at {} over {scheme}", self.addr))?;
        s.flush()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).with_context(|| format!("reading the answer of the switch at {}", self.addr))?;
        let text = String::from_utf8_lossy(&raw);
        if self.tls.is_none() && raw.first() == Some(&0x15) {
            bail!("malformed HTTP response: the switch at {} answered with a TLS alert (is its API HTTPS? set http.tls_cert)", self.addr);
        }
        let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
        let status: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).context("malformed status line")?;
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
        Ok((status, body))
    }

    fn json(&self, path: &str) -> Result<serde_json::Value> {
        let (status, body) = self.call("GET", path)?;
        if status != 200 {
            bail!("{path}: HTTP {status}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }

    /// Every item of a paged list.
    fn all(&self, path: &str) -> Result<Vec<serde_json::Value>> {
        let mut items = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let p = match &cursor {
                Some(c) => format!("{path}{sep}limit=1000&cursor={}", urlencode(c)),
                None => format!("{path}{sep}limit=1000"),
            };
            let page = self.json(&p)?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn table(rows: &[serde_json::Value], cols: &[&str]) {
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = cols.iter().map(|c| rows.iter().map(|r| cell(&r[*c]).len()).max().unwrap_or(0).max(c.len())).collect();
    let line = |vals: Vec<String>| vals.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect::<Vec<_>>().join("  ");
    println!("{}", line(cols.iter().map(|c| c.to_uppercase()).collect()));
    for r in rows {
        println!("{}", line(cols.iter().map(|c| cell(&r[*c])).collect()));
    }
}

/// Run one ctl command.
pub fn run(cfg: &Config, args: &[String]) -> Result<()> {
    let api = Api::from_config(cfg)?;
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["status"] => {
            let (code, health) = api.call("GET", "/v1/health")?;
            let calls = api.all("/v1/calls")?;
            let regs = api.all("/v1/registrations")?;
            let answered = calls.iter().filter(|c| c["state"] == "answered").count();
            let h = serde_json::from_str::<serde_json::Value>(&health).unwrap_or_default();
            let (mcode, metrics) = api.call("GET", "/metrics")?;
            let metric = |name: &str| -> Option<f64> {
                if mcode != 200 {
                    return None;
                }
                metrics.lines().find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
            };
            let up = metric("ferroswitch_uptime_seconds").unwrap_or(0.0) as u64;
            println!("health:        {} ({code})", h["status"]);
            println!("version:       {}", h["version"].as_str().unwrap_or("?"));
            println!("uptime:        {}d {:02}:{:02}:{:02}", up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
            println!("calls:         {} live, {answered} answered", calls.len());
            println!("calls/s:       {:.1} (last 10 s)", metric("ferroswitch_calls_per_second").unwrap_or(0.0));
            println!("registrations: {}", regs.len());
            println!("load:          {:.2} (1 min), {:.1} s CPU used", metric("node_load1").unwrap_or(0.0), metric("process_cpu_seconds_total").unwrap_or(0.0));
            Ok(())
        }
        ["show", "registrations"] => {
            table(&api.all("/v1/registrations")?, &["extension", "transport", "source", "contact", "expires_in", "user_agent"]);
            Ok(())
        }
        ["show", "calls"] => {
            table(&api.all("/v1/calls")?, &["id", "caller", "callee", "state", "start_ms"]);
            Ok(())
        }
        ["show", "cdrs"] => {
            let page = api.json("/v1/cdrs?limit=50")?;
            table(page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]), &["id", "caller", "callee", "disposition", "billable_ms", "hangup_side"]);
            Ok(())
        }
        ["show", "blocks"] => {
            table(&api.all("/v1/security/blocks")?, &["ip", "failures", "expires_in"]);
            Ok(())
        }
        ["hangup", id] => {
            let (code, body) = api.call("DELETE", &format!("/v1/calls/{}", urlencode(id)))?;
            match code {
                204 => {
                    println!("call {id} hung up");
                    Ok(())
                }
                _ => bail!("hangup {id}: HTTP {code}: {body}"),
            }
        }
        ["unblock", ip] => {
            let (code, body) = api.call("DELETE", &format!("/v1/security/blocks/{}", urlencode(ip)))?;
            if code != 204 {
                bail!("unblock {ip}: HTTP {code}: {body}");
            }
            println!("{ip} unblocked");
            Ok(())
        }
        ["log"] => {
            let (code, body) = api.call("GET", "/v1/log")?;
            if code != 200 {
                bail!("log: HTTP {code}: {body}");
            }
            println!("{}", serde_json::from_str::<serde_json::Value>(&body)?["level"].as_str().unwrap_or(""));
            Ok(())
        }
        ["log", level] => {
            let (code, body) = api.call_json("PUT", "/v1/log", &serde_json::json!({"level": level}).to_string())?;
            if code != 200 {
                bail!("log {level}: HTTP {code}: {body}");
            }
            println!("log level: {level}");
            Ok(())
        }
        ["show", "gateways"] => {
            let (code, body) = api.call("GET", "/v1/gateways/status")?;
            if code != 200 {
                bail!("show gateways: HTTP {code}: {body}");
            }
            let page: serde_json::Value = serde_json::from_str(&body)?;
            table(page["items"].as_array().map(Vec::as_slice).unwrap_or(&[]), &["name", "registration", "ping", "latency_ms", "calls", "last_error"]);
            Ok(())
        }
        ["reload"] => {
            let (code, body) = api.call_json("POST", "/v1/reload", "{}")?;
            if code != 200 {
                bail!("reload: HTTP {code}: {body}");
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            println!("reloaded; applied: {}; restart required for: {}", v["applied"], v["restart_required"]);
            Ok(())
        }
        ["trace", "off"] => {
            let (code, body) = api.call_json("PUT", "/v1/trace", r#"{"enabled":false}"#)?;
            if code != 200 {
                bail!("trace off: HTTP {code}: {body}");
            }
            println!("SIP trace off");
            Ok(())
        }
        ["trace", "on", rest @ ..] => {
            let mut body = serde_json::json!({"enabled": true});
            match rest {
                [] => {}
                ["--call", id] => body["call"] = (*id).into(),
                ["--extension", e] => body["extension"] = (*e).into(),
                _ => bail!("usage: ferroswitch ctl trace on [--call UUID | --extension EXT] | trace off"),
            }
            let (code, resp) = api.call_json("PUT", "/v1/trace", &body.to_string())?;
            if code != 200 {
                bail!("trace on: HTTP {code}: {resp}");
            }
            println!("SIP trace on ({}); messages go to the log, target sip_trace", rest.join(" "));
            Ok(())
        }
        ["show", "queues"] => {
            let mut rows = Vec::new();
            for q in api.all("/v1/queues")? {
                let name = q["name"].as_str().unwrap_or_default();
                let mut st = api.json(&format!("/v1/queues/{}/stats", urlencode(name)))?;
                st["strategy"] = q["spec"]["strategy"].clone();
                rows.push(st);
            }
            table(&rows, &["queue", "strategy", "waiting", "longest_wait_ms", "agents_available", "agents_on_break", "agents_in_call", "answered", "abandoned", "timed_out", "service_level"]);
            Ok(())
        }
        ["show", "agents"] => {
            let rows: Vec<serde_json::Value> = api
                .all("/v1/agents")?
                .into_iter()
                .map(|a| {
                    let mut r = a["live"].clone();
                    if !r.is_object() {
                        r = serde_json::json!({});
                    }
                    r["name"] = a["name"].clone();
                    r["contact"] = a["spec"]["contact"].clone();
                    r
                })
                .collect();
            table(&rows, &["name", "contact", "status", "state", "calls_answered", "talk_time", "no_answer_count", "call_id"]);
            Ok(())
        }
        ["agent", name, action @ ("login" | "logout" | "ready" | "break")] => {
            let (code, body) = api.call("POST", &format!("/v1/agents/{}/{action}", urlencode(name)))?;
            if code != 200 {
                bail!("agent {name} {action}: HTTP {code}: {body}");
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            println!("agent {name}: {} / {}", v["status"].as_str().unwrap_or("?"), v["state"].as_str().unwrap_or("?"));
            Ok(())
        }
        ["originate", caller, callee, opts @ ..] => {
            // ctl originate CALLER CALLEE [gateway=NAME]... [caller_id=N] [record]
            let mut body = serde_json::json!({"caller": caller, "callee": callee});
            let mut gateways = Vec::new();
            for o in opts {
                match o.split_once('=') {
                    Some(("gateway", g)) => gateways.push(g.to_owned()),
                    Some(("caller_id", n)) => body["caller_id"] = n.into(),
                    None if *o == "record" => body["record"] = true.into(),
                    _ => bail!("originate: unknown option {o} (gateway=NAME, caller_id=NUMBER, record)"),
                }
            }
            if !gateways.is_empty() {
                body["gateways"] = gateways.into();
            }
            let (code, resp) = api.call_json("POST", "/v1/calls", &body.to_string())?;
            if code != 201 {
                bail!("originate: HTTP {code}: {resp}");
            }
            let id = serde_json::from_str::<serde_json::Value>(&resp).ok().and_then(|v| v["id"].as_str().map(str::to_owned)).unwrap_or(resp);
            println!("{id}");
            Ok(())
        }
        _ => bail!("usage: ferroswitch ctl status | show registrations|calls|cdrs|blocks|gateways|queues|agents | agent NAME login|logout|ready|break | trace on [--call UUID|--extension EXT] | trace off | reload | originate CALLER CALLEE [gateway=G]... [caller_id=N] [record] | log [LEVEL] | hangup UUID | unblock IP"),
    }
}
