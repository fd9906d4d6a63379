//! Chats in a client API's own format (passthrough to a provider of that API, translation for
//! the others) and the Cohere and Bedrock routes' native forwarding.

use super::chat::Answered;
use super::respond::{add_meta, json_response, sse_response};
use super::sse::{self, encoded_sse};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bifrost_core::providers::native::{NativeRequest, WireApi};
use bifrost_core::schemas::RoutingFields;
use bifrost_core::{
    inbound, ApiFormat, BifrostError, ChatRequest, NativeAnswer, NativeChat, RawBody, RawRequest,
    RequestOptions, RequestType,
};

/// The native drop-in APIs: their bodies are forwarded untranslated, so only a provider of
/// the same format can take them.
#[derive(Clone, Copy)]
pub(super) enum Native {
    Cohere,
    Bedrock,
}

impl Native {
    fn format(self) -> ApiFormat {
        match self {
            Native::Cohere => ApiFormat::Cohere,
            Native::Bedrock => ApiFormat::Bedrock,
        }
    }

    fn stream_type(self) -> &'static str {
        match self {
            Native::Cohere => "text/event-stream",
            Native::Bedrock => "application/vnd.amazon.eventstream",
        }
    }

    pub fn call(self, model: String, stream: bool) -> NativeCall {
        NativeCall {
            kind: self,
            model,
            stream,
        }
    }

    /// The engine refuses a native body for a provider of another format with a generic
    /// "does not support the chat_completion operation"; this says what the route needs.
    fn wrong_format(self, e: &BifrostError, model: &str) -> BifrostError {
        let (route, kind) = match self {
            Native::Cohere => ("/cohere", "Cohere"),
            Native::Bedrock => ("/bedrock", "Bedrock"),
        };
        let provider = e.provider.as_deref().unwrap_or("unknown");
        let mut out = BifrostError::invalid_request(format!(
            "{route} forwards only to {kind}-format providers, but model '{model}' resolved to \
             provider '{provider}', which is not one; name a {kind}-format provider, or send \
             the request to the OpenAI-compatible /v1/chat/completions"
        ));
        out.code = Some("unsupported_provider_format".to_owned());
        out.provider.clone_from(&e.provider);
        out.model = Some(model.to_owned());
        out
    }
}

/// What a native route read of its request: the format, the model and whether to stream.
pub(super) struct NativeCall {
    pub kind: Native,
    pub model: String,
    pub stream: bool,
}

/// A request in the provider's own format, forwarded to a provider of that format; its answer
/// (or stream) goes back as it came.
pub(super) async fn native(
    engine: &bifrost_core::Bifrost,
    opts: RequestOptions,
    route_provider: impl Fn(&mut Option<String>, &str),
    body: Bytes,
    call: NativeCall,
) -> Result<(Response, Answered, bool), BifrostError> {
    let NativeCall {
        kind,
        model,
        stream,
    } = call;
    let mut provider = None;
    route_provider(&mut provider, &model);
    // Only the first target's format is known up front; the engine names the provider it
    // refused (an alias may still fall back to a provider of the right format).
    let mismatch = engine
        .target_format(provider.as_deref(), &model)
        .is_some_and(|f| f != kind.format());
    let refine = |e: BifrostError| {
        if mismatch && e.code.as_deref() == Some("unsupported_operation") {
            kind.wrong_format(&e, &model)
        } else {
            e
        }
    };
    let req = RawRequest {
        provider,
        model: model.clone(),
        body: RawBody::Native(body),
        fallbacks: Vec::new(),
    };
    if stream {
        let mut out = engine
            .raw_stream(RequestType::ChatCompletionStream, req, opts)
            .await
            .map_err(refine)?;
        let aws = matches!(kind, Native::Bedrock);
        let mut resp = sse::native_stream(out.body, kind.stream_type(), aws);
        add_meta(resp.headers_mut(), &mut out.meta);
        return Ok((resp, Answered::new(out.meta, None), true));
    }
    let out = engine
        .raw_request(RequestType::ChatCompletion, req, opts)
        .await
        .map_err(refine)?;
    Ok(forwarded(out))
}

/// A forwarded answer as the upstream gave it, with the gateway's headers.
pub(super) fn forwarded(
    mut out: bifrost_core::BifrostResponse<bifrost_core::RawResponse>,
) -> (Response, Answered, bool) {
    let content_type = HeaderValue::from_str(&out.body.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        out.body.body,
    )
        .into_response();
    add_meta(resp.headers_mut(), &mut out.meta);
    (resp, Answered::new(out.meta, None), false)
}

