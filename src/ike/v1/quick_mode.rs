//! Quick Mode (RFC 2409 5.5): one pair of IPsec SAs for one pair of client IDs (a local and
//! a remote selector), with or without PFS, both roles:
//!
//! ```text
//! Initiator                                  Responder
//!  1  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] -->
//!                                            <--  2  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr]
//!  3  HDR*, HASH(3)                           -->
//! ```
//!
//! The initiator installs the pair when the second message verifies, before the third
//! leaves; the responder when the third arrives. Until then the responder resends its answer,
//! since a lost third message would leave it without the SAs. A responder replacing a pair
//! it holds (the peer's rekey or re-authentication) installs the new inbound SA with its
//! answer: the initiator sends on the new pair as soon as the answer verifies, before the
//! third message reaches us (Libreswan does the same; strongSwan as initiator switches there).

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use crate::algorithm::{DhGroup, Integrity};
use crate::crypto::dh::KeyExchange;
use crate::crypto::ikev1 as keys;
use crate::crypto::keymat::ChildKeys;
use crate::wire::ikev1::{self, ExchangeType, Header, Payload};

use super::super::child::NewChild;
use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::Failure;
use super::super::output::{DownReason, Event};
use super::super::sa::{ChildState, ChildSuite, IkeSa};
use super::super::selector::Selector;
use super::super::timer::{Timer, TimerQueue};
use super::ids;
use super::main_mode::{find_ke, find_nonce, NONCE_LEN};
use super::message::{self, Opened};
use super::nat::NatTVariant;
use super::proposal;
use super::sa::{Expect, QuickResponder, QuickSent};

/// The exchange's name as failures and logs give it.
pub(super) const QUICK_MODE: &str = "Quick Mode";

/// Quick Modes the peer may have answered and unconfirmed at once.
const QUICK_RESPONDERS_MAX: usize = 32;

fn ids_of(payloads: &[Payload]) -> Vec<&ikev1::Identification> {
    payloads
        .iter()
        .filter_map(|p| match p {
            Payload::Identification(id) => Some(id),
            _ => None,
        })
        .collect()
}

fn lifetime_notify(payloads: &[Payload]) -> Option<u64> {
    payloads.iter().find_map(|p| match p {
        Payload::Notification(n) if n.notify == ikev1::NotifyType::ResponderLifetime => {
            proposal::responder_lifetime_seconds(&n.data)
        }
        _ => None,
    })
}

/// The keys of one IPsec SA: KEYMAT for the SPI of its receiving end (RFC 2409 5.5), cut
/// into the encryption key and the integrity key.
fn sa_keys(
    crypto: &super::sa::V1Crypto,
    suite: &ChildSuite,
    shared: Option<&[u8]>,
    spi: u32,
    (ni, nr): (&[u8], &[u8]),
) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
    let enc_len = suite.encryption.keymat_len();
    let int_len = if suite.encryption.is_aead() {
        0
    } else {
        suite.integrity.map_or(0, Integrity::key_len)
    };
    let keymat = keys::keymat(
        crypto.hash,
        &crypto.skeyid_d,
        shared,
        ikev1::PROTO_IPSEC_ESP,
        spi,
        ni,
        nr,
        enc_len + int_len,
    );
    let enc = Zeroizing::new(keymat.get(..enc_len).unwrap_or_default().to_vec());
    let int = Zeroizing::new(keymat.get(enc_len..).unwrap_or_default().to_vec());
    (enc, int)
}

/// Both directions' keys, as [`NewChild`] takes them with `initiator: true`: the `_r` keys
/// are inbound.
fn child_keys(
    crypto: &super::sa::V1Crypto,
    suite: &ChildSuite,
    shared: Option<&[u8]>,
    (inbound_spi, outbound_spi): (u32, u32),
    nonces: (&[u8], &[u8]),
) -> ChildKeys {
    let (encr_r, integ_r) = sa_keys(crypto, suite, shared, inbound_spi, nonces);
    let (encr_i, integ_i) = sa_keys(crypto, suite, shared, outbound_spi, nonces);
    ChildKeys {
        encr_i,
        integ_i,
        encr_r,
        integ_r,
    }
}

/// The kernel's byte limit for a lifetime in kilobytes (RFC 2407 4.5); 0 means none.
fn byte_limit(kilobytes: Option<u64>) -> Option<u64> {
    kilobytes
        .filter(|&kb| kb > 0)
        .and_then(|kb| kb.checked_mul(1024))
}

