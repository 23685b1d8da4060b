//! IKEv1 between two engines in memory: Main Mode and Aggressive Mode with pre-shared keys,
//! Quick Mode with and without PFS, IPsec SA rekeys and ISAKMP re-authentication, dead peer
//! detection, deletes, NAT traversal, loss, and what a peer that gets things wrong sees.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::algorithm::DhGroup;
use ikehub::ike::{
    ChildState, ConnId, ConnectionSettings, DownReason, EngineSettings, Event, SaState,
};
use support::pair::{ip, v1_connection, Pair, Which, A_ADDR, B_ADDR};

fn v1(local: &str, remote: &str, initiate: bool) -> ConnectionSettings {
    v1_connection(local, remote, initiate)
}

fn pair_of(a: ConnectionSettings, b: ConnectionSettings) -> Pair {
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    pair.a.engine.start(pair.now);
    pair.b.engine.start(pair.now);
    pair
}

fn default_pair() -> Pair {
    pair_of(v1(A_ADDR, B_ADDR, true), v1(B_ADDR, A_ADDR, false))
}

/// Every SA in one kernel is in the other with the same keys, and each side holds `sas`.
fn kernels_agree(pair: &Pair, sas: usize) -> bool {
    let (a, b) = (&pair.a.kernel.sas, &pair.b.kernel.sas);
    a.len() == sas
        && b.len() == sas
        && a.iter()
            .all(|(key, sa)| b.get(key).is_some_and(|other| other.esp == sa.esp))
}

fn ike_down_reasons(pair: &Pair, which: Which) -> Vec<DownReason> {
    let side = match which {
        Which::A => &pair.a,
        Which::B => &pair.b,
    };
    side.events
        .iter()
        .filter_map(|e| match e {
            Event::IkeDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn main_mode_and_quick_mode_install_matching_sas() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    assert_eq!((pair.a.ike_up(), pair.b.ike_up()), (1, 1));
    let sa = pair.a.engine.sas().next().expect("an ISAKMP SA");
    assert_eq!(sa.version(), 1);
    assert_eq!(sa.exchange_mode(), Some("Main Mode"));
    assert_eq!(sa.algorithms().as_deref(), Some("aes128-sha256-ecp256"));
    assert_eq!(sa.children.len(), 1);
    assert_eq!(sa.children[0].suite.dh, None, "no PFS asked for");
    let b = pair.b.engine.sas().next().expect("the responder's SA");
    assert_eq!(
        b.remote_id.as_ref().map(ToString::to_string).as_deref(),
        Some(A_ADDR)
    );
    // Six Main Mode messages and three of Quick Mode, nothing resent.
    assert_eq!(pair.delivered.len(), 9, "{:?}", pair.delivered.len());
}

#[test]
fn quick_mode_with_pfs_for_two_subnet_pairs() {
    let with_pfs = |mut c: ConnectionSettings| {
        c.esp_proposals[0].dh = vec![DhGroup::Modp2048];
        c.local_subnets.push(if c.initiate {
            "10.11.0.0/16".parse().expect("net")
        } else {
            "10.22.0.0/16".parse().expect("net")
        });
        c.remote_subnets.push(if c.initiate {
            "10.22.0.0/16".parse().expect("net")
        } else {
            "10.11.0.0/16".parse().expect("net")
        });
        c
    };
    let mut pair = pair_of(
        with_pfs(v1(A_ADDR, B_ADDR, true)),
        with_pfs(v1(B_ADDR, A_ADDR, false)),
    );
    // Two local and two remote subnets: four Quick Modes, one selector pair each.
    assert!(pair.drive_until(Duration::from_secs(20), |p| kernels_agree(p, 8)));
    let sa = pair.a.engine.sas().next().expect("SA");
    assert_eq!(sa.children.len(), 4);
    assert!(sa
        .children
        .iter()
        .all(|c| c.suite.dh == Some(DhGroup::Modp2048)));
    let mut pairs: Vec<String> = sa
        .children
        .iter()
        .map(|c| format!("{}>{}", c.local_ts[0], c.remote_ts[0]))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            "10.1.0.0/16>10.2.0.0/16",
            "10.1.0.0/16>10.22.0.0/16",
            "10.11.0.0/16>10.2.0.0/16",
            "10.11.0.0/16>10.22.0.0/16",
        ]
    );
}

#[test]
fn aggressive_mode_with_its_identity_in_the_clear() {
    let aggressive = |mut c: ConnectionSettings| {
        c.aggressive = true;
        c
    };
    let mut pair = pair_of(
        aggressive(v1(A_ADDR, B_ADDR, true)),
        aggressive(v1(B_ADDR, A_ADDR, false)),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let sa = pair.b.engine.sas().next().expect("SA");
    assert_eq!(sa.exchange_mode(), Some("Aggressive Mode"));
    // Three phase 1 messages and three of Quick Mode.
    assert_eq!(pair.delivered.len(), 6);
}

#[test]
fn a_main_mode_peer_is_not_answered_in_aggressive_mode() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.aggressive = false;
    let mut a = v1(A_ADDR, B_ADDR, true);
    a.aggressive = true;
    let mut pair = pair_of(a, b);
    pair.drive_until(Duration::from_secs(10), |p| p.a.ike_up() > 0);
    assert_eq!(pair.b.engine.sas().count(), 0, "no state on the responder");
    let refused = pair.b.events.iter().any(|e| {
        matches!(e, Event::Refused { failure, .. }
            if failure.to_string().contains("INVALID_ID_INFORMATION"))
    });
    assert!(refused, "{:?}", pair.b.events);
}

