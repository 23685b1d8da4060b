//! Peers given by a DNS name, in memory: the engine asks its driver for the name's address
//! before it initiates, uses the answer, accepts the peer only at the address resolved last,
//! and retries with backoff when the name does not resolve.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::{ConnId, EngineSettings, Error, Event, ResolveRequest};
use support::pair::{connection, ip, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);
const CONN: ConnId = ConnId(0);

/// A initiates to B by the name "b.example"; B listens for A at its address.
fn named_initiator() -> Pair {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.remote_addr = None;
    a.remote_name = Some("b.example".into());
    Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    )
}

#[test]
fn the_initiator_asks_for_the_address_and_initiates_to_the_answer() {
    let mut pair = named_initiator();
    let now = pair.now;
    pair.a.engine.start(now);
    assert_eq!(
        pair.a.engine.poll_resolve(),
        Some(ResolveRequest {
            conn: CONN,
            name: "b.example".into(),
            local: ip(A_ADDR),
        })
    );
    // Nothing goes out before the answer, and a second initiation asks nothing more.
    assert!(pair.a.engine.poll_transmit().is_none());
    assert!(matches!(
        pair.a.engine.initiate(now, CONN),
        Err(Error::Resolving(name)) if name == "b.example"
    ));
    assert_eq!(pair.a.engine.poll_resolve(), None);

    pair.a
        .engine
        .peer_resolved(now, CONN, "b.example", Ok(ip(B_ADDR)));
    assert!(pair.drive_until(LIMIT, Pair::established), "no tunnel");
    let settings = pair.a.engine.connection(CONN).expect("connection");
    assert_eq!(settings.remote_addr, Some(ip(B_ADDR)));
    assert!(pair.a.engine.sas().all(|sa| sa.remote.ip() == ip(B_ADDR)));
}

#[test]
fn a_name_that_does_not_resolve_is_retried_with_backoff_and_asked_again() {
    let mut pair = named_initiator();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.a.engine.poll_resolve().is_some());
    pair.a.engine.peer_resolved(
        now,
        CONN,
        "b.example",
        Err("Name or service not known".into()),
    );
    assert!(
        pair.a.engine.sas().next().is_none(),
        "no IKE SA without an address"
    );
    assert_eq!(
        pair.a.engine.connection(CONN).expect("conn").remote_addr,
        None
    );
    // The restart backoff (1 s, less up to a quarter) brings the question back.
    let retry = pair.a.engine.poll_timeout().expect("a retry is scheduled");
    assert!(
        retry > now && retry <= now + Duration::from_secs(1),
        "{retry:?}"
    );
    pair.a.engine.handle_timeout(retry);
    assert_eq!(
        pair.a.engine.poll_resolve().map(|r| r.name),
        Some("b.example".into())
    );
}

#[test]
fn a_listening_connection_accepts_its_named_peer_only_at_the_address_resolved_last() {
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.remote_addr = None;
    b.remote_name = Some("a.example".into());
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![b]),
    );
    let now = pair.now;
    // B learns where its peer is when it starts, without initiating.
    pair.b.engine.start(now);
    let asked = pair.b.engine.poll_resolve().expect("B asks for a.example");
    assert_eq!(asked.name, "a.example");

    // Never resolved: A's IKE_SA_INIT finds no connection at B.
    pair.a.engine.start(now);
    pair.drive_until(Duration::from_secs(2), |p| {
        p.b.events
            .iter()
            .any(|e| matches!(e, Event::Refused { .. }))
    });
    assert!(
        pair.b.engine.sas().next().is_none(),
        "B accepted an unresolved name"
    );
    assert!(
        pair.b
            .events
            .iter()
            .any(|e| matches!(e, Event::Refused { conn: None, .. })),
        "{:?}",
        pair.b.events
    );

    // Resolved to another address: still refused.
    let now = pair.now;
    pair.b
        .engine
        .peer_resolved(now, CONN, "a.example", Ok(ip("192.0.2.99")));
    assert!(
        pair.b.engine.poll_transmit().is_none(),
        "a listener does not initiate"
    );
    assert!(!pair.drive_until(Duration::from_secs(5), Pair::established));

    // Resolved to A: accepted (A's restart after its failed attempt initiates again).
    let now = pair.now;
    pair.b
        .engine
        .peer_resolved(now, CONN, "a.example", Ok(ip(A_ADDR)));
    assert!(
        pair.drive_until(LIMIT, Pair::established),
        "B did not accept A"
    );
    // It asks again after the refresh interval (five minutes), not before.
    assert_eq!(pair.b.engine.poll_resolve(), None);
    pair.drive_until(Duration::from_secs(290), |_| false);
    assert_eq!(pair.b.engine.poll_resolve(), None);
    pair.drive_until(Duration::from_secs(20), |_| false);
    assert_eq!(
        pair.b.engine.poll_resolve().map(|r| r.name),
        Some("a.example".into())
    );
}
