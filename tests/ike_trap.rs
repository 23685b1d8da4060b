//! Trap policies (`start_action = "trap"`) with two engines in memory: the trap is installed
//! at start, the kernel's ACQUIRE initiates once, the CHILD_SA takes the trap's reqid, and
//! the policies outlive the IKE SA.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::{ConnId, EngineSettings, KernelEvent, KernelIntent, TrapPolicies};
use support::pair::{connection, ip, Pair, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

/// A with a trap connection to B, B listening.
fn trap_pair() -> (Pair, ConnId) {
    let mut a = connection(A_ADDR, B_ADDR, false);
    a.trap = true;
    let pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let conn = pair
        .a
        .engine
        .connection_id(&format!("to-{B_ADDR}"))
        .expect("connection");
    (pair, conn)
}

fn traps_installed(log: &[KernelIntent]) -> Vec<&TrapPolicies> {
    log.iter()
        .filter_map(|intent| match intent {
            KernelIntent::InstallTrap { trap, .. } => Some(&**trap),
            _ => None,
        })
        .collect()
}

/// The reqid of A's `out` policy 10.1.0.0/16 -> 10.2.0.0/16, if there is one.
fn out_policy(pair: &Pair) -> Option<u32> {
    let key = (
        "10.1.0.0/16".parse().expect("net"),
        "10.2.0.0/16".parse().expect("net"),
    );
    pair.a.kernel.policies.get(&key).copied()
}

/// Starts the pair and returns the trap's reqid, checking that nothing else happened.
fn start_trapped(pair: &mut Pair, conn: ConnId) -> u32 {
    let now = pair.now;
    pair.a.engine.start(now);
    pair.b.engine.start(now);
    while pair.step() {}
    let traps = traps_installed(&pair.a.kernel.log);
    assert_eq!(traps.len(), 1, "{:?}", pair.a.kernel.log);
    let trap = traps[0];
    assert_eq!(trap.conn, conn);
    assert_eq!((trap.local, trap.remote), (ip(A_ADDR), ip(B_ADDR)));
    assert_eq!(trap.local_selectors, vec!["10.1.0.0/16".parse().unwrap()]);
    assert_eq!(trap.remote_selectors, vec!["10.2.0.0/16".parse().unwrap()]);
    let reqid = trap.reqid;
    assert!(reqid >= ikehub::ike::REQID_BASE);
    // Policies without SAs, and no IKE traffic until a packet asks for it.
    assert_eq!(out_policy(pair), Some(reqid));
    assert!(pair.a.kernel.sas.is_empty());
    assert!(pair.delivered.is_empty());
    assert_eq!(pair.a.engine.sas().count(), 0);
    assert!(pair.a.engine.trapped(conn));
    // B listens: no trap of its own.
    assert!(traps_installed(&pair.b.kernel.log).is_empty());
    reqid
}

/// The kernel reports a packet that met A's policies of `reqid` without an SA.
fn acquire(pair: &mut Pair, reqid: u32) {
    let now = pair.now;
    pair.a
        .engine
        .handle_kernel_event(now, KernelEvent::Acquire { reqid });
}

fn child_installs(log: &[KernelIntent]) -> Vec<u32> {
    log.iter()
        .filter_map(|intent| match intent {
            KernelIntent::InstallChild { child, .. } => Some(child.reqid),
            _ => None,
        })
        .collect()
}

#[test]
fn acquire_initiates_once_and_the_child_takes_the_traps_reqid() {
    let (mut pair, conn) = trap_pair();
    let reqid = start_trapped(&mut pair, conn);
    // An ACQUIRE for another reqid is no trap's.
    acquire(&mut pair, reqid + 7);
    assert_eq!(pair.a.engine.sas().count(), 0);
    // The first packet: one IKE SA; the kernel asks again for the packets that follow.
    acquire(&mut pair, reqid);
    acquire(&mut pair, reqid);
    assert_eq!(pair.a.engine.sas().count(), 1);
    // And again while IKE_SA_INIT is answered, before IKE_AUTH completes.
    assert!(pair.drive_until(LIMIT, |p| p.delivered.len() == 2));
    acquire(&mut pair, reqid);
    assert_eq!(pair.a.engine.sas().count(), 1);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // One IKE_SA_INIT and one IKE_AUTH exchange, nothing more.
    assert_eq!(pair.delivered.len(), 4);
    assert_eq!((pair.a.ike_up(), pair.b.ike_up()), (1, 1));
    // The CHILD_SA carries the trap's reqid, so the kernel's policies are the trap's.
    assert_eq!(child_installs(&pair.a.kernel.log), vec![reqid]);
    assert_eq!(out_policy(&pair), Some(reqid));
    // An ACQUIRE with the CHILD_SA up starts nothing.
    acquire(&mut pair, reqid);
    assert_eq!(pair.a.engine.sas().count(), 1);
}

#[test]
fn the_policies_stay_when_the_peer_deletes_and_the_next_packet_brings_it_back() {
    let (mut pair, conn) = trap_pair();
    let reqid = start_trapped(&mut pair, conn);
    acquire(&mut pair, reqid);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // B brings the tunnel down.
    let b_conn = pair
        .b
        .engine
        .connection_id(&format!("to-{A_ADDR}"))
        .expect("connection");
    let now = pair.now;
    pair.b.engine.terminate(now, b_conn);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_down().len() == 1
        && p.b.ike_down().len() == 1));
    // A's SAs are gone, its policies are not: they never left the kernel.
    assert!(pair.a.kernel.sas.is_empty());
    assert_eq!(out_policy(&pair), Some(reqid));
    let deletes: Vec<bool> = pair
        .a
        .kernel
        .log
        .iter()
        .filter_map(|intent| match intent {
            KernelIntent::DeleteChild {
                remove_policies, ..
            } => Some(*remove_policies),
            _ => None,
        })
        .collect();
    assert_eq!(deletes, vec![false]);
    assert!(!pair
        .a
        .kernel
        .log
        .iter()
        .any(|intent| matches!(intent, KernelIntent::RemoveTrap { .. })));
    assert!(pair.a.engine.trapped(conn));
    assert_eq!(pair.a.engine.sas().count(), 0);
    // No reconnect of its own: a trap waits for traffic.
    while pair.step() {}
    assert_eq!(pair.a.ike_up(), 1);
    // The next packet brings it up again, with the same reqid.
    acquire(&mut pair, reqid);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_up() == 2 && p.a.kernel.sas.len() == 2));
    assert_eq!(child_installs(&pair.a.kernel.log), vec![reqid, reqid]);
    assert_eq!(out_policy(&pair), Some(reqid));
}

