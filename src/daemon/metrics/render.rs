//! The Prometheus text of one scrape: a registry built for it from the status snapshot and the
//! event counters, encoded once and dropped. Values that live elsewhere (the engine, the
//! kernel, [`EventMetrics`]) are copied in, so nothing here is shared with the loop.

use prometheus_client::encoding::{text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::events::EventMetrics;
use crate::daemon::status::{ConnectionState, Counters, StatusSnapshot};

/// The media type of [`render`]'s text (the OpenMetrics text format, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabel {
    connection: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    connection: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    connection: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

type PerConnection<M> = Family<ConnectionLabel, M>;

fn gauge_value(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn label(connection: &str) -> ConnectionLabel {
    ConnectionLabel {
        connection: connection.to_string(),
    }
}

/// Per-connection series copied from a snapshot or the event counters, registered under
/// `ikehub_NAME` once filled.
struct ConnectionSeries {
    up: PerConnection<Gauge>,
    state: Family<StateLabels, Gauge>,
    ike_sas: PerConnection<Gauge>,
    child_sas: PerConnection<Gauge>,
    bytes_in: PerConnection<Counter>,
    bytes_out: PerConnection<Counter>,
    packets_in: PerConnection<Counter>,
    packets_out: PerConnection<Counter>,
    setups: PerConnection<Counter>,
    failures: Family<ReasonLabels, Counter>,
    ike_rekeys: PerConnection<Counter>,
    child_rekeys: PerConnection<Counter>,
    dpd_failures: PerConnection<Counter>,
    last_established: PerConnection<Gauge>,
    peer_certificate_expiry: PerConnection<Gauge>,
}

/// The whole scrape as text.
pub fn render(snapshot: &StatusSnapshot, events: &EventMetrics) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("ikehub");
    register_connections(&mut registry, snapshot, events);
    register_daemon(&mut registry, snapshot, events);
    let mut out = String::new();
    text::encode(&mut out, &registry)?;
    Ok(out)
}

fn register_connections(registry: &mut Registry, snapshot: &StatusSnapshot, events: &EventMetrics) {
    let series = ConnectionSeries {
        up: Family::default(),
        state: Family::default(),
        ike_sas: Family::default(),
        child_sas: Family::default(),
        bytes_in: Family::default(),
        bytes_out: Family::default(),
        packets_in: Family::default(),
        packets_out: Family::default(),
        setups: Family::default(),
        failures: Family::default(),
        ike_rekeys: Family::default(),
        child_rekeys: Family::default(),
        dpd_failures: Family::default(),
        last_established: Family::default(),
        peer_certificate_expiry: Family::default(),
    };
    for connection in &snapshot.connections {
        let name = label(&connection.name);
        let established = connection.state == ConnectionState::Established;
        series.up.get_or_create(&name).set(i64::from(established));
        series
            .state
            .get_or_create(&StateLabels {
                connection: connection.name.clone(),
                state: connection.state.name().to_string(),
            })
            .set(1);
        let children = || connection.ike_sas.iter().flat_map(|sa| sa.children.iter());
        series
            .ike_sas
            .get_or_create(&name)
            .set(gauge_value(connection.ike_sas.len() as u64));
        series
            .child_sas
            .get_or_create(&name)
            .set(gauge_value(children().count() as u64));
        // A sum over the CHILD_SAs installed now, only when the kernel answered for each:
        // a partial sum would look like a counter reset.
        let sum = |value: fn(&crate::daemon::status::ChildSaStatus) -> Option<u64>| {
            children().try_fold(0u64, |total, child| {
                Some(total.saturating_add(value(child)?))
            })
        };
        for (family, value) in [
            (&series.bytes_in, sum(|c| c.bytes_in)),
            (&series.bytes_out, sum(|c| c.bytes_out)),
            (&series.packets_in, sum(|c| c.packets_in)),
            (&series.packets_out, sum(|c| c.packets_out)),
        ] {
            if let Some(value) = value {
                family.get_or_create(&name).inc_by(value);
            }
        }
        let counted = events.connections.get(&connection.name);
        let counted = counted.cloned().unwrap_or_default();
        series.setups.get_or_create(&name).inc_by(counted.setups);
        series
            .ike_rekeys
            .get_or_create(&name)
            .inc_by(counted.ike_rekeys);
        series
            .child_rekeys
            .get_or_create(&name)
            .inc_by(counted.child_rekeys);
        series
            .dpd_failures
            .get_or_create(&name)
            .inc_by(counted.dpd_failures);
        for (reason, count) in &counted.failures {
            series
                .failures
                .get_or_create(&ReasonLabels {
                    connection: connection.name.clone(),
                    reason: reason.clone(),
                })
                .inc_by(*count);
        }
        if let Some(at) = counted.last_established_unix {
            series
                .last_established
                .get_or_create(&name)
                .set(gauge_value(at));
        }
        // The soonest expiry among the certificates the connection's peers authenticated
        // with: what an alert on "expires within 30 days" needs.
        let soonest = connection
            .ike_sas
            .iter()
            .filter_map(|sa| sa.peer_certificate.as_ref())
            .map(|c| c.expires_in_s)
            .min();
        if let Some(seconds) = soonest {
            series
                .peer_certificate_expiry
                .get_or_create(&name)
                .set(gauge_value(seconds));
        }
    }
    let ConnectionSeries {
        up,
        state,
        ike_sas,
        child_sas,
        bytes_in,
        bytes_out,
        packets_in,
        packets_out,
        setups,
        failures,
        ike_rekeys,
        child_rekeys,
        dpd_failures,
        last_established,
        peer_certificate_expiry,
    } = series;
    registry.register(
        "connection_up",
        "1 when the connection is established with at least one CHILD_SA, else 0",
        up,
    );
    registry.register(
        "connection_state",
        "The connection's state as ikehub status shows it (the series with value 1)",
        state,
    );
    registry.register("ike_sas", "IKE SAs of the connection", ike_sas);
    registry.register("child_sas", "CHILD_SAs of the connection", child_sas);
    registry.register(
        "bytes_in",
        "Bytes received on the connection's current CHILD_SAs (kernel counters; drop when an SA is replaced)",
        bytes_in,
    );
    registry.register(
        "bytes_out",
        "Bytes sent on the connection's current CHILD_SAs (kernel counters; drop when an SA is replaced)",
        bytes_out,
    );
    registry.register(
        "packets_in",
        "Packets received on the connection's current CHILD_SAs (kernel counters)",
        packets_in,
    );
    registry.register(
        "packets_out",
        "Packets sent on the connection's current CHILD_SAs (kernel counters)",
        packets_out,
    );
    registry.register("setups", "IKE SAs established, rekeys not counted", setups);
    registry.register(
        "failures",
        "Failures as ikehub status records them, by reason: the error notify's RFC name, timeout, kernel, dns (a peer name that did not resolve) or other",
        failures,
    );
    registry.register("ike_rekeys", "IKE SA rekeys", ike_rekeys);
    registry.register("child_rekeys", "CHILD_SA rekeys", child_rekeys);
    registry.register(
        "dpd_failures",
        "Established IKE SAs lost because the peer stopped answering",
        dpd_failures,
    );
    registry.register(
        "last_established_timestamp_seconds",
        "Unix time of the connection's last IKE SA establishment",
        last_established,
    );
    registry.register(
        "peer_certificate_expires_in_seconds",
        "Seconds until the certificate the connection's peer authenticated with expires (the soonest of its IKE SAs'); absent without one",
        peer_certificate_expiry,
    );
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Counter = Counter::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Gauge = Gauge::default();
    metric.set(gauge_value(value));
    registry.register(name, help, metric);
}

fn register_daemon(registry: &mut Registry, snapshot: &StatusSnapshot, events: &EventMetrics) {
    let c: &Counters = &snapshot.daemon.counters;
    gauge(
        registry,
        "uptime_seconds",
        "Seconds since the daemon started",
        snapshot.daemon.uptime_s,
    );
    if let Some(certificate) = &snapshot.daemon.certificate {
        gauge(
            registry,
            "certificate_expires_in_seconds",
            "Seconds until the gateway's own certificate ([gateway] certificate) expires",
            certificate.expires_in_s,
        );
    }
    let dropped: Family<DropLabel, Counter> = Family::default();
    for (reason, value) in [
        ("malformed", c.dropped_malformed),
        ("undecryptable", c.dropped_undecryptable),
        ("unknown_sa", c.dropped_unknown_sa),
        ("unexpected", c.dropped_unexpected),
        ("oversized", c.dropped_oversized),
        ("half_open", c.dropped_half_open),
        ("bad_marker", c.dropped_bad_marker),
        ("kernel", c.dropped_by_kernel),
    ] {
        dropped
            .get_or_create(&DropLabel {
                reason: reason.to_string(),
            })
            .inc_by(value);
    }
    registry.register(
        "dropped_datagrams",
        "IKE datagrams dropped, by reason (as dropped_* in ikehub status)",
        dropped,
    );
    for (name, help, value) in [
        ("retransmits", "IKE requests retransmitted", c.retransmits),
        (
            "responses_resent",
            "IKE responses sent again for a retransmitted request",
            c.responses_resent,
        ),
        ("cookies_sent", "COOKIE challenges sent", c.cookies_sent),
        (
            "invalid_spi_sent",
            "INVALID_SPI notifies sent",
            c.invalid_spi_sent,
        ),
        (
            "half_open_replaced",
            "Half-open IKE SAs replaced by newer ones",
            c.half_open_replaced,
        ),
        (
            "keepalives_received",
            "NAT-keepalives received",
            c.keepalives_received,
        ),
        ("keepalives_sent", "NAT-keepalives sent", c.keepalives_sent),
        (
            "send_errors",
            "Datagrams that could not be sent",
            c.send_errors,
        ),
        (
            "control_clients_refused",
            "Control clients refused: every place was taken",
            c.control_clients_refused,
        ),
        (
            "control_clients_dropped",
            "Control clients dropped: silent or too slow",
            c.control_clients_dropped,
        ),
        (
            "control_accept_errors",
            "Control socket accept failures",
            c.control_accept_errors,
        ),
    ] {
        counter(registry, name, help, value);
    }
    gauge(
        registry,
        "half_open_sas",
        "Half-open IKE SAs now (IKE_SA_INIT answered, no IKE_AUTH yet)",
        c.half_open,
    );
    gauge(
        registry,
        "half_open_sas_peak",
        "Most half-open IKE SAs at once since the start",
        c.half_open_peak,
    );
    let reloads: Family<ResultLabel, Counter> = Family::default();
    for (result, value) in [
        ("success", events.reloads_succeeded),
        ("failure", events.reloads_failed),
    ] {
        reloads
            .get_or_create(&ResultLabel {
                result: result.to_string(),
            })
            .inc_by(value);
    }
    registry.register(
        "reloads",
        "Configuration reloads, by result (a failure keeps the running configuration)",
        reloads,
    );
    registry.register(
        "setup_duration_seconds",
        "Time from an IKE SA's creation (IKE_SA_INIT sent or received) to its establishment",
        events.setup_duration.clone(),
    );
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::daemon::status::tests::sample;
    use crate::ike::{ConnId, DownReason, Event, Failure, SaId};

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn a_snapshot_and_the_event_counts_render_as_openmetrics_text() {
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
        events.on_reload(true);
        events.on_reload(false);
        events.on_reload(false);

        let text = render(&sample(), &events).expect("rendered");
        for line in [
            r#"ikehub_connection_up{connection="office"} 1"#,
            r#"ikehub_connection_up{connection="lab"} 0"#,
            r#"ikehub_connection_up{connection="branch"} 0"#,
            r#"ikehub_connection_state{connection="lab",state="no-child-sa"} 1"#,
            r#"ikehub_ike_sas{connection="office"} 1"#,
            r#"ikehub_child_sas{connection="office"} 2"#,
            r#"ikehub_child_sas{connection="lab"} 0"#,
            r#"ikehub_bytes_in_total{connection="lab"} 0"#,
            r#"ikehub_setups_total{connection="office"} 1"#,
            r#"ikehub_failures_total{connection="lab",reason="TS_UNACCEPTABLE"} 1"#,
            r#"ikehub_last_established_timestamp_seconds{connection="office"} 1796644202"#,
            r#"ikehub_dropped_datagrams_total{reason="malformed"} 7"#,
            r#"ikehub_dropped_datagrams_total{reason="bad_marker"} 2"#,
            "ikehub_uptime_seconds 3725",
            r#"ikehub_reloads_total{result="success"} 1"#,
            r#"ikehub_reloads_total{result="failure"} 2"#,
            "ikehub_setup_duration_seconds_count 1",
            r#"ikehub_setup_duration_seconds_bucket{le="0.05"} 1"#,
            r#"ikehub_setup_duration_seconds_bucket{le="0.025"} 0"#,
            "# TYPE ikehub_failures counter",
        ] {
            assert!(has(&text, line), "no {line:?} in:\n{text}");
        }
        // One of office's two CHILD_SAs has no kernel answer: a partial sum would read as a
        // counter reset, so the series is left out.
        assert!(
            !text.contains(r#"ikehub_bytes_in_total{connection="office"}"#),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        // Without certificates, no certificate series.
        assert!(!text.contains("certificate_expires"), "{text}");
    }

    /// The rendering of a scrape for a hub of many connections (each with an IKE SA and a
    /// CHILD_SA and counted events): the per-connection series grow with the connections,
    /// unlike the bench's one connection of many SAs. Ignored by default; run optimised:
    /// `cargo test --release --lib render_at_hub_scale -- --ignored --nocapture`
    /// (`IKEHUB_METRICS_CONNECTIONS`, default 10000).
    #[test]
    #[ignore]
    fn render_at_hub_scale() {
        let connections: u32 = std::env::var("IKEHUB_METRICS_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let template = sample()
            .connections
            .into_iter()
            .find(|c| c.name == "office")
            .expect("office");
        let mut snapshot = sample();
        let mut events = EventMetrics::default();
        let at = UNIX_EPOCH + Duration::from_secs(1_796_644_202);
        snapshot.connections = (0..connections)
            .map(|i| {
                let mut c = template.clone();
                c.name = format!("office-{i:05}");
                let up = Event::IkeUp {
                    conn: ConnId(i),
                    sa: SaId(i),
                    remote: "198.51.100.20:4500".parse().expect("address"),
                };
                events.on_event(&up, &c.name, Some(Duration::from_millis(30)), at);
                c
            })
            .collect();
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..15 {
            let start = std::time::Instant::now();
            let text = render(&snapshot, &events).expect("rendered");
            times.push(start.elapsed());
            bytes = text.len();
        }
        times.sort();
        println!(
            "render of {connections} connections: median {:?}, range {:?}-{:?}, {} KiB",
            times[times.len() / 2],
            times[0],
            times[times.len() - 1],
            bytes / 1024
        );
    }

    #[test]
    fn certificate_expiries_are_gauges() {
        let mut snapshot = sample();
        let certificate = crate::daemon::status::PeerCertificateStatus {
            subject: "CN=gw".into(),
            issuer: "CN=CA".into(),
            serial: "01".into(),
            not_after: "2027-12-01T00:00:00Z".into(),
            expires_in_s: 86_400,
        };
        snapshot.daemon.certificate = Some(certificate.clone());
        let office = snapshot
            .connections
            .iter_mut()
            .find(|c| c.name == "office")
            .expect("office");
        office.ike_sas[0].peer_certificate = Some(crate::daemon::status::PeerCertificateStatus {
            expires_in_s: 3_600,
            ..certificate
        });
        let text = render(&snapshot, &EventMetrics::default()).expect("rendered");
        for line in [
            "ikehub_certificate_expires_in_seconds 86400",
            r#"ikehub_peer_certificate_expires_in_seconds{connection="office"} 3600"#,
        ] {
            assert!(has(&text, line), "no {line:?} in:\n{text}");
        }
        assert!(
            !text.contains(r#"ikehub_peer_certificate_expires_in_seconds{connection="lab"}"#),
            "{text}"
        );
    }
}