/// How a translated chat answer is rendered: OpenAI's shape, or a drop-in API's. (A
/// same-format answer goes back as the upstream sent it.)
pub(super) enum ChatRender {
    OpenAi,
    /// The client's Responses body, read again only if its answer must be rendered.
    Responses(Bytes),
    Anthropic(String),
    GenAi(String),
}

/// The headers of a client's request that its API's upstream understands.
static FORWARDED_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("anthropic-beta"),
    HeaderName::from_static("anthropic-version"),
    HeaderName::from_static("openai-beta"),
];

pub(super) fn native_request(
    api: WireApi,
    body: &Bytes,
    headers: &HeaderMap,
    stream: bool,
) -> NativeRequest {
    let mut forwarded = HeaderMap::new();
    for name in &FORWARDED_HEADERS {
        for v in headers.get_all(name) {
            forwarded.append(name.clone(), v.clone());
        }
    }
    NativeRequest {
        api,
        body: body.clone(),
        headers: forwarded,
        stream,
        client_wants_usage: false,
    }
}

/// A chat whose body names its model (OpenAI chat and Responses, Anthropic): the routing
/// fields read without parsing the rest, the translation left for targets of another API.
pub(super) fn routed_chat(
    api: WireApi,
    body: &Bytes,
    headers: &HeaderMap,
    translate: fn(&[u8]) -> Result<ChatRequest, BifrostError>,
) -> Result<NativeChat, BifrostError> {
    let routing = RoutingFields::read(body)?;
    let model = routing.require_model()?.to_owned();
    let mut native = native_request(api, body, headers, routing.stream == Some(true));
    native.client_wants_usage = routing
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let translated = body.clone();
    let mut req = NativeChat::new(native, model, move || translate(&translated));
    req.max_tokens = routing.output_cap();
    req.temperature = routing.temperature;
    req.provider = routing.provider;
    req.fallbacks = routing.fallbacks;
    Ok(req)
}

/// A chat in the client's own API: relayed as the upstream sent it when it speaks that API,
/// else rendered from the unified answer.
pub(super) async fn native_chat(
    engine: &bifrost_core::Bifrost,
    req: NativeChat,
    opts: RequestOptions,
    render: ChatRender,
) -> Result<(Response, Answered, bool), BifrostError> {
    let api = req.native.api;
    let out = engine.native_chat(req, opts).await?;
    let mut meta = out.meta;
    let (mut resp, usage, stream) = match out.body {
        NativeAnswer::Json { body, content_type } => {
            let content_type = HeaderValue::from_str(&content_type)
                .unwrap_or(HeaderValue::from_static("application/json"));
            let resp = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body);
            (resp.into_response(), None, false)
        }
        NativeAnswer::Stream {
            content_type,
            stream,
        } => (sse::relayed(stream, content_type, api), None, true),
        NativeAnswer::Chat(c) => {
            let usage = c
                .usage
                .as_ref()
                .map(|u| (u.prompt_tokens, u.completion_tokens));
            let resp = match render {
                ChatRender::OpenAi => json_response(&c)?,
                ChatRender::Responses(body) => {
                    let (_, echo) = inbound::responses::parse(&body)?;
                    json_response(&inbound::responses::from_chat(&c, &echo))?
                }
                ChatRender::Anthropic(model) => {
                    json_response(&inbound::anthropic::from_chat(&c, &model))?
                }
                ChatRender::GenAi(model) => json_response(&inbound::genai::from_chat(&c, &model))?,
            };
            (resp, usage, false)
        }
        NativeAnswer::ChatStream(s) => {
            let resp = match render {
                ChatRender::OpenAi => sse_response(s),
                ChatRender::Responses(body) => {
                    let (_, echo) = inbound::responses::parse(&body)?;
                    encoded_sse(
                        s,
                        sse::Responses(inbound::responses::StreamEncoder::new(echo)),
                    )
                }
                ChatRender::Anthropic(model) => encoded_sse(
                    s,
                    sse::Anthropic(inbound::anthropic::StreamEncoder::new(&model)),
                ),
                ChatRender::GenAi(model) => {
                    encoded_sse(s, sse::GenAi(inbound::genai::StreamEncoder::new(&model)))
                }
            };
            (resp, None, true)
        }
    };
    add_meta(resp.headers_mut(), &mut meta);
    Ok((resp, Answered::new(meta, usage), stream))
}
