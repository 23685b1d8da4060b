//! What `ikehub status` reports for two engines driven against each other in memory: the
//! daemon's snapshot of each engine, with the failures the daemon records from its events.
//! A connection is `established` only with a CHILD_SA in its kernel, and a refused CHILD_SA
//! shows as `no-child-sa` with the refusal and its time.

mod support {
    pub mod pair;
}

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ikehub::daemon::status::last_error::{LastErrors, Timestamp};
use ikehub::daemon::status::{self, ConnectionState, ConnectionStatus, Counters, DaemonFacts};
use ikehub::ike::EngineSettings;
use support::pair::{connection, Pair, Side, A_ADDR, B_ADDR};

const LIMIT: Duration = Duration::from_secs(120);

/// The wall clock when the pair starts: 2026-12-07T11:50:00Z.
const WALL_START_UNIX: u64 = 1_796_644_200;

/// One side as its daemon sees it: the failures of the engine's events, each recorded at the
/// virtual time it was reported, on a wall clock that starts at `WALL_START_UNIX`.
struct Daemon {
    errors: LastErrors,
    events_seen: usize,
}

impl Daemon {
    fn new() -> Daemon {
        Daemon {
            errors: LastErrors::default(),
            events_seen: 0,
        }
    }

    fn follow(&mut self, side: &Side, pair_start: Instant, now: Instant) {
        let at = Timestamp {
            wall: UNIX_EPOCH
                + Duration::from_secs(WALL_START_UNIX)
                + now.saturating_duration_since(pair_start),
            monotonic: now,
        };
        for event in side.events.iter().skip(self.events_seen) {
            self.errors.record_event(event, at);
        }
        self.events_seen = side.events.len();
    }

    /// The side's one connection, as `ikehub status` shows it at `now`.
    fn status(&self, side: &Side, now: Instant) -> ConnectionStatus {
        let mut connections = self.snapshot(side, now).connections;
        assert_eq!(connections.len(), 1);
        connections.remove(0)
    }

    /// The side's status at `now`, without kernel counters.
    fn snapshot(&self, side: &Side, now: Instant) -> status::StatusSnapshot {
        let facts = DaemonFacts {
            started: now,
            dataplane: "recording",
            socket_counters: Counters::default(),
            last_errors: &self.errors,
        };
        status::collect(&side.engine, now, &facts, status::Scope::All).snapshot
    }
}

/// Status as it would be read at any moment: `established` only with a CHILD_SA.
fn assert_established_only_with_a_child(side: &Side, daemon: &Daemon, now: Instant) {
    let conn = daemon.status(side, now);
    if conn.state == ConnectionState::Established {
        let sa = conn
            .ike_sas
            .first()
            .expect("an established connection has an IKE SA");
        assert_eq!(sa.state, ConnectionState::Established);
        assert!(
            !sa.children.is_empty(),
            "established without a CHILD_SA: {conn:?}"
        );
    }
}

/// Drive the pair until `done` or `limit` of virtual time, following both sides' events and
/// checking status after every step.
fn drive(
    pair: &mut Pair,
    daemons: &mut [Daemon; 2],
    limit: Duration,
    done: impl FnMut(&Pair) -> bool,
) -> bool {
    let start = pair.start;
    pair.drive_checked(limit, done, |p| {
        let [a, b] = &mut *daemons;
        a.follow(&p.a, start, p.now);
        b.follow(&p.b, start, p.now);
        assert_established_only_with_a_child(&p.a, a, p.now);
        assert_established_only_with_a_child(&p.b, b, p.now);
    })
}

