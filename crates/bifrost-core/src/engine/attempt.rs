//! Phase 3, attempt one target: select a key → wait for a provider slot → call the provider →
//! report the attempt → decide (retry on this or another key, or give the target up). Pre- and
//! post-hooks wrap this whole phase, once per target.

use super::call::{self, Answer, Request};
use super::context::RequestContext;
use super::decision::{self, Decision, Failure, Next, Situation, Wait};
use super::targets::Target;
use super::{Bifrost, ProviderState, DEFAULT_SESSION_TTL};
use crate::config::{Key, RequestType};
use crate::error::{Attempt, BifrostError};
use crate::observe::StageClock;
use crate::plugin::{AttemptEvent, Event};
use crate::providers::native::NativeResponse;
use crate::providers::CallContext;
use crate::queue::Permit;
use crate::retry;
use crate::routing::breaker::{Admit, Breaker, THRESHOLD};
use crate::routing::keys::Selection;
use crate::schemas::Usage;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// The configured key an attempt uses, if any.
enum KeyChoice {
    /// A configured key, by index.
    Configured(usize),
    /// None: a keyless provider, or the caller's own key (`allow_direct_keys`).
    None,
}

impl Bifrost {
    /// Attempts `target` until it answers or its failure ends it (see [`decision::decide`]).
    pub(crate) async fn attempt_target(
        &self,
        ctx: &mut RequestContext,
        target: &Target<'_>,
        req: &Request,
    ) -> Result<Answer, BifrostError> {
        let p = target.provider;
        if !p.supported.contains(&ctx.request_type) {
            return Err(BifrostError::unsupported(
                &p.name,
                ctx.request_type.as_str(),
            ));
        }
        let primary = ctx.fallback_index == 0;
        let direct = primary
            .then_some(ctx.options.direct_key.as_ref())
            .flatten()
            .map(|k| Key::new(k.expose()));
        let keyless = Key::new("");
        let mut excluded: Vec<usize> = Vec::new();
        let mut retries = 0u32;
        let mut last: Option<BifrostError> = None;
        loop {
            // A provider whose upstream keeps failing is skipped (its last error stands).
            if let Admit::Refuse(wait) = p.breaker.admit() {
                return Err(last
                    .take()
                    .unwrap_or_else(|| BifrostError::provider_unavailable(&p.name, wait)));
            }

            // Select a key.
            let t = Instant::now();
            // A caller's own key replaces key selection (and its cooldowns) entirely.
            let choice = match &direct {
                Some(_) => KeyChoice::None,
                None => self.choose_key(ctx, target, &excluded, retries == 0)?,
            };
            let key_selection = t.elapsed();
            let (key, key_index) = match (&direct, choice) {
                (Some(k), _) => (k, None),
                (None, KeyChoice::Configured(i)) => (p.keys.get(i), Some(i)),
                (None, KeyChoice::None) => (&keyless, None),
            };
            ctx.key_id = key_index.map(|_| key.id.clone());
            ctx.key_name = key_index.map(|_| key.name.clone());

            // Wait for a provider slot.
            let permit = self.acquire_slot(ctx, p).await?;

            // Call the provider.
            let clock = StageClock::default();
            let cx = CallContext {
                model: &target.model,
                key,
                clock: &clock,
            };
            let started_at = SystemTime::now();
            let started = Instant::now();
            let result = call::call(p, cx, ctx.request_type, req).await;
            let latency = started.elapsed();
            ctx.upstream_time += latency;
            self.report_attempt(
                ctx,
                AttemptReport {
                    provider: p,
                    model: &target.model,
                    key: key_index.map(|_| key.name.as_str()),
                    retry: retries,
                    started_at,
                    latency,
                    clock: &clock,
                    key_selection,
                    req,
                },
                &result,
            );
            let err = match result {
                Ok(response) => {
                    if let Some(i) = key_index {
                        p.keys.recovered(i);
                    }
                    if p.breaker.success() {
                        tracing::info!(provider = %p.name, "provider answers again: circuit closed");
                    }
                    // A stream keeps its slot until it ends; a unary call is done with it.
                    let permit = response.is_stream().then_some(permit);
                    return Ok(Answer { response, permit });
                }
                Err(e) => e,
            };
            drop(permit);
            if Breaker::counts(err.class) {
                if p.breaker.failure() {
                    tracing::warn!(
                        provider = %p.name,
                        error = %err,
                        "provider unreachable {THRESHOLD} times in a row: circuit open, requests \
                         skip it (one probe a second)"
                    );
                }
            } else if !err.is_bifrost_error {
                // The upstream answered (an error, but an answer): it is up.
                p.breaker.success();
            }

            // Decide.
            let failure = Failure {
                status: err.status,
                class: err.class,
                retry_after: err.retry_after,
                by_gateway: err.is_bifrost_error,
            };
            let mut situation = Situation::new(&p.network, &p.key_health);
            situation.retries_done = retries;
            situation.used_key = key_index.is_some();
            situation.pinned = ctx.options.pins_key() && primary;
            if let Some(i) = key_index {
                let mut without = excluded.clone();
                without.push(i);
                // Keys a plugin ruled out for this target are no alternative either.
                if let Some(allow) = &ctx.allowed_keys {
                    without.extend(ruled_out(p.keys.keys(), allow));
                }
                situation.other_key =
                    matches!(p.keys.select(&target.model, &without), Selection::Key(_));
            }
            let Decision {
                cool_key,
                exclude_key,
                next,
            } = decision::decide(failure, situation);
            if let (Some(period), Some(i)) = (cool_key, key_index) {
                // Without the upstream's own Retry-After, the key may be probed while it cools.
                p.keys.cool_down(i, period, err.retry_after.is_none());
                self.emit(
                    ctx,
                    &Event::KeyCooldown {
                        provider: &p.name,
                        key_name: &key.name,
                        class: err.class,
                        period,
                    },
                );
                tracing::debug!(provider = %p.name, key = %key.name, ?period, "key cooling down");
            }
            if let (true, Some(i)) = (exclude_key, key_index) {
                excluded.push(i);
            }
            let wait = match next {
                Next::GiveUp { .. } => return Err(err),
                // No retries against an upstream found down: on to the fallback.
                Next::Retry(_) if p.breaker.is_open() => return Err(err),
                Next::Retry(wait) => wait,
            };
            retries += 1;
            ctx.retries += 1;
            self.emit(
                ctx,
                &Event::Retry {
                    provider: &p.name,
                    class: err.class,
                },
            );
            tracing::debug!(provider = %p.name, retries, error = %err, "retrying");
            let delay = match wait {
                Wait::None => Duration::ZERO,
                Wait::RetryAfter(d) => d,
                Wait::Backoff(n) => retry::backoff(
                    n,
                    p.network.retry_backoff_initial,
                    p.network.retry_backoff_max,
                ),
            };
            if !delay.is_zero() {
                // The slot is free while sleeping: another request may use it.
                tokio::time::sleep(delay).await;
                ctx.backoff_time += delay;
            }
            last = Some(err);
        }
    }

