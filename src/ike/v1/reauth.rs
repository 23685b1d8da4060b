//! The ISAKMP SA is not rekeyed in IKEv1 but replaced: a new phase 1 authenticates the peer
//! again, and the IPsec SAs, which RFC 2409 keeps independent of the ISAKMP SA that made
//! them, move over to it (as strongSwan adopts them). When a newer ISAKMP SA we initiated
//! with the same peer is up, the older one is deleted [`DELETE_REPLACED_AFTER`] later; when
//! the peer deletes an ISAKMP SA, its IPsec SAs go to the newest one left, or go down with
//! it if there is none.
//!
//! A phase 1 the peer starts does not replace anything by itself: nothing in Main Mode tells
//! a re-authentication from another tunnel the same peer sets up with the same identity (a
//! peer with one connection per subnet pair, as strongSwan's `unique = no` allows). The
//! peer that re-authenticates deletes its old ISAKMP SA, and the IPsec SAs follow then.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::super::context::Context;
use super::super::engine::{Engine, Fate};
use super::super::output::{DownReason, Event, SaId};
use super::super::sa::{ChildState, IkeSa, RequestKind, SaState};
use super::super::timer::Timer;

/// How long an ISAKMP SA a newer one replaced lives on before we delete it. strongSwan moves
/// the IPsec SAs to the new ISAKMP SA in a job it queues once phase 1 completes; a Delete of
/// the old ISAKMP SA handled before that job runs takes the IPsec SAs down with it (their
/// kernel SAs and policies go, and traffic stops until the next Quick Mode). strongSwan
/// itself deletes the old ISAKMP SA 10 s after adopting its children; we go first.
pub(in crate::ike) const DELETE_REPLACED_AFTER: Duration = Duration::from_secs(5);

/// How long after its last Aggressive Mode message the initiator starts Quick Mode. That
/// message is not answered, so the first Quick Mode would follow it at once, and strongSwan,
/// which handles the messages of one ISAKMP SA on several threads, can take it first and
/// drop it ("ignoring QUICK_MODE request while phase 1 is incomplete"): the IPsec SA then
/// waited for our retransmission, 4 s.
pub(in crate::ike) const QUICK_AFTER_AGGRESSIVE: Duration = Duration::from_millis(200);

impl Context {
    /// RekeyIke of an IKEv1 SA: a new phase 1 to the same peer, started once.
    pub(in crate::ike) fn reauthenticate(&mut self, now: Instant, sa: &mut IkeSa) {
        if sa.replaced_by.is_some() || sa.state != SaState::Established || self.stopping {
            return;
        }
        let reauthenticating = sa.v1.as_ref().is_some_and(|v| v.reauthenticating);
        if reauthenticating {
            return;
        }
        match self.initiate_v1_to(now, sa.conn, false, Some(sa.remote.ip())) {
            Ok(new) => {
                info!(
                    conn = self.conn_name(sa.conn),
                    sa = sa.id.0,
                    new = new.0,
                    "re-authenticating the ISAKMP SA"
                );
                if let Some(v1) = sa.v1.as_mut() {
                    v1.reauthenticating = true;
                }
            }
            Err(e) => debug!(sa = sa.id.0, "cannot re-authenticate: {e}"),
        }
    }
}

