//! The debug lines of an IKEv1 negotiation between two engines in memory, captured from
//! `tracing`: Main Mode and Quick Mode, each message one line with its exchange, message ID
//! and payloads. A test binary of its own: the subscriber is the process's global one.

mod support {
    pub mod captured_log;
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::EngineSettings;
use support::captured_log::Captured;
use support::pair::{v1_connection, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn debug_lines_name_each_ikev1_message_exchange_id_and_payloads() {
    let captured = Captured::install();
    let mut pair = Pair::new(
        EngineSettings::new(vec![v1_connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![v1_connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let log = captured.text();
    for line in [
        format!("sent Main Mode (message ID 0) to {B_ADDR}:500: SA (aes128-sha256-ecp256), VID"),
        format!(
            "received Main Mode (message ID 0) from {A_ADDR}:500: SA (aes128-sha256-ecp256), VID"
        ),
        format!(
            "received Main Mode (message ID 0) from {B_ADDR}:500: SA (aes128-sha256-ecp256), VID"
        ),
        format!("sent Main Mode (message ID 0) to {B_ADDR}:500: KE, NONCE"),
        format!("sent Main Mode (message ID 0) to {B_ADDR}:500: ID, HASH"),
        format!("received Main Mode (message ID 0) from {A_ADDR}:500: ID, HASH"),
        format!("sent Main Mode (message ID 0) to {A_ADDR}:500: ID, HASH"),
        format!("to {B_ADDR}:500: HASH, SA (aes128-sha256), NONCE, ID, ID"),
        format!("to {A_ADDR}:500: HASH, SA (aes128-sha256), NONCE, ID, ID"),
    ] {
        assert!(log.contains(&line), "missing {line:?} in:\n{log}");
    }
    // Quick Mode's lines name the exchange and a message ID of its own.
    let quick = log
        .lines()
        .filter(|l| l.contains("Quick Mode (message ID "))
        .count();
    assert!(quick >= 6, "three messages, sent and received:\n{log}");
    assert!(
        !log.contains("Quick Mode (message ID 0)"),
        "Quick Mode never uses message ID 0:\n{log}"
    );
    assert!(!log.contains("correct horse"), "the PSK is never logged");
}