    /// Waits for a slot at the provider, never past the request timeout.
    async fn acquire_slot(
        &self,
        ctx: &mut RequestContext,
        p: &ProviderState,
    ) -> Result<Permit, BifrostError> {
        let deadline = tokio::time::Instant::now() + p.network.request_timeout;
        match p
            .queue
            .acquire(deadline, self.inner.drop_excess_requests)
            .await
        {
            Ok((permit, waited)) => {
                ctx.queue_wait = waited;
                self.emit(
                    ctx,
                    &Event::QueueWait {
                        provider: &p.name,
                        waited,
                    },
                );
                Ok(permit)
            }
            Err(e) => {
                let reason = match e.class {
                    crate::error::ErrorClass::QueueFull => "queue_full",
                    _ => "queue_timeout",
                };
                self.emit(
                    ctx,
                    &Event::Dropped {
                        provider: &p.name,
                        reason,
                    },
                );
                Err(e)
            }
        }
    }

    /// Chooses the key for an attempt: a pinned key, a session's key, or a weighted random
    /// healthy one. Pins and sessions apply to the primary target only.
    fn choose_key(
        &self,
        ctx: &RequestContext,
        target: &Target<'_>,
        excluded: &[usize],
        first_try: bool,
    ) -> Result<KeyChoice, BifrostError> {
        let (p, model) = (target.provider, target.model.as_str());
        let o = &ctx.options;
        let primary = ctx.fallback_index == 0;
        // Keys a plugin ruled out for this target count as excluded (no allocation otherwise).
        let restricted: Vec<usize>;
        let excluded = match &ctx.allowed_keys {
            Some(allow) => {
                restricted = excluded
                    .iter()
                    .copied()
                    .chain(ruled_out(p.keys.keys(), allow))
                    .collect();
                &restricted[..]
            }
            None => excluded,
        };
        if primary && o.pins_key() {
            let pinned = p
                .keys
                .find(o.key_id.as_deref(), o.key_name.as_deref())
                .filter(|i| p.keys.get(*i).allows(model));
            return match pinned {
                Some(i) if !excluded.contains(&i) => Ok(KeyChoice::Configured(i)),
                Some(_) => Err(BifrostError::missing_key(format!(
                    "the pinned key of provider '{}' has failed for this request",
                    p.name
                ))),
                None => Err(BifrostError::invalid_request(format!(
                    "the key pinned by x-bf-api-key{} is not among the keys of provider '{}' \
                     that allow model '{model}'",
                    if o.key_id.is_some() { "-id" } else { "" },
                    p.name
                ))),
            };
        }
        let session = o
            .session_id
            .as_deref()
            .filter(|_| primary)
            .map(|s| (s, o.session_ttl));
        if let (Some((sid, _)), true) = (session, first_try) {
            // A session's key is reused while it is healthy; otherwise a new one is stored.
            if let Some(i) = p.sticky.get(sid, model) {
                let usable = p.keys.keys().get(i).is_some_and(|k| k.allows(model))
                    && !p.keys.is_cooling(i)
                    && !excluded.contains(&i);
                if usable {
                    return Ok(KeyChoice::Configured(i));
                }
            }
        }
        match p.keys.select(model, excluded) {
            Selection::Key(i) => {
                if let Some((sid, ttl)) = session {
                    p.sticky
                        .put(sid, model, i, ttl.unwrap_or(DEFAULT_SESSION_TTL));
                }
                Ok(KeyChoice::Configured(i))
            }
            Selection::AllCooling(wait) => Err(BifrostError::all_keys_cooling(&p.name, wait)),
            Selection::NoKey if p.keyless => Ok(KeyChoice::None),
            Selection::NoKey if !excluded.is_empty() => Err(BifrostError::missing_key(format!(
                "every API key of provider '{}' for model '{model}' has failed for this request",
                p.name
            ))),
            Selection::NoKey => Err(BifrostError::missing_key(format!(
                "no API key is configured for provider '{}' that allows model '{model}'",
                p.name
            ))),
        }
    }