#[test]
fn a_refused_child_sa_is_not_reported_established_on_either_end() {
    // A asks for 10.1.0.0/16 <=> 172.16.0.0/12; B offers only 10.2.0.0/16: TS_UNACCEPTABLE.
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.remote_subnets = vec!["172.16.0.0/12".parse().expect("net")];
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let mut daemons = [Daemon::new(), Daemon::new()];
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(drive(&mut pair, &mut daemons, LIMIT, |p| p.a.ike_up() == 1
        && p.b.ike_up() == 1));
    let refused_at = pair.now;
    // A while later, nothing has changed: the IKE SA stays up without a CHILD_SA.
    let later = pair.now + Duration::from_secs(60);
    drive(&mut pair, &mut daemons, LIMIT, |p| p.now >= later);
    assert!(pair.a.kernel.sas.is_empty() && pair.b.kernel.sas.is_empty());

    let now = pair.now;
    for (name, side, daemon, refusal) in [
        (
            "initiator",
            &pair.a,
            &daemons[0],
            "IKE_AUTH (message ID 1, peer 192.0.2.2:500): the peer refused with TS_UNACCEPTABLE",
        ),
        (
            "responder",
            &pair.b,
            &daemons[1],
            "IKE_AUTH (message ID 1, peer 192.0.2.1:500): refused with TS_UNACCEPTABLE",
        ),
    ] {
        let conn = daemon.status(side, now);
        assert_eq!(conn.state, ConnectionState::NoChildSa, "{name}: {conn:?}");
        assert_eq!(conn.ike_sas.len(), 1, "{name}");
        assert_eq!(conn.ike_sas[0].state, ConnectionState::NoChildSa, "{name}");
        assert!(conn.ike_sas[0].children.is_empty(), "{name}");
        let error = conn.last_error.as_deref().unwrap_or_default();
        assert!(error.contains(refusal), "{name}: {error}");
        // Recorded when the refusal was reported, within the handshake's first second.
        let age = conn.last_error_s.expect("the failure's age");
        let since_refusal = now.duration_since(refused_at).as_secs();
        assert!(
            (since_refusal..=since_refusal + 1).contains(&age),
            "{name}: {age} s, refused {since_refusal} s ago"
        );
        assert_eq!(
            conn.last_error_at.as_deref(),
            Some("2026-12-07T11:50:00Z"),
            "{name}"
        );

        // Neither form of the snapshot says "established" anywhere for it.
        let snapshot = status::StatusSnapshot {
            schema: status::STATUS_SCHEMA,
            daemon: status::DaemonStatus {
                uptime_s: 0,
                dataplane: "recording".into(),
                counters: Counters::default(),
                certificate: None,
            },
            connections: vec![conn],
        };
        let json = String::from_utf8(status::to_json(&snapshot).expect("json")).expect("utf-8");
        assert!(json.contains("\"state\": \"no-child-sa\""), "{json}");
        assert!(!json.contains("established\""), "{name}: {json}");
        let text = status::render(&snapshot);
        assert!(!text.contains("established"), "{name}: {text}");
        assert!(
            text.contains(
                "last error (2026-12-07T11:50:00Z, 1m0s ago): negotiation failed: IKE_AUTH"
            ) && text.contains("TS_UNACCEPTABLE"),
            "{name}: {text}"
        );
    }
}

#[test]
fn matching_selectors_are_reported_established_on_both_ends() {
    let mut pair = Pair::default_pair();
    let mut daemons = [Daemon::new(), Daemon::new()];
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(drive(&mut pair, &mut daemons, LIMIT, Pair::established));
    let now = pair.now;
    for (side, daemon) in [(&pair.a, &daemons[0]), (&pair.b, &daemons[1])] {
        let conn = daemon.status(side, now);
        assert_eq!(conn.state, ConnectionState::Established, "{conn:?}");
        let child = &conn.ike_sas[0].children[0];
        assert!(side.kernel.sas.contains_key(&(side.addr, child.spi_in.0)));
        assert_eq!(
            (conn.last_error, conn.last_error_at, conn.last_error_s),
            (None, None, None)
        );
    }
}

/// Once the tunnel comes back, the failure before it is no longer the last error: it moves to
/// `previous_error`, dated before the tunnel came up, so status tells the cause of the last
/// outage from a current one.
#[test]
fn a_failure_before_the_tunnel_came_up_becomes_the_previous_error() {
    let mut pair = Pair::default_pair();
    let mut daemons = [Daemon::new(), Daemon::new()];
    // The first attempt finds the link cut and gives up; the retry gets through.
    pair.cut = true;
    let now = pair.now;
    pair.a.engine.start(now);
    let give_up = Duration::from_secs(600);
    assert!(drive(&mut pair, &mut daemons, give_up, |p| !p
        .a
        .ike_down()
        .is_empty()));
    let failed = daemons[0].status(&pair.a, pair.now);
    let failure = failed
        .last_error
        .clone()
        .expect("the failure is the last error");
    assert_eq!(failed.previous_error, None);
    pair.cut = false;
    assert!(drive(&mut pair, &mut daemons, LIMIT, Pair::established));
    let later = pair.now + Duration::from_secs(30);
    drive(&mut pair, &mut daemons, LIMIT, |p| p.now >= later);

    let conn = daemons[0].status(&pair.a, pair.now);
    assert_eq!(conn.state, ConnectionState::Established);
    assert_eq!(
        (&conn.last_error, &conn.last_error_at, &conn.last_error_s),
        (&None, &None, &None),
        "cleared by the success"
    );
    assert_eq!(conn.previous_error.as_deref(), Some(failure.as_str()));
    let failed_s = conn.previous_error_s.expect("the failure's age");
    let child_s = conn.ike_sas[0].children[0].established_s;
    // Ages are whole seconds, and the retry may come less than one after the failure.
    assert!(
        failed_s >= child_s && failed_s <= child_s + 1,
        "failed {failed_s} s ago, up {child_s} s"
    );
    let at = conn.previous_error_at.expect("its time");
    let wall_now = SystemTime::UNIX_EPOCH
        + Duration::from_secs(WALL_START_UNIX)
        + pair.now.duration_since(pair.start);
    assert!(
        at.starts_with("2026-12-07T")
            && at.as_str() < status::last_error::rfc3339_utc(wall_now).as_str(),
        "{at}"
    );
}