impl Engine {
    /// After an input: ISAKMP SAs we initiated that were established in it take over the
    /// IPsec SAs of older ones with the same peer, which are then deleted; ISAKMP SAs
    /// deleted in it are removed, their IPsec SAs moving to a newer ISAKMP SA where the peer
    /// deleted them.
    pub(in crate::ike) fn settle_v1(&mut self, now: Instant) {
        for (came_over, spi) in std::mem::take(&mut self.cx.v1_foreign_deletes) {
            self.delete_foreign_pair(now, came_over, spi);
        }
        // A Quick Mode in flight on an ISAKMP SA when we re-authenticated finished there:
        // its pair joins the others on the new ISAKMP SA, before the old one is deleted.
        for landed in std::mem::take(&mut self.cx.v1_landed_on_replaced) {
            let to = self.sa(landed).and_then(|sa| sa.replaced_by);
            if let Some(to) = to.filter(|to| self.sa(*to).is_some()) {
                self.move_v1_children(now, landed, to);
            }
        }
        for new in std::mem::take(&mut self.cx.v1_established) {
            // A peer that sent INITIAL-CONTACT holds none of the older SAs: they are
            // removed with their IPsec SAs (`Engine::remove_superseded`), not taken over.
            let fresh_start = self.cx.initial_contacts.contains(&new);
            let Some((conn, identity, began, ours)) = self
                .sa(new)
                .map(|sa| (sa.conn, sa.remote_id.clone(), sa.created_at, sa.initiator))
            else {
                continue;
            };
            if !ours {
                continue;
            }
            let older: Vec<SaId> = self
                .cx
                .sa_ids_of(conn)
                .into_iter()
                .filter_map(|id| self.sa(id))
                .filter(|sa| {
                    !fresh_start
                        && sa.id != new
                        && sa.v1.is_some()
                        && sa.state == SaState::Established
                        && sa.remote_id == identity
                        && sa.established_at.is_some_and(|at| at < began)
                })
                .map(|sa| sa.id)
                .collect();
            for old in older {
                self.move_v1_children(now, old, new);
                if let Some(sa) = self.sas.get_mut(old.0 as usize).and_then(Option::as_mut) {
                    sa.replaced_by = Some(new);
                    self.cx.timers.arm(
                        &mut sa.timers,
                        sa.id,
                        Timer::DeleteReplaced,
                        now + DELETE_REPLACED_AFTER,
                    );
                }
            }
            // The initiator of phase 1 starts Quick Modes for the subnet pairs the SAs it
            // took over do not cover (all of them, for a first phase 1).
            if let Some(sa) = self.sas.get_mut(new.0 as usize).and_then(Option::as_mut) {
                let aggressive = sa.v1.as_ref().is_some_and(|v| v.aggressive);
                if sa.initiator && aggressive {
                    self.cx.timers.arm(
                        &mut sa.timers,
                        sa.id,
                        Timer::QuickStart,
                        now + QUICK_AFTER_AGGRESSIVE,
                    );
                } else if sa.initiator {
                    self.cx
                        .request(now, sa, RequestKind::CreateChild { replaces: None });
                }
            }
        }
        for (gone, reason) in std::mem::take(&mut self.cx.v1_gone) {
            let successor = if reason == DownReason::DeletedByPeer {
                self.newest_v1_sa(gone)
            } else {
                None
            };
            let reason = match successor {
                Some(new) => {
                    self.move_v1_children(now, gone, new);
                    DownReason::Rekeyed
                }
                None => reason,
            };
            self.settle(now, gone, Fate::Remove(reason));
        }
    }

