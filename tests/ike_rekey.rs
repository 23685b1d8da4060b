//! CREATE_CHILD_SA in memory: CHILD_SA and IKE SA rekeys, PFS, and simultaneous rekeys from
//! both ends, with the kernel's SAs checked at every step.

mod support {
    pub mod pair;
}

use std::net::IpAddr;
use std::time::Duration;

use ikehub::algorithm::DhGroup;
use ikehub::config::{EspProposal, DEFAULT_ESP_PROPOSALS};
use ikehub::ike::{ConnId, ConnectionSettings, DownReason, EngineSettings, Event, Pfs};
use ikehub::kernel::mock::{InstalledSa, SaTable};
use support::pair::{connection, ip, Pair, Which, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

fn conn(pair: &Pair) -> ConnId {
    pair.a
        .engine
        .connection_id(&format!("to-{B_ADDR}"))
        .expect("connection")
}

fn conn_b(pair: &Pair) -> ConnId {
    pair.b
        .engine
        .connection_id(&format!("to-{A_ADDR}"))
        .expect("connection")
}

/// The kernel can carry traffic both ways: an SA towards the peer and one from it.
fn can_carry_traffic(sas: &SaTable<InstalledSa>, local: IpAddr, remote: IpAddr) -> bool {
    sas.values()
        .any(|sa| sa.esp.src == local && sa.esp.dst == remote)
        && sas
            .values()
            .any(|sa| sa.esp.src == remote && sa.esp.dst == local)
}

/// Both kernels always hold an SA pair, and the SA each side sends on (the newest outbound
/// one, as the kernel picks it) is installed at the other side: no packet meets a missing SA.
fn never_without_sas(pair: &Pair) {
    assert!(
        can_carry_traffic(&pair.a.kernel.sas, ip(A_ADDR), ip(B_ADDR)),
        "A had no SA pair at {:?}",
        pair.elapsed()
    );
    assert!(
        can_carry_traffic(&pair.b.kernel.sas, ip(B_ADDR), ip(A_ADDR)),
        "B had no SA pair at {:?}",
        pair.elapsed()
    );
    for (name, from, to) in [
        ("A", &pair.a.kernel.sas, &pair.b.kernel.sas),
        ("B", &pair.b.kernel.sas, &pair.a.kernel.sas),
    ] {
        let sending = from.sending_sas();
        assert!(
            !sending.is_empty() && sending.values().all(|key| to.contains_key(key)),
            "{name} sends on {sending:x?}, which its peer does not hold, at {:?}",
            pair.elapsed()
        );
    }
}

/// Exactly one SA pair on each side, with matching keys crosswise.
fn one_matching_pair(pair: &Pair) -> bool {
    pair.a.kernel.sas.len() == 2
        && pair.b.kernel.sas.len() == 2
        && pair.a.kernel.sas.iter().all(|(k, sa)| {
            pair.b
                .kernel
                .sas
                .get(k)
                .is_some_and(|peer| peer.esp.encryption_key == sa.esp.encryption_key)
        })
}

fn settled(pair: &Pair) -> bool {
    one_matching_pair(pair)
        && pair.a.engine.sas().all(|sa| sa.children.len() == 1)
        && pair.b.engine.sas().all(|sa| sa.children.len() == 1)
        && pair.a.engine.sas().count() == 1
        && pair.b.engine.sas().count() == 1
}

fn established_pair(a_child_lifetime: Duration, b_child_lifetime: Duration) -> Pair {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.child_lifetime = a_child_lifetime;
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.child_lifetime = b_child_lifetime;
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    pair
}

#[test]
fn child_sa_is_rekeyed_before_its_lifetime_without_a_gap() {
    let mut pair = established_pair(Duration::from_secs(60), Duration::from_secs(3600));
    let first = pair.a.kernel.sas.keys().copied().collect::<Vec<_>>();
    // Two lifetimes: at least two rekeys, each make-before-break.
    let until = pair.now + Duration::from_secs(125);
    pair.drive_checked(
        Duration::from_secs(130),
        |p| p.now >= until,
        never_without_sas,
    );
    assert!(pair.drive_until(LIMIT, settled));
    let rekeys = pair
        .a
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChildUp { .. }))
        .count()
        - 1;
    assert!(rekeys >= 2, "{rekeys} rekeys in 125 s with a 60 s lifetime");
    assert!(
        first.iter().all(|k| !pair.a.kernel.sas.contains_key(k)),
        "the first SAs were replaced"
    );
    // The policies' reqid carries over to the new SAs.
    let reqids: std::collections::HashSet<u32> = pair
        .a
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ChildUp { reqid, .. } => Some(*reqid),
            _ => None,
        })
        .collect();
    assert_eq!(reqids.len(), 1, "one reqid across rekeys");
}

