//! Why a generation ended, in every API's words, translated to and from OpenAI's
//! `finish_reason`. Each API's two directions stand side by side, so that a reason added to one
//! is seen missing from the other; the tests check the round trips. The provider modules read
//! them (upstream answers → OpenAI), the inbound modules write them (OpenAI → the client's API).

/// Anthropic `stop_reason`.
pub mod anthropic {
    /// → OpenAI. Unknown reasons (`pause_turn`, future ones) read as a normal stop: the message
    /// that came is complete as far as OpenAI can say.
    pub fn to_openai(stop_reason: &str) -> &'static str {
        match stop_reason {
            "max_tokens" => "length",
            "tool_use" => "tool_calls",
            "refusal" => "content_filter",
            _ => "stop",
        }
    }

    /// ← OpenAI. A message that called tools ends in `tool_use` whatever the upstream said
    /// (some servers say `stop`), unless it was cut.
    pub fn from_openai(finish: Option<&str>, has_tools: bool) -> &'static str {
        match finish {
            Some("length") => "max_tokens",
            Some("tool_calls" | "function_call") => "tool_use",
            Some("content_filter") => "refusal",
            _ if has_tools => "tool_use",
            _ => "end_turn",
        }
    }
}

/// Gemini `finishReason`.
pub mod gemini {
    /// → OpenAI: `STOP` → `stop`, `MAX_TOKENS` → `length`, the refusal reasons (`SAFETY`,
    /// `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII` and their `IMAGE_` variants) →
    /// `content_filter`. Every other reason (`OTHER`, `LANGUAGE`, `MALFORMED_FUNCTION_CALL`,
    /// future ones) reads as `stop`: OpenAI has no closer word.
    pub fn to_openai(reason: &str) -> &'static str {
        match reason {
            "MAX_TOKENS" => "length",
            "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION" => "content_filter",
            _ => "stop",
        }
    }

    /// [`to_openai`], with `tool_calls` for a candidate that called functions (Gemini says
    /// `STOP` then), unless the answer was cut or filtered.
    pub fn to_openai_choice(reason: Option<&str>, has_tool_calls: bool) -> &'static str {
        let mapped = to_openai(reason.unwrap_or(""));
        if has_tool_calls && mapped == "stop" {
            "tool_calls"
        } else {
            mapped
        }
    }

    /// ← OpenAI: `stop` and `tool_calls` (Gemini says `STOP` after function calls) → `STOP`,
    /// `length` → `MAX_TOKENS`, `content_filter` → `SAFETY`, anything else → `OTHER`.
    pub fn from_openai(reason: &str) -> &'static str {
        match reason {
            "stop" | "tool_calls" | "function_call" => "STOP",
            "length" => "MAX_TOKENS",
            "content_filter" => "SAFETY",
            _ => "OTHER",
        }
    }
}

/// Bedrock Converse `stopReason` (the gateway serves no Converse API, so one direction).
pub mod bedrock {
    /// → OpenAI. Unknown reasons read as a normal stop.
    pub fn to_openai(stop_reason: &str) -> &'static str {
        match stop_reason {
            "max_tokens" | "model_context_window_exceeded" => "length",
            "tool_use" => "tool_calls",
            "guardrail_intervened" | "content_filtered" => "content_filter",
            _ => "stop",
        }
    }
}

