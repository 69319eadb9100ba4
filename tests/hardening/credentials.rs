//! Hardening: credentials.
