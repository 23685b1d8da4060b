//! Everything the exchanges work with besides the one IKE SA they handle: the connections
//! (shared, never copied), the indexes that find SAs without a scan, the timer queue, the
//! output queues, randomness and counters.
//!
//! The engine keeps its SAs in a table of its own and lends the exchanges one SA at a time
//! (`&mut IkeSa`) together with this context, so an exchange never takes an SA out of the
//! table to reach the rest. An exchange that creates an IKE SA (IKE_SA_INIT, an IKE SA
//! rekey) hands it over with [`Context::adopt`]; the engine puts it into its table before
//! the input returns.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use tracing::debug;

use crate::crypto::rng::Random;

use super::error::{Error, Failure};
use super::lookup::ConnIndex;
use super::output::{ConnId, DownReason, Event, IntentId, KernelIntent, SaId, Transmit};
use super::reconnect::Retries;
use super::sa::IkeSa;
use super::settings::{CloseAction, ConnectionSettings, EngineSettings};
use super::stats::Stats;
use super::timer::TimerQueue;

/// First reqid handed out; reqids at or above it belong to ikehub (the kernel layer uses the
/// range to recognise its own policies and states).
pub const REQID_BASE: u32 = 0x4000_0000;

/// How many peers are remembered as reported.
const PEERS_REMEMBERED: usize = 1024;

/// What a peer was told about, for reporting each once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum RefusalKind {
    NoConnection,
    HalfOpenLimit,
}