#[test]
fn child_rekey_with_pfs_uses_a_new_key_exchange() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.esp_proposals[0].dh = vec![DhGroup::Curve25519];
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.esp_proposals[0].dh = vec![DhGroup::Curve25519];
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let before = pair.delivered.len();
    let (now, c) = (pair.now, conn(&pair));
    pair.a.engine.rekey_children(now, c);
    pair.drive_checked(
        LIMIT,
        |p| p.delivered.len() >= before + 4 && settled(p),
        never_without_sas,
    );
    assert!(settled(&pair));
    // The CREATE_CHILD_SA request is larger than without KE by the 32-octet public value.
    let request = &pair.delivered[before].1.payload;
    assert!(
        request.len() > 150,
        "request carries a KE payload ({} octets)",
        request.len()
    );
}

#[test]
fn pfs_group_mismatch_is_resolved_with_invalid_ke_payload() {
    // B accepts its ESP proposals' group and its IKE proposals' (ecp256), not ecp384.
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.esp_proposals[0].dh = vec![DhGroup::Ecp384, DhGroup::Curve25519];
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.esp_proposals[0].dh = vec![DhGroup::Curve25519];
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let first: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
    let (now, c) = (pair.now, conn(&pair));
    pair.a.engine.rekey_children(now, c);
    assert!(pair.drive_until(LIMIT, |p| settled(p)
        && first.iter().all(|k| !p.a.kernel.sas.contains_key(k))));
}

#[test]
fn ike_sa_is_rekeyed_and_keeps_its_children() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.ike_lifetime = Duration::from_secs(60);
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let spi_before = pair.a.engine.sas().next().map(|sa| sa.spi_i);
    let children_before: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
    let rekeyed = |p: &Pair| {
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeRekeyed { .. }))
            && p.b
                .events
                .iter()
                .any(|e| matches!(e, Event::IkeRekeyed { .. }))
            && p.a.engine.sas().count() == 1
            && p.b.engine.sas().count() == 1
    };
    assert!(pair.drive_checked(LIMIT, rekeyed, never_without_sas));
    let sa = pair.a.engine.sas().next().expect("new IKE SA");
    assert_ne!(Some(sa.spi_i), spi_before);
    for engine in [&pair.a.engine, &pair.b.engine] {
        let crypto = engine.sas().next().and_then(|sa| sa.v2.crypto.as_ref());
        assert!(
            crypto.is_some_and(|c| c.auth_keys.is_none()),
            "a rekeyed IKE SA has keys and no SK_pi/SK_pr"
        );
    }
    assert_eq!(sa.children.len(), 1, "the CHILD_SA moved to the new IKE SA");
    let children_after: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
    assert_eq!(children_before.len(), children_after.len());
    assert!(
        children_before
            .iter()
            .all(|k| pair.a.kernel.sas.contains_key(k)),
        "CHILD_SAs untouched by an IKE rekey"
    );
    // The new IKE SA works: a CHILD_SA rekey (asked for by a kernel ACQUIRE, which finds
    // the child on the SA it moved to) and then a delete go through it.
    let (now, c) = (pair.now, conn(&pair));
    let reqid = sa.children[0].reqid;
    pair.a
        .engine
        .handle_kernel_event(now, ikehub::ike::KernelEvent::Acquire { reqid });
    assert!(pair.drive_until(LIMIT, |p| settled(p)
        && children_before
            .iter()
            .all(|k| !p.a.kernel.sas.contains_key(k))));
    let now = pair.now;
    pair.a.engine.terminate(now, c);
    assert!(pair.drive_until(LIMIT, |p| p.b.engine.sas().count() == 0
        && p.b.kernel.sas.is_empty()));
}

