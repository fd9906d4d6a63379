//! The governance plugin: its HTTP pre-hook, pre-hook, post-hook and usage events.

use super::*;

/// The governance plugin (a thin handle on the service).
pub struct GovernancePlugin(pub Arc<Governance>);

/// Rewrites a JSON body's bare `model` to `provider/model` and, on OpenAI-shaped routes,
/// adds the other providers as `fallbacks` (unless the client set its own).
fn rewrite_model(body: &mut bytes::Bytes, path: &str, gov: &Governance, vk: &VkRule) {
    if vk.provider_configs.is_empty() || !body.starts_with(b"{") {
        return;
    }
    let Ok(mut map) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
    else {
        return;
    };
    let Some(model) = map.get("model").and_then(|m| m.as_str()).map(str::to_owned) else {
        return;
    };
    if let Some((p, _)) = model.split_once('/') {
        if vk.provider_configs.iter().any(|pc| pc.provider == p) {
            return;
        }
    }
    let order = gov.route(vk, &model);
    let Some(primary) = order.first() else {
        return;
    };
    map.insert("model".into(), format!("{primary}/{model}").into());
    let openai_shaped = [
        "/chat/completions",
        "/completions",
        "/embeddings",
        "/responses",
    ]
    .iter()
    .any(|s| path.ends_with(s));
    if openai_shaped && order.len() > 1 && !map.contains_key("fallbacks") {
        let fb: Vec<serde_json::Value> = order[1..]
            .iter()
            .map(|p| format!("{p}/{model}").into())
            .collect();
        map.insert("fallbacks".into(), fb.into());
    }
    if let Ok(v) = serde_json::to_vec(&map) {
        *body = v.into();
    }
}

/// Wraps a streamed answer so that each relayed event is counted into `greq`.
fn count_events(result: &mut Result<Response, BifrostError>, greq: &Arc<GovRequest>) {
    use futures::StreamExt as _;
    let g = greq.clone();
    if matches!(
        result,
        Ok(Response::ChatStream(_)
            | Response::RawStream(_)
            | Response::Native(bifrost_core::providers::native::NativeResponse::Stream(_)))
    ) {
        greq.stream.store(true, Ordering::Relaxed);
    }
    match result {
        Ok(Response::ChatStream(c)) => {
            let inner = std::mem::replace(c, Box::pin(futures::stream::empty()));
            *c = Box::pin(inner.inspect(move |_| {
                g.events.fetch_add(1, Ordering::Relaxed);
            }));
        }
        Ok(Response::Native(bifrost_core::providers::native::NativeResponse::Stream(s))) => {
            let inner = std::mem::replace(&mut s.bytes, Box::pin(futures::stream::empty()));
            s.bytes = Box::pin(inner.inspect(move |_| {
                g.events.fetch_add(1, Ordering::Relaxed);
            }));
        }
        Ok(Response::RawStream(b)) => {
            let inner = std::mem::replace(b, Box::pin(futures::stream::empty()));
            *b = Box::pin(inner.inspect(move |item| {
                if let Ok(bytes) = item {
                    let n = bytes.windows(5).filter(|w| *w == b"data:").count();
                    g.events.fetch_add(n as u64, Ordering::Relaxed);
                }
            }));
        }
        _ => {}
    }
}

impl Plugin for GovernancePlugin {
    fn name(&self) -> &str {
        "governance"
    }

    fn http_pre_hook<'a>(
        &'a self,
        options: &'a mut RequestOptions,
        req: HttpRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<(), BifrostError>>> {
        let gov = &self.0;
        if let Some(h) = gov
            .settings
            .required_headers
            .iter()
            .find(|h| !req.headers.contains_key(h.as_str()))
        {
            gov.rejected("missing_required_header");
            let msg = format!("the header {h} is required");
            return Some(Box::pin(async move {
                Err(refuse(400, "missing_required_header", msg))
            }));
        }
        // Looked up before the headers that carry it are removed (no copy of the value).
        let found = find_vk(req.headers).map(|v| gov.snapshot.load().find(v));
        let vk = match found {
            None if gov.settings.mandatory => {
                gov.rejected("virtual_key_required");
                return Some(Box::pin(async {
                    Err(refuse(
                        401,
                        "virtual_key_required",
                        "a virtual key is required: send it in x-bf-vk (or as Bearer sk-bf-…)",
                    ))
                }));
            }
            None => None,
            Some(found) => {
                // Virtual keys are ours: none goes upstream, nor counts as a provider key.
                strip_vks(req.headers);
                match found {
                    Some(vk) if vk.active => Some(vk),
                    found => {
                        let (code, msg) = if found.is_some() {
                            ("virtual_key_inactive", "this virtual key is inactive")
                        } else {
                            ("virtual_key_not_found", "unknown virtual key")
                        };
                        gov.rejected(code);
                        return Some(Box::pin(async move { Err(refuse(401, code, msg)) }));
                    }
                }
            }
        };
        if let Some(vk) = &vk {
            if let Some(entry) = options.extensions.get::<Arc<LogEntry>>() {
                entry.virtual_key(&vk.id, &vk.name);
            }
            rewrite_model(req.body, req.path, gov, vk);
        }
        // Only a JSON body says something about prompt tokens (not audio uploads).
        let prompt_bytes = if req.body.first() == Some(&b'{') {
            req.body.len()
        } else {
            0
        };
        options.extensions.insert(Arc::new(GovRequest {
            vk,
            prompt_bytes,
            used: Mutex::new(None),
            events: AtomicU64::new(0),
            stream: AtomicBool::new(false),
            cut: AtomicBool::new(false),
        }));
        None
    }

