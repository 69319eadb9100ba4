//! tests: the password module's suites, one file per theme.
//!
//! * `vectors`: Kratos' own 153 test vectors, read from `shared/` at test time.
//! * `fixtures`: hashes made by independent Python implementations.
//! * `malformed`: a table of broken hashes and the exact error each must give.
//! * `api`: hashing, rehash decisions and configuration.

mod api;
mod fixtures;
mod malformed;
mod vectors;

/// Test result with any error.
type TestResult = Result<(), Box<dyn std::error::Error>>;
