//! Aggressive Mode with pre-shared keys (RFC 2409 5.4), only for connections that set
//! `aggressive = true`: three messages instead of six, at the price of the identities in
//! the clear and a hash of the pre-shared key an eavesdropper can attack offline.
//!
//! ```text
//! Initiator                                 Responder
//!  1  HDR, SA, KE, Ni, IDii, VID          -->
//!                                         <--  2  HDR, SA, KE, Nr, IDir, HASH_R, VID, NAT-D, NAT-D
//!  3  HDR*, HASH_I [, NAT-D, NAT-D]       -->
//! ```
//!
//! The initiator's KE goes out before the responder chooses, so every transform we offer
//! has the group of our first proposal. The identity comes in the clear, so a responder
//! finds the connection, and the key, by the peer's identity and address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::{info, warn};

use crate::crypto::dh::KeyExchange;
use crate::crypto::ikev1 as keys;
use crate::ike::ConnectionSettings;
use crate::wire::ikev1::{self, ExchangeType, Header, Payload};

use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::{Error, Failure};
use super::super::output::{ConnId, DownReason, Transmit};
use super::super::sa::{IkeSa, SaOrigin, SaState};
use super::super::settings::IkeVersion;
use super::ids;
use super::main_mode::{
    find_hash, find_id, find_ke, find_nonce, find_sa, initial_contact, our_vendor_ids,
    peer_announces_dpd, phase1_crypto, NAT_T_PORT, NONCE_LEN,
};
use super::message;
use super::nat::{self, NatTVariant};
use super::proposal;
use super::sa::{digest, Phase1, Step, V1State};

pub(super) const AGGRESSIVE_MODE: &str = "Aggressive Mode";

