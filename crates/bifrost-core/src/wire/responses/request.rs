//! The request: its body, and the input items, content parts and tools in it. An item a client
//! sends back from an earlier response ([`FunctionCall`], an assistant message's
//! [`OutputText`] and [`Refusal`]) reads as the output type it was written as. Read through
//! `serde_path_to_error`, an error names the bad field, also inside items (see
//! `wire::error_path`).

use super::{FunctionCall, OutputText, Refusal, Role};
use crate::wire::parse_buffered;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

/// The body of `POST /v1/responses`: the fields the gateway reads, every other one in `extra`.
///
/// `tools` and `tool_choice` stay the JSON the client sent, which the answer echoes back as
/// sent; their reader reads them as [`Tool`]s and a [`ToolChoice`]. `text`, `reasoning` and
/// `metadata` stay JSON as well.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// [`Tool`]s: function tools and built-in ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    /// A [`ToolChoice`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// A [`TextConfig`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// A [`Reasoning`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// `store`, `include`, `previous_response_id`, fields added after this was written, the
    /// gateway's own routing fields (`provider`, `fallbacks`), ….
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `text`: the output's format and verbosity, as the client sent them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// `{"type": "text"}`, `{"type": "json_object"}` or
    /// `{"type": "json_schema", "name", "schema", "strict", "description"}`.
    pub format: Value,
    /// `low`, `medium` or `high`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbosity: Option<Value>,
}

/// Plain text.
impl Default for TextConfig {
    fn default() -> Self {
        Self {
            format: json!({"type": "text"}),
            verbosity: None,
        }
    }
}

/// `reasoning`: the effort asked for and the summary wanted; both are written, `null` when not
/// set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reasoning {
    /// `minimal`, `low`, `medium` or `high`.
    #[serde(default)]
    pub effort: Option<String>,
    /// `auto`, `concise` or `detailed`, as sent.
    #[serde(default)]
    pub summary: Option<Value>,
}

/// A request's `input`: one user message, or a list of items.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

/// Streamed rather than buffered, so that an error inside an item names its path.
impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> Visitor<'de> for InputVisitor {
            type Value = Input;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of input items")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Input, E> {
                Ok(Input::Text(s.to_owned()))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Input, E> {
                Ok(Input::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Input, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Input::Items)
            }
        }
        d.deserialize_any(InputVisitor)
    }
}

/// One item of `input`: a message, or an output item of an earlier response sent back.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem {
    Message(InputMessage),
    FunctionCall(FunctionCall<'static>),
    FunctionCallOutput(FunctionCallOutput),
    /// Kept as sent (`type` included): its reader drops it, whatever it holds.
    #[serde(untagged)]
    Reasoning(Map<String, Value>),
    /// `item_reference`, built-in tool calls and their outputs, types added after this was
    /// written, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// An item without a `type` is a message, as OpenAI reads it; one of a known type that does
/// not parse is an error, not an `Other`.
impl<'de> Deserialize<'de> for InputItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Value::Object(obj) = Value::deserialize(d)? else {
            return Err(de::Error::custom("must be an object"));
        };
        let kind = obj.get("type").and_then(Value::as_str).unwrap_or("message");
        Ok(match kind {
            "message" => Self::Message(parse_buffered(Value::Object(obj))?),
            "function_call" => Self::FunctionCall(parse_buffered(Value::Object(obj))?),
            "function_call_output" => Self::FunctionCallOutput(parse_buffered(Value::Object(obj))?),
            "reasoning" => Self::Reasoning(obj),
            _ => Self::Other(Value::Object(obj)),
        })
    }
}

/// A message of the conversation; the assistant's are earlier [`OutputMessage`]s sent back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputMessage {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

/// A message's content: a string or parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<InputContent>),
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self::Text(s)),
            v @ Value::Array(_) => parse_buffered(v).map(Self::Parts),
            _ => Err(de::Error::custom(
                "must be a string or a list of content parts",
            )),
        }
    }
}

/// The answer to a [`FunctionCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutput {
    pub call_id: String,
    #[serde(default)]
    pub output: FunctionOutput,
}

/// A function's output: text or parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FunctionOutput {
    Text(String),
    Parts(Vec<InputContent>),
}

/// Empty text.
impl Default for FunctionOutput {
    fn default() -> Self {
        Self::Text(String::new())
    }
}

/// `null` is empty text, any other JSON value its JSON text: the function's answer either way.
impl<'de> Deserialize<'de> for FunctionOutput {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Self::Text(s),
            v @ Value::Array(_) => Self::Parts(parse_buffered(v)?),
            Value::Null => Self::default(),
            other => Self::Text(other.to_string()),
        })
    }
}

