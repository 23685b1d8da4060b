//! Durations written the way strongSwan writes them: a whole number with an optional unit,
//! `s` (seconds, the default), `m`, `h` or `d`, e.g. `"30s"`, `"90m"`, `"4h"`, `"1d"`; or
//! several such parts, largest unit first, e.g. `"1h30m"`, `"1d12h"`.

use std::time::Duration;

/// Parses `"<number>[s|m|h|d]"`, or parts like it with their units in decreasing order
/// (`"1h30m"`); a bare number is seconds.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "\"{text}\" is not a duration; write whole numbers with s, m, h or d, e.g. \"30s\", \"4h\" or \"1h30m\""
        )
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| format!("\"{text}\" is too long"));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1u64,
            'm' => 60,
            'h' => 60 * 60,
            'd' => 24 * 60 * 60,
            _ => return Err(invalid()),
        };
        // Each unit once, largest first: "1h30m", not "30m1h" or "1h1h".
        if number.is_empty() || unit >= last_unit {
            return Err(invalid());
        }
        last_unit = unit;
        let value = number
            .parse::<u64>()
            .map_err(|_| format!("\"{text}\" is too long"))?;
        number.clear();
        total = value
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("\"{text}\" is too long"))?;
    }
    if !number.is_empty() {
        // A trailing number without its unit after other parts ("1h30") is ambiguous.
        return Err(invalid());
    }
    Ok(Duration::from_secs(total))
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
    fn parts_largest_unit_first() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse("2m5s"), Ok(Duration::from_secs(125)));
        for bad in ["30m1h", "1h1h", "1h30", "1h 30m", "h1", "1hm"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
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
