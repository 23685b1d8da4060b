//! State of one IKE SA and its CHILD_SAs.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::crypto::dh::KeyExchange;
use zeroize::Zeroizing;

use crate::crypto::keymat::IkeSuite;
use crate::crypto::protect::PayloadProtection;

use super::output::{ConnId, SaId};
use super::selector::Selector;
use super::settings::IkeIdentity;
use super::timer::TimerSlots;

/// Where an IKE SA stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaState {
    /// Initiator: IKE_SA_INIT request sent.
    InitSent,
    /// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
    InitAnswered,
    /// Initiator: IKE_AUTH request sent.
    AuthSent,
    Established,
    /// A Delete for the IKE SA is outstanding.
    Deleting,
}

impl SaState {
    pub fn name(self) -> &'static str {
        match self {
            SaState::InitSent => "connecting",
            SaState::InitAnswered => "half-open",
            SaState::AuthSent => "authenticating",
            SaState::Established => "established",
            SaState::Deleting => "deleting",
        }
    }
}

/// Keys and payload protection of an IKE SA, once IKE_SA_INIT completed.
pub struct SaCrypto {
    pub suite: IkeSuite,
    /// SK_d: the keys of every CHILD_SA and of the IKE SA's successor derive from it
    /// (RFC 7296 2.17, 2.18).
    pub sk_d: Zeroizing<Vec<u8>>,
    /// Only the AUTH payloads of IKE_AUTH use SK_pi and SK_pr (RFC 7296 2.15): kept until
    /// the SA is established, never on a rekeyed SA.
    pub auth_keys: Option<AuthKeys>,
    /// Protects what we send (SK_ei/SK_ai as original initiator, SK_er/SK_ar otherwise).
    pub outbound: PayloadProtection,
    pub inbound: PayloadProtection,
}

/// SK_pi and SK_pr.
pub struct AuthKeys {
    pub sk_pi: Zeroizing<Vec<u8>>,
    pub sk_pr: Zeroizing<Vec<u8>>,
}

/// What IKE_SA_INIT leaves behind until IKE_AUTH is done: both messages and nonces are
/// signed in AUTH (RFC 7296 2.15).
pub struct InitContext {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// Initiator: our key exchange until the response arrives.
    pub dh: Option<KeyExchange>,
    /// Initiator: a cookie the responder asked us to return (RFC 7296 2.6).
    pub cookie: Option<Vec<u8>>,
    /// Initiator: the inbound SPI reserved for the first CHILD_SA.
    pub child_spi: u32,
}

/// The request kinds an SA can have in flight; one at a time (window size 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    Init,
    Auth,
    Liveness,
    DeleteIke,
    /// Delete the CHILD_SA whose inbound SPI (ours, the one the peer knows) is given.
    DeleteChild {
        inbound_spi: u32,
    },
    /// Replace the CHILD_SA with this inbound SPI (CREATE_CHILD_SA with REKEY_SA).
    RekeyChild {
        old_inbound_spi: u32,
    },
    /// Replace the IKE SA itself (CREATE_CHILD_SA with IKE proposals, RFC 7296 1.3.2).
    RekeyIke,
}

/// What we sent in an outstanding CREATE_CHILD_SA request and need to finish it.
pub struct PendingCreate {
    pub ni: Vec<u8>,
    pub dh: Option<KeyExchange>,
    pub target: CreateTarget,
}

pub enum CreateTarget {
    /// A CHILD_SA rekey: our new inbound SPI and the old child's inbound SPI.
    Child {
        new_inbound_spi: u32,
        old_inbound_spi: u32,
    },
    /// An IKE SA rekey: our SPI of the new IKE SA.
    Ike { new_spi: u64 },
}

/// Our outstanding request, kept for retransmission until its response arrives.
pub struct Outstanding {
    pub kind: RequestKind,
    pub message_id: u32,
    /// The request's datagrams (several when fragmented).
    pub datagrams: Vec<Vec<u8>>,
    pub sends: u32,
    /// When it was first sent: the connection's `dpd_timeout` counts from here.
    pub first_sent: Instant,
}

/// Message-ID bookkeeping and the retransmission cache (RFC 7296 2.1-2.3).
#[derive(Default)]
pub struct Exchanges {
    pub next_request_id: u32,
    pub outstanding: Option<Outstanding>,
    pub queued: VecDeque<RequestKind>,
    /// The next request ID we expect from the peer.
    pub expected_request_id: u32,
    /// Our response to the peer's last request, resent verbatim when it retransmits.
    pub last_response: Option<CachedResponse>,
}

/// The answer to the peer's last request and what identifies that request.
pub struct CachedResponse {
    pub message_id: u32,
    pub request: super::v2::message::Digest,
    pub datagrams: Vec<Vec<u8>>,
}

/// The algorithms of a negotiated CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSuite {
    pub encryption: crate::algorithm::Encryption,
    pub integrity: Option<crate::algorithm::Integrity>,
    pub esn: bool,
    pub dh: Option<crate::algorithm::DhGroup>,
}

