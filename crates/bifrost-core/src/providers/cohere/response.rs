//! cohere response translation.
