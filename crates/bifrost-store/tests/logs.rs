//! The log store against brute-force computations over the rows it was given.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bifrost_store::{
    latency_bucket, latency_bucket_bounds, LogFilter, LogQuery, LogRow, LogStore, LogWriter, Order,
    SortBy, QUEUE_CONTENT_BUDGET,
};
use common::{assert_newer_schema_refused, TestDb};
use serde_json::json;

/// A minute boundary, so tests can place rows on and off minute edges.
const T0: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;

fn rows(n: usize, seed: u64) -> Vec<LogRow> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let providers = ["openai", "anthropic", "gemini"];
    let models = ["m-small", "m-large"];
    (0..n)
        .map(|i| {
            let provider = providers[rng.usize(..3)];
            let status = ["success", "success", "success", "error", "cancelled"][rng.usize(..5)];
            let prompt = rng.i64(1..500);
            let completion = rng.i64(0..300);
            let mut metadata = BTreeMap::new();
            metadata.insert("team".to_string(), format!("t{}", i % 3));
            if i % 7 == 0 {
                metadata.insert("env".to_string(), "prod".to_string());
            }
            LogRow {
                id: format!("r{:05}-{}", i, rng.u32(..1000)),
                parent_request_id: (i % 11 == 0).then(|| "parent-1".to_string()),
                // Ten minutes, with clusters of identical timestamps.
                timestamp: T0 + rng.i64(0..10 * MIN / 500) * 500 + 250,
                object: ["chat.completion", "embedding", "responses"][rng.usize(..3)].into(),
                route: "/v1/chat/completions".into(),
                provider: (i % 13 != 0).then(|| provider.to_string()),
                model: Some(models[rng.usize(..2)].to_string()),
                number_of_retries: rng.i64(0..3),
                fallback_index: rng.i64(0..2),
                key_id: Some(format!("key-{}", rng.u32(..4))),
                key_name: Some("a key".into()),
                virtual_key_id: (i % 3 == 0).then(|| format!("vk-{}", i % 2)),
                virtual_key_name: (i % 3 == 0).then(|| "vk".to_string()),
                status: status.into(),
                http_status: if status == "success" { 200 } else { 500 },
                stream: i % 2 == 0,
                latency_ms: (rng.f64() * 9.0).exp() + 0.25,
                ttft_ms: (i % 2 == 0).then_some(12.5),
                prompt_tokens: prompt,
                completion_tokens: completion,
                total_tokens: prompt + completion,
                cached_tokens: prompt / 4,
                reasoning_tokens: 0,
                cost: (status == "success").then(|| (prompt + completion) as f64 * 1e-5),
                error: (status == "error").then(|| json!({"message": "Upstream Exploded", "code": 500})),
                input: Some(json!([{"role": "user", "content": format!("question number {i} about Rust_lang 100%")}])),
                output: (status == "success").then(|| json!({"content": format!("answer {i}")})),
                params: Some(json!({"temperature": 0.5})),
                metadata,
                raw_input: None,
                raw_output: None,
                raw_output_sse: None,
            }
        })
        .collect()
}

fn matches(f: &LogFilter, r: &LogRow) -> bool {
    let in_list = |list: &[String], v: Option<&str>| {
        list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
    };
    let content = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| v.to_string().to_lowercase())
            .unwrap_or_default()
    };
    in_list(&f.providers, r.provider.as_deref())
        && in_list(&f.models, r.model.as_deref())
        && in_list(&f.status, Some(&r.status))
        && in_list(&f.objects, Some(&r.object))
        && in_list(&f.selected_key_ids, r.key_id.as_deref())
        && in_list(&f.virtual_key_ids, r.virtual_key_id.as_deref())
        && f.start_time.is_none_or(|t| r.timestamp >= t)
        && f.end_time.is_none_or(|t| r.timestamp <= t)
        && f.min_latency.is_none_or(|v| r.latency_ms >= v)
        && f.max_latency.is_none_or(|v| r.latency_ms <= v)
        && f.min_tokens.is_none_or(|v| r.total_tokens >= v)
        && f.max_tokens.is_none_or(|v| r.total_tokens <= v)
        && f.min_cost.is_none_or(|v| r.cost.is_some_and(|c| c >= v))
        && f.max_cost.is_none_or(|v| r.cost.is_some_and(|c| c <= v))
        && f.content_search.as_ref().is_none_or(|s| {
            let s = s.to_lowercase();
            content(&r.input).contains(&s)
                || content(&r.output).contains(&s)
                || content(&r.error).contains(&s)
        })
        && f.metadata.iter().all(|(k, v)| r.metadata.get(k) == Some(v))
}

