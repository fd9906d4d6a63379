//! Vertex AI: Gemini models through `generateContent` (the Gemini translation), Anthropic
//! models through `rawPredict` (the Anthropic translation, with Vertex's `anthropic_version`
//! and no `model` field), embeddings through `predict`; a service-account access token as
//! Bearer.

use super::http::{EventStream, Upstream};
use super::pipeline::{self, Call, ChatCodec, EmbedCodec, Sse, Target, TargetFuture};
use super::{
    anthropic, auth, gemini, openai, parse_url, path_segment, CallContext, ChunkStream, Provider,
};
use crate::config::{CloudKeyConfig, VertexKeyConfig};
use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage,
};
use crate::wire::anthropic::MessagesRequest;
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
pub fn anthropic_request<'r>(
    req: &'r ChatRequest,
    model: &'r str,
    stream: bool,
) -> Result<ClaudeRequest<'r>, BifrostError> {
    let mut body = anthropic::request::messages_request(req, model, stream)?;
    body.model = "".into();
    Ok(ClaudeRequest {
        anthropic_version: VERTEX_ANTHROPIC_VERSION,
        body,
    })
}

/// A Claude request on Vertex: Anthropic's body without `model` (the URL names it), with
/// Vertex's `anthropic_version`.
#[derive(serde::Serialize)]
pub struct ClaudeRequest<'r> {
    anthropic_version: &'static str,
    #[serde(flatten)]
    body: MessagesRequest<'r>,
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
pub fn embed_body(req: &EmbeddingRequest) -> Result<Value, BifrostError> {
    let texts = req.input.texts().ok_or_else(|| {
        BifrostError::invalid_request("Vertex embeddings take text input, not token arrays")
    })?;
    let instances: Vec<Value> = texts.iter().map(|t| json!({ "content": t })).collect();
    let mut body = json!({ "instances": instances });
    if let Some(d) = req.dimensions {
        body["parameters"] = json!({ "outputDimensionality": d });
    }
    Ok(body)
}

pub fn embed_response(
    provider: &str,
    model: &str,
    body: &[u8],
) -> Result<EmbeddingResponse, BifrostError> {
    let r: PredictResponse = serde_json::from_slice(body)
        .map_err(|e| BifrostError::bad_upstream_response(provider, e))?;
    let tokens = r
        .predictions
        .iter()
        .map(|p| {
            p.embeddings
                .statistics
                .as_ref()
                .map_or(0, |s| s.token_count as u64)
        })
        .sum();
    let data = super::embedding_data(r.predictions.into_iter().map(|p| p.embeddings.values));
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

/// A Vertex request body: Anthropic's for Claude models, Gemini's for the rest; either
/// serializes as itself.
#[derive(serde::Serialize)]
#[serde(untagged)]
// One value a call, serialized at once: boxing the large variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum VertexRequest<'r> {
    Anthropic(ClaudeRequest<'r>),
    Gemini(crate::wire::gemini::GenerateContentRequest),
}

/// Claude models go through the Anthropic codec, the rest through Gemini's. The URL comes
/// first: a key without vertex_key_config fails before translating.
impl ChatCodec for Vertex {
    type Wire<'r> = VertexRequest<'r>;
    type Address = http::Uri;
    type Framing = Sse;

    fn address(&self, c: Call<'_>) -> Result<http::Uri, BifrostError> {
        let action = match (is_anthropic(c.cx.key.deployment(c.cx.model)), c.stream) {
            (true, false) => "rawPredict",
            (true, true) => "streamRawPredict",
            (false, false) => "generateContent",
            (false, true) => "streamGenerateContent?alt=sse",
        };
        self.url(&c.cx, action)
    }

    fn request(c: Call<'_>) -> Result<VertexRequest<'_>, BifrostError> {
        let model = c.cx.key.deployment(c.cx.model);
        if is_anthropic(model) {
            anthropic_request(c.req, model, c.stream).map(VertexRequest::Anthropic)
        } else {
            gemini::request::to_gemini(c.req).map(VertexRequest::Gemini)
        }
    }

    fn target<'r>(&'r self, c: Call<'r>, url: http::Uri, _: &[u8]) -> impl TargetFuture + use<'r> {
        self.target(c.cx, url)
    }

    fn response(&self, c: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        let model = c.cx.key.deployment(c.cx.model);
        if is_anthropic(model) {
            anthropic::response::from_anthropic(&self.upstream.name, bytes)
        } else {
            gemini::response::from_gemini(&self.upstream.name, model, bytes)
        }
    }

    fn chunks(&self, c: Call<'_>, events: EventStream) -> ChunkStream {
        let model = c.cx.key.deployment(c.cx.model);
        if is_anthropic(model) {
            anthropic::chunk_stream(&self.upstream.name, events)
        } else {
            gemini::chunk_stream(&self.upstream.name, model, events)
        }
    }
}

impl EmbedCodec for Vertex {
    type Embed<'r> = Value;

    fn embed_request(_: CallContext<'_>, req: &EmbeddingRequest) -> Result<Value, BifrostError> {
        embed_body(req)
    }

    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r> {
        async move { self.target(cx, self.url(&cx, "predict")?).await }
    }

    fn embed_response(
        &self,
        cx: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError> {
        embed_response(&self.upstream.name, cx.key.deployment(cx.model), bytes)
    }
}

impl Provider for Vertex {
    pipeline::translated_chat!();
    pipeline::translated_embed!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_fixtures::chat_request;

    #[test]
    fn claude_bodies_name_the_vertex_version_and_no_model() {
        let req = chat_request(json!({
            "model": "vertex/claude-sonnet-4",
            "max_tokens": 64,
            "top_k": 5,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": "Hi"}]
        }));
        let body = anthropic_request(&req, "claude-sonnet-4", true).unwrap();
        let v: Value = serde_json::from_slice(&serde_json::to_vec(&body).unwrap()).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[0], "anthropic_version", "{v}");
        assert_eq!(v["anthropic_version"], VERTEX_ANTHROPIC_VERSION);
        assert!(v.get("model").is_none(), "{v}");
        assert_eq!(v["system"], "Be brief.");
        assert_eq!(v["max_tokens"], 64);
        assert_eq!(v["top_k"], 5);
        assert_eq!(v["stream"], true);
        assert_eq!(v["messages"][0]["role"], "user");
    }
}
