//! The engine: one value that owns every IKE SA of the gateway.
//!
//! Inputs are datagrams, timer expiries, kernel results and commands, each with the current
//! time; outputs are polled: [`Engine::poll_transmit`], [`Engine::poll_timeout`],
//! [`Engine::poll_event`], [`Engine::poll_kernel`]. The engine never blocks, never reads a
//! clock and never touches a socket, so two engines can be driven against each other in
//! memory.
//!
//! # The driver's contract
//!
//! After every input (`handle_*`, `initiate`, `start`, `terminate`, `reload`, the rekey
//! commands), the driver drains the outputs in this order:
//!
//! 1. [`Engine::poll_kernel`] until `None`, applying the intents in order and handing each
//!    result back with [`Engine::handle_kernel_result`] (which may queue more outputs: start
//!    again at 1);
//! 2. [`Engine::poll_transmit`] until `None`, sending each datagram;
//! 3. [`Engine::poll_event`] until `None`;
//! 4. [`Engine::poll_timeout`], to sleep until that instant or the next input, then
//!    [`Engine::handle_timeout`] with the time it woke at.
//!
//! Kernel intents come before transmits because one input can produce both a CHILD_SA to
//! install and the response that lets the peer use it: the peer may send ESP as soon as it
//! has our IKE_AUTH or CREATE_CHILD_SA response, so our inbound SA must exist before that
//! response leaves (RFC 7296 2.8 for rekeys). The engine queues them from the same input;
//! the order of draining is the driver's part. Time passed in must never go backwards.
//!
//! SAs live in a table indexed by [`SaId`], apart from the [`Context`] that holds everything
//! else; an input lends its SA and the context to the exchange that handles it. Messages find
//! their SA through a hash map keyed by our IKE SPI, and deadlines sit in one priority queue:
//! no per-packet or per-tick work grows with the number of SAs.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info};

use crate::crypto::rng::Random;

use super::context::Context;
use super::error::{Error, Failure, KernelFailure};
use super::output::{
    ConnId, DownReason, Event, IntentId, KernelEvent, KernelIntent, SaId, Transmit,
};
use super::sa::{ChildState, IkeSa, RequestKind, SaState};
use super::settings::{ConnectionSettings, EngineSettings};
use super::stats::Stats;
use super::timer::{Timer, TimerQueue};

pub use super::context::REQID_BASE;

pub struct Engine {
    /// The IKE SAs, by [`SaId`] (removed SAs leave `None`, their number is used again).
    pub(super) sas: Vec<Option<IkeSa>>,
    pub(super) cx: Context,
    /// The deletes of a shutdown, once [`Engine::shutdown`] was called.
    pub(super) shutdown: Option<super::shutdown::Shutdown>,
}

/// What a handler decided about the SA it worked on.
pub(super) enum Fate {
    Keep,
    Remove(DownReason),
}

impl Engine {
    pub fn new(settings: EngineSettings, rng: Box<dyn Random>) -> Engine {
        Engine {
            sas: Vec::new(),
            cx: Context::new(settings, rng),
            shutdown: None,
        }
    }

    // ----- queries -------------------------------------------------------------------------

    /// The wall-clock time (seconds since the Unix epoch) at `now`. Certificates are checked
    /// against it; the engine carries it forward with `now` until it is given again, so the
    /// caller gives it at start and whenever the system clock may have been stepped.
    pub fn set_wall_clock(&mut self, now: Instant, unix_seconds: u64) {
        self.cx.wall_clock = Some((now, unix_seconds));
    }

