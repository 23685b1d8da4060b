//! Connections that keep themselves up, in memory: a CHILD_SA the peer will not rekey is
//! replaced before its hard lifetime, a connection the peer deletes is initiated again when
//! its close action says so, and a CHILD_SA the kernel ended is made anew.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::config::{EspProposal, DEFAULT_ESP_PROPOSALS};
use ikehub::ike::{CloseAction, ConnId, DownReason, EngineSettings, Event, KernelEvent, Pfs};
use support::pair::{connection, ip, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

fn conn_a(pair: &Pair) -> ConnId {
    pair.a
        .engine
        .connection_id(&format!("to-{B_ADDR}"))
        .expect("connection")
}

/// B restarts and forgets everything (a crash): a fresh engine with one connection to A,
/// initiating or listening, not started.
fn restart_b(pair: &mut Pair, initiate: bool, seed: u64) {
    pair.b = support::pair::Side::new(
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, initiate)]),
        seed,
        ip(B_ADDR),
    );
}

fn conn_b(pair: &Pair) -> ConnId {
    pair.b
        .engine
        .connection_id(&format!("to-{A_ADDR}"))
        .expect("connection")
}

/// Inbound SPIs of the installed CHILD_SAs of a side.
fn children(side: &support::pair::Side) -> Vec<u32> {
    side.engine
        .sas()
        .flat_map(|sa| sa.children.iter().map(|c| c.inbound_spi))
        .collect()
}

/// One IKE SA with one CHILD_SA on each end, and one SA pair in each kernel.
fn settled(pair: &Pair) -> bool {
    pair.a.kernel.sas.len() == 2
        && pair.b.kernel.sas.len() == 2
        && pair.a.engine.sas().count() == 1
        && pair.b.engine.sas().count() == 1
        && children(&pair.a).len() == 1
        && children(&pair.b).len() == 1
}

/// The default pair with its tunnel up: A initiated, B listened.
fn settled_pair() -> Pair {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, settled));
    pair
}

/// A tunnel up, A initiating with `close_action` and B listening.
fn settled_pair_closing(close_action: CloseAction) -> Pair {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.close_action = close_action;
    let b = connection(B_ADDR, A_ADDR, false);
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, settled));
    pair
}

/// The error notifies of the CHILD_SA failures a side reported.
fn child_failures(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildFailed {
                reason: DownReason::NegotiationFailed(f),
                ..
            } => f.notify.clone(),
            _ => None,
        })
        .collect()
}

#[test]
fn a_child_sa_whose_every_rekey_is_refused_is_replaced_before_its_hard_lifetime() {
    // A proposes no key exchange; B requires one (pfs = "required"), so it refuses each of
    // A's rekeys and A's new CHILD_SA with NO_PROPOSAL_CHOSEN. IKE_AUTH's CHILD_SA never has
    // a key exchange, so only a new IKE SA can give A a CHILD_SA. B's lifetime is long: it
    // does not rekey (its rekeys, with a key exchange, would succeed).
    let lifetime = Duration::from_secs(60);
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.child_lifetime = lifetime;
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.pfs = Pfs::Required;
    b.esp_proposals = DEFAULT_ESP_PROPOSALS
        .iter()
        .map(|t| EspProposal::parse(t).expect("default proposal"))
        .collect();
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, settled));
    let first = children(&pair.a);
    let hard_expiry = pair.now + lifetime + lifetime / 10;
    let replaced = |p: &Pair| settled(p) && children(&p.a) != first;
    assert!(
        pair.drive_until(LIMIT, replaced),
        "the CHILD_SA was replaced"
    );
    assert!(
        pair.now < hard_expiry,
        "replaced {:?} after the hard lifetime",
        pair.now - hard_expiry
    );
    // Every rekey and the new CHILD_SA were refused, each reported on both ends.
    let refused = child_failures(&pair.a.events);
    assert!(refused.len() >= 3, "{refused:?}");
    assert!(
        refused.iter().all(|n| n == "NO_PROPOSAL_CHOSEN"),
        "{refused:?}"
    );
    assert_eq!(child_failures(&pair.b.events).len(), refused.len());
    // The replacement is a new IKE SA with its CHILD_SA; the old IKE SA was deleted.
    assert_eq!(pair.a.ike_up(), 2);
    assert!(pair
        .a
        .kernel
        .sas
        .keys()
        .all(|(dst, spi)| *dst != ip(A_ADDR) || !first.contains(spi)));
}