#[test]
fn a_wrong_pre_shared_key_fails_on_both_ends_by_name() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.psk = ikehub::ike::PreSharedKey(zeroize::Zeroizing::new(b"another key".to_vec()));
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.drive_until(Duration::from_secs(30), |p| {
        !ike_down_reasons(p, Which::B).is_empty()
    });
    let reasons = ike_down_reasons(&pair, Which::B);
    let text = reasons.first().map(ToString::to_string).unwrap_or_default();
    assert!(
        text.contains("AUTHENTICATION_FAILED") && text.contains("pre-shared key"),
        "{text}"
    );
    assert!(pair.a.kernel.sas.is_empty() && pair.b.kernel.sas.is_empty());
}

#[test]
fn no_common_proposal_is_refused_with_no_proposal_chosen() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.ike_proposals[0].dh = vec![DhGroup::Modp2048];
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.drive_until(Duration::from_secs(10), |p| {
        !ike_down_reasons(p, Which::A).is_empty()
    });
    let refused = pair.b.events.iter().find_map(|e| match e {
        Event::Refused { failure, .. } => Some(failure.to_string()),
        _ => None,
    });
    let refused = refused.expect("the responder reports its refusal");
    assert!(
        refused.starts_with(&format!(
            "Main Mode (message ID 0, peer {A_ADDR}:500): refused with NO_PROPOSAL_CHOSEN"
        )),
        "{refused}"
    );
    let initiator = ike_down_reasons(&pair, Which::A)
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    // The refused end names the exchange, its message and peer, and what it offered.
    assert_eq!(
        initiator,
        format!(
            "negotiation failed: Main Mode (message ID 0, peer {B_ADDR}:500): the peer refused \
             with NO_PROPOSAL_CHOSEN: we offered aes128-sha256-ecp256"
        )
    );
    assert_eq!(pair.b.engine.sas().count(), 0);
}

#[test]
fn selectors_outside_the_connection_are_refused_with_invalid_id_information() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.remote_subnets = vec!["10.99.0.0/16".parse().expect("net")];
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.drive_until(Duration::from_secs(10), |p| {
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::ChildFailed { .. }))
    });
    let failed = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::ChildFailed { reason, .. } => Some(reason.to_string()),
            _ => None,
        })
    };
    let b_text = failed(&pair.b.events).expect("the responder reports it");
    assert!(
        b_text.contains("INVALID_ID_INFORMATION") && b_text.contains("10.99.0.0/16"),
        "{b_text}"
    );
    // Quick Mode's message ID is random: the text names it.
    assert!(
        b_text.starts_with("negotiation failed: Quick Mode (message ID ")
            && b_text.contains(&format!(
                ", peer {A_ADDR}:500): refused with INVALID_ID_INFORMATION"
            )),
        "{b_text}"
    );
    let a_text = failed(&pair.a.events).expect("the initiator reports it");
    // The same message ID on both ends: the one of the refused Quick Mode.
    let message_id = b_text
        .split("message ID ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("B names the message ID");
    assert_eq!(
        a_text,
        format!(
            "negotiation failed: Quick Mode (message ID {message_id}, peer {B_ADDR}:500): the \
             peer refused with INVALID_ID_INFORMATION: for 10.1.0.0/16 (ours) <=> 10.2.0.0/16 \
             (theirs)"
        )
    );
    assert!(pair.a.kernel.sas.is_empty() && pair.b.kernel.sas.is_empty());
}

