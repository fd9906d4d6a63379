//! The Gemini API (`generateContent`, `streamGenerateContent`, `embedContent`,
//! `batchEmbedContents`, `countTokens`) as it is written on the wire: camelCase, absent fields
//! left out. The Gemini and Vertex providers build their requests and read their upstream's
//! answers with these types; the `/genai` drop-in reads its clients' requests and writes its
//! answers with them.
//!
//! Reading is lenient, since clients and upstreams vary: absent fields take their default (and
//! `null` too where a client may send it), unknown fields are ignored. Field order is the
//! order the gateway writes keys in.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};
use std::fmt::Display;

/// `null` reads as an absent field.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The body of `POST models/{model}:generateContent` (and `:streamGenerateContent`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// Always written: Gemini rejects a body without it.
    #[serde(deserialize_with = "nullable")]
    pub contents: Vec<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Gemini-native settings, passed on as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_settings: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content: Option<Value>,
}

/// One turn (`user`/`model`), or the system instruction (no role).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Content {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(deserialize_with = "nullable")]
    pub parts: Vec<Part>,
}

/// A part holds one kind of data (`text`, `inlineData`, `fileData`, `functionCall` or
/// `functionResponse`); `thought` and `thoughtSignature` annotate it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A thought summary, not the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Blob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<FileData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_call: Option<FunctionCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response: Option<FunctionResponse>,
    /// Gemini 3 wants it back with the part it came on (it refuses a function call in the
    /// history without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
    /// Every other field (`executableCode`, `videoMetadata`, …), so a translation can name
    /// what it does not handle.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Part {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// `{"text": …, "thought": true}`.
    pub fn thought(text: impl Into<String>) -> Self {
        Self {
            thought: Some(true),
            ..Self::text(text)
        }
    }
}

/// `Part::from(blob)`, …: a part holding that one kind of data.
macro_rules! part_from {
    ($($kind:ty => $field:ident),*) => {$(
        impl From<$kind> for Part {
            fn from(data: $kind) -> Self {
                Self { $field: Some(data), ..Self::default() }
            }
        }
    )*};
}
part_from!(
    Blob => inline_data,
    FileData => file_data,
    FunctionCall => function_call,
    FunctionResponse => function_response
);

/// `inlineData`: base64 data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Blob {
    pub mime_type: String,
    pub data: String,
}

/// `fileData`: a URI (a Files API URI, or an http(s) URL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    pub file_uri: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// Absent reads as empty: an upstream's call is taken as it comes (a client's without a
    /// name is refused by the `/genai` translation).
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl FunctionCall {
    /// The call's own id, else `call_<n>`.
    pub fn call_id(&self, n: impl Display) -> String {
        match &self.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ => format!("call_{n}"),
        }
    }

    /// OpenAI carries arguments as JSON text; missing args are an empty object.
    pub fn arguments(&self) -> String {
        match &self.args {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(v) => v.to_string(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionResponse {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// One entry of `tools`: function declarations, or one of Gemini's own tools (`googleSearch`,
/// `codeExecution`, …), which only Gemini runs, kept in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Tool {
    #[serde(deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Gemini's OpenAPI-subset `Schema`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Full JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ToolConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_calling_config: Option<FunctionCallingConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY`, `NONE` or `VALIDATED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_function_names: Option<Vec<String>>,
}

/// `topK`, `seed` and the penalties stay the JSON number given, integer or not.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GenerationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// OpenAPI-subset schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_config: Option<ThinkingConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_modalities: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_logprobs: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ThinkingConfig {
    /// Tokens; 0 is off, -1 dynamic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_budget: Option<i64>,
    /// Gemini 3: `MINIMAL`, `LOW`, `MEDIUM` or `HIGH` (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_thoughts: Option<bool>,
}

/// The answer of `generateContent`, and each `data:` event of `streamGenerateContent`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GenerateContentResponse {
    pub candidates: Vec<Candidate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Candidate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

/// Set when the prompt itself was refused (`blockReason`, and then no candidates).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PromptFeedback {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// `usageMetadata`. `promptTokenCount` includes the cached tokens; thoughts are counted apart
/// from the candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct UsageMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_content_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thoughts_token_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_prompt_token_count: Option<u64>,
}

/// The body of `POST models/{model}:embedContent`, and each request of `batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EmbedContentRequest {
    /// `models/<model>`; a client may leave it out (the URL names the model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimensionality: Option<u32>,
}