/// The PFS group our Quick Modes use: the first group of our ESP proposals (strongSwan's
/// convention: a group in the ESP proposal asks for PFS).
fn pfs_group(settings: &crate::ike::ConnectionSettings) -> Option<DhGroup> {
    settings
        .esp_proposals
        .iter()
        .find_map(|p| p.dh.first().copied())
}

fn suite_of(choice: &proposal::Phase2Choice) -> ChildSuite {
    ChildSuite {
        encryption: choice.encryption,
        integrity: choice.integrity,
        esn: false,
        dh: choice.dh,
    }
}

impl Context {
    /// The next local x remote subnet pair no IPsec SA covers and none is being negotiated
    /// for: IKEv1 negotiates one pair per Quick Mode.
    fn uncovered_pair(&self, sa: &IkeSa) -> Option<(Selector, Selector)> {
        let settings = self.connection(sa.conn)?;
        let in_flight = match sa.v1.as_ref().and_then(|v| v.outstanding.as_ref()) {
            Some(super::sa::Outstanding {
                expect: Expect::Quick(q),
                ..
            }) => Some((q.local_ts, q.remote_ts)),
            _ => None,
        };
        for l in &settings.local_subnets {
            for r in &settings.remote_subnets {
                let pair = (Selector::subnet(*l), Selector::subnet(*r));
                let covered = sa.children.iter().any(|c| {
                    c.state != ChildState::Rekeyed
                        && c.local_ts.first() == Some(&pair.0)
                        && c.remote_ts.first() == Some(&pair.1)
                });
                // A pair the peer is making for them (answered, HASH(3) to come) covers
                // them too.
                let answering = sa.v1.as_ref().is_some_and(|v| {
                    v.quick_responders
                        .iter()
                        .any(|q| q.local_ts == pair.0 && q.remote_ts == pair.1)
                });
                let covered = covered || answering;
                if !covered && in_flight != Some(pair) {
                    return Some(pair);
                }
            }
        }
        None
    }

    /// Start Quick Modes for every subnet pair without an IPsec SA, one after the other.
    pub(in crate::ike) fn start_quick_modes(&mut self, now: Instant, sa: &mut IkeSa) {
        let Some((local_ts, remote_ts)) = self.uncovered_pair(sa) else {
            return;
        };
        let reqid = sa
            .children
            .iter()
            .find(|c| {
                c.local_ts.first() == Some(&local_ts) && c.remote_ts.first() == Some(&remote_ts)
            })
            .map(|c| c.reqid);
        self.send_quick_mode(now, sa, (local_ts, remote_ts), None, reqid);
    }

    /// Replace the IPsec SA pair whose inbound SPI is given by a new Quick Mode for its
    /// selectors (make-before-break: the old pair goes once the new one is installed).
    pub(in crate::ike) fn start_quick_mode_replacing(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        old_inbound_spi: u32,
    ) {
        let Some(old) = sa
            .children
            .iter()
            .find(|c| c.inbound_spi == old_inbound_spi)
        else {
            self.next_v1_request(now, sa);
            return;
        };
        let (Some(local_ts), Some(remote_ts)) = (old.local_ts.first(), old.remote_ts.first())
        else {
            return;
        };
        let (pair, reqid) = ((*local_ts, *remote_ts), old.reqid);
        self.send_quick_mode(now, sa, pair, Some(old_inbound_spi), Some(reqid));
    }

    /// A fresh message ID for an exchange we start (never 0: that is phase 1's).
    pub(in crate::ike) fn new_v1_message_id(&mut self) -> u32 {
        loop {
            let id = self.random_u32();
            if id != 0 {
                return id;
            }
        }
    }

    /// The encapsulation mode value for tunnels behind a NAT in the SA's NAT-T dialect.
    fn udp_encapsulation(sa: &IkeSa) -> Option<NatTVariant> {
        if !sa.nat.any() {
            return None;
        }
        sa.v1.as_ref().and_then(|v| v.nat_t)
    }

