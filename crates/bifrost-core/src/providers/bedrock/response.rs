//! bedrock response translation.
