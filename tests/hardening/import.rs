//! Hardening: import.
