//! Configuration errors: each names the file, the position, the field and why.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file (or the file a setting points to, e.g. a `psk_file`).
    pub file: PathBuf,
    /// 1-based line and column (in characters), when the problem has a position.
    pub line_col: Option<(usize, usize)>,
    /// The setting at fault, e.g. `connection "ningbo".remote_subnets[0]`.
    pub field: String,
    /// Why it is wrong. Never contains a secret.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if let Some((line, col)) = self.line_col {
            write!(f, "{line}:{col}:")?;
        }
        if self.field.is_empty() {
            write!(f, " {}", self.message)
        } else {
            write!(f, " {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration file, in file order where positions are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects errors while a file is checked, turning byte spans into line:col.
pub(crate) struct Diagnostics<'a> {
    file: PathBuf,
    text: &'a str,
    errors: Vec<ConfigError>,
}

impl<'a> Diagnostics<'a> {
    pub(crate) fn new(file: &Path, text: &'a str) -> Self {
        Diagnostics {
            file: file.to_path_buf(),
            text,
            errors: Vec::new(),
        }
    }

    /// Records an error at a byte span of the configuration text (None: no position).
    pub(crate) fn error(
        &mut self,
        span: Option<&Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line_col = span.map(|span| line_col(self.text, span.start));
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line_col,
            field: field.into(),
            message: message.into(),
        });
    }

    /// The configuration text, e.g. to locate a key.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// All errors, ordered by position (errors without one last, in the order found).
    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut errors = self.errors;
        // A stable sort keeps the discovery order of errors at the same place.
        errors.sort_by_key(|e| e.line_col.unwrap_or((usize::MAX, usize::MAX)));
        ConfigErrors(errors)
    }
}

/// 1-based line and column (counted in characters) of a byte offset. Offsets past the end or
/// inside a multi-byte character are clamped to the nearest valid position before them.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset = offset.saturating_sub(1);
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count().saturating_add(1);
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let column = before
        .get(line_start..)
        .unwrap_or("")
        .chars()
        .count()
        .saturating_add(1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (1, 5));
        assert_eq!(line_col(text, 6), (2, 1));
        // "bé " is 4 bytes but 3 characters.
        assert_eq!(line_col(text, 10), (2, 4));
        // Inside the two-byte 'é': clamped to its start.
        assert_eq!(line_col(text, 8), (2, 2));
        assert_eq!(line_col(text, 1000), (3, 1));
    }

    #[test]
    fn display_formats() {
        let with_position = ConfigError {
            file: PathBuf::from("/etc/ikehub.toml"),
            line_col: Some((3, 7)),
            field: "gateway.name".into(),
            message: "missing".into(),
        };
        assert_eq!(
            with_position.to_string(),
            "/etc/ikehub.toml:3:7: gateway.name: missing"
        );
        let without = ConfigError {
            line_col: None,
            ..with_position.clone()
        };
        assert_eq!(
            without.to_string(),
            "/etc/ikehub.toml: gateway.name: missing"
        );
        let all = ConfigErrors(vec![with_position, without]);
        assert_eq!(all.to_string().lines().count(), 2);
    }
}
