//! responses inbound translation.
