//! The wire types of each API format, one module per format: the types both the inbound
//! translators (the gateway as the server a client SDK talks to) and the providers (the
//! gateway as the client of an upstream) read and write, so that each format is described once.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod responses;

use serde::de::{self, DeserializeOwned};
use serde_json::Value;
use std::fmt::Display;

// ---------------------------------------------------------------------------------------------
// Errors that name their field
//
// A reader that must say which field of a client's body is wrong reads it through
// `serde_path_to_error`, which follows the path as serde descends. It cannot see into a value
// that a `Deserialize` impl buffered (to look at its `type` first) and reads again: such impls
// name the rest of the path themselves, at the start of the message after a `.`
// (`.source.data: missing field …`), and [`error_path`] joins the two.

/// Reads `v`, buffered by a `Deserialize` impl, as `T`; an error names the field inside `v`.
pub(crate) fn parse_buffered<T: DeserializeOwned, E: de::Error>(v: Value) -> Result<T, E> {
    serde_path_to_error::deserialize(v).map_err(|e| match error_path(&e) {
        (path, msg) if path.is_empty() => E::custom(msg),
        (path, msg) => field_error(&path, msg),
    })
}

/// An error about `field` (a path) of the value a `Deserialize` impl reads.
pub(crate) fn field_error<E: de::Error>(field: &str, msg: impl Display) -> E {
    E::custom(format_args!(".{field}: {msg}"))
}

/// The path of the field an error is about (empty: the whole value), with what
/// [`field_error`] added, and the message without the position serde_json appends.
pub(crate) fn error_path(e: &serde_path_to_error::Error<serde_json::Error>) -> (String, String) {
    let mut path = match e.path().iter().next() {
        Some(_) => e.path().to_string(),
        None => String::new(),
    };
    let inner = e.inner();
    let mut msg = inner.to_string();
    let position = format!(" at line {} column {}", inner.line(), inner.column());
    if msg.ends_with(&position) {
        msg.truncate(msg.len() - position.len());
    }
    match msg.strip_prefix('.').and_then(|m| m.split_once(": ")) {
        Some((rest, field_msg)) => {
            if !path.is_empty() && !rest.starts_with('[') {
                path.push('.');
            }
            path.push_str(rest);
            (path, field_msg.to_owned())
        }
        None => (path, msg),
    }
}

/// The field serde's "missing field `x`" names, so that a route can word it its API's way.
pub(crate) fn missing_field(msg: &str) -> Option<&str> {
    msg.strip_prefix("missing field `")?.strip_suffix('`')
}
