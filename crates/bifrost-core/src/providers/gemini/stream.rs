//! gemini stream translation.
