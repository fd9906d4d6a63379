//! Choosing where a request goes: which provider and model, and which key.

pub mod keys;
