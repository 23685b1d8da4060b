//! Stopping a gateway that holds many IKE SAs with one peer, in memory: the deletes go out
//! paced (never more than the window unanswered), a peer whose receive buffer holds only a
//! few datagrams at once loses none of them, lost deletes are retransmitted within the
//! grace period, and nothing starts again meanwhile.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::shutdown::{self, WINDOW};
use ikehub::ike::{ConnectionSettings, DownReason, EngineSettings, Event};
use support::pair::{connection, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

/// Connection `n` of a spoke (A) or of the hub (B): A protects 10.(100+n/256).(n%256).0/24,
/// B 10.(n/256).(n%256).0/24, as tests/vm/hub-scale.sh does.
fn spoke(n: usize, local: &str, remote: &str, initiate: bool) -> ConnectionSettings {
    let mut c = connection(local, remote, initiate);
    let spoke_net = format!("10.{}.{}.0/24", 100 + n / 256, n % 256);
    let hub_net = format!("10.{}.{}.0/24", n / 256, n % 256);
    c.name = format!("s{n}");
    if local == A_ADDR {
        c.local_subnets = vec![spoke_net.parse().expect("net")];
        c.remote_subnets = vec![hub_net.parse().expect("net")];
    } else {
        c.local_subnets = vec![hub_net.parse().expect("net")];
        c.remote_subnets = vec![spoke_net.parse().expect("net")];
    }
    c
}

/// `n` tunnels from A (the spokes, initiating) to B (the hub), all established.
fn spokes_and_hub(n: usize) -> Pair {
    let a = (0..n).map(|i| spoke(i, A_ADDR, B_ADDR, true)).collect();
    let b = (0..n).map(|i| spoke(i, B_ADDR, A_ADDR, false)).collect();
    let mut pair = Pair::new(EngineSettings::new(a), EngineSettings::new(b));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(
        pair.drive_until(LIMIT, |p| p.a.kernel.sas.len() == 2 * n
            && p.b.kernel.sas.len() == 2 * n),
        "{n} tunnels up: A {} SAs, B {} SAs",
        pair.a.kernel.sas.len(),
        pair.b.kernel.sas.len()
    );
    pair
}

/// Both ends hold no IKE SA and no kernel SA.
fn all_gone(pair: &Pair) -> bool {
    pair.a.engine.sas().next().is_none()
        && pair.b.engine.sas().next().is_none()
        && pair.a.kernel.sas.is_empty()
        && pair.b.kernel.sas.is_empty()
}

fn deleted_by_peer(pair: &Pair) -> usize {
    pair.b
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::IkeDown {
                    reason: DownReason::DeletedByPeer,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn a_hundred_deletes_reach_a_peer_that_reads_forty_at_a_time() {
    const TUNNELS: usize = 100;
    let mut pair = spokes_and_hub(TUNNELS);
    // The hub's socket buffer takes 40 datagrams between two reads: a burst of 100 deletes
    // would lose 60 of them.
    pair.receive_buffer = Some(40);
    let began = pair.now;
    let grace = pair.a.engine.shutdown(began);
    assert_eq!(grace, shutdown::grace(TUNNELS));
    assert!(pair.a.engine.shutting_down());
    let mut most_unanswered = 0;
    let done = pair.drive_checked(grace, all_gone, |p| {
        if let Some((_, unanswered)) = p.a.engine.shutdown_progress() {
            most_unanswered = most_unanswered.max(unanswered);
        }
    });
    assert!(
        done,
        "A {} and B {} IKE SAs left after {:?}; {} datagrams overflowed",
        pair.a.engine.sas().count(),
        pair.b.engine.sas().count(),
        pair.elapsed(),
        pair.overflowed
    );
    assert_eq!(
        most_unanswered, WINDOW,
        "the window was filled, never passed"
    );
    assert_eq!(pair.overflowed, 0, "nothing overflowed the peer's buffer");
    assert_eq!(
        deleted_by_peer(&pair),
        TUNNELS,
        "every SA deleted with its peer"
    );
    assert_eq!(
        pair.a.engine.stats().retransmits,
        0,
        "none lost, none resent"
    );
}

#[test]
fn lost_deletes_are_retransmitted_within_the_grace_period() {
    const TUNNELS: usize = 60;
    let mut pair = spokes_and_hub(TUNNELS);
    pair.set_loss(10, 7);
    let began = pair.now;
    let grace = pair.a.engine.shutdown(began);
    // The hub took every delete in within the grace period, and removed the tunnels.
    let hub_done = |p: &Pair| p.b.engine.sas().next().is_none() && p.b.kernel.sas.is_empty();
    assert!(
        pair.drive_until(grace, hub_done),
        "B {} IKE SAs left after {:?}",
        pair.b.engine.sas().count(),
        pair.elapsed()
    );
    assert!(pair.now - began <= grace);
    assert_eq!(deleted_by_peer(&pair), TUNNELS);
    let stats = pair.a.engine.stats();
    assert!(
        stats.retransmits > 0,
        "losses were made good by retransmits"
    );
    // A response lost makes the spoke resend a delete the hub has already acted on: the
    // spoke gives that SA up when its retransmissions run out (the daemon stops at the end
    // of the grace period in any case).
    assert!(pair.drive_until(LIMIT, all_gone));
}

#[test]
fn the_first_retransmission_comes_well_inside_the_shortest_grace() {
    let mut pair = spokes_and_hub(1);
    pair.cut = true;
    let began = pair.now;
    let grace = pair.a.engine.shutdown(began);
    assert_eq!(grace, shutdown::GRACE_MIN + shutdown::GRACE_PER_SA);
    // A cut link: the delete goes at 0, 1, 3 s... (4 s, then 11.2 s, normally).
    assert!(pair.drive_until(LIMIT, |p| p.a.engine.stats().retransmits >= 2));
    assert!(
        pair.now - began <= Duration::from_millis(3100) && pair.now - began < grace,
        "second retransmission at {:?}",
        pair.now - began
    );
}

#[test]
fn nothing_starts_again_while_stopping() {
    // The spokes initiate with close_action = restart; their peer is gone. Their deletes go
    // unanswered, the SAs end as dead peers, and still no connection is initiated again.
    const TUNNELS: usize = 40;
    let mut pair = spokes_and_hub(TUNNELS);
    pair.cut = true;
    let began = pair.now;
    pair.a.engine.shutdown(began);
    let mut most_unanswered = 0;
    assert!(pair.drive_checked(
        LIMIT,
        |p| p.a.engine.sas().next().is_none(),
        |p| {
            if let Some((_, unanswered)) = p.a.engine.shutdown_progress() {
                most_unanswered = most_unanswered.max(unanswered);
            }
        }
    ));
    assert!(most_unanswered <= WINDOW);
    let a_ups = pair.a.ike_up();
    // Long past every restart delay (at most 60 s): no IKE_SA_INIT, no SA.
    pair.cut = false;
    let quiet = pair.now + Duration::from_secs(300);
    assert!(!pair.drive_until(Duration::from_secs(300), |p| p
        .a
        .engine
        .sas()
        .next()
        .is_some()));
    assert!(pair.now >= quiet || pair.a.engine.poll_timeout().is_none());
    assert_eq!(pair.a.ike_up(), a_ups);
    // A peer that initiates to a stopping gateway is not answered.
    let b_conn = pair.b.engine.connection_id("s0").expect("connection");
    let now = pair.now;
    pair.b.engine.up(now, b_conn).expect("B initiates");
    let _ = pair.drive_until(Duration::from_secs(5), |p| {
        p.a.engine.sas().next().is_some()
    });
    assert!(pair.a.engine.sas().next().is_none(), "A took a new IKE SA");
    assert!(pair.a.engine.stats().dropped_unexpected >= 1);
}