#[test]
fn ipsec_sas_are_replaced_before_they_expire_and_the_old_ones_deleted() {
    let short = |mut c: ConnectionSettings| {
        c.child_lifetime = Duration::from_secs(60);
        c
    };
    let mut pair = pair_of(
        short(v1(A_ADDR, B_ADDR, true)),
        short(v1(B_ADDR, A_ADDR, false)),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let first: Vec<u32> = pair
        .a
        .engine
        .sas()
        .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
        .collect();
    // Over five lifetimes, the pair is replaced again and again; at every moment each side
    // has a pair installed in both directions.
    pair.drive_checked(
        Duration::from_secs(300),
        |_| false,
        |p| {
            let a = &p.a.kernel.sas;
            assert!(a.is_empty() || a.len() >= 2);
        },
    );
    assert!(
        kernels_agree(&pair, 2),
        "one pair left on each side, keys agree"
    );
    let now: Vec<u32> = pair
        .a
        .engine
        .sas()
        .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
        .collect();
    assert_ne!(first, now, "replaced");
    let rekeys = pair.a.child_up() + pair.b.child_up();
    assert!(rekeys >= 8, "{rekeys} installs");
    assert_eq!(pair.a.engine.sas().count(), 1, "one ISAKMP SA");
}

/// The Quick Mode responder installs the new pair's outbound SA only when HASH(3) arrives
/// and sends on the old one until then; strongSwan handles the messages of one ISAKMP SA on several threads,
/// so a Delete sent right behind HASH(3) can be handled first, the old CHILD_SA taking the
/// policies with it. The initiator keeps the old pair a moment, on both ends, then deletes it.
#[test]
fn a_replaced_pair_stays_a_moment_on_both_ends() {
    let short = |mut c: ConnectionSettings| {
        c.child_lifetime = Duration::from_secs(60);
        c
    };
    let mut pair = pair_of(
        short(v1(A_ADDR, B_ADDR, true)),
        short(v1(B_ADDR, A_ADDR, false)),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let both = std::cell::Cell::new(None);
    let one = std::cell::Cell::new(None);
    pair.drive_checked(
        Duration::from_secs(120),
        |_| one.get().is_some(),
        |p| {
            let least = p.a.kernel.sas.len().min(p.b.kernel.sas.len());
            // The initiator's new outbound SA waits for the old pair to go: three states.
            if both.get().is_none() && least >= 3 {
                both.set(Some(p.now));
            }
            if both.get().is_some() && kernels_agree(p, 2) {
                one.set(Some(p.now));
            }
        },
    );
    let (both, one) = (
        both.get().expect("a rekey"),
        one.get().expect("the old pair deleted"),
    );
    assert!(
        one - both >= Duration::from_secs(1) && one - both <= Duration::from_secs(2),
        "the old pair stayed {:?} on the peer",
        one - both
    );
}

/// strongSwan, as Quick Mode initiator, sends on a new pair as soon as HASH(2) verifies, before
/// HASH(3) reaches us: the responder installs the inbound SA of a replacement with its
/// answer. A stands in for such a peer and replaces the pair five times: whenever A's engine
/// holds a pair (from HASH(2) on), B's kernel must hold the SA A would send on.
#[test]
fn the_responder_can_receive_on_a_replacement_before_hash_3_arrives() {
    let mut pair = default_pair();
    // HASH(3) arrives measurably after HASH(2) left.
    pair.latency = Duration::from_millis(20);
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let first = inbound_spis(&pair, Which::B);
    let b_holds_what_a_sends_on = |p: &Pair| {
        for child in p.a.engine.sas().flat_map(|s| s.children.iter()) {
            let key = (ip(B_ADDR), child.outbound_spi);
            assert!(
                child.state != ChildState::Installed || p.b.kernel.sas.contains_key(&key),
                "A holds a pair sending on {:08x}, which B's kernel does not hold, at {:?}",
                child.outbound_spi,
                p.elapsed()
            );
        }
    };
    for round in 0..5 {
        let now = pair.now;
        let conn = pair.a.engine.connection_ids().next().expect("conn");
        pair.a.engine.rekey_children(now, conn);
        pair.drive_checked(Duration::from_secs(5), |_| false, b_holds_what_a_sends_on);
        assert!(
            kernels_agree(&pair, 2),
            "round {round}: one pair left on each side"
        );
    }
    assert_eq!(
        pair.b.child_up(),
        6,
        "B installed the first pair and five replacements"
    );
    assert_ne!(first, inbound_spis(&pair, Which::B), "replaced");
}

/// A replacement whose HASH(3) never comes: the inbound SA installed with the answer goes
/// when the responder gives up, and the pair it was to replace stays.
#[test]
fn a_replacement_without_hash_3_is_taken_out_again() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let old: std::collections::HashSet<_> = pair.b.kernel.sas.keys().copied().collect();
    let now = pair.now;
    let conn = pair.a.engine.connection_ids().next().expect("conn");
    pair.a.engine.rekey_children(now, conn);
    // B answered (its new inbound SA is in): from now on nothing reaches B, HASH(3) included.
    assert!(pair.drive_until(Duration::from_secs(5), |p| p.b.kernel.sas.len() == 3));
    pair.cut = true;
    assert!(
        pair.drive_until(Duration::from_secs(300), |p| p.b.kernel.sas.len() == 2),
        "B took the unconfirmed inbound SA out"
    );
    let now: std::collections::HashSet<_> = pair.b.kernel.sas.keys().copied().collect();
    assert_eq!(old, now, "B kept the pair it was to replace");
    assert_eq!(inbound_spis(&pair, Which::B).len(), 1);
}

/// A re-authentication while a Quick Mode is in flight: A replaces the pair just as its new
/// ISAKMP SA comes up, so the Quick Mode finishes on the old ISAKMP SA after A moved its pairs
/// to the new one. The new pair joins them there (else it would go with the old ISAKMP SA),
/// and A deletes the old pair over the new ISAKMP SA while B still holds it on the old one:
/// IPsec SAs are independent of the ISAKMP SA that made them (strongSwan, re-authenticating,
/// deletes old pairs over its new ISAKMP SA the same way). The old pair goes when the Delete
/// arrives, and the new one stays after the old ISAKMP SA went.
#[test]
fn a_rekey_across_a_reauthentication_leaves_one_pair() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let conn = pair.a.engine.connection_ids().next().expect("conn");
    // A re-authenticates: its pairs move to its new ISAKMP SA once it is up; B keeps them on
    // the old one until A deletes that (5 s later).
    let now = pair.now;
    pair.a.engine.rekey_ike(now, conn);
    let b_has_both = |p: &Pair| {
        p.b.engine
            .sas()
            .filter(|s| s.state == SaState::Established)
            .count()
            == 2
    };
    assert!(pair.drive_until(Duration::from_secs(1), b_has_both));
    let old_pair = inbound_spis(&pair, Which::B);
    // B has answered the last Main Mode message; A has not had it yet: the Quick Mode goes
    // over A's old ISAKMP SA.
    let now = pair.now;
    pair.a.engine.rekey_children(now, conn);
    assert!(
        pair.drive_until(Duration::from_secs(3), |p| {
            let spis = inbound_spis(p, Which::B);
            kernels_agree(p, 2) && spis.len() == 1 && spis != old_pair
        }),
        "B holds {:x?}, its kernel {} SAs",
        inbound_spis(&pair, Which::B),
        pair.b.kernel.sas.len()
    );
    assert_eq!(
        pair.b.engine.sas().count(),
        2,
        "before the old ISAKMP SA went"
    );
    let new_pair = inbound_spis(&pair, Which::B);
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.a.engine.sas().count() == 1 && p.b.engine.sas().count() == 1
    }));
    assert!(kernels_agree(&pair, 2), "the new pair stayed");
    assert_eq!(new_pair, inbound_spis(&pair, Which::B));
}

