//! The engine tells its driver which IKE SA a message or a deadline belongs to, so the
//! driver can log that work under the connection's name and the SA's SPIs: every message of
//! an established pair, both ways (IKEv2 and IKEv1), every deadline of an SA, and the kernel's
//! results and events about its CHILD_SAs.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::{
    ConnectionSettings, Direction, EngineSettings, IkeSa, IkeVersion, KernelEvent, KernelIntent,
};
use support::pair::{connection, ip, v1_connection, Pair, Which, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

fn spis(sa: &IkeSa) -> (u64, u64) {
    (sa.spi_i, sa.spi_r)
}

/// A connection of the version.
fn connection_of(
    version: IkeVersion,
    local: &str,
    remote: &str,
    initiate: bool,
) -> ConnectionSettings {
    match version {
        IkeVersion::V1 => v1_connection(local, remote, initiate),
        IkeVersion::V2 => connection(local, remote, initiate),
    }
}

/// An established pair of the version; A initiated.
fn established(version: IkeVersion) -> Pair {
    let a = connection_of(version, A_ADDR, B_ADDR, true);
    let b = connection_of(version, B_ADDR, A_ADDR, false);
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    pair.a.engine.start(pair.now);
    pair.b.engine.start(pair.now);
    assert!(
        pair.drive_until(LIMIT, Pair::established),
        "{version:?}: not established"
    );
    pair
}

/// Every message after the first, sent and received, belongs to the one IKE SA of each end,
/// and both ends' SAs have the same SPIs.
fn messages_belong_to_their_sa(pair: &Pair) {
    let a_sa = spis(pair.a.engine.sas().next().expect("A's SA"));
    let b_sa = spis(pair.b.engine.sas().next().expect("B's SA"));
    assert_eq!(a_sa, b_sa);
    // The first message is a new SA's request: found by the responder only while its SA is
    // half-open (IKEv2), and after that by no one.
    assert!(pair.delivered.len() >= 4, "{}", pair.delivered.len());
    for (to, transmit) in pair.delivered.iter().skip(1) {
        let (sender, receiver) = match to {
            Which::A => (&pair.b, &pair.a),
            Which::B => (&pair.a, &pair.b),
        };
        let sent = sender
            .engine
            .sa_of_message(transmit.remote, &transmit.payload, Direction::Sent)
            .expect("the sender's SA");
        let received = receiver
            .engine
            .sa_of_message(transmit.local, &transmit.payload, Direction::Received)
            .expect("the receiver's SA");
        assert_eq!(spis(sent), a_sa);
        assert_eq!(spis(received), a_sa);
    }
}

#[test]
fn messages_are_found_to_belong_to_their_ike_sa() {
    for version in [IkeVersion::V2, IkeVersion::V1] {
        let pair = established(version);
        messages_belong_to_their_sa(&pair);
        // A message of no SA, and bytes that are no IKE message, belong to none.
        let (_, first) = pair.delivered.first().expect("delivered");
        let mut unknown = first.payload.clone();
        for byte in unknown.iter_mut().take(16) {
            *byte ^= 0x5a;
        }
        for bytes in [
            &unknown[..],
            b"",
            b"not an IKE message at all, but long enough",
        ] {
            for direction in [Direction::Sent, Direction::Received] {
                assert!(pair
                    .a
                    .engine
                    .sa_of_message(first.remote, bytes, direction)
                    .is_none());
            }
        }
    }
}

#[test]
fn each_deadline_is_handled_inside_its_sas_scope() {
    let mut pair = established(IkeVersion::V2);
    let a_sa = spis(pair.a.engine.sas().next().expect("A's SA"));
    let name = pair
        .a
        .engine
        .connection_ids()
        .next()
        .and_then(|id| pair.a.engine.connection(id))
        .map(|c| c.name.clone())
        .expect("A's connection");
    // Until a deadline of the SA (liveness, rekey) fires, with nothing answering: A alone.
    let mut scopes = Vec::new();
    for _ in 0..16 {
        let Some(at) = pair.a.engine.poll_timeout() else {
            break;
        };
        pair.a.engine.handle_timeout_in(at, |connection, sa| {
            scopes.push((connection.name.clone(), sa.map(spis)));
        });
        if !scopes.is_empty() {
            break;
        }
    }
    assert!(!scopes.is_empty(), "no deadline fired");
    for (connection, sa) in scopes {
        assert_eq!(connection, name);
        assert_eq!(sa, Some(a_sa));
    }
}

#[test]
fn kernel_intents_and_events_belong_to_the_sa_of_their_child_sa() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    // IKE_SA_INIT both ways, then IKE_AUTH's request: B installs the CHILD_SA.
    for to in [Which::B, Which::A, Which::B] {
        let (from, into) = match to {
            Which::A => (&mut pair.b, &mut pair.a),
            Which::B => (&mut pair.a, &mut pair.b),
        };
        let transmit = from.engine.poll_transmit().expect("a message");
        into.engine
            .handle_datagram(now, transmit.remote, transmit.local, &transmit.payload);
    }
    let b = &mut pair.b.engine;
    let sa = spis(b.sas().next().expect("B's SA"));
    let intents: Vec<KernelIntent> = std::iter::from_fn(|| b.poll_kernel()).collect();
    let install = intents
        .iter()
        .find(|i| matches!(i, KernelIntent::InstallChild { .. }))
        .map(KernelIntent::id)
        .expect("the CHILD_SA's install");
    assert_eq!(b.sa_of_intent(install).map(spis), Some(sa));
    for intent in &intents {
        b.handle_kernel_result(now, intent.id(), Ok(()));
    }
    // Handed in: no longer pending.
    assert!(b.sa_of_intent(install).is_none());

    let child = b
        .sas()
        .next()
        .and_then(|sa| sa.children.first())
        .map(|c| (c.inbound_spi, c.reqid))
        .expect("B's CHILD_SA");
    let dst = ip(B_ADDR);
    let expire = |spi| KernelEvent::Expire {
        dst,
        spi,
        hard: false,
    };
    assert_eq!(b.sa_of_kernel_event(&expire(child.0)).map(spis), Some(sa));
    assert_eq!(
        b.sa_of_kernel_event(&KernelEvent::Acquire { reqid: child.1 })
            .map(spis),
        Some(sa)
    );
    assert!(b.sa_of_kernel_event(&expire(child.0 ^ 1)).is_none());
    assert!(b
        .sa_of_kernel_event(&KernelEvent::Acquire { reqid: child.1 ^ 1 })
        .is_none());
}
