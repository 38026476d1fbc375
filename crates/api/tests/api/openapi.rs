//! `GET /v1/openapi.json` matches the router: every route with its methods,
//! the bearer scheme, and response schemas that real responses conform to.

use crate::support::*;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The routes this suite knows, with their methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/v1/health", &["get"]),
    ("/v1/extensions", &["get", "post"]),
    ("/v1/extensions/{number}", &["delete", "get", "patch"]),
    ("/v1/registrations", &["get"]),
    ("/v1/security/blocks", &["get"]),
    ("/v1/security/blocks/{ip}", &["delete"]),
];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn served_doc(h: &Harness) -> Value {
    let r = h.get("/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.content_type(), Some("application/json"));
    r.json().clone()
}

fn methods(doc: &Value, path: &str) -> BTreeSet<String> {
    doc["paths"][path]
        .as_object()
        .unwrap_or_else(|| panic!("{path} not in the document"))
        .keys()
        .filter(|k| HTTP_METHODS.contains(&k.as_str()))
        .cloned()
        .collect()
}

fn op<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    let o = &doc["paths"][path][method];
    assert!(o.is_object(), "{method} {path} not in the document");
    o
}

/// Follows `#/components/schemas/X`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {r}"));
            let s = &doc["components"]["schemas"][name];
            assert!(s.is_object(), "dangling $ref {r}");
            resolve(doc, s)
        }
        None => schema,
    }
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "schema {name} missing");
    s
}

fn str_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn props(s: &Value) -> BTreeSet<String> {
    s["properties"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Checks `v` against a (utoipa-shaped) JSON schema: types, required
/// properties, no properties beyond the declared ones, arrays, refs,
/// oneOf/allOf. Returns what does not fit.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema);
    if let Some(alts) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let errs: Vec<String> = alts
            .iter()
            .filter_map(|s| conforms(doc, s, v, at).err())
            .collect();
        if errs.len() == alts.len() {
            return Err(format!("{at}: matches no alternative: {errs:?}"));
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            conforms(doc, s, v, at)?;
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(|x| x.as_str().unwrap()).collect(),
            _ => panic!("odd type {t}"),
        };
        let ok = types.iter().any(|t| match *t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "null" => v.is_null(),
            other => panic!("odd type {other}"),
        });
        if !ok {
            return Err(format!("{at}: {v} is not {types:?}"));
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            for r in str_set(&schema["required"]) {
                if !o.contains_key(&r) {
                    return Err(format!("{at}: required {r:?} missing from {v}"));
                }
            }
            for (k, x) in o {
                let s = p
                    .get(k)
                    .ok_or_else(|| format!("{at}: {k:?} is returned but not declared"))?;
                conforms(doc, s, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            conforms(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn served_document_is_the_generated_one_and_needs_the_token() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    assert_eq!(doc, serde_json::to_value(api::openapi()).unwrap());
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let r = h
        .send(
            Request::get("/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.assert_error(StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test]
async fn every_route_is_documented_with_its_methods() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    for (path, want) in ROUTES {
        let want: BTreeSet<String> = want.iter().map(|m| m.to_string()).collect();
        assert_eq!(methods(&doc, path), want, "{path}");
    }
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    // The other direction: nothing in the document is missing from the
    // router (a fallback 404 or a 405 would mean it is).
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(!paths.is_empty());
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "placeholder-1"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for m in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| HTTP_METHODS.contains(&k.as_str()))
        {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let body = matches!(m.as_str(), "post" | "patch").then(|| json!({}));
            let r = h.call(method, &concrete, body).await;
            assert_ne!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{m} {path} is documented but not routed"
            );
            if r.status == StatusCode::NOT_FOUND {
                let msg = r.json()["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert!(
                    !msg.contains("route"),
                    "{m} {path} is documented but not routed: {msg}"
                );
            }
        }
    }
}

#[tokio::test]
async fn path_and_paging_parameters_are_declared() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    for (path, ms) in ROUTES {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for m in *ms {
            let params = op(&doc, path, m)["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for n in &names {
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == *n && p["in"] == "path" && p["required"] == true),
                    "{m} {path}: path parameter {n} not declared: {params:?}"
                );
            }
        }
    }
    for path in ["/v1/extensions", "/v1/registrations", "/v1/security/blocks"] {
        let params = op(&doc, path, "get")["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for n in ["limit", "cursor"] {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == n && p["in"] == "query" && p["required"] != true),
                "GET {path}: optional query parameter {n} not declared: {params:?}"
            );
        }
    }
}

