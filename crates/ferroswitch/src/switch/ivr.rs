//! IVR menus on the switch: the caller is answered (parked), hears the
//! menu's prompt, and its digits (RFC 4733 from the relay, or SIP INFO)
//! drive a `callcenter::ivr::Session`, whose choice sends the call to a
//! queue, an extension, another menu, or hangs it up.

use super::*;
use callcenter::ivr::{Output, Session, Target};
use std::sync::Arc;

/// Decoded audio prompts by name (file under `data_dir/prompts`).
pub type Prompts = HashMap<String, Arc<[i16]>>;

/// Is `name` a prompt file (not a tone, not silence)?
pub(crate) fn is_file(name: &str) -> bool {
    let n = name.trim();
    !(n.is_empty() || n == "silence" || n.starts_with("tone:") || media::ToneSpec::parse(n).is_some())
}

/// Decode every prompt file named in `names` from `dir` (off the async
/// workers). A prompt that cannot be read is logged and left out (the call
/// then hears silence for it, and the menu still works).
pub async fn load_prompts(dir: &std::path::Path, names: Vec<String>) -> Prompts {
    let mut out = Prompts::new();
    for name in names {
        if out.contains_key(&name) || !is_file(&name) {
            continue;
        }
        let rel = std::path::Path::new(name.trim());
        // Only files inside the prompts directory.
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
            tracing::warn!(prompt = %name, "prompt names must be files under data_dir/prompts; ignored");
            continue;
        }
        let path = dir.join(rel);
        let ext = rel.extension().and_then(|e| e.to_str()).map(str::to_owned);
        let decoded = tokio::task::spawn_blocking(move || std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| media::prompt::decode(b, ext.as_deref()).map_err(|e| e.to_string()))).await;
        match decoded {
            Ok(Ok(samples)) => {
                tracing::info!(prompt = %name, seconds = samples.len() as f64 / 8000.0, "prompt loaded");
                out.insert(name, samples.into());
            }
            Ok(Err(e)) => tracing::warn!(prompt = %name, error = %e, "prompt not loaded"),
            Err(e) => tracing::warn!(prompt = %name, error = %e, "prompt not loaded"),
        }
    }
    out
}

impl Switch {
    /// Play `name` (a tone spec or a loaded prompt) to a parked caller;
    /// `looped` for music. `true` if what plays will report its end.
    pub(crate) fn play_prompt(&mut self, id: &str, name: &str, looped: bool) -> bool {
        let Some(pt) = self.b2bua.caller_payload_type(id) else { return false };
        let ssrc = u32::from_le_bytes(crate::secrets::random_bytes::<4>());
        let n = name.trim();
        if let Some(samples) = self.prompts.get(n).cloned() {
            let player = media::PromptPlayer::new(samples, pt, ssrc, looped).map(media::Player::Prompt);
            let ends = player.is_some() && !looped;
            self.media.play(id, player);
            return ends;
        }
        let spec = media::ToneSpec::parse(n.strip_prefix("tone:").unwrap_or(n));
        self.media.play(id, spec.and_then(|s| media::ToneGen::new(s, pt, ssrc, 1)).map(media::Player::from));
        false
    }