/// RFC 2407 4.5: the lifetime in the initiator's proposal binds both ends. A responder with
/// a longer lifetime of its own gives its kernel SAs the agreed one (plus the usual tenth),
/// so a pair the peer stopped using does not outlive the peer's by an hour.
#[test]
fn the_kernel_sas_end_at_the_agreed_lifetime() {
    let lifetime = |mut c: ConnectionSettings, s: u64| {
        c.child_lifetime = Duration::from_secs(s);
        c
    };
    let mut pair = pair_of(
        lifetime(v1(A_ADDR, B_ADDR, true), 600),
        lifetime(v1(B_ADDR, A_ADDR, false), 3600),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let hard = |kernel: &support::pair::Kernel| {
        kernel.log.iter().find_map(|i| match i {
            ikehub::ike::KernelIntent::InstallChild { child, .. } => Some(child.hard_lifetime),
            _ => None,
        })
    };
    assert_eq!(hard(&pair.a.kernel), Some(Duration::from_secs(660)));
    assert_eq!(
        hard(&pair.b.kernel),
        Some(Duration::from_secs(660)),
        "B's own is 3960 s"
    );
}

#[test]
fn the_isakmp_sa_is_reauthenticated_and_the_ipsec_sas_move_over() {
    let short = |mut c: ConnectionSettings| {
        c.ike_lifetime = Duration::from_secs(120);
        c
    };
    let mut pair = pair_of(
        short(v1(A_ADDR, B_ADDR, true)),
        short(v1(B_ADDR, A_ADDR, false)),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let spis: Vec<u32> = pair
        .a
        .engine
        .sas()
        .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
        .collect();
    pair.drive_checked(
        Duration::from_secs(400),
        |_| false,
        |p| assert_eq!(p.a.kernel.sas.len(), 2, "the IPsec SAs never go"),
    );
    assert!(pair.a.ike_up() >= 3, "{} phase 1s", pair.a.ike_up());
    assert_eq!(pair.a.engine.sas().count(), 1, "old ISAKMP SAs deleted");
    assert_eq!(pair.b.engine.sas().count(), 1, "and gone on the peer");
    let after: Vec<u32> = pair
        .a
        .engine
        .sas()
        .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
        .collect();
    assert_eq!(spis, after, "the same IPsec SAs");
    assert!(kernels_agree(&pair, 2));
}

/// strongSwan moves the IPsec SAs to a new ISAKMP SA in a job it queues once phase 1
/// completes: a Delete of the old ISAKMP SA handled before that job runs takes the IPsec SAs
/// down with it. The replaced ISAKMP SA therefore lives on for a few seconds on both ends,
/// the IPsec SAs already on the new one, and is deleted after that.
#[test]
fn a_replaced_isakmp_sa_is_deleted_only_after_a_grace_period() {
    let short = |mut c: ConnectionSettings| {
        c.ike_lifetime = Duration::from_secs(120);
        c
    };
    // A re-authenticates (B's lifetime is the longer one).
    let mut pair = pair_of(short(v1(A_ADDR, B_ADDR, true)), v1(B_ADDR, A_ADDR, false));
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let established = |p: &Pair| {
        p.a.engine
            .sas()
            .filter(|s| s.state == SaState::Established)
            .count()
    };
    assert!(pair.drive_until(Duration::from_secs(200), |p| established(p) == 2));
    let up = pair.now;
    let children = |p: &Pair| {
        p.a.engine
            .sas()
            .map(|s| s.children.len())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        children(&pair),
        vec![0, 1],
        "the IPsec SAs moved to the new ISAKMP SA"
    );
    assert_eq!(
        pair.b.engine.sas().count(),
        2,
        "the peer keeps its old ISAKMP SA too"
    );
    let gone_at = std::cell::Cell::new(None);
    pair.drive_checked(
        Duration::from_secs(20),
        |_| gone_at.get().is_some(),
        |p| {
            assert!(kernels_agree(p, 2), "the IPsec SAs stay");
            if p.a.engine.sas().count() == 1 && p.b.engine.sas().count() == 1 {
                gone_at.set(Some(p.now));
            }
        },
    );
    let after = gone_at
        .get()
        .expect("the old ISAKMP SA deleted on both ends")
        - up;
    assert!(
        after >= Duration::from_secs(4) && after <= Duration::from_secs(6),
        "deleted {after:?} after the new one was up"
    );
    assert_eq!(children(&pair), vec![1]);
}

#[test]
fn phase_1s_the_peer_starts_one_after_another_do_not_replace_each_other() {
    // One peer, one identity, one connection per subnet pair on its side (strongSwan's
    // `unique = no`), without INITIAL_CONTACT: each tunnel its own ISAKMP SA, started after
    // the one before is up. The responder must keep them all rather than take each for a
    // re-authentication of the one before it.
    let tunnel = |n: u8| {
        let mut c = v1(A_ADDR, B_ADDR, n == 0);
        c.name = format!("t{n}");
        c.local_subnets = vec![format!("10.1.{n}.0/24").parse().expect("net")];
        c
    };
    let mut initiator = EngineSettings::new((0..3).map(tunnel).collect());
    initiator.initial_contact = false;
    let mut pair = Pair::new(
        initiator,
        EngineSettings::new(vec![v1(B_ADDR, A_ADDR, false)]),
    );
    pair.a.engine.start(pair.now);
    pair.b.engine.start(pair.now);
    for n in 0..3u32 {
        if n > 0 {
            let now = pair.now;
            pair.a.engine.initiate(now, ConnId(n)).expect("initiate");
        }
        let pairs = 2 * (n as usize + 1);
        assert!(
            pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, pairs)),
            "tunnel {n} up"
        );
    }
    pair.drive_checked(
        Duration::from_secs(60),
        |_| false,
        |p| assert!(kernels_agree(p, 6), "every IPsec SA stays"),
    );
    assert_eq!(pair.b.engine.sas().count(), 3, "an ISAKMP SA per tunnel");
    assert_eq!(pair.a.engine.sas().count(), 3);
    assert!(pair.b.engine.sas().all(|sa| sa.children.len() == 1));
    assert_eq!(ike_down_reasons(&pair, Which::A), vec![]);
    assert_eq!(ike_down_reasons(&pair, Which::B), vec![]);
}