/// A peer's identity reaches logs, `status` and its JSON escaped: a newline or an ANSI escape
/// in it cannot forge a log line or recolour a terminal.
#[test]
fn a_peer_identity_with_control_characters_is_shown_escaped() {
    let forged = "gw.example\n2026-12-07T11:50:00Z  INFO forged line \x1b[31mred";
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.local_id = ikehub::ike::IkeIdentity {
        kind: ikehub::ike::IdentityKind::Fqdn,
        data: forged.as_bytes().to_vec(),
    };
    // B expects A's address as its identity: the forged FQDN is refused, and the refusal
    // names it.
    let mut pair = Pair::new(
        EngineSettings::new(vec![a]),
        EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
    );
    let mut daemons = [Daemon::new(), Daemon::new()];
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(drive(&mut pair, &mut daemons, LIMIT, |p| !p
        .a
        .ike_down()
        .is_empty()));
    let escaped = "gw.example\\n2026-12-07T11:50:00Z  INFO forged line \\u{1b}[31mred";
    let conn = daemons[1].status(&pair.b, pair.now);
    let error = conn.last_error.clone().unwrap_or_default();
    assert!(error.contains(escaped), "{error:?}");
    assert!(!error.chars().any(char::is_control), "{error:?}");
    // The same text in the text status and in JSON, with no raw control character.
    let facts = DaemonFacts {
        started: pair.now,
        dataplane: "recording",
        socket_counters: Counters::default(),
        last_errors: &daemons[1].errors,
    };
    let snapshot = status::collect(&pair.b.engine, pair.now, &facts, status::Scope::All).snapshot;
    let text = status::render(&snapshot);
    assert!(text.contains(escaped), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    assert!(
        !text.contains("\n2026-12-07T11:50:00Z  INFO forged"),
        "{text}"
    );
    let json = String::from_utf8(status::to_json(&snapshot).expect("json")).expect("utf-8");
    assert!(
        !json.contains('\x1b') && !json.contains("\\u001b"),
        "{json}"
    );
    assert!(json.contains("\\\\n2026-12-07T11:50:00Z"), "{json}");
}

/// The one CHILD_SA of a side's connection, as status shows it at `now`.
fn only_child(side: &Side, now: Instant) -> (status::IkeSaStatus, status::ChildSaStatus) {
    let conn = Daemon::new().status(side, now);
    assert_eq!(conn.ike_sas.len(), 1, "{conn:?}");
    let sa = conn.ike_sas[0].clone();
    assert_eq!(sa.children.len(), 1, "{sa:?}");
    let child = sa.children[0].clone();
    (sa, child)
}

/// Seconds until the child ends, counted from its install: its age plus `expires_in_s`
/// (both rounded down, so one less at times).
fn hard_lifetime_shown(child: &status::ChildSaStatus) -> u64 {
    child.established_s + child.expires_in_s.expect("expires_in_s")
}

/// Each IKE SA shows both identities and PSK; each CHILD_SA its mode, its PFS group (none
/// for IKE_AUTH's, the group of the rekey's key exchange after it) and when it expires: the
/// child lifetime plus 10%, counting down.
#[test]
fn identities_pfs_and_expiry_are_shown_for_an_ikev2_tunnel() {
    let mut a = connection(A_ADDR, B_ADDR, true);
    a.esp_proposals[0].dh = vec![ikehub::algorithm::DhGroup::Curve25519];
    a.local_id = ikehub::ike::IkeIdentity {
        kind: ikehub::ike::IdentityKind::Fqdn,
        data: b"a.example.org".to_vec(),
    };
    let mut b = connection(B_ADDR, A_ADDR, false);
    b.esp_proposals[0].dh = vec![ikehub::algorithm::DhGroup::Curve25519];
    b.remote_id = Some(a.local_id.clone());
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));

    for (side, local_id, remote_id) in [
        (&pair.a, "a.example.org", B_ADDR),
        (&pair.b, B_ADDR, "a.example.org"),
    ] {
        let (sa, child) = only_child(side, pair.now);
        assert_eq!(sa.local_id.as_deref(), Some(local_id));
        assert_eq!(sa.remote_id.as_deref(), Some(remote_id));
        assert_eq!(sa.auth.as_deref(), Some("psk"));
        assert_eq!(child.mode.as_deref(), Some("tunnel"));
        assert_eq!(
            child.pfs_group, None,
            "IKE_AUTH's CHILD_SA has no key exchange"
        );
        // child_lifetime 3600 s + 10%.
        assert!(
            (3959..=3960).contains(&hard_lifetime_shown(&child)),
            "{child:?}"
        );
        let rekey_in_s = child.rekey_in_s.expect("rekey scheduled");
        assert!(
            rekey_in_s < child.expires_in_s.expect("expires"),
            "{child:?}"
        );
    }

    // Later, the same end, closer.
    let later = pair.now + Duration::from_secs(100);
    assert!(pair.drive_until(LIMIT, |p| p.now >= later));
    let (_, child) = only_child(&pair.a, pair.now);
    assert!(child.established_s >= 100, "{child:?}");
    assert!(
        (3959..=3960).contains(&hard_lifetime_shown(&child)),
        "{child:?}"
    );
    assert!(child.expires_in_s.expect("expires") <= 3860, "{child:?}");

    // A rekey with a key exchange of the proposals' group: its CHILD_SA shows the group.
    let old_spi = child.spi_in;
    let (now, id) = (pair.now, pair.a.engine.connection_ids().next().expect("id"));
    pair.a.engine.rekey_children(now, id);
    let replaced = |side: &Side| {
        let spis: Vec<u32> = side
            .engine
            .sas()
            .flat_map(|sa| sa.children.iter().map(|c| c.inbound_spi))
            .collect();
        spis.len() == 1 && !spis.contains(&old_spi.0)
    };
    assert!(pair.drive_until(LIMIT, |p| replaced(&p.a)
        && p.b.engine.sas().all(|sa| sa.children.len() == 1)));
    for side in [&pair.a, &pair.b] {
        let (_, child) = only_child(side, pair.now);
        assert_eq!(child.pfs_group.as_deref(), Some("curve25519"), "{child:?}");
        assert!(
            (3959..=3960).contains(&hard_lifetime_shown(&child)),
            "{child:?}"
        );
        let text = status::render(&Daemon::new().snapshot(side, pair.now));
        assert!(text.contains(", PFS curve25519, established "), "{text}");
        assert!(!text.contains("curve25519-"), "the group only once: {text}");
    }
}

