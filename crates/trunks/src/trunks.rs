//! The set of gateways: configuration reconcile, timers, transaction
//! demultiplexing, status, admission, numbers and call credentials.

use crate::client_auth::{self, Cnonces, NonceCounts};
use crate::config::GatewayConfig;
use crate::health::{self, Health, PingState};
use crate::limits::{Limits, Refused, TokenBucket};
use crate::register::{self, Ctx, Leaving, RegState, Registration};
use sip_msg::{HeaderName, Message};
use sip_proto::{Endpoint, TxId};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Instant;

/// What an operator sees of one gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayStatus {
    /// The gateway's name.
    pub name: String,
    /// Outbound registration.
    pub registration: RegState,
    /// Health by OPTIONS pings.
    pub ping: PingState,
    /// Round trip of the last answered ping, in milliseconds.
    pub latency_ms: Option<u32>,
    /// Calls counted by [`Trunks::acquire`] and not yet released.
    pub calls: u32,
    /// The last registration error, else the last ping error; cleared by
    /// the next success of the same kind.
    pub last_error: Option<String>,
}

/// One gateway: its configuration and the machines running for it.
#[derive(Debug)]
struct Gateway {
    cfg: GatewayConfig,
    reg: Option<Registration>,
    health: Option<Health>,
    limits: Limits,
    /// Nonce-counts of challenges answered for calls ([`Trunks::authorize`]).
    call_nonces: NonceCounts,
}

/// Who a client transaction we started belongs to.
#[derive(Debug)]
enum TxRole {
    Register(String),
    Ping(String),
    /// An un-REGISTER of a removed gateway or binding.
    Leaving(Box<Leaving>),
    /// A request whose gateway (or configuration) is gone: its outcome is
    /// ours to swallow.
    Orphan,
}

/// The carrier trunks of the switch. Sans-IO: it sends through the
/// caller's [`Endpoint`] and is told about responses and time; see the
/// crate docs for the loop.
///
/// Every gateway is independent: its own REGISTER client (state diagram
/// on [`RegState`]), its own pinger (on [`PingState`]), its own limits. At most one REGISTER and
/// one OPTIONS of a gateway are in flight at a time (a configuration
/// change may leave the previous one running out its transaction,
/// disregarded).
#[derive(Debug)]
pub struct Trunks {
    contact_host: String,
    user_agent: String,
    gateways: Vec<Gateway>,
    txs: HashMap<TxId, TxRole>,
    cnonces: Cnonces,
}

/// Borrowed pieces of [`Trunks`] the per-gateway machines need while a
/// gateway is borrowed too.
struct Shared<'a> {
    contact_host: &'a str,
    user_agent: &'a str,
    txs: &'a mut HashMap<TxId, TxRole>,
    cnonces: &'a mut Cnonces,
}

impl Shared<'_> {
    fn ctx(&mut self) -> Ctx<'_> {
        Ctx { user_agent: self.user_agent, cnonces: self.cnonces }
    }

    /// Send whatever is due for `gw`.
    fn fire(&mut self, now: Instant, ep: &mut Endpoint, gw: &mut Gateway) {
        if let Some(r) = &mut gw.reg {
            let mut ctx = Ctx { user_agent: self.user_agent, cnonces: self.cnonces };
            if let Some(tx) = r.on_timeout(now, ep, &mut ctx) {
                self.txs.insert(tx, TxRole::Register(gw.cfg.name.clone()));
            }
        }
        if let Some(h) = &mut gw.health {
            if let Some(tx) = h.on_timeout(now, ep, &gw.cfg, self.contact_host, self.user_agent) {
                self.txs.insert(tx, TxRole::Ping(gw.cfg.name.clone()));
            }
        }
    }

    /// Stop a registration: forget its request in flight, un-REGISTER
    /// if a binding is in force.
    fn retire_registration(&mut self, now: Instant, ep: &mut Endpoint, r: Registration) {
        if let Some(tx) = r.in_flight() {
            self.txs.insert(tx, TxRole::Orphan);
        }
        if let Some((tx, leaving)) = r.unregister(now, ep, &mut self.ctx()) {
            self.txs.insert(tx, TxRole::Leaving(Box::new(leaving)));
        }
    }

    fn retire_health(&mut self, h: Health) {
        if let Some(tx) = h.in_flight() {
            self.txs.insert(tx, TxRole::Orphan);
        }
    }
}

