//! Azure OpenAI: OpenAI request and response bodies, sent to the key's resource at
//! `{endpoint}/openai/deployments/{deployment}/…?api-version=…`, authenticated with the
//! `api-key` header or an Entra ID token.

use super::http::{EventStream, Upstream};
use super::pipeline::{self, Call, ChatCodec, EmbedCodec, RawCodec, Sse, Target, TargetFuture};
use super::{auth, openai, parse_url, path_segment, CallContext, ChunkStream, Provider};
use crate::config::RequestType;
use crate::config::{AzureKeyConfig, CloudKeyConfig, AZURE_DEFAULT_API_VERSION};
use crate::error::BifrostError;
use crate::schemas::{ChatCompletion, EmbeddingRequest, EmbeddingResponse, RawBody};
use http::header::{HeaderMap, CONTENT_TYPE};

pub struct Azure {
    upstream: Upstream,
    /// `network_config.base_url`, used when a key names no endpoint.
    base: String,
}

impl Azure {
    pub fn new(upstream: Upstream, base: String) -> Self {
        Self { upstream, base }
    }

    fn key_config<'a>(&self, cx: &CallContext<'a>) -> Option<&'a AzureKeyConfig> {
        match &cx.key.cloud {
            Some(CloudKeyConfig::Azure(c)) => Some(c),
            _ => None,
        }
    }

    /// The deployment URL of `operation` (`chat/completions`, `embeddings`).
    fn url(&self, cx: &CallContext<'_>, operation: &str) -> Result<http::Uri, BifrostError> {
        let cfg = self.key_config(cx);
        let endpoint = cfg
            .map(|c| c.endpoint.as_str())
            .filter(|e| !e.is_empty())
            .unwrap_or(&self.base)
            .trim_end_matches('/');
        if endpoint.is_empty() {
            return Err(BifrostError::missing_key(format!(
                "the key of provider '{}' has no azure_key_config.endpoint",
                self.upstream.name
            )));
        }
        let version = cfg.map_or(AZURE_DEFAULT_API_VERSION, |c| c.api_version.as_str());
        let deployment = path_segment(cx.key.deployment(cx.model));
        parse_url(
            &self.upstream.name,
            &format!(
                "{endpoint}/openai/deployments/{deployment}/{operation}?api-version={version}"
            ),
        )
    }

    /// The deployment URL of `operation` and the auth headers.
    async fn target(&self, cx: CallContext<'_>, operation: &str) -> Result<Target, BifrostError> {
        let url = self.url(&cx, operation)?;
        Ok(Target::new(url, self.headers(&cx).await?))
    }

    async fn headers(&self, cx: &CallContext<'_>) -> Result<HeaderMap, BifrostError> {
        if let Some(entra) = self.key_config(cx).and_then(|c| c.entra.as_ref()) {
            let token = auth::entra_token(&self.upstream, entra).await?;
            return Ok(openai::bearer(token.expose()));
        }
        let mut h = HeaderMap::new();
        auth::insert_key(&mut h, "api-key", cx.key.value.expose());
        Ok(h)
    }
}

/// Azure is OpenAI's codec with the deployment as the model.
impl ChatCodec for Azure {
    type Wire<'r> = openai::WireRequest<'r>;
    type Address = ();
    type Framing = Sse;

    fn request(c: Call<'_>) -> Result<openai::WireRequest<'_>, BifrostError> {
        let deployment = c.cx.key.deployment(c.cx.model);
        Ok(openai::wire_request(deployment, c.req, c.stream))
    }

    fn target<'r>(&'r self, c: Call<'r>, _: (), _: &[u8]) -> impl TargetFuture + use<'r> {
        self.target(c.cx, "chat/completions")
    }

    fn response(&self, _: Call<'_>, bytes: &[u8]) -> Result<ChatCompletion, BifrostError> {
        openai::parse_completion(&self.upstream.name, bytes)
    }

    fn chunks(&self, _: Call<'_>, events: EventStream) -> ChunkStream {
        openai::chunk_stream(&self.upstream.name, events)
    }
}

impl EmbedCodec for Azure {
    type Embed<'r> = openai::WireEmbedding<'r>;

    fn embed_request<'r>(
        cx: CallContext<'r>,
        req: &'r EmbeddingRequest,
    ) -> Result<openai::WireEmbedding<'r>, BifrostError> {
        Ok(openai::WireEmbedding::new(cx.key.deployment(cx.model), req))
    }

    fn embed_target<'r>(&'r self, cx: CallContext<'r>) -> impl TargetFuture + use<'r> {
        self.target(cx, "embeddings")
    }

    fn embed_response(
        &self,
        _: CallContext<'_>,
        bytes: &[u8],
    ) -> Result<EmbeddingResponse, BifrostError> {
        openai::parse_embedding(&self.upstream.name, bytes)
    }
}

/// Forwarded operations go to the deployment's URL of the operation.
impl RawCodec for Azure {
    async fn raw_target<'r>(
        &'r self,
        cx: CallContext<'r>,
        op: RequestType,
        body: &'r RawBody,
    ) -> Result<(Target, Vec<u8>), BifrostError> {
        let url = self.url(&cx, op.openai_path())?;
        let (content_type, bytes) = openai::raw_body(cx.key.deployment(cx.model), body)?;
        let mut headers = self.headers(&cx).await?;
        headers.insert(CONTENT_TYPE, content_type);
        Ok((Target::new(url, headers), bytes))
    }
}

impl Provider for Azure {
    pipeline::translated_chat!();
    pipeline::translated_embed!();
    pipeline::forwarded_raw!();
}