    /// Quick Mode's first message.
    fn send_quick_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        (local_ts, remote_ts): (Selector, Selector),
        replaces: Option<u32>,
        reqid: Option<u32>,
    ) {
        let Some(settings) = self.shared_connection(sa.conn) else {
            return;
        };
        let group = pfs_group(&settings);
        let dh = match group.map(|g| KeyExchange::generate(g, self.rng.as_mut())) {
            Some(Ok(dh)) => Some(dh),
            Some(Err(e)) => {
                warn!(sa = sa.id.0, "Quick Mode: PFS key exchange: {e}");
                return;
            }
            None => None,
        };
        let message_id = self.new_v1_message_id();
        let inbound_spi = self.new_esp_spi();
        let mut ni = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut ni);
        let offer = proposal::phase2_sa(
            &settings.esp_proposals,
            inbound_spi,
            group,
            settings.child_lifetime.as_secs(),
            Self::udp_encapsulation(sa),
        );
        let mut rest = vec![Payload::Sa(offer), Payload::Nonce(ni.clone())];
        if let Some(dh) = &dh {
            rest.push(Payload::KeyExchange(dh.public_value().to_vec()));
        }
        rest.push(Payload::Identification(ids::selector_payload(&local_ts)));
        rest.push(Payload::Identification(ids::selector_payload(&remote_ts)));
        let header = message::header(sa, ExchangeType::QuickMode, message_id);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let payloads = message::hashed(&rest, |bytes| {
            keys::quick_hash1(hash, &skeyid_a, message_id, bytes)
        });
        let datagram = message::seal(crypto, &header, &payloads, sa.remote);
        debug!(sa = sa.id.0, local = %local_ts, remote = %remote_ts, "Quick Mode: proposing");
        let sent = QuickSent {
            ni,
            dh,
            inbound_spi,
            local_ts,
            remote_ts,
            replaces,
            reqid,
            collision_ni: None,
        };
        self.send_v1_request(now, sa, Expect::Quick(Box::new(sent)), message_id, datagram);
    }

    /// A Quick Mode message: the answer to ours, the last message of one we answered, or a
    /// new one from the peer.
    pub(in crate::ike) fn on_quick_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        _addresses: (std::net::SocketAddr, std::net::SocketAddr),
        datagram: &[u8],
        header: &Header,
    ) -> Fate {
        let message_id = header.message_id;
        let Some(v1) = sa.v1.as_mut() else {
            return Fate::Keep;
        };
        let ours = v1
            .outstanding
            .as_ref()
            .is_some_and(|o| o.message_id == message_id && matches!(o.expect, Expect::Quick(_)));
        let answered = v1
            .quick_responders
            .iter()
            .any(|q| q.message_id == message_id);
        let Some(crypto) = v1.crypto.as_mut() else {
            return Fate::Keep;
        };
        let opened = match message::open(crypto, datagram, sa.remote) {
            Ok(o) => o,
            Err(e) => {
                self.count_v1_drop(sa, &e);
                return Fate::Keep;
            }
        };
        if ours {
            self.finish_quick_initiator(now, sa, datagram, opened);
        } else if answered {
            self.finish_quick_responder(now, sa, opened);
        } else {
            self.respond_quick_mode(now, sa, datagram, opened);
        }
        Fate::Keep
    }

    pub(in crate::ike) fn count_v1_drop(&mut self, sa: &IkeSa, e: &super::super::error::Error) {
        match e {
            super::super::error::Error::Undecryptable => self.stats.dropped_undecryptable += 1,
            _ => self.stats.dropped_malformed += 1,
        }
        debug!(sa = sa.id.0, "dropped IKEv1 message: {e}");
    }

    /// Checks the leading HASH of a message against `expected(rest)`; counts a mismatch.
    fn hash_verifies(&mut self, opened: &Opened, expected: impl FnOnce(&[u8]) -> Vec<u8>) -> bool {
        let Some((hash, rest)) = opened.leading_hash() else {
            self.stats.dropped_malformed += 1;
            return false;
        };
        let ok = bool::from(subtle::ConstantTimeEq::ct_eq(
            expected(rest).as_slice(),
            hash,
        ));
        if !ok {
            self.stats.dropped_undecryptable += 1;
        }
        ok
    }

    /// Initiator: the responder's answer (HASH(2)); the pair is installed and HASH(3) sent.
    fn finish_quick_initiator(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        received: &[u8],
        opened: Opened,
    ) {
        let message_id = opened.header.message_id;
        let Some(v1) = sa.v1.as_mut() else { return };
        let Some(Expect::Quick(sent)) = v1.outstanding.as_ref().map(|o| &o.expect) else {
            return;
        };
        let ni = sent.ni.clone();
        let Some(crypto) = v1.crypto.as_mut() else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        if !self.hash_verifies(&opened, |rest| {
            keys::quick_hash2(hash, &skeyid_a, message_id, &ni, rest)
        }) {
            debug!(sa = sa.id.0, "Quick Mode: HASH(2) does not verify; dropped");
            return;
        }
        let payloads = opened.payload_list();
        if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
            opened.accept(crypto);
        }
        sa.last_received = now;
        let Some(out) = self.v1_answered(sa) else {
            return;
        };
        let Expect::Quick(mut sent) = out.expect else {
            return;
        };
        match self.quick_answer_child(sa, &payloads, &mut sent) {
            Ok((child, nr, lifetime)) => {
                let h3 = keys::quick_hash3(hash, &skeyid_a, message_id, &sent.ni, &nr);
                let header = message::header(sa, ExchangeType::QuickMode, message_id);
                if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
                    let bytes = message::seal(crypto, &header, &[Payload::Hash(h3)], sa.remote);
                    crypto.forget_iv(message_id);
                    // The kernel gets the SAs before HASH(3) leaves (the engine's contract:
                    // intents are applied before transmits).
                    self.install_v1_child(now, sa, child, lifetime);
                    self.v1_reply(sa, received, bytes);
                }
                let redundant = self.redundant_rekey(sa, &sent);
                if let Some(old) = sent.replaces {
                    // Make-before-break: the old pair goes only once the new one is in at
                    // both ends, a moment after HASH(3) (see `DELETE_REKEYED_AFTER`).
                    if let Some(c) = sa.children.iter_mut().find(|c| c.inbound_spi == old) {
                        c.state = ChildState::Rekeyed;
                        self.defer_v1_delete_child(now, sa, old);
                    }
                }
                if redundant {
                    info!(sa = sa.id.0, "both ends replaced the same IPsec SA pair: deleting ours, the peer's stays");
                    if self.drop_child(sa, sent.inbound_spi, DownReason::Rekeyed) {
                        self.send_v1_delete_child(sa, sent.inbound_spi);
                    }
                }
                if self.uncovered_pair(sa).is_some() {
                    self.queue_v1(
                        sa,
                        super::super::sa::RequestKind::CreateChild { replaces: None },
                    );
                }
            }
            Err(failure) => {
                warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, "{failure}");
                self.inbound_spis.remove(&sent.inbound_spi);
                if let Some(old) = sent.replaces {
                    if let Some(c) = sa.children.iter_mut().find(|c| c.inbound_spi == old) {
                        c.state = ChildState::Installed;
                        c.rekey_failures = c.rekey_failures.saturating_add(1);
                    }
                }
                self.emit_event(Event::ChildFailed {
                    conn: sa.conn,
                    sa: sa.id,
                    reason: DownReason::NegotiationFailed(failure),
                });
            }
        }
        self.next_v1_request(now, sa);
    }

    /// Whether our new pair replacing an old one is one too many: the peer replaced the same
    /// pair too. When both Quick Modes were in flight at once, the one with the lower
    /// initiator nonce gives way (both ends judge alike, as RFC 7296 2.8.1 has IKEv2 do);
    /// when the peer's came after ours had left but finished first, the old pair is already
    /// gone and the peer's new pair covers the selectors.
    fn redundant_rekey(&self, sa: &IkeSa, sent: &QuickSent) -> bool {
        let Some(old) = sent.replaces else {
            return false;
        };
        if let Some(peer_ni) = &sent.collision_ni {
            return sent.ni.as_slice() < peer_ni.as_slice();
        }
        let old_gone = sa.children.iter().all(|c| c.inbound_spi != old);
        old_gone
            && sa.children.iter().any(|c| {
                c.inbound_spi != sent.inbound_spi
                    && c.state == ChildState::Installed
                    && c.local_ts.first() == Some(&sent.local_ts)
                    && c.remote_ts.first() == Some(&sent.remote_ts)
            })
    }

    pub(in crate::ike) fn queue_v1(&mut self, sa: &mut IkeSa, kind: super::super::sa::RequestKind) {
        if let Some(v1) = sa.v1.as_mut() {
            if !v1.queued.contains(&kind) {
                v1.queued.push_back(kind);
            }
        }
    }

    /// The pair the responder's answer makes, its nonce and the lifetime it asks for.
    fn quick_answer_child(
        &self,
        sa: &IkeSa,
        payloads: &[Payload],
        sent: &mut QuickSent,
    ) -> Result<(NewChild, Vec<u8>, Option<u64>), Failure> {
        let settings = self
            .connection(sa.conn)
            .ok_or_else(|| Failure::local("connection gone"))?;
        let answer = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Sa(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| Failure::gave_up(QUICK_MODE, "the answer has no SA payload"))?;
        let nr = find_nonce(payloads)
            .ok_or_else(|| Failure::gave_up(QUICK_MODE, "the answer has no nonce"))?
            .to_vec();
        let group = sent.dh.as_ref().map(KeyExchange::group);
        let (choice, outbound_spi) =
            proposal::phase2_of_answer(answer, &settings.esp_proposals, group).map_err(|e| {
                Failure::gave_up(QUICK_MODE, format!("the responder's choice: {e}"))
            })?;
        let shared = match (sent.dh.take(), find_ke(payloads)) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(Failure::gave_up(
                    QUICK_MODE,
                    "we asked for PFS and the answer has no KE payload",
                ))
            }
            (Some(dh), Some(ke)) => Some(dh.agree(ke).map_err(|e| {
                Failure::gave_up(QUICK_MODE, format!("the responder's PFS public value: {e}"))
            })?),
        };
        let crypto = sa
            .v1
            .as_ref()
            .and_then(|v| v.crypto.as_ref())
            .ok_or_else(|| Failure::local("phase 1 keys missing"))?;
        let suite = suite_of(&choice);
        let keys = child_keys(
            crypto,
            &suite,
            shared.as_ref().map(|s| s.as_bytes()),
            (sent.inbound_spi, outbound_spi),
            (&sent.ni, &nr),
        );
        let lifetime = match (choice.lifetime_s, lifetime_notify(payloads)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let child = NewChild {
            suite,
            keys,
            inbound_spi: sent.inbound_spi,
            outbound_spi,
            local_ts: vec![sent.local_ts],
            remote_ts: vec![sent.remote_ts],
            initiator: true,
            reqid: sent.reqid,
            // A replacement sends on the old pair until that goes (`DELETE_REKEYED_AFTER`):
            // the peer installs the new one only when HASH(3) arrives.
            defer_outbound: sent.replaces.is_some(),
            byte_limit: byte_limit(choice.lifetime_kb),
            agreed_lifetime: None,
        };
        Ok((child, nr, lifetime))
    }

    /// Install an IPsec SA pair; its rekey comes before the lifetime both ends agreed on
    /// when the peer's is shorter than ours.
    fn install_v1_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        mut child: NewChild,
        lifetime_s: Option<u64>,
    ) {
        let spi = child.inbound_spi;
        let (local, remote) = (child.local_ts.clone(), child.remote_ts.clone());
        // A lifetime of 0 from the peer would mean a rekey at once, again and again, and no
        // kernel limit at all: taken as none.
        let lifetime_s = lifetime_s.filter(|&s| s > 0);
        child.agreed_lifetime = lifetime_s.map(Duration::from_secs);
        self.install_child(now, sa, child);
        if sa.replaced_by.is_some() {
            self.v1_landed_on_replaced.push(sa.id);
        }
        let Some(installed) = sa.children.iter_mut().find(|c| c.inbound_spi == spi) else {
            return;
        };
        if let (Some(l), Some(r)) = (local.first(), remote.first()) {
            self.v1_pair_reqids
                .insert((sa.conn, *l, *r), installed.reqid);
        }
        // The peer ends the pair at the lifetime it agreed to, even if our kernel keeps it
        // a tenth longer: status counts down to the earlier end.
        if let Some(agreed) = lifetime_s {
            let agreed_s = u32::try_from(agreed).unwrap_or(u32::MAX);
            installed.hard_lifetime_s = installed.hard_lifetime_s.min(agreed_s);
        }
        info!(
            conn = self.conn_name(sa.conn),
            sa = sa.id.0,
            inbound_spi = format_args!("{spi:08x}"),
            local = %super::super::selector::list(&local),
            remote = %super::super::selector::list(&remote),
            "IKEv1 IPsec SA pair installed"
        );
    }

    /// Responder: a new Quick Mode from the peer: checked, answered, and kept until its
    /// HASH(3).
    fn respond_quick_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        received: &[u8],
        opened: Opened,
    ) {
        let message_id = opened.header.message_id;
        let Some(crypto) = sa.v1.as_ref().and_then(|v| v.crypto.as_ref()) else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        if !self.hash_verifies(&opened, |rest| {
            keys::quick_hash1(hash, &skeyid_a, message_id, rest)
        }) {
            debug!(sa = sa.id.0, "Quick Mode: HASH(1) does not verify; dropped");
            return;
        }
        let pending = sa.v1.as_ref().map_or(0, |v| v.quick_responders.len());
        if pending >= QUICK_RESPONDERS_MAX {
            self.stats.dropped_unexpected += 1;
            return;
        }
        let payloads = opened.payload_list();
        if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
            opened.accept(crypto);
        }
        sa.last_received = now;
        match self.answer_quick_mode(now, sa, message_id, &payloads) {
            Ok(reply) => {
                self.v1_reply(sa, received, reply);
                self.arm_quick_answers(sa);
            }
            Err((notify, failure)) => {
                info!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
                self.send_v1_notify(sa, ikev1::PROTO_IPSEC_ESP, notify, Vec::new(), Vec::new());
                if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
                    crypto.forget_iv(message_id);
                }
                self.emit_event(Event::ChildFailed {
                    conn: sa.conn,
                    sa: sa.id,
                    reason: DownReason::NegotiationFailed(failure),
                });
            }
        }
    }

    /// The selectors, proposal and key exchange of the peer's Quick Mode; our answer.
    fn answer_quick_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        message_id: u32,
        payloads: &[Payload],
    ) -> Result<Vec<u8>, (ikev1::NotifyType, Failure)> {
        let malformed = |what: &str| {
            (
                ikev1::NotifyType::PayloadMalformed,
                Failure::refused(QUICK_MODE, "PAYLOAD_MALFORMED", what.to_string()),
            )
        };
        let settings = self
            .shared_connection(sa.conn)
            .ok_or_else(|| malformed("connection gone"))?;
        let offer = payloads
            .iter()
            .find_map(|p| match p {
                Payload::Sa(s) => Some(s),
                _ => None,
            })
            .ok_or_else(|| malformed("no SA payload"))?;
        let ni = find_nonce(payloads)
            .ok_or_else(|| malformed("no nonce"))?
            .to_vec();
        let client_ids = ids_of(payloads);
        let (remote_ts, local_ts) = match client_ids.as_slice() {
            [] => (
                Selector::subnet(ipnet::IpNet::from(sa.remote.ip())),
                Selector::subnet(ipnet::IpNet::from(sa.local.ip())),
            ),
            [idci, idcr] => {
                let unusable = || {
                    (
                        ikev1::NotifyType::InvalidIdInformation,
                        Failure::refused(
                            QUICK_MODE,
                            "INVALID_ID_INFORMATION",
                            "a client ID that names no address, subnet or single-prefix range",
                        ),
                    )
                };
                (
                    ids::selector_of(idci).ok_or_else(unusable)?,
                    ids::selector_of(idcr).ok_or_else(unusable)?,
                )
            }
            _ => return Err(malformed("one client ID without the other")),
        };
        if !ids::within(&remote_ts, &settings.remote_subnets)
            || !ids::within(&local_ts, &settings.local_subnets)
        {
            return Err((
                ikev1::NotifyType::InvalidIdInformation,
                Failure::refused(
                    QUICK_MODE,
                    "INVALID_ID_INFORMATION",
                    format!(
                        "the peer asked for {local_ts} (ours) <=> {remote_ts} (theirs); connection {} has {} <=> {}",
                        settings.name,
                        list_nets(&settings.local_subnets),
                        list_nets(&settings.remote_subnets)
                    ),
                ),
            ));
        }
        if let Some(super::sa::Outstanding {
            expect: Expect::Quick(ours),
            ..
        }) = sa.v1.as_mut().and_then(|v| v.outstanding.as_mut())
        {
            if ours.replaces.is_some() && ours.local_ts == local_ts && ours.remote_ts == remote_ts {
                ours.collision_ni = Some(ni.clone());
            }
        }
        let pfs_required = settings.pfs == crate::ike::Pfs::Required;
        let encapsulation = Self::udp_encapsulation(sa);
        let (choice, outbound_spi, mut answer) =
            proposal::select_phase2(offer, &settings.esp_proposals, pfs_required, encapsulation)
                .map_err(|e| {
                    (
                        ikev1::NotifyType::NoProposalChosen,
                        Failure::refused(QUICK_MODE, "NO_PROPOSAL_CHOSEN", e.to_string()),
                    )
                })?;
        let (shared, our_ke) = match (choice.dh, find_ke(payloads)) {
            (None, None) => (None, None),
            (Some(group), Some(ke)) => {
                let (shared, public) =
                    KeyExchange::respond(group, ke, self.rng.as_mut()).map_err(|e| {
                        (
                            ikev1::NotifyType::InvalidKeyInformation,
                            Failure::refused(
                                QUICK_MODE,
                                "INVALID_KEY_INFORMATION",
                                format!("the peer's {group} public value: {e}"),
                            ),
                        )
                    })?;
                (
                    Some(Zeroizing::new(shared.as_bytes().to_vec())),
                    Some(public),
                )
            }
            _ => {
                return Err(malformed(
                    "the KE payload does not match the chosen PFS group",
                ))
            }
        };
        let inbound_spi = self.new_esp_spi();
        proposal::set_answer_spi(&mut answer, inbound_spi);
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut nr);
        let mut rest = vec![Payload::Sa(answer), Payload::Nonce(nr.clone())];
        if let Some(public) = our_ke {
            rest.push(Payload::KeyExchange(public));
        }
        for id in client_ids {
            rest.push(Payload::Identification(id.clone()));
        }
        let header = message::header(sa, ExchangeType::QuickMode, message_id);
        let held = self.held_pair_reqid(sa, local_ts, remote_ts);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return Err(malformed("phase 1 keys missing"));
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let payloads = message::hashed(&rest, |bytes| {
            keys::quick_hash2(hash, &skeyid_a, message_id, &ni, bytes)
        });
        let reply = message::seal(crypto, &header, &payloads, sa.remote);
        // Only a replacement goes in before HASH(3): its keys are needed now.
        let early_keys = held.map(|_| {
            child_keys(
                crypto,
                &suite_of(&choice),
                shared.as_ref().map(|s| s.as_slice()),
                (inbound_spi, outbound_spi),
                (&ni, &nr),
            )
        });
        let resend_after = self.retransmit_delay(1);
        let responder = QuickResponder {
            message_id,
            ni,
            nr,
            suite: suite_of(&choice),
            shared,
            inbound_spi,
            outbound_spi,
            local_ts,
            remote_ts,
            lifetime_s: choice.lifetime_s,
            lifetime_kb: choice.lifetime_kb,
            reply: reply.clone(),
            installed_early: held.is_some(),
            sends: 1,
            next_resend: now + resend_after,
        };
        // A replacement's inbound SA goes into the kernel before the answer leaves (the
        // engine applies intents before transmits); a first pair waits for HASH(3), since its
        // policies would send our traffic to an outbound SA that is not there yet.
        if let Some(keys) = early_keys {
            self.install_responder_pair(now, sa, &responder, keys, held, true);
        }
        if let Some(v1) = sa.v1.as_mut() {
            v1.quick_responders.push(responder);
        }
        Ok(reply)
    }

    /// Responder: the initiator's HASH(3); the pair is installed.
    fn finish_quick_responder(&mut self, now: Instant, sa: &mut IkeSa, opened: Opened) {
        let message_id = opened.header.message_id;
        let Some(v1) = sa.v1.as_mut() else { return };
        let Some(index) = v1
            .quick_responders
            .iter()
            .position(|q| q.message_id == message_id)
        else {
            return;
        };
        let Some(crypto) = v1.crypto.as_ref() else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let (ni, nr) = match v1.quick_responders.get(index) {
            Some(q) => (q.ni.clone(), q.nr.clone()),
            None => return,
        };
        if !self.hash_verifies(&opened, |_| {
            keys::quick_hash3(hash, &skeyid_a, message_id, &ni, &nr)
        }) {
            debug!(sa = sa.id.0, "Quick Mode: HASH(3) does not verify; dropped");
            return;
        }
        sa.last_received = now;
        let Some(v1) = sa.v1.as_mut() else { return };
        let q = v1.quick_responders.remove(index);
        let Some(crypto) = v1.crypto.as_mut() else {
            return;
        };
        crypto.forget_iv(message_id);
        let reqid = if q.installed_early {
            self.complete_early_pair(sa, q.inbound_spi)
        } else {
            let keys = child_keys(
                crypto,
                &q.suite,
                q.shared.as_ref().map(|s| s.as_slice()),
                (q.inbound_spi, q.outbound_spi),
                (&q.ni, &q.nr),
            );
            let reqid = self.held_pair_reqid(sa, q.local_ts, q.remote_ts);
            self.install_responder_pair(now, sa, &q, keys, reqid, false);
            reqid
        };
        // The pair it replaces is not ours to rekey any more: it goes when the peer deletes
        // it, or at its hard lifetime if the peer leaves it to expire (strongSwan's default
        // for IKEv1, `delete_rekeyed = no`).
        if let Some(reqid) = reqid {
            for c in sa.children.iter_mut().filter(|c| {
                c.reqid == reqid
                    && c.inbound_spi != q.inbound_spi
                    && c.state == ChildState::Installed
            }) {
                c.state = ChildState::Rekeyed;
            }
            self.arm_child_rekey(sa);
        }
        self.arm_quick_answers(sa);
    }

    /// The reqid of a pair we hold for these selectors: a new pair for them is the peer's
    /// rekey, and takes the same reqid so that the kernel policies stay one set, also when
    /// the pair is on an older ISAKMP SA (the peer re-authenticated and rekeys on its new one).
    fn held_pair_reqid(&self, sa: &IkeSa, local_ts: Selector, remote_ts: Selector) -> Option<u32> {
        sa.children
            .iter()
            .find(|c| {
                c.local_ts.first() == Some(&local_ts) && c.remote_ts.first() == Some(&remote_ts)
            })
            .map(|c| c.reqid)
            .or_else(|| {
                self.v1_pair_reqids
                    .get(&(sa.conn, local_ts, remote_ts))
                    .copied()
            })
    }

    /// A connection removed or changed by a reload: the reqids of its pairs go with it (a
    /// changed one starts afresh, with its trap's reqid if it has one).
    pub(in crate::ike) fn forget_v1_pairs(&mut self, conn: crate::ike::ConnId) {
        self.v1_pair_reqids.retain(|(c, _, _), _| *c != conn);
    }

    /// Responder: install the pair a Quick Mode negotiated; with `early`, its outbound SA
    /// waits in the child for HASH(3) (see the module's note).
    fn install_responder_pair(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        q: &QuickResponder,
        keys: ChildKeys,
        reqid: Option<u32>,
        early: bool,
    ) {
        let child = NewChild {
            suite: q.suite,
            keys,
            inbound_spi: q.inbound_spi,
            outbound_spi: q.outbound_spi,
            local_ts: vec![q.local_ts],
            remote_ts: vec![q.remote_ts],
            initiator: true,
            reqid,
            defer_outbound: early,
            byte_limit: byte_limit(q.lifetime_kb),
            agreed_lifetime: None,
        };
        self.install_v1_child(now, sa, child, q.lifetime_s);
    }

    /// Responder, HASH(3) of a pair installed with our answer: its outbound SA goes in, and
    /// traffic moves to it. The pair's reqid, if the kernel still holds it.
    fn complete_early_pair(&mut self, sa: &mut IkeSa, inbound_spi: u32) -> Option<u32> {
        let child = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == inbound_spi)?;
        let reqid = child.reqid;
        if let Some(outbound) = child.deferred_outbound.take() {
            self.install_deferred_outbound(sa, outbound);
        }
        Some(reqid)
    }

    /// Resend the answers whose HASH(3) is late; give up on those resent too often.
    pub(in crate::ike) fn resend_quick_answers(&mut self, now: Instant, sa: &mut IkeSa) -> Fate {
        let tries = self.settings.retransmit_tries;
        let mut resend = Vec::new();
        let mut given_up = Vec::new();
        if let Some(v1) = sa.v1.as_mut() {
            for q in v1
                .quick_responders
                .iter_mut()
                .filter(|q| q.next_resend <= now)
            {
                if q.sends >= tries {
                    given_up.push((q.message_id, q.inbound_spi, q.installed_early));
                    continue;
                }
                q.sends += 1;
                q.next_resend = now + self.settings.retransmit_delay(q.sends);
                resend.push(q.reply.clone());
            }
            v1.quick_responders
                .retain(|q| !given_up.iter().any(|(id, _, _)| *id == q.message_id));
        }
        for (message_id, spi, installed_early) in given_up {
            let failure = Failure::gave_up(QUICK_MODE, "no HASH(3) from the peer");
            warn!(
                conn = self.conn_name(sa.conn),
                sa = sa.id.0,
                peer = %sa.remote,
                message_id,
                "Quick Mode: no HASH(3) from the peer; the IPsec SA is not installed"
            );
            // The half installed with our answer goes; the pair it was to replace stays.
            let dropped = installed_early
                && self.drop_child(sa, spi, DownReason::NegotiationFailed(failure.clone()));
            if !dropped {
                self.inbound_spis.remove(&spi);
                self.emit_event(Event::ChildFailed {
                    conn: sa.conn,
                    sa: sa.id,
                    reason: DownReason::NegotiationFailed(failure),
                });
            }
            if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
                crypto.forget_iv(message_id);
            }
        }
        for payload in resend {
            self.stats.retransmits += 1;
            self.emit_transmit(super::super::output::Transmit {
                local: sa.local,
                remote: sa.remote,
                payload,
            });
        }
        self.arm_quick_answers(sa);
        Fate::Keep
    }

    /// The QuickAnswer timer follows the earliest resend of an unconfirmed answer.
    pub(in crate::ike) fn arm_quick_answers(&mut self, sa: &mut IkeSa) {
        let next = sa
            .v1
            .as_ref()
            .and_then(|v| v.quick_responders.iter().map(|q| q.next_resend).min());
        match next {
            Some(at) => self
                .timers
                .arm(&mut sa.timers, sa.id, Timer::QuickAnswer, at),
            None => TimerQueue::cancel(&mut sa.timers, Timer::QuickAnswer),
        }
    }
}

fn list_nets(nets: &[ipnet::IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