#[tokio::test]
async fn bearer_scheme_applies_to_everything_but_health() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer"})
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, o) in item.as_object().unwrap() {
            if path == "/v1/health" {
                assert_eq!(
                    o["security"],
                    json!([{}]),
                    "health must be documented as open"
                );
            } else {
                // Inherits the global requirement (or repeats it).
                assert!(
                    o.get("security").is_none() || o["security"] == json!([{"bearer": []}]),
                    "{m} {path}: {}",
                    o["security"]
                );
            }
        }
    }
}

#[tokio::test]
async fn response_schemas_name_the_right_types() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    let body_ref = |path: &str, m: &str, status: &str| -> Option<String> {
        let r = &op(&doc, path, m)["responses"][status];
        assert!(r.is_object(), "{m} {path}: {status} not documented");
        r["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(|s| s.rsplit('/').next().unwrap().to_owned())
    };
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("/v1/health", "get", "200", Some("Health")),
        ("/v1/health", "get", "503", Some("Health")),
        ("/v1/extensions", "get", "200", Some("ExtensionPage")),
        ("/v1/extensions", "get", "422", Some("ErrorBody")),
        ("/v1/extensions", "post", "201", Some("ExtensionCreated")),
        ("/v1/extensions", "post", "400", Some("ErrorBody")),
        ("/v1/extensions", "post", "409", Some("ErrorBody")),
        ("/v1/extensions", "post", "422", Some("ErrorBody")),
        (
            "/v1/extensions/{number}",
            "get",
            "200",
            Some("ExtensionView"),
        ),
        ("/v1/extensions/{number}", "get", "404", Some("ErrorBody")),
        (
            "/v1/extensions/{number}",
            "patch",
            "200",
            Some("ExtensionCreated"),
        ),
        ("/v1/extensions/{number}", "patch", "404", Some("ErrorBody")),
        ("/v1/extensions/{number}", "patch", "422", Some("ErrorBody")),
        ("/v1/extensions/{number}", "delete", "204", None),
        (
            "/v1/extensions/{number}",
            "delete",
            "404",
            Some("ErrorBody"),
        ),
        ("/v1/registrations", "get", "200", Some("RegistrationPage")),
        ("/v1/security/blocks", "get", "200", Some("BlockPage")),
        ("/v1/security/blocks/{ip}", "delete", "204", None),
        (
            "/v1/security/blocks/{ip}",
            "delete",
            "404",
            Some("ErrorBody"),
        ),
        (
            "/v1/security/blocks/{ip}",
            "delete",
            "422",
            Some("ErrorBody"),
        ),
    ];
    for (path, m, status, want) in cases {
        assert_eq!(
            body_ref(path, m, status).as_deref(),
            *want,
            "{m} {path} {status}"
        );
    }
    assert_eq!(
        op(&doc, "/v1/extensions", "post")["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        "#/components/schemas/NewExtensionRequest"
    );
    assert_eq!(
        op(&doc, "/v1/extensions/{number}", "patch")["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/PatchExtensionRequest"
    );
}

#[tokio::test]
async fn schema_properties_match_real_responses() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;

    // ExtensionCreated and ExtensionView: every key returned is declared,
    // every declared key is returned, and all of them are required.
    let created = h
        .post("/v1/extensions", json!({"number": "1001"}))
        .await
        .json()
        .clone();
    let s = schema(&doc, "ExtensionCreated");
    assert_eq!(props(s), keys(&created));
    assert_eq!(str_set(&s["required"]), keys(&created));
    let view = h.get("/v1/extensions/1001").await.json().clone();
    let s = schema(&doc, "ExtensionView");
    assert_eq!(props(s), keys(&view));
    assert_eq!(str_set(&s["required"]), keys(&view));
    assert_eq!(keys(&created["extension"]), keys(&view));

    // The error body: `field` only on validation errors, so not required.
    let invalid = h
        .post("/v1/extensions", json!({"number": ""}))
        .await
        .json()
        .clone();
    let missing = h.get("/v1/extensions/9999").await.json().clone();
    let s = schema(&doc, "ErrorBody");
    assert_eq!(props(s), set(&["error"]));
    assert_eq!(str_set(&s["required"]), set(&["error"]));
    let s = schema(&doc, "ErrorDetail");
    assert_eq!(props(s), keys(&invalid["error"]));
    assert_eq!(props(s), set(&["code", "message", "field"]));
    assert_eq!(str_set(&s["required"]), keys(&missing["error"]));
    assert_eq!(str_set(&s["required"]), set(&["code", "message"]));

    // The rest, by key sets.
    h.set_registrations(vec![registration("1001", "sip:1001@192.0.2.7")]);
    h.set_blocks(vec![block("192.0.2.1")]);
    let health = h.get("/v1/health").await.json().clone();
    assert_eq!(props(schema(&doc, "Health")), keys(&health));
    for (uri, page, item) in [
        ("/v1/extensions", "ExtensionPage", "ExtensionView"),
        ("/v1/registrations", "RegistrationPage", "RegistrationView"),
        ("/v1/security/blocks", "BlockPage", "BlockView"),
    ] {
        let body = h.get(uri).await.json().clone();
        assert_eq!(props(schema(&doc, page)), keys(&body), "{page}");
        assert_eq!(props(schema(&doc, item)), keys(&body["items"][0]), "{item}");
        let req = str_set(&schema(&doc, item)["required"]);
        assert!(req.is_subset(&keys(&body["items"][0])), "{item}: {req:?}");
    }
}

