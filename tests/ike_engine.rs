//! Two engines in memory: establishment, loss, retransmission, deletes, liveness, bad input.

mod support {
    pub mod examples;
    pub mod pair;
}

use std::net::SocketAddr;
use std::time::Duration;
use support::examples::private_copy;

use ikehub::algorithm::{DhGroup, Encryption, Integrity, Prf};
use ikehub::ike::{DownReason, EngineSettings, Event, IkeProposal, KernelIntent};
use support::pair::{connection, ip, Pair, Which, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

fn addr(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(s), port)
}

/// Both kernels hold the same two SAs: A's outbound is B's inbound and the other way round,
/// with the same keys.
fn assert_kernels_match(pair: &Pair) {
    assert_eq!(pair.a.kernel.sas.len(), 2, "A holds one SA per direction");
    assert_eq!(pair.b.kernel.sas.len(), 2, "B holds one SA per direction");
    for (key, sa) in &pair.a.kernel.sas {
        let peer = pair
            .b
            .kernel
            .sas
            .get(key)
            .map(|installed| &installed.esp)
            .unwrap_or_else(|| panic!("B lacks SA {key:?}"));
        let sa = &sa.esp;
        assert_eq!(
            sa.encryption_key, peer.encryption_key,
            "keys of SPI {:#x} differ",
            key.1
        );
        assert_eq!((sa.src, sa.dst), (peer.src, peer.dst));
    }
}

#[test]
fn tunnel_is_established_and_keys_agree() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(
        pair.drive_until(LIMIT, Pair::established),
        "tunnel did not come up"
    );
    assert_eq!((pair.a.ike_up(), pair.b.ike_up()), (1, 1));
    assert_eq!((pair.a.child_up(), pair.b.child_up()), (1, 1));
    assert_kernels_match(&pair);
    // Four messages, no retransmission on a clean link.
    assert_eq!(pair.delivered.len(), 4);
    assert_eq!(pair.a.engine.stats().retransmits, 0);
    // Once authenticated, neither end keeps SK_pi/SK_pr or the IKE_SA_INIT messages.
    for engine in [&pair.a.engine, &pair.b.engine] {
        let sa = engine.sas().next().expect("established SA");
        assert!(sa.v2.handshake.is_none(), "IKE_SA_INIT context kept");
        let crypto = sa.v2.crypto.as_ref().expect("keys");
        assert!(crypto.auth_keys.is_none(), "SK_pi/SK_pr kept");
        assert!(!crypto.sk_d.is_empty());
    }
}

#[test]
fn handshake_completes_with_30_percent_loss() {
    let mut retransmitted = 0;
    for seed in 0..20u64 {
        let mut pair = Pair::default_pair();
        pair.set_loss(30, seed);
        let now = pair.now;
        pair.a.engine.start(now);
        let ok = pair.drive_until(Duration::from_secs(600), Pair::established);
        assert!(
            ok,
            "seed {seed}: not established under 30% loss: A {:?} B {:?}",
            pair.a.events, pair.b.events
        );
        assert_kernels_match(&pair);
        retransmitted += pair.a.engine.stats().retransmits;
    }
    assert!(retransmitted > 0, "the loss pattern dropped something");
}

#[test]
fn retransmitted_request_gets_the_cached_response() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // Replay A's IKE_AUTH request (the third datagram) to B: B must answer with the same bytes
    // it sent the first time, without creating anything new.
    let (to, auth_request) = pair.delivered[2].clone();
    assert_eq!(to, Which::B);
    let first_response = pair.delivered[3].1.payload.clone();
    pair.inject(
        Which::B,
        auth_request.remote,
        auth_request.local,
        auth_request.payload,
    );
    let resent = pair
        .b
        .engine
        .poll_transmit()
        .expect("B answers the retransmission");
    assert_eq!(
        resent.payload, first_response,
        "the cached response is resent verbatim"
    );
    assert_eq!(pair.b.engine.stats().responses_resent, 1);
    assert_eq!(pair.b.engine.poll_kernel(), None, "no second CHILD_SA");
    assert!(pair.b.engine.poll_event().is_none());
}

#[test]
fn delete_removes_everything_on_both_sides() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let conn = pair
        .a
        .engine
        .connection_id(&format!("to-{B_ADDR}"))
        .expect("connection");
    let now = pair.now;
    pair.a.engine.terminate(now, conn);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_down().len() == 1
        && p.b.ike_down().len() == 1));
    // A's delete ends the SA on A as "deleted", on B as "deleted by the peer".
    for (side, expected) in [
        (&pair.a, DownReason::Deleted),
        (&pair.b, DownReason::DeletedByPeer),
    ] {
        assert!(side.kernel.sas.is_empty(), "kernel SAs left behind");
        assert!(
            matches!(&side.ike_down()[0], Event::IkeDown { reason, .. } if *reason == expected),
            "{:?}",
            side.ike_down()
        );
        assert_eq!(side.engine.sas().count(), 0);
    }
}

