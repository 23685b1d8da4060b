//! The Prometheus endpoint (`gateway.metrics_listen`) of a real daemon on loopback with the
//! recording dataplane, scraped with a plain HTTP/1.1 GET. Binding port 500 needs root:
//! without it every test here says so and returns.
//!
//! The recording dataplane installs nothing, so the traffic counters it answers are zeros:
//! these tests see the series present with 0, never a count of real ESP traffic (that needs
//! the kernel dataplane).

mod support {
    pub mod daemon;
}

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use support::daemon::*;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A status code and a body, from one request on its own connection.
fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn scrape(address: SocketAddr) -> Option<String> {
    match http_get(address, "/metrics")? {
        (200, body) => Some(body),
        _ => None,
    }
}

/// Scrape until a line reads exactly `line`; the last scrape's text.
fn wait_for_line(address: SocketAddr, line: &str) -> String {
    wait_for(ESTABLISH_DEADLINE, line, || {
        scrape(address).filter(|text| text.lines().any(|l| l == line))
    })
}

fn value_of(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn with_metrics(config: String, address: SocketAddr) -> String {
    config.replacen(
        "[gateway]\n",
        &format!("[gateway]\nmetrics_listen = \"{address}\"\n"),
        1,
    )
}

/// A connection that only listens and whose peer never comes: down for the whole test.
const IDLE_CONNECTION: &str = r#"
[[connection]]
name = "idle"
peer = "other"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["10.99.0.0/16"]
start_action = "listen"
"#;

#[test]
fn metrics_show_up_and_down_connections_traffic_setups_and_reloads() {
    if skip_unless_root("metrics_show_up_and_down_connections_traffic_setups_and_reloads") {
        return;
    }
    let dir = TempDir::new("metrics-pair");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 101),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 102),
        subnet: "10.2.0.0/16",
    };
    let a_metrics: SocketAddr = "127.0.0.101:9669".parse().expect("address");
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let a_config = with_metrics(a_config + IDLE_CONNECTION, a_metrics);
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &a_config);
    wait_both(&a, &b, "established", ESTABLISH_DEADLINE);

    let text = wait_for_line(a_metrics, r#"ikehub_connection_up{connection="tunnel"} 1"#);
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        r#"ikehub_connection_up{connection="idle"} 0"#,
        r#"ikehub_connection_state{connection="tunnel",state="established"} 1"#,
        r#"ikehub_connection_state{connection="idle",state="down"} 1"#,
        r#"ikehub_ike_sas{connection="tunnel"} 1"#,
        r#"ikehub_child_sas{connection="tunnel"} 1"#,
        r#"ikehub_ike_sas{connection="idle"} 0"#,
        // The recording dataplane answers zeros for the SAs it holds.
        r#"ikehub_bytes_in_total{connection="tunnel"} 0"#,
        r#"ikehub_bytes_out_total{connection="tunnel"} 0"#,
        r#"ikehub_packets_in_total{connection="tunnel"} 0"#,
        r#"ikehub_packets_out_total{connection="tunnel"} 0"#,
        r#"ikehub_setups_total{connection="tunnel"} 1"#,
        r#"ikehub_setups_total{connection="idle"} 0"#,
        r#"ikehub_ike_rekeys_total{connection="tunnel"} 0"#,
        r#"ikehub_child_rekeys_total{connection="tunnel"} 0"#,
        r#"ikehub_dpd_failures_total{connection="tunnel"} 0"#,
        "ikehub_setup_duration_seconds_count 1",
        r#"ikehub_dropped_datagrams_total{reason="malformed"} 0"#,
        r#"ikehub_reloads_total{result="success"} 0"#,
        "# EOF",
    ] {
        assert!(lines.contains(&expected), "no {expected:?} in:\n{text}");
    }
    let established = value_of(
        &text,
        r#"ikehub_last_established_timestamp_seconds{connection="tunnel"}"#,
    )
    .expect("the time of the establishment");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64();
    assert!(
        established <= now && now - established < 120.0,
        "{established} vs {now}"
    );
    assert!(
        value_of(
            &text,
            r#"ikehub_last_established_timestamp_seconds{connection="idle"}"#
        )
        .is_none(),
        "{text}"
    );

    let (status, _) = http_get(a_metrics, "/other").expect("an answer");
    assert_eq!(status, 404);

    let reload = a.cli(&["reload"]);
    assert!(reload.status.success(), "{reload:?}");
    wait_for_line(a_metrics, r#"ikehub_reloads_total{result="success"} 1"#);

    a.signal("TERM");
    b.signal("TERM");
    assert_eq!(a.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(b.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_refused_proposal_counts_as_a_no_proposal_chosen_failure_on_both_ends() {
    if skip_unless_root("a_refused_proposal_counts_as_a_no_proposal_chosen_failure_on_both_ends") {
        return;
    }
    let dir = TempDir::new("metrics-mismatch");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 103),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 104),
        subnet: "10.2.0.0/16",
    };
    let a_metrics: SocketAddr = "127.0.0.103:9669".parse().expect("address");
    let b_metrics: SocketAddr = "127.0.0.104:9669".parse().expect("address");
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let b_config = b_config.replace(
        r#"ike_proposals = ["aes128gcm16-prfsha256-ecp256"]"#,
        r#"ike_proposals = ["aes256-sha256-modp2048"]"#,
    );
    let mut b = Daemon::start(&dir.0, "b", &with_metrics(b_config, b_metrics));
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &with_metrics(a_config, a_metrics));

    let refused = |address: SocketAddr| {
        wait_for(ESTABLISH_DEADLINE, "a NO_PROPOSAL_CHOSEN failure", || {
            let text = scrape(address)?;
            let count = value_of(
                &text,
                r#"ikehub_failures_total{connection="tunnel",reason="NO_PROPOSAL_CHOSEN"}"#,
            )?;
            (count >= 1.0).then_some(text)
        })
    };
    let responder = refused(b_metrics);
    assert!(
        responder
            .lines()
            .any(|l| l == r#"ikehub_connection_up{connection="tunnel"} 0"#),
        "{responder}"
    );
    let initiator = refused(a_metrics);
    assert!(
        initiator
            .lines()
            .any(|l| l == r#"ikehub_setups_total{connection="tunnel"} 0"#),
        "{initiator}"
    );

    a.signal("TERM");
    b.signal("TERM");
    assert_eq!(a.wait_exit(Duration::from_secs(10)), Some(0));
    assert_eq!(b.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_metrics_port_in_use_stops_the_start_with_the_reason() {
    if skip_unless_root("a_metrics_port_in_use_stops_the_start_with_the_reason") {
        return;
    }
    let dir = TempDir::new("metrics-busy");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 105),
        subnet: "10.1.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 106),
        subnet: "10.2.0.0/16",
    };
    let taken = std::net::TcpListener::bind("127.0.0.105:0").expect("a port to take");
    let address = taken.local_addr().expect("its address");
    let config = with_metrics(config_text(&me, &peer, false, ""), address);
    let mut daemon = Daemon::start(&dir.0, "busy", &config);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(1));
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "cannot listen for metrics on {address} (gateway.metrics_listen)"
        )),
        "{log}"
    );
    assert!(!daemon.socket.exists(), "{log}");
}

