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

/// `usage` of an OpenAI response object.
pub fn responses_usage(body: &[u8]) -> Option<Usage> {
    #[derive(Deserialize)]
    struct Body {
        usage: Option<ResponsesUsage>,
    }
    serde_json::from_slice::<Body>(body)
        .ok()?
        .usage
        .map(ResponsesUsage::to_openai)
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
