//! The example Grafana dashboard, examples/grafana-dashboard.json, asks only for metrics the
//! daemon exports, each under a name Prometheus stores it as (a counter with `_total`, a
//! histogram's `_bucket`, `_sum` or `_count`, a gauge as it is), and shows the ones an
//! operator watches.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use super::events::EventMetrics;
use super::render::render;
use crate::daemon::status::tests::sample;
use crate::ike::{ConnId, DownReason, Event, Failure, SaId};

const DASHBOARD: &str = include_str!("../../../examples/grafana-dashboard.json");

/// Every metric family the daemon exports, with its type, from the `# TYPE` lines of a
/// scrape. A family without series has no such line: the scrape follows an establishment
/// and a failure, so that every family has one.
fn exported() -> BTreeMap<String, String> {
    let mut events = EventMetrics::default();
    let at = UNIX_EPOCH + Duration::from_secs(1_796_644_202);
    let up = Event::IkeUp {
        conn: ConnId(0),
        sa: SaId(1),
        remote: "198.51.100.20:4500".parse().expect("address"),
    };
    events.on_event(&up, "office", Some(Duration::from_millis(30)), at);
    let refused = Event::ChildFailed {
        conn: ConnId(1),
        sa: SaId(2),
        reason: DownReason::NegotiationFailed(Failure::refused_by_peer(
            "IKE_AUTH",
            "TS_UNACCEPTABLE",
            "",
        )),
    };
    events.on_event(&refused, "lab", None, at);
    let text = render(&sample(), &events).expect("render");
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
}

/// The `ikehub_...` names in `text`.
fn names_in(text: &str, names: &mut BTreeSet<String>) {
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut at = 0;
    while let Some(found) = text[at..].find("ikehub_") {
        let start = at + found;
        let mut end = start;
        while end < bytes.len() && is_name(bytes[end]) {
            end += 1;
        }
        if start == 0 || !(is_name(bytes[start - 1]) || bytes[start - 1].is_ascii_uppercase()) {
            names.insert(text[start..end].to_owned());
        }
        at = end;
    }
}

/// Every `ikehub_...` name in the dashboard's strings: queries, variables, descriptions.
fn referenced(value: &serde_json::Value, names: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::String(text) => names_in(text, names),
        serde_json::Value::Array(items) => items.iter().for_each(|v| referenced(v, names)),
        serde_json::Value::Object(fields) => fields.values().for_each(|v| referenced(v, names)),
        _ => {}
    }
}

/// The family a stored series name belongs to, when the family exports it under that name.
fn family_of<'a>(name: &str, exported: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let suffixes: &[(&str, &[&str])] = &[
        ("gauge", &[""]),
        ("counter", &["_total"]),
        ("histogram", &["_bucket", "_sum", "_count"]),
    ];
    exported.iter().find_map(|(family, kind)| {
        let (_, allowed) = suffixes.iter().find(|(k, _)| k == kind)?;
        allowed
            .iter()
            .any(|suffix| name.strip_prefix(family.as_str()) == Some(suffix))
            .then_some(family.as_str())
    })
}

/// The names of `dashboard` the daemon does not export, and the families it shows.
fn check(dashboard: &str) -> (Vec<String>, BTreeSet<String>) {
    let json: serde_json::Value = serde_json::from_str(dashboard).expect("the dashboard is JSON");
    let exported = exported();
    let mut names = BTreeSet::new();
    referenced(&json, &mut names);
    let mut unknown = Vec::new();
    let mut shown = BTreeSet::new();
    for name in names {
        match family_of(&name, &exported) {
            Some(family) => {
                shown.insert(family.to_owned());
            }
            None => unknown.push(name),
        }
    }
    (unknown, shown)
}

#[test]
fn every_metric_of_the_dashboard_is_exported() {
    let (unknown, _) = check(DASHBOARD);
    assert_eq!(unknown, Vec::<String>::new(), "exported: {:?}", exported());
}

#[test]
fn the_dashboard_shows_what_an_operator_watches() {
    let (_, shown) = check(DASHBOARD);
    for family in [
        "ikehub_connection_up",
        "ikehub_connection_state",
        "ikehub_ike_sas",
        "ikehub_child_sas",
        "ikehub_bytes_in",
        "ikehub_bytes_out",
        "ikehub_packets_in",
        "ikehub_packets_out",
        "ikehub_setups",
        "ikehub_failures",
        "ikehub_setup_duration_seconds",
        "ikehub_ike_rekeys",
        "ikehub_child_rekeys",
        "ikehub_dpd_failures",
        "ikehub_dropped_datagrams",
        "ikehub_retransmits",
        "ikehub_reloads",
    ] {
        assert!(shown.contains(family), "{family} is not on the dashboard");
    }
}

#[test]
fn names_not_exported_or_without_their_suffix_are_found() {
    let dashboard = r#"{"panels": [{"targets": [
        {"expr": "rate(ikehub_setups_total[5m]) + ikehub_setups + ikehub_bogus_total"},
        {"expr": "histogram_quantile(0.9, rate(ikehub_setup_duration_seconds_bucket[5m]))"},
        {"expr": "ikehub_connection_up_total or ikehub_uptime_seconds"}]}]}"#;
    let (unknown, shown) = check(dashboard);
    assert_eq!(
        unknown,
        [
            "ikehub_bogus_total",
            "ikehub_connection_up_total",
            "ikehub_setups"
        ]
    );
    assert_eq!(
        shown.into_iter().collect::<Vec<_>>(),
        [
            "ikehub_setup_duration_seconds",
            "ikehub_setups",
            "ikehub_uptime_seconds"
        ]
    );
}
