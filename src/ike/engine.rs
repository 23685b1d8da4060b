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
//! SAs live in a slab indexed by [`SaId`]; messages find theirs through a hash map keyed by our
//! IKE SPI, and deadlines sit in one priority queue: no per-packet or per-tick work grows with
//! the number of SAs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tracing::{debug, info};

use crate::crypto::rng::Random;

use super::error::{Error, Failure, KernelFailure};
use super::lookup::ConnIndex;
use super::output::{
    ConnId, DownReason, Event, IntentId, KernelEvent, KernelIntent, SaId, Transmit,
};
use super::reconnect::Retries;
use super::sa::{ChildState, IkeSa, RequestKind, SaState};
use super::settings::{ConnectionSettings, EngineSettings};
use super::stats::Stats;
use super::timer::{Timer, TimerQueue};

/// First reqid handed out; reqids at or above it belong to ikehub (the kernel layer uses the
/// range to recognise its own policies and states).
pub const REQID_BASE: u32 = 0x4000_0000;

/// How many peers' IKEv1 datagrams are remembered as logged.
const IKEV1_PEERS_REMEMBERED: usize = 1024;

pub struct Engine {
    /// Engine-wide knobs; its `connections` list is moved into `connections` below.
    pub(super) settings: EngineSettings,
    /// Connection slots: a [`ConnId`] indexes this and stays valid across reloads (removed
    /// connections leave `None`).
    /// Shared (`Arc`): an exchange holds its connection's settings while it changes the
    /// engine, without copying them.
    pub(super) connections: Vec<Option<Arc<ConnectionSettings>>>,
    pub(super) conn_index: ConnIndex,
    sas: Vec<Option<IkeSa>>,
    free_slots: Vec<u32>,
    /// Our IKE SPI -> SA.
    pub(super) by_spi: HashMap<u64, SaId>,
    /// Responder SAs between IKE_SA_INIT and IKE_AUTH, by (initiator SPI, peer address), so a
    /// retransmitted IKE_SA_INIT finds its SA instead of creating another (RFC 7296 2.1).
    pub(super) half_open: HashMap<(u64, SocketAddr), SaId>,
    /// ESP SPIs we handed out for inbound SAs, and the IKE SA whose child owns each (set
    /// once installed, `None` while only reserved).
    pub(super) inbound_spis: HashMap<u32, Option<SaId>>,
    /// The IKE SA holding the CHILD_SAs of each reqid (a CHILD_SA and its rekeyed
    /// successors share one), so a kernel ACQUIRE finds its SA without a scan.
    pub(super) reqid_owners: HashMap<u32, SaId>,
    next_reqid: u32,
    /// Peers whose IKEv1 datagrams were logged (at most [`IKEV1_PEERS_REMEMBERED`]).
    ikev1_peers_seen: HashSet<IpAddr>,
    pub(super) timers: TimerQueue,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    intents: VecDeque<KernelIntent>,
    next_intent: u64,
    /// Kernel installs awaiting a result: intent -> (SA, reqid).
    pub(super) pending_installs: HashMap<IntentId, (SaId, u32)>,
    pub(super) rng: Box<dyn Random>,
    pub(super) cookie_secret: [u8; 32],
    pub(super) stats: Stats,
    pub(super) retries: Retries,
}

/// What a handler decided about the SA it worked on.
pub(super) enum Fate {
    Keep,
    Remove(DownReason),
}

