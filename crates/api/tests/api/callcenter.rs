//! `/v1/queues`, `/v1/agents`, `/v1/tiers`: validation against the queue
//! engine's own types (unknown or mistyped fields are 422 naming the
//! field), tiers needing their queue and agent, cascading deletes, agent
//! actions and live views going to the running switch.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn queue_agent_tier_crud_with_validation_and_cascade() {
    let h = Harness::new().await;
    let before = h.directory_changes();
    let r = h.post("/v1/queues", json!({"name": "sales", "strategy": "round-robin", "max_wait_time": 120, "moh": "tone:425@1000/4000"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!((r.json()["spec"]["strategy"].as_str(), r.json()["spec"]["agent_ring_timeout"].as_u64()), (Some("round-robin"), Some(30)), "defaults filled in");
    assert_eq!(h.directory_changes(), before + 1, "the switch reloads");
    h.post("/v1/queues", json!({"name": "sales"})).await.assert_error(StatusCode::CONFLICT, "conflict", None);
    h.post("/v1/queues", json!({"name": "q2", "stratgy": "top-down"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("stratgy"));
    h.post("/v1/queues", json!({"name": "q2", "strategy": "fastest"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("strategy"));
    h.post("/v1/queues", json!({"name": "q2", "agent_ring_timeout": 0})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("agent_ring_timeout"));
    h.post("/v1/queues", json!({"strategy": "top-down"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("name"));

    let r = h.post("/v1/agents", json!({"name": "1000", "contact": "1000", "max_no_answer": 2, "wrap_up_time": 5})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    h.post("/v1/agents", json!({"name": "1001"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("contact"));
    h.post("/v1/agents", json!({"name": "1001", "contact": "1001", "type": "robot"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("type"));

    let r = h.post("/v1/tiers", json!({"queue": "sales", "agent": "1000", "level": 1, "position": 2})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["name"], "sales/1000");
    h.post("/v1/tiers", json!({"queue": "nope", "agent": "1000"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("queue"));
    h.post("/v1/tiers", json!({"queue": "sales", "agent": "9"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("agent"));
    h.post("/v1/tiers", json!({"queue": "sales", "agent": "1000", "state": "Offering"})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("state"));
    let r = h.patch("/v1/tiers/sales/1000", json!({"level": 3})).await;
    assert_eq!((r.status, r.json()["spec"]["level"].as_u64(), r.json()["spec"]["position"].as_u64()), (StatusCode::OK, Some(3), Some(2)), "{}", r.text());
    let r = h.patch("/v1/queues/sales", json!({"max_wait_time": null, "tier_rules_apply": true})).await;
    assert_eq!((r.json()["spec"]["max_wait_time"].as_u64(), r.json()["spec"]["tier_rules_apply"].as_bool(), r.json()["spec"]["strategy"].as_str()), (Some(0), Some(true), Some("round-robin")), "{}", r.text());

    // Live state of agents comes from the engine, merged under `live`.
    *h.control.cc_agents.lock().unwrap() = json!([{"name": "1000", "contact": "1000", "status": "On Break", "state": "Waiting", "calls_answered": 4}]);
    let r = h.get("/v1/agents/1000").await;
    assert_eq!((r.json()["live"]["status"].as_str(), r.json()["live"]["calls_answered"].as_u64(), r.json()["spec"]["max_no_answer"].as_u64()), (Some("On Break"), Some(4), Some(2)), "{}", r.text());
    assert!(r.json()["live"].get("contact").is_none(), "configuration only in spec");
    assert_eq!(h.get("/v1/agents").await.json()["items"][0]["live"]["state"], "Waiting");

    // Actions go to the engine; unknown actions and agents are 404.
    let r = h.call(axum::http::Method::POST, "/v1/agents/1000/break", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.control.cc_requests.lock().unwrap().last(), Some(&api::CcRequest::AgentAction("1000".into(), api::AgentAction::Break)));
    h.call(axum::http::Method::POST, "/v1/agents/1000/dance", None).await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.call(axum::http::Method::POST, "/v1/agents/77/login", None).await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(h.get("/v1/queues/sales/stats").await.json()["queue"], "sales");
    h.get("/v1/queues/nope/stats").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);

    // Deleting the queue takes its tiers.
    h.delete("/v1/queues/sales").await.assert_no_content();
    assert_eq!(h.get("/v1/tiers").await.json()["items"].as_array().map(Vec::len), Some(0));
    h.get("/v1/tiers/sales/1000").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
    h.delete("/v1/agents/1000").await.assert_no_content();
    h.delete("/v1/agents/1000").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn ivr_menus_are_validated_and_routes_can_name_them() {
    let h = Harness::new().await;
    let r = h.post("/v1/ivrs", json!({"name": "main", "prompt": "tone:425@1000/0", "choices": {"1": {"queue": "sales"}, "2": {"extension": "1000"}, "0": "hangup"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!((r.json()["spec"]["timeout"].as_u64(), r.json()["spec"]["retries"].as_u64()), (Some(5), Some(2)));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "", "choices": {"1": "hangup"}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("prompt"));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "p.wav", "choices": {}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("choices"));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "p.wav", "choices": {"12": "hangup"}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("choices"));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "p.wav", "choices": {"1": {"queue": ""}}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("choices.1"));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "p.wav", "choices": {"1": {"robot": "a"}}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("choices"));
    h.post("/v1/ivrs", json!({"name": "x", "prompt": "p.wav", "timeout": 0, "choices": {"1": "hangup"}})).await.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some("timeout"));
    let r = h.patch("/v1/ivrs/main", json!({"max_digits": 2, "choices": {"12": {"ivr": "sub"}}})).await;
    assert_eq!((r.status, r.json()["spec"]["choices"]["12"]["ivr"].as_str(), r.json()["spec"]["choices"]["1"]["queue"].as_str()), (StatusCode::OK, Some("sub"), Some("sales")), "{}", r.text());
    let r = h.post("/v1/routes", json!({"name": "menu-line", "destination_prefix": "7100", "action": {"ivr": "main"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    h.delete("/v1/ivrs/main").await.assert_no_content();
    h.get("/v1/ivrs/main").await.assert_error(StatusCode::NOT_FOUND, "not_found", None);
}
