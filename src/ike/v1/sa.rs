//! What an IKEv1 SA keeps beyond the common part of [`IkeSa`](super::super::sa::IkeSa): the
//! phase 1 keys and the CBC IVs chained per exchange (RFC 2409 appendix B), the Main or
//! Aggressive Mode handshake until it is done, our request in flight, the replies to the
//! peer's last messages (IKEv1 has no message IDs in phase 1: a repeated message is answered
//! from this cache), and the Quick Modes the peer started.

use std::collections::VecDeque;
use std::time::Instant;

use zeroize::Zeroizing;

use crate::algorithm::{DhGroup, Encryption, Integrity};
use crate::crypto::dh::KeyExchange;
use crate::crypto::ikev1::Phase1Cipher;
use crate::ike::sa::{ChildSuite, RequestKind};
use crate::ike::Selector;

use super::nat::NatTVariant;

/// Replies to the peer's messages kept for its retransmissions.
pub const REPLIES_KEPT: usize = 8;

/// Exchanges under way whose IVs are kept (Quick Modes and informational messages).
pub const EXCHANGE_IVS_KEPT: usize = 16;

/// A datagram's digest, to recognise a retransmission byte for byte (as IKEv2's reply
/// cache does).
pub use crate::ike::v2::message::{digest, Digest};

/// The IKEv1 part of an IKE (ISAKMP) SA.
#[derive(Default)]
pub struct V1State {
    /// Aggressive Mode rather than Main Mode.
    pub aggressive: bool,
    pub crypto: Option<V1Crypto>,
    pub handshake: Option<Box<Phase1>>,
    pub outstanding: Option<Outstanding>,
    pub queued: VecDeque<RequestKind>,
    pub replies: VecDeque<CachedReply>,
    pub quick_responders: Vec<QuickResponder>,
    /// NAT traversal both ends announced, and in which dialect (RFC 3947 or a draft).
    pub nat_t: Option<NatTVariant>,
    /// The peer announced RFC 3706 DPD.
    pub peer_dpd: bool,
    /// Sequence number of our last R-U-THERE.
    pub dpd_sequence: u32,
    /// The phase 1 lifetime both ends agreed on, in seconds.
    pub lifetime_s: Option<u64>,
    /// A new phase 1 to replace this SA was started.
    pub reauthenticating: bool,
    /// Inbound SPIs of IPsec SA pairs a Quick Mode of ours replaced, and when they are
    /// removed and deleted with the peer (see `Context::defer_v1_delete_child`).
    pub deferred_deletes: Vec<(Instant, u32)>,
}

/// The keys of an ISAKMP SA once the key exchange is done (RFC 2409 5).
pub struct V1Crypto {
    pub hash: Integrity,
    pub encryption: Encryption,
    pub dh: DhGroup,
    pub cipher: Phase1Cipher,
    /// SKEYID_d: the keys of every IPsec SA derive from it (RFC 2409 5.5).
    pub skeyid_d: Zeroizing<Vec<u8>>,
    /// SKEYID_a: the HASH payloads of Quick Mode and informational messages.
    pub skeyid_a: Zeroizing<Vec<u8>>,
    /// Phase 1's IV: the last ciphertext block of the last phase 1 message; once phase 1 is
    /// done, the seed of every later exchange's IV (RFC 2409 appendix B).
    pub phase1_iv: Vec<u8>,
    /// The IV of each Quick Mode or informational exchange under way, by message ID: the
    /// last ciphertext block of its last message.
    pub exchange_ivs: VecDeque<(u32, Vec<u8>)>,
}

/// The phase 1 handshake until it is done.
pub struct Phase1 {
    pub step: Step,
    /// The proposal both ends agreed on, once the responder chose.
    pub choice: Option<super::proposal::Phase1Choice>,
    /// The body of the initiator's SA payload: HASH_I and HASH_R cover it (RFC 2409 5).
    pub sa_i_b: Vec<u8>,
    /// Our key pair until the peer's public value is known.
    pub dh: Option<KeyExchange>,
    pub ke_i: Vec<u8>,
    pub ke_r: Vec<u8>,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub skeyid: Option<Zeroizing<Vec<u8>>>,
    /// Initiator: tell the peer we hold no other SA with it (INITIAL-CONTACT).
    pub initial_contact: bool,
    /// Aggressive Mode: the body of the peer's ID payload (sent in the clear before the
    /// hash that covers it).
    pub peer_id_b: Vec<u8>,
}