#[test]
fn a_silent_peer_is_found_dead() {
    let dpd = |mut c: ConnectionSettings| {
        c.dpd_interval = Some(Duration::from_secs(10));
        c.dpd_timeout = Some(Duration::from_secs(30));
        c.close_action = ikehub::ike::CloseAction::None;
        c
    };
    let mut pair = pair_of(
        dpd(v1(A_ADDR, B_ADDR, true)),
        dpd(v1(B_ADDR, A_ADDR, false)),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    // Liveness checks are answered while the link is up.
    pair.drive_until(Duration::from_secs(60), |_| false);
    assert!(ike_down_reasons(&pair, Which::A).is_empty());
    let cut_at = pair.now;
    pair.cut = true;
    assert!(pair.drive_until(Duration::from_secs(120), |p| {
        ike_down_reasons(p, Which::A).contains(&DownReason::PeerDead)
    }));
    assert!(
        pair.now - cut_at <= Duration::from_secs(45),
        "{:?}",
        pair.now - cut_at
    );
    assert!(pair.a.kernel.sas.is_empty());
}

/// One ISAKMP SA's cookies, and the inbound and outbound SPIs of each of its IPsec SA pairs.
type SaSpis = (u64, u64, Vec<(u32, u32)>);

/// The SPIs of a side's ISAKMP SAs and of their IPsec SA pairs.
fn spis_of(pair: &Pair, which: Which) -> Vec<SaSpis> {
    let side = match which {
        Which::A => &pair.a,
        Which::B => &pair.b,
    };
    let mut spis: Vec<_> = side
        .engine
        .sas()
        .map(|sa| {
            let children = sa
                .children
                .iter()
                .map(|c| (c.inbound_spi, c.outbound_spi))
                .collect();
            (sa.spi_i, sa.spi_r, children)
        })
        .collect();
    spis.sort();
    spis
}

#[test]
fn a_reload_that_changes_only_the_dpd_interval_keeps_the_sas_and_applies_it() {
    let old_interval = Duration::from_secs(600);
    let dpd = |mut c: ConnectionSettings, interval: Duration| {
        c.dpd_interval = Some(interval);
        c.close_action = ikehub::ike::CloseAction::None;
        c
    };
    let mut pair = pair_of(
        dpd(v1(A_ADDR, B_ADDR, true), old_interval),
        dpd(v1(B_ADDR, A_ADDR, false), old_interval),
    );
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let (before, peer_before) = (spis_of(&pair, Which::A), spis_of(&pair, Which::B));
    assert_eq!(before.len(), 1);

    let now = pair.now;
    let new = dpd(v1(A_ADDR, B_ADDR, true), Duration::from_secs(10));
    let report = pair.a.engine.reload(now, EngineSettings::new(vec![new]));
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    assert!(report.changed.is_empty());
    // R-U-THERE every 10 s of silence is answered; nothing is replaced.
    pair.drive_until(Duration::from_secs(60), |_| false);
    assert_eq!(spis_of(&pair, Which::A), before);
    assert_eq!(spis_of(&pair, Which::B), peer_before);
    assert!(kernels_agree(&pair, 2));
    assert_eq!(pair.a.engine.stats().retransmits, 0);

    // Silenced, the peer is found dead on the new schedule; the old interval alone would
    // take 600 s.
    let cut_at = pair.now;
    pair.cut = true;
    assert!(
        pair.drive_until(old_interval, |p| {
            ike_down_reasons(p, Which::A).contains(&DownReason::PeerDead)
        }),
        "not found dead within the old interval"
    );
    let span = EngineSettings::new(vec![]).retransmission_span();
    assert!(
        pair.now - cut_at <= Duration::from_secs(10) + span,
        "{:?}",
        pair.now - cut_at
    );
}

#[test]
fn a_shorter_ipsec_sa_lifetime_brings_the_next_quick_mode_forward_on_the_same_isakmp_sa() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let established = pair.now;
    let before = spis_of(&pair, Which::A);

    // The pair was due for replacement after 54-60 minutes; now 9-10 minutes.
    let mut shorter = v1(A_ADDR, B_ADDR, true);
    shorter.child_lifetime = Duration::from_secs(600);
    let now = pair.now;
    let report = pair
        .a
        .engine
        .reload(now, EngineSettings::new(vec![shorter]));
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    assert_eq!(spis_of(&pair, Which::A), before);

    assert!(pair.drive_until(Duration::from_secs(700), |p| p.a.child_up() == 2));
    let took = pair.now - established;
    assert!(
        took >= Duration::from_secs(530) && took <= Duration::from_secs(610),
        "{took:?}"
    );
    assert!(pair.drive_until(Duration::from_secs(60), |p| kernels_agree(p, 2)));
    let after = spis_of(&pair, Which::A);
    assert_eq!(
        (after[0].0, after[0].1),
        (before[0].0, before[0].1),
        "the same ISAKMP SA"
    );
    assert_ne!(after[0].2, before[0].2, "a new pair");
    assert_eq!(pair.a.ike_up(), 1);
}