#[test]
fn a_connection_the_peer_deletes_is_initiated_again() {
    let mut pair = settled_pair();
    // B ends the IKE SA cleanly, as a peer that stops or restarts does.
    let (now, b) = (pair.now, conn_b(&pair));
    pair.b.engine.terminate(now, b);
    let deleted_at = pair.now;
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 2 && settled(p)));
    assert!(
        pair.a.ike_down().iter().any(|e| matches!(
            e,
            Event::IkeDown {
                reason: DownReason::DeletedByPeer,
                ..
            }
        )),
        "{:?}",
        pair.a.ike_down()
    );
    // The first restart comes after a backoff of at most a second.
    assert!(pair.now - deleted_at < Duration::from_secs(5));
}

#[test]
fn close_action_none_leaves_a_deleted_connection_down() {
    let mut pair = settled_pair_closing(CloseAction::None);
    let (now, b) = (pair.now, conn_b(&pair));
    pair.b.engine.terminate(now, b);
    assert!(pair.drive_until(LIMIT, |p| p.a.engine.sas().count() == 0));
    // Nothing brings it back: a minute later there is still no SA.
    assert!(!pair.drive_until(Duration::from_secs(60), |p| p.a.engine.sas().count() > 0));
    assert_eq!(pair.a.ike_up(), 1);
}

#[test]
fn a_child_sa_ended_by_the_kernel_is_made_anew() {
    let mut pair = settled_pair();
    let first = children(&pair.a);
    let now = pair.now;
    pair.a.engine.handle_kernel_event(
        now,
        KernelEvent::Expire {
            dst: ip(A_ADDR),
            spi: first[0],
            hard: true,
        },
    );
    assert!(pair.drive_until(LIMIT, |p| settled(p) && children(&p.a) != first));
    assert_eq!(pair.a.ike_up(), 1, "on the same IKE SA");
}

#[test]
fn an_additional_child_sa_for_the_same_subnets_shares_the_reqid_on_both_ends() {
    let mut pair = settled_pair();
    let a = conn_a(&pair);
    let now = pair.now;
    assert!(pair.a.engine.create_child(now, a));
    let two = |p: &Pair| {
        children(&p.a).len() == 2
            && children(&p.b).len() == 2
            && p.a.kernel.sas.len() == 4
            && p.b.kernel.sas.len() == 4
    };
    assert!(pair.drive_until(LIMIT, two));
    // Same selectors, same kernel policies: one reqid on each end, so that deleting either
    // child leaves the policies to the other.
    for side in [&pair.a, &pair.b] {
        let reqids: std::collections::HashSet<u32> = side
            .engine
            .sas()
            .flat_map(|sa| sa.children.iter().map(|c| c.reqid))
            .collect();
        assert_eq!(reqids.len(), 1, "{reqids:?}");
    }
    // A connection without an IKE SA has nowhere to ask.
    let b = conn_b(&pair);
    let now = pair.now;
    pair.b.engine.terminate(now, b);
    assert!(pair.drive_until(LIMIT, |p| p.b.engine.sas().count() == 0));
    assert!(!pair.b.engine.create_child(pair.now, b));
}