#[test]
fn dpd_declares_a_silent_peer_dead() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    pair.cut = true;
    let cut_at = pair.elapsed();
    assert!(
        pair.drive_until(Duration::from_secs(600), |p| !p.a.ike_down().is_empty()),
        "A never noticed"
    );
    assert!(matches!(
        pair.a.ike_down()[0],
        Event::IkeDown {
            reason: DownReason::PeerDead,
            ..
        }
    ));
    assert!(
        pair.a.kernel.sas.is_empty(),
        "dead peer's SAs are removed from the kernel"
    );
    // 30 s of silence, then retransmissions 4 s * 1.8^n for 6 sends: about 30 + 266 s.
    let took = pair.elapsed() - cut_at;
    assert!(
        took > Duration::from_secs(30) && took < Duration::from_secs(400),
        "took {took:?}"
    );
}

#[test]
fn dpd_timeout_declares_the_peer_dead_sooner() {
    // DPD every 2 s, and an unanswered request ends the SA after 3 s instead of after the
    // ~165 s of retransmissions: a hub fails over to a standby connection within seconds.
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.dpd_interval = Some(Duration::from_secs(2));
    a.dpd_timeout = Some(Duration::from_secs(3));
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // Liveness checks that are answered keep the SA up, well past the timeout.
    assert!(
        !pair.drive_until(Duration::from_secs(20), |p| !p.a.ike_down().is_empty()),
        "answered DPD keeps the SA"
    );
    pair.cut = true;
    let cut_at = pair.elapsed();
    assert!(
        pair.drive_until(Duration::from_secs(60), |p| !p.a.ike_down().is_empty()),
        "A never noticed"
    );
    assert!(matches!(
        pair.a.ike_down()[0],
        Event::IkeDown {
            reason: DownReason::PeerDead,
            ..
        }
    ));
    // At most one DPD interval of silence, then the 3 s timeout.
    let took = pair.elapsed() - cut_at;
    assert!(
        took >= Duration::from_secs(3) && took <= Duration::from_secs(6),
        "took {took:?}"
    );
}

#[test]
fn malformed_datagrams_at_every_stage_are_dropped_and_counted() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let garbage: Vec<Vec<u8>> = vec![vec![], vec![0u8; 3], vec![0xff; 28], vec![0x20; 100]];
    let mut injected = 0u64;
    let mut inject_all = |pair: &mut Pair| {
        for g in &garbage {
            pair.inject(Which::B, addr(B_ADDR, 500), addr(A_ADDR, 500), g.clone());
            pair.inject(Which::A, addr(A_ADDR, 500), addr(B_ADDR, 500), g.clone());
            injected += 2;
        }
    };
    pair.a.engine.start(now);
    inject_all(&mut pair); // before the responder has any state
    pair.step();
    pair.step();
    inject_all(&mut pair); // during IKE_SA_INIT
    assert!(pair.drive_until(LIMIT, Pair::established));
    // After establishment: a copy of a real message with its SK body corrupted.
    let (_, mut auth) = pair.delivered[2].clone();
    if let Some(last) = auth.payload.last_mut() {
        *last ^= 0x55;
    }
    let mut replayed_with_new_id = auth.payload.clone();
    replayed_with_new_id[20..24].copy_from_slice(&2u32.to_be_bytes());
    pair.inject(Which::B, auth.remote, auth.local, replayed_with_new_id);
    inject_all(&mut pair);
    let dropped = |s: &support::pair::Side| {
        let st = s.engine.stats();
        st.dropped_malformed
            + st.dropped_undecryptable
            + st.dropped_unknown_sa
            + st.dropped_unexpected
    };
    assert_eq!(
        dropped(&pair.a) + dropped(&pair.b),
        injected + 1,
        "every bad datagram is counted once"
    );
    assert_eq!(pair.b.engine.stats().dropped_undecryptable, 1);
    // The tunnel is still there and still works: a delete still goes through.
    assert!(pair.established());
    let conn = pair
        .a
        .engine
        .connection_id(&format!("to-{B_ADDR}"))
        .expect("connection");
    let now = pair.now;
    pair.a.engine.terminate(now, conn);
    assert!(pair.drive_until(LIMIT, |p| p.b.ike_down().len() == 1));
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_wanted_group() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.ike_proposals[0].dh = vec![DhGroup::Ecp256, DhGroup::Curve25519];
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.ike_proposals[0].dh = vec![DhGroup::Curve25519];
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    assert_eq!(
        pair.delivered.len(),
        6,
        "INIT, INVALID_KE_PAYLOAD, INIT again, answer, AUTH, answer"
    );
    assert_kernels_match(&pair);
}

#[test]
fn cookies_are_demanded_under_load_and_returned() {
    let mut b = EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]);
    b.half_open.cookie_threshold = 0;
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        b,
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    assert_eq!(pair.b.engine.stats().cookies_sent, 1);
    assert_eq!(pair.delivered.len(), 6);
}

#[test]
fn wrong_psk_fails_authentication_on_both_sides() {
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.psk = ikehub::ike::PreSharedKey(zeroize::Zeroizing::new(b"another secret".to_vec()));
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![b]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| !p.a.ike_down().is_empty()
        && !p.b.ike_down().is_empty()));
    for side in [&pair.a, &pair.b] {
        assert!(
            matches!(
                side.ike_down()[0],
                Event::IkeDown {
                    reason: DownReason::AuthFailed(_),
                    ..
                }
            ),
            "{:?}",
            side.ike_down()
        );
        assert!(side.kernel.sas.is_empty());
        assert_eq!(side.ike_up(), 0);
    }
}