    fn pre_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        req: &'a mut Request,
    ) -> Option<BoxFuture<'a, PreHook>> {
        let gov = &self.0;
        // A previous target's reservation is settled as this one starts.
        drop(ctx.options.extensions.remove::<Arc<Pending>>());
        let greq = ctx.options.extensions.get::<Arc<GovRequest>>()?.clone();
        let snap = gov.snapshot.load();
        if greq.vk.is_none()
            && snap
                .model_limits(&ctx.provider, &ctx.model)
                .next()
                .is_none()
        {
            return None;
        }
        let plan = match gov.plan(&snap, ctx, req, &greq) {
            Ok(plan) => plan,
            Err(e) => return Some(Box::pin(async move { fail(e, false) })),
        };
        drop(snap);
        // A lease's name in Redis (only concurrency limits hold one).
        let member = if plan.checks.iter().any(|c| c.spec.kind == Kind::Concurrency) {
            format!("{}:{}", ctx.options.request_id, fastrand::u64(..))
        } else {
            String::new()
        };
        // Counters in memory answer at once: no future to box.
        if let Some(r) = gov.counters.reserve_local(&plan.checks, &member) {
            return match gov.reserved(ctx, greq, plan, r) {
                PreHook::Continue => None,
                other => Some(Box::pin(async move { other })),
            };
        }
        Some(Box::pin(async move {
            let r = gov.counters.reserve(&plan.checks, &member).await;
            gov.reserved(ctx, greq, plan, r)
        }))
    }

    fn post_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        result: &'a mut Result<Response, BifrostError>,
    ) -> Option<BoxFuture<'a, ()>> {
        if result.is_err() {
            if let Some(p) = ctx.options.extensions.get::<Arc<Pending>>() {
                p.failed.store(true, Ordering::Relaxed);
            }
            return None;
        }
        // A reserved stream counts its events as they pass (for a client that leaves early).
        if ctx.options.extensions.get::<Arc<Pending>>().is_some() {
            if let Some(greq) = ctx.options.extensions.get::<Arc<GovRequest>>() {
                count_events(result, greq);
            }
        }
        // A forwarded JSON answer's usage, which the engine does not read.
        if let Ok(Response::Raw(r)) = &*result {
            if r.content_type.contains("json") {
                #[derive(serde::Deserialize)]
                struct WithUsage {
                    usage: Option<Usage>,
                }
                if let Ok(WithUsage { usage: Some(u) }) = serde_json::from_slice(&r.body) {
                    let (provider, model) = (ctx.provider.clone(), ctx.model.clone());
                    self.record(ctx, &provider, &model, ctx.request_type.as_str(), &u);
                }
            }
        }
        // A unary answer's usage was reported already: its cost goes in a header.
        let greq = ctx.options.extensions.get::<Arc<GovRequest>>()?;
        let cost = lock(&greq.used).as_ref().and_then(|(_, c)| *c);
        if let Some(c) = cost {
            ctx.response_headers
                .insert(X_BF_COST.clone(), cost_header(c));
        }
        None
    }

    fn on_event(&self, ctx: &RequestContext, event: &Event<'_>) {
        match event {
            Event::Tokens {
                provider,
                model,
                request_type,
                usage,
            } => self.record(ctx, provider, model, request_type, usage),
            Event::RequestEnd {
                outcome: bifrost_core::Outcome::Cancelled,
                ..
            } => {
                if let Some(greq) = ctx.options.extensions.get::<Arc<GovRequest>>() {
                    greq.cut.store(true, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

impl GovernancePlugin {
    /// Prices `usage` and keeps it for the reconciliation, the log row and `bifrost_cost_total`.
    fn record(
        &self,
        ctx: &RequestContext,
        provider: &str,
        model: &str,
        request_type: &str,
        usage: &Usage,
    ) {
        let cost = self
            .0
            .pricing
            .price(provider, model, request_type)
            .map(|p| p.cost(usage));
        if let Some(greq) = ctx.options.extensions.get::<Arc<GovRequest>>() {
            *lock(&greq.used) = Some((usage.clone(), cost.map(model::micros)));
        }
        if let Some(c) = cost {
            if let Some(entry) = ctx.options.extensions.get::<Arc<LogEntry>>() {
                entry.cost(c);
            }
            if let Some(m) = &self.0.metrics {
                m.cost
                    .with_label_values(&[provider, model, request_type])
                    .inc_by(c);
            }
        }
    }
}

static X_BF_COST: HeaderName = HeaderName::from_static("x-bf-cost");

/// `x-bf-cost`: the micro-dollars as USD with six decimals, as `{:.6}` writes them, without a
/// formatter (this runs on every answer).
fn cost_header(micros: i64) -> HeaderValue {
    let (sign, m) = if micros < 0 {
        ("-", micros.unsigned_abs())
    } else {
        ("", micros.unsigned_abs())
    };
    let (mut whole, mut frac) = (itoa::Buffer::new(), itoa::Buffer::new());
    let frac = frac.format(m % 1_000_000);
    let mut s = String::with_capacity(28);
    s.push_str(sign);
    s.push_str(whole.format(m / 1_000_000));
    s.push('.');
    s.extend(std::iter::repeat_n('0', 6 - frac.len()));
    s.push_str(frac);
    HeaderValue::try_from(s).unwrap_or(HeaderValue::from_static("0.000000"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cost_header_writes_what_the_formatter_wrote() {
        for c in [
            0,
            1,
            9,
            10,
            999_999,
            1_000_000,
            1_234_567,
            10_000,
            123_456_789_012,
            -5,
        ] {
            let want = format!("{:.6}", c as f64 / 1e6);
            assert_eq!(super::cost_header(c).to_str().unwrap(), want, "{c}");
        }
    }
}
