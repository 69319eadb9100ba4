//! Dates for messages, from the host's milliseconds since the Unix epoch, always in UTC.

/// Days since 1970-01-01 → (year, month, day), after Howard Hinnant's civil_from_days.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day, hour, minute, second, days since the epoch)
fn split(unix_ms: u64) -> (i64, u32, u32, u64, u64, u64, i64) {
    let secs = (unix_ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil(days);
    (y, m, d, rem / 3600, rem / 60 % 60, rem % 60, days)
}

/// RFC 3339 in UTC, to the second: `2026-11-30T09:51:29Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let (y, mo, d, h, mi, s, _) = split(unix_ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// An RFC 5322 `Date:` value in UTC: `Mon, 30 Nov 2026 09:51:29 +0000`.
pub fn rfc5322_date(unix_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, days) = split(unix_ms);
    format!(
        "{}, {d} {} {y} {h:02}:{mi:02}:{s:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        for (ms, rfc3339_text, rfc5322_text) in [
            (0, "1970-01-01T00:00:00Z", "Thu, 1 Jan 1970 00:00:00 +0000"),
            (
                999,
                "1970-01-01T00:00:00Z",
                "Thu, 1 Jan 1970 00:00:00 +0000",
            ),
            (
                951_782_400_000,
                "2000-02-29T00:00:00Z",
                "Tue, 29 Feb 2000 00:00:00 +0000",
            ),
            (
                1_796_032_289_123,
                "2026-11-30T09:51:29Z",
                "Mon, 30 Nov 2026 09:51:29 +0000",
            ),
            (
                4_102_444_799_000,
                "2099-12-31T23:59:59Z",
                "Thu, 31 Dec 2099 23:59:59 +0000",
            ),
        ] {
            assert_eq!(rfc3339(ms), rfc3339_text);
            assert_eq!(rfc5322_date(ms), rfc5322_text);
        }
    }
}