impl Engine {
    pub fn new(mut settings: EngineSettings, mut rng: Box<dyn Random>) -> Engine {
        let mut cookie_secret = [0u8; 32];
        rng.fill(&mut cookie_secret);
        let connections: Vec<Option<Arc<ConnectionSettings>>> =
            std::mem::take(&mut settings.connections)
                .into_iter()
                .map(|c| Some(Arc::new(c)))
                .collect();
        let conn_index = ConnIndex::build(&connections);
        Engine {
            settings,
            connections,
            conn_index,
            sas: Vec::new(),
            free_slots: Vec::new(),
            by_spi: HashMap::new(),
            half_open: HashMap::new(),
            inbound_spis: HashMap::new(),
            reqid_owners: HashMap::new(),
            next_reqid: REQID_BASE,
            ikev1_peers_seen: HashSet::new(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            intents: VecDeque::new(),
            next_intent: 1,
            pending_installs: HashMap::new(),
            rng,
            cookie_secret,
            stats: Stats::default(),
            retries: Retries::default(),
        }
    }

    // ----- queries -------------------------------------------------------------------------

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn connection(&self, id: ConnId) -> Option<&ConnectionSettings> {
        self.connections
            .get(id.0 as usize)
            .and_then(Option::as_deref)
    }

    /// A connection's settings, shared: for an exchange that changes the engine while it
    /// reads them.
    pub(super) fn shared_connection(&self, id: ConnId) -> Option<Arc<ConnectionSettings>> {
        self.connections.get(id.0 as usize).and_then(Option::clone)
    }

    pub fn connection_id(&self, name: &str) -> Option<ConnId> {
        self.connections
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
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_kernel(&mut self) -> Option<KernelIntent> {
        self.intents.pop_front()
    }

    /// The next instant [`Engine::handle_timeout`] wants to be called at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.timers.next_deadline(), self.retries.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    // ----- commands ------------------------------------------------------------------------

    /// Start every connection whose start action is `initiate`.
    pub fn start(&mut self, now: Instant) {
        let ids: Vec<ConnId> = self
            .connection_ids()
            .filter(|id| self.connection(*id).is_some_and(|c| c.initiate))
            .collect();
        for id in ids {
            if let Err(e) = self.initiate(now, id) {
                debug!(conn = id.0, "cannot initiate: {e}");
            }
        }
    }

    /// Ids of every configured connection.
    pub fn connection_ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.connections
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_some())
            .filter_map(|(i, _)| u32::try_from(i).ok().map(ConnId))
    }

    /// Delete every IKE SA of a connection with the peer (SAs still negotiating are dropped).
    pub fn terminate(&mut self, now: Instant, conn: ConnId) {
        let ids: Vec<SaId> = self
            .sas()
            .filter(|sa| sa.conn == conn)
            .map(|sa| sa.id)
            .collect();
        for id in ids {
            let Some(mut sa) = self.take(id) else {
                continue;
            };
            let fate = if sa.state == SaState::Established {
                sa.state = SaState::Deleting;
                sa.v2.exchanges.queued.clear();
                self.request(now, &mut sa, RequestKind::DeleteIke);
                Fate::Keep
            } else {
                Fate::Remove(DownReason::Deleted)
            };
            self.settle(now, sa, fate);
        }
    }

    /// Rekey every CHILD_SA of a connection now (as `swanctl --rekey --child`).
    pub fn rekey_children(&mut self, now: Instant, conn: ConnId) {
        for id in self.established_ids(conn) {
            let Some(mut sa) = self.take(id) else {
                continue;
            };
            let spis: Vec<u32> = sa.children.iter().map(|c| c.inbound_spi).collect();
            for spi in spis {
                self.rekey_child(now, &mut sa, spi);
            }
            self.put(sa);
        }
    }

    /// Rekey the IKE SA of a connection now (as `swanctl --rekey --ike`).
    pub fn rekey_ike(&mut self, now: Instant, conn: ConnId) {
        for id in self.established_ids(conn) {
            let Some(mut sa) = self.take(id) else {
                continue;
            };
            self.request(now, &mut sa, super::sa::RequestKind::RekeyIke);
            self.put(sa);
        }
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
            Some(1) => self.drop_ikev1(remote),
            // Any other version goes to the IKEv2 codec, which refuses what is not IKEv2.
            _ => self.handle_v2_datagram(now, local, remote, datagram),
        }
    }

    /// IKEv1 is not implemented: its datagrams are counted, and the first from each peer is
    /// logged so that an operator sees why a peer configured for IKEv1 gets no answer.
    fn drop_ikev1(&mut self, remote: SocketAddr) {
        self.stats.dropped_ikev1 += 1;
        if self.ikev1_peers_seen.len() >= IKEV1_PEERS_REMEMBERED {
            // Bounded against spoofed sources: peers seen long ago may be logged again.
            self.ikev1_peers_seen.clear();
        }
        if self.ikev1_peers_seen.insert(remote.ip()) {
            info!(peer = %remote, "IKEv1 not supported: dropped an IKEv1 datagram (counted in dropped_ikev1)");
        }
    }
}

