//! bedrock stream translation.
