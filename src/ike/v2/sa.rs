//! What an IKEv2 SA keeps beyond the common part of [`IkeSa`](super::super::sa::IkeSa): the
//! SK payload keys, the IKE_SA_INIT context until IKE_AUTH, message IDs and the
//! retransmission cache, fragments being reassembled and an outstanding CREATE_CHILD_SA.

use std::collections::VecDeque;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::algorithm::DhGroup;
use crate::crypto::dh::KeyExchange;
use crate::crypto::keymat::IkeSuite;
use crate::crypto::protect::PayloadProtection;

use super::super::sa::RequestKind;
use super::message::{Digest, Reassembly};

/// The IKEv2 part of an IKE SA.
#[derive(Default)]
pub struct V2State {
    pub crypto: Option<SaCrypto>,
    /// The handshake until the SA is established (boxed inside: most SAs have none).
    pub handshake: Option<Handshake>,
    pub exchanges: Exchanges,
    /// Both ends announced IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3).
    pub fragmentation: bool,
    pub reassembly: Option<Reassembly>,
    /// The DH group the peer asked for with INVALID_KE_PAYLOAD, for our next CREATE_CHILD_SA.
    pub ke_group_hint: Option<DhGroup>,
    /// The peer refused a CHILD_SA rekey with a key exchange (NO_PROPOSAL_CHOSEN) and PFS is
    /// optional: our CHILD_SA rekeys on this IKE SA and its successors go without one.
    pub rekey_without_pfs: bool,
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

/// Where the IKE_SA_INIT/IKE_AUTH handshake stands, holding what its next message needs
/// (RFC 7296 1.2): one state per expected message, as rustls's `Expect*` states. Gone once
/// the SA is established.
pub enum Handshake {
    /// Initiator: our IKE_SA_INIT request is out.
    ExpectInitResponse(Box<InitSent>),
    /// Both roles after IKE_SA_INIT: the IKE_AUTH request (responder) or response
    /// (initiator) is to come.
    ExpectAuth(Box<AuthContext>),
}

/// The initiator's IKE_SA_INIT in flight: what a resend (after INVALID_KE_PAYLOAD or
/// COOKIE) and the response need.
pub struct InitSent {
    pub ni: Vec<u8>,
    /// The request as sent: AUTH signs it (RFC 7296 2.15).
    pub request: Vec<u8>,
    pub dh: KeyExchange,
    /// A cookie the responder asked us to return (RFC 7296 2.6).
    pub cookie: Option<Vec<u8>>,
    /// The inbound SPI reserved for the first CHILD_SA.
    pub child_spi: u32,
    /// No other IKE SA of the connection exists: IKE_AUTH tells the peer (INITIAL_CONTACT).
    pub initial_contact: bool,
}

/// What IKE_SA_INIT leaves behind until IKE_AUTH is done: both messages and nonces are
/// signed in AUTH (RFC 7296 2.15).
pub struct AuthContext {
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub request: Vec<u8>,
    pub response: Vec<u8>,
    /// Initiator: the inbound SPI reserved for the first CHILD_SA (0 for the responder).
    pub child_spi: u32,
    /// Initiator: send INITIAL_CONTACT in IKE_AUTH.
    pub initial_contact: bool,
    /// The hashes the peer verifies signatures with (SIGNATURE_HASH_ALGORITHMS, RFC 7427
    /// 4); `None` if it announced none.
    pub peer_hashes: Option<Vec<crate::crypto::pki::SignatureHash>>,
}

impl V2State {
    /// The initiator's IKE_SA_INIT in flight, if that is where the handshake stands.
    pub fn init_sent(&mut self) -> Option<&mut InitSent> {
        match self.handshake.as_mut()? {
            Handshake::ExpectInitResponse(sent) => Some(sent),
            Handshake::ExpectAuth(_) => None,
        }
    }

    /// What AUTH signs, once IKE_SA_INIT is done and until IKE_AUTH is.
    pub fn auth_context(&self) -> Option<&AuthContext> {
        match self.handshake.as_ref()? {
            Handshake::ExpectAuth(context) => Some(context),
            Handshake::ExpectInitResponse(_) => None,
        }
    }
}

/// What our outstanding request waits for, holding what its answer needs: one state per
/// exchange, as rustls's `Expect*` handshake states. The answer consumes it.
pub enum Expect {
    /// The IKE_SA_INIT response (its context is the SA's [`Handshake`]).
    InitResponse,
    /// The IKE_AUTH response.
    AuthResponse,
    /// The (empty) answer to a liveness check.
    LivenessAnswer,
    /// The answer to our Delete of the IKE SA.
    IkeDeleted,
    /// The answer to our Delete of the CHILD_SA whose inbound SPI is given.
    ChildDeleted { inbound_spi: u32 },
    /// The answer to our CREATE_CHILD_SA rekeying a CHILD_SA.
    ChildRekey(Box<ChildRekeySent>),
    /// The answer to our CREATE_CHILD_SA rekeying the IKE SA.
    IkeRekey(Box<IkeRekeySent>),
    /// The answer to our CREATE_CHILD_SA asking for a new CHILD_SA.
    NewChild(Box<NewChildSent>),
}

/// Our request for a new CHILD_SA in flight (RFC 7296 1.3.1).
pub struct NewChildSent {
    pub ni: Vec<u8>,
    pub dh: Option<KeyExchange>,
    pub new_inbound_spi: u32,
    /// The child it replaces (our inbound SPI), retired once the new one is installed.
    pub replaces: Option<u32>,
    /// The reqid of the child it replaces or of one with the same selectors, so that the
    /// kernel policies stay one set.
    pub reqid: Option<u32>,
    pub local_ts: Vec<crate::ike::Selector>,
    pub remote_ts: Vec<crate::ike::Selector>,
}

/// Our CHILD_SA rekey in flight (RFC 7296 1.3.3).
pub struct ChildRekeySent {
    pub ni: Vec<u8>,
    /// The PFS key exchange, when our proposals ask for one.
    pub dh: Option<KeyExchange>,
    pub new_inbound_spi: u32,
    pub old_inbound_spi: u32,
}

/// Our IKE SA rekey in flight (RFC 7296 1.3.2).
pub struct IkeRekeySent {
    pub ni: Vec<u8>,
    pub dh: KeyExchange,
    /// Our SPI of the new IKE SA, reserved until the exchange ends.
    pub new_spi: u64,
}

/// Our outstanding request, kept for retransmission until its response arrives.
pub struct Outstanding {
    pub expect: Expect,
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
    pub request: Digest,
    pub datagrams: Vec<Vec<u8>>,
}
