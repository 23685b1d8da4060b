//! What the engine hands to the layers around it: datagrams to send, kernel intents and
//! events. Nothing here performs I/O.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use zeroize::Zeroizing;

use crate::algorithm::{Encryption, Integrity};
use crate::ike::Offload;

use super::error::{Failure, KernelFailure};

/// Index of an IKE SA in the engine's table. Stable for the SA's lifetime; reused afterwards,
/// so it is paired with a generation where that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SaId(pub u32);

/// Index of a connection in the engine's settings (the order of the configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// A datagram to send. `local`/`remote` carry the ports: when either is 4500 the daemon sends
/// from its NAT-T socket, which prepends the non-ESP marker (RFC 3948 2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub payload: Vec<u8>,
}

/// One direction of an ESP SA, as the kernel needs it (`ip xfrm state`).
#[derive(Clone, PartialEq, Eq)]
pub struct EspSa {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    pub encryption: Encryption,
    pub integrity: Option<Integrity>,
    /// Encryption key; for AEAD ciphers the 4-octet salt is appended (rfc4106/rfc7539esp).
    pub encryption_key: Zeroizing<Vec<u8>>,
    pub integrity_key: Zeroizing<Vec<u8>>,
    pub esn: bool,
    /// UDP encapsulation ports (source, destination) when NAT was detected (RFC 3948).
    pub encap: Option<(u16, u16)>,
}

impl std::fmt::Debug for EspSa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspSa")
            .field("src", &self.src)
            .field("dst", &self.dst)
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("encryption", &self.encryption)
            .field("integrity", &self.integrity)
            .field("esn", &self.esn)
            .field("encap", &self.encap)
            .finish_non_exhaustive()
    }
}

/// A CHILD_SA as the kernel layer installs it: both directions (or the inbound one first, see
/// `outbound`), the negotiated selectors and the lifetimes the kernel should enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInstall {
    pub conn: ConnId,
    pub ike_sa: SaId,
    /// Identifies the policy set of this CHILD_SA across rekeys (the kernel's reqid).
    pub reqid: u32,
    pub inbound: EspSa,
    /// `None` when the outbound SA must wait: the responder of a CHILD_SA rekey may not send
    /// on the new SA before the initiator can receive on it (RFC 7296 2.8), which it knows
    /// once the initiator deletes the old SA. The outbound SA then follows in
    /// [`KernelIntent::InstallOutbound`]. Without it, the kernel would switch to the new
    /// outbound SA at once (the newest SA of a reqid wins) and drop traffic at the peer until
    /// the peer has processed our response.
    pub outbound: Option<EspSa>,
    pub local_selectors: Vec<IpNet>,
    pub remote_selectors: Vec<IpNet>,
    /// Soft limit: the engine rekeys before it; the kernel's soft expiry is a safety net.
    pub soft_lifetime: Duration,
    /// Hard limit: the kernel deletes the SA at this age (RFC 7296 2.8).
    pub hard_lifetime: Duration,
    /// A limit on the bytes each SA protects, when the peer negotiated one (IKEv1 lifetimes
    /// in kilobytes, RFC 2407 4.5): hard at this, soft at 90% of it.
    pub byte_limit: Option<u64>,
    /// The xfrm interface this CHILD_SA belongs to (hub mode, route-based): its SAs and
    /// policies carry this `if_id` and only traffic routed through that interface uses them.
    /// `None`: policy-based, as without interfaces.
    pub if_id: Option<u32>,
    /// ESP hardware offload the connection asks for; the kernel layer resolves the device
    /// and decides (see `kernel::xfrm::offload`).
    pub offload: Offload,
}

/// The outbound SA of a CHILD_SA installed earlier without it (see [`ChildInstall::outbound`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundInstall {
    pub conn: ConnId,
    pub ike_sa: SaId,
    pub reqid: u32,
    pub sa: EspSa,
    pub soft_lifetime: Duration,
    pub hard_lifetime: Duration,
    pub byte_limit: Option<u64>,
    pub if_id: Option<u32>,
    pub offload: Offload,
}

