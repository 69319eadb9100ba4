//! Hardening: documents.
