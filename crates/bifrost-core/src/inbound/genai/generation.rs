//! `generationConfig` → sampling fields, `response_format` and `reasoning_effort`.

use super::*;
use serde_json::Number;

pub(super) fn apply_generation_config(
    config: &GenerationConfig,
    req: &mut ChatRequest,
) -> Result<(), BifrostError> {
    if let Some(modality) = config
        .response_modalities
        .iter()
        .flatten()
        .find(|m| !m.eq_ignore_ascii_case("text"))
    {
        return Err(BifrostError::invalid_request(format!(
            "responseModalities '{modality}' is not supported through /genai (TEXT only)"
        )));
    }
    if config.response_logprobs == Some(true) {
        return Err(BifrostError::invalid_request(
            "responseLogprobs is not supported through /genai",
        ));
    }
    req.temperature = config.temperature;
    req.top_p = config.top_p;
    req.max_tokens = config.max_output_tokens;
    req.stop = config.stop_sequences.clone().map(Stop::Many);
    req.n = config.candidate_count;
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            req.extra.insert(key.to_owned(), v);
        }
    };
    let seed = config.seed.as_ref().map(|n| {
        n.as_i64().map(Value::from).ok_or_else(|| {
            BifrostError::invalid_request(format!(
                "generationConfig.seed must be an integer, got {n}"
            ))
        })
    });
    put("seed", seed.transpose()?);
    put(
        "presence_penalty",
        number(config.presence_penalty.as_ref()).map(Value::Number),
    );
    put(
        "frequency_penalty",
        number(config.frequency_penalty.as_ref()).map(Value::Number),
    );
    put("response_format", response_format(config)?);
    req.top_k = number(config.top_k.as_ref());
    if let Some(thinking) = &config.thinking_config {
        req.reasoning_effort = reasoning_effort(thinking)?.map(str::to_owned);
    }
    Ok(())
}

/// Integral numbers print as integers (`topK: 40.0` becomes `40`).
fn number(n: Option<&Number>) -> Option<Number> {
    let v = n?.as_f64()?;
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Some(Number::from(v as i64))
    } else {
        Number::from_f64(v)
    }
}

fn response_format(config: &GenerationConfig) -> Result<Option<Value>, BifrostError> {
    let schema = config
        .response_json_schema
        .clone()
        .or_else(|| config.response_schema.as_ref().map(openai_schema))
        .filter(|s| !s.is_null());
    let mime = config
        .response_mime_type
        .as_deref()
        .map(str::to_ascii_lowercase);
    match mime.as_deref() {
        Some("application/json") => Ok(Some(match schema {
            Some(schema) => json!({
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema}
            }),
            None => json!({"type": "json_object"}),
        })),
        None | Some("text/plain") if schema.is_some() => Err(BifrostError::invalid_request(
            "a response schema needs responseMimeType 'application/json'",
        )),
        None | Some("text/plain") => Ok(None),
        Some(other) => Err(BifrostError::invalid_request(format!(
            "responseMimeType '{other}' is not supported through /genai (text/plain or \
             application/json)"
        ))),
    }
}

/// `thinkingConfig` → `reasoning_effort`. `thinkingLevel` (`MINIMAL`, `LOW`, `MEDIUM`, `HIGH`,
/// any case) is the effort of that name. Otherwise `thinkingBudget`: 0 → `none`; up to 1024 →
/// `low`; up to 8192 → `medium`; above → `high` (the inverse of the budgets the outbound Gemini
/// translation sends); -1 (dynamic) or no budget → nothing, the upstream's default.
pub(super) fn reasoning_effort(
    config: &ThinkingConfig,
) -> Result<Option<&'static str>, BifrostError> {
    if let Some(level) = &config.thinking_level {
        return match level.to_ascii_lowercase().as_str() {
            "minimal" => Ok(Some("minimal")),
            "low" => Ok(Some("low")),
            "medium" => Ok(Some("medium")),
            "high" => Ok(Some("high")),
            "thinking_level_unspecified" => Ok(None),
            _ => Err(BifrostError::invalid_request(format!(
                "unsupported thinkingLevel '{level}' (expected MINIMAL, LOW, MEDIUM or HIGH)"
            ))),
        };
    }
    Ok(match config.thinking_budget {
        None => None,
        Some(b) if b < 0 => None,
        Some(0) => Some("none"),
        Some(1..=1024) => Some("low"),
        Some(1025..=8192) => Some("medium"),
        Some(_) => Some("high"),
    })
}