fn start_gateway(now: Instant, ep: &mut Endpoint, cfg: GatewayConfig, contact_host: &str) -> Gateway {
    let reg = cfg.register.as_ref().map(|r| Registration::new(now, ep, &cfg, r, contact_host));
    let health = cfg.ping_interval.map(|i| Health::new(now, ep, i));
    let limits = Limits::new(cfg.max_cps);
    Gateway { cfg, reg, health, limits, call_nonces: NonceCounts::default() }
}

impl Trunks {
    /// No gateways yet. `contact_host` is our own `host:port` as the
    /// carriers reach it, written in Contact (and From of pings);
    /// `user_agent` goes in User-Agent.
    pub fn new(contact_host: String, user_agent: String) -> Trunks {
        let cnonces = Cnonces::new(&format!("{contact_host} {user_agent}"));
        Trunks { contact_host, user_agent, gateways: vec![], txs: HashMap::new(), cnonces }
    }

    fn split(&mut self) -> (&mut Vec<Gateway>, Shared<'_>) {
        (
            &mut self.gateways,
            Shared { contact_host: &self.contact_host, user_agent: &self.user_agent, txs: &mut self.txs, cnonces: &mut self.cnonces },
        )
    }

    /// Reconcile with a new configuration, in the order given (which is the
    /// order [`Trunks::gateway_for_source`] searches; a repeated name keeps
    /// its first entry).
    ///
    /// * A new gateway registers (if configured) and pings at once.
    /// * A removed gateway un-REGISTERs (Expires: 0, RFC 3261 §10.2.2) if a
    ///   binding is in force, and is dropped; its requests in flight are
    ///   disregarded.
    /// * A changed gateway keeps its call counter. Its registration starts
    ///   over: a different registrar, domain, transport or username is a
    ///   different binding (the old one is removed as above), while new
    ///   credentials or period for the same binding re-register at once on
    ///   the same Call-ID. Its pinger starts over if the proxy, domain,
    ///   transport or period changed; its cps bucket if `max_cps` changed.
    /// * An unchanged gateway is left alone.
    pub fn set_gateways(&mut self, now: Instant, ep: &mut Endpoint, gateways: Vec<GatewayConfig>) {
        self.cnonces.mix(&ep.new_call_id());
        let contact_host = self.contact_host.clone();
        let mut old: HashMap<String, Gateway> = self.gateways.drain(..).map(|g| (g.cfg.name.clone(), g)).collect();
        let mut seen = HashSet::new();
        let mut next = Vec::with_capacity(gateways.len());
        let (_, mut sh) = self.split();
        for cfg in gateways {
            if !seen.insert(cfg.name.clone()) {
                continue;
            }
            let mut gw = match old.remove(&cfg.name) {
                None => start_gateway(now, ep, cfg, &contact_host),
                Some(mut g) if g.cfg != cfg => {
                    g.reg = match (g.reg.take(), &cfg.register) {
                        (Some(mut r), Some(rc)) if register::same_binding(&g.cfg, &cfg) => {
                            if g.cfg.register.as_ref() != Some(rc) {
                                r.reconfigure(now, &cfg, rc, &contact_host);
                            }
                            Some(r)
                        }
                        (old_reg, rc) => {
                            if let Some(r) = old_reg {
                                sh.retire_registration(now, ep, r);
                            }
                            rc.as_ref().map(|rc| Registration::new(now, ep, &cfg, rc, &contact_host))
                        }
                    };
                    if !health::same_identity(&g.cfg, &cfg) {
                        if let Some(h) = g.health.take() {
                            sh.retire_health(h);
                        }
                        g.health = cfg.ping_interval.map(|i| Health::new(now, ep, i));
                    }
                    if g.cfg.max_cps != cfg.max_cps {
                        g.limits.bucket = cfg.max_cps.map(TokenBucket::new);
                    }
                    g.cfg = cfg;
                    g
                }
                Some(g) => g,
            };
            sh.fire(now, ep, &mut gw);
            next.push(gw);
        }
        // What is left was removed. Sorted so un-REGISTERs go out in a stable order.
        let mut removed: Vec<Gateway> = old.into_values().collect();
        removed.sort_by(|a, b| a.cfg.name.cmp(&b.cfg.name));
        for g in removed {
            if let Some(r) = g.reg {
                sh.retire_registration(now, ep, r);
            }
            if let Some(h) = g.health {
                sh.retire_health(h);
            }
        }
        self.gateways = next;
    }

