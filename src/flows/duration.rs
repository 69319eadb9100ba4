//! Go's duration syntax (`1h30m`, `72h`, `1.5h`, `500ms`), as Kratos' `expires_in` takes it.

use std::time::Duration;

/// Parses a Go duration string. Returns `None` when `text` is not one; a leading `-` gives
/// a negative number of nanoseconds (so callers can say "must be in the future").
pub fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(0);
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_end];
        if number.is_empty()
            || number.starts_with('.')
            || number.ends_with('.')
            || number.matches('.').count() > 1
        {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += value * nanos_per_unit;
    }
    if !total.is_finite() || total > i64::MAX as f64 {
        return None;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

/// A positive Go duration as a [`Duration`], or the reason (Kratos' wording) it is not one.
pub fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_go_duration(text.trim()) {
        None => Err(format!(
            "Unable to parse \"expires_in\" as a duration string (e.g. \"1h\", \"1m30s\", \"500ms\"): {text}"
        )),
        Some(nanos) if nanos <= 0 => Err(format!(
            "Value from \"expires_in\" must result to a future time: {text}"
        )),
        Some(nanos) => Ok(Duration::from_nanos(nanos as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_table() {
        let cases: &[(&str, Option<i128>)] = &[
            ("72h", Some(72 * 3_600_000_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("1.5h", Some(5_400_000_000_000)),
            ("500ms", Some(500_000_000)),
            ("2us", Some(2_000)),
            ("2µs", Some(2_000)),
            ("-5m", Some(-300_000_000_000)),
            ("0", Some(0)),
            ("0s", Some(0)),
            ("3d", None),
            ("h", None),
            ("1", None),
            ("1.h", None),
            ("", None),
            ("1h 30m", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), *want, "{text:?}");
        }
    }

    #[test]
    fn positive_durations_use_kratos_wording() {
        assert_eq!(positive_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(
            positive_duration("soon").unwrap_err(),
            "Unable to parse \"expires_in\" as a duration string (e.g. \"1h\", \"1m30s\", \"500ms\"): soon"
        );
        assert_eq!(
            positive_duration("-1h").unwrap_err(),
            "Value from \"expires_in\" must result to a future time: -1h"
        );
    }
}