/// Both ends start a rekey of the same CHILD_SA at the same moment: the four nonces decide
/// (RFC 7296 2.8.1) and exactly one new pair survives, with traffic possible throughout.
#[test]
fn simultaneous_child_rekeys_leave_one_pair() {
    let mut outcomes = std::collections::HashSet::new();
    for seed in 0..16u64 {
        let mut a = connection(A_ADDR, B_ADDR, true);
        a.name = format!("to-{B_ADDR}");
        let mut pair = Pair::seeded(
            EngineSettings::new(vec![a]),
            EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
            seed,
        );
        let now = pair.now;
        pair.a.engine.start(now);
        assert!(pair.drive_until(LIMIT, Pair::established));
        let first: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
        let now = pair.now;
        let (ca, cb) = (conn(&pair), conn_b(&pair));
        pair.a.engine.rekey_children(now, ca);
        pair.b.engine.rekey_children(now, cb);
        let done = |p: &Pair| settled(p) && first.iter().all(|k| !p.a.kernel.sas.contains_key(k));
        assert!(
            pair.drive_checked(LIMIT, done, never_without_sas),
            "seed {seed}: A {:?}\nB {:?}",
            pair.a.kernel.sas.keys(),
            pair.b.kernel.sas.keys()
        );
        // Which side's SA survived.
        let survivor_created_by_a = pair
            .a
            .engine
            .sas()
            .next()
            .and_then(|sa| sa.children.first().map(|c| c.inbound_spi));
        let a_initiated: Vec<u32> = pair
            .a
            .events
            .iter()
            .filter_map(|e| match e {
                Event::ChildUp { inbound_spi, .. } => Some(*inbound_spi),
                _ => None,
            })
            .collect();
        assert_eq!(
            a_initiated.len(),
            3,
            "seed {seed}: both rekeys completed (a real collision)"
        );
        outcomes.insert(survivor_created_by_a == a_initiated.get(1).copied());
    }
    assert_eq!(outcomes.len(), 2, "both ends won in some of the runs");
}

#[test]
fn simultaneous_ike_rekeys_leave_one_ike_sa() {
    for seed in 0..8u64 {
        let mut pair = Pair::seeded(
            EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
            EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
            seed,
        );
        let now = pair.now;
        pair.a.engine.start(now);
        assert!(pair.drive_until(LIMIT, Pair::established));
        let now = pair.now;
        let (ca, cb) = (conn(&pair), conn_b(&pair));
        pair.a.engine.rekey_ike(now, ca);
        pair.b.engine.rekey_ike(now, cb);
        let done = |p: &Pair| {
            p.a.engine.sas().count() == 1
                && p.b.engine.sas().count() == 1
                && p.a
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::IkeRekeyed { .. }))
                && p.a.engine.sas().next().map(|s| (s.spi_i, s.spi_r))
                    == p.b.engine.sas().next().map(|s| (s.spi_i, s.spi_r))
        };
        assert!(
            pair.drive_checked(LIMIT, done, never_without_sas),
            "seed {seed}"
        );
        assert!(one_matching_pair(&pair));
        // And the surviving IKE SA still works.
        let now = pair.now;
        pair.a.engine.terminate(now, ca);
        assert!(
            pair.drive_until(LIMIT, |p| p.b.engine.sas().count() == 0),
            "seed {seed}: delete on the new IKE SA"
        );
    }
}

#[test]
fn kernel_expiry_events_rekey_or_remove_the_child() {
    let mut pair = established_pair(Duration::from_secs(3600), Duration::from_secs(3600));
    let inbound = pair
        .a
        .engine
        .sas()
        .next()
        .and_then(|sa| sa.children.first())
        .map(|c| c.inbound_spi)
        .expect("child");
    // Soft expiry: a rekey starts although our own timer is far away.
    let now = pair.now;
    pair.a.engine.handle_kernel_event(
        now,
        ikehub::ike::KernelEvent::Expire {
            dst: ip(A_ADDR),
            spi: inbound,
            hard: false,
        },
    );
    assert!(pair.drive_checked(
        LIMIT,
        |p| settled(p) && !p.a.kernel.sas.contains_key(&(ip(A_ADDR), inbound)),
        never_without_sas
    ));
    // Hard expiry: the kernel dropped the SA; the child is removed and deleted with the peer.
    let inbound = pair
        .a
        .engine
        .sas()
        .next()
        .and_then(|sa| sa.children.first())
        .map(|c| c.inbound_spi)
        .expect("child");
    let now = pair.now;
    pair.a.engine.handle_kernel_event(
        now,
        ikehub::ike::KernelEvent::Expire {
            dst: ip(A_ADDR),
            spi: inbound,
            hard: true,
        },
    );
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.is_empty()
        && p.b.kernel.sas.is_empty()));
    assert_eq!(pair.a.engine.sas().count(), 1, "the IKE SA stays");
}

