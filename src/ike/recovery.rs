//! Keeping a connection's CHILD_SAs: what follows when a rekey or a new CHILD_SA fails, when
//! the kernel ends a child at its hard lifetime, or when the peer deletes the last one.
//!
//! The ladder, each step taken only when the one before cannot help in time:
//! 1. A refused or failed rekey is tried again after a backoff (5 s, doubled per failure,
//!    with jitter), always before the point where the child must be replaced: halfway between
//!    its soft and hard lifetime.
//! 2. There, or when the kernel ended the child, or the peer deleted the connection's last
//!    child, a new CHILD_SA is asked for with CREATE_CHILD_SA (no REKEY_SA: a peer that lost
//!    or will not rekey the old one may still make a new one). It keeps the old reqid, so the
//!    kernel policies stay, and the old child is deleted once the new one is in.
//! 3. If that fails too, the IKE SA is deleted and, with `close_action = "restart"`, the
//!    connection initiated again, which makes a CHILD_SA in IKE_AUTH.
//!
//! Every failure on the way is an event: a warn line and the connection's `last_error`.

use std::time::{Duration, Instant};

use tracing::warn;

use super::context::Context;
use super::error::Failure;
use super::output::{DownReason, Event};
use super::sa::{ChildState, IkeSa, RequestKind, SaState};
use super::settings::CloseAction;

/// First wait before a failed rekey is tried again; doubled per failure up to a minute.
const REKEY_BACKOFF: Duration = Duration::from_secs(5);
const REKEY_BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A retry closer than this to the replacement point is not worth it: replace instead.
const SHORTEST_RETRY: Duration = Duration::from_millis(500);

/// The kernel's lifetimes of a CHILD_SA (as the kernel layer installs them): the soft one is
/// the configured lifetime, the hard one 10% later.
pub(super) fn hard_lifetime(lifetime: Duration) -> Duration {
    lifetime + lifetime / 10
}

/// When a child whose rekeys keep failing is replaced by a new CHILD_SA: halfway between its
/// soft and hard expiry, so the new one and, failing that, a new IKE SA still come before the
/// kernel drops the old.
fn replace_at(established_at: Instant, lifetime: Duration) -> Instant {
    established_at + lifetime + (hard_lifetime(lifetime) - lifetime) / 2
}

impl Context {
    /// A rekey of the child `old_inbound_spi` failed for `why` (reported as a failure
    /// unless `None`): try again after a backoff, or replace the child when a retry would come
    /// too late.
    pub(in crate::ike) fn child_rekey_failed(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        old_inbound_spi: u32,
        why: Option<Failure>,
    ) {
        if self.peer_rekey_stands(sa, old_inbound_spi) {
            return;
        }
        let Some(lifetime) = self.connection(sa.conn).map(|c| c.child_lifetime) else {
            return;
        };
        let random = self.random_u32();
        let Some(child) = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old_inbound_spi && c.state == ChildState::Rekeying)
        else {
            return;
        };
        child.state = ChildState::Installed;
        child.collision = None;
        child.rekey_failures = child.rekey_failures.saturating_add(1);
        let backoff = REKEY_BACKOFF
            .saturating_mul(1u32 << (child.rekey_failures - 1).min(4))
            .min(REKEY_BACKOFF_MAX);
        let backoff = backoff - (backoff / 4).mul_f64(f64::from(random) / f64::from(u32::MAX));
        let deadline = replace_at(child.established_at, lifetime);
        let room = deadline.saturating_duration_since(now);
        // Never past the deadline: with little room left, half of it.
        let wait = backoff.min(room / 2);
        let replace = wait < SHORTEST_RETRY;
        if !replace {
            child.rekey_at = now + wait;
        }
        let failures = child.rekey_failures;
        if let Some(why) = why {
            self.emit_event(Event::ChildFailed {
                conn: sa.conn,
                sa: sa.id,
                reason: DownReason::NegotiationFailed(why),
            });
        }
        if replace {
            warn!(
                sa = sa.id.0,
                failures, "CHILD_SA rekeys keep failing: asking for a new CHILD_SA to replace it"
            );
            self.request(
                now,
                sa,
                RequestKind::CreateChild {
                    replaces: Some(old_inbound_spi),
                },
            );
        }
        self.arm_child_rekey(sa);
    }

    /// Our rekey of `old_inbound_spi` failed while the peer's rekey of the same child
    /// succeeded (a collision, RFC 7296 2.8.1, in which only the peer's exchange made a
    /// child): the child is replaced, and the peer, as that rekey's initiator, deletes it.
    /// True when that is so.
    pub(in crate::ike) fn peer_rekey_stands(
        &mut self,
        sa: &mut IkeSa,
        old_inbound_spi: u32,
    ) -> bool {
        let Some(child) = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old_inbound_spi && c.collision.is_some())
        else {
            return false;
        };
        child.state = ChildState::Rekeyed;
        child.collision = None;
        self.arm_child_rekey(sa);
        true
    }

    /// A new CHILD_SA we asked for was refused or unusable: the IKE SA cannot give the
    /// connection a CHILD_SA, so it is replaced as a whole.
    pub(in crate::ike) fn new_child_failed(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        replaces: Option<u32>,
        why: Failure,
    ) {
        let _ = replaces;
        self.emit_event(Event::ChildFailed {
            conn: sa.conn,
            sa: sa.id,
            reason: DownReason::NegotiationFailed(why.clone()),
        });
        self.reestablish(now, sa, why);
    }

    /// Delete the IKE SA with the peer and, if the connection restarts, initiate it again once
    /// the SA and its kernel policies are gone (so the new CHILD_SA's are not removed with
    /// them).
    fn reestablish(&mut self, now: Instant, sa: &mut IkeSa, why: Failure) {
        if sa.state != SaState::Established {
            return;
        }
        warn!(
            sa = sa.id.0,
            "no CHILD_SA can be made on this IKE SA ({why}): deleting it"
        );
        sa.state = SaState::Deleting;
        sa.clear_queued();
        sa.restart_when_gone = Some(Box::new(why));
        self.request(now, sa, RequestKind::DeleteIke);
    }

    /// The new child that replaced `old` is installed: delete the old one with the peer. Both
    /// share a reqid, so the policies stay.
    pub(in crate::ike) fn replaced_child(&mut self, now: Instant, sa: &mut IkeSa, old: u32) {
        if let Some(child) = sa.children.iter_mut().find(|c| c.inbound_spi == old) {
            child.state = ChildState::Rekeyed;
        }
        self.delete_child(now, sa, old);
        self.arm_child_rekey(sa);
    }

    /// The IKE SA is left without an installed CHILD_SA (the kernel ended it, or the peer
    /// deleted it and the connection restarts): ask for a new one.
    pub(in crate::ike) fn restore_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        peer_deleted: bool,
    ) {
        if sa.state != SaState::Established
            || sa.replaced_by.is_some()
            || sa.children.iter().any(|c| c.state != ChildState::Rekeyed)
        {
            return;
        }
        if peer_deleted
            && !self
                .connection(sa.conn)
                .is_some_and(|c| c.close_action == CloseAction::Restart)
        {
            return;
        }
        self.request(now, sa, RequestKind::CreateChild { replaces: None });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_comes_between_soft_and_hard_expiry() {
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        let at = replace_at(start, hour);
        assert_eq!(at - start, Duration::from_secs(3600 + 180));
        assert!(at < start + hard_lifetime(hour));
    }
}