#[test]
fn deletes_both_ways() {
    let no_restart = |mut c: ConnectionSettings| {
        c.close_action = ikehub::ike::CloseAction::None;
        c
    };
    for deleting in [Which::A, Which::B] {
        let mut pair = pair_of(
            no_restart(v1(A_ADDR, B_ADDR, true)),
            no_restart(v1(B_ADDR, A_ADDR, false)),
        );
        assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
        let now = pair.now;
        let side = pair.side(deleting);
        let conn = side.engine.connection_ids().next().expect("conn");
        side.engine.terminate(now, conn);
        assert!(
            pair.drive_until(Duration::from_secs(10), |p| {
                p.a.engine.sas().count() == 0
                    && p.b.engine.sas().count() == 0
                    && p.a.kernel.sas.is_empty()
                    && p.b.kernel.sas.is_empty()
            }),
            "{deleting:?}"
        );
        let peer = if deleting == Which::A {
            Which::B
        } else {
            Which::A
        };
        assert!(ike_down_reasons(&pair, peer).contains(&DownReason::DeletedByPeer));
    }
}

#[test]
fn nat_is_detected_and_esp_goes_in_udp() {
    // The responder cannot know the address the NAT gives the initiator.
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.remote_addr = None;
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.nat_a = true;
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.a.kernel.sas.len() == 2 && p.b.kernel.sas.len() == 2
    }));
    let a = pair.a.engine.sas().next().expect("SA");
    assert!(a.nat.local_behind && !a.nat.remote_behind);
    assert_eq!(a.remote.port(), 4500);
    let b = pair.b.engine.sas().next().expect("SA");
    assert!(b.nat.remote_behind);
    assert!(pair.b.kernel.sas.values().all(|s| s.esp.encap.is_some()));
    assert!(pair
        .a
        .kernel
        .sas
        .values()
        .all(|s| s.esp.encap == Some((4500, 4500))));
}

#[test]
fn the_handshake_completes_under_thirty_percent_loss() {
    for seed in 1..=8 {
        let mut pair = default_pair();
        pair.set_loss(30, seed);
        assert!(
            pair.drive_until(Duration::from_secs(120), |p| kernels_agree(p, 2)),
            "seed {seed}"
        );
    }
}

#[test]
fn malformed_messages_are_counted_and_dropped_without_state() {
    let mut pair = default_pair();
    let (local, remote) = (
        std::net::SocketAddr::new(support::pair::ip(B_ADDR), 500),
        std::net::SocketAddr::new(support::pair::ip(A_ADDR), 500),
    );
    let mut header = vec![0x11; 8];
    header.extend_from_slice(&[0; 8]);
    header.extend_from_slice(&[1, 0x10, 2, 0, 0, 0, 0, 0]);
    let cases: Vec<Vec<u8>> = vec![
        // Length field larger than the datagram.
        [header.clone(), 200u32.to_be_bytes().to_vec()].concat(),
        // An SA payload whose length runs past the end.
        [
            header.clone(),
            36u32.to_be_bytes().to_vec(),
            vec![0, 0, 0, 40, 0, 0, 0, 1],
        ]
        .concat(),
        // A Main Mode first message without an SA payload.
        {
            let mut h = header.clone();
            h[16] = 10;
            [
                h,
                36u32.to_be_bytes().to_vec(),
                vec![0, 0, 0, 8, 1, 2, 3, 4],
            ]
            .concat()
        },
    ];
    let before = pair.b.engine.stats();
    for case in &cases {
        pair.inject(Which::B, local, remote, case.clone());
    }
    let after = pair.b.engine.stats();
    assert_eq!(
        after.dropped_malformed,
        before.dropped_malformed + cases.len() as u64
    );
    assert_eq!(pair.b.engine.sas().count(), 0);
    assert!(pair.b.engine.poll_transmit().is_none());
}

#[test]
fn simultaneous_rekeys_leave_one_pair() {
    for seed in 0..6 {
        let mut pair = Pair::seeded(
            EngineSettings::new(vec![v1(A_ADDR, B_ADDR, true)]),
            EngineSettings::new(vec![v1(B_ADDR, A_ADDR, false)]),
            seed,
        );
        pair.a.engine.start(pair.now);
        assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
        let first = inbound_spis(&pair, Which::A);
        // Both ends replace the pair at the same moment.
        let now = pair.now;
        for which in [Which::A, Which::B] {
            let side = pair.side(which);
            let conn = side.engine.connection_ids().next().expect("conn");
            side.engine.rekey_children(now, conn);
        }
        pair.drive_until(Duration::from_secs(30), |_| false);
        assert!(
            kernels_agree(&pair, 2),
            "seed {seed}: one pair on each side, keys agree"
        );
        let after = inbound_spis(&pair, Which::A);
        assert_eq!(after.len(), 1, "seed {seed}");
        assert_ne!(first, after, "seed {seed}: replaced");
        assert_eq!(inbound_spis(&pair, Which::B).len(), 1, "seed {seed}");
    }
}

fn inbound_spis(pair: &Pair, which: Which) -> Vec<u32> {
    let side = match which {
        Which::A => &pair.a,
        Which::B => &pair.b,
    };
    side.engine
        .sas()
        .flat_map(|s| s.children.iter().map(|c| c.inbound_spi))
        .collect()
}