fn filters() -> Vec<(&'static str, LogFilter)> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        ("none", LogFilter::default()),
        (
            "providers",
            LogFilter {
                providers: s(&["openai", "gemini"]),
                ..Default::default()
            },
        ),
        (
            "models",
            LogFilter {
                models: s(&["m-large"]),
                ..Default::default()
            },
        ),
        (
            "status",
            LogFilter {
                status: s(&["error", "cancelled"]),
                ..Default::default()
            },
        ),
        (
            "objects",
            LogFilter {
                objects: s(&["embedding"]),
                ..Default::default()
            },
        ),
        (
            "keys",
            LogFilter {
                selected_key_ids: s(&["key-1", "key-3"]),
                ..Default::default()
            },
        ),
        (
            "vks",
            LogFilter {
                virtual_key_ids: s(&["vk-1"]),
                ..Default::default()
            },
        ),
        (
            "aligned time",
            LogFilter {
                start_time: Some(T0 + 2 * MIN),
                end_time: Some(T0 + 7 * MIN - 1),
                ..Default::default()
            },
        ),
        (
            "ragged time",
            LogFilter {
                start_time: Some(T0 + 2 * MIN + 17_250),
                end_time: Some(T0 + 7 * MIN + 30_250),
                ..Default::default()
            },
        ),
        (
            "within a minute",
            LogFilter {
                start_time: Some(T0 + 3 * MIN + 1_000),
                end_time: Some(T0 + 3 * MIN + 40_000),
                ..Default::default()
            },
        ),
        (
            "open start",
            LogFilter {
                end_time: Some(T0 + 4 * MIN + 250),
                ..Default::default()
            },
        ),
        (
            "provider+status+time",
            LogFilter {
                providers: s(&["anthropic"]),
                status: s(&["success"]),
                start_time: Some(T0 + MIN + 500),
                end_time: Some(T0 + 9 * MIN + 250),
                ..Default::default()
            },
        ),
        (
            "latency",
            LogFilter {
                min_latency: Some(10.0),
                max_latency: Some(900.0),
                ..Default::default()
            },
        ),
        (
            "tokens",
            LogFilter {
                min_tokens: Some(200),
                max_tokens: Some(500),
                ..Default::default()
            },
        ),
        (
            "cost",
            LogFilter {
                min_cost: Some(0.002),
                max_cost: Some(0.006),
                ..Default::default()
            },
        ),
        (
            "content",
            LogFilter {
                content_search: Some("EXPLODED".into()),
                ..Default::default()
            },
        ),
        (
            "content wildcard chars",
            LogFilter {
                content_search: Some("rust_lang 100%".into()),
                ..Default::default()
            },
        ),
        (
            "content no underscore match",
            LogFilter {
                content_search: Some("rustxlang".into()),
                ..Default::default()
            },
        ),
        (
            "metadata",
            LogFilter {
                metadata: [
                    ("team".to_string(), "t1".to_string()),
                    ("env".to_string(), "prod".to_string()),
                ]
                .into(),
                ..Default::default()
            },
        ),
    ]
}

async fn all_ids(store: &LogStore, f: &LogFilter) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&LogQuery {
                filter: f.clone(),
                limit: 1000,
                cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        out.extend(page.logs.into_iter().map(|r| r.id));
        if !page.has_more {
            return out;
        }
        cursor = page.next_cursor;
    }
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
        "{what}: {a} != {b}"
    );
}