/// (method, documented path, concrete URI, body) of requests that each
/// produce one documented outcome.
fn exercise() -> Vec<(Method, &'static str, String, Option<Value>)> {
    let e = "/v1/extensions/{number}";
    vec![
        (Method::GET, "/v1/health", "/v1/health".into(), None),
        (
            Method::POST,
            "/v1/extensions",
            "/v1/extensions".into(),
            Some(json!({"number": "1001", "codecs": ["PCMU"], "tags": {"k": [1]}})),
        ),
        (
            Method::POST,
            "/v1/extensions",
            "/v1/extensions".into(),
            Some(json!({"number": "1001"})),
        ),
        (
            Method::POST,
            "/v1/extensions",
            "/v1/extensions".into(),
            Some(json!({"number": "no way"})),
        ),
        (
            Method::POST,
            "/v1/extensions",
            "/v1/extensions".into(),
            Some(json!({"number": "1009", "bogus": 1})),
        ),
        (Method::GET, "/v1/extensions", "/v1/extensions".into(), None),
        (
            Method::GET,
            "/v1/extensions",
            "/v1/extensions?limit=0".into(),
            None,
        ),
        (Method::GET, e, "/v1/extensions/1001".into(), None),
        (Method::GET, e, "/v1/extensions/9999".into(), None),
        (
            Method::PATCH,
            e,
            "/v1/extensions/1001".into(),
            Some(json!({"display_name": "D"})),
        ),
        (
            Method::PATCH,
            e,
            "/v1/extensions/1001".into(),
            Some(json!({"reset_password": true})),
        ),
        (
            Method::PATCH,
            e,
            "/v1/extensions/1001".into(),
            Some(json!({"tags": 1})),
        ),
        (
            Method::PATCH,
            e,
            "/v1/extensions/9999".into(),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/v1/registrations",
            "/v1/registrations?limit=1".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/registrations",
            "/v1/registrations?limit=0".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/security/blocks",
            "/v1/security/blocks?limit=1".into(),
            None,
        ),
        (
            Method::GET,
            "/v1/security/blocks",
            "/v1/security/blocks?limit=5000".into(),
            None,
        ),
        (
            Method::DELETE,
            "/v1/security/blocks/{ip}",
            "/v1/security/blocks/192.0.2.1".into(),
            None,
        ),
        (
            Method::DELETE,
            "/v1/security/blocks/{ip}",
            "/v1/security/blocks/192.0.2.1".into(),
            None,
        ),
        (
            Method::DELETE,
            "/v1/security/blocks/{ip}",
            "/v1/security/blocks/nope".into(),
            None,
        ),
        (Method::DELETE, e, "/v1/extensions/1001".into(), None),
        (Method::DELETE, e, "/v1/extensions/1001".into(), None),
    ]
}