#[test]
fn messages_of_an_established_sa_that_do_not_verify_are_dropped_and_counted() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    // The initiator's first Quick Mode message, as B received it.
    let (_, quick) = pair
        .delivered
        .iter()
        .find(|(to, t)| *to == Which::B && t.payload.get(18) == Some(&32))
        .cloned()
        .expect("a Quick Mode message to B");
    let (local, remote) = (quick.remote, quick.local);
    let before = pair.b.engine.stats();
    // A retransmission gets the cached answer, and no second pair.
    pair.inject(Which::B, local, remote, quick.payload.clone());
    assert_eq!(
        pair.b.engine.stats().responses_resent,
        before.responses_resent + 1
    );
    // A corrupted copy does not verify.
    let mut corrupt = quick.payload.clone();
    let last = corrupt.len() - 20;
    corrupt[last] ^= 0x55;
    pair.inject(Which::B, local, remote, corrupt);
    // Cut short: the header's length no longer matches.
    pair.inject(
        Which::B,
        local,
        remote,
        quick.payload[..quick.payload.len() - 16].to_vec(),
    );
    // Unknown cookies.
    let mut stranger = quick.payload.clone();
    stranger[0] ^= 0xff;
    pair.inject(Which::B, local, remote, stranger);
    let after = pair.b.engine.stats();
    assert_eq!(
        after.dropped_undecryptable,
        before.dropped_undecryptable + 1
    );
    assert_eq!(after.dropped_malformed, before.dropped_malformed + 1);
    assert_eq!(after.dropped_unknown_sa, before.dropped_unknown_sa + 1);
    pair.drive_until(Duration::from_secs(5), |_| false);
    assert!(kernels_agree(&pair, 2), "nothing changed");
    assert_eq!(pair.b.engine.sas().count(), 1);
}

#[test]
fn a_restarted_peer_with_initial_contact_replaces_the_old_sas() {
    let mut pair = default_pair();
    assert!(pair.drive_until(Duration::from_secs(10), |p| kernels_agree(p, 2)));
    let old = inbound_spis(&pair, Which::B);
    // A restarts: a fresh engine that knows nothing of the old SAs.
    pair.a = support::pair::Side::new(
        EngineSettings::new(vec![v1(A_ADDR, B_ADDR, true)]),
        99,
        support::pair::ip(A_ADDR),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.b.events.iter().any(|e| {
            matches!(
                e,
                Event::IkeDown {
                    reason: DownReason::Superseded,
                    ..
                }
            )
        }) && kernels_agree(p, 2)
    }));
    let new = inbound_spis(&pair, Which::B);
    assert_eq!(new.len(), 1);
    assert_ne!(old, new, "the old pair is gone with the old ISAKMP SA");
    assert_eq!(pair.b.engine.sas().count(), 1);
}

#[test]
fn nat_in_front_of_the_responder_is_detected_too() {
    // A answers behind a NAT that forwards UDP 500 and 4500 to it; B knows the NAT's address.
    let a = v1(A_ADDR, B_ADDR, false);
    let mut b = v1(B_ADDR, support::pair::NAT_ADDR, true);
    b.remote_id = Some(ikehub::ike::IkeIdentity::from_address(support::pair::ip(
        A_ADDR,
    )));
    let mut pair = pair_of(a, b);
    pair.nat_a = true;
    pair.nat_port_offset = 0;
    assert!(pair.drive_until(Duration::from_secs(10), |p| {
        p.a.kernel.sas.len() == 2 && p.b.kernel.sas.len() == 2
    }));
    let a = pair.a.engine.sas().next().expect("SA");
    assert!(a.nat.local_behind && !a.nat.remote_behind, "{:?}", a.nat);
    assert_eq!(a.local.port(), 4500);
    let b = pair.b.engine.sas().next().expect("SA");
    assert!(b.nat.remote_behind && !b.nat.local_behind, "{:?}", b.nat);
    assert!(pair
        .b
        .kernel
        .sas
        .values()
        .all(|s| s.esp.encap == Some((4500, 4500))));
    assert!(pair
        .a
        .kernel
        .sas
        .values()
        .all(|s| s.esp.encap == Some((4500, 4500))));
}