/// The policies of a trap (`start_action = "trap"`): out, in and fwd for every local x
/// remote subnet pair, with the ESP tunnel template of the connection's endpoints and the
/// reqid reserved for it, and no SA. Traffic matching the `out` policy makes the kernel raise
/// XFRM_MSG_ACQUIRE with that reqid; the CHILD_SA then negotiated is installed with the same
/// reqid, so it takes these very policies over (RFC 4301 5.2: the SPD entry that asks for
/// an SA to be created on demand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrapPolicies {
    pub conn: ConnId,
    pub reqid: u32,
    /// The tunnel's ends, as a CHILD_SA's SAs would have them.
    pub local: IpAddr,
    pub remote: IpAddr,
    pub local_selectors: Vec<IpNet>,
    pub remote_selectors: Vec<IpNet>,
    /// Hub mode: the connection's xfrm interface, as its CHILD_SAs carry it.
    pub if_id: Option<u32>,
}

/// What the kernel must do, in order. The engine never waits for the kernel: results come
/// back through [`crate::ike::Engine::handle_kernel_result`] keyed by `IntentId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelIntent {
    /// Install (or, for a rekey, add next to the old pair) a CHILD_SA and its policies.
    InstallChild {
        id: IntentId,
        child: Box<ChildInstall>,
    },
    /// Add the outbound SA of a CHILD_SA installed inbound-only; traffic moves to it.
    InstallOutbound {
        id: IntentId,
        child: Box<OutboundInstall>,
    },
    /// Remove one CHILD_SA: both SPIs (an outbound SA never installed is already gone);
    /// `remove_policies` when no successor takes them over.
    DeleteChild {
        id: IntentId,
        reqid: u32,
        inbound: (IpAddr, IpAddr, u32),
        outbound: (IpAddr, IpAddr, u32),
        remove_policies: bool,
        local_selectors: Vec<IpNet>,
        remote_selectors: Vec<IpNet>,
        /// The `if_id` the policies were installed with: policies of different xfrm
        /// interfaces may share selectors, so deleting by selector must name it.
        if_id: Option<u32>,
    },
    /// Install a trap's policies, or bring existing ones (those of a CHILD_SA with the
    /// trap's reqid, or of an earlier trap) to the trap's template: policies that exist are
    /// updated, never refused as existing.
    InstallTrap {
        id: IntentId,
        trap: Box<TrapPolicies>,
    },
    /// Remove a trap's policies (those already gone are no error).
    RemoveTrap {
        id: IntentId,
        trap: Box<TrapPolicies>,
    },
}

impl KernelIntent {
    /// The id its result comes back with.
    pub fn id(&self) -> IntentId {
        match self {
            KernelIntent::InstallChild { id, .. }
            | KernelIntent::InstallOutbound { id, .. }
            | KernelIntent::DeleteChild { id, .. }
            | KernelIntent::InstallTrap { id, .. }
            | KernelIntent::RemoveTrap { id, .. } => *id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IntentId(pub u64);

/// Why an SA went down; shown in status and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We deleted it (an operator's request, shutdown, reload), or it could not go on
    /// without our doing something the peer needs to hear about first.
    Deleted,
    /// The peer deleted it (RFC 7296 1.4.1): it stopped, restarted or was told to.
    DeletedByPeer,
    /// The peer started over: a new IKE SA with the same identity came with INITIAL_CONTACT,
    /// so the peer holds none of the older ones (RFC 7296 2.4).
    Superseded,
    /// The peer did not answer retransmissions or liveness checks.
    PeerDead,
    /// Authentication failed (ours or theirs).
    AuthFailed(Failure),
    /// Negotiation failed: no proposal chosen, unacceptable selectors, no usable answer...
    NegotiationFailed(Failure),
    /// Replaced by a rekeyed SA.
    Rekeyed,
    /// The kernel refused to install it.
    KernelError(KernelFailure),
}

impl DownReason {
    /// The negotiation failure it carries, if it is one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            DownReason::AuthFailed(failure) | DownReason::NegotiationFailed(failure) => {
                Some(failure)
            }
            _ => None,
        }
    }

    /// [`DownReason::failure`], for the dispatch to fill in its message.
    pub fn failure_mut(&mut self) -> Option<&mut Failure> {
        match self {
            DownReason::AuthFailed(failure) | DownReason::NegotiationFailed(failure) => {
                Some(failure)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::Deleted => f.write_str("deleted"),
            DownReason::DeletedByPeer => f.write_str("deleted by the peer"),
            DownReason::Superseded => {
                f.write_str("the peer started over with a new IKE SA (INITIAL_CONTACT)")
            }
            DownReason::PeerDead => f.write_str("the peer stopped answering"),
            DownReason::AuthFailed(why) => write!(f, "authentication failed: {why}"),
            DownReason::NegotiationFailed(why) => write!(f, "negotiation failed: {why}"),
            DownReason::Rekeyed => f.write_str("replaced by a rekeyed SA"),
            DownReason::KernelError(why) => write!(f, "the kernel refused the SA: {why}"),
        }
    }
}