/// One part of an input message's content or of a function's output; assistant messages sent
/// back hold output text and refusals.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputContent {
    /// Also read from chat's `text`.
    InputText {
        text: String,
    },
    OutputText(OutputText<'static>),
    Refusal(Refusal<'static>),
    InputImage(InputImage),
    InputFile(InputFile),
    InputAudio {
        /// `{"data", "format"}`, as sent.
        #[serde(default)]
        input_audio: Value,
    },
    /// Types added after this was written, as sent.
    #[serde(untagged)]
    Other(Value),
}

/// Unlike an untagged fallback, a part of a known type that does not parse is an error.
impl<'de> Deserialize<'de> for InputContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Text {
            text: String,
        }
        #[derive(Deserialize)]
        struct Audio {
            #[serde(default)]
            input_audio: Value,
        }
        let v = Value::deserialize(d)?;
        if !v.is_object() {
            return Err(de::Error::custom("must be an object"));
        }
        Ok(match v.get("type").and_then(Value::as_str) {
            Some("input_text" | "text") => {
                let Text { text } = parse_buffered(v)?;
                Self::InputText { text }
            }
            Some("output_text") => Self::OutputText(parse_buffered(v)?),
            Some("refusal") => Self::Refusal(parse_buffered(v)?),
            Some("input_image") => Self::InputImage(parse_buffered(v)?),
            Some("input_file") => Self::InputFile(parse_buffered(v)?),
            Some("input_audio") => {
                let Audio { input_audio } = parse_buffered(v)?;
                Self::InputAudio { input_audio }
            }
            _ => Self::Other(v),
        })
    }
}

/// An image, by URL (`https:` or `data:`) or by the id of an uploaded file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A file, inline (`file_data`, a base64 `data:` URL), by URL or by the id of an uploaded one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

/// One entry of `tools`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Tool {
    Function(FunctionTool),
    /// Built-in tools (`web_search`, `file_search`, `mcp`, …), as sent.
    #[serde(untagged)]
    Other(Value),
}

/// A tool without a `type` is a function; chat's nested shape (`{"function": {…}}`), sent
/// here by mistake, is read as well.
impl<'de> Deserialize<'de> for Tool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let Value::Object(obj) = &mut v else {
            return Err(de::Error::custom("must be an object"));
        };
        if obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function")
            != "function"
        {
            return Ok(Self::Other(v));
        }
        match obj.remove("function") {
            Some(nested @ Value::Object(_)) => parse_buffered(nested).map(Self::Function),
            _ => parse_buffered(v).map(Self::Function),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// This function must be called.
    Function(FunctionChoice),
    /// Only these tools may be called.
    AllowedTools(AllowedTools),
    #[serde(untagged)]
    Mode(ToolChoiceMode),
    /// Other strings and tool types (built-in tools, …), as sent.
    #[serde(untagged)]
    Other(Value),
}

/// A choice of a known kind that does not parse is an error, not an `Other`.
impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match &v {
            Value::String(s) => match s.as_str() {
                "auto" | "none" | "required" => Self::Mode(parse_buffered(v)?),
                _ => Self::Other(v),
            },
            obj => match obj.get("type").and_then(Value::as_str) {
                Some("function") => Self::Function(parse_buffered(v)?),
                Some("allowed_tools") => Self::AllowedTools(parse_buffered(v)?),
                _ => Self::Other(v),
            },
        })
    }
}

/// Whether the model may, must or must not call tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    Auto,
    None,
    Required,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionChoice {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowedTools {
    #[serde(default)]
    pub mode: AllowedToolsMode,
    pub tools: Vec<Tool>,
}

/// Whether the model may or must call one of the allowed tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllowedToolsMode {
    #[default]
    Auto,
    Required,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a client sends reads in and writes out the same, key order too.
    #[test]
    fn input_tools_and_choices_round_trip() {
        fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(v: Value) {
            let typed: T = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_string(&typed).unwrap(), v.to_string());
        }
        round_trip::<Input>(json!([
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "hi"},
                {"type": "input_image", "image_url": "https://x/a.png", "detail": "low"},
                {"type": "input_file", "filename": "a.pdf", "file_data": "data:,"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": "ok", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "no"}]},
            {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
             "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "done"},
            {"type": "item_reference", "id": "msg_1"}
        ]));
        round_trip::<Vec<Tool>>(json!([
            {"type": "function", "name": "f", "description": "d",
             "parameters": {"type": "object", "properties": {}}, "strict": true},
            {"type": "web_search", "search_context_size": "low"}
        ]));
        for choice in [
            json!("required"),
            json!({"type": "function", "name": "f"}),
            json!({"type": "allowed_tools", "mode": "auto",
                   "tools": [{"type": "function", "name": "f"}]}),
            json!({"type": "mcp", "server_label": "s"}),
        ] {
            round_trip::<ToolChoice>(choice);
        }
    }
}
