//! The file's sections as written: typed, positioned, not yet validated.
//!
//! Reading a section reports, all at once, unknown keys (naming them and the known ones),
//! missing required keys and values of the wrong TOML type; whatever could be read is returned
//! so the later checks still run on it.

use std::ops::Range;

use toml::Spanned;
use zeroize::Zeroizing;

use super::document::{key_span, Table, Value};
use super::error::Diagnostics;

/// A duration as written: a string with a unit (`"30s"`, `"off"`) or bare seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimeSetting {
    Text(String),
    Seconds(i64),
}

/// A list of strings, each with its own position.
pub(crate) type Strings = Spanned<Vec<Spanned<String>>>;

#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub(crate) gateway: Option<RawGateway>,
    pub(crate) peers: Vec<RawPeer>,
    pub(crate) connections: Vec<RawConnection>,
    pub(crate) routes: Vec<RawRoute>,
}

#[derive(Debug)]
pub(crate) struct RawGateway {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) local_addresses: Option<Strings>,
    pub(crate) local_subnets: Option<Strings>,
    pub(crate) hub: Option<Spanned<bool>>,
    pub(crate) offload: Option<Spanned<String>>,
    pub(crate) metrics_listen: Option<Spanned<String>>,
    pub(crate) control_group: Option<Spanned<String>>,
    pub(crate) certificate: Option<Spanned<String>>,
    pub(crate) private_key: Option<Spanned<String>>,
    /// One path or a list of paths (files or directories).
    pub(crate) ca_certificates: Option<Strings>,
    pub(crate) crl_files: Option<Strings>,
    /// The half-open limits given, by key (see `limits.rs`).
    pub(crate) limits: Vec<(&'static str, Spanned<i64>)>,
}

#[derive(Debug)]
pub(crate) struct RawPeer {
    /// How errors name this entry: `peer "name"`, or `peer[index]` without a usable name.
    pub(crate) label: String,
    pub(crate) span: Range<usize>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) address: Option<Spanned<String>>,
    pub(crate) identity: Option<Spanned<String>>,
}

pub(crate) struct RawConnection {
    pub(crate) label: String,
    pub(crate) span: Range<usize>,
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) peer: Option<Spanned<String>>,
    pub(crate) version: Option<Spanned<String>>,
    pub(crate) psk: Option<Spanned<Zeroizing<String>>>,
    pub(crate) psk_file: Option<Spanned<String>>,
    pub(crate) local_auth: Option<Spanned<String>>,
    pub(crate) remote_auth: Option<Spanned<String>>,
    pub(crate) local_subnets: Option<Strings>,
    pub(crate) remote_subnets: Option<Strings>,
    pub(crate) local_identity: Option<Spanned<String>>,
    pub(crate) ike_proposals: Option<Strings>,
    pub(crate) esp_proposals: Option<Strings>,
    pub(crate) ike_lifetime: Option<Spanned<TimeSetting>>,
    pub(crate) child_lifetime: Option<Spanned<TimeSetting>>,
    pub(crate) dpd_interval: Option<Spanned<TimeSetting>>,
    pub(crate) dpd_timeout: Option<Spanned<TimeSetting>>,
    pub(crate) local_address: Option<Spanned<String>>,
    pub(crate) start_action: Option<Spanned<String>>,
    pub(crate) offload: Option<Spanned<String>>,
    pub(crate) pfs: Option<Spanned<String>>,
    pub(crate) close_action: Option<Spanned<String>>,
    pub(crate) aggressive: Option<Spanned<bool>>,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The inline secret stays out of debug output.
        f.debug_struct("RawConnection")
            .field("label", &self.label)
            .field("psk", &self.psk.as_ref().map(|_| "<redacted>"))
            .field("psk_file", &self.psk_file)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct RawRoute {
    pub(crate) label: String,
    pub(crate) span: Range<usize>,
    pub(crate) destination: Option<Spanned<String>>,
    pub(crate) connection: Option<Spanned<String>>,
    pub(crate) weight: Option<Spanned<i64>>,
    pub(crate) publish: Option<Spanned<bool>>,
}

