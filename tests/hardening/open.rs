//! Hardening: open.