#[test]
fn a_peer_that_started_over_with_initial_contact_replaces_its_older_ike_sa() {
    let mut pair = settled_pair();
    let old_b_sa = pair.b.engine.sas().map(|sa| sa.id).next().expect("B's SA");
    // A restarts without telling B (a crash): a fresh engine, which holds no SA with B and
    // so sends INITIAL_CONTACT.
    let a_settings = EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]);
    pair.a = support::pair::Side::new(a_settings, 99, ip(A_ADDR));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 1 && settled(p)));
    // B holds only the new SA; the old one went without a Delete, as "superseded", and the
    // kernel policies, shared by both SAs' children, stayed.
    assert!(pair.b.ike_down().iter().any(|e| matches!(
        e,
        Event::IkeDown { sa, reason: DownReason::Superseded, .. } if *sa == old_b_sa
    )));
    assert_eq!(
        pair.b.kernel.policies.len(),
        1,
        "{:?}",
        pair.b.kernel.policies
    );
    let b_reqid = pair
        .b
        .engine
        .sas()
        .flat_map(|sa| sa.children.iter().map(|c| c.reqid))
        .next();
    assert_eq!(pair.b.kernel.policies.values().next().copied(), b_reqid);
    // The restarted A's own log has no failure of it.
    assert!(pair.a.ike_down().is_empty());
}

#[test]
fn ike_sas_initiated_from_both_ends_at_once_do_not_remove_each_other() {
    // Both ends initiate at the same moment, each with INITIAL_CONTACT: neither SA is older
    // than the other's start, so both stay up.
    let a = connection(A_ADDR, B_ADDR, true);
    let b = connection(B_ADDR, A_ADDR, true);
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    pair.b.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 2 && p.b.ike_up() == 2));
    assert!(
        !pair.drive_until(Duration::from_secs(10), |p| !p.a.ike_down().is_empty()
            || !p.b.ike_down().is_empty())
    );
    assert_eq!(pair.a.engine.sas().count(), 2);
    assert_eq!(pair.b.engine.sas().count(), 2);
}

#[test]
fn close_action_trap_keeps_the_policies_and_the_next_packet_brings_the_tunnel_back() {
    let mut pair = settled_pair_closing(CloseAction::Trap);
    let conn_a = conn_a(&pair);
    assert!(!pair.a.engine.trapped(conn_a));
    // The peer deletes the tunnel: A's policies stay, now as a trap, and A does not
    // initiate by itself.
    let (now, b) = (pair.now, conn_b(&pair));
    pair.b.engine.terminate(now, b);
    assert!(pair.drive_until(LIMIT, |p| p.a.engine.sas().count() == 0
        && p.a.engine.trapped(conn_a)));
    assert!(pair.a.kernel.sas.is_empty());
    assert_eq!(pair.a.kernel.policies.len(), 1, "the policies stayed");
    // Never removed on the way: the trap went in before the CHILD_SA went out.
    assert!(pair.a.kernel.log.iter().all(|intent| !matches!(
        intent,
        ikehub::ike::KernelIntent::DeleteChild {
            remove_policies: true,
            ..
        }
    )));
    let trap_reqid = pair
        .a
        .kernel
        .policies
        .values()
        .next()
        .copied()
        .expect("reqid");
    assert!(!pair.drive_until(Duration::from_secs(30), |p| p.a.engine.sas().count() > 0));
    // A packet for the peer: the kernel's ACQUIRE for the trap brings the tunnel back.
    let now = pair.now;
    pair.a
        .engine
        .handle_kernel_event(now, KernelEvent::Acquire { reqid: trap_reqid });
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 2 && settled(p)));
    let reqids: Vec<u32> = pair
        .a
        .engine
        .sas()
        .flat_map(|sa| sa.children.iter().map(|c| c.reqid))
        .collect();
    assert_eq!(
        reqids,
        [trap_reqid],
        "the CHILD_SA takes the trap's policies"
    );
}