async fn insert_get_and_filters(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let data = rows(400, 1);
    store.insert(&data[..150]).await.unwrap();
    // Re-inserting is harmless and not double counted.
    store.insert(&data[100..]).await.unwrap();
    check_aggregates(&store, &data).await;
    for r in data.iter().step_by(37) {
        assert_eq!(store.get(&r.id).await.unwrap().as_ref(), Some(r));
    }
    assert!(store.get("nope").await.unwrap().is_none());
    for (name, f) in filters() {
        let mut want: Vec<&LogRow> = data.iter().filter(|r| matches(&f, r)).collect();
        want.sort_by(|a, b| (b.timestamp, &b.id).cmp(&(a.timestamp, &a.id)));
        let want: Vec<String> = want.into_iter().map(|r| r.id.clone()).collect();
        assert!(
            !want.is_empty() || name == "content no underscore match",
            "{name} selects nothing"
        );
        assert_eq!(all_ids(&store, &f).await, want, "filter {name}");
    }
    store.ping().await.unwrap();
}

async fn keyset_paging_and_sorting(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let data = rows(537, 2);
    store.insert(&data).await.unwrap();
    for order in [Order::Desc, Order::Asc] {
        let mut want: Vec<&LogRow> = data.iter().collect();
        want.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
        if order == Order::Desc {
            want.reverse();
        }
        let want: Vec<String> = want.iter().map(|r| r.id.clone()).collect();
        let mut got = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .search(&LogQuery {
                    limit: 50,
                    cursor,
                    order,
                    ..Default::default()
                })
                .await
                .unwrap();
            pages += 1;
            assert!(page.logs.len() <= 50);
            got.extend(page.logs.into_iter().map(|r| r.id));
            if !page.has_more {
                assert!(page.next_cursor.is_none());
                break;
            }
            cursor = page.next_cursor;
        }
        assert_eq!(pages, 11);
        assert_eq!(
            got.iter().collect::<HashSet<_>>().len(),
            got.len(),
            "duplicates"
        );
        assert_eq!(got, want, "{order:?}");
    }
    // Other sorts page by offset; ties broken by id.
    for (sort_by, key) in [
        (
            SortBy::Latency,
            Box::new(|r: &LogRow| r.latency_ms) as Box<dyn Fn(&LogRow) -> f64>,
        ),
        (SortBy::Tokens, Box::new(|r: &LogRow| r.total_tokens as f64)),
        (
            SortBy::Cost,
            Box::new(|r: &LogRow| r.cost.unwrap_or(f64::NAN)),
        ),
    ] {
        for order in [Order::Desc, Order::Asc] {
            let mut want: Vec<&LogRow> = data.iter().collect();
            want.sort_by(|a, b| {
                let (x, y) = (key(a), key(b));
                // NULL costs last in both directions.
                let c = match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => return std::cmp::Ordering::Greater,
                    (false, true) => return std::cmp::Ordering::Less,
                    _ => x.total_cmp(&y),
                };
                let c = c.then_with(|| a.id.cmp(&b.id));
                if order == Order::Desc {
                    c.reverse()
                } else {
                    c
                }
            });
            let mut got = Vec::new();
            for page in 0..6u64 {
                let p = store
                    .search(&LogQuery {
                        limit: 100,
                        offset: Some(page * 100),
                        sort_by,
                        order,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                assert_eq!(p.has_more, page < 5);
                got.extend(p.logs.into_iter().map(|r| r.id));
            }
            let want: Vec<String> = want.iter().map(|r| r.id.clone()).collect();
            assert_eq!(got, want, "{sort_by:?} {order:?}");
        }
    }
    let bad = store
        .search(&LogQuery {
            cursor: Some("garbage!".into()),
            ..Default::default()
        })
        .await;
    assert!(bad.is_err());
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Checks stats and histograms (rollup-eligible buckets and scan-only buckets) for every filter.
async fn check_aggregates(store: &LogStore, data: &[LogRow]) {
    for (name, f) in filters() {
        let sel: Vec<&LogRow> = data.iter().filter(|r| matches(&f, r)).collect();
        let st = store.stats(&f).await.unwrap();
        let n = sel.len() as f64;
        assert_eq!(st.total_requests, sel.len() as u64, "{name}: count");
        if !sel.is_empty() {
            let ok = sel.iter().filter(|r| r.status == "success").count() as f64;
            assert_close(
                st.success_rate,
                ok * 100.0 / n,
                &format!("{name}: success rate"),
            );
            let lat: f64 = sel.iter().map(|r| r.latency_ms).sum();
            assert_close(st.average_latency_ms, lat / n, &format!("{name}: latency"));
        }
        assert_eq!(
            st.total_tokens,
            sel.iter().map(|r| r.total_tokens).sum::<i64>(),
            "{name}: tokens"
        );
        assert_close(
            st.total_cost,
            sel.iter().filter_map(|r| r.cost).sum(),
            &format!("{name}: cost"),
        );

        for bucket_ms in [MIN, 3 * MIN, 45_000] {
            let exact_percentiles = bucket_ms % MIN != 0 || !rollup_filter(&f);
            let mut want: BTreeMap<(i64, String, String), Vec<&LogRow>> = BTreeMap::new();
            for r in &sel {
                let key = (
                    r.timestamp.div_euclid(bucket_ms) * bucket_ms,
                    r.provider.clone().unwrap_or_default(),
                    r.model.clone().unwrap_or_default(),
                );
                want.entry(key).or_default().push(r);
            }
            let got = store.histogram(&f, bucket_ms).await.unwrap();
            assert_eq!(got.len(), want.len(), "{name}/{bucket_ms}: buckets");
            for (b, ((start, provider, model), rs)) in got.iter().zip(&want) {
                let ctx = format!("{name}/{bucket_ms}/{start}/{provider}/{model}");
                assert_eq!(
                    (b.start, &b.provider, &b.model),
                    (*start, provider, model),
                    "{ctx}"
                );
                assert_eq!(b.requests, rs.len() as u64, "{ctx}");
                assert_eq!(
                    b.errors,
                    rs.iter().filter(|r| r.status == "error").count() as u64,
                    "{ctx}"
                );
                assert_eq!(
                    b.prompt_tokens,
                    rs.iter().map(|r| r.prompt_tokens).sum::<i64>(),
                    "{ctx}"
                );
                assert_eq!(
                    b.completion_tokens,
                    rs.iter().map(|r| r.completion_tokens).sum::<i64>(),
                    "{ctx}"
                );
                assert_eq!(
                    b.total_tokens,
                    rs.iter().map(|r| r.total_tokens).sum::<i64>(),
                    "{ctx}"
                );
                assert_close(b.cost, rs.iter().filter_map(|r| r.cost).sum(), &ctx);
                let lats: Vec<f64> = rs.iter().map(|r| r.latency_ms).collect();
                for (p, got) in [(0.5, b.p50_latency_ms), (0.99, b.p99_latency_ms)] {
                    let exact = percentile(lats.clone(), p);
                    if exact_percentiles {
                        assert_eq!(got, exact, "{ctx}: p{p} exact");
                    } else {
                        let (lo, hi) = latency_bucket_bounds(latency_bucket(exact));
                        assert!(
                            lo <= got && got <= hi,
                            "{ctx}: p{p} {got} outside [{lo}, {hi}] of {exact}"
                        );
                    }
                }
            }
        }
    }
}

fn rollup_filter(f: &LogFilter) -> bool {
    f.objects.is_empty()
        && f.selected_key_ids.is_empty()
        && f.virtual_key_ids.is_empty()
        && f.min_latency.is_none()
        && f.max_latency.is_none()
        && f.min_tokens.is_none()
        && f.max_tokens.is_none()
        && f.min_cost.is_none()
        && f.max_cost.is_none()
        && f.content_search.is_none()
        && f.metadata.is_empty()
}

async fn stats_and_histogram_match_brute_force(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let data = rows(700, 3);
    for chunk in data.chunks(90) {
        store.insert(chunk).await.unwrap();
    }
    check_aggregates(&store, &data).await;
    assert!(store.histogram(&LogFilter::default(), 0).await.is_err());
}

async fn deletes_keep_rollups_consistent(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let mut data = rows(600, 4);
    store.insert(&data).await.unwrap();

    let f = LogFilter {
        providers: vec!["gemini".into()],
        ..Default::default()
    };
    let n = store.delete(&f).await.unwrap();
    assert_eq!(n, data.iter().filter(|r| matches(&f, r)).count() as u64);
    data.retain(|r| !matches(&f, r));
    check_aggregates(&store, &data).await;
    let fd = store.filter_data().await.unwrap();
    assert!(!fd.providers.contains(&"gemini".to_string()), "{fd:?}");

    // A scan-only filter (by key) as well.
    let f = LogFilter {
        selected_key_ids: vec!["key-2".into()],
        ..Default::default()
    };
    let n = store.delete(&f).await.unwrap();
    assert_eq!(n, data.iter().filter(|r| matches(&f, r)).count() as u64);
    data.retain(|r| !matches(&f, r));
    let fd = store.filter_data().await.unwrap();
    assert!(!fd.key_ids.contains(&"key-2".to_string()), "{fd:?}");

    // Retention with a cutoff in the middle of a minute, in small batches.
    let cutoff = T0 + 4 * MIN + 20_250;
    let n = store.delete_older_than(cutoff, 7).await.unwrap();
    assert_eq!(
        n,
        data.iter().filter(|r| r.timestamp < cutoff).count() as u64
    );
    data.retain(|r| r.timestamp >= cutoff);
    check_aggregates(&store, &data).await;
    assert_eq!(store.delete_older_than(cutoff, 7).await.unwrap(), 0);
    assert_eq!(
        all_ids(&store, &LogFilter::default()).await.len(),
        data.len()
    );
}

async fn filter_data_lists_distinct_values(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let data = rows(200, 5);
    store.insert(&data).await.unwrap();
    let fd = store.filter_data().await.unwrap();
    let distinct = |f: &dyn Fn(&LogRow) -> Option<String>| {
        let mut v: Vec<String> = data
            .iter()
            .filter_map(f)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        v.sort();
        v
    };
    assert_eq!(fd.providers, distinct(&|r| r.provider.clone()));
    assert_eq!(fd.models, distinct(&|r| r.model.clone()));
    assert_eq!(fd.statuses, distinct(&|r| Some(r.status.clone())));
    assert_eq!(fd.objects, distinct(&|r| Some(r.object.clone())));
    assert_eq!(fd.key_ids, distinct(&|r| r.key_id.clone()));
    assert_eq!(fd.virtual_key_ids, distinct(&|r| r.virtual_key_id.clone()));
}

async fn writer_writes_everything_it_accepts(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let w = LogWriter::spawn(store.clone(), 20_000, 1000, Duration::from_millis(50));
    let mut tail = w.subscribe();
    let data = rows(10_000, 6);
    let mut ids = HashSet::new();
    for (i, mut r) in data.into_iter().enumerate() {
        r.id = format!("w{i:05}");
        ids.insert(r.id.clone());
        w.log(r);
        if i == 0 {
            assert_eq!(tail.recv().await.unwrap().id, "w00000");
        }
    }
    w.close(Duration::from_secs(60)).await;
    assert_eq!(w.dropped(), 0);
    assert_eq!(w.written(), 10_000);
    assert_eq!(
        store
            .stats(&LogFilter::default())
            .await
            .unwrap()
            .total_requests,
        10_000
    );
    let stored: HashSet<String> = all_ids(&store, &LogFilter::default())
        .await
        .into_iter()
        .collect();
    assert_eq!(stored, ids);
    // Closed: further rows are dropped, not queued.
    w.log(LogRow {
        id: "late".into(),
        ..Default::default()
    });
    assert_eq!(w.dropped(), 1);
}

async fn writer_drops_when_full(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let w = LogWriter::spawn(store.clone(), 4, 2, Duration::from_millis(5));
    let clone = w.clone();
    let mut data = rows(3000, 7);
    for (i, r) in data.iter_mut().enumerate() {
        r.id = format!("d{i:05}");
    }
    for r in data {
        clone.log(r);
    }
    w.close(Duration::from_secs(60)).await;
    let stored = store
        .stats(&LogFilter::default())
        .await
        .unwrap()
        .total_requests;
    assert!(
        w.dropped() > 0,
        "a 4-row queue cannot absorb 3000 rows at once"
    );
    assert_eq!(w.written(), stored);
    assert_eq!(stored + w.dropped(), 3000);

    // Rows offered through `admit` first: one refused there is counted at once and never
    // built, one admitted is written or dropped (and counted) later, never both.
    let w = LogWriter::spawn(store.clone(), 4, 2, Duration::from_millis(5));
    let mut refused = 0;
    for (i, mut r) in rows(3000, 11).into_iter().enumerate() {
        r.id = format!("a{i:05}");
        if w.admit() {
            w.log(r);
        } else {
            refused += 1;
        }
    }
    w.close(Duration::from_secs(60)).await;
    assert!(refused > 0, "a 4-row queue cannot absorb 3000 rows at once");
    assert!(w.dropped() >= refused);
    assert_eq!(w.written() + w.dropped(), 3000);

    // A row whose content alone exceeds the queue's memory budget is dropped, not queued;
    // the budget it would have taken is given back, so the next row goes in.
    let store = LogStore::open(&db.backend).await.unwrap();
    let w = LogWriter::spawn(store.clone(), 100, 10, Duration::from_millis(5));
    let mut huge = rows(1, 8).remove(0);
    huge.id = "huge".into();
    huge.raw_input = Some(bytes::Bytes::from(vec![b' '; QUEUE_CONTENT_BUDGET + 1]));
    w.log(huge);
    let mut small = rows(1, 9).remove(0);
    small.id = "small".into();
    small.raw_input = Some(bytes::Bytes::from_static(b"{\"k\":1}"));
    w.log(small);
    w.close(Duration::from_secs(60)).await;
    assert_eq!((w.dropped(), w.written()), (1, 1));
    assert!(store.get("huge").await.unwrap().is_none());
    assert_eq!(
        store.get("small").await.unwrap().unwrap().input,
        Some(serde_json::json!({"k": 1}))
    );
}

/// Bodies are written as the text they arrived as when they are JSON, and stay searchable:
/// an escape serde_json would write otherwise (`\u00e9`) goes through the value.
async fn raw_bodies_are_stored_readable_and_searchable(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    let w = LogWriter::spawn(store.clone(), 1000, 1000, Duration::from_millis(5));
    let bodies: [(&str, &[u8]); 3] = [
        (
            "plain",
            b"{\"messages\": [{\"role\": \"user\", \"content\": \"zebra\\n\\\"quokka\\\"\"}]}",
        ),
        (
            "escaped",
            b"{\"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 cr\\u00e8me\"}]}",
        ),
        ("not-json", b"{\"messages\": ["),
    ];
    // 75 rows: chunks of 64, 8 and three single rows.
    let mut data = rows(75, 10);
    for (i, r) in data.iter_mut().enumerate() {
        r.id = format!("raw{i:02}");
        r.input = None;
        r.raw_input = Some(bytes::Bytes::from_static(bodies[i % 3].1));
    }
    for r in data {
        w.log(r);
    }
    w.close(Duration::from_secs(60)).await;
    assert_eq!((w.written(), w.dropped()), (75, 0));
    let input = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move { store.get(&id).await.unwrap().unwrap().input }
    };
    assert_eq!(
        input("raw00").await,
        Some(json!({"messages": [{"role": "user", "content": "zebra\n\"quokka\""}]}))
    );
    assert_eq!(
        input("raw01").await,
        Some(json!({"messages": [{"role": "user", "content": "café crème"}]}))
    );
    assert_eq!(input("raw02").await, None);
    for (term, expected) in [("crème", 25), ("quokka", 25), ("messages", 50)] {
        let f = LogFilter {
            content_search: Some(term.into()),
            ..Default::default()
        };
        assert_eq!(all_ids(&store, &f).await.len(), expected, "search {term}");
    }
}

