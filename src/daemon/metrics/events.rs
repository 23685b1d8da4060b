//! What only the engine's events tell, counted as they pass through the loop: setups,
//! failures by reason, rekeys, DPD failures, setup durations and reloads. Everything else a
//! scrape shows comes from the status snapshot taken at scrape time.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::histogram::Histogram;

use crate::ike::{DownReason, Event, Failure, SaId};

use crate::daemon::status::last_error::failure_of;

/// Upper bounds of the setup duration histogram, in seconds: a LAN handshake takes
/// milliseconds, a lossy path seconds of retransmits, a dead peer gives up near a minute.
pub const SETUP_DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// One connection's event counters, kept under its name so that a reload that keeps the
/// connection keeps its counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConnectionEvents {
    /// IKE SAs established (not counting rekeys).
    pub setups: u64,
    pub ike_rekeys: u64,
    pub child_rekeys: u64,
    /// Established IKE SAs lost because the peer stopped answering.
    pub dpd_failures: u64,
    /// Failures as status records them (`last_error`), by reason label.
    pub failures: BTreeMap<String, u64>,
    /// Unix seconds of the last IKE SA establishment.
    pub last_established_unix: Option<u64>,
}

#[derive(Debug)]
pub struct EventMetrics {
    pub connections: BTreeMap<String, ConnectionEvents>,
    /// From the IKE SA's creation (our IKE_SA_INIT sent, or the peer's received) to its
    /// establishment.
    pub setup_duration: Histogram,
    pub reloads_succeeded: u64,
    pub reloads_failed: u64,
    /// IKE SAs that reached established: a peer that stops answering one of these failed
    /// its liveness check, not its setup.
    established: HashSet<SaId>,
}

impl Default for EventMetrics {
    fn default() -> EventMetrics {
        EventMetrics {
            connections: BTreeMap::new(),
            setup_duration: Histogram::new(SETUP_DURATION_BUCKETS),
            reloads_succeeded: 0,
            reloads_failed: 0,
            established: HashSet::new(),
        }
    }
}

impl EventMetrics {
    /// Count `event` of the connection called `name`. `setup` is how long an IKE SA that
    /// `event` reports established took, when the engine still knows its creation.
    pub fn on_event(
        &mut self,
        event: &Event,
        name: &str,
        setup: Option<Duration>,
        now: SystemTime,
    ) {
        if event.conn().is_none() {
            return;
        }
        let failed = failure_of(event).is_some();
        let entry = self.connections.entry(name.to_string()).or_default();
        if failed {
            if let Some(reason) = failure_reason(event) {
                *entry.failures.entry(reason).or_default() += 1;
            }
        }
        match event {
            Event::IkeUp { sa, .. } => {
                entry.setups += 1;
                entry.last_established_unix = now
                    .duration_since(UNIX_EPOCH)
                    .ok()
                    .map(|since| since.as_secs());
                self.established.insert(*sa);
                if let Some(took) = setup {
                    self.setup_duration.observe(took.as_secs_f64());
                }
            }
            Event::IkeRekeyed { old, new, .. } => {
                entry.ike_rekeys += 1;
                self.established.remove(old);
                self.established.insert(*new);
            }
            Event::IkeDown { sa, reason, .. } => {
                let was_established = self.established.remove(sa);
                if was_established && *reason == DownReason::PeerDead {
                    entry.dpd_failures += 1;
                }
            }
            Event::ChildDown {
                reason: DownReason::Rekeyed,
                ..
            } => entry.child_rekeys += 1,
            _ => {}
        }
    }

    /// A peer's DNS name could not be resolved: a failure of reason `dns`, as `last_error`
    /// records it.
    pub fn on_resolve_failure(&mut self, name: &str) {
        let entry = self.connections.entry(name.to_string()).or_default();
        *entry.failures.entry("dns".to_string()).or_default() += 1;
    }

    pub fn on_reload(&mut self, succeeded: bool) {
        if succeeded {
            self.reloads_succeeded += 1;
        } else {
            self.reloads_failed += 1;
        }
    }

    /// A reload removed these connections: their series go with them.
    pub fn forget(&mut self, removed: &[String]) {
        for name in removed {
            self.connections.remove(name);
        }
    }
}