#[test]
fn traffic_selectors_are_narrowed_to_the_responders_configuration() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.remote_subnets = vec!["10.0.0.0/8".parse().expect("net")];
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let sa = pair.a.engine.sas().next().expect("IKE SA");
    let child = sa.children.first().expect("CHILD_SA");
    assert_eq!(child.remote_ts.len(), 1);
    assert_eq!(child.remote_ts[0].net.network(), ip("10.2.0.0"));
    assert_eq!(child.remote_ts[0].net.broadcast(), ip("10.2.255.255"));
}

#[test]
fn disjoint_selectors_leave_the_ike_sa_up_without_a_child() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.remote_subnets = vec!["172.16.0.0/12".parse().expect("net")];
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 1 && p.b.ike_up() == 1));
    pair.drive_until(Duration::from_secs(1), |_| false);
    assert!(pair
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildFailed { .. })));
    assert!(pair.a.kernel.sas.is_empty() && pair.b.kernel.sas.is_empty());
    // The refusal is visible on the end that refused, by its RFC name and both sides' selectors.
    let refused = pair.b.events.iter().find_map(|e| match e {
        Event::ChildFailed {
            reason: DownReason::NegotiationFailed(failure),
            ..
        } => Some(failure.to_string()),
        _ => None,
    });
    let text = refused.expect("the responder reports the refused CHILD_SA");
    assert!(
        text.starts_with(&format!(
            "IKE_AUTH (message ID 1, peer {A_ADDR}:500): refused with TS_UNACCEPTABLE"
        )),
        "{text}"
    );
    assert!(
        text.contains("172.16.0.0/12") && text.contains("10.1.0.0/16"),
        "{text}"
    );
}

#[test]
fn nat_is_detected_and_ike_moves_to_4500_with_udp_encapsulation() {
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.remote_addr = None; // the peer arrives from the NAT's address
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![b]),
    );
    pair.nat_a = true;
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 2
        && p.b.kernel.sas.len() == 2));
    let a_sa = pair.a.engine.sas().next().expect("A's IKE SA");
    assert!(a_sa.nat.local_behind && !a_sa.nat.remote_behind);
    assert_eq!(a_sa.remote.port(), 4500);
    let b_sa = pair.b.engine.sas().next().expect("B's IKE SA");
    assert!(b_sa.nat.remote_behind);
    assert_eq!(b_sa.local.port(), 4500);
    // IKE_AUTH went over 4500.
    assert_eq!(pair.delivered[2].1.remote.port(), 4500);
    for sa in pair.a.kernel.sas.values().chain(pair.b.kernel.sas.values()) {
        assert!(
            sa.esp.encap.is_some(),
            "ESP is UDP-encapsulated behind a NAT"
        );
    }
}

#[test]
fn a_kernel_refusal_deletes_the_child_with_the_peer() {
    let mut pair = Pair::default_pair();
    pair.b.kernel.refuse = Some("Requested AEAD algorithm not found".into());
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildDown { .. }))));
    assert!(pair.b.events.iter().any(|e| matches!(e, Event::ChildDown { reason: DownReason::KernelError(m), .. } if m.message.contains("AEAD"))));
    assert!(
        pair.a.kernel.sas.is_empty(),
        "the initiator removed the child the responder could not install"
    );
    assert_eq!(
        (pair.a.ike_up(), pair.b.ike_up()),
        (1, 1),
        "the IKE SA survives"
    );
}

#[test]
fn the_site_to_site_examples_establish_a_tunnel_with_each_other() {
    let load = |name: &str| {
        let config = ikehub::config::load(&private_copy(name)).unwrap_or_else(|e| panic!("{e}"));
        let (settings, skipped) = EngineSettings::from_config(&config);
        assert!(skipped.is_empty(), "{skipped:?}");
        settings
    };
    let mut pair = Pair::new(load("site-to-site.toml"), load("site-to-site-onprem.toml"));
    let now = pair.now;
    pair.a.engine.start(now);
    pair.b.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    assert_kernels_match(&pair);
    let child = &pair.a.engine.sas().next().expect("IKE SA").children[0];
    assert_eq!(child.suite.encryption.to_string(), "aes128gcm16");
}

#[test]
fn reload_applies_only_the_differences() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let sa_before = pair.a.engine.sas().next().map(|sa| sa.spi_i);

    // Same settings: nothing happens to the running tunnel.
    let report = pair.a.engine.reload(
        now,
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
    );
    assert_eq!(report.unchanged, vec![format!("to-{B_ADDR}")]);
    assert!(report.changed.is_empty() && report.added.is_empty() && report.removed.is_empty());
    assert_eq!(pair.a.engine.sas().next().map(|sa| sa.spi_i), sa_before);

    // Changed selectors: the connection is re-established with a new IKE SA.
    let mut changed = connection(A_ADDR, B_ADDR, true);
    changed.remote_subnets = vec!["10.2.0.0/17".parse().expect("net")];
    let now = pair.now;
    let report = pair
        .a
        .engine
        .reload(now, EngineSettings::new(vec![changed]));
    assert_eq!(report.changed, vec![format!("to-{B_ADDR}")]);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 2
        && p.b.ike_up() == 2
        && p.a.engine.sas().count() == 1));
    assert_ne!(pair.a.engine.sas().next().map(|sa| sa.spi_i), sa_before);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 2
        && p.b.kernel.sas.len() == 2));

    // Removed: deleted with the peer.
    let now = pair.now;
    let report = pair.a.engine.reload(now, EngineSettings::new(vec![]));
    assert_eq!(report.removed, vec![format!("to-{B_ADDR}")]);
    let all_gone = |p: &Pair| {
        p.a.engine.sas().count() == 0
            && p.b.engine.sas().count() == 0
            && p.a.kernel.sas.is_empty()
            && p.b.kernel.sas.is_empty()
    };
    assert!(pair.drive_until(LIMIT, all_gone));
}

