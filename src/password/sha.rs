//! sha: the unsalted or simply salted digests: `{SSHA*}`, `$sha1|256|512$pf=` and `$md5$`.
//!
//! * `{SSHA}`, `{SSHA256}`, `{SSHA512}`: base64 of `digest(pw‖salt)‖salt`, read
//!   with Go's **non-strict** padded decoder; the salt is whatever follows the
//!   20/32/64 digest bytes and must be at least one byte.
//! * `$sha1$pf=<fmt>$<salt>$<digest>` (also sha256, sha512) and the salted
//!   `$md5$pf=...` form: `fmt` with `{SALT}` and `{PASSWORD}` replaced in one
//!   left-to-right pass (Go's `strings.NewReplacer`) is what gets digested.
//! * `$md5$<digest>`: MD5 of the bare password.
//!
//! Every field outside SSHA is padded strict base64. A digest of the wrong
//! length could never match in Kratos; it is refused here as unparsable.

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};

use super::encoding::{self, B64};
use super::{HashError, HashFormat};

/// The digest behind a hash of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    const fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Md5 => Md5::digest(data).to_vec(),
            Self::Sha1 => Sha1::digest(data).to_vec(),
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }
}

/// How the digested message is built from the password.
enum Message {
    /// `password ‖ salt` (SSHA).
    PasswordThenSalt(Vec<u8>),
    /// A `pf` template and its salt.
    Template { pf: Vec<u8>, salt: Vec<u8> },
    /// The bare password (`$md5$<digest>`).
    Password,
}

/// A parsed hash of one of this module's formats.
pub(super) struct ShaHash {
    format: HashFormat,
    algorithm: Algorithm,
    message: Message,
    digest: Vec<u8>,
}