/// IKEv1: a pair ends at the lifetime both ends agreed on when that comes before the
/// kernel's hard lifetime (child_lifetime + 10%).
#[test]
fn an_ikev1_pair_expires_at_the_earlier_of_the_agreed_and_the_hard_lifetime() {
    use ikehub::algorithm::{DhGroup, Encryption, Integrity, Prf};
    let v1 = |mut c: ikehub::ike::ConnectionSettings, child_lifetime_s: u64| {
        c.version = ikehub::ike::IkeVersion::V1;
        c.ike_proposals = vec![ikehub::ike::IkeProposal {
            encryption: vec![Encryption::AesCbc { key_bits: 128 }],
            integrity: vec![Integrity::HmacSha256_128],
            prf: vec![Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256],
        }];
        c.esp_proposals = vec![ikehub::ike::EspProposal {
            encryption: vec![Encryption::AesCbc { key_bits: 128 }],
            integrity: vec![Integrity::HmacSha256_128],
            dh: vec![],
            esn: false,
        }];
        c.child_lifetime = Duration::from_secs(child_lifetime_s);
        c
    };
    // A proposes its 3600 s; B's own is 600 s.
    let a = v1(connection(A_ADDR, B_ADDR, true), 3600);
    let b = v1(connection(B_ADDR, A_ADDR, false), 600);
    let mut pair = Pair::new(EngineSettings::new(vec![a]), EngineSettings::new(vec![b]));
    let now = pair.now;
    pair.a.engine.start(now);
    pair.b.engine.start(now);
    assert!(pair.drive_until(LIMIT, Pair::established));
    // A: the agreed 3600 s, before its kernel's 3960 s.
    let (sa, child) = only_child(&pair.a, pair.now);
    assert_eq!((sa.version, sa.auth.as_deref()), (1, Some("psk")));
    assert_eq!(sa.remote_id.as_deref(), Some(B_ADDR));
    assert!(
        (3599..=3600).contains(&hard_lifetime_shown(&child)),
        "{child:?}"
    );
    // B: its kernel's 660 s, before the agreed 3600 s.
    let (_, child) = only_child(&pair.b, pair.now);
    assert!(
        (659..=660).contains(&hard_lifetime_shown(&child)),
        "{child:?}"
    );
    assert_eq!(child.mode.as_deref(), Some("tunnel"));
    assert_eq!(child.pfs_group, None);
}
