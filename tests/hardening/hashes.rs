//! Hardening: hashes.