/// Kratos' `^{SSHA(256|512)?}` prefix.
pub(super) fn is_ssha(hash: &str) -> bool {
    ["{SSHA}", "{SSHA256}", "{SSHA512}"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// Kratos' `^\$sha(1|256|512)\$` prefix.
pub(super) fn is_sha(hash: &str) -> bool {
    ["$sha1$", "$sha256$", "$sha512$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

pub(super) fn parse_ssha(hash: &str) -> Result<ShaHash, HashError> {
    const FORMAT: HashFormat = HashFormat::Ssha;
    let (algorithm, body) = if let Some(body) = hash.strip_prefix("{SSHA}") {
        (Algorithm::Sha1, body)
    } else if let Some(body) = hash.strip_prefix("{SSHA256}") {
        (Algorithm::Sha256, body)
    } else if let Some(body) = hash.strip_prefix("{SSHA512}") {
        (Algorithm::Sha512, body)
    } else {
        return Err(HashError::UnknownFormat);
    };
    let mut decoded = encoding::decode(FORMAT, "value", body, B64::StdLenient)?;
    let len = algorithm.output_len();
    if decoded.len() <= len {
        return Err(HashError::unparsable(
            FORMAT,
            format!(
                "decodes to {} bytes; a {len}-byte digest and at least 1 byte of salt are needed",
                decoded.len()
            ),
        ));
    }
    let salt = decoded.split_off(len);
    Ok(ShaHash {
        format: FORMAT,
        algorithm,
        message: Message::PasswordThenSalt(salt),
        digest: decoded,
    })
}

pub(super) fn parse_sha(hash: &str) -> Result<ShaHash, HashError> {
    const FORMAT: HashFormat = HashFormat::Sha;
    let parts: Vec<&str> = hash.split('$').collect();
    let [_, name, pf, salt, digest] = parts[..] else {
        return Err(HashError::unparsable(
            FORMAT,
            format!("expected 5 `$`-separated fields, found {}", parts.len()),
        ));
    };
    let algorithm = match name {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        _ => return Err(HashError::UnknownFormat),
    };
    parse_template(FORMAT, algorithm, pf, salt, digest)
}

pub(super) fn parse_md5(hash: &str) -> Result<ShaHash, HashError> {
    const FORMAT: HashFormat = HashFormat::Md5;
    let parts: Vec<&str> = hash.split('$').collect();
    match parts[..] {
        [_, _, digest] => {
            let digest = decode_digest(FORMAT, Algorithm::Md5, digest)?;
            Ok(ShaHash {
                format: FORMAT,
                algorithm: Algorithm::Md5,
                message: Message::Password,
                digest,
            })
        }
        [_, _, pf, salt, digest] => parse_template(FORMAT, Algorithm::Md5, pf, salt, digest),
        _ => Err(HashError::unparsable(
            FORMAT,
            format!(
                "expected 3 or 5 `$`-separated fields, found {}",
                parts.len()
            ),
        )),
    }
}

fn parse_template(
    format: HashFormat,
    algorithm: Algorithm,
    pf: &str,
    salt: &str,
    digest: &str,
) -> Result<ShaHash, HashError> {
    // Kratos reads this with `Sscanf("pf=%s")`: a non-empty word after `pf=`.
    let pf = pf
        .strip_prefix("pf=")
        .filter(|v| !v.is_empty() && !v.contains(char::is_whitespace))
        .ok_or_else(|| {
            HashError::unparsable(format, "the third field must be `pf=<base64 format>`")
        })?;
    let pf = encoding::decode(format, "pf format", pf, B64::StdStrict)?;
    let salt = encoding::decode(format, "salt", salt, B64::StdStrict)?;
    let digest = decode_digest(format, algorithm, digest)?;
    Ok(ShaHash {
        format,
        algorithm,
        message: Message::Template { pf, salt },
        digest,
    })
}

fn decode_digest(
    format: HashFormat,
    algorithm: Algorithm,
    field: &str,
) -> Result<Vec<u8>, HashError> {
    let digest = encoding::decode(format, "digest", field, B64::StdStrict)?;
    if digest.len() != algorithm.output_len() {
        return Err(HashError::unparsable(
            format,
            format!(
                "the digest is {} bytes; expected {}",
                digest.len(),
                algorithm.output_len()
            ),
        ));
    }
    Ok(digest)
}

/// Replaces `{SALT}` and `{PASSWORD}` in one left-to-right pass; replaced text is
/// never scanned again (Go's `strings.NewReplacer` semantics).
fn fill_template(pf: &[u8], salt: &[u8], password: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pf.len() + salt.len() + password.len());
    let mut rest = pf;
    while let Some(&first) = rest.first() {
        if let Some(tail) = rest.strip_prefix(b"{SALT}") {
            out.extend_from_slice(salt);
            rest = tail;
        } else if let Some(tail) = rest.strip_prefix(b"{PASSWORD}") {
            out.extend_from_slice(password);
            rest = tail;
        } else {
            out.push(first);
            rest = &rest[1..];
        }
    }
    out
}

impl ShaHash {
    pub(super) fn format(&self) -> HashFormat {
        self.format
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let message = match &self.message {
            Message::PasswordThenSalt(salt) => [password, salt].concat(),
            Message::Template { pf, salt } => fill_template(pf, salt, password),
            Message::Password => password.to_vec(),
        };
        encoding::ct_eq(&self.algorithm.digest(&message), &self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::fill_template;

    #[test]
    fn template_is_replaced_once_left_to_right() {
        assert_eq!(fill_template(b"{SALT}{PASSWORD}", b"s", b"p"), b"sp");
        assert_eq!(fill_template(b"${PASSWORD}${SALT}$", b"s", b"p"), b"$p$s$");
        // A password that looks like a placeholder stays as it is.
        assert_eq!(
            fill_template(b"{PASSWORD}{SALT}", b"x", b"{SALT}"),
            b"{SALT}x"
        );
        assert_eq!(fill_template(b"{SAL{SALT}T}", b"x", b"p"), b"{SALxT}");
    }
}