async fn newer_schema_is_refused(db: &TestDb) {
    let open = async || LogStore::open(&db.backend).await;
    assert_newer_schema_refused(db, "logs", LogStore::schema_version(), open).await;
}

async fn seed_inserts_n_rows(db: &TestDb) {
    let store = LogStore::open(&db.backend).await.unwrap();
    bifrost_store::seed(&store, 12_345, T0).await.unwrap();
    let st = store.stats(&LogFilter::default()).await.unwrap();
    assert_eq!(st.total_requests, 12_345);
    assert!(st.success_rate > 90.0 && st.total_cost > 0.0, "{st:?}");
    let fd = store.filter_data().await.unwrap();
    assert_eq!(fd.providers.len(), 5);
}

on_both_backends!(
    insert_get_and_filters,
    keyset_paging_and_sorting,
    stats_and_histogram_match_brute_force,
    deletes_keep_rollups_consistent,
    filter_data_lists_distinct_values,
    writer_writes_everything_it_accepts,
    writer_drops_when_full,
    raw_bodies_are_stored_readable_and_searchable,
    newer_schema_is_refused,
    seed_inserts_n_rows,
);

#[test]
fn log_filter_from_query_string_shapes() {
    let f: LogFilter = serde_json::from_value(json!({
        "providers": "openai, anthropic", "models": ["a", "b"], "start_time": 5, "metadata": {"team": "x"}
    }))
    .unwrap();
    assert_eq!(f.providers, vec!["openai", "anthropic"]);
    assert_eq!(f.models, vec!["a", "b"]);
    assert_eq!(f.start_time, Some(5));
    assert_eq!(f.metadata.get("team").map(String::as_str), Some("x"));
}

