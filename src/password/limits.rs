//! limits: every bound a stored hash must respect before kith does any work with it.
//!
//! The first group is Kratos HEAD's `hash/hash_limits.go`, with the same values.
//! The second group is kith's own: Kratos has no equivalent, and each says why.
//! Changing a Kratos bound makes kith accept or refuse imports Kratos would not.

/// bcrypt's lowest cost (the algorithm's own minimum).
pub const MIN_BCRYPT_COST: u32 = 4;
/// Kratos: bcrypt cost 15 is about 2 s per compare; nothing mainstream defaults above 12.
pub const MAX_BCRYPT_COST: u32 = 15;

/// Kratos: argon2 memory is capped at 1 GiB (in KiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
/// Kratos: argon2 passes.
pub const MAX_ARGON2_ITERATIONS: u32 = 10;
/// Kratos: argon2 lanes.
pub const MAX_ARGON2_PARALLELISM: u32 = 16;
/// The only argon2 version Kratos accepts (0x13).
pub const ARGON2_VERSION: u32 = 19;

/// Kratos: PBKDF2 iterations, about 10× the strongest published recommendation.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Kratos: scrypt N itself (`ln` in `$scrypt$` is N, not log2 N): 2^17.
pub const MAX_SCRYPT_N: u64 = 1 << 17;
/// Kratos: firescrypt `ln` is log2 N, so the same 2^17.
pub const MAX_FIRESCRYPT_LOG_N: u32 = 17;
/// Kratos: scrypt and firescrypt block size r.
pub const MAX_SCRYPT_R: u32 = 8;
/// Kratos: scrypt and firescrypt parallelism p.
pub const MAX_SCRYPT_P: u32 = 10;

/// kith: no stored hash of any supported format comes near this; it bounds the
/// memory spent decoding salts, keys and `pf` strings of a crafted hash.
pub const MAX_HASH_LEN: usize = 4096;
/// kith: the longest derived key accepted for argon2, PBKDF2 and scrypt. PBKDF2's
/// work grows with the key length (one full iteration run per digest block), so
/// an unbounded `dk` would sidestep the iteration bound.
pub const MAX_KEY_LEN: usize = 64;
/// kith: the shortest derived key accepted. Kratos accepts an empty key, which
/// then matches every password; argon2's own minimum is 4 bytes.
pub const MIN_KEY_LEN: usize = 4;
/// kith: sha256-crypt and sha512-crypt rounds. go-crypt (Kratos) allows up to
/// 999,999,999, minutes of CPU per compare; this keeps them in the PBKDF2 envelope.
pub const MAX_SHA_CRYPT_ROUNDS: u32 = 10_000_000;
/// go-crypt's lowest accepted sha-crypt rounds (glibc would clamp instead).
pub const MIN_SHA_CRYPT_ROUNDS: u32 = 1000;