    /// Records an attempt in the context and reports it (and its usage) to the plugins.
    fn report_attempt(
        &self,
        ctx: &mut RequestContext,
        a: AttemptReport<'_>,
        result: &Result<call::Response, BifrostError>,
    ) {
        let status = result.as_ref().map_or_else(|e| e.status, |_| 200);
        let error = result.as_ref().err().map(|e| e.class);
        let embedding_usage;
        let usage: Option<&Usage> = match result {
            Ok(call::Response::Chat(c)) => c.usage.as_ref(),
            Ok(call::Response::Native(NativeResponse::Json { usage, .. })) => usage.as_ref(),
            Ok(call::Response::Embedding(e)) => {
                embedding_usage = e.usage.as_ref().map(|u| Usage {
                    prompt_tokens: u.prompt_tokens,
                    total_tokens: u.total_tokens,
                    ..Usage::default()
                });
                embedding_usage.as_ref()
            }
            _ => None,
        };
        let (max_tokens, temperature) = match a.req {
            Request::Chat(r) => (r.max_completion_tokens.or(r.max_tokens), r.temperature),
            Request::Native(n) => (n.max_tokens, n.temperature),
            _ => (None, None),
        };
        let request_type = ctx.request_type.as_str();
        let ev = AttemptEvent {
            provider: &a.provider.name,
            model: a.model,
            request_type,
            status,
            error,
            key_name: a.key,
            retry: a.retry,
            fallback_index: ctx.fallback_index,
            stream: matches!(
                ctx.request_type,
                RequestType::ChatCompletionStream | RequestType::TextCompletionStream
            ),
            started_at: a.started_at,
            latency: a.latency,
            stages: a.clock.times(a.key_selection),
            usage,
            max_tokens,
            temperature,
        };
        self.emit(ctx, &Event::Attempt(&ev));
        if let Some(u) = usage {
            self.emit(
                ctx,
                &Event::Tokens {
                    provider: &a.provider.name,
                    model: a.model,
                    request_type,
                    usage: u,
                },
            );
        }
        ctx.attempts.push(Attempt {
            provider: a.provider.name.to_string(),
            model: a.model.to_owned(),
            key_name: a.key.map(str::to_owned),
            status,
            class: error.map_or("success", |c| c.as_str()),
            latency_ms: a.latency.as_millis() as u64,
        });
    }
}

/// Indices of the keys not in `allow` (a plugin's per-target restriction).
fn ruled_out<'a>(
    keys: &'a [crate::config::Key],
    allow: &'a [String],
) -> impl Iterator<Item = usize> + 'a {
    keys.iter()
        .enumerate()
        .filter(|(_, k)| !allow.contains(&k.id))
        .map(|(i, _)| i)
}

/// What [`Bifrost::report_attempt`] needs about one attempt.
struct AttemptReport<'a> {
    provider: &'a ProviderState,
    model: &'a str,
    key: Option<&'a str>,
    retry: u32,
    started_at: SystemTime,
    latency: Duration,
    clock: &'a StageClock,
    key_selection: Duration,
    req: &'a Request,
}
