//! The TOML document as a tree of values that remember where they are in the file.
//!
//! serde's derived structs stop at the first wrong type or unknown key. Configuration checks must
//! report every problem at once, so the file is first read into this generic tree (through the
//! `toml` crate's span support) and the typed sections are then taken from it field by field
//! (see `raw.rs`), each failure becoming one error with its position.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// The key under which the `toml` crate hands a date-time to `deserialize_any` visitors.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// A TOML value with the byte span of every nested value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime,
    Array(Vec<Spanned<Value>>),
    Table(Table),
}

/// A TOML table in file order. Keys carry no span of their own: errors about a key point at
/// its value, which starts on the same line for `key = value` and is the table itself for
/// `[table]` headers.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Table {
    pub(crate) entries: Vec<(String, Spanned<Value>)>,
}

impl Table {
    pub(crate) fn get(&self, key: &str) -> Option<&Spanned<Value>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl Value {
    /// The TOML type name, for "expected X, found Y" messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses TOML text into a spanned tree. The error carries the `toml` crate's message and span.
pub(crate) fn parse(text: &str) -> Result<Spanned<Value>, toml::de::Error> {
    let root: Spanned<Value> = toml::from_str(text)?;
    Ok(root)
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut table = Table::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == TOML_DATETIME_KEY {
                // The value is the date-time's text; it is never a valid setting here.
                let _text: String = map.next_value()?;
                return Ok(Value::Datetime);
            }
            let value = map.next_value::<Spanned<Value>>()?;
            table.entries.push((key, value));
        }
        Ok(Value::Table(table))
    }
}

/// Where a key is written, found from its value's span: on the value's line before the
/// value (`key = value`), or inside a table header that starts at the value (`[key]`,
/// `[[key]]`). Falls back to the value's span when the key is written some other way (quoted,
/// dotted, on another line).
pub(crate) fn key_span(
    text: &str,
    key: &str,
    value_span: &std::ops::Range<usize>,
) -> std::ops::Range<usize> {
    let start = value_span.start;
    let before = text.get(..start).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let found_before = before
        .get(line_start..)
        .and_then(|line| line.find(key))
        .map(|at| line_start.saturating_add(at));
    let found_in_header = || {
        let rest = text.get(start..)?;
        let line = rest.split('\n').next()?;
        if !line.starts_with('[') {
            return None;
        }
        line.find(key).map(|at| start.saturating_add(at))
    };
    match found_before.or_else(found_in_header) {
        Some(at) => at..at.saturating_add(key.len()),
        None => value_span.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Range;

    fn text_at(text: &str, span: Range<usize>) -> &str {
        text.get(span).unwrap_or("<bad span>")
    }

    #[test]
    fn keeps_spans_of_nested_values() {
        let text = "[gateway]\nname = \"hub\"\nlist = [\"a\", 2]\n\n[[peer]]\nname = \"x\"\nwhen = 1979-05-27\n";
        let root = parse(text).expect("valid TOML");
        let Value::Table(root_table) = root.get_ref() else {
            panic!("root is a table")
        };
        let gateway = root_table.get("gateway").expect("gateway");
        let Value::Table(gateway_table) = gateway.get_ref() else {
            panic!("gateway is a table")
        };
        let name = gateway_table.get("name").expect("name");
        assert_eq!(text_at(text, name.span()), "\"hub\"");
        let Some(Value::Array(list)) = gateway_table.get("list").map(|v| v.get_ref()) else {
            panic!("list is an array")
        };
        assert_eq!(text_at(text, list[1].span()), "2");
        let Some(Value::Array(peers)) = root_table.get("peer").map(|v| v.get_ref()) else {
            panic!("peer is an array")
        };
        let Value::Table(peer) = peers[0].get_ref() else {
            panic!("peer[0] is a table")
        };
        assert_eq!(
            peer.get("when").map(|v| v.get_ref()),
            Some(&Value::Datetime)
        );
        // Tables start at their header, which is where "missing key" errors point.
        assert!(text_at(text, gateway.span()).starts_with("[gateway]"));
        assert!(text_at(text, peers[0].span()).starts_with("[[peer]]"));
    }

    #[test]
    fn finds_keys_from_value_spans() {
        let text = "[gateway]\n  colour = \"blue\"\n[[peers]]\nx = 1\n";
        let value_at = |needle: &str| {
            let at = text.find(needle).expect("needle");
            at..at + needle.len()
        };
        assert_eq!(key_span(text, "colour", &value_at("\"blue\"")), 12..18);
        let header = text.find("[[peers]]").expect("header");
        let table = header..text.len();
        assert_eq!(key_span(text, "peers", &table), header + 2..header + 7);
        // Not found: the value's own span.
        assert_eq!(key_span(text, "zzz", &value_at("1")), value_at("1"));
    }

    #[test]
    fn syntax_error_has_span() {
        let err = parse("a = \n").expect_err("invalid TOML");
        assert!(err.span().is_some());
    }
}