pub(super) const TOP_KEYS: &[&str] = &["gateway", "peer", "connection", "route"];
pub(super) const GATEWAY_KEYS: &[&str] = &[
    "name",
    "local_addresses",
    "local_subnets",
    "hub",
    "offload",
    "metrics_listen",
    "control_group",
    "certificate",
    "private_key",
    "ca_certificates",
    "crl_files",
    "cookie_threshold",
    "half_open_per_address",
    "half_open_limit",
    "half_open_memory_mib",
];
pub(super) const PEER_KEYS: &[&str] = &["name", "address", "identity"];
pub(super) const CONNECTION_KEYS: &[&str] = &[
    "name",
    "peer",
    "version",
    "psk",
    "psk_file",
    "local_auth",
    "remote_auth",
    "local_subnets",
    "remote_subnets",
    "local_identity",
    "ike_proposals",
    "esp_proposals",
    "ike_lifetime",
    "child_lifetime",
    "dpd_interval",
    "dpd_timeout",
    "local_address",
    "start_action",
    "offload",
    "pfs",
    "close_action",
    "aggressive",
];
pub(super) const ROUTE_KEYS: &[&str] = &["destination", "connection", "weight", "publish"];

/// Reads the sections of a parsed document.
pub(crate) fn read(root: Spanned<Value>, d: &mut Diagnostics<'_>) -> RawConfig {
    let span = root.span();
    let Value::Table(table) = root.into_inner() else {
        d.error(Some(&span), "", "the file must be a TOML table");
        return RawConfig::default();
    };
    let mut top = Reader::new(table, span.clone(), String::new());
    let mut config = RawConfig::default();

    match top.take("gateway") {
        Some(gateway) => config.gateway = read_gateway(gateway, d),
        None => d.error(
            None,
            "gateway",
            "missing the [gateway] section (name and local_addresses of this gateway)",
        ),
    }
    config.peers = entries(&mut top, "peer", d)
        .into_iter()
        .map(|(index, span, table)| read_peer(index, span, table, d))
        .collect();
    config.connections = entries(&mut top, "connection", d)
        .into_iter()
        .map(|(index, span, table)| read_connection(index, span, table, d))
        .collect();
    config.routes = entries(&mut top, "route", d)
        .into_iter()
        .map(|(index, span, table)| read_route(index, span, table, d))
        .collect();
    top.finish(TOP_KEYS, d);
    config
}

/// The tables of an array of tables (`[[key]]`), with their index and span.
fn entries(
    top: &mut Reader,
    key: &str,
    d: &mut Diagnostics<'_>,
) -> Vec<(usize, Range<usize>, Table)> {
    let Some(value) = top.take(key) else {
        return Vec::new();
    };
    let span = value.span();
    let Value::Array(items) = value.into_inner() else {
        d.error(
            Some(&span),
            key,
            format!("expected an array of tables: write each entry as [[{key}]]"),
        );
        return Vec::new();
    };
    let mut tables = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let item_span = item.span();
        match item.into_inner() {
            Value::Table(table) => tables.push((index, item_span, table)),
            other => d.error(
                Some(&item_span),
                format!("{key}[{index}]"),
                format!("expected a table, found {}", other.type_name()),
            ),
        }
    }
    tables
}

/// `kind "name"` when the entry has a string name, `kind[index]` otherwise.
fn label(kind: &str, index: usize, table: &Table, name_key: &str) -> String {
    match table.get(name_key).map(|v| v.get_ref()) {
        Some(Value::String(name)) if !name.is_empty() => format!("{kind} {name:?}"),
        _ => format!("{kind}[{index}]"),
    }
}

fn read_gateway(value: Spanned<Value>, d: &mut Diagnostics<'_>) -> Option<RawGateway> {
    let span = value.span();
    let Value::Table(table) = value.into_inner() else {
        d.error(
            Some(&span),
            "gateway",
            "expected a table: write it as [gateway]",
        );
        return None;
    };
    let mut r = Reader::new(table, span, "gateway".into());
    let gateway = RawGateway {
        name: r.required_string("name", d),
        local_addresses: r.required_strings("local_addresses", d),
        local_subnets: r.strings("local_subnets", d),
        hub: r.boolean("hub", d),
        offload: r.string("offload", d),
        metrics_listen: r.string("metrics_listen", d),
        control_group: r.string("control_group", d),
        certificate: r.string("certificate", d),
        private_key: r.string("private_key", d),
        ca_certificates: r.string_or_strings("ca_certificates", d),
        crl_files: r.string_or_strings("crl_files", d),
        limits: super::limits::KEYS
            .iter()
            .filter_map(|(key, _)| r.integer(key, d).map(|v| (*key, v)))
            .collect(),
    };
    r.finish(GATEWAY_KEYS, d);
    Some(gateway)
}