#[test]
fn an_acquire_for_an_installed_child_rekeys_it() {
    let mut pair = established_pair(Duration::from_secs(3600), Duration::from_secs(3600));
    let (reqid, inbound) = pair
        .a
        .engine
        .sas()
        .next()
        .and_then(|sa| sa.children.first())
        .map(|c| (c.reqid, c.inbound_spi))
        .expect("child");
    // An ACQUIRE for a reqid nobody has changes nothing.
    let now = pair.now;
    pair.a.engine.handle_kernel_event(
        now,
        ikehub::ike::KernelEvent::Acquire {
            reqid: reqid.wrapping_add(1),
        },
    );
    let first_child = |pair: &Pair| {
        pair.a
            .engine
            .sas()
            .next()
            .and_then(|sa| sa.children.first())
            .map(|c| (c.reqid, c.inbound_spi))
    };
    assert!(!pair.drive_until(Duration::from_secs(5), |_| false));
    assert_eq!(first_child(&pair), Some((reqid, inbound)));
    // The kernel lost the child's SA (e.g. with its offload device): the child is rekeyed
    // and a new pair replaces the old one on both sides.
    let now = pair.now;
    pair.a
        .engine
        .handle_kernel_event(now, ikehub::ike::KernelEvent::Acquire { reqid });
    assert!(pair.drive_checked(
        LIMIT,
        |p| settled(p) && !p.a.kernel.sas.contains_key(&(ip(A_ADDR), inbound)),
        never_without_sas
    ));
    let child = first_child(&pair).expect("a child after the rekey");
    assert_eq!(child.0, reqid, "the rekeyed child keeps its reqid");
    assert_ne!(child.1, inbound);
    // The successor is found the same way when its SA goes in turn.
    let now = pair.now;
    pair.a
        .engine
        .handle_kernel_event(now, ikehub::ike::KernelEvent::Acquire { reqid });
    assert!(pair.drive_checked(
        LIMIT,
        |p| settled(p) && !p.a.kernel.sas.contains_key(&(ip(A_ADDR), child.1)),
        never_without_sas
    ));
    assert_eq!(first_child(&pair).map(|c| c.0), Some(reqid));
}

/// B's connection with ikehub's default ESP proposals (PFS with the IKE groups).
fn with_default_esp(mut c: ConnectionSettings) -> ConnectionSettings {
    c.esp_proposals = DEFAULT_ESP_PROPOSALS
        .iter()
        .map(|t| EspProposal::parse(t).expect("default proposal"))
        .collect();
    c
}

fn pfs_pair(a: ConnectionSettings, b: ConnectionSettings) -> Pair {
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    pair
}

/// `from` rekeys its CHILD_SA; true when both ends then hold one new pair and nothing else.
fn rekey_from(pair: &mut Pair, from: Which) -> bool {
    let first: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
    let now = pair.now;
    match from {
        Which::A => {
            let c = conn(pair);
            pair.a.engine.rekey_children(now, c);
        }
        Which::B => {
            let c = conn_b(pair);
            pair.b.engine.rekey_children(now, c);
        }
    }
    pair.drive_checked(
        Duration::from_secs(30),
        |p| settled(p) && first.iter().all(|k| !p.a.kernel.sas.contains_key(k)),
        never_without_sas,
    );
    settled(pair) && first.iter().all(|k| !pair.a.kernel.sas.contains_key(k))
}

/// The PFS group of the one CHILD_SA on each side (they must agree).
fn child_pfs_group(pair: &Pair) -> Option<DhGroup> {
    let group = |side: &support::pair::Side| {
        side.engine
            .sas()
            .flat_map(|sa| sa.children.iter().map(|c| c.suite.dh))
            .next()
            .flatten()
    };
    let (a, b) = (group(&pair.a), group(&pair.b));
    assert_eq!(a, b, "both ends agree on the child's PFS group");
    a
}