/// Where phase 1 stands: the payloads the peer's next message brings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Initiator: the responder's SA (Main Mode 2) or its SA, KE, nonce, ID and hash
    /// (Aggressive Mode 2).
    Sa,
    /// Initiator: the responder's KE and nonce (Main Mode 4).
    Ke,
    /// Main Mode: the peer's ID and hash (5 for the responder, 6 for the initiator);
    /// Aggressive Mode responder: the initiator's hash (3).
    Id,
}

/// Our request in flight, kept for retransmission until its answer arrives.
pub struct Outstanding {
    pub expect: Expect,
    pub message_id: u32,
    pub datagram: Vec<u8>,
    pub sends: u32,
    pub first_sent: Instant,
}

/// What our request in flight waits for.
pub enum Expect {
    /// The next phase 1 message (see [`Phase1::step`]).
    Phase1,
    /// The responder's Quick Mode answer (HASH(2)).
    Quick(Box<QuickSent>),
    /// R-U-THERE-ACK with this sequence number (RFC 3706).
    DpdAck { sequence: u32 },
}

/// Our Quick Mode in flight (RFC 2409 5.5).
pub struct QuickSent {
    pub ni: Vec<u8>,
    pub dh: Option<KeyExchange>,
    pub inbound_spi: u32,
    pub local_ts: Selector,
    pub remote_ts: Selector,
    /// The IPsec SA it replaces (our inbound SPI), deleted once the new one is installed.
    pub replaces: Option<u32>,
    /// The reqid of the SA it replaces, so the kernel policies stay one set.
    pub reqid: Option<u32>,
    /// The peer's Quick Mode for the same selectors came while ours was in flight (both
    /// ends rekeyed at once): its nonce decides which new pair stays.
    pub collision_ni: Option<Vec<u8>>,
}

/// A Quick Mode the peer started: answered, waiting for its HASH(3).
pub struct QuickResponder {
    pub message_id: u32,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub suite: ChildSuite,
    pub shared: Option<Zeroizing<Vec<u8>>>,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    pub local_ts: Selector,
    pub remote_ts: Selector,
    /// The lifetime both ends agreed on, in seconds.
    pub lifetime_s: Option<u64>,
    /// And in kilobytes, if the peer asked for one (RFC 2407 4.5).
    pub lifetime_kb: Option<u64>,
    /// Our answer (HASH(2)), resent until HASH(3) comes.
    pub reply: Vec<u8>,
    /// The pair replaces one we hold: its inbound SA went into the kernel with our answer
    /// and its outbound SA waits for HASH(3) (in the child's `deferred_outbound`).
    pub installed_early: bool,
    pub sends: u32,
    pub next_resend: Instant,
}

/// Our reply to one of the peer's messages, and that message's digest.
pub struct CachedReply {
    pub received: Digest,
    pub reply: Vec<u8>,
}

impl V1State {
    /// Remember our reply to a message, for its retransmissions.
    pub fn cache_reply(&mut self, received: Digest, reply: Vec<u8>) {
        if self.replies.len() >= REPLIES_KEPT {
            self.replies.pop_front();
        }
        self.replies.push_back(CachedReply { received, reply });
    }

    pub fn cached_reply(&self, received: &Digest) -> Option<&[u8]> {
        self.replies
            .iter()
            .find(|r| r.received == *received)
            .map(|r| r.reply.as_slice())
    }
}

impl V1Crypto {
    /// The running IV of the exchange with this message ID (0: phase 1), derived from the
    /// last phase 1 block for an exchange that starts now.
    pub fn iv_for(&mut self, message_id: u32) -> Vec<u8> {
        if message_id == 0 {
            return self.phase1_iv.clone();
        }
        if let Some((_, iv)) = self.exchange_ivs.iter().find(|(id, _)| *id == message_id) {
            return iv.clone();
        }
        crate::crypto::ikev1::exchange_iv(self.hash, self.encryption, &self.phase1_iv, message_id)
    }

    /// After a message of an exchange went out or was accepted: its last ciphertext block is
    /// the exchange's next IV.
    pub fn set_iv(&mut self, message_id: u32, iv: Vec<u8>) {
        if message_id == 0 {
            self.phase1_iv = iv;
            return;
        }
        if let Some(entry) = self
            .exchange_ivs
            .iter_mut()
            .find(|(id, _)| *id == message_id)
        {
            entry.1 = iv;
            return;
        }
        if self.exchange_ivs.len() >= EXCHANGE_IVS_KEPT {
            self.exchange_ivs.pop_front();
        }
        self.exchange_ivs.push_back((message_id, iv));
    }

    /// The exchange with this message ID is over.
    pub fn forget_iv(&mut self, message_id: u32) {
        self.exchange_ivs.retain(|(id, _)| *id != message_id);
    }
}
