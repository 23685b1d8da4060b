//! State of one IKE SA and its CHILD_SAs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::output::{ConnId, SaId};
use super::selector::Selector;
use super::settings::IkeIdentity;
use super::timer::TimerSlots;
use super::v2::sa::V2State;

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

/// The requests the engine asks of an established SA, queued until the one before has its
/// answer (window size 1); each version builds its own exchange for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
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
    /// A new CHILD_SA, for the selectors of the child whose inbound SPI is given (retired
    /// once the new one is installed) or for the connection's subnets.
    CreateChild {
        replaces: Option<u32>,
    },
}

/// The algorithms of a negotiated CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSuite {
    pub encryption: crate::algorithm::Encryption,
    pub integrity: Option<crate::algorithm::Integrity>,
    pub esn: bool,
    /// The group of the CHILD_SA's own key exchange (PFS), when it had one.
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
    /// Seconds from `established_at` until the SA ends if it is not replaced: the kernel's
    /// hard lifetime, or the lifetime an IKEv1 peer negotiated when that is shorter.
    pub hard_lifetime_s: u32,
    pub state: ChildState,
    /// The peer rekeyed this child while our own rekey of it was outstanding: the child its
    /// exchange created (our inbound SPI) and that exchange's nonces (RFC 7296 2.8.1).
    pub collision: Option<Collision>,
    /// Hub mode: the if_id of the connection's xfrm interface, on the SAs and policies.
    pub if_id: Option<u32>,
    /// Rekeys of this child that failed in a row; they space the next tries out.
    pub rekey_failures: u8,
    /// Created by the peer's rekey of a child we still hold: our outbound SA waits until the
    /// peer deletes that child (RFC 7296 2.8; see [`super::ChildInstall::outbound`]).
    pub deferred_outbound: Option<Box<super::OutboundInstall>>,
}

/// How ESP carries a CHILD_SA's traffic. Only tunnel mode is negotiated (IKEv2 without
/// USE_TRANSPORT_MODE; IKEv1's tunnel or UDP-encapsulated tunnel) and installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpsecMode {
    Tunnel,
}

impl IpsecMode {
    pub fn name(self) -> &'static str {
        match self {
            IpsecMode::Tunnel => "tunnel",
        }
    }
}

impl ChildSa {
    pub fn mode(&self) -> IpsecMode {
        IpsecMode::Tunnel
    }

    /// The PFS group of the key exchange that made this CHILD_SA; `None` without one (the
    /// first CHILD_SA of IKEv2 never has one).
    pub fn pfs_group(&self) -> Option<crate::algorithm::DhGroup> {
        self.suite.dh
    }

    /// When the SA ends if it is not replaced first (see `hard_lifetime_s`).
    pub fn expires_at(&self) -> Option<Instant> {
        self.established_at
            .checked_add(Duration::from_secs(u64::from(self.hard_lifetime_s)))
    }
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
    /// What only IKEv2 keeps: SK payload keys, message IDs, the exchange in progress.
    pub v2: V2State,
    /// What only IKEv1 keeps (phase 1 keys and IVs, the handshake, Quick Modes); `Some`
    /// exactly for an IKEv1 (ISAKMP) SA.
    pub v1: Option<Box<super::v1::sa::V1State>>,
    pub children: Vec<ChildSa>,
    pub timers: TimerSlots,
    pub remote_id: Option<IkeIdentity>,
    /// The certificate the peer authenticated with (`remote_auth = pubkey`).
    pub peer_certificate: Option<Box<super::peer_certificate::PeerCertificate>>,
    /// This SA was rekeyed into another; it only waits for its deletion.
    pub replaced_by: Option<SaId>,
    /// We delete this SA because it could not keep a CHILD_SA: once it is gone (and its
    /// policies with it), the connection's close action applies.
    pub restart_when_gone: Option<Box<super::error::Failure>>,
    /// Responder: its entry in the half-open table until IKE_AUTH completes.
    pub half_open_key: Option<HalfOpenEntry>,
    pub created_at: Instant,
    pub established_at: Option<Instant>,
    pub last_received: Instant,
}

/// A responder's half-open SA as the limits count it: its key in the half-open table (the
/// initiator's SPI and address) and the bytes of IKE_SA_INIT it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HalfOpenEntry {
    pub spi_i: u64,
    pub remote: SocketAddr,
    pub bytes: u32,
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
            v2: V2State::default(),
            v1: None,
            children: Vec::new(),
            timers: TimerSlots::default(),
            remote_id: None,
            peer_certificate: None,
            replaced_by: None,
            restart_when_gone: None,
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

    /// The negotiated IKE algorithms, once the key exchange is done.
    pub fn suite(&self) -> Option<crate::crypto::IkeSuite> {
        self.v2.crypto.as_ref().map(|c| c.suite)
    }

    /// The IKE version of this SA: 1 or 2.
    pub fn version(&self) -> u8 {
        if self.v1.is_some() {
            1
        } else {
            2
        }
    }

    /// IKEv1: "Main Mode" or "Aggressive Mode"; `None` for IKEv2.
    pub fn exchange_mode(&self) -> Option<&'static str> {
        self.v1.as_ref().map(|v| {
            if v.aggressive {
                "Aggressive Mode"
            } else {
                "Main Mode"
            }
        })
    }

    /// Drop the requests queued behind the one in flight (the SA is going away).
    pub fn clear_queued(&mut self) {
        self.v2.exchanges.queued.clear();
        if let Some(v1) = self.v1.as_mut() {
            v1.queued.clear();
        }
    }

    /// Whether a request of ours is in flight or queued.
    pub fn requests_pending(&self) -> bool {
        match &self.v1 {
            Some(v1) => v1.outstanding.is_some() || !v1.queued.is_empty(),
            None => self.v2.exchanges.outstanding.is_some() || !self.v2.exchanges.queued.is_empty(),
        }
    }

    /// The negotiated IKE algorithms, e.g. `aes128gcm16-prfsha256-ecp256`.
    pub fn algorithms(&self) -> Option<String> {
        if let Some(v1) = &self.v1 {
            return v1
                .crypto
                .as_ref()
                .map(|c| format!("{}-{}-{}", c.encryption, c.hash, c.dh));
        }
        self.suite().map(|s| match s.integrity {
            Some(i) => format!("{}-{}-{}-{}", s.encryption, i, s.prf, s.dh),
            None => format!("{}-{}-{}", s.encryption, s.prf, s.dh),
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