/// One IKE SA's connection name and SPIs, and the inbound and outbound SPIs of its CHILD_SAs.
type SaSpis = (String, u64, u64, Vec<(u32, u32)>);

/// The SPIs of a side's IKE SAs and of their CHILD_SAs, by connection name.
fn spis_of(side: &support::pair::Side) -> Vec<SaSpis> {
    let mut spis: Vec<_> = side
        .engine
        .sas()
        .map(|sa| {
            let name = side
                .engine
                .connection(sa.conn)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let children = sa
                .children
                .iter()
                .map(|c| (c.inbound_spi, c.outbound_spi))
                .collect();
            (name, sa.spi_i, sa.spi_r, children)
        })
        .collect();
    spis.sort();
    spis
}

fn peer_dead(side: &support::pair::Side) -> bool {
    side.events.iter().any(|e| {
        matches!(
            e,
            Event::IkeDown {
                reason: DownReason::PeerDead,
                ..
            }
        )
    })
}

#[test]
fn a_reload_that_changes_only_the_dpd_interval_keeps_the_sas_and_applies_it() {
    let old_interval = Duration::from_secs(600);
    let with_dpd = |mut c: ikehub::ike::ConnectionSettings, interval: Duration| {
        c.dpd_interval = Some(interval);
        c.close_action = ikehub::ike::CloseAction::None;
        c
    };
    let mut pair = Pair::new(
        EngineSettings::new(vec![with_dpd(
            connection(A_ADDR, B_ADDR, true),
            old_interval,
        )]),
        EngineSettings::new(vec![with_dpd(
            connection(B_ADDR, A_ADDR, false),
            old_interval,
        )]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 2
        && p.b.kernel.sas.len() == 2));
    let before = spis_of(&pair.a);
    let peer_before = spis_of(&pair.b);
    assert_eq!(before.len(), 1);

    let now = pair.now;
    let new = with_dpd(connection(A_ADDR, B_ADDR, true), Duration::from_secs(10));
    let report = pair.a.engine.reload(now, EngineSettings::new(vec![new]));
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    assert!(report.changed.is_empty() && report.unchanged.is_empty());
    // A while with the link up: the new interval's checks are answered, nothing is replaced.
    pair.drive_until(Duration::from_secs(60), |_| false);
    assert_eq!(spis_of(&pair.a), before);
    assert_eq!(spis_of(&pair.b), peer_before);
    assert_eq!((pair.a.ike_up(), pair.a.child_up()), (1, 1));
    assert!(pair.a.engine.stats().retransmits == 0 && pair.a.kernel.sas.len() == 2);

    // Silenced, the peer is found dead on the new schedule: a check 10 s after the last
    // message, then the retransmissions; the old interval alone would take 600 s.
    let cut_at = pair.now;
    pair.cut = true;
    assert!(
        pair.drive_until(old_interval, |p| peer_dead(&p.a)),
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
fn a_reload_that_changes_subnets_reestablishes_that_connection_only() {
    let net = |n: u8, local: &str, remote: &str, initiate: bool| {
        let mut c = connection(local, remote, initiate);
        c.name = format!("net{n}");
        let (mine, theirs) = if local == A_ADDR { (1, 2) } else { (2, 1) };
        c.local_subnets = vec![format!("10.{mine}.{n}.0/24").parse().expect("net")];
        c.remote_subnets = vec![format!("10.{theirs}.{n}.0/24").parse().expect("net")];
        c
    };
    let mut pair = Pair::new(
        EngineSettings::new(vec![
            net(1, A_ADDR, B_ADDR, true),
            net(2, A_ADDR, B_ADDR, true),
        ]),
        EngineSettings::new(vec![
            net(1, B_ADDR, A_ADDR, false),
            net(2, B_ADDR, A_ADDR, false),
        ]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 4
        && p.b.kernel.sas.len() == 4));
    let before = spis_of(&pair.a);
    assert_eq!(before.len(), 2);

    // net2 now asks for half of the peer's subnet; net1 also gets a shorter DPD interval.
    let mut net1 = net(1, A_ADDR, B_ADDR, true);
    net1.dpd_interval = Some(Duration::from_secs(20));
    let mut net2 = net(2, A_ADDR, B_ADDR, true);
    net2.remote_subnets = vec!["10.2.2.0/25".parse().expect("net")];
    let now = pair.now;
    let report = pair
        .a
        .engine
        .reload(now, EngineSettings::new(vec![net1, net2]));
    assert_eq!(report.changed, vec!["net2".to_owned()]);
    assert_eq!(report.updated, vec!["net1".to_owned()]);

    let narrowed = |p: &Pair| {
        p.a.engine.sas().any(|sa| {
            sa.children
                .iter()
                .any(|c| c.remote_ts.iter().any(|ts| ts.net.prefix_len() == 25))
        }) && p.a.engine.sas().count() == 2
            && p.a.kernel.sas.len() == 4
            && p.b.kernel.sas.len() == 4
    };
    assert!(pair.drive_until(LIMIT, narrowed));
    let after = spis_of(&pair.a);
    assert_eq!(after[0], before[0], "net1 keeps its SAs");
    assert_eq!(after[1].0, "net2");
    assert_ne!(
        (after[1].1, after[1].2),
        (before[1].1, before[1].2),
        "net2: a new IKE SA"
    );
    assert_ne!(after[1].3, before[1].3, "net2: a new CHILD_SA");
}

#[test]
fn a_shorter_child_lifetime_brings_the_next_rekey_forward_without_reestablishing() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 2
        && p.b.kernel.sas.len() == 2));
    let established = pair.now;
    let before = spis_of(&pair.a);

    // The running CHILD_SA was due for a rekey after 54-60 minutes; now 9-10 minutes.
    let mut shorter = connection(A_ADDR, B_ADDR, true);
    shorter.child_lifetime = Duration::from_secs(600);
    let now = pair.now;
    let report = pair
        .a
        .engine
        .reload(now, EngineSettings::new(vec![shorter]));
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    assert_eq!(spis_of(&pair.a), before);

    let rekeyed = |p: &Pair| p.a.child_up() == 2 && p.a.kernel.sas.len() == 2;
    assert!(pair.drive_until(Duration::from_secs(700), rekeyed));
    let took = pair.now - established;
    assert!(
        took >= Duration::from_secs(530) && took <= Duration::from_secs(610),
        "{took:?}"
    );
    let after = spis_of(&pair.a);
    assert_eq!(
        (after[0].1, after[0].2),
        (before[0].1, before[0].2),
        "the same IKE SA"
    );
    assert_ne!(after[0].3, before[0].3, "a new CHILD_SA");
    assert_eq!(pair.a.ike_up(), 1);
}