    /// The earliest instant [`Trunks::handle_timeout`] has something to send.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.gateways
            .iter()
            .flat_map(|g| [g.reg.as_ref().and_then(|r| r.deadline()), g.health.as_ref().and_then(|h| h.deadline())])
            .flatten()
            .min()
    }

    /// Send the REGISTERs (first, refresh, retry) and OPTIONS that are due.
    pub fn handle_timeout(&mut self, now: Instant, ep: &mut Endpoint) {
        let (gateways, mut sh) = self.split();
        for gw in gateways.iter_mut() {
            sh.fire(now, ep, gw);
        }
    }

    /// A response on a client transaction. Returns true if the transaction
    /// was ours (a gateway's REGISTER or OPTIONS, or one we disregard),
    /// false if it belongs to someone else (a call).
    pub fn handle_response(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, resp: &Message) -> bool {
        let Some(code) = resp.status() else { return self.txs.contains_key(&tx) };
        let is_final = code >= 200;
        let (gateways, mut sh) = self.split();
        let role = if is_final { sh.txs.remove(&tx) } else { sh.txs.get(&tx).map(|r| r.shallow()) };
        let Some(role) = role else { return false };
        match role {
            TxRole::Orphan => {}
            TxRole::Leaving(mut l) => {
                // Once the same address-of-record registers again (the
                // gateway was re-added), a late un-REGISTER would remove the
                // new binding (RFC 3261 §10.3 step 7): do not answer its challenge.
                let again = gateways.iter().any(|g| g.reg.as_ref().is_some_and(|r| r.aor() == l.aor()));
                if is_final && !again {
                    if let Some(ntx) = l.on_response(now, ep, &mut sh.ctx(), resp) {
                        sh.txs.insert(ntx, TxRole::Leaving(l));
                    }
                }
            }
            TxRole::Register(name) => {
                let Some(gw) = gateways.iter_mut().find(|g| g.cfg.name == name) else { return true };
                let Some(r) = gw.reg.as_mut().filter(|r| r.in_flight() == Some(tx)) else { return true };
                if let Some(ntx) = r.on_response(now, ep, &mut sh.ctx(), tx, resp) {
                    sh.txs.insert(ntx, TxRole::Register(name));
                }
            }
            TxRole::Ping(name) => {
                if let Some(h) = gateways.iter_mut().find(|g| g.cfg.name == name).and_then(|g| g.health.as_mut()) {
                    h.on_response(now, tx, code);
                }
            }
        }
        true
    }

    /// A client transaction ended without a final response: Timer F
    /// (RFC 3261 §17.1.2.2) or a transport error (§18.4). Returns true if
    /// it was ours.
    pub fn handle_tx_failure(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId) -> bool {
        let (gateways, mut sh) = self.split();
        let Some(role) = sh.txs.remove(&tx) else { return false };
        match role {
            TxRole::Orphan | TxRole::Leaving(_) => {}
            TxRole::Register(name) => {
                let Some(gw) = gateways.iter_mut().find(|g| g.cfg.name == name) else { return true };
                let Some(r) = gw.reg.as_mut().filter(|r| r.in_flight() == Some(tx)) else { return true };
                if let Some(ntx) = r.on_failure(now, ep, &mut sh.ctx(), tx, "timed out or transport failed") {
                    sh.txs.insert(ntx, TxRole::Register(name));
                }
            }
            TxRole::Ping(name) => {
                if let Some(h) = gateways.iter_mut().find(|g| g.cfg.name == name).and_then(|g| g.health.as_mut()) {
                    h.on_failure(now, tx, "timed out or transport failed");
                }
            }
        }
        true
    }

    /// Status of every gateway, in configuration order.
    pub fn status(&self, now: Instant) -> Vec<GatewayStatus> {
        self.gateways
            .iter()
            .map(|g| GatewayStatus {
                name: g.cfg.name.clone(),
                registration: g.reg.as_ref().map_or(RegState::Disabled, |r| r.state(now)),
                ping: g.health.as_ref().map_or(PingState::Unknown, |h| h.state()),
                latency_ms: g.health.as_ref().and_then(|h| h.latency()).map(|d| d.as_millis().min(u128::from(u32::MAX)) as u32),
                calls: g.limits.calls,
                last_error: g
                    .reg
                    .as_ref()
                    .and_then(|r| r.last_error())
                    .or_else(|| g.health.as_ref().and_then(|h| h.last_error()))
                    .map(str::to_owned),
            })
            .collect()
    }

    /// A gateway's configuration.
    pub fn get(&self, name: &str) -> Option<&GatewayConfig> {
        self.gateway(name).map(|g| &g.cfg)
    }

    /// Every gateway's configuration, in configuration order.
    pub fn configs(&self) -> impl Iterator<Item = &GatewayConfig> + '_ {
        self.gateways.iter().map(|g| &g.cfg)
    }

    fn gateway(&self, name: &str) -> Option<&Gateway> {
        self.gateways.iter().find(|g| g.cfg.name == name)
    }

    fn gateway_mut(&mut self, name: &str) -> Option<&mut Gateway> {
        self.gateways.iter_mut().find(|g| g.cfg.name == name)
    }

    /// Admit a new outbound call through `name`: refused when the gateway
    /// is unknown, Down by its pings, at `max_calls`, or out of cps tokens
    /// (checked in that order; a refusal spends nothing). On `Ok` the call
    /// is counted until [`Trunks::release`].
    pub fn acquire(&mut self, now: Instant, name: &str) -> Result<(), Refused> {
        let gw = self.gateway_mut(name).ok_or(Refused::Unknown)?;
        if gw.health.as_ref().is_some_and(|h| h.state() == PingState::Down) {
            return Err(Refused::Down);
        }
        gw.limits.admit(now, gw.cfg.max_calls)
    }

    /// Admit a call arriving from gateway `name`: like [`Trunks::acquire`]
    /// without the health check (a carrier that sends us a call is
    /// reachable, whatever its pings say).
    pub fn acquire_inbound(&mut self, now: Instant, name: &str) -> Result<(), Refused> {
        let gw = self.gateway_mut(name).ok_or(Refused::Unknown)?;
        gw.limits.admit(now, gw.cfg.max_calls)
    }

    /// A call admitted by [`Trunks::acquire`] ended. Unknown names (a
    /// gateway removed meanwhile) are ignored; the counter never goes below 0.
    pub fn release(&mut self, name: &str) {
        if let Some(gw) = self.gateway_mut(name) {
            gw.limits.release();
        }
    }

    /// The callee number as sent to gateway `name`: `strip` leading
    /// characters removed, then `prefix` prepended. `None` for an unknown gateway.
    pub fn callee_number(&self, name: &str, number: &str) -> Option<String> {
        let cfg = self.get(name)?;
        let rest: String = number.chars().skip(cfg.strip).collect();
        Some(format!("{}{rest}", cfg.prefix))
    }

    /// The caller number as sent to gateway `name`: its fixed `caller_id`,
    /// else `caller` unchanged. `None` for an unknown gateway.
    pub fn caller_number(&self, name: &str, caller: &str) -> Option<String> {
        let cfg = self.get(name)?;
        Some(cfg.caller_id.clone().unwrap_or_else(|| caller.to_owned()))
    }

    /// The first gateway, in configuration order, whose `inbound` blocks
    /// contain `ip`.
    pub fn gateway_for_source(&self, ip: IpAddr) -> Option<&str> {
        self.gateways.iter().find(|g| g.cfg.inbound.iter().any(|c| c.contains(ip))).map(|g| g.cfg.name.as_str())
    }

    /// Credentials for a request we sent through `name` (an INVITE, usually)
    /// that the carrier challenged with `challenge` (a 401 or 407): the
    /// header to add to the re-sent request (Authorization or
    /// Proxy-Authorization, RFC 3261 §22.2, §22.3) computed with the
    /// gateway's registration credentials. SHA-256 is preferred over MD5
    /// (RFC 8760); qop=auth when offered, with a fresh cnonce and a
    /// nonce-count that increases when a nonce is reused.
    ///
    /// `None` when the gateway is unknown, has no credentials, or offers no
    /// usable challenge (unsupported algorithm, other realm than the
    /// configured one). The caller re-sends at most once per challenge: a
    /// new challenge to the re-sent request without `stale=true` means the
    /// credentials are wrong.
    pub fn authorize(&mut self, name: &str, challenge: &Message, method: &str, uri: &str) -> Option<(HeaderName, String)> {
        let gw = self.gateways.iter_mut().find(|g| g.cfg.name == name)?;
        let reg = gw.cfg.register.as_ref()?;
        let ch = client_auth::pick(challenge, reg.realm.as_deref()).ok()?;
        let nc = gw.call_nonces.next(&ch.nonce);
        Some(client_auth::authorization(&ch, &reg.username, &reg.password, method, uri, nc, &self.cnonces.next()))
    }

    /// Client transactions of ours still pending (for metrics and tests).
    pub fn pending_transactions(&self) -> usize {
        self.txs.len()
    }
}

impl TxRole {
    /// A copy for provisional responses, which change nothing but pings.
    fn shallow(&self) -> TxRole {
        match self {
            TxRole::Register(n) => TxRole::Register(n.clone()),
            TxRole::Ping(n) => TxRole::Ping(n.clone()),
            TxRole::Leaving(_) | TxRole::Orphan => TxRole::Orphan,
        }
    }
}