#[test]
fn the_policies_stay_when_we_delete_and_when_the_negotiation_fails() {
    let (mut pair, conn) = trap_pair();
    let reqid = start_trapped(&mut pair, conn);
    acquire(&mut pair, reqid);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // `ikehub down` on A: the tunnel goes, the trap stays.
    let now = pair.now;
    pair.a.engine.terminate(now, conn);
    assert!(pair.drive_until(LIMIT, |p| p.a.ike_down().len() == 1));
    assert!(pair.a.kernel.sas.is_empty());
    assert_eq!(out_policy(&pair), Some(reqid));
    assert!(pair.a.engine.trapped(conn));
    // A negotiation that fails (the link is cut) leaves the trap as it was.
    pair.cut = true;
    acquire(&mut pair, reqid);
    assert!(pair.drive_until(Duration::from_secs(600), |p| p.a.ike_down().len() == 2));
    assert_eq!(pair.a.engine.sas().count(), 0);
    assert_eq!(out_policy(&pair), Some(reqid));
    assert!(pair.a.engine.trapped(conn));
}

#[test]
fn a_reload_that_removes_the_connection_removes_its_trap() {
    let (mut pair, conn) = trap_pair();
    let reqid = start_trapped(&mut pair, conn);
    let now = pair.now;
    pair.a.engine.reload(now, EngineSettings::new(Vec::new()));
    while pair.step() {}
    assert!(pair.a.kernel.log.iter().any(
        |intent| matches!(intent, KernelIntent::RemoveTrap { trap, .. } if trap.reqid == reqid)
    ));
    assert_eq!(out_policy(&pair), None);
    // An ACQUIRE that was under way finds no trap.
    acquire(&mut pair, reqid);
    assert_eq!(pair.a.engine.sas().count(), 0);
}

#[test]
fn a_reload_that_adds_a_trap_connection_installs_its_trap() {
    let mut a = connection(A_ADDR, B_ADDR, false);
    let mut pair = Pair::new(
        EngineSettings::new(vec![a.clone()]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let now = pair.now;
    pair.a.engine.start(now);
    while pair.step() {}
    assert!(traps_installed(&pair.a.kernel.log).is_empty());
    a.trap = true;
    let now = pair.now;
    let report = pair.a.engine.reload(now, EngineSettings::new(vec![a]));
    assert_eq!(report.changed, vec![format!("to-{B_ADDR}")]);
    while pair.step() {}
    let traps = traps_installed(&pair.a.kernel.log);
    assert_eq!(traps.len(), 1);
    assert_eq!(out_policy(&pair), Some(traps[0].reqid));
}

#[test]
fn a_refused_trap_is_reported_and_not_shown_as_trapped() {
    let (mut pair, conn) = trap_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    let Some(KernelIntent::InstallTrap { id, .. }) = pair.a.engine.poll_kernel() else {
        panic!("no trap intent");
    };
    pair.a.engine.handle_kernel_result(
        now,
        id,
        Err(ikehub::ike::KernelFailure {
            errno: Some(22),
            message: "add policy out 10.1.0.0/16->10.2.0.0/16: Invalid argument".into(),
        }),
    );
    assert!(!pair.a.engine.trapped(conn));
    let event = pair.a.engine.poll_event();
    assert!(
        matches!(&event, Some(ikehub::ike::Event::TrapFailed { conn: c, failure }) if *c == conn && failure.message.contains("Invalid argument")),
        "{event:?}"
    );
}