#[test]
fn an_ike_lifetime_shortened_below_the_sas_age_rekeys_it_now_not_in_the_past() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    pair.drive_until(Duration::from_secs(400), |_| false);
    let before = spis_of(&pair.a);

    let mut shorter = connection(A_ADDR, B_ADDR, true);
    shorter.ike_lifetime = Duration::from_secs(300);
    let now = pair.now;
    let report = pair
        .a
        .engine
        .reload(now, EngineSettings::new(vec![shorter]));
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    let sa = pair.a.engine.sas().next().expect("IKE SA");
    assert_eq!(sa.rekey_at(), Some(now), "due at once, never before now");
    assert_eq!(spis_of(&pair.a), before);

    let rekeyed = |p: &Pair| {
        p.a.events
            .iter()
            .any(|e| matches!(e, Event::IkeRekeyed { .. }))
            && p.a.engine.sas().count() == 1
    };
    assert!(pair.drive_until(LIMIT, rekeyed));
    assert!(pair.a.ike_down().iter().all(|e| matches!(
        e,
        Event::IkeDown {
            reason: DownReason::Rekeyed,
            ..
        }
    )));
    let after = spis_of(&pair.a);
    assert_ne!((after[0].1, after[0].2), (before[0].1, before[0].2));
    assert_eq!(after[0].3, before[0].3, "the CHILD_SA moved over");
}

#[test]
fn a_reload_that_makes_a_listening_connection_initiate_starts_it_in_place() {
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, false)]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    while pair.step() {}
    assert_eq!(pair.a.engine.sas().count(), 0, "both ends listen");

    let now = pair.now;
    let report = pair.a.engine.reload(
        now,
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
    );
    assert_eq!(report.updated, vec![format!("to-{B_ADDR}")]);
    assert!(report.failed_to_start.is_empty());
    assert!(pair.drive_until(LIMIT, Pair::established));
    assert_kernels_match(&pair);
}

/// A connection with many subnets: its IKE_AUTH messages exceed 1280 octets.
fn many_subnets(local: &str, remote: &str, initiate: bool) -> ikehub::ike::ConnectionSettings {
    let mut c = connection(local, remote, initiate);
    let (mine, theirs) = if local == A_ADDR { (1, 2) } else { (2, 1) };
    c.local_subnets = (0..120)
        .map(|i| format!("10.{mine}.{i}.0/24").parse().expect("net"))
        .collect();
    c.remote_subnets = (0..120)
        .map(|i| format!("10.{theirs}.{i}.0/24").parse().expect("net"))
        .collect();
    c
}