    /// The peer deleted, over ISAKMP SA `came_over`, the pair with `spi` held by another of
    /// its ISAKMP SAs (same connection, same authenticated peer).
    fn delete_foreign_pair(&mut self, now: Instant, came_over: SaId, spi: u32) {
        let Some((conn, identity)) = self.sa(came_over).map(|sa| (sa.conn, sa.remote_id.clone()))
        else {
            return;
        };
        let holder = self.cx.sa_ids_of(conn).into_iter().find_map(|id| {
            let sa = self.sa(id)?;
            if id == came_over || sa.v1.is_none() || sa.remote_id != identity {
                return None;
            }
            sa.children
                .iter()
                .find(|c| c.outbound_spi == spi || c.inbound_spi == spi)
                .map(|c| (id, c.inbound_spi))
        });
        let Some((holder, inbound)) = holder else {
            debug!(
                conn = self.cx.conn_name(conn),
                sa = came_over.0,
                spi = format_args!("{spi:08x}"),
                "the peer deleted an IPsec SA we do not hold"
            );
            return;
        };
        let Some(sa) = self.sas.get_mut(holder.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        info!(
            conn = self.cx.conn_name(conn),
            sa = holder.0,
            over = came_over.0,
            spi = format_args!("{inbound:08x}"),
            "the peer deleted an IPsec SA pair of an older ISAKMP SA"
        );
        self.cx.retire_v1_child(now, sa, inbound);
    }

    /// The newest other established ISAKMP SA of the same connection and peer; else a phase
    /// 1 with the peer's address still under way: a peer that re-authenticates may delete its
    /// old ISAKMP SA before its new one is up on our end, and the IPsec SAs, independent of
    /// the ISAKMP SA in RFC 2409, wait on the new one rather than go down (if it fails, they
    /// go with it).
    fn newest_v1_sa(&self, of: SaId) -> Option<SaId> {
        let old = self.sa(of)?;
        let others = || {
            self.cx
                .sa_ids_of(old.conn)
                .into_iter()
                .filter_map(|id| self.sa(id))
                .filter(move |sa| sa.id != of && sa.v1.is_some())
        };
        let established = others()
            .filter(|sa| sa.state == SaState::Established && sa.remote_id == old.remote_id)
            .max_by_key(|sa| sa.established_at)
            .map(|sa| sa.id);
        established.or_else(|| {
            others()
                .filter(|sa| {
                    sa.state != SaState::Established
                        && sa.state != SaState::Deleting
                        && sa.remote.ip() == old.remote.ip()
                })
                .max_by_key(|sa| sa.created_at)
                .map(|sa| sa.id)
        })
    }

    /// Move the IPsec SAs of one ISAKMP SA to another: the indexes that find an SA by SPI
    /// and reqid follow.
    fn move_v1_children(&mut self, now: Instant, from: SaId, to: SaId) {
        let Some((children, deferred)) = self
            .sas
            .get_mut(from.0 as usize)
            .and_then(Option::as_mut)
            .map(|sa| {
                let deferred = sa
                    .v1
                    .as_mut()
                    .map(|v| std::mem::take(&mut v.deferred_deletes))
                    .unwrap_or_default();
                (std::mem::take(&mut sa.children), deferred)
            })
        else {
            return;
        };
        if children.is_empty() {
            return;
        }
        for child in &children {
            self.cx.inbound_spis.insert(child.inbound_spi, Some(to));
            if self.cx.reqid_owners.get(&child.reqid) == Some(&from) {
                self.cx.reqid_owners.insert(child.reqid, to);
            }
        }
        for owner in self.cx.pending_installs.values_mut() {
            if owner.0 == from {
                owner.0 = to;
            }
        }
        let Some(sa) = self.sas.get_mut(to.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let conn = sa.conn;
        // Of two pairs for the same selectors, one moved and one already there, the older is
        // replaced: the peer rekeyed it on its new ISAKMP SA, or our Quick Mode in flight on
        // the old ISAKMP SA finished there after the move. It goes a moment later, as a
        // replaced pair does (one the peer replaced is Rekeyed already: the peer deletes it,
        // or it expires).
        let replaced: Vec<u32> = sa
            .children
            .iter()
            .flat_map(|there| children.iter().map(move |moved| (there, moved)))
            .filter(|(there, moved)| {
                there.local_ts == moved.local_ts && there.remote_ts == moved.remote_ts
            })
            .map(|(there, moved)| {
                if there.established_at < moved.established_at {
                    there
                } else {
                    moved
                }
            })
            .filter(|older| older.state != ChildState::Rekeyed)
            .map(|older| older.inbound_spi)
            .collect();
        sa.children.extend(children);
        for spi in replaced {
            if let Some(c) = sa.children.iter_mut().find(|c| c.inbound_spi == spi) {
                c.state = ChildState::Rekeyed;
            }
            self.cx.defer_v1_delete_child(now, sa, spi);
        }
        self.cx.arm_child_rekey(sa);
        // Pairs replaced a moment ago go with the SA that now holds them.
        if let Some(v1) = sa.v1.as_mut() {
            v1.deferred_deletes.extend(deferred);
            if let Some(at) = v1.deferred_deletes.iter().map(|(at, _)| *at).min() {
                self.cx
                    .timers
                    .arm(&mut sa.timers, sa.id, Timer::SendDeletes, at);
            }
        }
        info!(
            conn = self.cx.conn_name(conn),
            old = from.0,
            new = to.0,
            "IPsec SAs moved to the new ISAKMP SA"
        );
        self.cx.emit_event(Event::IkeRekeyed {
            conn,
            old: from,
            new: to,
        });
    }
}