pub struct Context {
    /// Engine-wide knobs; its `connections` list is moved into `connections` below.
    pub(super) settings: EngineSettings,
    /// Connection slots: a [`ConnId`] indexes this and stays valid across reloads (removed
    /// connections leave `None`). Shared (`Arc`): an exchange holds its connection's
    /// settings while it changes the context, without copying them.
    pub(super) connections: Vec<Option<Arc<ConnectionSettings>>>,
    pub(super) conn_index: ConnIndex,
    /// Our IKE SPI -> SA.
    pub(super) by_spi: HashMap<u64, SaId>,
    /// Responder SAs between IKE_SA_INIT and IKE_AUTH, by (initiator SPI, peer address), so a
    /// retransmitted IKE_SA_INIT finds its SA instead of creating another (RFC 7296 2.1).
    pub(super) half_open: HashMap<(u64, SocketAddr), SaId>,
    /// Half-open SAs per peer address, and the IKE_SA_INIT bytes they all keep (the limits of
    /// `EngineSettings::half_open`).
    pub(super) half_open_by_address: HashMap<IpAddr, u32>,
    pub(super) half_open_bytes: u64,
    /// Half-open SAs in the order they were made (with their key in `half_open` and when),
    /// oldest first; entries of SAs no longer half-open are dropped lazily.
    pub(super) half_open_order: VecDeque<(SaId, (u64, SocketAddr), Instant)>,
    /// The half-open SA the request being answered replaces, once its own SA exists; and
    /// those replaced, for the engine to remove after the input.
    pub(super) evict_for_new: Option<SaId>,
    pub(super) half_open_evictions: Vec<SaId>,
    /// ESP SPIs we handed out for inbound SAs, and the IKE SA whose child owns each (set
    /// once installed, `None` while only reserved).
    pub(super) inbound_spis: HashMap<u32, Option<SaId>>,
    /// The IKE SA holding the CHILD_SAs of each reqid (a CHILD_SA and its rekeyed
    /// successors share one), so a kernel ACQUIRE finds its SA without a scan.
    pub(super) reqid_owners: HashMap<u32, SaId>,
    next_reqid: u32,
    /// Traps (`start_action = "trap"`) by reqid, retired ones included (see `trap.rs`), so a
    /// kernel ACQUIRE finds its connection without a scan.
    pub(super) traps: HashMap<u32, super::trap::Trap>,
    /// The reqid of each connection's trap.
    pub(super) trap_of: HashMap<ConnId, u32>,
    /// Trap intents awaiting a result: intent -> trap reqid.
    pub(super) pending_traps: HashMap<IntentId, u32>,
    /// Peers already told about in an [`Event::Refused`] without a connection (at most
    /// [`PEERS_REMEMBERED`]).
    peers_told: HashSet<(IpAddr, RefusalKind)>,
    pub(super) timers: TimerQueue,
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    pub(super) intents: VecDeque<KernelIntent>,
    next_intent: u64,
    /// Kernel installs awaiting a result: intent -> (SA, reqid).
    pub(super) pending_installs: HashMap<IntentId, (SaId, u32)>,
    pub(super) rng: Box<dyn Random>,
    pub(super) cookie_secrets: super::v2::cookie::CookieSecrets,
    pub(super) stats: Stats,
    pub(super) retries: Retries,
    /// Peer names waiting for the driver to resolve them.
    pub(super) resolutions: super::resolve::Resolutions,
    /// SA numbers of removed SAs, handed out again first.
    free_ids: Vec<u32>,
    /// The number after the highest SA number handed out so far.
    next_id: u32,
    /// SAs created while handling the current input, for the engine's table.
    pub(super) created: Vec<IkeSa>,
    /// SAs established with INITIAL_CONTACT while handling the current input: the engine
    /// removes the peer's older SAs of the same connection and identity (RFC 7296 2.4).
    pub(super) initial_contacts: Vec<SaId>,
    /// Wall-clock time as the caller last gave it ([`super::Engine::set_wall_clock`]), with
    /// the monotonic instant it was read at: certificates are valid at a date, and the engine
    /// reads no clock.
    pub(super) wall_clock: Option<(Instant, u64)>,
    /// Installed CHILD_SAs per set of kernel policies (their if_id and selectors, hashed):
    /// policies go only with the last child that uses them, whichever IKE SA holds it (a
    /// peer's new IKE SA may install the same policies before its old one is removed).
    pub(super) policy_users: HashMap<u64, u32>,
    /// Connections an operator took down: nothing of ours brings them up again (no restart,
    /// no retry, no trap initiation) until `up` or a reload of the connection.
    pub(super) held_down: HashSet<ConnId>,
    /// The current second of INVALID_IKE_SPI answers and how many went out in it.
    pub(super) invalid_spi_window: Option<(Instant, u32)>,
    /// Where requests for IKE SAs we do not have came from, during the current input
    /// (see `stale_peer.rs`).
    pub(super) stale_peers: Vec<SocketAddr>,
    /// When each listening connection was last initiated for a peer's stale IKE SA.
    pub(super) stale_peer_attempts: HashMap<ConnId, Instant>,
    /// Our SPIs of IKE SAs this run removed, for a while, oldest first: a request on one
    /// is a late retransmission (of a Delete, say), not a peer left with a stale SA.
    pub(super) gone_spis: VecDeque<(u64, Instant)>,
    pub(super) gone_spi_set: HashSet<u64>,
    /// The IKE SAs of each connection (in the engine's table), so that what a connection
    /// holds is found without a pass over every SA. Kept by the engine's adoption of an SA,
    /// [`Context::remove`] and [`Context::move_sa`].
    pub(super) sas_of: HashMap<ConnId, Vec<SaId>>,
    /// The gateway is stopping (`Engine::shutdown`): requests are retransmitted on the
    /// shutdown's schedule, nothing new is started or trapped.
    pub(super) stopping: bool,
    /// IKEv1 SAs established during the current input: they take over the IPsec SAs of
    /// older ISAKMP SAs with the same peer (see `v1/reauth.rs`).
    pub(super) v1_established: Vec<SaId>,
    /// IKEv1 SAs deleted during the current input (deletes are not acknowledged in IKEv1),
    /// with why; the engine removes them after the input.
    pub(super) v1_gone: Vec<(SaId, DownReason)>,
    /// The reqid of each IKEv1 IPsec SA pair's selectors, per connection: a peer's Quick Mode
    /// replacing a pair that sits on an older ISAKMP SA keeps its reqid (one policy set).
    pub(super) v1_pair_reqids: HashMap<(ConnId, super::Selector, super::Selector), u32>,
    /// Deletes of IPsec SAs (by SPI) that came over an ISAKMP SA other than the one holding
    /// them, with the SA they came over; the engine finds their holder after the input.
    pub(super) v1_foreign_deletes: Vec<(SaId, u32)>,
    /// ISAKMP SAs already replaced by our re-authentication on which an IPsec SA pair was
    /// just installed; the engine moves it to the replacement after the input.
    pub(super) v1_landed_on_replaced: Vec<SaId>,
}

impl Context {
    /// The name of a connection, for log lines (every line of a connection names it); "?"
    /// for one a reload removed.
    pub(super) fn conn_name(&self, conn: ConnId) -> &str {
        self.connection(conn).map_or("?", |c| c.name.as_str())
    }

