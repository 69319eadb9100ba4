//! Hardening: plugins.
