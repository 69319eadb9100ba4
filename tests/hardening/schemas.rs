//! Hardening: schemas.
