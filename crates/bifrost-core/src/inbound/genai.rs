//! genai inbound translation.