/// State changes for status, logs and the hub's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    IkeUp {
        conn: ConnId,
        sa: SaId,
        remote: SocketAddr,
    },
    IkeDown {
        conn: ConnId,
        sa: SaId,
        reason: DownReason,
    },
    ChildUp {
        conn: ConnId,
        sa: SaId,
        reqid: u32,
        inbound_spi: u32,
        outbound_spi: u32,
    },
    ChildDown {
        conn: ConnId,
        sa: SaId,
        reqid: u32,
        inbound_spi: u32,
        reason: DownReason,
    },
    /// The IKE SA was replaced by a rekeyed one; its CHILD_SAs moved over.
    IkeRekeyed { conn: ConnId, old: SaId, new: SaId },
    /// A CHILD_SA could not be negotiated; the IKE SA stays.
    ChildFailed {
        conn: ConnId,
        sa: SaId,
        reason: DownReason,
    },
    /// The kernel refused the policies of a trap: the connection waits for no traffic
    /// until it is initiated, reloaded or the daemon restarted.
    TrapFailed {
        conn: ConnId,
        failure: KernelFailure,
    },
    /// We refused a peer's request that left no SA (an IKE_SA_INIT, an IKEv1 datagram).
    /// `conn`: the connection it was for, when one is known; without one, each peer is
    /// reported once (a bounded memory of peers), so a flood of strangers floods no log.
    Refused {
        conn: Option<ConnId>,
        peer: SocketAddr,
        failure: Failure,
    },
}

impl Event {
    /// The connection the event is about, if it names one.
    pub fn conn(&self) -> Option<ConnId> {
        match self {
            Event::IkeUp { conn, .. }
            | Event::IkeDown { conn, .. }
            | Event::ChildUp { conn, .. }
            | Event::ChildDown { conn, .. }
            | Event::IkeRekeyed { conn, .. }
            | Event::ChildFailed { conn, .. }
            | Event::TrapFailed { conn, .. } => Some(*conn),
            Event::Refused { conn, .. } => *conn,
        }
    }

    /// The negotiation failure the event reports, if it reports one.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Event::IkeDown { reason, .. }
            | Event::ChildDown { reason, .. }
            | Event::ChildFailed { reason, .. } => reason.failure(),
            Event::Refused { failure, .. } => Some(failure),
            Event::IkeUp { .. }
            | Event::ChildUp { .. }
            | Event::IkeRekeyed { .. }
            | Event::TrapFailed { .. } => None,
        }
    }

    /// [`Event::failure`], for the dispatch to fill in its message.
    pub fn failure_mut(&mut self) -> Option<&mut Failure> {
        match self {
            Event::IkeDown { reason, .. }
            | Event::ChildDown { reason, .. }
            | Event::ChildFailed { reason, .. } => reason.failure_mut(),
            Event::Refused { failure, .. } => Some(failure),
            Event::IkeUp { .. }
            | Event::ChildUp { .. }
            | Event::IkeRekeyed { .. }
            | Event::TrapFailed { .. } => None,
        }
    }
}

/// Events the kernel raises on its own, as the kernel layer reports them to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent {
    /// An SA reached its soft (`hard == false`) or hard lifetime.
    Expire { dst: IpAddr, spi: u32, hard: bool },
    /// Traffic hit a policy without an SA (on-demand tunnels).
    Acquire { reqid: u32 },
}