/// The raw body of the first payload matching `pick` in an unencrypted message.
fn raw_body(datagram: &[u8], msg: &ikev1::Message, pick: impl Fn(&Payload) -> bool) -> Vec<u8> {
    msg.chain
        .payloads
        .iter()
        .find(|s| pick(&s.payload))
        .and_then(|s| datagram.get(s.body_start()..s.end))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

impl Context {
    /// Initiator: Aggressive Mode's first message (the SA carries only proposals with the
    /// group of the KE payload).
    pub(in crate::ike) fn aggressive_first_message(
        &mut self,
        sa: &mut IkeSa,
        settings: &Arc<ConnectionSettings>,
        _main_mode_offer: Payload,
    ) -> Result<Vec<u8>, Error> {
        let group = settings
            .ike_proposals
            .first()
            .and_then(|p| p.dh.first().copied())
            .ok_or(Error::NoProposalConfigured)?;
        let same_group: Vec<_> = settings
            .ike_proposals
            .iter()
            .filter(|p| p.dh.first() == Some(&group))
            .cloned()
            .collect();
        let offer = Payload::Sa(proposal::phase1_sa(
            &same_group,
            settings.ike_lifetime.as_secs(),
        ));
        let dh = KeyExchange::generate(group, self.rng.as_mut())
            .map_err(|e| Error::KeyExchange(e.to_string()))?;
        let mut ni = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut ni);
        let our_id = Payload::Identification(ids::identity_payload(&settings.local_id));
        let Some(hs) = sa.v1.as_mut().and_then(|v| v.handshake.as_mut()) else {
            return Err(Error::NoProposalConfigured);
        };
        hs.sa_i_b = message::body_of(&offer);
        hs.ke_i = dh.public_value().to_vec();
        hs.ni = ni.clone();
        let mut payloads = vec![
            offer,
            Payload::KeyExchange(dh.public_value().to_vec()),
            Payload::Nonce(ni),
            our_id,
        ];
        hs.dh = Some(dh);
        payloads.extend(our_vendor_ids());
        let header = message::header(sa, ExchangeType::Aggressive, 0);
        Ok(message::plain(&header, &payloads, sa.remote))
    }

    /// The Aggressive Mode connection for a peer's identity at its address.
    fn aggressive_connection(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        identity: &crate::ike::IkeIdentity,
    ) -> Option<ConnId> {
        let fits = |id: &ConnId| {
            self.connection(*id).is_some_and(|c| {
                c.version == IkeVersion::V1
                    && c.aggressive
                    && c.local_addr == local.ip()
                    && c.accepts_address(remote.ip())
            })
        };
        self.conn_index.by_identity(identity).find(fits)
    }

    /// Responder: Aggressive Mode's first message; keys, identity and HASH_R go back.
    pub(in crate::ike) fn respond_aggressive_mode(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &ikev1::Message,
    ) {
        let payloads: Vec<Payload> = msg.chain.payloads().cloned().collect();
        let cky_i = msg.header.initiator_cookie;
        let (Some(offered), Some(ke_i), Some(ni), Some(id)) = (
            find_sa(&payloads),
            find_ke(&payloads),
            find_nonce(&payloads),
            find_id(&payloads),
        ) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let identity = ids::identity_of(id);
        let Some(conn) = self.aggressive_connection(local, remote, &identity) else {
            let failure = Failure::refused(
                AGGRESSIVE_MODE,
                "INVALID_ID_INFORMATION",
                format!(
                    "no Aggressive Mode connection for {identity} at {}",
                    remote.ip()
                ),
            );
            info!(peer = %remote, "{failure}");
            self.v1_refuse(
                local,
                remote,
                cky_i,
                ikev1::NotifyType::InvalidIdInformation,
            );
            self.report_refusal(self.connection_naming(remote.ip()), remote, failure);
            return;
        };
        let Some(settings) = self.shared_connection(conn) else {
            return;
        };
        let (choice, answer) = match proposal::select_phase1(offered, &settings.ike_proposals) {
            Ok(c) => c,
            Err(e) => {
                let failure =
                    Failure::refused(AGGRESSIVE_MODE, "NO_PROPOSAL_CHOSEN", e.to_string());
                info!(conn = self.conn_name(conn), peer = %remote, "{failure}");
                self.v1_refuse(local, remote, cky_i, ikev1::NotifyType::NoProposalChosen);
                self.report_refusal(Some(conn), remote, failure);
                return;
            }
        };
        let (shared, ke_r) = match KeyExchange::respond(choice.dh, ke_i, self.rng.as_mut()) {
            Ok(r) => r,
            Err(e) => {
                let failure = Failure::refused(
                    AGGRESSIVE_MODE,
                    "INVALID_KEY_INFORMATION",
                    format!("the initiator's {} public value: {e}", choice.dh),
                );
                info!(conn = self.conn_name(conn), peer = %remote, "{failure}");
                self.report_refusal(Some(conn), remote, failure);
                return;
            }
        };
        let Some(evict) = self.half_open_room(now, remote) else {
            return;
        };
        self.evict_for_new = evict;
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut nr);
        let spi_r = self.new_ike_spi();
        let sa_id = self.new_sa_id();
        let mut sa = IkeSa::new(
            SaOrigin {
                id: sa_id,
                conn,
                initiator: false,
                spi_i: cky_i,
                spi_r,
                local,
                remote,
                state: SaState::InitAnswered,
            },
            now,
        );
        sa.remote_id = Some(identity);
        let hs = Phase1 {
            step: Step::Id,
            choice: Some(choice),
            sa_i_b: raw_body(datagram, msg, |p| matches!(p, Payload::Sa(_))),
            dh: None,
            ke_i: ke_i.to_vec(),
            ke_r: ke_r.clone(),
            ni: ni.to_vec(),
            nr: nr.clone(),
            skeyid: None,
            initial_contact: false,
            peer_id_b: raw_body(datagram, msg, |p| matches!(p, Payload::Identification(_))),
        };
        let (crypto, skeyid) = match phase1_crypto(
            &choice,
            &hs,
            &settings.psk.0,
            shared.as_bytes(),
            (cky_i, spi_r),
        ) {
            Ok(k) => k,
            Err(e) => {
                let failure = Failure::local(format!("Aggressive Mode: our keys: {e}"));
                warn!(conn = self.conn_name(conn), peer = %remote, "{failure}");
                self.report_refusal(Some(conn), remote, failure);
                return;
            }
        };
        let our_id = Payload::Identification(ids::identity_payload(&settings.local_id));
        let hash_r = keys::hash_r(
            choice.hash,
            &skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cky_i,
            spi_r,
            &hs.sa_i_b,
            &message::body_of(&our_id),
        );
        let nat_t = NatTVariant::announced(&payloads);
        let mut reply = vec![
            Payload::Sa(answer),
            Payload::KeyExchange(ke_r),
            Payload::Nonce(nr),
            our_id,
            Payload::Hash(hash_r),
        ];
        reply.extend(nat_t.map(NatTVariant::vendor_id));
        reply.push(Payload::VendorId(ikev1::vendor::DPD.to_vec()));
        if let Some(variant) = nat_t {
            reply.extend(nat::nat_d_payloads(
                variant,
                choice.hash,
                (cky_i, spi_r),
                local,
                remote,
            ));
        }
        let mut v1 = V1State {
            aggressive: true,
            nat_t,
            peer_dpd: peer_announces_dpd(&payloads),
            lifetime_s: choice.lifetime_s,
            crypto: Some(crypto),
            ..V1State::default()
        };
        let mut hs = hs;
        hs.skeyid = Some(skeyid);
        v1.handshake = Some(Box::new(hs));
        let header = message::header(&sa, ExchangeType::Aggressive, 0);
        let bytes = message::plain(&header, &reply, sa.remote);
        v1.cache_reply(digest(datagram), bytes.clone());
        sa.v1 = Some(Box::new(v1));
        self.emit_transmit(Transmit {
            local,
            remote,
            payload: bytes,
        });
        self.keep_v1_half_open(now, sa);
    }

    /// An Aggressive Mode message on an SA in phase 1.
    pub(in crate::ike) fn on_aggressive_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        addresses: (SocketAddr, SocketAddr),
        datagram: &[u8],
    ) -> Fate {
        if sa.initiator {
            self.aggressive_2(now, sa, datagram)
        } else {
            self.aggressive_3(now, sa, addresses, datagram)
        }
    }

    /// Initiator: the responder's answer; we check its HASH_R and close with HASH_I.
    fn aggressive_2(&mut self, now: Instant, sa: &mut IkeSa, datagram: &[u8]) -> Fate {
        let msg = match ikev1::parse_message(datagram) {
            Ok(m) if m.header.flags & Header::FLAG_ENCRYPTION == 0 => m,
            _ => {
                self.stats.dropped_malformed += 1;
                return Fate::Keep;
            }
        };
        let payloads: Vec<Payload> = msg.chain.payloads().cloned().collect();
        super::trace::log_message(
            crate::ike::Direction::Received,
            sa.remote,
            &msg.header,
            &payloads,
        );
        let (Some(answer), Some(ke_r), Some(nr), Some(id), Some(hash)) = (
            find_sa(&payloads),
            find_ke(&payloads),
            find_nonce(&payloads),
            find_id(&payloads),
            find_hash(&payloads),
        ) else {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        };
        let Some(settings) = self.shared_connection(sa.conn) else {
            return Fate::Keep;
        };
        let choice = match proposal::phase1_of_answer(answer, &settings.ike_proposals) {
            Ok(c) => c,
            Err(e) => {
                return Fate::Remove(DownReason::NegotiationFailed(Failure::gave_up(
                    AGGRESSIVE_MODE,
                    format!("the responder chose a proposal we did not offer: {e}"),
                )))
            }
        };
        sa.spi_r = msg.header.responder_cookie;
        let cookies = (sa.spi_i, sa.spi_r);
        let (local, remote) = (sa.local, sa.remote);
        let identity = ids::identity_of(id);
        let id_r_b = raw_body(datagram, &msg, |p| matches!(p, Payload::Identification(_)));
        let Some(v1) = sa.v1.as_mut() else {
            return Fate::Keep;
        };
        v1.nat_t = NatTVariant::announced(&payloads);
        v1.peer_dpd = peer_announces_dpd(&payloads);
        v1.lifetime_s = choice.lifetime_s;
        let nat_t = v1.nat_t;
        let Some(hs) = v1.handshake.as_mut() else {
            return Fate::Keep;
        };
        let Some(dh) = hs.dh.take() else {
            return Fate::Keep;
        };
        if dh.group() != choice.dh {
            return Fate::Remove(DownReason::NegotiationFailed(Failure::gave_up(
                AGGRESSIVE_MODE,
                format!(
                    "the responder chose {} after our {} KE payload",
                    choice.dh,
                    dh.group()
                ),
            )));
        }
        let shared = match dh.agree(ke_r) {
            Ok(s) => s,
            Err(e) => {
                return Fate::Remove(DownReason::NegotiationFailed(Failure::gave_up(
                    AGGRESSIVE_MODE,
                    format!("the responder's {} public value: {e}", choice.dh),
                )))
            }
        };
        hs.ke_r = ke_r.to_vec();
        hs.nr = nr.to_vec();
        hs.choice = Some(choice);
        let (crypto, skeyid) = match phase1_crypto(
            &choice,
            hs,
            &settings.psk.0,
            shared.as_bytes(),
            cookies,
        ) {
            Ok(k) => k,
            Err(e) => {
                let failure = Failure::gave_up(AGGRESSIVE_MODE, format!("our keys: {e}"));
                warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
                return Fate::Remove(DownReason::NegotiationFailed(failure));
            }
        };
        let expected = keys::hash_r(
            choice.hash,
            &skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cookies.0,
            cookies.1,
            &hs.sa_i_b,
            &id_r_b,
        );
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), hash)) {
            let failure = Failure::refused(
                AGGRESSIVE_MODE,
                "AUTHENTICATION_FAILED",
                format!(
                    "HASH_R of {identity} (psk) does not verify with the pre-shared key; {}",
                    ids::our_side(Some(&settings))
                ),
            );
            warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
            return Fate::Remove(DownReason::AuthFailed(failure));
        }
        if settings.remote_id.as_ref().is_some_and(|w| *w != identity) {
            let failure = Failure::refused(
                AGGRESSIVE_MODE,
                "INVALID_ID_INFORMATION",
                format!(
                    "the peer is {identity} (psk); {}",
                    ids::our_side(Some(&settings))
                ),
            );
            warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
            // Its HASH_R verified: both ends hold the same keys, and the responder, waiting
            // for our HASH_I, can read why it will not come.
            v1.crypto = Some(crypto);
            self.tell_phase1_refusal(sa, &failure);
            return Fate::Remove(DownReason::AuthFailed(failure));
        }
        let our_id = Payload::Identification(ids::identity_payload(&settings.local_id));
        let hash_i = keys::hash_i(
            choice.hash,
            &skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cookies.0,
            cookies.1,
            &hs.sa_i_b,
            &message::body_of(&our_id),
        );
        let initial = hs.initial_contact;
        v1.crypto = Some(crypto);
        let mut reply = vec![Payload::Hash(hash_i)];
        if let Some(variant) = nat_t {
            let ours = nat::detect_and_answer(
                &mut sa.nat,
                variant,
                choice.hash,
                cookies,
                (local, remote),
                &payloads,
            );
            reply.extend(ours);
        }
        if initial {
            reply.push(self.v1_initial_contact(sa));
        }
        if sa.nat.any() {
            sa.local.set_port(NAT_T_PORT);
            sa.remote.set_port(NAT_T_PORT);
        }
        sa.remote_id = Some(identity);
        sa.last_received = now;
        let header = message::header(sa, ExchangeType::Aggressive, 0);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return Fate::Keep;
        };
        let bytes = message::seal(crypto, &header, &reply, sa.remote);
        self.v1_answered(sa);
        self.v1_reply(sa, datagram, bytes);
        self.establish_v1(now, sa);
        Fate::Keep
    }

    /// Responder: the initiator's HASH_I closes phase 1.
    fn aggressive_3(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        datagram: &[u8],
    ) -> Fate {
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return Fate::Keep;
        };
        let opened = match message::open(crypto, datagram, sa.remote) {
            Ok(o) => o,
            Err(Error::Undecryptable) => {
                self.stats.dropped_undecryptable += 1;
                let failure = Failure::refused(
                    AGGRESSIVE_MODE,
                    "AUTHENTICATION_FAILED",
                    "the initiator's HASH_I message does not decrypt: the pre-shared keys differ",
                );
                warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
                return Fate::Remove(DownReason::AuthFailed(failure));
            }
            Err(e) => {
                self.count_v1_drop(sa, &e);
                return Fate::Keep;
            }
        };
        let payloads = opened.payload_list();
        let Some(hash) = find_hash(&payloads) else {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        };
        let (cky_i, cky_r) = (sa.spi_i, sa.spi_r);
        let Some(hs) = sa.v1.as_ref().and_then(|v| v.handshake.as_ref()) else {
            return Fate::Keep;
        };
        let (Some(choice), Some(skeyid)) = (hs.choice, hs.skeyid.as_ref()) else {
            return Fate::Keep;
        };
        let expected = keys::hash_i(
            choice.hash,
            skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cky_i,
            cky_r,
            &hs.sa_i_b,
            &hs.peer_id_b,
        );
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), hash)) {
            let identity = sa
                .remote_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            let failure = Failure::refused(
                AGGRESSIVE_MODE,
                "AUTHENTICATION_FAILED",
                format!(
                    "HASH_I of {identity} (psk) does not verify with the pre-shared key; {}",
                    ids::our_side(self.connection(sa.conn))
                ),
            );
            warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
            return Fate::Remove(DownReason::AuthFailed(failure));
        }
        if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
            opened.accept(crypto);
        }
        let nat_t = sa.v1.as_ref().and_then(|v| v.nat_t);
        if nat_t.is_some() {
            let (l, r) = (sa.local, sa.remote);
            if let Some(found) = nat::detect(choice.hash, (cky_i, cky_r), l, r, &payloads) {
                sa.nat = found;
            }
        }
        if local.port() == NAT_T_PORT {
            sa.local = local;
            sa.remote = remote;
        }
        if initial_contact(&payloads) {
            self.initial_contacts.push(sa.id);
        }
        sa.last_received = now;
        self.establish_v1(now, sa);
        Fate::Keep
    }
}
