//! What a virtual key costs a request with counters in memory: the HTTP pre-hook (find, hash
//! and look up the key) and the pre-hook (check and reserve a rate limit, a token limit and a
//! budget), then the reconciliation when the request's context goes away — against the same
//! hooks for a request without a key. `cargo bench -p bifrost-http --bench governance`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bifrost_core::{
    ChatRequest, HttpRequest, Plugin, Request, RequestContext, RequestOptions, RequestType,
};
use bifrost_http::governance::counters::Counters;
use bifrost_http::governance::model::Entities;
use bifrost_http::governance::pricing::Pricing;
use bifrost_http::governance::{Governance, GovernancePlugin, Settings};
use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::Arc;

const BODY: &[u8] =
    br#"{"model":"openai/gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"Hello!"}]}"#;

fn plugin() -> GovernancePlugin {
    let entities: Entities = serde_json::from_str(
        r#"{"budgets":[{"id":"b","max_limit":1000000,"reset_duration":"1h"}],
            "rate_limits":[{"id":"r","request_max_limit":1000000000,"request_reset_duration":"1h",
                            "token_max_limit":1000000000000,"token_reset_duration":"1h"}],
            "virtual_keys":[{"id":"vk","value":"sk-bf-bench","budget_id":"b","rate_limit_id":"r"}]}"#,
    )
    .unwrap();
    let gov = Governance::new(
        entities,
        Counters::memory(),
        Arc::new(Pricing::new(Vec::new())),
        Settings::default(),
        None,
        None,
    )
    .unwrap();
    GovernancePlugin(gov)
}

async fn one(p: &GovernancePlugin, vk: Option<&str>) {
    let mut headers = http::HeaderMap::new();
    if let Some(v) = vk {
        headers.insert("x-bf-vk", v.parse().unwrap());
    }
    let mut body = bytes::Bytes::from_static(BODY);
    let mut options = RequestOptions::default();
    let method = http::Method::POST;
    if let Some(f) = p.http_pre_hook(
        &mut options,
        HttpRequest {
            method: &method,
            path: "/v1/chat/completions",
            headers: &mut headers,
            body: &mut body,
        },
    ) {
        f.await.unwrap();
    }
    let mut ctx = RequestContext::new(options, RequestType::ChatCompletion);
    ctx.provider = Arc::from("openai");
    ctx.model = "gpt-4o-mini".to_owned();
    let mut req = Request::Chat(Box::new(
        serde_json::from_slice::<ChatRequest>(BODY).unwrap(),
    ));
    if let Some(f) = p.pre_hook(&mut ctx, &mut req) {
        let _ = f.await;
    }
    drop(ctx);
    tokio::task::yield_now().await;
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = plugin();
    c.bench_function("governance/no virtual key", |b| {
        b.iter(|| rt.block_on(one(&p, None)))
    });
    c.bench_function("governance/virtual key, memory counters", |b| {
        b.iter(|| rt.block_on(one(&p, Some("sk-bf-bench"))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