    /// A call routed to an IVR menu: answer it and start the menu.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enter_ivr(&mut self, now: Instant, ep: &mut Endpoint, tx: TxId, req: Message, source: sip_proto::Peer, presented: &str, menu: &str, id: String) {
        if !self.ivr_menus.contains_key(menu) {
            tracing::warn!(%menu, "route to an IVR menu that does not exist");
            return self.reply(now, ep, tx, &req, 404, "Not Found", &[]);
        }
        let caller_name = req.from().ok().and_then(|f| f.display().map(|d| d.into_owned()));
        match self.b2bua.park(now, ep, &mut self.media, tx, req.clone(), source, presented, caller_name.as_deref(), menu, id.clone()) {
            Ok(_) => {
                tracing::info!(call = %id, caller = %presented, %menu, "caller in IVR menu");
                let pt = self.b2bua.caller_event_pt(&id);
                self.media.detect_dtmf(&id, runtime::Digits::for_caller(pt));
                self.ivr_enter_menu(now, ep, &id, menu);
                self.drain_calls(now, ep);
            }
            Err(b2bua::StartError::NoMediaPorts) => self.reply(now, ep, tx, &req, 503, "No Media Ports", &[(HeaderName::RetryAfter, "5")]),
            Err(b2bua::StartError::NoCommonMedia) => self.reply(now, ep, tx, &req, 488, "Not Acceptable Here", &[]),
            Err(_) => self.reply(now, ep, tx, &req, 480, "Temporarily Unavailable", &[]),
        }
    }

    fn ivr_enter_menu(&mut self, now: Instant, ep: &mut Endpoint, id: &str, menu: &str) {
        let Some(m) = self.ivr_menus.get(menu).cloned() else {
            tracing::warn!(call = %id, %menu, "IVR menu gone; hanging up");
            self.b2bua.hangup_with(now, ep, &mut self.media, id, "ivr_missing");
            return;
        };
        let (session, out) = Session::start(m);
        self.ivr_sessions.insert(id.to_owned(), session);
        self.publish("ivr_entered", Some(id), &[], serde_json::json!({"menu": menu}));
        self.ivr_output(now, ep, id, out);
    }

    fn ivr_output(&mut self, now: Instant, ep: &mut Endpoint, id: &str, out: Output) {
        match out {
            Output::Play(prompt) => {
                if !self.play_prompt(id, &prompt, false) {
                    // A tone (or a missing prompt) has no end: the wait for
                    // digits starts now.
                    if let Some(s) = self.ivr_sessions.get_mut(id) {
                        s.prompt_done(now);
                    }
                }
            }
            Output::Go(target) => {
                let menu = self.ivr_sessions.remove(id).map(|s| s.menu().to_owned()).unwrap_or_default();
                self.media.play(id, None);
                tracing::info!(call = %id, %menu, ?target, "IVR choice");
                self.publish("ivr_choice", Some(id), &[], serde_json::json!({"menu": menu, "target": serde_json::to_value(&target).unwrap_or_default()}));
                match target {
                    Target::Hangup => {
                        self.b2bua.hangup_with(now, ep, &mut self.media, id, "ivr_hangup");
                    }
                    Target::Ivr(m) => self.ivr_enter_menu(now, ep, id, &m),
                    Target::Queue(q) => self.join_parked(now, ep, id, &q),
                    Target::Extension(e) => self.transfer_parked(now, ep, id, &e),
                }
            }
        }
    }

    /// A digit from a parked caller (relay or INFO).
    pub(crate) fn caller_digit(&mut self, now: Instant, ep: &mut Endpoint, id: &str, d: char) {
        tracing::info!(call = %id, digit = %d, "DTMF");
        let (a, b) = self.parties.get(id).cloned().unwrap_or_default();
        self.publish("dtmf", Some(id), &[&a, &b], serde_json::json!({"digit": d.to_string(), "side": "caller", "caller": a, "callee": b}));
        // A callee that takes digits only as SIP INFO gets them so.
        self.b2bua.send_info_digit(now, ep, id, d);
        let out = self.ivr_sessions.get_mut(id).and_then(|s| s.digit(now, d));
        if let Some(out) = out {
            self.ivr_output(now, ep, id, out);
        } else if self.ivr_sessions.contains_key(id) {
            // Barge-in: the prompt stops at the first digit.
            self.media.play(id, None);
        }
        self.drain_calls(now, ep);
    }

    /// A digit from the callee (RFC 4733): an event, for the CRM or an
    /// agent's client (a survey, a transfer code); the call logic does
    /// not act on it.
    pub(crate) fn callee_digit(&mut self, id: &str, d: char) {
        tracing::info!(call = %id, digit = %d, "callee DTMF");
        let (a, b) = self.parties.get(id).cloned().unwrap_or_default();
        self.publish("dtmf", Some(id), &[&a, &b], serde_json::json!({"digit": d.to_string(), "side": "callee", "caller": a, "callee": b}));
    }

    /// A prompt played to its end.
    pub(crate) fn prompt_finished(&mut self, now: Instant, ep: &mut Endpoint, id: &str) {
        if self.dissuading.contains_key(id) {
            self.dissuade_done(now, ep, id);
        } else if let Some(s) = self.ivr_sessions.get_mut(id) {
            s.prompt_done(now);
        } else if self.queue_calls.get(id).is_some_and(|q| q.bridged.is_none() && !q.exiting) {
            // An announcement ended: the music goes on.
            self.play_moh(id);
        }
    }

    /// Ring an extension for a parked caller (an IVR choice): ringback
    /// meanwhile; if it does not answer, the call ends.
    pub(crate) fn transfer_parked(&mut self, now: Instant, ep: &mut Endpoint, id: &str, ext: &str) {
        let caller = self.parties.get(id).map(|p| p.0.clone()).unwrap_or_default();
        let legs = self.agent_legs(now, ext, &caller);
        self.put_parked_through(now, ep, id, ext, legs);
    }

    /// Put a parked caller through to `legs` (an extension's phones, or the
    /// node that owns a queue), with ringback meanwhile; if none answers,
    /// the call ends.
    pub(crate) fn put_parked_through(&mut self, now: Instant, ep: &mut Endpoint, id: &str, ext: &str, legs: Vec<b2bua::Leg>) {
        if legs.is_empty() || !self.b2bua.dial_agent(now, ep, id, 0, legs) {
            tracing::info!(call = %id, %ext, "IVR choice: extension unreachable");
            self.b2bua.hangup_with(now, ep, &mut self.media, id, "unreachable");
            return;
        }
        self.transfers.insert(id.to_owned());
        if let Some(spec) = self.ringback.clone() {
            let name = format!("tone:{}", spec_text(&spec));
            self.play_prompt(id, &name, true);
        }
    }

    pub(crate) fn ivr_poll_timeout(&self) -> Option<Instant> {
        self.ivr_sessions.values().filter_map(Session::poll_timeout).min()
    }

    pub(crate) fn ivr_timeouts(&mut self, now: Instant, ep: &mut Endpoint) {
        let due: Vec<String> = self.ivr_sessions.iter().filter(|(_, s)| s.poll_timeout().is_some_and(|t| t <= now)).map(|(id, _)| id.clone()).collect();
        for id in due {
            if let Some(out) = self.ivr_sessions.get_mut(&id).and_then(|s| s.handle_timeout(now)) {
                self.ivr_output(now, ep, &id, out);
            }
        }
        self.drain_calls(now, ep);
    }
}

/// A tone spec as text (`450@1000/4000`).
pub(crate) fn spec_text(s: &media::ToneSpec) -> String {
    let f: Vec<String> = s.freqs.iter().map(|f| format!("{f}")).collect();
    format!("{}@{}/{}", f.join("+"), s.on_ms, s.off_ms)
}
