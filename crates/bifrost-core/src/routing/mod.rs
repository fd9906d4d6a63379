//! Choosing where a request goes: which provider and model (aliases), and which key.

pub mod aliases;
pub mod breaker;
pub mod keys;
pub mod sticky;
