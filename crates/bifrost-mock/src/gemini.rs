//! Google Gemini API endpoints (`/v1beta/models/{model}:{action}`), also served under Vertex
//! AI's path (`/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{action}`):
//! `generateContent`, `streamGenerateContent` (SSE with `alt=sse`, else a JSON array),
//! `embedContent` and `batchEmbedContents`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::errors::{encode_failure, error_response, json_body, Flavor};
use crate::gate::Inbound;
use crate::reply::{
    completion_tokens, prompt_tokens, reply_text, split_pieces, wants_tool_call, Content,
};
use crate::state::MockState;
use crate::stream::{sse_response, Frame};

/// Dimensions of a mock embedding when the request does not ask for a number.
const DEFAULT_DIMENSIONS: usize = 8;
/// Upper bound on `outputDimensionality`, as the real embedding models have.
const MAX_DIMENSIONS: usize = 3072;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateRequest {
    #[serde(default)]
    contents: Vec<Turn>,
    #[serde(default, alias = "system_instruction")]
    system_instruction: Option<Turn>,
    #[serde(default)]
    tools: Vec<Tool>,
}

/// A turn; only the text parts matter (`parts` reads like a block list).
#[derive(Deserialize)]
struct Turn {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    parts: Option<Content>,
}

impl Turn {
    fn char_count(&self) -> usize {
        self.parts.as_ref().map_or(0, Content::char_count)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tool {
    #[serde(default, alias = "function_declarations")]
    function_declarations: Vec<FunctionDeclaration>,
}

#[derive(Deserialize)]
struct FunctionDeclaration {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Option<Turn>,
    #[serde(default)]
    output_dimensionality: Option<usize>,
}

#[derive(Deserialize)]
struct BatchEmbedRequest {
    #[serde(default)]
    requests: Vec<EmbedRequest>,
}

// Typed replies, in the real API's field order.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse<'a> {
    candidates: [Candidate<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    content: CandidateContent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct CandidateContent<'a> {
    parts: Vec<Part<'a>>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Part<'a> {
    Text(&'a str),
    FunctionCall { name: &'a str, args: Value },
}

#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
}

/// Everything a reply is made of, shared by the streaming and plain shapes.
struct Reply<'a> {
    id: &'a str,
    model: &'a str,
    text: &'a str,
    /// Name of the function to call, if the reply is a function call.
    tool: Option<&'a str>,
    usage: UsageMetadata,
}

impl Reply<'_> {
    fn parts(&self) -> Vec<Part<'_>> {
        match self.tool {
            Some(name) => vec![Part::FunctionCall {
                name,
                args: json!({"location": "Paris"}),
            }],
            None => vec![Part::Text(self.text)],
        }
    }

    fn response<'b>(&'b self, parts: Vec<Part<'b>>, finish: bool) -> GenerateResponse<'b> {
        GenerateResponse {
            candidates: [Candidate {
                content: CandidateContent {
                    parts,
                    role: "model",
                },
                finish_reason: finish.then_some("STOP"),
                index: 0,
            }],
            usage_metadata: finish.then_some(self.usage),
            model_version: self.model,
            response_id: self.id,
        }
    }

    /// One response per text piece (or one holding the function call); the last carries
    /// `finishReason` and `usageMetadata`, as the real stream does.
    fn stream_responses(&self, chunks: usize) -> Vec<GenerateResponse<'_>> {
        if self.tool.is_some() {
            return vec![self.response(self.parts(), true)];
        }
        let mut pieces = split_pieces(self.text, chunks);
        if pieces.is_empty() {
            // An empty reply still needs a response to carry the finish.
            pieces.push("");
        }
        let last = pieces.len() - 1;
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, text)| self.response(vec![Part::Text(text)], i == last))
            .collect()
    }
}

/// `POST /v1beta/models/{model_action}`.
pub(crate) async fn gemini(Path(model_action): Path<String>, inbound: Inbound) -> Response {
    serve(&model_action, inbound).await
}

/// `POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model_action}`.
pub(crate) async fn vertex(
    Path((_project, _location, model_action)): Path<(String, String, String)>,
    inbound: Inbound,
) -> Response {
    serve(&model_action, inbound).await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Generate,
    StreamGenerate,
    Embed,
    BatchEmbed,
    /// Vertex AI's `predict` for text-embedding models.
    Predict,
}

async fn serve(model_action: &str, inbound: Inbound) -> Response {
    let not_found = |message: &str| error_response(Flavor::Gemini, StatusCode::NOT_FOUND, message);
    let Some((model, action)) = model_action.split_once(':') else {
        return not_found("mock: expected models/{model}:{action}");
    };
    let action = match action {
        "generateContent" => Action::Generate,
        "streamGenerateContent" => Action::StreamGenerate,
        "embedContent" => Action::Embed,
        "batchEmbedContents" => Action::BatchEmbed,
        "predict" => Action::Predict,
        _ => return not_found(&format!("mock: unknown method '{action}'")),
    };
    let sse = inbound
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "alt=sse"));
    let (state, config, body) = match inbound.admit(Flavor::Gemini).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    match action {
        Action::Generate | Action::StreamGenerate => {
            let stream = (action == Action::StreamGenerate).then_some(sse);
            generate(&state, &config, model, &body, stream)
        }
        Action::Embed => embed(model, &body),
        Action::BatchEmbed => batch_embed(model, &body),
        Action::Predict => predict(&body),
    }
}

