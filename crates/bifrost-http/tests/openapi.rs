//! `GET /api/openapi.json`: a valid OpenAPI 3 document that describes every management route
//! the router serves, open even with admin auth.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{client, get_ok, http_get, start};
use serde_json::Value;

/// Every management route the router serves (`crate::routes::router` and the routers it
/// merges), as `METHOD path`. A route added there belongs here and in the document.
const ROUTES: &[&str] = &[
    "GET /api/openapi.json",
    "GET /api/version",
    "GET /api/config",
    "PUT /api/config",
    "GET /api/models",
    "GET /api/providers",
    "POST /api/providers",
    "GET /api/providers/{provider}",
    "PUT /api/providers/{provider}",
    "DELETE /api/providers/{provider}",
    "GET /api/providers/{provider}/keys",
    "POST /api/providers/{provider}/keys",
    "PUT /api/providers/{provider}/keys/{id}",
    "DELETE /api/providers/{provider}/keys/{id}",
    "GET /api/logs",
    "DELETE /api/logs",
    "GET /api/governance/budgets",
    "POST /api/governance/budgets",
    "GET /api/governance/budgets/{id}",
    "PUT /api/governance/budgets/{id}",
    "DELETE /api/governance/budgets/{id}",
    "GET /api/governance/rate-limits",
    "POST /api/governance/rate-limits",
    "GET /api/governance/rate-limits/{id}",
    "PUT /api/governance/rate-limits/{id}",
    "DELETE /api/governance/rate-limits/{id}",
    "GET /api/governance/customers",
    "POST /api/governance/customers",
    "GET /api/governance/customers/{id}",
    "PUT /api/governance/customers/{id}",
    "DELETE /api/governance/customers/{id}",
    "GET /api/governance/teams",
    "POST /api/governance/teams",
    "GET /api/governance/teams/{id}",
    "PUT /api/governance/teams/{id}",
    "DELETE /api/governance/teams/{id}",
    "GET /api/governance/virtual-keys",
    "POST /api/governance/virtual-keys",
    "GET /api/governance/virtual-keys/{id}",
    "PUT /api/governance/virtual-keys/{id}",
    "DELETE /api/governance/virtual-keys/{id}",
    "GET /api/governance/model-configs",
    "POST /api/governance/model-configs",
    "GET /api/governance/model-configs/{id}",
    "PUT /api/governance/model-configs/{id}",
    "DELETE /api/governance/model-configs/{id}",
    "GET /api/governance/virtual-keys/{id}/usage",
    "GET /api/governance/teams/{id}/usage",
    "GET /api/governance/customers/{id}/usage",
    "GET /api/logs/stats",
    "GET /api/logs/histogram",
    "GET /api/logs/filterdata",
    "GET /api/logs/dropped",
    "GET /api/logs/stream",
    "GET /api/logs/{id}",
    "POST /api/session/login",
    "POST /api/session/logout",
    "GET /api/session/is-auth-enabled",
    "GET /health",
    "GET /health/live",
    "GET /health/ready",
];

async fn document(url: &str) -> Value {
    get_ok(format!("{url}/api/openapi.json"), "application/json")
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_document_describes_every_management_route() {
    let gw = start(r#"{"providers":{"mock":{"keys":[]}}}"#).await;
    let doc = document(&gw.url).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                documented.push(format!("{} {path}", method.to_uppercase()));
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents no response"
                );
            }
        }
    }
    let missing: Vec<_> = ROUTES
        .iter()
        .filter(|r| !documented.iter().any(|d| d == *r))
        .collect();
    assert!(missing.is_empty(), "not documented: {missing:?}");
    let unknown: Vec<_> = documented
        .iter()
        .filter(|d| !ROUTES.contains(&d.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "documented but not in ROUTES: {unknown:?}"
    );

    // Each listed route is served: a request with the templates filled in is not the
    // router's fallback (404 `not_found` / 405 `method_not_allowed`).
    for route in ROUTES {
        if route.ends_with("/stream") {
            continue;
        }
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{provider}", "mock").replace("{id}", "x");
        let resp = client()
            .request(method.parse().unwrap(), format!("{}{path}", gw.url))
            .query(&[("all", "true")])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        // Only the fallbacks set `code`; the handlers' own 404s have `type` "not_found".
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            !matches!(code, "not_found" | "method_not_allowed"),
            "{route} is not routed: {status} {body}"
        );
    }

    // Every error answer is documented with the error shape.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ErrorBody"]["properties"]["error"].is_object());
    assert!(schemas["LogRow"]["properties"]["latency_ms"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["cookie"].is_object());
    gw.stop().await;
}

#[tokio::test]
async fn the_document_is_open_with_admin_auth() {
    let gw = start(
        r#"{"providers":{"mock":{"keys":[]}},
            "auth_config":{"is_enabled":true,"admin_username":"admin","admin_password":"pw"}}"#,
    )
    .await;
    let doc = document(&gw.url).await;
    // Documented as open; the rest of /api needs a session.
    assert_eq!(
        doc["paths"]["/api/openapi.json"]["get"]["security"],
        serde_json::json!([{}])
    );
    assert!(doc["paths"]["/api/providers"]["get"]["responses"]["401"].is_object());
    let resp = http_get(format!("{}/api/providers", gw.url)).await;
    assert_eq!(resp.status(), 401);
    gw.stop().await;
}