#[test]
fn a_relayed_stream_settles_into_its_answer() {
    let settle = |sse: &str| {
        let mut r = LogRow {
            raw_output_sse: Some(bytes::Bytes::from(sse.to_owned())),
            ..LogRow::default()
        };
        r.settle();
        assert!(r.raw_output_sse.is_none());
        r.output.unwrap()
    };
    let openai = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                  data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";
    let anthropic = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n\
                     event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n\
                     event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n";
    let gemini = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"},{\"text\":\"lo\"}]}}]}\n\n";
    for (name, sse, events) in [
        ("openai", openai, 2),
        ("anthropic", anthropic, 3),
        ("gemini", gemini, 1),
    ] {
        let out = settle(sse);
        assert_eq!(out["content"], "Hello", "{name}: {out}");
        assert_eq!(out["stream_events"], events, "{name}: {out}");
        assert_eq!(out["truncated"], false, "{name}: {out}");
    }
    // Responses: the completed response is the answer.
    let responses = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n\
                     event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\"}}\n\n";
    assert_eq!(settle(responses)["id"], "resp_1");
}

/// The writer and SQLite's thread run under SCHED_IDLE: only on CPU the requests leave idle.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_writer_runs_only_on_idle_cpu() {
    const SCHED_IDLE: &str = "5";
    let db = TestDb::sqlite();
    let store = LogStore::open(&db.backend).await.unwrap();
    let w = LogWriter::spawn(store, 10, 10, Duration::from_millis(5));
    // (name, scheduling policy) of this process's threads; field 41 of `stat`, after the
    // parenthesised name.
    let threads = || -> Vec<(String, String)> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| {
                let stat = std::fs::read_to_string(t.ok()?.path().join("stat")).ok()?;
                let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
                Some((name.to_owned(), rest.split(' ').nth(38)?.to_owned()))
            })
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = threads();
        // Until the writer's own connection has started its SQLite thread (the store's pool,
        // and other tests', have theirs, at the normal policy).
        let idle_sqlite =
            |(n, p): &&(String, String)| n.starts_with("sqlx-sqlite") && p == SCHED_IDLE;
        if seen.iter().any(|(n, _)| n.starts_with("bifrost-log"))
            && seen.iter().any(|t| idle_sqlite(&t))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Other tests of this binary may have writers of their own running: every one is idle.
    let writers: Vec<_> = seen
        .iter()
        .filter(|(n, _)| n.starts_with("bifrost-log"))
        .collect();
    assert!(!writers.is_empty(), "{seen:?}");
    assert!(writers.iter().all(|(_, p)| p == SCHED_IDLE), "{seen:?}");
    // The writer's own SQLite connection runs its statements on a thread started from it.
    assert!(
        seen.iter()
            .any(|(n, p)| n.starts_with("sqlx-sqlite") && p == SCHED_IDLE),
        "{seen:?}"
    );
    w.close(Duration::from_secs(10)).await;
}
