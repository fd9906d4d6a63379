//! Engine tests against scripted providers on tokio's paused clock: retries, fallbacks, key
//! cooldowns, queueing, draining and the plugin pipeline, in milliseconds of real time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bifrost_core::providers::{CallContext, ChunkStream, Provider};
use bifrost_core::schemas::{Choice, ChunkChoice, ChunkDelta, Usage};
use bifrost_core::{
    Bifrost, BifrostConfig, BifrostError, ChatCompletion, ChatCompletionChunk, ChatMessage,
    ChatRequest, ChunkAction, ConcurrencyAndBufferSize, ErrorClass, Event, Key, KeyHealthConfig,
    NetworkConfig, Outcome, Plugin, PreHook, ProviderConfig, ProviderInstance, Request,
    RequestContext, RequestOptions, Response, ShortCircuit, StaticAccount,
};
use futures::future::BoxFuture;
use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// What a scripted provider does on one call.
#[derive(Clone)]
enum Step {
    Answer(&'static str),
    /// An upstream error status, with an optional `Retry-After`.
    Fail(u16, Option<Duration>),
    /// Never answers.
    Hang,
    /// Cannot be reached (connection refused).
    Unreachable,
    /// A stream of `n` text chunks, then (when `fail`) an error instead of the end.
    Stream {
        chunks: usize,
        fail: bool,
    },
    /// A stream whose first item is an error (before any content).
    StreamFailsAtOnce,
}

/// A provider that plays its script, one step per call (the last step repeats), and records
/// the key and model of each call.
struct Scripted {
    name: &'static str,
    script: Mutex<VecDeque<Step>>,
    calls: Mutex<Vec<(String, String)>>,
}

impl Scripted {
    fn new(name: &'static str, steps: &[Step]) -> Arc<Self> {
        Arc::new(Self {
            name,
            script: Mutex::new(steps.iter().cloned().collect()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn next(&self, cx: &CallContext<'_>) -> Step {
        self.calls
            .lock()
            .unwrap()
            .push((cx.key.name.clone(), cx.model.to_owned()));
        let mut s = self.script.lock().unwrap();
        if s.len() > 1 {
            s.pop_front().unwrap()
        } else {
            s.front().cloned().unwrap()
        }
    }

    fn calls(&self) -> Vec<(String, String)> {
        self.calls.lock().unwrap().clone()
    }

    fn error(&self, status: u16, retry_after: Option<Duration>) -> BifrostError {
        BifrostError::upstream(
            self.name,
            status,
            br#"{"error":{"message":"scripted"}}"#,
            retry_after,
        )
    }
}

fn completion(text: &str) -> ChatCompletion {
    ChatCompletion {
        id: "c".into(),
        object: "chat.completion".into(),
        choices: vec![Choice {
            message: ChatMessage::text("assistant", text),
            finish_reason: Some("stop".into()),
            ..Choice::default()
        }],
        usage: Some(Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
            total_tokens: 5,
            ..Usage::default()
        }),
        ..ChatCompletion::default()
    }
}

fn text_chunk(text: &str) -> ChatCompletionChunk {
    ChatCompletionChunk {
        choices: vec![ChunkChoice {
            delta: ChunkDelta {
                content: Some(text.into()),
                ..ChunkDelta::default()
            },
            ..ChunkChoice::default()
        }],
        ..ChatCompletionChunk::default()
    }
}

impl Provider for Scripted {
    fn name(&self) -> &str {
        self.name
    }

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>> {
        let step = self.next(&cx);
        Box::pin(async move {
            match step {
                Step::Answer(t) => Ok(completion(t)),
                Step::Fail(status, ra) => Err(self.error(status, ra)),
                Step::Hang => std::future::pending().await,
                Step::Unreachable => Err(BifrostError::connection(self.name, "refused")),
                _ => Err(BifrostError::internal("scripted a stream for a unary call")),
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        _req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>> {
        let step = self.next(&cx);
        Box::pin(async move {
            match step {
                Step::Stream { chunks, fail } => {
                    let mut items: Vec<Result<ChatCompletionChunk, BifrostError>> = (0..chunks)
                        .map(|i| Ok(text_chunk(&format!("t{i}"))))
                        .collect();
                    if fail {
                        items.push(Err(BifrostError::stream_error(self.name, "cut", "x")));
                    }
                    Ok(Box::pin(futures::stream::iter(items)) as ChunkStream)
                }
                Step::StreamFailsAtOnce => Ok(Box::pin(futures::stream::iter(vec![Err(
                    self.error(500, None)
                )])) as ChunkStream),
                Step::Fail(status, ra) => Err(self.error(status, ra)),
                Step::Hang => std::future::pending().await,
                Step::Unreachable => Err(BifrostError::connection(self.name, "refused")),
                Step::Answer(_) => Err(BifrostError::internal("scripted a unary answer")),
            }
        })
    }
}

fn network(retries: u32) -> NetworkConfig {
    NetworkConfig {
        max_retries: retries,
        retry_backoff_initial: Duration::from_millis(500),
        retry_backoff_max: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        ..NetworkConfig::default()
    }
}

fn provider_config(retries: u32) -> ProviderConfig {
    ProviderConfig {
        network: network(retries),
        key_health: KeyHealthConfig::default(),
        ..ProviderConfig::default()
    }
}

fn key(name: &str) -> Key {
    let mut k = Key::new(format!("sk-{name}"));
    k.id = name.to_owned();
    k.name = name.to_owned();
    k
}

/// An engine over scripted providers `(name, config, keys, provider)`.
fn engine(
    providers: Vec<(&'static str, ProviderConfig, Vec<Key>, Arc<Scripted>)>,
    plugins: Vec<Arc<dyn Plugin>>,
) -> Bifrost {
    let mut account = StaticAccount::new();
    let mut instances = Vec::new();
    for (name, config, keys, p) in providers {
        account = account.with_provider(name, config, keys);
        instances.push((name, p));
    }
    let mut cfg = BifrostConfig::new(account);
    for (name, p) in instances {
        cfg = cfg.with_provider_instance(name, ProviderInstance::new(p));
    }
    cfg.plugins = plugins;
    Bifrost::init(cfg).unwrap()
}

/// An engine over provider `a` alone, with `retries` and the one key `key_name`.
fn a_alone(retries: u32, key_name: &str, a: &Arc<Scripted>) -> Bifrost {
    engine(
        vec![(
            "a",
            provider_config(retries),
            vec![key(key_name)],
            a.clone(),
        )],
        vec![],
    )
}

/// An engine over providers `a` (key `ka`) and `b` (key `kb`), both with `retries`.
fn a_then_b(
    retries: u32,
    a: &Arc<Scripted>,
    b: &Arc<Scripted>,
    plugins: Vec<Arc<dyn Plugin>>,
) -> Bifrost {
    engine(
        vec![
            ("a", provider_config(retries), vec![key("ka")], a.clone()),
            ("b", provider_config(retries), vec![key("kb")], b.clone()),
        ],
        plugins,
    )
}

fn chat(model: &str) -> ChatRequest {
    let mut r = ChatRequest::new("", model, vec![ChatMessage::user("hi")]);
    r.provider = None;
    r
}

fn with_fallback(model: &str, fallback: &str) -> ChatRequest {
    let mut r = chat(model);
    r.fallbacks = vec![bifrost_core::schemas::Fallback {
        provider: None,
        model: fallback.into(),
    }];
    r
}

#[tokio::test(start_paused = true)]
async fn transient_failures_retry_with_backoff_then_succeed() {
    let p = Scripted::new(
        "a",
        &[
            Step::Fail(500, None),
            Step::Fail(503, None),
            Step::Answer("ok"),
        ],
    );
    let e = a_alone(2, "k1", &p);
    let t = Instant::now();
    let out = e.chat_completion(chat("a/m")).await.unwrap();
    assert_eq!(
        out.body.choices[0].message.text_content().as_deref(),
        Some("ok")
    );
    assert_eq!(
        (out.meta.attempts, out.meta.retries, out.meta.fallback_index),
        (3, 2, 0)
    );
    // Backoff 500 ms then 1 s, each ±20%: the paused clock moved by exactly what was slept.
    let slept = t.elapsed();
    assert!(
        slept >= Duration::from_millis(1200) && slept <= Duration::from_millis(1800),
        "{slept:?}"
    );
    // (The timer wheel rounds each sleep up to the millisecond.)
    let unaccounted = slept - out.meta.backoff_time;
    assert!(unaccounted < Duration::from_millis(3), "{unaccounted:?}");
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fall_back_and_the_header_counts_retries_only() {
    let a = Scripted::new("a", &[Step::Fail(500, None)]);
    let b = Scripted::new("b", &[Step::Answer("from b")]);
    let e = a_then_b(1, &a, &b, vec![]);
    let out = e
        .chat_completion(with_fallback("a/m", "b/n"))
        .await
        .unwrap();
    assert_eq!(out.meta.provider, "b");
    assert_eq!(out.meta.model, "n");
    assert_eq!(out.meta.fallback_index, 1);
    // 1 + 1 retry at a, then b: three attempts, one retry.
    assert_eq!((out.meta.attempts, out.meta.retries), (3, 1));
    assert_eq!(a.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dead_provider_is_skipped_until_a_probe_finds_it_back() {
    let a = Scripted::new("a", &[Step::Unreachable]);
    let b = Scripted::new("b", &[Step::Answer("from b")]);
    let e = a_then_b(2, &a, &b, vec![]);
    let ask = || e.chat_completion(with_fallback("a/m", "b/n"));

    // The first request pays 3 attempts and the backoff between them before the fallback.
    let t = Instant::now();
    assert_eq!(ask().await.unwrap().meta.provider, "b");
    assert_eq!(a.calls().len(), 3);
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    // The second finds it down a 4th and 5th time in a row: the breaker opens, and the
    // request goes on at once, without a third attempt or another backoff.
    assert_eq!(ask().await.unwrap().meta.provider, "b");
    assert_eq!(a.calls().len(), 5);
    // From now on requests skip it: no call, no wait.
    let t = Instant::now();
    for _ in 0..10 {
        let out = ask().await.unwrap();
        assert_eq!((out.meta.provider.as_str(), out.meta.attempts), ("b", 1));
    }
    assert_eq!(t.elapsed(), Duration::ZERO);
    assert_eq!(a.calls().len(), 5);
    // Without a fallback: a 503 that says when to come back.
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!(err.status, 503);
    assert_eq!(err.code.as_deref(), Some("provider_unavailable"));
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));

    // A second later one request probes it (still down: no retry, on to b).
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(ask().await.unwrap().meta.provider, "b");
    assert_eq!(a.calls().len(), 6);
    assert_eq!(ask().await.unwrap().meta.provider, "b");
    assert_eq!(a.calls().len(), 6, "one probe a second");

    // It comes back: the next probe's success closes the breaker.
    *a.script.lock().unwrap() = VecDeque::from([Step::Answer("a is back")]);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(ask().await.unwrap().meta.provider, "a");
    assert_eq!(ask().await.unwrap().meta.provider, "a");
    assert_eq!(a.calls().len(), 8);
}

#[tokio::test(start_paused = true)]
async fn upstream_errors_are_not_a_dead_provider() {
    // An upstream that answers 500s is up: every request keeps its retries.
    let a = Scripted::new("a", &[Step::Fail(500, None)]);
    let e = a_alone(2, "ka", &a);
    for n in 1..=4 {
        let err = e.chat_completion(chat("a/m")).await.unwrap_err();
        assert_eq!(err.status, 500);
        assert_eq!(a.calls().len(), 3 * n);
    }
}

#[tokio::test(start_paused = true)]
async fn caller_faults_neither_retry_nor_fall_back() {
    let a = Scripted::new("a", &[Step::Fail(422, None)]);
    let b = Scripted::new("b", &[Step::Answer("never")]);
    let e = a_then_b(3, &a, &b, vec![]);
    let err = e
        .chat_completion(with_fallback("a/m", "b/n"))
        .await
        .unwrap_err();
    assert_eq!((err.status, err.class), (422, ErrorClass::CallerFault));
    assert_eq!(a.calls().len(), 1);
    assert!(b.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_key_cools_down_and_the_next_key_is_tried_at_once() {
    let p = Scripted::new(
        "a",
        &[
            Step::Fail(429, Some(Duration::from_secs(3))),
            Step::Answer("ok"),
        ],
    );
    let mut k1 = key("k1");
    k1.weight = 1000.0;
    let mut k2 = key("k2");
    k2.weight = 0.001;
    let e = engine(
        vec![("a", provider_config(2), vec![k1, k2], p.clone())],
        vec![],
    );
    let t = Instant::now();
    let out = e.chat_completion(chat("a/m")).await.unwrap();
    assert_eq!(
        t.elapsed(),
        Duration::ZERO,
        "another key is tried without a backoff"
    );
    assert_eq!(out.meta.key_id.as_deref(), Some("k2"));
    let keys: Vec<String> = p.calls().into_iter().map(|c| c.0).collect();
    assert_eq!(keys, ["k1", "k2"]);
    assert_eq!(e.key_cooling("a", "k1"), Some(true));
    // Until its Retry-After passes, k1 is left alone even though it weighs far more.
    for _ in 0..20 {
        assert_eq!(
            e.chat_completion(chat("a/m"))
                .await
                .unwrap()
                .meta
                .key_id
                .as_deref(),
            Some("k2")
        );
    }
    tokio::time::advance(Duration::from_secs(3)).await;
    assert_eq!(e.key_cooling("a", "k1"), Some(false));
}

#[tokio::test(start_paused = true)]
async fn when_every_key_cools_the_gateway_answers_429_without_calling_upstream() {
    let p = Scripted::new("a", &[Step::Fail(429, None), Step::Answer("ok")]);
    let mut cfg = provider_config(2);
    cfg.key_health.rate_limit_cooldown = Duration::from_secs(10);
    let e = engine(vec![("a", cfg, vec![key("only")], p.clone())], vec![]);
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!(err.status, 429);
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!((err.status, err.is_bifrost_error), (429, true));
    assert_eq!(err.retry_after, Some(Duration::from_secs(10)));
    assert_eq!(p.calls().len(), 1, "the cooling key was not called");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(e.chat_completion(chat("a/m")).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_cooling_key_is_probed_once_a_second_and_back_as_soon_as_it_answers() {
    // One key, one 429 without Retry-After: the key cools for 10 s, but the provider is not
    // out for all of them — one request a second probes it, and the first success restores it.
    let p = Scripted::new("a", &[Step::Fail(429, None), Step::Answer("ok")]);
    let e = a_alone(0, "only", &p);
    assert_eq!(
        e.chat_completion(chat("a/m")).await.unwrap_err().status,
        429
    );
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert!(
        err.is_bifrost_error,
        "answered by the gateway while cooling"
    );
    assert_eq!(p.calls().len(), 1);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(e.chat_completion(chat("a/m")).await.is_ok(), "the probe");
    assert_eq!(e.key_cooling("a", "only"), Some(false));
    assert!(e.chat_completion(chat("a/m")).await.is_ok());
    assert_eq!(p.calls().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_403_does_not_lock_the_key_for_everyone() {
    let p = Scripted::new("a", &[Step::Fail(403, None), Step::Answer("ok")]);
    let e = a_alone(2, "k1", &p);
    assert_eq!(
        e.chat_completion(chat("a/m")).await.unwrap_err().status,
        403
    );
    assert_eq!(e.key_cooling("a", "k1"), Some(false));
    assert!(
        e.chat_completion(chat("a/m")).await.is_ok(),
        "the next request uses the key"
    );
}

fn limited(concurrency: usize, buffer_size: usize, timeout: Duration) -> ProviderConfig {
    let mut c = provider_config(0);
    c.concurrency = ConcurrencyAndBufferSize {
        concurrency,
        buffer_size,
    };
    c.network.request_timeout = timeout;
    c
}

/// An engine whose only provider, `a`, never answers.
fn hanging(config: ProviderConfig) -> Bifrost {
    let p = Scripted::new("a", &[Step::Hang]);
    engine(vec![("a", config, vec![key("k")], p)], vec![])
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_at_once_or_times_out() {
    let p = Scripted::new("a", &[Step::Hang]);
    let account = StaticAccount::new().with_provider(
        "a",
        limited(1, 0, Duration::from_secs(2)),
        vec![key("k")],
    );
    let mut cfg =
        BifrostConfig::new(account).with_provider_instance("a", ProviderInstance::new(p.clone()));
    cfg.drop_excess_requests = true;
    let e = Bifrost::init(cfg).unwrap();
    let held = tokio::spawn({
        let e = e.clone();
        async move { e.chat_completion(chat("a/m")).await }
    });
    tokio::task::yield_now().await;
    assert_eq!(e.in_flight("a"), Some(1));
    let t = Instant::now();
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!((err.status, err.class), (503, ErrorClass::QueueFull));
    assert_eq!(t.elapsed(), Duration::ZERO);
    held.abort();

    // Without dropping, a waiter gives up at the request timeout.
    let e = hanging(limited(1, 5, Duration::from_secs(2)));
    let held = tokio::spawn({
        let e = e.clone();
        async move { e.chat_completion(chat("a/m")).await }
    });
    tokio::task::yield_now().await;
    let t = Instant::now();
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!((err.status, err.class), (504, ErrorClass::QueueTimeout));
    assert_eq!(t.elapsed(), Duration::from_secs(2));
    // The held request itself never answered: the engine has no total timeout of its own
    // (providers enforce theirs), so it is still in flight.
    assert!(!held.is_finished());
    held.abort();
}

/// Issue 15: the seed's load test holds 7,500 requests in flight at a provider configured for
/// 10,000; a connection cap the user did not set used to hold them at 5,000.
#[tokio::test(start_paused = true)]
async fn every_configured_slot_is_used_and_a_smaller_connection_cap_is_refused() {
    let e = hanging(limited(10_000, 15_000, Duration::from_secs(30)));
    let held: Vec<_> = (0..7_500)
        .map(|_| {
            let e = e.clone();
            tokio::spawn(async move { e.chat_completion(chat("a/m")).await })
        })
        .collect();
    // The clock only moves once every task waits: all have reached the provider by then.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(e.in_flight("a"), Some(7_500));
    held.iter().for_each(|h| h.abort());

    let mut cfg = limited(10_000, 15_000, Duration::from_secs(30));
    cfg.network.max_conns_per_host = Some(5_000);
    let account = StaticAccount::new().with_provider("a", cfg, vec![key("k")]);
    let p = Scripted::new("a", &[Step::Hang]);
    let err = Bifrost::init(
        BifrostConfig::new(account).with_provider_instance("a", ProviderInstance::new(p)),
    )
    .err()
    .expect("a connection cap below concurrency is refused");
    assert!(
        err.message
            .contains("max_conns_per_host (5000) is below concurrency (10000)"),
        "{}",
        err.message
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_refuses_new_work_and_waits_for_open_streams() {
    let p = Scripted::new(
        "a",
        &[Step::Stream {
            chunks: 3,
            fail: false,
        }],
    );
    let e = engine(vec![("a", provider_config(0), vec![key("k")], p)], vec![]);
    let mut stream = e.chat_completion_stream(chat("a/m")).await.unwrap().body;
    assert!(stream.next().await.unwrap().is_ok());
    let drained = tokio::spawn({
        let e = e.clone();
        async move { e.shutdown().await }
    });
    tokio::task::yield_now().await;
    assert!(e.is_closing());
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert_eq!((err.status, err.class), (503, ErrorClass::ShuttingDown));
    assert!(!drained.is_finished(), "the open stream holds the drain");
    while stream.next().await.is_some() {}
    drop(stream);
    assert!(drained.await.unwrap(), "drained in time");
}

#[tokio::test(start_paused = true)]
async fn a_drain_that_outlasts_its_timeout_reports_it() {
    let p = Scripted::new(
        "a",
        &[Step::Stream {
            chunks: 1,
            fail: false,
        }],
    );
    let account = StaticAccount::new().with_provider("a", provider_config(0), vec![key("k")]);
    let mut cfg = BifrostConfig::new(account).with_provider_instance("a", ProviderInstance::new(p));
    cfg.shutdown_timeout = Duration::from_secs(5);
    let e = Bifrost::init(cfg).unwrap();
    let _open = e.chat_completion_stream(chat("a/m")).await.unwrap();
    let t = Instant::now();
    assert!(!e.shutdown().await);
    assert_eq!(t.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_stream_failing_before_content_falls_back_and_after_content_ends_with_the_error() {
    let a = Scripted::new("a", &[Step::StreamFailsAtOnce]);
    let b = Scripted::new(
        "b",
        &[Step::Stream {
            chunks: 2,
            fail: true,
        }],
    );
    let e = a_then_b(0, &a, &b, vec![]);
    let out = e
        .chat_completion_stream(with_fallback("a/m", "b/n"))
        .await
        .unwrap();
    assert_eq!(out.meta.provider, "b");
    let items: Vec<_> = out.body.collect().await;
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    assert_eq!(
        items[2].as_ref().unwrap_err().class,
        ErrorClass::StreamError
    );
}

/// Records what the pipeline told it, and can be told to misbehave.
#[derive(Default)]
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    reject_model: Option<&'static str>,
    answer: bool,
    recover: bool,
    panic_in_pre: bool,
    skip_chunk: Option<&'static str>,
    ends: Arc<Mutex<Vec<Outcome>>>,
    attempts: Arc<AtomicUsize>,
}

impl Plugin for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    fn pre_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        req: &'a mut Request,
    ) -> Option<BoxFuture<'a, PreHook>> {
        assert!(!self.panic_in_pre, "a plugin bug");
        Some(Box::pin(async move {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:pre:{}", self.name, ctx.provider));
            if let (Some(m), Request::Chat(c)) = (self.reject_model, &*req) {
                if c.model.ends_with(m) {
                    return PreHook::ShortCircuit(Box::new(ShortCircuit::Fail {
                        error: BifrostError::invalid_request(format!("model {m} is not allowed")),
                        allow_fallbacks: false,
                    }));
                }
            }
            if self.answer {
                return PreHook::ShortCircuit(Box::new(ShortCircuit::Respond(Response::Chat(
                    completion("cached"),
                ))));
            }
            PreHook::Continue
        }))
    }

    fn post_hook<'a>(
        &'a self,
        ctx: &'a mut RequestContext,
        result: &'a mut Result<Response, BifrostError>,
    ) -> Option<BoxFuture<'a, ()>> {
        Some(Box::pin(async move {
            self.log
                .lock()
                .unwrap()
                .push(format!("{}:post:{}", self.name, ctx.provider));
            if self.recover && result.is_err() {
                *result = Ok(Response::Chat(completion("recovered")));
            }
        }))
    }

    fn wants_chunks(&self) -> bool {
        self.skip_chunk.is_some()
    }

    fn on_chunk(&self, _ctx: &RequestContext, chunk: &mut ChatCompletionChunk) -> ChunkAction {
        let skip = chunk.choices[0].delta.content.as_deref() == self.skip_chunk;
        if skip {
            ChunkAction::Skip
        } else {
            ChunkAction::Keep
        }
    }

    fn on_event(&self, _ctx: &RequestContext, event: &Event<'_>) {
        match event {
            Event::Attempt(_) => {
                self.attempts.fetch_add(1, Ordering::SeqCst);
            }
            Event::RequestEnd { outcome, .. } => self.ends.lock().unwrap().push(*outcome),
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn hooks_run_per_target_not_per_retry_and_unwind_in_reverse() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let first = Arc::new(Recorder {
        name: "first",
        log: log.clone(),
        ..Recorder::default()
    });
    let second = Arc::new(Recorder {
        name: "second",
        log: log.clone(),
        ..Recorder::default()
    });
    let a = Scripted::new("a", &[Step::Fail(500, None)]);
    let b = Scripted::new("b", &[Step::Answer("ok")]);
    let e = a_then_b(2, &a, &b, vec![first.clone(), second]);
    e.chat_completion(with_fallback("a/m", "b/n"))
        .await
        .unwrap();
    assert_eq!(a.calls().len(), 3, "three attempts at a");
    assert_eq!(
        *log.lock().unwrap(),
        [
            "first:pre:a",
            "second:pre:a",
            "second:post:a",
            "first:post:a",
            "first:pre:b",
            "second:pre:b",
            "second:post:b",
            "first:post:b"
        ]
    );
    assert_eq!(
        first.attempts.load(Ordering::SeqCst),
        4,
        "every attempt is an event"
    );
    assert_eq!(*first.ends.lock().unwrap(), [Outcome::Success]);
}

#[tokio::test(start_paused = true)]
async fn a_short_circuit_answers_or_refuses_and_only_earlier_plugins_unwind() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let gate = Arc::new(Recorder {
        name: "gate",
        log: log.clone(),
        reject_model: Some("banned"),
        ..Recorder::default()
    });
    let cache = Arc::new(Recorder {
        name: "cache",
        log: log.clone(),
        answer: true,
        ..Recorder::default()
    });
    let later = Arc::new(Recorder {
        name: "later",
        log: log.clone(),
        ..Recorder::default()
    });
    let a = Scripted::new("a", &[Step::Answer("upstream")]);
    let b = Scripted::new("b", &[Step::Answer("upstream")]);
    let e = a_then_b(0, &a, &b, vec![gate, cache, later]);
    let out = e.chat_completion(chat("a/m")).await.unwrap();
    assert_eq!(
        out.body.choices[0].message.text_content().as_deref(),
        Some("cached")
    );
    assert!(a.calls().is_empty());
    assert_eq!(
        *log.lock().unwrap(),
        ["gate:pre:a", "cache:pre:a", "cache:post:a", "gate:post:a"]
    );
    // A refusal that forbids fallbacks ends the request at the first target.
    let err = e
        .chat_completion(with_fallback("a/banned", "b/n"))
        .await
        .unwrap_err();
    assert_eq!(err.status, 400);
    assert!(err.message.contains("not allowed"));
    assert!(b.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_post_hook_recovers_and_a_panicking_plugin_passes_through() {
    let broken = Arc::new(Recorder {
        name: "broken",
        panic_in_pre: true,
        ..Recorder::default()
    });
    let healer = Arc::new(Recorder {
        name: "healer",
        recover: true,
        ..Recorder::default()
    });
    let a = Scripted::new("a", &[Step::Fail(500, None)]);
    let e = engine(
        vec![("a", provider_config(0), vec![key("ka")], a)],
        vec![broken, healer],
    );
    let out = e.chat_completion(chat("a/m")).await.unwrap();
    assert_eq!(
        out.body.choices[0].message.text_content().as_deref(),
        Some("recovered")
    );
    assert_eq!(e.pipeline().panics(), 1);
}

#[tokio::test(start_paused = true)]
async fn chunk_hooks_filter_streams_and_a_dropped_stream_ends_cancelled() {
    let skipper = Arc::new(Recorder {
        name: "skipper",
        skip_chunk: Some("t1"),
        ..Recorder::default()
    });
    let a = Scripted::new(
        "a",
        &[Step::Stream {
            chunks: 3,
            fail: false,
        }],
    );
    let e = engine(
        vec![("a", provider_config(0), vec![key("ka")], a)],
        vec![skipper.clone()],
    );
    let out = e.chat_completion_stream(chat("a/m")).await.unwrap();
    let texts: Vec<String> = out
        .body
        .map(|c| c.unwrap().choices[0].delta.content.clone().unwrap())
        .collect()
        .await;
    assert_eq!(texts, ["t0", "t2"]);
    let mut s = e.chat_completion_stream(chat("a/m")).await.unwrap().body;
    s.next().await;
    drop(s);
    assert_eq!(
        *skipper.ends.lock().unwrap(),
        [Outcome::Success, Outcome::Cancelled]
    );
    assert_eq!(e.cancelled_streams(), 1);
}

#[tokio::test(start_paused = true)]
async fn pins_and_sessions_apply_to_the_primary_target() {
    let p = Scripted::new("a", &[Step::Answer("ok")]);
    let e = engine(
        vec![(
            "a",
            provider_config(0),
            vec![key("k1"), key("k2"), key("k3")],
            p.clone(),
        )],
        vec![],
    );
    let pinned = RequestOptions {
        key_name: Some("k3".into()),
        ..RequestOptions::default()
    };
    for _ in 0..5 {
        let out = e
            .chat_completion_with(chat("a/m"), pinned.clone())
            .await
            .unwrap();
        assert_eq!(out.meta.key_id.as_deref(), Some("k3"));
    }
    let session = RequestOptions {
        session_id: Some("conv-1".into()),
        ..RequestOptions::default()
    };
    let first = e
        .chat_completion_with(chat("a/m"), session.clone())
        .await
        .unwrap()
        .meta
        .key_id;
    for _ in 0..10 {
        let again = e
            .chat_completion_with(chat("a/m"), session.clone())
            .await
            .unwrap()
            .meta
            .key_id;
        assert_eq!(again, first);
    }
}

#[tokio::test(start_paused = true)]
async fn a_reconfiguration_swaps_providers_while_requests_in_flight_finish_on_the_old_table() {
    use bifrost_core::{ModelAlias, ProviderChange};
    use std::collections::HashMap;
    let a = Scripted::new(
        "a",
        &[Step::Stream {
            chunks: 3,
            fail: false,
        }],
    );
    let b = Scripted::new("b", &[Step::Answer("from b")]);
    let cfg = limited(1, 10, Duration::from_secs(30));
    let account = StaticAccount::new().with_provider("a", cfg.clone(), vec![key("k1")]);
    let e = Bifrost::init(
        BifrostConfig::new(account)
            .with_provider_instance("a", ProviderInstance::new(a.clone()))
            .with_provider_instance("b", ProviderInstance::new(b.clone())),
    )
    .unwrap();
    // A stream holds a's only slot across the change.
    let open = e.chat_completion_stream(chat("a/m")).await.unwrap();
    assert_eq!(e.in_flight("a"), Some(1));

    // New keys for a (same settings), and a new provider b.
    let next = StaticAccount::new()
        .with_provider("a", cfg.clone(), vec![key("k2")])
        .with_provider("b", provider_config(0), vec![key("kb")]);
    let changes = e.reconfigure(&next, HashMap::new()).unwrap();
    assert_eq!(
        changes,
        vec![
            ProviderChange::KeysChanged("a".into()),
            ProviderChange::Added("b".into())
        ]
    );
    assert_eq!(e.providers(), vec!["a".to_owned(), "b".to_owned()]);
    // Same queue: the open stream still counts against a's concurrency.
    assert_eq!(e.in_flight("a"), Some(1));
    let got: Vec<_> = open.body.collect().await;
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(Result::is_ok));
    assert_eq!(e.in_flight("a"), Some(0));
    // New requests see the new keys and the new provider.
    let _ = e.chat_completion_stream(chat("a/m")).await.unwrap();
    assert_eq!(a.calls().last().unwrap().0, "k2");
    let out = e.chat_completion(chat("b/m")).await.unwrap();
    assert_eq!(
        out.body.choices[0].message.text_content().as_deref(),
        Some("from b")
    );

    // An invalid configuration changes nothing.
    let mut aliases = HashMap::new();
    aliases.insert("fast".to_owned(), ModelAlias::to("missing/m"));
    let err = e.reconfigure(&next, aliases).unwrap_err();
    assert!(err.message.contains("fast"), "{}", err.message);
    assert_eq!(e.providers(), vec!["a".to_owned(), "b".to_owned()]);

    // Removing a provider, and changing another's settings (a new pool and queue).
    let last = StaticAccount::new().with_provider("b", provider_config(1), vec![key("kb")]);
    let changes = e.reconfigure(&last, HashMap::new()).unwrap();
    assert_eq!(
        changes,
        vec![
            ProviderChange::Rebuilt("b".into()),
            ProviderChange::Removed("a".into())
        ]
    );
    let err = e.chat_completion(chat("a/m")).await.unwrap_err();
    assert!(
        err.message.contains("(configured providers: b)"),
        "{}",
        err.message
    );
    assert!(e.chat_completion(chat("b/m")).await.is_ok());
    // Unchanged settings and keys: the same provider state, nothing rebuilt.
    let changes = e.reconfigure(&last, HashMap::new()).unwrap();
    assert_eq!(changes, vec![ProviderChange::Unchanged("b".into())]);
}
