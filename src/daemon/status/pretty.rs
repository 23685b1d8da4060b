//! serde_json's pretty layout (two-space indentation, one field per line), byte for byte, in
//! fewer writes: a line's break and indentation go out as one slice instead of one write per
//! level, and a key's closing quote goes out with its `: `. The status of thousands of SAs is
//! hundreds of thousands of lines, and small writes are most of the cost of encoding it.

use std::io::{self, Write};

use serde_json::ser::Formatter;

/// Nesting up to which a line start is one slice of [`LINE_STARTS`].
const MAX_SLICED_DEPTH: usize = 32;
/// ",\n" followed by the indentation of [`MAX_SLICED_DEPTH`] levels.
const LINE_STARTS: &[u8; 2 + 2 * MAX_SLICED_DEPTH] =
    b",\n                                                                ";

#[derive(Debug, Default)]
pub struct PrettyLines {
    depth: usize,
    /// The container being closed has at least one element (serde_json's `has_value`).
    has_value: bool,
    /// Between `begin_object_key` and `end_object_key`: the string written is a key.
    in_key: bool,
}

impl PrettyLines {
    /// A new line (after a comma unless `first`), indented to `depth`.
    fn line_start<W: ?Sized + Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        let from = usize::from(first);
        let sliced = self
            .depth
            .checked_mul(2)
            .and_then(|indent| indent.checked_add(2))
            .and_then(|end| LINE_STARTS.get(from..end));
        match sliced {
            Some(line_start) => writer.write_all(line_start),
            None => {
                writer.write_all(if first { b"\n" } else { b",\n" })?;
                (0..self.depth).try_for_each(|_| writer.write_all(b"  "))
            }
        }
    }
}

impl Formatter for PrettyLines {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_add(1);
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.line_start(writer, true)?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.line_start(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_add(1);
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.line_start(writer, true)?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.in_key = true;
        self.line_start(writer, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.in_key = false;
        Ok(())
    }

    fn end_string<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        // serde_json writes every key as a string: its `: ` follows in the same write.
        writer.write_all(if self.in_key { b"\": " } else { b"\"" })
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        // Written with the key's closing quote.
        Ok(())
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `value` in serde_json's pretty layout.
pub fn to_writer<W: Write, T: ?Sized + serde::Serialize>(
    writer: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(
        writer,
        PrettyLines::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_serde_json(value: &impl serde::Serialize) {
        let mut ours = Vec::new();
        to_writer(&mut ours, value).expect("encode");
        let theirs = serde_json::to_vec_pretty(value).expect("encode");
        assert_eq!(
            String::from_utf8(ours).expect("utf-8"),
            String::from_utf8(theirs).expect("utf-8")
        );
    }

    #[test]
    fn layout_is_serde_jsons_pretty_one() {
        same_as_serde_json(&crate::daemon::status::tests::sample());
        same_as_serde_json(&serde_json::json!({
            "empty object": {},
            "empty list": [],
            "nested empties": [[], {}, [[]], {"a": {}}],
            "escapes \"in\" keys\n": "and \"values\"\t\u{1}",
            "numbers": [0, -1, 1.5, u64::MAX, i64::MIN],
            "scalars": [true, false, null, "text"],
            "objects in lists": [{"a": 1, "b": [1, 2]}, {"c": null}],
            "map keys": {"1": 1, "2": {"3": [{}]}},
        }));
        same_as_serde_json(&"top-level string");
        same_as_serde_json(&Vec::<u8>::new());
        same_as_serde_json(&std::collections::BTreeMap::from([(1u8, "integer key")]));
    }

    #[test]
    fn nesting_deeper_than_the_sliced_indentation_is_still_indented() {
        let mut deep = serde_json::json!("bottom");
        for level in 0..MAX_SLICED_DEPTH + 5 {
            deep = if level % 2 == 0 {
                serde_json::json!([deep, level])
            } else {
                serde_json::json!({ "level": deep })
            };
        }
        same_as_serde_json(&deep);
    }
}
