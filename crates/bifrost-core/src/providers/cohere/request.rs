//! cohere request translation.
