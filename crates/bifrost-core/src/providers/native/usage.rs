//! Usage of JSON answers: each API's usage object read from an answer's bytes.

use super::*;

/// `usage` of an Anthropic message.
pub fn anthropic_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<AnthropicUsage>,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    body.usage.map(AnthropicUsage::to_openai)
}

/// `usage` of an OpenAI chat completion.
pub fn openai_chat_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<Usage>,
    }
    serde_json::from_slice::<Body>(body).ok()?.usage
}

/// OpenAI Responses' usage (`input_tokens`, `output_tokens`, their details).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<serde_json::Value>,
    #[serde(default)]
    output_tokens_details: Option<serde_json::Value>,
}

impl ResponsesUsage {
    pub(super) fn into_openai(self) -> Usage {
        let mut usage = Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.input_tokens + self.output_tokens,
            ..Usage::default()
        };
        let detail = |d: Option<serde_json::Value>, field: &str| {
            d.and_then(|d| d.get(field).and_then(serde_json::Value::as_u64))
        };
        if let Some(cached) = detail(self.input_tokens_details, "cached_tokens") {
            usage.extra.insert(
                "prompt_tokens_details".into(),
                serde_json::json!({ "cached_tokens": cached }),
            );
        }
        if let Some(reasoning) = detail(self.output_tokens_details, "reasoning_tokens") {
            usage.extra.insert(
                "completion_tokens_details".into(),
                serde_json::json!({ "reasoning_tokens": reasoning }),
            );
        }
        usage
    }
}

/// `usage` of an OpenAI response object.
pub fn responses_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<ResponsesUsage>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .usage
        .map(ResponsesUsage::into_openai)
}

/// `usageMetadata` of a Gemini answer.
pub fn gemini_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        usage_metadata: Option<UsageMetadata>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .usage_metadata
        .map(UsageMetadata::to_openai)
}
