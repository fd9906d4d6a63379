//! bedrock request translation.