/// The `reason` label of a failure: the RFC name of the error notify sent or received
/// (NO_PROPOSAL_CHOSEN, AUTHENTICATION_FAILED...), "timeout" when the peer stopped answering,
/// "kernel" when the kernel refused, "other" for a failure without a notify.
pub fn failure_reason(event: &Event) -> Option<String> {
    let of_failure = |failure: &Failure| {
        failure
            .notify
            .clone()
            .unwrap_or_else(|| "other".to_string())
    };
    match event {
        Event::IkeDown { reason, .. }
        | Event::ChildDown { reason, .. }
        | Event::ChildFailed { reason, .. } => match reason {
            DownReason::PeerDead => Some("timeout".to_string()),
            DownReason::AuthFailed(failure) | DownReason::NegotiationFailed(failure) => {
                Some(of_failure(failure))
            }
            DownReason::KernelError(_) => Some("kernel".to_string()),
            DownReason::Deleted
            | DownReason::DeletedByPeer
            | DownReason::Rekeyed
            | DownReason::Superseded => None,
        },
        Event::Refused {
            conn: Some(_),
            failure,
            ..
        } => Some(of_failure(failure)),
        Event::TrapFailed { .. } => Some("kernel".to_string()),
        Event::Refused { conn: None, .. }
        | Event::IkeUp { .. }
        | Event::ChildUp { .. }
        | Event::IkeRekeyed { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ike::ConnId;

    const AT: Duration = Duration::from_secs(1_796_644_202);

    fn up(sa: u32) -> Event {
        Event::IkeUp {
            conn: ConnId(0),
            sa: SaId(sa),
            remote: "192.0.2.2:500".parse().expect("address"),
        }
    }

    fn down(sa: u32, reason: DownReason) -> Event {
        Event::IkeDown {
            conn: ConnId(0),
            sa: SaId(sa),
            reason,
        }
    }

    #[test]
    fn a_dead_peer_is_a_dpd_failure_only_once_the_sa_was_established() {
        let mut metrics = EventMetrics::default();
        let now = UNIX_EPOCH + AT;
        // Never established: a setup that timed out.
        metrics.on_event(&down(1, DownReason::PeerDead), "c", None, now);
        metrics.on_event(&up(2), "c", Some(Duration::from_millis(20)), now);
        metrics.on_event(
            &Event::IkeRekeyed {
                conn: ConnId(0),
                old: SaId(2),
                new: SaId(3),
            },
            "c",
            None,
            now,
        );
        metrics.on_event(&down(2, DownReason::Rekeyed), "c", None, now);
        metrics.on_event(&down(3, DownReason::PeerDead), "c", None, now);
        let c = &metrics.connections["c"];
        assert_eq!(c.setups, 1);
        assert_eq!(c.ike_rekeys, 1);
        assert_eq!(c.dpd_failures, 1);
        assert_eq!(c.failures.get("timeout"), Some(&2));
        assert_eq!(
            c.failures.len(),
            1,
            "a rekey is no failure: {:?}",
            c.failures
        );
        assert_eq!(c.last_established_unix, Some(AT.as_secs()));
    }

    #[test]
    fn the_reason_is_the_notify_name_or_what_kind_of_failure() {
        let refused = Failure::refused("IKE_SA_INIT", "NO_PROPOSAL_CHOSEN", "no match");
        let by_peer = Failure::refused_by_peer("IKE_AUTH", "AUTHENTICATION_FAILED", "");
        let cases = [
            (
                Event::Refused {
                    conn: Some(ConnId(0)),
                    peer: "192.0.2.2:500".parse().expect("address"),
                    failure: refused,
                },
                Some("NO_PROPOSAL_CHOSEN"),
            ),
            (
                down(1, DownReason::AuthFailed(by_peer)),
                Some("AUTHENTICATION_FAILED"),
            ),
            (
                down(1, DownReason::NegotiationFailed(Failure::local("lifetime"))),
                Some("other"),
            ),
            (down(1, DownReason::PeerDead), Some("timeout")),
            (down(1, DownReason::DeletedByPeer), None),
        ];
        for (event, reason) in cases {
            assert_eq!(failure_reason(&event).as_deref(), reason, "{event:?}");
        }
    }

    #[test]
    fn a_peer_name_that_does_not_resolve_counts_as_dns() {
        let mut metrics = EventMetrics::default();
        metrics.on_resolve_failure("office");
        metrics.on_resolve_failure("office");
        let office = metrics.connections.get("office").expect("counted");
        assert_eq!(office.failures.get("dns"), Some(&2));
    }
}