/// The body of `POST models/{model}:batchEmbedContents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchEmbedContentsRequest {
    pub requests: Vec<EmbedContentRequest>,
}

/// The answer of `batchEmbedContents` (`embeddings`) or of `embedContent` (`embedding`).
/// `V` is a vector: floats as Gemini sends them, or the JSON the `/genai` drop-in passes on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    rename_all = "camelCase",
    bound(deserialize = "V: Deserialize<'de> + Default")
)]
pub struct EmbedContentResponse<V = Vec<f64>> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embeddings: Option<Vec<ContentEmbedding<V>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<ContentEmbedding<V>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "V: Deserialize<'de> + Default"))]
pub struct ContentEmbedding<V = Vec<f64>> {
    pub values: V,
}

/// The answer of `countTokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CountTokensResponse {
    pub total_tokens: u64,
}

/// Google's error body: `{"error":{"code","message","status"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorResponse {
    pub error: Status,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// The HTTP status.
    pub code: u16,
    pub message: String,
    /// Its name: `INVALID_ARGUMENT`, `NOT_FOUND`, `UNAVAILABLE`, ….
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What a client or an upstream writes reads in and writes out the same, key order too.
    #[test]
    fn requests_and_responses_round_trip() {
        let request = json!({
            "contents": [
                {"role": "user", "parts": [
                    {"text": "Where is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/a.jpg"}}
                ]},
                {"role": "model", "parts": [
                    {"text": "Let me look.", "thought": true},
                    {"functionCall": {"name": "locate", "args": {"q": "a"}, "id": "c1"},
                     "thoughtSignature": "c2ln"}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "locate", "response": {"city": "Paris"}, "id": "c1"}},
                    {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
                ]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [
                {"functionDeclarations": [{"name": "locate", "description": "Find",
                  "parametersJsonSchema": {"type": "object"}}]},
                {"googleSearch": {}}
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["locate"]}},
            "generationConfig": {"temperature": 0.5, "topK": 40, "seed": 7,
                "responseMimeType": "application/json",
                "thinkingConfig": {"thinkingBudget": -1, "includeThoughts": true}},
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
            "cachedContent": "cachedContents/abc"
        });
        let typed: GenerateContentRequest = serde_json::from_value(request.clone()).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), request.to_string());

        let response = json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Paris."}]},
                            "index": 0, "finishReason": "STOP"}],
            "promptFeedback": {"blockReason": "SAFETY"},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "r1",
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2,
                              "totalTokenCount": 15, "thoughtsTokenCount": 4}
        });
        let typed: GenerateContentResponse = serde_json::from_value(response.clone()).unwrap();
        assert_eq!(serde_json::to_string(&typed).unwrap(), response.to_string());
    }

    #[test]
    fn absent_and_null_fields_read_as_empty() {
        let req: GenerateContentRequest = serde_json::from_value(
            json!({"contents": null, "tools": [{"functionDeclarations": null}]}),
        )
        .unwrap();
        assert!(req.contents.is_empty() && req.tools[0].function_declarations.is_empty());
        let content: Content = serde_json::from_value(json!({"parts": null})).unwrap();
        assert!(content.parts.is_empty());

        // An upstream's call without name, id or args is kept.
        let part: Part = serde_json::from_value(json!({"functionCall": {}})).unwrap();
        let call = part.function_call.unwrap();
        assert_eq!(
            (call.name.as_str(), call.call_id(3)),
            ("", "call_3".to_owned())
        );
        assert_eq!(call.arguments(), "{}");

        let embed: EmbedContentResponse = serde_json::from_value(json!({"embedding": {}})).unwrap();
        assert_eq!(embed.embedding.map(|e| e.values), Some(Vec::new()));
    }
}
