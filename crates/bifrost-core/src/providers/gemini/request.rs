//! gemini request translation.
