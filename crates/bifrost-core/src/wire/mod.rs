//! One module per API format: the wire types both the inbound translators (the drop-in
//! routes) and the providers use, defined once and used in both directions.

pub mod gemini;