/// The texts both ends record (and the daemon logs and shows as `last_error`) for `which`'s
/// SA ends and CHILD_SA failures.
fn failure_texts(pair: &Pair, which: Which) -> Vec<String> {
    let side = match which {
        Which::A => &pair.a,
        Which::B => &pair.b,
    };
    side.events
        .iter()
        .filter_map(|e| match e {
            Event::IkeDown { reason, .. } | Event::ChildFailed { reason, .. } => {
                reason.failure().map(|_| reason.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_wrong_pre_shared_key_names_the_identities_and_the_method_on_both_ends() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.psk = ikehub::ike::PreSharedKey(zeroize::Zeroizing::new(b"another key".to_vec()));
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    // The initiator gives up after its retransmissions (165 s by default).
    pair.drive_until(Duration::from_secs(200), |p| {
        !failure_texts(p, Which::A).is_empty()
    });
    let b_text = failure_texts(&pair, Which::B)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b_text,
        format!(
            "authentication failed: Main Mode (message ID 0, peer {A_ADDR}:500): refused with \
             AUTHENTICATION_FAILED: the peer's identity message does not decrypt: the \
             pre-shared keys differ; connection to-{A_ADDR}: we are {B_ADDR} (auth psk), \
             expecting {A_ADDR}"
        )
    );
    // An IKEv1 peer cannot tell us in words we could decrypt: the initiator says what its
    // unanswered identity message most likely means.
    let a_text = failure_texts(&pair, Which::A)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        a_text,
        format!(
            "negotiation failed: Main Mode (message ID 0, peer {B_ADDR}:500): our identity \
             message went unanswered (6 sends): the peer cannot decrypt it if its pre-shared \
             key differs; connection to-{B_ADDR}: we are {A_ADDR} (auth psk), expecting {B_ADDR}"
        )
    );
}

#[test]
fn an_unexpected_identity_is_refused_with_invalid_id_information_naming_both() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.remote_id = Some(ikehub::ike::IkeIdentity::from_address(ip("192.0.2.77")));
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::B).is_empty()
    });
    let b_text = failure_texts(&pair, Which::B)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b_text,
        format!(
            "authentication failed: Main Mode (message ID 0, peer {A_ADDR}:500): refused with \
             INVALID_ID_INFORMATION: the peer is {A_ADDR} (psk); connection to-{A_ADDR}: we \
             are {B_ADDR} (auth psk), expecting 192.0.2.77"
        )
    );
    // Both ends hold the same keys by then: the refused end is told, and says so.
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::A).is_empty()
    });
    let a_text = failure_texts(&pair, Which::A)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        a_text,
        format!(
            "authentication failed: Main Mode (message ID 0, peer {B_ADDR}:500): the peer \
             refused with INVALID_ID_INFORMATION: connection to-{B_ADDR}: we are {A_ADDR} \
             (auth psk), expecting {B_ADDR}; check the pre-shared key and identities"
        )
    );
}

#[test]
fn an_initiator_that_refuses_the_responders_identity_tells_it() {
    let mut a = v1(A_ADDR, B_ADDR, true);
    a.remote_id = Some(ikehub::ike::IkeIdentity::from_address(ip("192.0.2.77")));
    let mut pair = pair_of(a, v1(B_ADDR, A_ADDR, false));
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::B).is_empty()
    });
    let a_text = failure_texts(&pair, Which::A)
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(
        a_text.contains("refused with INVALID_ID_INFORMATION: the peer is 192.0.2.2 (psk)"),
        "{a_text}"
    );
    let b_text = failure_texts(&pair, Which::B)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b_text,
        format!(
            "authentication failed: Main Mode (message ID 0, peer {A_ADDR}:500): the peer \
             refused with INVALID_ID_INFORMATION: connection to-{A_ADDR}: we are {B_ADDR} \
             (auth psk), expecting {A_ADDR}; check the pre-shared key and identities"
        )
    );
    assert!(
        pair.b.kernel.sas.is_empty(),
        "no IPsec SA on the refused end"
    );
}

#[test]
fn aggressive_mode_with_a_wrong_key_names_the_identities_and_the_method() {
    let mut a = v1(A_ADDR, B_ADDR, true);
    a.aggressive = true;
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.aggressive = true;
    b.psk = ikehub::ike::PreSharedKey(zeroize::Zeroizing::new(b"another key".to_vec()));
    let mut pair = pair_of(a, b);
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::A).is_empty()
    });
    let a_text = failure_texts(&pair, Which::A)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        a_text,
        format!(
            "authentication failed: Aggressive Mode (message ID 0, peer {B_ADDR}:500): refused \
             with AUTHENTICATION_FAILED: HASH_R of {B_ADDR} (psk) does not verify with the \
             pre-shared key; connection to-{B_ADDR}: we are {A_ADDR} (auth psk), expecting \
             {B_ADDR}"
        )
    );
}

#[test]
fn quick_mode_without_a_common_proposal_names_what_each_end_has() {
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.esp_proposals[0].encryption = vec![ikehub::algorithm::Encryption::AesCbc { key_bits: 256 }];
    let mut pair = pair_of(v1(A_ADDR, B_ADDR, true), b);
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::A).is_empty()
    });
    let b_text = failure_texts(&pair, Which::B)
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(
        b_text.contains(&format!("peer {A_ADDR}:500): refused with NO_PROPOSAL_CHOSEN: no ESP proposal matches: ours aes256-sha256; offered aes128-sha256")),
        "{b_text}"
    );
    let a_text = failure_texts(&pair, Which::A)
        .first()
        .cloned()
        .unwrap_or_default();
    assert!(
        a_text.starts_with("negotiation failed: Quick Mode (message ID ")
            && a_text.ends_with(&format!(
                ", peer {B_ADDR}:500): the peer refused with NO_PROPOSAL_CHOSEN: for \
                 10.1.0.0/16 (ours) <=> 10.2.0.0/16 (theirs); we offered aes128-sha256"
            )),
        "{a_text}"
    );
}

#[test]
fn an_aggressive_mode_initiator_that_refuses_the_responders_identity_tells_it() {
    let mut a = v1(A_ADDR, B_ADDR, true);
    a.aggressive = true;
    a.remote_id = Some(ikehub::ike::IkeIdentity::from_address(ip("192.0.2.77")));
    let mut b = v1(B_ADDR, A_ADDR, false);
    b.aggressive = true;
    let mut pair = pair_of(a, b);
    pair.drive_until(Duration::from_secs(10), |p| {
        !failure_texts(p, Which::B).is_empty()
    });
    let b_text = failure_texts(&pair, Which::B)
        .first()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        b_text,
        format!(
            "authentication failed: Aggressive Mode (message ID 0, peer {A_ADDR}:500): the peer \
             refused with INVALID_ID_INFORMATION: connection to-{A_ADDR}: we are {B_ADDR} \
             (auth psk), expecting {A_ADDR}; check the pre-shared key and identities"
        )
    );
}
