//! Two custom plugins on the engine's pipeline: one refuses models by name (a pre-hook that
//! short-circuits, letting a fallback serve), one stamps every answer with a header saying who
//! served it (a post-hook) and counts upstream attempts (an event listener).
//!
//! `cargo run -p bifrost-core --example plugins` runs against an in-process mock provider and
//! checks what it prints (scripts/test.sh runs it).

mod common;

use bifrost_core::{
    Bifrost, BifrostConfig, BifrostError, ChatMessage, ChatRequest, Event, Plugin, PreHook,
    Request, RequestContext, Response, ShortCircuit, StaticAccount,
};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Refuses the listed models. A refusal allows fallbacks, so a request that names one can
/// still be served by the next target.
struct ModelBlocklist {
    blocked: Vec<String>,
}

impl Plugin for ModelBlocklist {
    fn name(&self) -> &str {
        "model-blocklist"
    }

    fn pre_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        _req: &'a mut Request,
    ) -> Option<BoxFuture<'a, PreHook>> {
        // The target's upstream model is in the context (aliases and prefixes resolved).
        if !self.blocked.contains(&ctx.model) {
            // Nothing to do: `None` passes without even a future.
            return None;
        }
        let mut error =
            BifrostError::invalid_request(format!("model '{}' is blocked by policy", ctx.model));
        error.status = 403;
        error.code = Some("model_blocked".into());
        Some(Box::pin(async move {
            PreHook::ShortCircuit(Box::new(ShortCircuit::Fail {
                error,
                allow_fallbacks: true,
            }))
        }))
    }
}

/// Adds `x-served-by: provider/model` to every answer and counts upstream attempts.
#[derive(Default)]
struct ServedBy {
    attempts: AtomicUsize,
}

impl Plugin for ServedBy {
    fn name(&self) -> &str {
        "served-by"
    }

    fn post_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        result: &'a mut Result<Response, BifrostError>,
    ) -> Option<BoxFuture<'a, ()>> {
        if result.is_err() {
            return None;
        }
        let value = format!("{}/{}", ctx.provider, ctx.model);
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            ctx.response_headers.insert("x-served-by", v);
        }
        None
    }

    fn on_event(&self, _ctx: &RequestContext, event: &Event<'_>) {
        if let Event::Attempt(_) = event {
            self.attempts.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mock, config) = common::start_mock_provider().await?;
    let served_by = Arc::new(ServedBy::default());
    let engine = Bifrost::init(
        BifrostConfig::new(StaticAccount::new().with_provider("mock", config, Vec::new()))
            .with_plugin(Arc::new(ModelBlocklist {
                blocked: vec!["gpt-4o".into()],
            }))
            .with_plugin(served_by.clone()),
    )?;
    let ask = |model: &str, fallback: Option<&str>| {
        let mut req = ChatRequest::new("mock", model, vec![ChatMessage::user("Hello!")]);
        if let Some(f) = fallback {
            req.fallbacks = vec![bifrost_core::schemas::Fallback {
                provider: Some("mock".into()),
                model: f.into(),
            }];
        }
        req
    };

    // Allowed: served, stamped.
    let ok = engine.chat_completion(ask("gpt-4o-mini", None)).await?;
    let stamp = ok.meta.headers.get("x-served-by").cloned();
    println!("gpt-4o-mini → 200, x-served-by: {stamp:?}");
    assert_eq!(
        stamp.as_ref().map(|v| v.as_bytes()),
        Some(&b"mock/gpt-4o-mini"[..])
    );

    // Blocked with a fallback: the fallback serves it, and no upstream call was spent on the
    // blocked model.
    let before = served_by.attempts.load(Ordering::Relaxed);
    let fell_back = engine
        .chat_completion(ask("gpt-4o", Some("gpt-4o-mini")))
        .await?;
    println!(
        "gpt-4o (fallback gpt-4o-mini) → 200 from {} (fallback index {}), x-served-by: {:?}",
        fell_back.meta.model,
        fell_back.meta.fallback_index,
        fell_back.meta.headers.get("x-served-by")
    );
    assert_eq!(fell_back.meta.fallback_index, 1);
    assert_eq!(served_by.attempts.load(Ordering::Relaxed) - before, 1);

    // Blocked, nothing else to try: the plugin's refusal is the answer.
    let Err(refused) = engine.chat_completion(ask("gpt-4o", None)).await else {
        return Err("a blocked model was served".into());
    };
    println!(
        "gpt-4o → {} {:?}: {}",
        refused.status, refused.code, refused.message
    );
    assert_eq!(refused.status, 403);
    assert_eq!(refused.code.as_deref(), Some("model_blocked"));

    engine.shutdown().await;
    mock.shutdown();
    println!("plugins example: ok");
    Ok(())
}
