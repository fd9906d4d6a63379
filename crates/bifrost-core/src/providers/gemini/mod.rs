//! gemini: translation to and from OpenAI shapes (pure functions), and the provider.

pub mod request;
pub mod response;
pub mod stream;
