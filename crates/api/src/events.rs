//! `GET /v1/events`: a WebSocket carrying the switch's events as JSON text
//! frames, each with a sequence number. Filters: `?call=UUID`, `?queue=Q`, `?agent=A`,
//! `?extension=EXT`, `?type=a,b`. Each client reads from a bounded
//! broadcast queue; a client that falls behind is sent one
//! `{"type":"overflow"}` notice and disconnected: nothing it does can slow
//! call handling, which never waits for a client.

use crate::{ApiError, ApiState};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// One event as published by the switch.
#[derive(Clone, Debug)]
pub struct LiveEvent {
    /// Monotonically increasing sequence number.
    pub seq: u64,
    /// Event type (`channel_answered`, `registration`, ...).
    pub kind: &'static str,
    /// The call UUID, for call events.
    pub call: Option<String>,
    /// Extensions involved (caller, callee, registrant).
    pub extensions: Vec<String>,
    /// The queue, for queue and agent events.
    pub queue: Option<String>,
    /// The agent, for agent events.
    pub agent: Option<String>,
    /// The JSON text sent to clients.
    pub json: String,
    /// Published by another node of the cluster (passed on to this node's
    /// WebSocket clients; each node pushes only its own to
    /// `http.events_push_url`).
    pub remote: bool,
}

/// Filters of `GET /v1/events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only events of this call.
    pub call: Option<String>,
    /// Only events involving this extension.
    pub extension: Option<String>,
    /// Only events of this queue.
    pub queue: Option<String>,
    /// Only events of this agent.
    pub agent: Option<String>,
    /// Only these types (comma-separated).
    #[serde(rename = "type")]
    pub kinds: Option<String>,
}

impl EventFilter {
    fn matches(&self, e: &LiveEvent) -> bool {
        self.call.as_ref().is_none_or(|c| e.call.as_deref() == Some(c.as_str()))
            && self.extension.as_ref().is_none_or(|x| e.extensions.iter().any(|y| y == x))
            && self.queue.as_ref().is_none_or(|q| e.queue.as_deref() == Some(q.as_str()))
            && self.agent.as_ref().is_none_or(|a| e.agent.as_deref() == Some(a.as_str()))
            && self.kinds.as_ref().is_none_or(|k| k.split(',').any(|k| k.trim() == e.kind))
    }
}

/// Event stream (WebSocket upgrade).
#[utoipa::path(get, path = "/v1/events", params(EventFilter), responses((status = 101, description = "WebSocket of JSON events"), (status = 400, body = crate::error::ErrorBody)))]
pub async fn events(
    State(st): State<ApiState>,
    q: Result<Query<EventFilter>, axum::extract::rejection::QueryRejection>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(filter) = q?;
    let ws = ws.map_err(|_| ApiError::bad_json("expected a WebSocket upgrade"))?;
    let rx = st.control.subscribe();
    // Bound what may wait for a client: past this the send fails and the
    // client is dropped (tungstenite's default would buffer without limit).
    Ok(ws.write_buffer_size(16 * 1024).max_write_buffer_size(128 * 1024).on_upgrade(move |socket| pump(socket, rx, filter)))
}

async fn pump(mut socket: WebSocket, mut rx: broadcast::Receiver<Arc<LiveEvent>>, filter: EventFilter) {
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(e) => {
                    if filter.matches(&e) {
                        // A client that does not read fills its TCP window;
                        // then it is dropped rather than waited for.
                        match tokio::time::timeout(std::time::Duration::from_secs(5), socket.send(Message::Text(e.json.clone().into()))).await {
                            Ok(Ok(())) => {}
                            _ => return,
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let notice = format!("{{\"type\":\"overflow\",\"missed\":{missed},\"message\":\"client too slow: disconnected\"}}");
                    let _ = socket.send(Message::Text(notice.into())).await;
                    let _ = socket.send(Message::Close(None)).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                _ => {}
            },
        }
    }
}