fn read_peer(index: usize, span: Range<usize>, table: Table, d: &mut Diagnostics<'_>) -> RawPeer {
    let label = label("peer", index, &table, "name");
    let mut r = Reader::new(table, span.clone(), label.clone());
    let peer = RawPeer {
        label,
        span,
        name: r.required_string("name", d),
        address: r.required_string("address", d),
        identity: r.string("identity", d),
    };
    r.finish(PEER_KEYS, d);
    peer
}

fn read_connection(
    index: usize,
    span: Range<usize>,
    table: Table,
    d: &mut Diagnostics<'_>,
) -> RawConnection {
    let label = label("connection", index, &table, "name");
    let mut r = Reader::new(table, span.clone(), label.clone());
    let connection = RawConnection {
        label,
        span,
        name: r.required_string("name", d),
        peer: r.required_string("peer", d),
        version: r.string("version", d),
        psk: r
            .string("psk", d)
            .map(|s| Spanned::new(s.span(), Zeroizing::new(s.into_inner()))),
        psk_file: r.string("psk_file", d),
        local_auth: r.string("local_auth", d),
        remote_auth: r.string("remote_auth", d),
        local_subnets: r.strings("local_subnets", d),
        remote_subnets: r.required_strings("remote_subnets", d),
        local_identity: r.string("local_identity", d),
        ike_proposals: r.strings("ike_proposals", d),
        esp_proposals: r.strings("esp_proposals", d),
        ike_lifetime: r.time("ike_lifetime", d),
        child_lifetime: r.time("child_lifetime", d),
        dpd_interval: r.time("dpd_interval", d),
        dpd_timeout: r.time("dpd_timeout", d),
        local_address: r.string("local_address", d),
        start_action: r.string("start_action", d),
        offload: r.string("offload", d),
        pfs: r.string("pfs", d),
        close_action: r.string("close_action", d),
        aggressive: r.boolean("aggressive", d),
    };
    r.finish(CONNECTION_KEYS, d);
    connection
}

fn read_route(index: usize, span: Range<usize>, table: Table, d: &mut Diagnostics<'_>) -> RawRoute {
    // Routes have no name; the destination identifies them best.
    let label = label("route", index, &table, "destination");
    let mut r = Reader::new(table, span.clone(), label.clone());
    let route = RawRoute {
        label,
        span,
        destination: r.required_string("destination", d),
        connection: r.required_string("connection", d),
        weight: r.integer("weight", d),
        publish: r.boolean("publish", d),
    };
    r.finish(ROUTE_KEYS, d);
    route
}

/// Takes typed fields out of one table; whatever is left at the end is an unknown key.
struct Reader {
    entries: Vec<(String, Spanned<Value>)>,
    span: Range<usize>,
    label: String,
}

impl Reader {
    fn new(table: Table, span: Range<usize>, label: String) -> Reader {
        Reader {
            entries: table.entries,
            span,
            label,
        }
    }

