//! cohere stream translation.