#[test]
fn down_stops_the_retries_of_a_failing_connection_until_up() {
    let mut pair = Pair::default_pair();
    // B cannot be reached: A's attempts fail and are retried with backoff.
    pair.cut = true;
    let now = pair.now;
    pair.a.engine.start(now);
    let a = conn_a(&pair);
    assert!(pair.drive_until(Duration::from_secs(600), |p| p.a.ike_down().len() >= 2));
    // Between attempts or during one: `down` holds it down.
    let now = pair.now;
    pair.a.engine.down(now, a);
    assert!(pair.a.engine.held_down(a));
    pair.cut = false;
    let attempts = pair.a.ike_down().len();
    // Ten minutes later nothing was tried again, though B is reachable now.
    assert!(!pair.drive_until(Duration::from_secs(600), |p| p.a.engine.sas().count() > 0));
    assert!(pair.a.ike_down().len() <= attempts + 1);
    assert_eq!(pair.b.engine.sas().count(), 0);
    // `up` releases it and initiates.
    let now = pair.now;
    pair.a.engine.up(now, a).expect("initiate");
    assert!(!pair.a.engine.held_down(a));
    assert!(pair.drive_until(LIMIT, settled));
}

#[test]
fn a_trap_held_down_ignores_traffic_until_up() {
    let mut a = connection(A_ADDR, B_ADDR, false);
    a.trap = true;
    a.close_action = CloseAction::Trap;
    let b = connection(B_ADDR, A_ADDR, false);
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    let conn_a = conn_a(&pair);
    assert!(pair.drive_until(LIMIT, |p| p.a.engine.trapped(conn_a)));
    let reqid = pair
        .a
        .kernel
        .policies
        .values()
        .next()
        .copied()
        .expect("trap");
    let now = pair.now;
    pair.a.engine.down(now, conn_a);
    pair.a
        .engine
        .handle_kernel_event(now, KernelEvent::Acquire { reqid });
    assert!(!pair.drive_until(Duration::from_secs(30), |p| p.a.engine.sas().count() > 0));
    assert_eq!(
        pair.a.kernel.policies.len(),
        1,
        "the trap stays: nothing leaves in the clear"
    );
    let now = pair.now;
    pair.a.engine.up(now, conn_a).expect("initiate");
    assert!(pair.drive_until(LIMIT, settled));
}

#[test]
fn a_request_for_a_forgotten_ike_sa_is_answered_with_invalid_ike_spi_within_a_rate() {
    use ikehub::wire::ikev2::{parse_message, ExchangeType, NotifyType, Payload};
    use support::pair::Which;
    let mut pair = settled_pair();
    // B restarts and forgets everything; A rekeys its CHILD_SA on the old IKE SA. B's
    // connection initiates but is not started: it does not answer A's request with an IKE
    // SA of its own (a listening one would, see the next test).
    restart_b(&mut pair, true, 7);
    let sent_before = pair.delivered.len();
    let a = conn_a(&pair);
    let now = pair.now;
    pair.a.engine.rekey_children(now, a);
    let answered = |p: &Pair| p.b.engine.stats().invalid_spi_sent == 1;
    assert!(pair.drive_until(Duration::from_secs(10), answered));
    assert!(pair.drive_until(Duration::from_secs(1), |p| p
        .delivered
        .iter()
        .skip(sent_before)
        .any(|(to, _)| *to == Which::A)));
    let (request, answer) = {
        let mut to_b = pair.delivered[sent_before..]
            .iter()
            .filter(|(to, _)| *to == Which::B);
        let mut to_a = pair.delivered[sent_before..]
            .iter()
            .filter(|(to, _)| *to == Which::A);
        (
            to_b.next().expect("A's request").1.clone(),
            to_a.next().expect("B's answer").1.clone(),
        )
    };
    let asked = parse_message(&request.payload).expect("request");
    let told = parse_message(&answer.payload).expect("answer");
    // Unprotected, a response to that very request: same SPIs and message ID.
    assert_eq!(told.header.exchange, ExchangeType::CreateChildSa);
    assert!(told.header.flags.response);
    assert_eq!(
        (told.header.spi_i, told.header.spi_r, told.header.message_id),
        (
            asked.header.spi_i,
            asked.header.spi_r,
            asked.header.message_id
        )
    );
    assert!(matches!(
        told.payloads.as_slice(),
        [Payload::Notify(n)] if n.notify_type == NotifyType::InvalidIkeSpi
    ));
    // A cannot be made to change anything by it (it is not protected).
    assert_eq!(pair.a.engine.sas().count(), 1);
    // A flood of such requests gets at most 20 answers a second.
    let now = pair.now;
    for _ in 0..100 {
        pair.b
            .engine
            .handle_datagram(now, request.remote, request.local, &request.payload);
    }
    assert_eq!(pair.b.engine.stats().invalid_spi_sent, 20);
    assert!(pair.b.engine.stats().dropped_unknown_sa >= 101);
}