    fn field(&self, key: &str) -> String {
        if self.label.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.label)
        }
    }

    fn take(&mut self, key: &str) -> Option<Spanned<Value>> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    fn wrong_type(
        &self,
        key: &str,
        expected: &str,
        value: &Spanned<Value>,
        d: &mut Diagnostics<'_>,
    ) {
        d.error(
            Some(&value.span()),
            self.field(key),
            format!("expected {expected}, found {}", value.get_ref().type_name()),
        );
    }

    fn missing(&self, key: &str, d: &mut Diagnostics<'_>) {
        d.error(Some(&self.span), self.field(key), "missing required key");
    }

    fn string(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Spanned<String>> {
        let value = self.take(key)?;
        let span = value.span();
        match value.into_inner() {
            Value::String(s) => Some(Spanned::new(span, s)),
            other => {
                self.wrong_type(key, "a string", &Spanned::new(span, other), d);
                None
            }
        }
    }

    fn required_string(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Spanned<String>> {
        if self.entries.iter().all(|(k, _)| k != key) {
            self.missing(key, d);
        }
        self.string(key, d)
    }

    /// An array of strings; every element of the wrong type is reported.
    fn strings(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Strings> {
        let value = self.take(key)?;
        let span = value.span();
        let items = match value.into_inner() {
            Value::Array(items) => items,
            other => {
                self.wrong_type(key, "an array of strings", &Spanned::new(span, other), d);
                return None;
            }
        };
        let mut strings = Vec::with_capacity(items.len());
        let mut all_strings = true;
        for (index, item) in items.into_iter().enumerate() {
            let item_span = item.span();
            match item.into_inner() {
                Value::String(s) => strings.push(Spanned::new(item_span, s)),
                other => {
                    all_strings = false;
                    d.error(
                        Some(&item_span),
                        format!("{}[{index}]", self.field(key)),
                        format!("expected a string, found {}", other.type_name()),
                    );
                }
            }
        }
        all_strings.then(|| Spanned::new(span, strings))
    }

    /// One string, or an array of strings: a key that usually names one file but may name
    /// several.
    fn string_or_strings(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Strings> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        if let Value::String(s) = self.entries[at].1.get_ref() {
            let span = self.entries[at].1.span();
            let single = Spanned::new(span.clone(), s.clone());
            self.entries.remove(at);
            return Some(Spanned::new(span, vec![single]));
        }
        self.strings(key, d)
    }

    fn required_strings(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Strings> {
        if self.entries.iter().all(|(k, _)| k != key) {
            self.missing(key, d);
        }
        self.strings(key, d)
    }

    fn boolean(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Spanned<bool>> {
        let value = self.take(key)?;
        let span = value.span();
        match value.into_inner() {
            Value::Boolean(b) => Some(Spanned::new(span, b)),
            other => {
                self.wrong_type(key, "true or false", &Spanned::new(span, other), d);
                None
            }
        }
    }

    fn integer(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Spanned<i64>> {
        let value = self.take(key)?;
        let span = value.span();
        match value.into_inner() {
            Value::Integer(i) => Some(Spanned::new(span, i)),
            other => {
                self.wrong_type(key, "an integer", &Spanned::new(span, other), d);
                None
            }
        }
    }

    fn time(&mut self, key: &str, d: &mut Diagnostics<'_>) -> Option<Spanned<TimeSetting>> {
        let value = self.take(key)?;
        let span = value.span();
        match value.into_inner() {
            Value::String(s) => Some(Spanned::new(span, TimeSetting::Text(s))),
            Value::Integer(i) => Some(Spanned::new(span, TimeSetting::Seconds(i))),
            other => {
                self.wrong_type(
                    key,
                    "a duration such as \"30s\" or \"4h\"",
                    &Spanned::new(span, other),
                    d,
                );
                None
            }
        }
    }

    /// Reports every key nobody took.
    fn finish(self, known: &[&str], d: &mut Diagnostics<'_>) {
        let field = |key: &str| {
            if self.label.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", self.label)
            }
        };
        for (key, value) in &self.entries {
            let at = key_span(d.text(), key, &value.span());
            let message = match closest(key, known) {
                Some(near) => format!(
                    "unknown key \"{key}\"; did you mean \"{near}\"? Known keys here: {}",
                    known.join(", ")
                ),
                None => format!(
                    "unknown key \"{key}\"; known keys here: {}",
                    known.join(", ")
                ),
            };
            d.error(Some(&at), field(key), message);
        }
    }
}

/// The known key nearest to a misspelt one, if one is near enough to be meant: at most a
/// third of its letters apart (Levenshtein distance), or the same but for `-`/`_`.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key_norm = key.replace('-', "_").to_ascii_lowercase();
    known
        .iter()
        .map(|k| (*k, edit_distance(&key_norm, k)))
        .filter(|(k, d)| *d <= (k.len().max(key.len()) / 3).max(1))
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(usize::from(ca != *cb));
            let deletion = previous
                .get(j + 1)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            let insertion = current
                .get(j)
                .copied()
                .unwrap_or(usize::MAX)
                .saturating_add(1);
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod suggestion_tests {
    use super::closest;

    #[test]
    fn a_near_miss_is_suggested_and_a_stranger_is_not() {
        let known = ["remote_subnets", "local_subnets", "dpd_interval", "psk"];
        assert_eq!(closest("remote_subnet", &known), Some("remote_subnets"));
        assert_eq!(closest("remote-subnets", &known), Some("remote_subnets"));
        assert_eq!(closest("dpd_intervall", &known), Some("dpd_interval"));
        assert_eq!(closest("colour", &known), None);
    }
}