    /// Seconds since the Unix epoch at `now`, from the last wall-clock time given; `None`
    /// if none was.
    pub(super) fn unix_time(&self, now: Instant) -> Option<u64> {
        let (at, seconds) = self.wall_clock?;
        Some(seconds.saturating_add(now.saturating_duration_since(at).as_secs()))
    }
}

impl Context {
    pub(super) fn new(mut settings: EngineSettings, mut rng: Box<dyn Random>) -> Context {
        let cookie_secrets = super::v2::cookie::CookieSecrets::new(rng.as_mut());
        let connections: Vec<Option<Arc<ConnectionSettings>>> =
            std::mem::take(&mut settings.connections)
                .into_iter()
                .map(|c| Some(Arc::new(c)))
                .collect();
        let conn_index = ConnIndex::build(&connections);
        Context {
            settings,
            connections,
            conn_index,
            by_spi: HashMap::new(),
            half_open: HashMap::new(),
            half_open_by_address: HashMap::new(),
            half_open_bytes: 0,
            half_open_order: VecDeque::new(),
            evict_for_new: None,
            half_open_evictions: Vec::new(),
            inbound_spis: HashMap::new(),
            reqid_owners: HashMap::new(),
            next_reqid: REQID_BASE,
            traps: HashMap::new(),
            trap_of: HashMap::new(),
            pending_traps: HashMap::new(),
            peers_told: HashSet::new(),
            timers: TimerQueue::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            intents: VecDeque::new(),
            next_intent: 1,
            pending_installs: HashMap::new(),
            rng,
            cookie_secrets,
            stats: Stats::default(),
            retries: Retries::default(),
            resolutions: super::resolve::Resolutions::default(),
            free_ids: Vec::new(),
            next_id: 0,
            created: Vec::new(),
            initial_contacts: Vec::new(),
            wall_clock: None,
            policy_users: HashMap::new(),
            held_down: HashSet::new(),
            invalid_spi_window: None,
            stale_peers: Vec::new(),
            stale_peer_attempts: HashMap::new(),
            gone_spis: VecDeque::new(),
            gone_spi_set: HashSet::new(),
            sas_of: HashMap::new(),
            stopping: false,
            v1_established: Vec::new(),
            v1_gone: Vec::new(),
            v1_pair_reqids: HashMap::new(),
            v1_foreign_deletes: Vec::new(),
            v1_landed_on_replaced: Vec::new(),
        }
    }

    pub(super) fn connection(&self, id: ConnId) -> Option<&ConnectionSettings> {
        self.connections
            .get(id.0 as usize)
            .and_then(Option::as_deref)
    }

    /// A connection's settings, shared: for an exchange that changes the context while it
    /// reads them.
    pub(super) fn shared_connection(&self, id: ConnId) -> Option<Arc<ConnectionSettings>> {
        self.connections.get(id.0 as usize).and_then(Option::clone)
    }

    pub(super) fn settings_of(&self, conn: ConnId) -> Result<&ConnectionSettings, Error> {
        self.connection(conn)
            .ok_or_else(|| Error::UnknownConnection(format!("#{}", conn.0)))
    }

    /// The number of a new IKE SA.
    pub(super) fn new_sa_id(&mut self) -> SaId {
        if let Some(id) = self.free_ids.pop() {
            return SaId(id);
        }
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        SaId(id)
    }

