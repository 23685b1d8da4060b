//! Text that came from the network (a peer's identity, an unknown payload's bytes) shown to
//! operators: in logs, `status` and its JSON. A peer must not be able to forge a log line
//! with a newline, recolour a terminal with an ANSI escape, or reorder text with a Unicode
//! direction override, so every control and format character is written as `\u{..}` (`\n`
//! as `\n`), the way Rust's `escape_debug` does; other text passes unchanged.

use std::fmt;

/// Displays `self.0` with control and bidirectional format characters escaped.
pub struct Escaped<'a>(pub &'a str);

/// The bidirectional formatting characters (Unicode's "Bidi_Control"): they reorder what an
/// operator reads without being visible.
fn bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || bidi_control(c) || c == '\\' {
                write!(f, "{}", c.escape_debug())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// Bytes a peer sent as text: invalid UTF-8 becomes U+FFFD, then [`Escaped`].
pub fn peer_text(bytes: &[u8]) -> String {
    Escaped(&String::from_utf8_lossy(bytes)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_escapes_and_direction_overrides_are_written_out() {
        let forged = "gw.example\n2026-12-07T11:50:00Z  INFO forged \x1b[31mred\u{202e}txt\\";
        let shown = peer_text(forged.as_bytes());
        assert_eq!(
            shown,
            "gw.example\\n2026-12-07T11:50:00Z  INFO forged \\u{1b}[31mred\\u{202e}txt\\\\"
        );
        assert!(!shown.chars().any(|c| c.is_control()));
    }

    #[test]
    fn ordinary_text_and_invalid_utf8_pass() {
        assert_eq!(peer_text(b"vpn.example.com"), "vpn.example.com");
        assert_eq!(peer_text("bür@example.org".as_bytes()), "bür@example.org");
        assert_eq!(peer_text(b"a\xffb"), "a\u{fffd}b");
    }
}