async fn prime(h: &Harness) {
    let mut r2 = registration("1002", "sip:1002@192.0.2.9");
    r2.user_agent = None;
    h.set_registrations(vec![registration("1001", "sip:1001@192.0.2.7"), r2]);
    h.set_blocks(vec![block("192.0.2.1"), block("192.0.2.2")]);
}

#[tokio::test]
async fn real_responses_conform_to_their_documented_schemas() {
    let h = Harness::new().await;
    prime(&h).await;
    let doc = served_doc(&h).await;
    let mut seen: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (method, path, uri, body) in exercise() {
        let r = h.call(method.clone(), &uri, body.clone()).await;
        let what = format!(
            "{method} {uri} {}",
            body.map(|b| b.to_string()).unwrap_or_default()
        );
        seen.entry(format!("{method} {path}"))
            .or_default()
            .insert(r.status.as_u16());
        let resp = &op(&doc, path, &method.as_str().to_lowercase())["responses"][r.status.as_str()];
        assert!(
            resp.is_object(),
            "{what}: status {} is not documented",
            r.status
        );
        match resp["content"]["application/json"]["schema"].as_object() {
            Some(_) => {
                let s = &resp["content"]["application/json"]["schema"];
                conforms(&doc, s, r.json(), "$").unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            None => assert!(r.bytes.is_empty(), "{what}: undocumented body {}", r.text()),
        }
    }
    // The exercise reached the outcomes it meant to.
    let want: BTreeMap<String, BTreeSet<u16>> = [
        ("GET /v1/health", &[200][..]),
        ("POST /v1/extensions", &[201, 409, 422]),
        ("GET /v1/extensions", &[200, 422]),
        ("GET /v1/extensions/{number}", &[200, 404]),
        ("PATCH /v1/extensions/{number}", &[200, 404, 422]),
        ("DELETE /v1/extensions/{number}", &[204, 404]),
        ("GET /v1/registrations", &[200, 422]),
        ("GET /v1/security/blocks", &[200, 422]),
        ("DELETE /v1/security/blocks/{ip}", &[204, 404, 422]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.iter().copied().collect()))
    .collect();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn draining_health_conforms() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    h.set_draining(true);
    let r = h.get("/v1/health").await;
    let s =
        &op(&doc, "/v1/health", "get")["responses"]["503"]["content"]["application/json"]["schema"];
    conforms(&doc, s, r.json(), "$").unwrap();
}

#[tokio::test]
async fn request_schemas_declare_exactly_the_accepted_fields() {
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    let new = schema(&doc, "NewExtensionRequest");
    let accepted = set(&[
        "number",
        "password",
        "display_name",
        "enabled",
        "caller_id_name",
        "caller_id_number",
        "codecs",
        "max_calls",
        "record",
        "tags",
    ]);
    assert_eq!(props(new), accepted);
    // Each declared field is indeed accepted (deny_unknown_fields would 422).
    let full = json!({
        "number": "1001", "password": "long-enough", "display_name": "", "enabled": true, "caller_id_name": "",
        "caller_id_number": "", "codecs": [], "max_calls": 0, "record": false, "tags": {},
    });
    assert_eq!(keys(&full), accepted);
    assert_eq!(
        h.post("/v1/extensions", full).await.status,
        StatusCode::CREATED
    );

    let patch = schema(&doc, "PatchExtensionRequest");
    let accepted = set(&[
        "password",
        "reset_password",
        "display_name",
        "enabled",
        "caller_id_name",
        "caller_id_number",
        "codecs",
        "max_calls",
        "record",
        "tags",
    ]);
    assert_eq!(props(patch), accepted);
    assert_eq!(
        str_set(&patch["required"]),
        BTreeSet::new(),
        "every PATCH field is optional"
    );
    let full = json!({
        "password": "long-enough", "reset_password": false, "display_name": "", "enabled": true, "caller_id_name": "",
        "caller_id_number": "", "codecs": [], "max_calls": 0, "record": false, "tags": {},
    });
    assert_eq!(keys(&full), accepted);
    assert_eq!(
        h.patch("/v1/extensions/1001", full).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn new_extension_request_requires_only_number() {
    // POST /v1/extensions {"number":"1001"} → 201, yet the schema says
    // required: ["number", "tags"]. Generated clients would always send tags.
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    assert_eq!(
        h.post("/v1/extensions", json!({"number": "1001"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        str_set(&schema(&doc, "NewExtensionRequest")["required"]),
        set(&["number"])
    );
}

#[tokio::test]

async fn every_status_returned_is_documented() {
    // e.g. GET /v1/extensions without a token → 401 ErrorBody, but the
    // operation documents only 200 and 422; POST /v1/extensions without
    // Content-Type → 415, documented: 201, 400, 409, 422.
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    let mut missing = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, o) in item.as_object().unwrap() {
            let responses = &o["responses"];
            if path != "/v1/health" && !responses["401"].is_object() {
                missing.push(format!("{m} {path} 401"));
            }
            if matches!(m.as_str(), "post" | "patch") && !responses["415"].is_object() {
                missing.push(format!("{m} {path} 415"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

#[tokio::test]
async fn the_conformance_check_itself_catches_mismatches() {
    // So that `real_responses_conform_to_their_documented_schemas` cannot
    // pass vacuously.
    let h = Harness::new().await;
    let doc = served_doc(&h).await;
    let view = json!({"$ref": "#/components/schemas/ExtensionView"});
    let good = h
        .post("/v1/extensions", json!({"number": "1001"}))
        .await
        .json()["extension"]
        .clone();
    conforms(&doc, &view, &good, "$").unwrap();
    let mut extra = good.clone();
    extra["ha1_md5"] = json!("00");
    assert!(
        conforms(&doc, &view, &extra, "$").is_err(),
        "undeclared key accepted"
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("enabled");
    assert!(
        conforms(&doc, &view, &missing, "$").is_err(),
        "missing required key accepted"
    );
    let mut wrong = good.clone();
    wrong["max_calls"] = json!("3");
    assert!(
        conforms(&doc, &view, &wrong, "$").is_err(),
        "wrong type accepted"
    );
    let page = json!({"$ref": "#/components/schemas/ExtensionPage"});
    assert!(
        conforms(
            &doc,
            &page,
            &json!({"items": [extra], "next_cursor": null}),
            "$"
        )
        .is_err(),
        "array items not checked"
    );
    let err = json!({"$ref": "#/components/schemas/ErrorBody"});
    assert!(
        conforms(&doc, &err, &json!({"error": {"code": "x"}}), "$").is_err(),
        "nested ref not checked"
    );
}