    /// The gateway's certificate, key, CAs and CRLs, as the settings carry them.
    pub fn credentials(&self) -> Option<&crate::config::Credentials> {
        self.cx.settings.credentials.as_deref()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            half_open: self.cx.half_open.len() as u64,
            ..self.cx.stats
        }
    }

    pub fn connection(&self, id: ConnId) -> Option<&ConnectionSettings> {
        self.cx.connection(id)
    }

    pub fn connection_id(&self, name: &str) -> Option<ConnId> {
        self.cx
            .connections
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.name == name))
            .and_then(|i| u32::try_from(i).ok())
            .map(ConnId)
    }

    pub fn sa(&self, id: SaId) -> Option<&IkeSa> {
        self.sas.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// Every IKE SA (for status; not for the packet path).
    pub fn sas(&self) -> impl Iterator<Item = &IkeSa> {
        self.sas.iter().flatten()
    }

    /// Established IKE SAs of a connection.
    pub fn established(&self, conn: ConnId) -> impl Iterator<Item = &IkeSa> {
        self.sas()
            .filter(move |sa| sa.conn == conn && sa.state == SaState::Established)
    }

    // ----- outputs -------------------------------------------------------------------------

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.cx.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.cx.events.pop_front()
    }

    pub fn poll_kernel(&mut self) -> Option<KernelIntent> {
        self.cx.intents.pop_front()
    }

    /// The next instant [`Engine::handle_timeout`] wants to be called at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.cx.timers.next_deadline(),
            self.cx.retries.next_deadline(),
            self.cx.resolutions.next_deadline(),
            self.shutdown.as_ref().and_then(|s| s.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- commands ------------------------------------------------------------------------

    /// Start every connection whose start action is `initiate`, and install the trap of
    /// every connection whose start action is `trap`.
    pub fn start(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self.connection_ids().collect();
        for id in ids {
            // Logged by start_connection; the connection waits for the peer or a command.
            let _ = self.start_connection(now, id);
        }
    }

    /// What a connection's start action asks for when it starts without an IKE SA (at
    /// start, or added or changed by a reload).
    pub(super) fn start_connection(&mut self, now: Instant, id: ConnId) -> Result<(), Error> {
        let Some(settings) = self.connection(id) else {
            return Ok(());
        };
        let started = if settings.trap {
            self.cx.install_trap(id)
        } else if settings.initiate {
            match self.initiate(now, id) {
                // It starts once the peer's name is resolved.
                Ok(_) | Err(Error::Resolving(_)) => Ok(()),
                Err(e) => Err(e),
            }
        } else {
            // A listening connection learns where a named peer is, to accept it there.
            self.cx.refresh_peer_address(id);
            Ok(())
        };
        if let Err(e) = &started {
            debug!(conn = self.cx.conn_name(id), "cannot start: {e}");
        }
        started
    }

    /// Start a new IKE SA for a connection to its peer's address in use (for a named peer,
    /// the one resolved last; see [`Engine::initiate`]).
    pub(super) fn initiate_to_peer(&mut self, now: Instant, conn: ConnId) -> Result<SaId, Error> {
        // RFC 7296 2.4: INITIAL_CONTACT tells a peer that still holds SAs from an earlier
        // run of ours that they are gone; only when we hold none with it.
        let first = self.cx.settings.initial_contact && !self.cx.sas_of.contains_key(&conn);
        let v1 = self
            .connection(conn)
            .is_some_and(|c| c.version == super::settings::IkeVersion::V1);
        let started = if v1 {
            self.cx.initiate_v1(now, conn, first)
        } else {
            self.cx.initiate(now, conn, first)
        };
        self.adopt_created();
        started
    }

    /// Ids of every configured connection.
    pub fn connection_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.cx
            .connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .filter_map(|(i, _)| u32::try_from(i).ok().map(ConnId))
    }

    /// Delete every IKE SA of a connection with the peer (SAs still negotiating are dropped).
    pub fn terminate(&mut self, now: Instant, conn: ConnId) {
        for id in self.cx.sa_ids_of(conn) {
            self.terminate_sa(now, id);
        }
    }

    /// Delete one IKE SA with the peer (dropped if still negotiating).
    pub(super) fn terminate_sa(&mut self, now: Instant, id: SaId) {
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let fate = if sa.state == SaState::Established {
            sa.state = SaState::Deleting;
            sa.clear_queued();
            self.cx.request(now, sa, RequestKind::DeleteIke);
            Fate::Keep
        } else {
            Fate::Remove(DownReason::Deleted)
        };
        self.settle(now, id, fate);
    }

    /// Rekey every CHILD_SA of a connection now (as `swanctl --rekey --child`).
    pub fn rekey_children(&mut self, now: Instant, conn: ConnId) {
        for id in self.established_ids(conn) {
            let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
                continue;
            };
            let spis: Vec<u32> = sa.children.iter().map(|c| c.inbound_spi).collect();
            for spi in spis {
                self.cx.rekey_child(now, sa, spi);
            }
        }
    }

    /// Ask for an additional CHILD_SA for the connection's subnets on its established IKE
    /// SA (CREATE_CHILD_SA, RFC 7296 1.3.1). False when the connection has none.
    pub fn create_child(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(id) = self.established_ids(conn).into_iter().next() else {
            return false;
        };
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return false;
        };
        self.cx
            .request(now, sa, RequestKind::CreateChild { replaces: None });
        true
    }

    /// Rekey the IKE SA of a connection now (as `swanctl --rekey --ike`).
    pub fn rekey_ike(&mut self, now: Instant, conn: ConnId) {
        for id in self.established_ids(conn) {
            if let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) {
                self.cx.request(now, sa, RequestKind::RekeyIke);
            }
        }
        // An IKEv1 re-authentication is a new ISAKMP SA: in the table before its answer.
        self.adopt_created();
    }

    fn established_ids(&self, conn: ConnId) -> Vec<SaId> {
        self.established(conn)
            .filter(|sa| sa.replaced_by.is_none())
            .map(|sa| sa.id)
            .collect()
    }

    // ----- inputs --------------------------------------------------------------------------

    /// A datagram arrived on `local` from `remote` (the non-ESP marker already stripped).
    /// The ISAKMP header's major version, the first field in which the two IKE versions
    /// differ, picks the codec and the exchanges.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        match crate::wire::major_version(datagram) {
            Some(1) => self.handle_v1_datagram(now, local, remote, datagram),
            // Any other version goes to the IKEv2 codec, which refuses what is not IKEv2.
            _ => self.handle_v2_datagram(now, local, remote, datagram),
        }
        self.adopt_created();
        self.remove_superseded(now);
        self.remove_replaced_half_open(now);
        self.reestablish_for_stale_peers(now);
        self.pump_shutdown(now);
    }

    /// Half-open SAs a new one replaced under the half-open limits (see
    /// `Context::half_open_room`).
    fn remove_replaced_half_open(&mut self, now: Instant) {
        for id in std::mem::take(&mut self.cx.half_open_evictions) {
            let half_open = self
                .sas
                .get(id.0 as usize)
                .and_then(Option::as_ref)
                .is_some_and(|sa| sa.half_open_key.is_some());
            if !half_open {
                continue;
            }
            self.cx.stats.half_open_replaced += 1;
            debug!(
                sa = id.0,
                "half-open SA dropped for a newer one: the half-open limits are reached"
            );
            let failure = Failure::local(
                "no IKE_AUTH in time: the half-open limits are reached and a newer IKE_SA_INIT took its place",
            );
            self.settle(
                now,
                id,
                Fate::Remove(DownReason::NegotiationFailed(failure)),
            );
        }
    }

    /// RFC 7296 2.4: a peer that sends INITIAL_CONTACT holds no SA with us but the new one,
    /// so our older SAs of the connection with the same identity are removed, without a
    /// Delete nobody would answer. Kernel policies the new SA shares stay (see
    /// `Context::policy_users`).
    fn remove_superseded(&mut self, now: Instant) {
        for new in std::mem::take(&mut self.cx.initial_contacts) {
            let Some((conn, identity, began)) = self
                .sas
                .get(new.0 as usize)
                .and_then(Option::as_ref)
                .map(|sa| (sa.conn, sa.remote_id.clone(), sa.created_at))
            else {
                continue;
            };
            // Only SAs up before the new one began: when both ends initiate at once, each
            // sends INITIAL_CONTACT, and neither SA may take the other down.
            let older: Vec<SaId> = self
                .cx
                .sa_ids_of(conn)
                .into_iter()
                .filter_map(|id| self.sa(id))
                .filter(|sa| sa.id != new && sa.conn == conn && sa.remote_id == identity)
                .filter(|sa| sa.established_at.is_some_and(|at| at < began))
                .map(|sa| sa.id)
                .collect();
            for id in older {
                info!(
                    conn = self.cx.conn_name(conn),
                    sa = id.0,
                    "INITIAL_CONTACT: the peer started over; removing its older IKE SA"
                );
                self.settle(now, id, Fate::Remove(DownReason::Superseded));
            }
        }
    }

    /// Fire every deadline that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout_in(now, |_, _| ());
    }

    /// As [`Engine::handle_timeout`], holding what `scope` returns while each connection's
    /// deadline is handled: the connection, and the IKE SA when the deadline is one SA's
    /// (a reconnect is the connection's alone). The driver enters its log span there.
    pub fn handle_timeout_in<G>(
        &mut self,
        now: Instant,
        mut scope: impl FnMut(&ConnectionSettings, Option<&IkeSa>) -> G,
    ) {
        self.retry_due_connections(now, &mut scope);
        self.refresh_due_addresses(now);
        while let Some((id, kind, generation)) = self.cx.timers.pop_due(now) {
            let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
                continue;
            };
            if !TimerQueue::take_if_current(&mut sa.timers, kind, generation) {
                continue;
            }
            let _scope = self.cx.connection(sa.conn).map(|c| scope(c, Some(sa)));
            let cx = &mut self.cx;
            let fate = match kind {
                Timer::Retransmit if sa.v1.is_some() => cx.on_v1_retransmit_timer(now, sa),
                Timer::Retransmit => cx.on_retransmit_timer(now, sa),
                Timer::QuickAnswer => cx.resend_quick_answers(now, sa),
                Timer::QuickStart => {
                    if sa.state == SaState::Established && sa.replaced_by.is_none() {
                        cx.request(now, sa, RequestKind::CreateChild { replaces: None });
                    }
                    Fate::Keep
                }
                Timer::SendDeletes => {
                    cx.send_deferred_deletes(now, sa);
                    Fate::Keep
                }
                Timer::DeleteReplaced => {
                    if sa.state == SaState::Established && sa.replaced_by.is_some() {
                        cx.delete_isakmp_sa(sa);
                    }
                    Fate::Keep
                }
                // A replaced ISAKMP SA whose lifetime ends before its grace period does: it
                // is deleted with the peer rather than dropped silently.
                Timer::IkeExpire
                    if sa.v1.is_some()
                        && sa.replaced_by.is_some()
                        && sa.state == SaState::Established =>
                {
                    cx.delete_isakmp_sa(sa);
                    Fate::Keep
                }
                Timer::Establish
                    if sa.state != SaState::Established && sa.state != SaState::Deleting =>
                {
                    Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                        "not established in time",
                    )))
                }
                Timer::Establish => Fate::Keep,
                Timer::Dpd => cx.on_dpd_timer(now, sa),
                Timer::ChildRekey => {
                    cx.on_child_rekey_timer(now, sa);
                    Fate::Keep
                }
                Timer::IkeRekey => {
                    if sa.state == SaState::Established && sa.replaced_by.is_none() {
                        cx.request(now, sa, RequestKind::RekeyIke);
                    }
                    Fate::Keep
                }
                // RFC 7296 2.8: an IKE SA past its lifetime is deleted; its CHILD_SAs go with it.
                Timer::IkeExpire => Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                    "IKE SA lifetime expired before it could be rekeyed",
                ))),
            };
            self.settle(now, id, fate);
        }
        self.pump_shutdown(now);
    }

    /// Rekeys the installed CHILD_SA of `reqid`, if there is one (see
    /// [`Self::handle_kernel_event`]), found through the reqid index.
    fn rekey_lost_child(&mut self, now: Instant, reqid: u32) {
        let Some(&id) = self.cx.reqid_owners.get(&reqid) else {
            return;
        };
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let installed = sa
            .children
            .iter()
            .find(|c| c.reqid == reqid && c.state == ChildState::Installed)
            .map(|c| c.inbound_spi);
        let Some(spi) = installed else {
            return;
        };
        debug!(
            reqid,
            "kernel lost an SA of an installed CHILD_SA: rekeying it"
        );
        self.cx.rekey_child(now, sa, spi);
    }

    /// An event the kernel raised by itself. A soft expiry starts a rekey if our own timer has
    /// not (a safety net); a hard expiry means the CHILD_SA is gone from the kernel: it is
    /// removed and deleted with the peer (RFC 7296 2.8), and a new one asked for if it was
    /// the IKE SA's last (see `recovery.rs`).
    ///
    /// An ACQUIRE (traffic met one of our policies without its SA) for the reqid of an
    /// installed CHILD_SA means the kernel dropped that SA by itself, as it does with SAs
    /// offloaded to a device that goes down or away: the CHILD_SA is rekeyed, so a new pair
    /// is installed (and its offload decided again). An ACQUIRE for a trap's reqid that no
    /// CHILD_SA holds is traffic asking for an on-demand tunnel: the connection is initiated
    /// (`trap.rs`). Any other ACQUIRE is ignored.
    pub fn handle_kernel_event(&mut self, now: Instant, event: KernelEvent) {
        let (spi, hard) = match event {
            KernelEvent::Expire { spi, hard, .. } => (spi, hard),
            KernelEvent::Acquire { reqid } => {
                if self.cx.reqid_owners.contains_key(&reqid) {
                    self.rekey_lost_child(now, reqid);
                } else {
                    self.acquire_trap(now, reqid);
                }
                self.pump_shutdown(now);
                return;
            }
        };
        let Some(id) = self.cx.inbound_spis.get(&spi).copied().flatten() else {
            return;
        };
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        let cx = &mut self.cx;
        if hard {
            let reason =
                DownReason::NegotiationFailed(Failure::local("CHILD_SA hard lifetime expired"));
            if cx.drop_child(sa, spi, reason) {
                cx.delete_child(now, sa, spi);
                cx.arm_child_rekey(sa);
                cx.restore_child(now, sa, false);
            }
        } else {
            cx.rekey_child(now, sa, spi);
        }
        self.pump_shutdown(now);
    }

    /// The kernel layer's answer to an intent. A failed install takes the CHILD_SA down and
    /// tells the peer, so both ends agree it does not exist.
    pub fn handle_kernel_result(
        &mut self,
        now: Instant,
        id: IntentId,
        result: Result<(), KernelFailure>,
    ) {
        if self.cx.trap_result(id, &result).is_some() {
            return;
        }
        let Some((sa_id, reqid)) = self.cx.pending_installs.remove(&id) else {
            return;
        };
        let Err(failure) = result else { return };
        let Some(sa) = self.sas.get_mut(sa_id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        self.cx.child_failed_in_kernel(now, sa, reqid, failure);
        self.pump_shutdown(now);
    }

    // ----- the SA table --------------------------------------------------------------------

    /// Keep an SA, or remove it with everything it owns; then take in the SAs the input
    /// created.
    pub(super) fn settle(&mut self, now: Instant, id: SaId, fate: Fate) {
        if let Fate::Remove(reason) = fate {
            if let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::take) {
                self.cx.remove(now, sa, reason);
            }
        }
        self.adopt_created();
        if !self.cx.v1_established.is_empty()
            || !self.cx.v1_gone.is_empty()
            || !self.cx.v1_foreign_deletes.is_empty()
            || !self.cx.v1_landed_on_replaced.is_empty()
        {
            self.settle_v1(now);
        }
    }

    /// Put the SAs the context created into the table, at their numbers.
    fn adopt_created(&mut self) {
        for sa in std::mem::take(&mut self.cx.created) {
            self.shutdown_adopt(sa.id, sa.local_spi());
            self.cx.index_sa(sa.conn, sa.id);
            let index = sa.id.0 as usize;
            if self.sas.len() <= index {
                self.sas.resize_with(index + 1, || None);
            }
            if let Some(slot) = self.sas.get_mut(index) {
                *slot = Some(sa);
            }
        }
    }
}
