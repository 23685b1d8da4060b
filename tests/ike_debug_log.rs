//! The debug lines of an IKEv2 negotiation between two engines in memory, captured from
//! `tracing`. A test binary of its own: the subscriber is the process's global one, which
//! no other test's callsites can race with.

mod support {
    pub mod captured_log;
    pub mod pair;
}

use std::time::Duration;

use support::captured_log::Captured;
use support::pair::{Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

/// At debug, each message sent and received is one line naming its exchange, its message ID
/// and its payloads, with the proposal an answer chooses; the pre-shared key never shows.
#[test]
fn debug_lines_name_each_message_exchange_id_and_payloads() {
    let captured = Captured::install();
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let log = captured.text();
    for line in [
        format!("sent IKE_SA_INIT request (message ID 0) to {B_ADDR}:500: SA (offered aes128gcm16-prfsha256-ecp256), KE (ecp256), Nonce, N(NAT_DETECTION_SOURCE_IP), N(NAT_DETECTION_DESTINATION_IP), N(IKEV2_FRAGMENTATION_SUPPORTED)"),
        format!("received IKE_SA_INIT request (message ID 0) from {A_ADDR}:500: SA (offered aes128gcm16-prfsha256-ecp256), KE (ecp256), Nonce"),
        format!("received IKE_SA_INIT response (message ID 0) from {B_ADDR}:500: SA (chosen aes128gcm16-prfsha256-ecp256), KE (ecp256), Nonce"),
        format!("sent IKE_AUTH request (message ID 1) to {B_ADDR}:500: IDi, N(INITIAL_CONTACT), IDr, AUTH, SA (offered aes128gcm16-noesn), TSi, TSr"),
        format!("received IKE_AUTH request (message ID 1) from {A_ADDR}:500: IDi, N(INITIAL_CONTACT), IDr, AUTH, SA (offered aes128gcm16-noesn), TSi, TSr"),
        format!("sent IKE_AUTH response (message ID 1) to {A_ADDR}:500: IDr, AUTH, SA (chosen aes128gcm16-noesn), TSi, TSr"),
        format!("received IKE_AUTH response (message ID 1) from {B_ADDR}:500: IDr, AUTH, SA (chosen aes128gcm16-noesn), TSi, TSr"),
    ] {
        assert!(log.contains(&line), "missing {line:?} in:\n{log}");
    }
    assert!(log.contains(" DEBUG "), "{log}");
    assert!(!log.contains("correct horse"), "the PSK is never logged");
}
