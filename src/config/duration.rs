//! Durations written the way strongSwan writes them: a whole number with an optional unit,
//! `s` (seconds, the default), `m`, `h` or `d`, e.g. `"30s"`, `"90m"`, `"4h"`, `"1d"`.

use std::time::Duration;

/// Parses `"<number>[s|m|h|d]"`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let (number, unit_seconds) = match trimmed.char_indices().last() {
        Some((at, 's')) => (trimmed.get(..at), 1u64),
        Some((at, 'm')) => (trimmed.get(..at), 60),
        Some((at, 'h')) => (trimmed.get(..at), 60 * 60),
        Some((at, 'd')) => (trimmed.get(..at), 24 * 60 * 60),
        Some(_) => (Some(trimmed), 1),
        None => (None, 1),
    };
    let seconds = number
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or_else(|| {
            format!("\"{text}\" is not a duration; write a whole number with s, m, h or d, e.g. \"30s\" or \"4h\"")
        })?;
    seconds
        .checked_mul(unit_seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{text}\" is too long"))
}

/// Writes a duration in the largest unit that divides it.
pub(crate) fn format(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("4h"), Ok(Duration::from_secs(14_400)));
        assert_eq!(parse(" 1d "), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "s",
            "4 hours",
            "-1s",
            "1.5h",
            "4w",
            "h4",
            "99999999999999999999d",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("18446744073709551615d")
            .expect_err("overflow")
            .contains("too long"));
    }

    #[test]
    fn formats_in_largest_unit() {
        assert_eq!(format(Duration::from_secs(14_400)), "4h");
        assert_eq!(format(Duration::from_secs(90)), "90s");
        assert_eq!(format(Duration::from_secs(5400)), "90m");
        assert_eq!(format(Duration::from_secs(0)), "0s");
    }
}