/// Clients that connect and send nothing take every place; they are closed after the request
/// timeout and a scrape waiting behind them is answered.
#[test]
fn silent_clients_are_closed_and_a_waiting_scrape_is_answered() {
    if skip_unless_root("silent_clients_are_closed_and_a_waiting_scrape_is_answered") {
        return;
    }
    let dir = TempDir::new("metrics-silent");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 107),
        subnet: "10.1.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 108),
        subnet: "10.2.0.0/16",
    };
    let address: SocketAddr = "127.0.0.107:9669".parse().expect("address");
    let config = with_metrics(config_text(&me, &peer, false, ""), address);
    let mut daemon = Daemon::start(&dir.0, "silent", &config);
    wait_for(ESTABLISH_DEADLINE, "the daemon to answer", || {
        daemon.status()
    });
    // As many as the endpoint serves at once (metrics::http::MAX_SCRAPES).
    let mut silent: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect_timeout(&address, IO_TIMEOUT).expect("connect"))
        .collect();
    let text = scrape(address).expect("a scrape answered behind the silent clients");
    assert!(
        text.lines()
            .any(|l| l == r#"ikehub_connection_up{connection="tunnel"} 0"#),
        "{text}"
    );
    for stream in &mut silent {
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut rest = Vec::new();
        // Closed by the daemon: the read ends (with or without an error status first).
        stream.read_to_end(&mut rest).expect("closed by the daemon");
    }
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
}