#[test]
fn a_listening_connection_whose_peer_uses_a_forgotten_ike_sa_initiates_with_initial_contact() {
    let mut pair = settled_pair();
    let old_a_sa = pair.a.engine.sas().map(|sa| sa.id).next().expect("A's SA");
    // B, which only listens, restarts and forgets everything. A, which does not know,
    // rekeys its CHILD_SA on the old IKE SA; B answers INVALID_IKE_SPI, which A may not act
    // on (it is unprotected), and initiates the connection itself, with INITIAL_CONTACT.
    restart_b(&mut pair, false, 11);
    let a = conn_a(&pair);
    let now = pair.now;
    pair.a.engine.rekey_children(now, a);
    assert!(pair.drive_until(LIMIT, |p| p.b.ike_up() == 1 && settled(p)));
    let b_sa = pair.b.engine.sas().next().expect("B's SA");
    assert!(b_sa.initiator, "B initiated the new IKE SA");
    // A replaced its stale SA without waiting for its liveness check.
    assert!(pair.a.ike_down().iter().any(|e| matches!(
        e,
        Event::IkeDown { sa, reason: DownReason::Superseded, .. } if *sa == old_a_sa
    )));
    assert_eq!(pair.b.engine.stats().invalid_spi_sent, 1);
}

#[test]
fn a_listening_connection_held_down_does_not_initiate_for_a_forgotten_ike_sa() {
    let mut pair = settled_pair();
    restart_b(&mut pair, false, 12);
    let b = conn_b(&pair);
    let now = pair.now;
    pair.b.engine.down(now, b);
    let a = conn_a(&pair);
    pair.a.engine.rekey_children(now, a);
    assert!(pair.drive_until(Duration::from_secs(10), |p| p
        .b
        .engine
        .stats()
        .invalid_spi_sent
        == 1));
    // Whatever else happens in the next seconds (A retransmits its rekey), B starts nothing.
    pair.drive_checked(
        Duration::from_secs(5),
        |_| false,
        |p| assert_eq!(p.b.engine.sas().count(), 0, "B initiated while held down"),
    );
}

#[test]
fn a_late_request_on_an_ike_sa_we_deleted_starts_nothing() {
    use support::pair::Which;
    let mut pair = settled_pair_closing(CloseAction::None);
    // A request of A's on the IKE SA (a CHILD_SA rekey), as it went to B.
    let sent_before = pair.delivered.len();
    let now = pair.now;
    let conn = conn_a(&pair);
    pair.a.engine.rekey_children(now, conn);
    let first_child = children(&pair.a);
    assert!(pair.drive_until(LIMIT, |p| settled(p) && children(&p.a) != first_child));
    let late = pair.delivered[sent_before..]
        .iter()
        .find(|(to, _)| *to == Which::B)
        .map(|(_, t)| t.clone())
        .expect("A's request");
    // B, which only listens, deletes the IKE SA; A, with close_action none, stays down.
    let (now, b) = (pair.now, conn_b(&pair));
    pair.b.engine.terminate(now, b);
    assert!(pair.drive_until(LIMIT, |p| p.a.engine.sas().count() == 0
        && p.b.engine.sas().count() == 0));
    // The request arrives again, late: B answers INVALID_IKE_SPI but, having deleted that
    // SA itself, does not take it for a peer left with a stale SA.
    pair.inject(Which::B, late.remote, late.local, late.payload.clone());
    assert_eq!(pair.b.engine.stats().invalid_spi_sent, 1);
    pair.drive_checked(
        Duration::from_secs(40),
        |_| false,
        |p| {
            assert_eq!(
                p.b.engine.sas().count(),
                0,
                "B initiated for its own deleted SA"
            )
        },
    );
}
