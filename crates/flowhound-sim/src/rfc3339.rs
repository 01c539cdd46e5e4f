//! A strict, allocation-free RFC 3339 parser for finding timestamps.

use flowhound_flowlog::time::days_from_civil;

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

/// Epoch seconds of `2026-11-20T13:00:00Z`, `2026-11-20T13:00:00.250+01:00` and the like
/// (fractions are truncated). `None` for anything else or a time before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let b = s.trim().as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &rest[1 + n..];
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = i64::from(digits(&[*h1, *h2])?);
            let m = i64::from(digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(year), month, day);
    let t = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    u64::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse_time("2026-11-28T07:00:00Z"), Some(1_795_849_200));
        assert_eq!(parse_time("2026-11-28T08:00:00+01:00"), Some(1_795_849_200));
        assert_eq!(parse_time("2026-11-28T02:30:00-04:30"), Some(1_795_849_200));
        assert_eq!(parse_time("2026-11-28T07:00:00.999Z"), Some(1_795_849_200));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T07:00:00",
            "2026-13-28T07:00:00Z",
            "2026-11-28T07:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2026-11-28T07:00:00+0100",
            "2026-11-28T07:00:00Zjunk",
            "２026-11-28T07:00:00Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