/// Refusals of CREATE_CHILD_SA requests a side reported, by their notify names.
fn child_refusals(events: &[Event]) -> Vec<String> {
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
fn a_peer_proposing_pfs_rekeys_against_the_defaults_both_ways() {
    // A proposes PFS with its IKE SA's group, as Libreswan does at its defaults.
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.esp_proposals[0].dh = vec![DhGroup::Ecp256];
    let b = with_default_esp(connection(B_ADDR, A_ADDR, false));
    let mut pair = pfs_pair(a, b);
    assert_eq!(child_pfs_group(&pair), None, "IKE_AUTH's child has no KE");
    assert!(rekey_from(&mut pair, Which::A), "A's rekey with PFS");
    assert_eq!(child_pfs_group(&pair), Some(DhGroup::Ecp256));
    assert!(rekey_from(&mut pair, Which::B), "B's rekey with PFS");
    assert_eq!(child_pfs_group(&pair), Some(DhGroup::Ecp256));
    assert!(child_refusals(&pair.a.events).is_empty());
    assert!(child_refusals(&pair.b.events).is_empty());
}

#[test]
fn a_peer_without_pfs_rekeys_against_the_defaults_both_ways() {
    // A's ESP proposals name no group, as strongSwan 5.9's defaults.
    let a = connection(A_ADDR, B_ADDR, true);
    let b = with_default_esp(connection(B_ADDR, A_ADDR, false));
    let mut pair = pfs_pair(a, b);
    assert!(rekey_from(&mut pair, Which::A), "A's rekey without KE");
    assert_eq!(child_pfs_group(&pair), None);
    // B proposes PFS with the IKE group, which A accepts for IKE.
    assert!(rekey_from(&mut pair, Which::B), "B's rekey with PFS");
    assert_eq!(child_pfs_group(&pair), Some(DhGroup::Ecp256));
    assert!(child_refusals(&pair.b.events).is_empty());
}

#[test]
fn a_rekey_refused_with_no_proposal_chosen_is_retried_without_key_exchange() {
    // A allows only its IKE group (ecp256) for PFS; B offers curve25519 alone.
    let a = connection(A_ADDR, B_ADDR, true);
    let mut b = with_default_esp(connection(B_ADDR, A_ADDR, false));
    for p in &mut b.esp_proposals {
        p.dh = vec![DhGroup::Curve25519];
    }
    let mut pair = pfs_pair(a, b);
    assert!(rekey_from(&mut pair, Which::B), "B's rekey, retried");
    assert_eq!(child_pfs_group(&pair), None);
    assert_eq!(child_refusals(&pair.a.events), ["NO_PROPOSAL_CHOSEN"]);
    // The next rekey on this IKE SA goes without KE at once: no second refusal.
    assert!(rekey_from(&mut pair, Which::B), "B's second rekey");
    assert_eq!(child_refusals(&pair.a.events), ["NO_PROPOSAL_CHOSEN"]);
}

#[test]
fn required_pfs_refuses_a_rekey_without_key_exchange() {
    let a = connection(A_ADDR, B_ADDR, true);
    let mut b = with_default_esp(connection(B_ADDR, A_ADDR, false));
    b.pfs = Pfs::Required;
    let mut pair = pfs_pair(a, b);
    let first: Vec<_> = pair.a.kernel.sas.keys().copied().collect();
    let now = pair.now;
    let c = conn(&pair);
    pair.a.engine.rekey_children(now, c);
    let refused = |p: &Pair| !child_refusals(&p.b.events).is_empty();
    pair.drive_checked(Duration::from_secs(30), refused, never_without_sas);
    assert_eq!(child_refusals(&pair.b.events), ["NO_PROPOSAL_CHOSEN"]);
    let failure = pair.b.events.iter().find_map(|e| match e {
        Event::ChildFailed {
            reason: DownReason::NegotiationFailed(f),
            ..
        } => Some(f.to_string()),
        _ => None,
    });
    assert!(
        failure
            .as_deref()
            .is_some_and(|f| f.contains("CREATE_CHILD_SA")
                && f.contains("requires PFS")
                && f.contains("ours aes128gcm16-ecp256-modp2048")
                && f.contains("offered aes128gcm16-noesn")),
        "{failure:?}"
    );
    // The old child stays on both ends.
    assert!(settled(&pair));
    assert!(first.iter().all(|k| pair.a.kernel.sas.contains_key(k)));
    // B's own rekey carries a KE, which A accepts with its IKE group.
    assert!(rekey_from(&mut pair, Which::B), "B's rekey with PFS");
    assert_eq!(child_pfs_group(&pair), Some(DhGroup::Ecp256));
}
