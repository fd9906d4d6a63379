//! Synthetic request logs for benchmarks and manual testing.

use std::collections::BTreeMap;

use serde_json::json;

use super::{LogRow, LogStore};
use crate::StoreError;

const MODELS: [(&str, &[&str]); 5] = [
    (
        "openai",
        &["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"],
    ),
    ("anthropic", &["claude-sonnet-4", "claude-3-5-haiku"]),
    ("gemini", &["gemini-2.5-pro", "gemini-2.5-flash"]),
    (
        "bedrock",
        &["anthropic.claude-3-sonnet", "amazon.titan-embed-text-v2"],
    ),
    ("azure", &["gpt-4o", "gpt-4.1"]),
];

/// Rows per `insert` call while seeding.
const SEED_BATCH: usize = 5_000;

/// Inserts `n` realistic synthetic rows, one every 50 ms from `start_ms`, in batches.
/// Deterministic for a given `(n, start_ms)`.
pub async fn seed(store: &LogStore, n: u64, start_ms: i64) -> Result<(), StoreError> {
    let mut rng = fastrand::Rng::with_seed(start_ms as u64 ^ n);
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..n {
        batch.push(synthetic_row(&mut rng, i, start_ms + i as i64 * 50));
        if batch.len() == SEED_BATCH {
            store.insert(&batch).await?;
            batch.clear();
        }
    }
    store.insert(&batch).await?;
    store.analyze().await
}

fn synthetic_row(rng: &mut fastrand::Rng, i: u64, ts: i64) -> LogRow {
    let (provider, models) = MODELS[rng.usize(..MODELS.len())];
    let model = models[rng.usize(..models.len())];
    let embedding = model.contains("embed");
    let roll = rng.u32(..1000);
    let status = match roll {
        0..=39 => "error",
        40..=49 => "cancelled",
        _ => "success",
    };
    // Roughly log-normal: most requests 200 ms–3 s, a tail to ~60 s.
    let latency_ms = (5.5 + rng.f64() * 2.0 + rng.f64() * rng.f64() * 3.5).exp();
    let prompt_tokens = rng.i64(10..4000);
    let completion_tokens = if embedding { 0 } else { rng.i64(1..1500) };
    let stream = !embedding && rng.bool();
    let key = rng.u32(..8);
    let vk = rng.u32(..20);
    let mut metadata = BTreeMap::new();
    metadata.insert("team".to_string(), format!("team-{}", vk % 5));
    LogRow {
        id: format!("seed-{ts:013}-{i:08}"),
        parent_request_id: None,
        timestamp: ts,
        object: if embedding {
            "embedding"
        } else {
            "chat.completion"
        }
        .to_string(),
        route: if embedding {
            "/v1/embeddings"
        } else {
            "/v1/chat/completions"
        }
        .to_string(),
        provider: Some(provider.to_string()),
        model: Some(model.to_string()),
        number_of_retries: i64::from(rng.u32(..100) < 3),
        fallback_index: 0,
        key_id: Some(format!("{provider}-key-{key}")),
        key_name: Some(format!("{provider} key {key}")),
        virtual_key_id: (vk < 15).then(|| format!("vk-{vk}")),
        virtual_key_name: (vk < 15).then(|| format!("virtual key {vk}")),
        status: status.to_string(),
        http_status: match status {
            "error" => [400, 429, 500, 503][rng.usize(..4)],
            "cancelled" => 499,
            _ => 200,
        },
        stream,
        latency_ms,
        ttft_ms: stream.then_some(latency_ms * 0.2),
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        cached_tokens: if rng.u32(..10) == 0 {
            prompt_tokens / 2
        } else {
            0
        },
        reasoning_tokens: 0,
        cost: (status == "success")
            .then(|| (prompt_tokens as f64 * 2.5 + completion_tokens as f64 * 10.0) / 1e6),
        error: (status == "error")
            .then(|| json!({"message": "upstream returned an error", "type": "server_error"})),
        input: Some(
            json!([{"role": "user", "content": format!("synthetic prompt {i}: summarise the quarterly report")}]),
        ),
        output: (status == "success").then(
            || json!({"role": "assistant", "content": "Here is a short summary of the report."}),
        ),
        params: Some(json!({"temperature": 0.7, "max_tokens": 1024})),
        metadata,
        raw_input: None,
        raw_output: None,
        raw_output_sse: None,
    }
}