/// Cohere v2 `finish_reason` (the gateway serves no Cohere chat translation, so one direction).
pub mod cohere {
    /// → OpenAI; `None` for the reasons that mean the generation failed (`ERROR`, `TIMEOUT`).
    pub fn to_openai(reason: &str) -> Option<&'static str> {
        match reason {
            "MAX_TOKENS" => Some("length"),
            "TOOL_CALL" => Some("tool_calls"),
            "ERROR" | "TIMEOUT" => None,
            _ => Some("stop"),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The reasons OpenAI defines for a chat completion.
    const OPENAI: [&str; 4] = ["stop", "length", "tool_calls", "content_filter"];

    /// `map` takes each case's provider reason to the case's OpenAI one.
    fn assert_maps<T: PartialEq + std::fmt::Debug>(map: impl Fn(&str) -> T, cases: Vec<(&str, T)>) {
        for (reason, openai) in cases {
            assert_eq!(map(reason), openai, "{reason}");
        }
    }

    #[test]
    fn anthropic_stop_reasons() {
        assert_maps(
            super::anthropic::to_openai,
            vec![
                ("end_turn", "stop"),
                ("stop_sequence", "stop"),
                ("max_tokens", "length"),
                ("tool_use", "tool_calls"),
                ("refusal", "content_filter"),
                ("pause_turn", "stop"),
            ],
        );
        let cases = [
            (Some("stop"), false, "end_turn"),
            (None, false, "end_turn"),
            (Some("length"), false, "max_tokens"),
            (Some("tool_calls"), true, "tool_use"),
            (Some("function_call"), true, "tool_use"),
            (Some("stop"), true, "tool_use"),
            (Some("content_filter"), false, "refusal"),
            (Some("length"), true, "max_tokens"),
        ];
        for (finish, tools, expected) in cases {
            assert_eq!(
                super::anthropic::from_openai(finish, tools),
                expected,
                "{finish:?} {tools}"
            );
        }
    }

    #[test]
    fn anthropic_round_trips() {
        use super::anthropic::{from_openai, to_openai};
        for openai in OPENAI {
            let tools = openai == "tool_calls";
            assert_eq!(to_openai(from_openai(Some(openai), tools)), openai);
        }
        for anthropic in ["end_turn", "max_tokens", "tool_use", "refusal"] {
            let tools = anthropic == "tool_use";
            assert_eq!(from_openai(Some(to_openai(anthropic)), tools), anthropic);
        }
    }

    #[test]
    fn gemini_finish_reasons() {
        assert_maps(
            super::gemini::to_openai,
            vec![
                ("STOP", "stop"),
                ("MAX_TOKENS", "length"),
                ("SAFETY", "content_filter"),
                ("RECITATION", "content_filter"),
                ("BLOCKLIST", "content_filter"),
                ("PROHIBITED_CONTENT", "content_filter"),
                ("SPII", "content_filter"),
                ("IMAGE_SAFETY", "content_filter"),
                ("MALFORMED_FUNCTION_CALL", "stop"),
                ("OTHER", "stop"),
            ],
        );
        use super::gemini::to_openai_choice;
        assert_eq!(to_openai_choice(Some("STOP"), true), "tool_calls");
        assert_eq!(to_openai_choice(None, true), "tool_calls");
        assert_eq!(to_openai_choice(Some("MAX_TOKENS"), true), "length");
    }

    #[test]
    fn gemini_round_trips() {
        use super::gemini::{from_openai, to_openai, to_openai_choice};
        for openai in OPENAI {
            let tools = openai == "tool_calls";
            assert_eq!(to_openai_choice(Some(from_openai(openai)), tools), openai);
        }
        for gemini in ["STOP", "MAX_TOKENS", "SAFETY"] {
            assert_eq!(from_openai(to_openai(gemini)), gemini);
        }
    }

    #[test]
    fn bedrock_stop_reasons() {
        assert_maps(
            super::bedrock::to_openai,
            vec![
                ("end_turn", "stop"),
                ("stop_sequence", "stop"),
                ("max_tokens", "length"),
                ("model_context_window_exceeded", "length"),
                ("tool_use", "tool_calls"),
                ("guardrail_intervened", "content_filter"),
                ("content_filtered", "content_filter"),
                ("something_new", "stop"),
            ],
        );
    }

    #[test]
    fn cohere_finish_reasons() {
        assert_maps(
            super::cohere::to_openai,
            vec![
                ("COMPLETE", Some("stop")),
                ("STOP_SEQUENCE", Some("stop")),
                ("MAX_TOKENS", Some("length")),
                ("TOOL_CALL", Some("tool_calls")),
                ("ERROR", None),
                ("TIMEOUT", None),
                ("SOMETHING_NEW", Some("stop")),
            ],
        );
    }
}