/// `{"instances":[{"content":…}]}` → `{"predictions":[{"embeddings":{"values","statistics"}}]}`.
fn predict(body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return bad_request("mock: invalid JSON body");
    };
    let Some(instances) = request["instances"].as_array() else {
        return bad_request("mock: instances is required");
    };
    let predictions: Vec<serde_json::Value> = instances
        .iter()
        .map(|i| {
            let text = i["content"].as_str().unwrap_or_default();
            serde_json::json!({"embeddings": {
                "values": crate::cloud::embedding_of(text),
                "statistics": {"token_count": prompt_tokens(text.chars().count()), "truncated": false}
            }})
        })
        .collect();
    axum::Json(serde_json::json!({ "predictions": predictions })).into_response()
}

fn bad_request(message: &str) -> Response {
    error_response(Flavor::Gemini, StatusCode::BAD_REQUEST, message)
}

/// `stream`: `None` for `generateContent`, `Some(sse)` for `streamGenerateContent`.
fn generate(
    state: &MockState,
    config: &crate::MockConfig,
    model: &str,
    body: &[u8],
    stream: Option<bool>,
) -> Response {
    let request: GenerateRequest = match json_body(Flavor::Gemini, body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if request.contents.is_empty() {
        return bad_request("* GenerateContentRequest.contents: contents is not specified");
    }

    // A turn without a role is the user's, as the real API reads it.
    let user_text = request
        .contents
        .iter()
        .rev()
        .find(|t| t.role.as_deref().is_none_or(|r| r == "user"))
        .and_then(|t| t.parts.as_ref())
        .map(|p| p.text().into_owned())
        .unwrap_or_default();
    let declared = request
        .tools
        .iter()
        .flat_map(|t| t.function_declarations.iter());
    let first_function = declared.clone().next();
    let tool = wants_tool_call(first_function.is_some(), &user_text)
        .then(|| first_function.and_then(|f| f.name.as_deref()).unwrap_or(""));
    let text = match tool {
        Some(_) => String::new(),
        None => reply_text(&user_text, config.response_size),
    };
    let input_chars = request.contents.iter().map(Turn::char_count).sum::<usize>()
        + request
            .system_instruction
            .as_ref()
            .map_or(0, Turn::char_count);
    let output_tokens = match tool {
        Some(_) => completion_tokens(r#"{"location":"Paris"}"#),
        None => completion_tokens(&text),
    };
    let prompt = prompt_tokens(input_chars);
    let id = format!("mock-gemini-{}", state.next_id());
    let reply = Reply {
        id: &id,
        model,
        text: &text,
        tool,
        usage: UsageMetadata {
            prompt_token_count: prompt,
            candidates_token_count: output_tokens,
            total_token_count: prompt + output_tokens,
        },
    };

    match stream {
        None => Json(reply.response(reply.parts(), true)).into_response(),
        // Without `alt=sse` the real API streams one JSON array of the same responses.
        Some(false) => Json(reply.stream_responses(config.chunks)).into_response(),
        Some(true) => {
            let frames: serde_json::Result<Vec<Frame>> = reply
                .stream_responses(config.chunks)
                .iter()
                .map(|r| Frame::data_crlf(r, true))
                .collect();
            match frames {
                Ok(frames) => sse_response(frames, config, state.counters().clone()),
                Err(err) => encode_failure(Flavor::Gemini, &err),
            }
        }
    }
}

/// `:embedContent` → `{"embedding":{"values":[…]}}`.
fn embed(model: &str, body: &[u8]) -> Response {
    let request: EmbedRequest = match json_body(Flavor::Gemini, body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    match embedding(model, &request) {
        Ok(values) => Json(json!({"embedding": {"values": values}})).into_response(),
        Err(message) => bad_request(&message),
    }
}

/// `:batchEmbedContents` → `{"embeddings":[{"values":[…]}, …]}`.
fn batch_embed(model: &str, body: &[u8]) -> Response {
    let request: BatchEmbedRequest = match json_body(Flavor::Gemini, body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if request.requests.is_empty() {
        return bad_request(
            "* BatchEmbedContentsRequest.requests: at least one request is required",
        );
    }
    let mut embeddings = Vec::with_capacity(request.requests.len());
    for (i, r) in request.requests.iter().enumerate() {
        // The real API insists that each request names the model of the URL.
        let expected = format!("models/{model}");
        if r.model.as_deref() != Some(expected.as_str()) {
            return bad_request(&format!(
                "* BatchEmbedContentsRequest.requests[{i}].model: must be '{expected}'"
            ));
        }
        match embedding(model, r) {
            Ok(values) => embeddings.push(json!({"values": values})),
            Err(message) => return bad_request(&message),
        }
    }
    Json(json!({"embeddings": embeddings})).into_response()
}

/// A deterministic vector for the request's text: FNV-1a of model, text and position, mapped
/// to `[-1, 1]` with three decimals. `Err` holds the message of a 400.
fn embedding(model: &str, request: &EmbedRequest) -> Result<Vec<f64>, String> {
    let text = request
        .content
        .as_ref()
        .and_then(|c| c.parts.as_ref())
        .map(|p| p.text().into_owned())
        .unwrap_or_default();
    if text.is_empty() {
        return Err("* EmbedContentRequest.content: contains an empty Part.".to_owned());
    }
    let dims = request.output_dimensionality.unwrap_or(DEFAULT_DIMENSIONS);
    if dims == 0 || dims > MAX_DIMENSIONS {
        return Err(format!(
            "* EmbedContentRequest.output_dimensionality: must be within 1..={MAX_DIMENSIONS}"
        ));
    }
    Ok((0..dims)
        .map(|i| {
            let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
            let bytes = model
                .bytes()
                .chain([0])
                .chain(text.bytes())
                .chain(i.to_le_bytes());
            for b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
            // 0..=2000 → -1.000..=1.000.
            let milli = i32::try_from(hash % 2001).unwrap_or(0) - 1000;
            f64::from(milli) / 1000.0
        })
        .collect())
}