impl Engine {
    /// Fire every deadline that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.retry_due_connections(now);
        while let Some((id, kind, generation)) = self.timers.pop_due(now) {
            let Some(mut sa) = self.take(id) else {
                continue;
            };
            if !TimerQueue::take_if_current(&mut sa.timers, kind, generation) {
                self.put(sa);
                continue;
            }
            let fate = match kind {
                Timer::Retransmit => self.on_retransmit_timer(now, &mut sa),
                Timer::Establish
                    if sa.state != SaState::Established && sa.state != SaState::Deleting =>
                {
                    Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                        "not established in time",
                    )))
                }
                Timer::Establish => Fate::Keep,
                Timer::Dpd => self.on_dpd_timer(now, &mut sa),
                Timer::ChildRekey => {
                    self.on_child_rekey_timer(now, &mut sa);
                    Fate::Keep
                }
                Timer::IkeRekey => {
                    if sa.state == SaState::Established && sa.replaced_by.is_none() {
                        self.request(now, &mut sa, super::sa::RequestKind::RekeyIke);
                    }
                    Fate::Keep
                }
                // RFC 7296 2.8: an IKE SA past its lifetime is deleted; its CHILD_SAs go with it.
                Timer::IkeExpire => Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                    "IKE SA lifetime expired before it could be rekeyed",
                ))),
            };
            self.settle(now, sa, fate);
        }
    }

    /// Rekeys the installed CHILD_SA of `reqid`, if there is one (see
    /// [`Self::handle_kernel_event`]), found through the reqid index.
    fn rekey_lost_child(&mut self, now: Instant, reqid: u32) {
        let Some(&id) = self.reqid_owners.get(&reqid) else {
            return;
        };
        let Some(mut sa) = self.take(id) else { return };
        let installed = sa
            .children
            .iter()
            .find(|c| c.reqid == reqid && c.state == ChildState::Installed)
            .map(|c| c.inbound_spi);
        let Some(spi) = installed else {
            self.put(sa);
            return;
        };
        debug!(
            reqid,
            "kernel lost an SA of an installed CHILD_SA: rekeying it"
        );
        self.rekey_child(now, &mut sa, spi);
        self.put(sa);
    }

    /// An event the kernel raised by itself. A soft expiry starts a rekey if our own timer has
    /// not (a safety net); a hard expiry means the CHILD_SA is gone from the kernel: it is
    /// removed and deleted with the peer (RFC 7296 2.8).
    ///
    /// An ACQUIRE (traffic met one of our policies without its SA) for the reqid of an
    /// installed CHILD_SA means the kernel dropped that SA by itself, as it does with SAs
    /// offloaded to a device that goes down or away: the CHILD_SA is rekeyed, so a new pair
    /// is installed (and its offload decided again). On-demand tunnels are not used: an
    /// ACQUIRE for any other reqid is ignored.
    pub fn handle_kernel_event(&mut self, now: Instant, event: KernelEvent) {
        let (spi, hard) = match event {
            KernelEvent::Expire { spi, hard, .. } => (spi, hard),
            KernelEvent::Acquire { reqid } => {
                self.rekey_lost_child(now, reqid);
                return;
            }
        };
        let Some(id) = self.child_owner(spi) else {
            return;
        };
        let Some(mut sa) = self.take(id) else { return };
        if hard {
            if self.drop_child(
                &mut sa,
                spi,
                DownReason::NegotiationFailed(Failure::local("CHILD_SA hard lifetime expired")),
            ) {
                self.request(
                    now,
                    &mut sa,
                    super::sa::RequestKind::DeleteChild { inbound_spi: spi },
                );
                self.arm_child_rekey(&mut sa);
            }
        } else {
            self.rekey_child(now, &mut sa, spi);
        }
        self.put(sa);
    }

    /// The IKE SA holding the CHILD_SA with this inbound SPI.
    fn child_owner(&self, inbound_spi: u32) -> Option<SaId> {
        self.inbound_spis.get(&inbound_spi).copied().flatten()
    }

    /// The kernel layer's answer to an intent. A failed install takes the CHILD_SA down and
    /// tells the peer, so both ends agree it does not exist.
    pub fn handle_kernel_result(
        &mut self,
        now: Instant,
        id: IntentId,
        result: Result<(), KernelFailure>,
    ) {
        let Some((sa_id, reqid)) = self.pending_installs.remove(&id) else {
            return;
        };
        let Err(message) = result else { return };
        let Some(mut sa) = self.take(sa_id) else {
            return;
        };
        self.child_failed_in_kernel(now, &mut sa, reqid, message);
        self.settle(now, sa, Fate::Keep);
    }

    // ----- plumbing shared by the exchanges ------------------------------------------------

    pub(super) fn take(&mut self, id: SaId) -> Option<IkeSa> {
        self.sas.get_mut(id.0 as usize).and_then(Option::take)
    }

    pub(super) fn put(&mut self, sa: IkeSa) {
        let index = sa.id.0 as usize;
        if let Some(slot) = self.sas.get_mut(index) {
            *slot = Some(sa);
        }
    }

    /// Put an SA back, or remove it with everything it owns.
    pub(super) fn settle(&mut self, now: Instant, sa: IkeSa, fate: Fate) {
        match fate {
            Fate::Keep => self.put(sa),
            Fate::Remove(reason) => self.remove(now, sa, reason),
        }
    }

    pub(super) fn allocate_slot(&mut self) -> SaId {
        if let Some(i) = self.free_slots.pop() {
            return SaId(i);
        }
        self.sas.push(None);
        SaId(u32::try_from(self.sas.len() - 1).unwrap_or(u32::MAX))
    }

    fn remove(&mut self, now: Instant, mut sa: IkeSa, reason: DownReason) {
        let reason = if sa.replaced_by.is_some() {
            DownReason::Rekeyed
        } else {
            reason
        };
        self.by_spi.remove(&sa.local_spi());
        if let Some(key) = sa.half_open_key.take() {
            self.half_open.remove(&key);
        }
        for child in std::mem::take(&mut sa.children) {
            self.remove_child_from_kernel(&sa, &child, reason.clone());
        }
        debug!(conn = sa.conn.0, sa = sa.id.0, ?reason, "IKE SA removed");
        if sa.initiator && !matches!(reason, DownReason::Deleted | DownReason::Rekeyed) {
            self.schedule_retry(now, sa.conn);
        }
        self.events.push_back(Event::IkeDown {
            conn: sa.conn,
            sa: sa.id,
            reason,
        });
        self.free_slots.push(sa.id.0);
    }

    pub(super) fn random_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.rng.fill(&mut b);
        u64::from_be_bytes(b)
    }

    /// A fresh IKE SPI of ours: non-zero and unused (RFC 7296 2.6).
    pub(super) fn new_ike_spi(&mut self) -> u64 {
        loop {
            let spi = self.random_u64();
            if spi != 0 && !self.by_spi.contains_key(&spi) {
                return spi;
            }
        }
    }

    /// A fresh inbound ESP SPI: outside the reserved range 1-255 (RFC 4303 2.1) and unused.
    pub(super) fn new_esp_spi(&mut self) -> u32 {
        loop {
            let mut b = [0u8; 4];
            self.rng.fill(&mut b);
            let spi = u32::from_be_bytes(b);
            if spi > 255 && !self.inbound_spis.contains_key(&spi) {
                self.inbound_spis.insert(spi, None);
                return spi;
            }
        }
    }

    pub(super) fn new_reqid(&mut self) -> u32 {
        let reqid = self.next_reqid;
        self.next_reqid = self.next_reqid.checked_add(1).unwrap_or(REQID_BASE);
        reqid
    }

    pub(super) fn new_intent_id(&mut self) -> IntentId {
        let id = IntentId(self.next_intent);
        self.next_intent += 1;
        id
    }

    pub(super) fn emit_transmit(&mut self, transmit: Transmit) {
        self.transmits.push_back(transmit);
    }

    pub(super) fn emit_event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    pub(super) fn emit_intent(&mut self, intent: KernelIntent) {
        self.intents.push_back(intent);
    }

    pub(super) fn settings_of(&self, conn: ConnId) -> Result<&ConnectionSettings, Error> {
        self.connection(conn)
            .ok_or_else(|| Error::UnknownConnection(format!("#{}", conn.0)))
    }
}