/// One negotiated CHILD_SA (its kernel SAs are owned by the kernel layer).
#[derive(Debug, Clone)]
pub struct ChildSa {
    /// Shared by a CHILD_SA and its rekeyed successors: the kernel policies belong to it.
    pub reqid: u32,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub suite: ChildSuite,
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
    pub established_at: Instant,
    /// When we start replacing it (lifetime minus jitter).
    pub rekey_at: Instant,
    pub state: ChildState,
    /// The peer rekeyed this child while our own rekey of it was outstanding: the child its
    /// exchange created (our inbound SPI) and that exchange's nonces (RFC 7296 2.8.1).
    pub collision: Option<Collision>,
    /// Hub mode: the if_id of the connection's xfrm interface, on the SAs and policies.
    pub if_id: Option<u32>,
    /// Created by the peer's rekey of a child we still hold: our outbound SA waits until the
    /// peer deletes that child (RFC 7296 2.8; see [`super::ChildInstall::outbound`]).
    pub deferred_outbound: Option<Box<super::OutboundInstall>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    Installed,
    /// Our CREATE_CHILD_SA replacing it is outstanding.
    Rekeying,
    /// Replaced; our Delete for it is outstanding or the peer's is expected.
    Rekeyed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub peer_child_inbound_spi: u32,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NatState {
    /// Our address is translated on the way to the peer.
    pub local_behind: bool,
    /// The peer's address is translated (it is behind a NAT).
    pub remote_behind: bool,
}

impl NatState {
    pub fn any(self) -> bool {
        self.local_behind || self.remote_behind
    }
}

pub struct IkeSa {
    pub id: SaId,
    pub conn: ConnId,
    /// We are the original initiator of this IKE SA.
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: SaState,
    pub nat: NatState,
    pub crypto: Option<SaCrypto>,
    /// Boxed: most SAs are established and have none, so it should not take room in each.
    pub init: Option<Box<InitContext>>,
    pub exchanges: Exchanges,
    /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3).
    pub fragmentation: bool,
    pub reassembly: Option<super::v2::message::Reassembly>,
    pub children: Vec<ChildSa>,
    pub timers: TimerSlots,
    pub remote_id: Option<IkeIdentity>,
    /// Our outstanding CREATE_CHILD_SA request.
    pub pending_create: Option<PendingCreate>,
    /// The DH group the peer asked for with INVALID_KE_PAYLOAD, for our next CREATE_CHILD_SA.
    pub ke_group_hint: Option<crate::algorithm::DhGroup>,
    /// This SA was rekeyed into another; it only waits for its deletion.
    pub replaced_by: Option<SaId>,
    /// Responder: the key of this SA in the half-open table until IKE_AUTH completes.
    pub half_open_key: Option<(u64, SocketAddr)>,
    pub created_at: Instant,
    pub established_at: Option<Instant>,
    pub last_received: Instant,
}

/// Who an IKE SA is with and how it is addressed; the rest of a new SA starts empty.
pub struct SaOrigin {
    pub id: SaId,
    pub conn: ConnId,
    pub initiator: bool,
    pub spi_i: u64,
    pub spi_r: u64,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: SaState,
}

impl IkeSa {
    pub fn new(origin: SaOrigin, now: Instant) -> IkeSa {
        let SaOrigin {
            id,
            conn,
            initiator,
            spi_i,
            spi_r,
            local,
            remote,
            state,
        } = origin;
        IkeSa {
            id,
            conn,
            initiator,
            spi_i,
            spi_r,
            local,
            remote,
            state,
            nat: NatState::default(),
            crypto: None,
            init: None,
            exchanges: Exchanges::default(),
            fragmentation: false,
            reassembly: None,
            children: Vec::new(),
            timers: TimerSlots::default(),
            remote_id: None,
            pending_create: None,
            ke_group_hint: None,
            replaced_by: None,
            half_open_key: None,
            created_at: now,
            established_at: None,
            last_received: now,
        }
    }

    /// When this IKE SA will be rekeyed, if a rekey is scheduled.
    pub fn rekey_at(&self) -> Option<Instant> {
        self.timers.deadline(super::timer::Timer::IkeRekey)
    }

    /// The negotiated IKE algorithms, e.g. `aes128gcm16-prfsha256-ecp256`.
    pub fn algorithms(&self) -> Option<String> {
        self.crypto.as_ref().map(|c| {
            let s = &c.suite;
            match s.integrity {
                Some(i) => format!("{}-{}-{}-{}", s.encryption, i, s.prf, s.dh),
                None => format!("{}-{}-{}", s.encryption, s.prf, s.dh),
            }
        })
    }

    /// The SPI the peer uses to reach this SA in its messages (ours).
    pub fn local_spi(&self) -> u64 {
        if self.initiator {
            self.spi_i
        } else {
            self.spi_r
        }
    }
}
