//! Kratos' normalization of identifiers and addresses. Traits are stored as sent; only the
//! derived identifiers and addresses are normalized, so uniqueness holds in any letter case.

/// Email addresses (verification and recovery): lowercase and trimmed.
pub fn normalize_email(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Password and webauthn identifiers: lowercase and trimmed.
pub fn normalize_identifier(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Phone numbers: E.164-like, `+` and digits only. Returns `None` when the text cannot be a
/// phone number (fewer than 7 or more than 15 digits, or letters in it).
pub fn normalize_phone(value: &str) -> Option<String> {
    let trimmed = value.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix("00").unwrap_or(trimmed)),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    let _ = plus;
    if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
        return None;
    }
    Some(format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let cases = [
            (" Docs@Example.ORG ", "docs@example.org"),
            ("plain", "plain"),
            ("ÄÖÜ@EXAMPLE.org", "äöü@example.org"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_email(input), want, "email {input:?}");
            assert_eq!(normalize_identifier(input), want, "identifier {input:?}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+49 (30) 1234-5678").as_deref(),
            Some("+493012345678")
        );
        assert_eq!(
            normalize_phone("0049 30 12345678").as_deref(),
            Some("+493012345678")
        );
        assert_eq!(normalize_phone("call me"), None);
        assert_eq!(normalize_phone("+12"), None);
    }
}
