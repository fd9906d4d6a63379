//! Vertex AI: Gemini models through `generateContent` (the Gemini translation), Anthropic
//! models through `rawPredict` (the Anthropic translation, with Vertex's `anthropic_version`
//! and no `model` field), embeddings through `predict`; a service-account access token as
//! Bearer.

use super::http::Upstream;
use super::pipeline::{self, serialize, Sse, Target};
use super::{
    anthropic, auth, gemini, openai, parse_url, path_segment, CallContext, ChunkStream, Provider,
};
use crate::config::{CloudKeyConfig, VertexKeyConfig};
use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletion, ChatRequest, Embedding, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
};
use futures::future::BoxFuture;
use http::header::HeaderMap;
use serde::Deserialize;
use serde_json::{json, Value};

/// The Anthropic API version Vertex expects in the body.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

pub struct Vertex {
    upstream: Upstream,
    /// `network_config.base_url`; empty means Google's regional endpoint.
    base: String,
}

/// Which publisher serves a model on Vertex.
fn is_anthropic(model: &str) -> bool {
    model.starts_with("claude")
}

impl Vertex {
    pub fn new(upstream: Upstream, base: String) -> Self {
        Self { upstream, base }
    }

    /// `url` with the auth headers.
    async fn target(&self, cx: CallContext<'_>, url: http::Uri) -> Result<Target, BifrostError> {
        Ok(Target::new(url, self.headers(&cx).await?))
    }

    fn key_config<'a>(&self, cx: &CallContext<'a>) -> Result<&'a VertexKeyConfig, BifrostError> {
        match &cx.key.cloud {
            Some(CloudKeyConfig::Vertex(c)) => Ok(c),
            _ => Err(BifrostError::missing_key(format!(
                "the key of provider '{}' has no vertex_key_config",
                self.upstream.name
            ))),
        }
    }

    /// `{base}/v1/projects/{p}/locations/{r}/publishers/{publisher}/models/{m}:{action}`.
    fn url(&self, cx: &CallContext<'_>, action: &str) -> Result<http::Uri, BifrostError> {
        let cfg = self.key_config(cx)?;
        let region = if cfg.region.is_empty() {
            "us-central1"
        } else {
            &cfg.region
        };
        let base = if !self.base.is_empty() {
            self.base.clone()
        } else if region == "global" {
            "https://aiplatform.googleapis.com".to_owned()
        } else {
            format!("https://{region}-aiplatform.googleapis.com")
        };
        let model = cx.key.deployment(cx.model);
        let publisher = if is_anthropic(model) {
            "anthropic"
        } else {
            "google"
        };
        parse_url(
            &self.upstream.name,
            &format!(
                "{base}/v1/projects/{}/locations/{region}/publishers/{publisher}/models/{}:{action}",
                cfg.project_id,
                path_segment(model)
            ),
        )
    }

    /// A service-account token, or the key's value as a ready access token when no
    /// credentials JSON is configured.
    async fn headers(&self, cx: &CallContext<'_>) -> Result<HeaderMap, BifrostError> {
        let cfg = self.key_config(cx)?;
        if cfg.auth_credentials.is_empty() {
            return Ok(openai::bearer(cx.key.value.expose()));
        }
        let token = auth::google_token(&self.upstream, &cfg.auth_credentials, &cfg.token).await?;
        Ok(openai::bearer(token.expose()))
    }
}

/// The Anthropic Messages request as Vertex wants it: the version in the body, the model in
/// the URL.
pub fn anthropic_request(
    req: &ChatRequest,
    model: &str,
    stream: bool,
) -> Result<Value, BifrostError> {
    let mut body = anthropic::request::to_anthropic(req, model, stream)?;
    if let Value::Object(map) = &mut body {
        map.remove("model");
        map.insert("anthropic_version".into(), json!(VERTEX_ANTHROPIC_VERSION));
    }
    Ok(body)
}

#[derive(Deserialize)]
struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: PredictedEmbedding,
}

#[derive(Deserialize)]
struct PredictedEmbedding {
    values: Vec<f64>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    #[serde(default)]
    token_count: f64,
}

/// `predict` for text-embedding models: one instance per input text.
pub fn embed_body(req: &EmbeddingRequest) -> Result<Vec<u8>, BifrostError> {
    let texts = req.input.texts().ok_or_else(|| {
        BifrostError::invalid_request("Vertex embeddings take text input, not token arrays")
    })?;
    let instances: Vec<Value> = texts.iter().map(|t| json!({ "content": t })).collect();
    let mut body = json!({ "instances": instances });
    if let Some(d) = req.dimensions {
        body["parameters"] = json!({ "outputDimensionality": d });
    }
    serialize(&body)
}

pub fn embed_response(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<EmbeddingResponse, BifrostError> {
    let r: PredictResponse = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    let mut tokens = 0u64;
    let data = r
        .predictions
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            tokens += p.embeddings.statistics.map_or(0, |s| s.token_count as u64);
            Embedding {
                object: "embedding".into(),
                index: i as u32,
                embedding: json!(p.embeddings.values),
            }
        })
        .collect();
    Ok(EmbeddingResponse {
        object: "list".into(),
        data,
        model: model.to_owned(),
        usage: Some(EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        }),
        extra: Default::default(),
    })
}

impl Provider for Vertex {
    fn name(&self) -> &str {
        &self.upstream.name
    }

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>> {
        Box::pin(async move {
            let model = cx.key.deployment(cx.model);
            let name = &self.upstream.name;
            if is_anthropic(model) {
                let url = self.url(&cx, "rawPredict")?;
                pipeline::complete(
                    &self.upstream,
                    cx,
                    || anthropic_request(req, model, false),
                    |_: &[u8]| self.target(cx, url),
                    |bytes| anthropic::response::from_anthropic(name, bytes),
                )
                .await
            } else {
                let url = self.url(&cx, "generateContent")?;
                pipeline::complete(
                    &self.upstream,
                    cx,
                    || gemini::request::to_gemini(req),
                    |_: &[u8]| self.target(cx, url),
                    |bytes| gemini::response::from_gemini(name, model, bytes),
                )
                .await
            }
        })
    }

    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>> {
        Box::pin(async move {
            let model = cx.key.deployment(cx.model);
            let name = &self.upstream.name;
            if is_anthropic(model) {
                let url = self.url(&cx, "streamRawPredict")?;
                pipeline::stream(
                    &self.upstream,
                    cx,
                    || anthropic_request(req, model, true),
                    |_: &[u8]| self.target(cx, url),
                    Sse,
                    |events| anthropic::chunk_stream(name, events),
                )
                .await
            } else {
                let url = self.url(&cx, "streamGenerateContent?alt=sse")?;
                pipeline::stream(
                    &self.upstream,
                    cx,
                    || gemini::request::to_gemini(req),
                    |_: &[u8]| self.target(cx, url),
                    Sse,
                    |events| gemini::chunk_stream(name, model, events),
                )
                .await
            }
        })
    }

    fn embed<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a EmbeddingRequest,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, BifrostError>> {
        Box::pin(async move {
            let url = self.url(&cx, "predict")?;
            let body = embed_body(req)?;
            let headers = self.headers(&cx).await?;
            let bytes = self.upstream.post_json(&url, headers, body).await?;
            embed_response(&self.upstream.name, cx.key.deployment(cx.model), &bytes)
        })
    }
}
