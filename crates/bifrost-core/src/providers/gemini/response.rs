//! gemini response translation.
