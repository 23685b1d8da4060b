//! Stopping the gateway: every IKE SA is deleted with its peer (RFC 7296 1.4.1), paced and
//! retransmitted, so that a peer holding many of our SAs (a hub) takes all the deletes in.
//!
//! A thousand deletes sent in one burst overflow a receiver's socket buffer, and the lost
//! ones would be retransmitted only after the normal first timeout (4 s), later than a
//! daemon waits to stop. So, once [`Engine::shutdown`] is called:
//!
//! - **Paced**: at most [`WINDOW`] deletes are unanswered at once; each answer (or SA gone
//!   another way) lets the next one out, so the pace is the peers' own. A delete unanswered
//!   for [`STALL`] stops holding its place (its peer may be gone) and is retransmitted all
//!   the same, so dead peers slow the round to [`WINDOW`] per [`STALL`] at worst.
//! - **Retransmitted** early: every request goes again after [`FIRST_RETRANSMIT`], doubled
//!   each time up to [`MAX_RETRANSMIT`], until answered or the retransmissions run out.
//! - The driver waits for the answers [`grace`] long, which grows with the number of IKE
//!   SAs: [`GRACE_MIN`] plus [`GRACE_PER_SA`] each, at most [`GRACE_MAX`].
//! - Nothing starts again: every connection is held down (no restart, no retry, no trap
//!   initiation), a new IKE_SA_INIT is dropped, and an IKE SA a peer creates meanwhile (a
//!   rekey) is deleted in turn.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tracing::info;

use super::engine::Engine;
use super::output::{ConnId, SaId};
use super::sa::SaState;
use super::timer::Timer;

/// Deletes unanswered at once. Each is one small datagram: 32 of them fit the smallest
/// receive buffer a peer may have (about 200 KiB by default on Linux), with room for
/// everything else it receives meanwhile.
pub const WINDOW: usize = 32;

/// A delete unanswered this long no longer holds a place in the window.
pub const STALL: Duration = Duration::from_secs(1);

/// First retransmission of a request while stopping (4 s otherwise); doubled each time.
/// Not shorter: a hub busy with a spoke's thousand deletes may take some hundred
/// milliseconds to answer one, and a resent delete only adds to its work.
pub const FIRST_RETRANSMIT: Duration = Duration::from_secs(1);

/// Longest wait between two sends of a request while stopping.
pub const MAX_RETRANSMIT: Duration = Duration::from_secs(2);

/// Shortest grace period: what a few peers need.
pub const GRACE_MIN: Duration = Duration::from_secs(3);

/// Grace added per IKE SA: a peer's work for one delete (removing the SAs, policies and
/// routes of a tunnel) with a wide margin.
pub const GRACE_PER_SA: Duration = Duration::from_millis(10);

/// Longest grace period (reached at 2,700 IKE SAs); below systemd's stop timeout in the
/// shipped unit (`TimeoutStopSec=45s`).
pub const GRACE_MAX: Duration = Duration::from_secs(30);

/// How long a driver waits for the peers' answers when stopping with `ike_sas` IKE SAs.
pub fn grace(ike_sas: usize) -> Duration {
    let per_sa = GRACE_PER_SA.saturating_mul(u32::try_from(ike_sas).unwrap_or(u32::MAX));
    GRACE_MIN.saturating_add(per_sa).min(GRACE_MAX)
}

/// Delay before send number `sends + 1` of a request while stopping.
pub(super) fn retransmit_delay(sends: u32) -> Duration {
    let doublings = sends.saturating_sub(1).min(8);
    FIRST_RETRANSMIT
        .saturating_mul(1u32 << doublings)
        .min(MAX_RETRANSMIT)
}

/// An IKE SA, told apart from a later one that takes its number by its SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    id: SaId,
    spi: u64,
}

/// The deletes of a shutdown: those waiting for a place, those unanswered.
#[derive(Debug, Default)]
pub(super) struct Shutdown {
    waiting: VecDeque<Target>,
    /// In the order sent, with when.
    unanswered: VecDeque<(Target, Instant)>,
}

impl Shutdown {
    /// When a stalled delete frees its place, if deletes wait for one.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if self.waiting.is_empty() || self.unanswered.len() < WINDOW {
            return None;
        }
        self.unanswered.front().map(|(_, sent)| *sent + STALL)
    }

    /// Deletes not sent yet.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Deletes sent and not answered (stalled ones dropped at the last input).
    pub fn unanswered(&self) -> usize {
        self.unanswered.len()
    }
}

