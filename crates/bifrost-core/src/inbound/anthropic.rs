//! anthropic inbound translation.
