//! From the admin API's documents (as stored) to the trunks core's types:
//! gateways (with the proxy host resolved) and routes.

use std::time::Duration;
use trunks::routes::{Action, Matcher, Route, Source};
use trunks::{GatewayConfig, IpCidr, RegisterConfig};

/// A stored gateway, ready for the core; `None` (logged) if disabled or
/// unusable (its proxy does not resolve).
pub async fn gateway(row: &store::ConfigRow) -> Option<GatewayConfig> {
    let spec: api::GatewaySpec = match serde_json::from_value(row.spec.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(gateway = %row.name, error = %e, "stored gateway unreadable; skipped");
            return None;
        }
    };
    if !spec.enabled {
        return None;
    }
    let (host, port) = api::split_host_port(&spec.proxy)?;
    let port = port.unwrap_or(5060);
    let proxy = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port),
        Err(_) => match tokio::net::lookup_host((host.as_str(), port)).await.ok().and_then(|mut a| a.next()) {
            Some(a) => a,
            None => {
                tracing::warn!(gateway = %row.name, %host, "gateway proxy does not resolve; skipped until the next reload");
                return None;
            }
        },
    };
    let mut g = GatewayConfig::new(&row.name, proxy);
    g.transport = if spec.transport == "tcp" { sip_proto::Transport::Tcp } else { sip_proto::Transport::Udp };
    g.domain = spec.domain.clone().unwrap_or(host);
    g.register = spec.register.as_ref().and_then(|r| {
        Some(RegisterConfig { username: r.username.clone(), password: r.password.clone()?, realm: r.realm.clone(), expires: r.expires })
    });
    g.caller_id = spec.caller_id.clone();
    g.prefix = spec.prefix.clone();
    g.strip = spec.strip as usize;
    g.codecs = spec.codecs.clone();
    g.max_calls = spec.max_calls;
    g.max_cps = spec.max_cps;
    g.ping_interval = spec.ping_interval.filter(|s| *s > 0).map(|s| Duration::from_secs(u64::from(s)));
    g.inbound = spec.inbound.iter().filter_map(|c| c.parse::<IpCidr>().ok()).collect();
    Some(g)
}

/// A stored route, ready for the core.
pub fn route(row: &store::ConfigRow) -> Option<Route> {
    let spec: api::RouteSpec = match serde_json::from_value(row.spec.clone()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(route = %row.name, error = %e, "stored route unreadable; skipped");
            return None;
        }
    };
    let destination = match (&spec.destination_prefix, &spec.destination_regex) {
        (_, Some(re)) => Matcher::regex(re).ok()?,
        (Some(p), None) => Matcher::prefix(p),
        (None, None) => Matcher::prefix(""),
    };
    Some(Route {
        name: row.name.clone(),
        priority: spec.priority.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        destination,
        caller: spec.caller_prefix.as_deref().map(Matcher::prefix),
        source: match spec.source.as_str() {
            "extension" => Source::Extension,
            "gateway" => Source::Gateway(spec.source_gateway.clone()),
            _ => Source::Any,
        },
        action: match &spec.action {
            api::RouteAction::Extension(e) => Action::Extension(e.clone()),
            api::RouteAction::Gateways(g) => Action::Gateways(g.clone()),
            api::RouteAction::Queue(q) => Action::Queue(q.clone()),
            api::RouteAction::Ivr(m) => Action::Ivr(m.clone()),
            api::RouteAction::Reject { code, reason } => Action::Reject { code: *code, reason: reason.clone().unwrap_or_else(|| "Rejected".into()) },
        },
        strip: spec.strip as usize,
        prefix: spec.prefix.clone(),
        caller_id: spec.caller_id.clone(),
        media_bypass: spec.media_mode.as_deref().map(|m| m == "bypass"),
        record: spec.record,
    })
}

/// Digest credentials issued to a carrier for inbound calls.
#[derive(Clone, Debug)]
pub struct Carrier {
    pub username: String,
    pub gateway: String,
    pub password: String,
}

/// Gateways, routes and carrier credentials, as the switch reloads them.
pub struct Trunking {
    pub gateways: Vec<GatewayConfig>,
    pub routes: Vec<Route>,
    pub carriers: Vec<Carrier>,
}

/// Everything the switch reloads when the version changes.
pub async fn load(store: &store::Store) -> Result<Trunking, store::StoreError> {
    let mut gateways = Vec::new();
    let mut carriers = Vec::new();
    for row in store.list_configs(store::ConfigKind::Gateway).await? {
        if let Ok(spec) = serde_json::from_value::<api::GatewaySpec>(row.spec.clone()) {
            if let (true, Some(u), Some(p)) = (spec.enabled, spec.inbound_username, spec.inbound_password) {
                carriers.push(Carrier { username: u, gateway: row.name.clone(), password: p });
            }
        }
        if let Some(g) = gateway(&row).await {
            gateways.push(g);
        }
    }
    let routes = store.list_configs(store::ConfigKind::Route).await?.iter().filter_map(route).collect();
    Ok(Trunking { gateways, routes, carriers })
}