#[test]
fn large_messages_are_fragmented_and_reassembled() {
    let mut pair = Pair::new(
        EngineSettings::new(vec![many_subnets(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![many_subnets(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    assert_kernels_match(&pair);
    // IKE_AUTH request and response both went as several datagrams of at most 1280 - 28.
    assert!(
        pair.delivered.len() > 6,
        "fragments on the wire: {}",
        pair.delivered.len()
    );
    assert!(pair.delivered.iter().all(|(_, t)| t.payload.len() <= 1252));
    let child = &pair.a.engine.sas().next().expect("SA").children[0];
    assert_eq!(child.local_ts.len(), 120);
}

#[test]
fn fragments_survive_loss_and_corruption() {
    for seed in 0..10u64 {
        let mut pair = Pair::new(
            EngineSettings::new(vec![many_subnets(A_ADDR, B_ADDR, true)]),
            EngineSettings::new(vec![many_subnets(B_ADDR, A_ADDR, false)]),
        );
        pair.set_loss(20, seed);
        let now = pair.now;
        pair.a.engine.start(now);
        assert!(
            pair.drive_until(Duration::from_secs(600), Pair::established),
            "seed {seed}"
        );
        assert_kernels_match(&pair);
    }
    // A corrupted fragment is dropped and counted; the SA goes on.
    let mut pair = Pair::new(
        EngineSettings::new(vec![many_subnets(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![many_subnets(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let (to, fragment) = pair
        .delivered
        .iter()
        .find(|(to, t)| *to == Which::B && t.payload.len() > 1000)
        .cloned()
        .expect("a fragment");
    let mut bad = fragment.payload.clone();
    if let Some(b) = bad.last_mut() {
        *b ^= 1;
    }
    let before = pair.b.engine.stats();
    let _ = to;
    pair.inject(Which::B, fragment.remote, fragment.local, bad);
    let after = pair.b.engine.stats();
    // It carries the ID of a request already answered but is not that request: dropped,
    // counted, and no response is reflected.
    assert_eq!(after.dropped_unexpected, before.dropped_unexpected + 1);
    assert_eq!(after.responses_resent, before.responses_resent);
    assert_eq!(pair.b.engine.poll_transmit(), None);
    assert!(pair.established());
}

#[test]
fn a_forged_request_with_an_answered_message_id_gets_no_response() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    let (_, auth_request) = pair.delivered[2].clone();
    let mut forged = auth_request.payload.clone();
    if let Some(b) = forged.get_mut(40) {
        *b ^= 0xff;
    }
    // Sent from a victim's address: a reflection must not happen.
    let victim = addr("198.51.100.99", 500);
    pair.inject(Which::B, auth_request.remote, victim, forged);
    assert_eq!(pair.b.engine.poll_transmit(), None);
    assert_eq!(pair.b.engine.stats().responses_resent, 0);
    assert_eq!(pair.b.engine.stats().dropped_unexpected, 1);
}

#[test]
fn several_connections_to_one_peer_are_told_apart_by_their_selectors() {
    let pair_of = |n: u8, local: &str, remote: &str, initiate: bool| {
        let mut c = connection(local, remote, initiate);
        c.name = format!("net{n}");
        let (mine, theirs) = if local == A_ADDR { (1, 2) } else { (2, 1) };
        c.local_subnets = vec![format!("10.{mine}.{n}.0/24").parse().expect("net")];
        c.remote_subnets = vec![format!("10.{theirs}.{n}.0/24").parse().expect("net")];
        c
    };
    let a: Vec<_> = (1..=3).map(|n| pair_of(n, A_ADDR, B_ADDR, true)).collect();
    let b: Vec<_> = (1..=3).map(|n| pair_of(n, B_ADDR, A_ADDR, false)).collect();
    let mut pair = Pair::new(EngineSettings::new(a), EngineSettings::new(b));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 6
        && p.b.kernel.sas.len() == 6));
    for sa in pair.b.engine.sas() {
        let name = &pair.b.engine.connection(sa.conn).expect("connection").name;
        let n: u8 = name.trim_start_matches("net").parse().expect("number");
        let child = sa.children.first().expect("child");
        assert_eq!(
            child.remote_ts[0].net.network(),
            ip(&format!("10.1.{n}.0")),
            "{name}"
        );
        assert_eq!(
            child.local_ts[0].net.network(),
            ip(&format!("10.2.{n}.0")),
            "{name}"
        );
    }
}

#[test]
fn an_unknown_critical_payload_is_refused_and_the_sa_survives() {
    use ikehub::wire::ikev2::{self, Payload};
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // In IKE_SA_INIT: a request carrying an unknown critical payload gets the notify.
    let (_, init) = pair.delivered[0].clone();
    let message = ikev2::parse_message(&init.payload).expect("our own INIT parses");
    let mut payloads = message.payloads.clone();
    payloads.push(Payload::Unknown {
        payload_type: 200,
        critical: true,
        body: vec![1, 2, 3],
    });
    let mut header = message.header;
    header.spi_i ^= 1;
    let forged = ikev2::emit_message(&header, &payloads);
    pair.inject(Which::B, init.remote, init.local, forged);
    let answer = pair.b.engine.poll_transmit().expect("an answer");
    let answer = ikev2::parse_message(&answer.payload).expect("answer parses");
    assert!(matches!(&answer.payloads[..], [Payload::Notify(n)]
        if n.notify_type == ikev2::NotifyType::UnsupportedCriticalPayload && n.data == [200]));
    assert!(pair.established());
}

#[test]
fn hub_connections_carry_their_if_id_and_accept_narrow_peers() {
    // B is a hub: any local side, an xfrm interface if_id. A is a site that only speaks its
    // own subnets (10.1.0.0/16 <-> 10.2.0.0/16). Either end may initiate.
    for hub_initiates in [false, true] {
        let site = connection(A_ADDR, B_ADDR, !hub_initiates);
        let mut hub = connection(B_ADDR, A_ADDR, hub_initiates);
        hub.local_subnets = vec!["0.0.0.0/0".parse().expect("net")];
        hub.if_id = Some(0x77);
        let mut pair = Pair::new(
            EngineSettings::new(vec![site]),
            EngineSettings::new(vec![hub]),
        );
        let now = pair.now;
        pair.a.engine.start(now);
        pair.b.engine.start(now);
        assert!(pair.drive_until(LIMIT, Pair::established));
        assert_kernels_match(&pair);
        let installs: Vec<_> = pair
            .b
            .kernel
            .log
            .iter()
            .filter_map(|intent| match intent {
                KernelIntent::InstallChild { child, .. } => Some(child.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(installs.len(), 1, "hub initiates: {hub_initiates}");
        let child = &installs[0];
        assert_eq!(child.if_id, Some(0x77));
        // Negotiated narrow: the hub's policies cover what the site speaks, no more.
        let show = |nets: &[ipnet::IpNet]| nets.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(show(&child.local_selectors), ["10.2.0.0/16"]);
        assert_eq!(show(&child.remote_selectors), ["10.1.0.0/16"]);
        // The site's own intents carry no if_id: it is policy-based.
        assert!(pair.a.kernel.log.iter().all(|intent| match intent {
            KernelIntent::InstallChild { child, .. } => child.if_id.is_none(),
            _ => true,
        }));
        let conn = pair
            .b
            .engine
            .connection_id(&format!("to-{A_ADDR}"))
            .expect("connection");
        let now = pair.now;
        pair.b.engine.terminate(now, conn);
        assert!(pair.drive_until(LIMIT, |p| p.b.ike_down().len() == 1));
        let deletes: Vec<Option<u32>> = pair
            .b
            .kernel
            .log
            .iter()
            .filter_map(|intent| match intent {
                KernelIntent::DeleteChild { if_id, .. } => Some(*if_id),
                _ => None,
            })
            .collect();
        assert_eq!(deletes, [Some(0x77)], "policies are deleted by their if_id");
    }
}

/// The first message of an IKEv1 Main Mode (RFC 2409 5, RFC 2408 3.1 and 3.4-3.6): an ISAKMP
/// header of major version 1 and an SA payload proposing aes128-sha1-modp1024 with a
/// pre-shared key, as a cloud gateway's IKEv1 defaults send it.
fn ikev1_main_mode_first_message() -> Vec<u8> {
    // Transform attributes (RFC 2409 appendix A), each a basic (TV) attribute.
    let attributes: [(u16, u16); 6] = [
        (1, 7),    // encryption algorithm: AES-CBC
        (14, 128), // key length
        (2, 2),    // hash algorithm: SHA
        (3, 1),    // authentication method: pre-shared key
        (4, 2),    // group description: 1024-bit MODP
        (11, 1),   // life type: seconds
    ];
    let mut transform = vec![0, 0, 0, 0, 1, 1, 0, 0]; // last, length, #1, KEY_IKE
    for (kind, value) in attributes {
        transform.extend_from_slice(&(0x8000 | kind).to_be_bytes());
        transform.extend_from_slice(&value.to_be_bytes());
    }
    let len = transform.len() as u16;
    transform[2..4].copy_from_slice(&len.to_be_bytes());
    // Proposal #1, PROTO_ISAKMP, no SPI, one transform.
    let mut proposal = vec![0, 0, 0, 0, 1, 1, 0, 1];
    proposal.extend_from_slice(&transform);
    let len = proposal.len() as u16;
    proposal[2..4].copy_from_slice(&len.to_be_bytes());
    // SA payload: DOI IPsec (1), situation SIT_IDENTITY_ONLY (1).
    let mut sa = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    sa.extend_from_slice(&proposal);
    let len = sa.len() as u16;
    sa[2..4].copy_from_slice(&len.to_be_bytes());
    // Header: initiator cookie, zero responder cookie, next payload SA (1), version 1.0,
    // exchange Identity Protection (2), no flags, message ID 0.
    let mut message = vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    message.extend_from_slice(&[0; 8]);
    message.extend_from_slice(&[1, 0x10, 2, 0, 0, 0, 0, 0]);
    let len = (28 + sa.len()) as u32;
    message.extend_from_slice(&len.to_be_bytes());
    message.extend_from_slice(&sa);
    message
}

#[test]
fn an_ikev1_main_mode_for_an_ikev2_connection_is_refused_with_no_state() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let message = ikev1_main_mode_first_message();
    let engine = &mut pair.b.engine;
    let before = engine.stats();
    for _ in 0..3 {
        // A peer retransmits when nothing answers.
        engine.handle_datagram(now, addr(B_ADDR, 500), addr(A_ADDR, 500), &message);
    }
    let after = engine.stats();
    assert_eq!(
        (
            after.dropped_malformed,
            after.dropped_unknown_sa,
            after.dropped_unexpected
        ),
        (
            before.dropped_malformed,
            before.dropped_unknown_sa,
            before.dropped_unexpected
        ),
        "a well-formed message, refused"
    );
    assert_eq!(engine.sas().count(), 0, "no IKE SA created");
    // Each is answered with an unencrypted NO-PROPOSAL-CHOSEN (RFC 2408 5.5).
    for _ in 0..3 {
        let answer = engine.poll_transmit().expect("an answer");
        let parsed = ikehub::wire::ikev1::parse_message(&answer.payload).expect("IKEv1");
        assert_eq!(
            parsed.header.exchange,
            ikehub::wire::ikev1::ExchangeType::Informational
        );
        assert!(parsed.chain.payloads().any(|p| matches!(p,
            ikehub::wire::ikev1::Payload::Notification(n)
                if n.notify == ikehub::wire::ikev1::NotifyType::NoProposalChosen)));
    }
    // Reported to the peer's connection, saying why.
    let conn = engine.connection_id(&format!("to-{A_ADDR}"));
    match engine.poll_event() {
        Some(Event::Refused {
            conn: reported,
            failure,
            ..
        }) => {
            assert_eq!(reported, conn);
            assert_eq!(
                failure.to_string(),
                format!(
                    "Main Mode (message ID 0, peer {A_ADDR}:500): refused with \
                     NO_PROPOSAL_CHOSEN: the peer at {A_ADDR} speaks \
                     IKEv1; connection \"to-{A_ADDR}\" is ikev2"
                )
            );
        }
        other => panic!("expected the refusal reported, got {other:?}"),
    }
    assert!(engine.poll_kernel().is_none(), "no kernel intent");
    assert!(engine.poll_timeout().is_none(), "no timer armed");
}

/// The engine's driver contract: kernel intents are drained before transmits. It holds only
/// if the install of our inbound SA is queued by the very input that queues the response
/// letting the peer send on it; this checks that for the responder's IKE_AUTH.
#[test]
fn the_inbound_sa_is_queued_with_the_response_that_lets_the_peer_use_it() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let (a, b) = (&mut pair.a.engine, &mut pair.b.engine);
    let (a_addr, b_addr) = (addr(A_ADDR, 500), addr(B_ADDR, 500));
    a.start(now);
    // IKE_SA_INIT request and response, then the IKE_AUTH request, by hand.
    let init = a.poll_transmit().expect("IKE_SA_INIT request");
    b.handle_datagram(now, b_addr, a_addr, &init.payload);
    assert!(
        b.poll_kernel().is_none(),
        "nothing to install after IKE_SA_INIT"
    );
    let init_response = b.poll_transmit().expect("IKE_SA_INIT response");
    a.handle_datagram(now, a_addr, b_addr, &init_response.payload);
    let auth = a.poll_transmit().expect("IKE_AUTH request");
    b.handle_datagram(now, b_addr, a_addr, &auth.payload);
    let Some(KernelIntent::InstallChild { child, .. }) = b.poll_kernel() else {
        panic!("the responder's CHILD_SA is not queued with its IKE_AUTH response");
    };
    let b_inbound = child.inbound.spi;
    let auth_response = b.poll_transmit().expect("IKE_AUTH response");
    a.handle_datagram(now, a_addr, b_addr, &auth_response.payload);
    let Some(KernelIntent::InstallChild { child, .. }) = a.poll_kernel() else {
        panic!("the initiator installs no CHILD_SA");
    };
    let a_outbound = child
        .outbound
        .as_ref()
        .expect("the initiator sends at once");
    assert_eq!(
        a_outbound.spi, b_inbound,
        "the SA the initiator sends on is the one queued with the response"
    );
}

/// A refused IKE_SA_INIT leaves the responder's connection a failure to show: the RFC name
/// and both proposal lists.
#[test]
fn a_refused_ike_sa_init_is_reported_by_the_responder() {
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.ike_proposals = vec![IkeProposal {
        encryption: vec![Encryption::AesCbc { key_bits: 256 }],
        integrity: vec![Integrity::HmacSha256_128],
        prf: vec![Prf::HmacSha256],
        dh: vec![DhGroup::Modp2048],
    }];
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![b]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    pair.drive_until(Duration::from_secs(2), |_| false);
    let conn = pair.b.engine.connection_id(&format!("to-{A_ADDR}"));
    let refused = pair.b.events.iter().find_map(|e| match e {
        Event::Refused {
            conn: reported,
            failure,
            ..
        } => Some((*reported, failure.to_string())),
        _ => None,
    });
    let (reported, text) = refused.expect("the responder reports the refusal");
    assert_eq!(reported, conn, "reported for the peer's connection");
    assert_eq!(
        text,
        format!(
            "IKE_SA_INIT (message ID 0, peer {A_ADDR}:500): refused with NO_PROPOSAL_CHOSEN: \
             no IKE proposal matches: ours aes256-sha256-prfsha256-modp2048; \
             offered aes128gcm16-prfsha256-ecp256"
        )
    );
    assert_eq!(pair.b.engine.sas().count(), 0, "no state kept");
}

/// A connection that accepts any peer address is not blamed for a stranger's IKEv1 datagram:
/// it is refused and logged, but no connection's last_error is set.
#[test]
fn an_ikev1_datagram_is_not_reported_to_a_connection_for_any_peer() {
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.remote_addr = None;
    let mut pair = Pair::new(
        EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
        EngineSettings::new(vec![b]),
    );
    let now = pair.now;
    let engine = &mut pair.b.engine;
    let message = ikev1_main_mode_first_message();
    engine.handle_datagram(now, addr(B_ADDR, 500), addr(A_ADDR, 500), &message);
    assert_eq!(engine.sas().count(), 0);
    while let Some(event) = engine.poll_event() {
        assert!(
            matches!(event, Event::Refused { conn: None, .. }),
            "no connection is blamed: {event:?}"
        );
    }
}
