//! Azure OpenAI: OpenAI request and response bodies, sent to the key's resource at
//! `{endpoint}/openai/deployments/{deployment}/…?api-version=…`, authenticated with the
//! `api-key` header or an Entra ID token.

use super::http::{ByteStream, Upstream};
use super::pipeline::{self, Sse, Target};
use super::{auth, openai, parse_url, path_segment, CallContext, ChunkStream, Provider};
use crate::config::RequestType;
use crate::config::{AzureKeyConfig, CloudKeyConfig, AZURE_DEFAULT_API_VERSION};
use crate::error::BifrostError;
use crate::schemas::{
    ChatCompletion, ChatRequest, EmbeddingRequest, EmbeddingResponse, RawBody, RawResponse,
};
use futures::future::BoxFuture;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

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
        let key = cx.key.value.expose();
        if !key.is_empty() {
            if let Ok(mut v) = HeaderValue::from_str(key) {
                v.set_sensitive(true);
                h.insert(HeaderName::from_static("api-key"), v);
            }
        }
        Ok(h)
    }
}

impl Provider for Azure {
    fn name(&self) -> &str {
        &self.upstream.name
    }

    fn chat<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatCompletion, BifrostError>> {
        Box::pin(pipeline::complete(
            &self.upstream,
            cx,
            move || {
                Ok(openai::wire_request(
                    cx.key.deployment(cx.model),
                    req,
                    false,
                ))
            },
            move |_: &[u8]| self.target(cx, "chat/completions"),
            |bytes| openai::parse_completion(&self.upstream.name, bytes),
        ))
    }

    fn chat_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, BifrostError>> {
        Box::pin(pipeline::stream(
            &self.upstream,
            cx,
            move || Ok(openai::wire_request(cx.key.deployment(cx.model), req, true)),
            move |_: &[u8]| self.target(cx, "chat/completions"),
            Sse,
            |events| openai::chunk_stream(&self.upstream.name, events),
        ))
    }

    fn embed<'a>(
        &'a self,
        cx: CallContext<'a>,
        req: &'a EmbeddingRequest,
    ) -> BoxFuture<'a, Result<EmbeddingResponse, BifrostError>> {
        Box::pin(async move {
            let url = self.url(&cx, "embeddings")?;
            let body = openai::embed_body(cx.key.deployment(cx.model), req)?;
            let headers = self.headers(&cx).await?;
            let bytes = self.upstream.post_json(&url, headers, body).await?;
            openai::parse_embedding(&self.upstream.name, &bytes)
        })
    }

    fn raw<'a>(
        &'a self,
        cx: CallContext<'a>,
        op: RequestType,
        body: &'a RawBody,
    ) -> BoxFuture<'a, Result<RawResponse, BifrostError>> {
        Box::pin(async move {
            let url = self.url(&cx, op.openai_path())?;
            let (content_type, bytes) = openai::raw_body(cx.key.deployment(cx.model), body)?;
            let mut headers = self.headers(&cx).await?;
            headers.insert(CONTENT_TYPE, content_type);
            let (ct, resp) = self.upstream.post(&url, headers, bytes).await?;
            Ok(openai::raw_response(ct, resp))
        })
    }

    fn raw_stream<'a>(
        &'a self,
        cx: CallContext<'a>,
        op: RequestType,
        body: &'a RawBody,
    ) -> BoxFuture<'a, Result<ByteStream, BifrostError>> {
        Box::pin(async move {
            let url = self.url(&cx, op.openai_path())?;
            let (content_type, bytes) = openai::raw_body(cx.key.deployment(cx.model), body)?;
            let mut headers = self.headers(&cx).await?;
            headers.insert(CONTENT_TYPE, content_type);
            self.upstream.post_stream(&url, headers, bytes).await
        })
    }
}
