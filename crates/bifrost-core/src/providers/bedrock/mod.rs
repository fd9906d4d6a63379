//! bedrock: translation to and from OpenAI shapes (pure functions), and the provider.

pub mod eventstream;
pub mod request;
pub mod response;
pub mod sign;
pub mod stream;