impl Engine {
    /// Stop: hold every connection down and delete every IKE SA with its peer, paced and
    /// retransmitted (see the module). SAs still negotiating are dropped at once. Returns
    /// how long the driver should wait for the answers ([`grace`] of the IKE SAs there were);
    /// the engine is done when [`Engine::sas`] is empty.
    pub fn shutdown(&mut self, now: Instant) -> Duration {
        let connections: Vec<ConnId> = self.connection_ids().collect();
        for conn in connections {
            self.cx.held_down.insert(conn);
            self.cx.retries.succeeded(conn);
        }
        self.cx.stopping = true;
        let mut shutdown = Shutdown::default();
        for sa in self.sas() {
            let target = Target {
                id: sa.id,
                spi: sa.local_spi(),
            };
            match sa.state {
                // Already being deleted: its delete is out.
                SaState::Deleting => shutdown.unanswered.push_back((target, now)),
                _ => shutdown.waiting.push_back(target),
            }
        }
        let total = shutdown.waiting.len() + shutdown.unanswered.len();
        info!("stopping: deleting {total} IKE SA(s), at most {WINDOW} unanswered at once");
        self.shutdown = Some(shutdown);
        self.pump_shutdown(now);
        grace(total)
    }

    /// Whether [`Engine::shutdown`] was called.
    pub fn shutting_down(&self) -> bool {
        self.cx.stopping
    }

    /// The shutdown's progress: deletes waiting, deletes unanswered.
    pub fn shutdown_progress(&self) -> Option<(usize, usize)> {
        self.shutdown
            .as_ref()
            .map(|s| (s.waiting(), s.unanswered()))
    }

    /// An IKE SA that came into the table while stopping is deleted in turn.
    pub(super) fn shutdown_adopt(&mut self, id: SaId, spi: u64) {
        if let Some(shutdown) = &mut self.shutdown {
            shutdown.waiting.push_back(Target { id, spi });
        }
    }

    /// After every input while stopping: forget the deletes answered (their SA is gone) or
    /// stalled, and send the next ones while there is room.
    pub(super) fn pump_shutdown(&mut self, now: Instant) {
        let Some(mut shutdown) = self.shutdown.take() else {
            return;
        };
        shutdown
            .unanswered
            .retain(|(target, sent)| now < *sent + STALL && self.deleting(*target));
        while shutdown.unanswered.len() < WINDOW {
            let Some(target) = shutdown.waiting.pop_front() else {
                break;
            };
            if !self.holds(target) {
                continue;
            }
            if !self.deleting(target) {
                self.terminate_sa(now, target.id);
                self.hasten_retransmit(now, target.id);
            }
            if self.deleting(target) {
                shutdown.unanswered.push_back((target, now));
            }
        }
        self.shutdown = Some(shutdown);
    }

    /// A request sent before the shutdown (a rekey, a liveness check) holds the delete
    /// back until answered: it is retransmitted on the shutdown's schedule from now on.
    fn hasten_retransmit(&mut self, now: Instant, id: SaId) {
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let soon = now + FIRST_RETRANSMIT;
        let later = sa
            .timers
            .deadline(Timer::Retransmit)
            .is_some_and(|at| at > soon);
        if later && sa.v2.exchanges.outstanding.is_some() {
            self.cx
                .timers
                .arm(&mut sa.timers, sa.id, Timer::Retransmit, soon);
        }
    }

    fn holds(&self, target: Target) -> bool {
        self.sa(target.id)
            .is_some_and(|sa| sa.local_spi() == target.spi)
    }

    fn deleting(&self, target: Target) -> bool {
        self.sa(target.id)
            .is_some_and(|sa| sa.local_spi() == target.spi && sa.state == SaState::Deleting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_grows_with_the_sas_within_its_bounds() {
        assert_eq!(grace(0), GRACE_MIN);
        assert_eq!(grace(1), Duration::from_millis(3010));
        assert_eq!(grace(1000), Duration::from_secs(13));
        assert_eq!(grace(2700), GRACE_MAX);
        assert_eq!(grace(1_000_000), GRACE_MAX);
        assert_eq!(grace(usize::MAX), GRACE_MAX);
    }

    #[test]
    fn retransmissions_double_up_to_the_cap() {
        let delays: Vec<u64> = (1..=6)
            .map(|sends| retransmit_delay(sends).as_millis() as u64)
            .collect();
        assert_eq!(delays, [1000, 2000, 2000, 2000, 2000, 2000]);
        assert_eq!(retransmit_delay(0), FIRST_RETRANSMIT);
        assert_eq!(retransmit_delay(u32::MAX), MAX_RETRANSMIT);
    }
}