    /// Take a responder's SA out of the half-open table and the limits' counts (IKE_AUTH came,
    /// or the SA goes).
    pub(super) fn release_half_open(&mut self, sa: &mut IkeSa) {
        let Some(entry) = sa.half_open_key.take() else {
            return;
        };
        self.half_open.remove(&(entry.spi_i, entry.remote));
        let address = entry.remote.ip();
        if let Some(count) = self.half_open_by_address.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.half_open_by_address.remove(&address);
            }
        }
        self.half_open_bytes = self.half_open_bytes.saturating_sub(u64::from(entry.bytes));
    }

    /// Index an SA of the engine's table under its connection.
    pub(super) fn index_sa(&mut self, conn: ConnId, id: SaId) {
        let ids = self.sas_of.entry(conn).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    fn unindex_sa(&mut self, conn: ConnId, id: SaId) {
        if let Some(ids) = self.sas_of.get_mut(&conn) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.sas_of.remove(&conn);
            }
        }
    }

    /// An SA changes connection (a responder's IKE_AUTH picks the connection the peer's
    /// identity and selectors belong to): the caller sets `sa.conn` to `to`.
    pub(super) fn move_sa(&mut self, id: SaId, from: ConnId, to: ConnId) {
        if from != to {
            self.unindex_sa(from, id);
            self.index_sa(to, id);
        }
    }

    /// The SAs of a connection, in the order of their numbers (the table's order).
    pub(super) fn sa_ids_of(&self, conn: ConnId) -> Vec<SaId> {
        let mut ids = self.sas_of.get(&conn).cloned().unwrap_or_default();
        ids.sort_unstable_by_key(|id| id.0);
        ids
    }

    /// Hand a new IKE SA to the engine's table.
    pub(super) fn adopt(&mut self, sa: IkeSa) {
        self.created.push(sa);
    }

    /// Forget an IKE SA with everything it owns: its SPI and half-open entries, its
    /// CHILD_SAs in the kernel (a trap's policies stay: see `trap.rs`); tell the daemon,
    /// and act on the connection's close action unless we ended it ourselves or it was
    /// rekeyed (a trap waits for the next packet instead).
    pub(super) fn remove(&mut self, now: Instant, mut sa: IkeSa, reason: DownReason) {
        let reason = if sa.replaced_by.is_some() {
            DownReason::Rekeyed
        } else {
            reason
        };
        self.by_spi.remove(&sa.local_spi());
        self.remember_gone(now, sa.local_spi());
        self.unindex_sa(sa.conn, sa.id);
        self.release_half_open(&mut sa);
        // The connection's close action decides what follows an end we did not ask for: an
        // SA of ours that failed, or one that was up (whoever initiated it) and was deleted by
        // the peer or found dead.
        let unasked = !matches!(
            reason,
            DownReason::Deleted | DownReason::Rekeyed | DownReason::Superseded
        ) && (sa.initiator || sa.established_at.is_some());
        // A trap goes in before the children go out, so that their policies stay (see
        // `trap_covers`) and no packet leaves in the clear in between.
        let trap_on_close = self
            .connection(sa.conn)
            .is_some_and(|c| c.close_action == CloseAction::Trap);
        if unasked && trap_on_close && !self.stopping && !self.trap_of.contains_key(&sa.conn) {
            if let Err(e) = self.install_trap(sa.conn) {
                debug!(conn = self.conn_name(sa.conn), "close_action = trap: {e}");
            }
        }
        for child in std::mem::take(&mut sa.children) {
            self.remove_child_from_kernel(&sa, &child, reason.clone());
        }
        debug!(
            conn = self.conn_name(sa.conn),
            sa = sa.id.0,
            ?reason,
            "IKE SA removed"
        );
        if let Some(why) = sa.restart_when_gone.take() {
            self.schedule_restart(now, sa.conn, &DownReason::NegotiationFailed(*why));
        } else if unasked {
            self.schedule_restart(now, sa.conn, &reason);
        }
        // A named peer found dead may have moved: a listening connection looks it up again
        // (one that initiates does when it restarts).
        if reason == DownReason::PeerDead && !self.stopping {
            self.refresh_peer_address(sa.conn);
        }
        self.events.push_back(Event::IkeDown {
            conn: sa.conn,
            sa: sa.id,
            reason,
        });
        self.free_ids.push(sa.id.0);
    }

    /// Report a refusal of a request that left no SA: always when it was for a connection,
    /// once per peer otherwise.
    pub(super) fn report_refusal(
        &mut self,
        conn: Option<ConnId>,
        peer: SocketAddr,
        failure: Failure,
    ) {
        if conn.is_none() && !self.first_time(peer, RefusalKind::NoConnection) {
            return;
        }
        self.emit_event(Event::Refused {
            conn,
            peer,
            failure,
        });
    }

    /// The connection that names `peer` as its peer's address. Connections that accept any
    /// address are left out: a stranger's datagram must not become their `last_error`.
    pub(super) fn connection_naming(&self, peer: IpAddr) -> Option<ConnId> {
        self.conn_index.by_address(peer).find(|id| {
            self.connection(*id)
                .is_some_and(|c| c.remote_addr == Some(peer))
        })
    }

    /// Whether `peer` is told about `kind` for the first time (bounded against spoofed
    /// sources: peers seen long ago may be told again).
    pub(super) fn first_time(&mut self, peer: SocketAddr, kind: RefusalKind) -> bool {
        if self.peers_told.len() >= PEERS_REMEMBERED {
            self.peers_told.clear();
        }
        self.peers_told.insert((peer.ip(), kind))
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
}
