//! Main Mode with pre-shared keys (RFC 2409 5, 5.4), both roles:
//!
//! ```text
//! Initiator                          Responder
//!  1  HDR, SA, VID                -->
//!                                 <--  2  HDR, SA, VID
//!  3  HDR, KE, Ni, NAT-D, NAT-D   -->
//!                                 <--  4  HDR, KE, Nr, NAT-D, NAT-D
//!  5  HDR*, IDii, HASH_I [, N]    -->
//!                                 <--  6  HDR*, IDir, HASH_R
//! ```
//!
//! The pre-shared key must be known before the peer's identity (which comes encrypted with
//! keys derived from it), so a responder finds the connection, and with it the key, by the
//! peer's address (RFC 2409 5.4).

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info, warn};
use zeroize::Zeroizing;

use crate::crypto::dh::KeyExchange;
use crate::crypto::ikev1::{self as keys, Phase1Cipher};
use crate::wire::ikev1::{self, ExchangeType, Header, Payload};

use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::{Error, Failure};
use super::super::output::{ConnId, DownReason, SaId};
use super::super::sa::{HalfOpenEntry, IkeSa, SaOrigin, SaState};
use super::super::settings::IkeVersion;
use super::super::timer::{Timer, TimerQueue};
use super::ids;
use super::message::{self, Opened};
use super::nat::{self, NatTVariant};
use super::proposal::{self, Phase1Choice};
use super::sa::{digest, Expect, Phase1, Step, V1Crypto, V1State};

pub(super) const IKE_PORT: u16 = 500;
pub(super) const NAT_T_PORT: u16 = 4500;
pub(super) const NONCE_LEN: usize = 32;
/// The exchange's name as failures and logs give it.
pub(super) const MAIN_MODE: &str = "Main Mode";

/// The vendor IDs we announce in the first message of each end: NAT-T in every dialect we
/// speak and dead peer detection (RFC 3706).
pub(super) fn our_vendor_ids() -> Vec<Payload> {
    let mut ids = NatTVariant::vendor_ids();
    ids.push(Payload::VendorId(ikev1::vendor::DPD.to_vec()));
    ids
}

pub(super) fn peer_announces_dpd(payloads: &[Payload]) -> bool {
    payloads
        .iter()
        .any(|p| matches!(p, Payload::VendorId(id) if id.as_slice() == ikev1::vendor::DPD))
}

pub(super) fn find_sa(payloads: &[Payload]) -> Option<&ikev1::SaPayload> {
    payloads.iter().find_map(|p| match p {
        Payload::Sa(sa) => Some(sa),
        _ => None,
    })
}

pub(super) fn find_ke(payloads: &[Payload]) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::KeyExchange(ke) => Some(ke.as_slice()),
        _ => None,
    })
}

pub(super) fn find_nonce(payloads: &[Payload]) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::Nonce(n) => Some(n.as_slice()),
        _ => None,
    })
}

pub(super) fn find_hash(payloads: &[Payload]) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::Hash(h) => Some(h.as_slice()),
        _ => None,
    })
}

pub(super) fn find_id(payloads: &[Payload]) -> Option<&ikev1::Identification> {
    payloads.iter().find_map(|p| match p {
        Payload::Identification(id) => Some(id),
        _ => None,
    })
}

pub(super) fn initial_contact(payloads: &[Payload]) -> bool {
    payloads.iter().any(
        |p| matches!(p, Payload::Notification(n) if n.notify == ikev1::NotifyType::InitialContact),
    )
}

/// Phase 1's keys from the shared secret (RFC 2409 5 and appendix B).
pub(super) fn phase1_crypto(
    choice: &Phase1Choice,
    hs: &Phase1,
    psk: &[u8],
    shared: &[u8],
    cookies: (u64, u64),
) -> Result<(V1Crypto, Zeroizing<Vec<u8>>), Error> {
    let skeyid = keys::skeyid_psk(choice.hash, psk, &hs.ni, &hs.nr);
    let derived = keys::derive_phase1(
        choice.hash,
        choice.encryption,
        skeyid,
        shared,
        cookies.0,
        cookies.1,
    );
    let cipher = Phase1Cipher::new(choice.encryption, &derived.encryption_key)
        .map_err(|e| Error::KeyExchange(e.to_string()))?;
    let iv = keys::phase1_iv(choice.hash, choice.encryption, &hs.ke_i, &hs.ke_r);
    let crypto = V1Crypto {
        hash: choice.hash,
        encryption: choice.encryption,
        dh: choice.dh,
        cipher,
        skeyid_d: derived.skeyid_d,
        skeyid_a: derived.skeyid_a,
        phase1_iv: iv,
        exchange_ivs: Default::default(),
    };
    Ok((crypto, derived.skeyid))
}

impl Context {
    /// Start a new ISAKMP SA for an IKEv1 connection: Main Mode's first message (or
    /// Aggressive Mode's, see `aggressive.rs`).
    pub(in crate::ike) fn initiate_v1(
        &mut self,
        now: Instant,
        conn: ConnId,
        first: bool,
    ) -> Result<SaId, Error> {
        self.initiate_v1_to(now, conn, first, None)
    }

    /// As [`Self::initiate_v1`], to `remote` rather than the connection's peer address (a
    /// re-authentication goes where the SA it replaces is).
    pub(in crate::ike) fn initiate_v1_to(
        &mut self,
        now: Instant,
        conn: ConnId,
        first: bool,
        remote: Option<std::net::IpAddr>,
    ) -> Result<SaId, Error> {
        let settings = self
            .shared_connection(conn)
            .ok_or_else(|| Error::UnknownConnection(format!("#{}", conn.0)))?;
        let remote_ip = remote.or(settings.remote_addr).ok_or_else(|| {
            Error::UnknownConnection(format!(
                "{}: the peer address is 'any', so only the peer can initiate",
                settings.name
            ))
        })?;
        if settings.ike_proposals.is_empty() {
            return Err(Error::NoProposalConfigured);
        }
        let spi_i = self.new_ike_spi();
        let id = self.new_sa_id();
        let mut sa = IkeSa::new(
            SaOrigin {
                id,
                conn,
                initiator: true,
                spi_i,
                spi_r: 0,
                local: SocketAddr::new(settings.local_addr, IKE_PORT),
                remote: SocketAddr::new(remote_ip, IKE_PORT),
                state: SaState::InitSent,
            },
            now,
        );
        let offer = proposal::phase1_sa(&settings.ike_proposals, settings.ike_lifetime.as_secs());
        let offer = Payload::Sa(offer);
        let mut v1 = V1State {
            aggressive: settings.aggressive,
            ..V1State::default()
        };
        v1.handshake = Some(Box::new(Phase1 {
            step: Step::Sa,
            choice: None,
            sa_i_b: message::body_of(&offer),
            dh: None,
            ke_i: Vec::new(),
            ke_r: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            skeyid: None,
            initial_contact: first,
            peer_id_b: Vec::new(),
        }));
        sa.v1 = Some(Box::new(v1));
        self.by_spi.insert(spi_i, id);
        let datagram = if settings.aggressive {
            self.aggressive_first_message(&mut sa, &settings, offer)?
        } else {
            let mut payloads = vec![offer];
            payloads.extend(our_vendor_ids());
            let header = message::header(&sa, ExchangeType::IdentityProtection, 0);
            message::plain(&header, &payloads, sa.remote)
        };
        info!(conn = self.conn_name(conn), sa = id.0, peer = %sa.remote, mode = if settings.aggressive { "Aggressive Mode" } else { MAIN_MODE }, "initiating IKEv1");
        self.send_v1_request(now, &mut sa, Expect::Phase1, 0, datagram);
        self.adopt(sa);
        Ok(id)
    }

    /// The IKEv1 connection a peer at `remote` reaches us for at `local`: the pre-shared key
    /// is the one of the peer's address (RFC 2409 5.4).
    pub(in crate::ike) fn v1_responder_connection(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        aggressive: bool,
    ) -> Option<ConnId> {
        self.conn_index.by_address(remote.ip()).find(|id| {
            self.connection(*id).is_some_and(|c| {
                c.version == IkeVersion::V1
                    && c.local_addr == local.ip()
                    && (!aggressive || c.aggressive)
            })
        })
    }

    /// Responder: a new Main Mode (its first message; a retransmission of it gets the cached
    /// answer instead).
    pub(in crate::ike) fn respond_main_mode(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &ikev1::Message,
    ) {
        let payloads: Vec<Payload> = msg.chain.payloads().cloned().collect();
        let cky_i = msg.header.initiator_cookie;
        let Some(conn) = self.v1_responder_connection(local, remote, false) else {
            // The connection configured for this peer, if any, is told why it got nothing.
            let named = self.connection_naming(remote.ip());
            let detail = match named.and_then(|id| self.connection(id)) {
                Some(c) if c.version != IkeVersion::V1 => format!(
                    "the peer at {} speaks IKEv1; connection \"{}\" is {}",
                    remote.ip(),
                    c.name,
                    c.version
                ),
                Some(c) => format!(
                    "the peer at {} uses Main Mode; connection \"{}\" is set to Aggressive Mode",
                    remote.ip(),
                    c.name
                ),
                None => format!(
                    "no IKEv1 connection for a peer at {} on {local}",
                    remote.ip()
                ),
            };
            let failure = Failure::refused(MAIN_MODE, "NO_PROPOSAL_CHOSEN", detail);
            info!(peer = %remote, "{failure}");
            self.v1_refuse(local, remote, cky_i, ikev1::NotifyType::NoProposalChosen);
            self.report_refusal(named, remote, failure);
            return;
        };
        let Some(offered) = find_sa(&payloads) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(settings) = self.shared_connection(conn) else {
            return;
        };
        let (choice, answer) = match proposal::select_phase1(offered, &settings.ike_proposals) {
            Ok(chosen) => chosen,
            Err(no_match) => {
                let failure =
                    Failure::refused(MAIN_MODE, "NO_PROPOSAL_CHOSEN", no_match.to_string());
                info!(conn = self.conn_name(conn), peer = %remote, "{failure}");
                self.v1_refuse(local, remote, cky_i, ikev1::NotifyType::NoProposalChosen);
                self.report_refusal(Some(conn), remote, failure);
                return;
            }
        };
        let Some(evict) = self.half_open_room(now, remote) else {
            return;
        };
        self.evict_for_new = evict;
        let sa_i_b = msg
            .chain
            .payloads
            .iter()
            .find(|s| matches!(s.payload, Payload::Sa(_)))
            .and_then(|s| datagram.get(s.body_start()..s.end))
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let spi_r = self.new_ike_spi();
        let id = self.new_sa_id();
        let mut sa = IkeSa::new(
            SaOrigin {
                id,
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
        let nat_t = NatTVariant::announced(&payloads);
        let mut v1 = V1State {
            nat_t,
            peer_dpd: peer_announces_dpd(&payloads),
            lifetime_s: choice.lifetime_s,
            ..V1State::default()
        };
        v1.handshake = Some(Box::new(Phase1 {
            step: Step::Ke,
            choice: Some(choice),
            sa_i_b,
            dh: None,
            ke_i: Vec::new(),
            ke_r: Vec::new(),
            ni: Vec::new(),
            nr: Vec::new(),
            skeyid: None,
            initial_contact: false,
            peer_id_b: Vec::new(),
        }));
        let mut reply = vec![Payload::Sa(answer)];
        reply.extend(nat_t.map(NatTVariant::vendor_id));
        reply.push(Payload::VendorId(ikev1::vendor::DPD.to_vec()));
        let header = message::header(&sa, ExchangeType::IdentityProtection, 0);
        let bytes = message::plain(&header, &reply, sa.remote);
        v1.cache_reply(digest(datagram), bytes.clone());
        sa.v1 = Some(Box::new(v1));
        self.emit_transmit(super::super::output::Transmit {
            local,
            remote,
            payload: bytes,
        });
        debug!(conn = self.conn_name(conn), sa = id.0, peer = %remote, "Main Mode: answered the proposal");
        self.keep_v1_half_open(now, sa);
    }

    /// A responder's SA until phase 1 completes: found by our cookie, and by the initiator's
    /// cookie and address for retransmissions of its first message.
    pub(in crate::ike) fn keep_v1_half_open(&mut self, now: Instant, mut sa: IkeSa) {
        let bytes = sa.v1.as_ref().map_or(0, |v1| {
            v1.replies.iter().map(|r| r.reply.len()).sum::<usize>()
        });
        let entry = HalfOpenEntry {
            spi_i: sa.spi_i,
            remote: sa.remote,
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
        };
        let deadline = now + self.settings.half_open_lifetime();
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Establish, deadline);
        self.by_spi.insert(sa.spi_r, sa.id);
        self.register_half_open(now, &mut sa, entry);
        self.adopt(sa);
    }

    /// An unencrypted informational with an error notify: the answer to a first message we
    /// refuse, with no state kept (RFC 2408 5.5).
    pub(in crate::ike) fn v1_refuse(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        cky_i: u64,
        notify: ikev1::NotifyType,
    ) {
        let header = Header {
            initiator_cookie: cky_i,
            responder_cookie: 0,
            next_payload: ikev1::PayloadType::None,
            exchange: ExchangeType::Informational,
            flags: 0,
            message_id: 0,
            length: 0,
        };
        let payload = Payload::Notification(ikev1::Notification {
            doi: ikev1::DOI_IPSEC,
            protocol: ikev1::PROTO_ISAKMP,
            notify,
            spi: Vec::new(),
            data: Vec::new(),
        });
        self.emit_transmit(super::super::output::Transmit {
            local,
            remote,
            payload: message::plain(&header, &[payload], remote),
        });
    }

    /// A Main Mode message on an SA still in phase 1.
    pub(in crate::ike) fn on_main_mode(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        (local, remote): (SocketAddr, SocketAddr),
        datagram: &[u8],
    ) -> Fate {
        let Some(step) = sa
            .v1
            .as_ref()
            .and_then(|v| v.handshake.as_ref())
            .map(|h| h.step)
        else {
            self.stats.dropped_unexpected += 1;
            return Fate::Keep;
        };
        match (sa.initiator, step) {
            (true, Step::Sa) => self.main_mode_2(now, sa, datagram),
            (true, Step::Ke) => self.main_mode_4(now, sa, datagram),
            (false, Step::Ke) => self.main_mode_3(now, sa, datagram),
            (_, Step::Id) => self.main_mode_id(now, sa, (local, remote), datagram),
            (false, Step::Sa) => {
                self.stats.dropped_unexpected += 1;
                Fate::Keep
            }
        }
    }

    /// Parses an unencrypted phase 1 message from `peer`; counts and drops what does not
    /// parse.
    pub(super) fn plain_payloads(
        &mut self,
        datagram: &[u8],
        peer: SocketAddr,
    ) -> Option<Vec<Payload>> {
        match ikev1::parse_message(datagram) {
            Ok(m) if m.header.flags & Header::FLAG_ENCRYPTION == 0 => {
                let payloads: Vec<Payload> =
                    m.chain.payloads.into_iter().map(|s| s.payload).collect();
                super::trace::log_message(
                    crate::ike::Direction::Received,
                    peer,
                    &m.header,
                    &payloads,
                );
                Some(payloads)
            }
            Ok(_) => {
                self.stats.dropped_unexpected += 1;
                None
            }
            Err(e) => {
                self.stats.dropped_malformed += 1;
                debug!("dropped malformed IKEv1 message: {e}");
                None
            }
        }
    }

    /// Initiator: the responder chose a proposal; our KE and nonce go next.
    fn main_mode_2(&mut self, now: Instant, sa: &mut IkeSa, datagram: &[u8]) -> Fate {
        let Some(payloads) = self.plain_payloads(datagram, sa.remote) else {
            return Fate::Keep;
        };
        let Some(answer) = find_sa(&payloads) else {
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
                    MAIN_MODE,
                    format!("the responder chose a proposal we did not offer: {e}"),
                )))
            }
        };
        let Ok(header) = Header::parse(datagram) else {
            return Fate::Keep;
        };
        sa.spi_r = header.responder_cookie;
        let dh = match KeyExchange::generate(choice.dh, self.rng.as_mut()) {
            Ok(dh) => dh,
            Err(e) => {
                return Fate::Remove(DownReason::NegotiationFailed(Failure::local(format!(
                    "key exchange: {e}"
                ))))
            }
        };
        let mut ni = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut ni);
        let cookies = (sa.spi_i, sa.spi_r);
        let (local, remote) = (sa.local, sa.remote);
        let Some(v1) = sa.v1.as_mut() else {
            return Fate::Keep;
        };
        v1.nat_t = NatTVariant::announced(&payloads);
        v1.peer_dpd = peer_announces_dpd(&payloads);
        v1.lifetime_s = choice.lifetime_s;
        let Some(hs) = v1.handshake.as_mut() else {
            return Fate::Keep;
        };
        let mut reply = vec![
            Payload::KeyExchange(dh.public_value().to_vec()),
            Payload::Nonce(ni.clone()),
        ];
        if let Some(variant) = v1.nat_t {
            reply.extend(nat::nat_d_payloads(
                variant,
                choice.hash,
                cookies,
                local,
                remote,
            ));
        }
        hs.ke_i = dh.public_value().to_vec();
        hs.ni = ni;
        hs.dh = Some(dh);
        hs.choice = Some(choice);
        hs.step = Step::Ke;
        let header = message::header(sa, ExchangeType::IdentityProtection, 0);
        let bytes = message::plain(&header, &reply, sa.remote);
        self.answer_with_request(now, sa, datagram, bytes);
        Fate::Keep
    }

    /// Responder: the initiator's KE and nonce; ours go back, and the keys are made.
    fn main_mode_3(&mut self, _now: Instant, sa: &mut IkeSa, datagram: &[u8]) -> Fate {
        let Some(payloads) = self.plain_payloads(datagram, sa.remote) else {
            return Fate::Keep;
        };
        let (Some(ke_i), Some(ni)) = (find_ke(&payloads), find_nonce(&payloads)) else {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        };
        let Some(settings) = self.shared_connection(sa.conn) else {
            return Fate::Keep;
        };
        let Some(choice) = sa
            .v1
            .as_ref()
            .and_then(|v| v.handshake.as_ref())
            .and_then(|h| h.choice)
        else {
            return Fate::Keep;
        };
        let (shared, ke_r) = match KeyExchange::respond(choice.dh, ke_i, self.rng.as_mut()) {
            Ok(r) => r,
            Err(e) => {
                return Fate::Remove(DownReason::NegotiationFailed(Failure::refused(
                    MAIN_MODE,
                    "INVALID_KEY_INFORMATION",
                    format!("the initiator's {} public value: {e}", choice.dh),
                )))
            }
        };
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut nr);
        let cookies = (sa.spi_i, sa.spi_r);
        let (local, remote) = (sa.local, sa.remote);
        let Some(v1) = sa.v1.as_mut() else {
            return Fate::Keep;
        };
        let nat_t = v1.nat_t;
        let Some(hs) = v1.handshake.as_mut() else {
            return Fate::Keep;
        };
        hs.ke_i = ke_i.to_vec();
        hs.ke_r = ke_r.clone();
        hs.ni = ni.to_vec();
        hs.nr = nr.clone();
        let (crypto, skeyid) =
            match phase1_crypto(&choice, hs, &settings.psk.0, shared.as_bytes(), cookies) {
                Ok(k) => k,
                Err(e) => {
                    return Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                        e.to_string(),
                    )))
                }
            };
        hs.skeyid = Some(skeyid);
        hs.step = Step::Id;
        v1.crypto = Some(crypto);
        let mut reply = vec![Payload::KeyExchange(ke_r), Payload::Nonce(nr)];
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
        let header = message::header(sa, ExchangeType::IdentityProtection, 0);
        let bytes = message::plain(&header, &reply, sa.remote);
        self.v1_reply(sa, datagram, bytes);
        Fate::Keep
    }

    /// Initiator: the responder's KE and nonce; the keys are made, and our identity and
    /// HASH_I go encrypted (from port 4500 when a NAT was found, RFC 3947 4).
    fn main_mode_4(&mut self, now: Instant, sa: &mut IkeSa, datagram: &[u8]) -> Fate {
        let Some(payloads) = self.plain_payloads(datagram, sa.remote) else {
            return Fate::Keep;
        };
        let (Some(ke_r), Some(nr)) = (find_ke(&payloads), find_nonce(&payloads)) else {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        };
        let Some(settings) = self.shared_connection(sa.conn) else {
            return Fate::Keep;
        };
        let cookies = (sa.spi_i, sa.spi_r);
        let (local, remote) = (sa.local, sa.remote);
        let Some(v1) = sa.v1.as_mut() else {
            return Fate::Keep;
        };
        let nat_t = v1.nat_t;
        let Some(hs) = v1.handshake.as_mut() else {
            return Fate::Keep;
        };
        let (Some(choice), Some(dh)) = (hs.choice, hs.dh.take()) else {
            return Fate::Keep;
        };
        let shared = match dh.agree(ke_r) {
            Ok(s) => s,
            Err(e) => {
                return Fate::Remove(DownReason::NegotiationFailed(Failure::gave_up(
                    MAIN_MODE,
                    format!("the responder's {} public value: {e}", choice.dh),
                )))
            }
        };
        hs.ke_r = ke_r.to_vec();
        hs.nr = nr.to_vec();
        let (crypto, skeyid) =
            match phase1_crypto(&choice, hs, &settings.psk.0, shared.as_bytes(), cookies) {
                Ok(k) => k,
                Err(e) => {
                    return Fate::Remove(DownReason::NegotiationFailed(Failure::local(
                        e.to_string(),
                    )))
                }
            };
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
        hs.skeyid = Some(skeyid);
        hs.step = Step::Id;
        v1.crypto = Some(crypto);
        if nat_t.is_some() {
            if let Some(found) = nat::detect(choice.hash, cookies, local, remote, &payloads) {
                sa.nat = found;
            }
        }
        if sa.nat.any() {
            sa.local.set_port(NAT_T_PORT);
            sa.remote.set_port(NAT_T_PORT);
        }
        let mut reply = vec![our_id, Payload::Hash(hash_i)];
        if initial {
            reply.push(self.v1_initial_contact(sa));
        }
        let header = message::header(sa, ExchangeType::IdentityProtection, 0);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return Fate::Keep;
        };
        let bytes = message::seal(crypto, &header, &reply, sa.remote);
        self.answer_with_request(now, sa, datagram, bytes);
        Fate::Keep
    }

    /// INITIAL-CONTACT of an ISAKMP SA: its SPI is both cookies (RFC 2407 4.6.3.3).
    pub(super) fn v1_initial_contact(&self, sa: &IkeSa) -> Payload {
        Payload::Notification(ikev1::Notification {
            doi: ikev1::DOI_IPSEC,
            protocol: ikev1::PROTO_ISAKMP,
            notify: ikev1::NotifyType::InitialContact,
            spi: cookie_spi(sa),
            data: Vec::new(),
        })
    }

    /// Both roles: the peer's identity and hash (Main Mode 5 or 6).
    fn main_mode_id(
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
            Err(e) => return self.undecryptable_phase1(sa, &e),
        };
        match self.verify_peer_hash(sa, &opened) {
            Ok(identity) => {
                let payloads = opened.payload_list();
                if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
                    opened.accept(crypto);
                }
                sa.last_received = now;
                // RFC 3947 4: the initiator moved to port 4500; so does the SA.
                if local.port() == NAT_T_PORT {
                    sa.local = local;
                    sa.remote = remote;
                }
                sa.remote_id = Some(identity);
                if initial_contact(&payloads) {
                    self.initial_contacts.push(sa.id);
                }
                if sa.initiator {
                    TimerQueue::cancel(&mut sa.timers, Timer::Retransmit);
                    if let Some(v1) = sa.v1.as_mut() {
                        v1.outstanding = None;
                    }
                    self.establish_v1(now, sa);
                } else {
                    self.answer_main_mode_5(now, sa, datagram);
                }
                Fate::Keep
            }
            Err(failure) => {
                warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
                // The peer's message decrypted: past it, our notify's IV is the one the
                // peer expects (RFC 2409 appendix B).
                if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
                    opened.accept(crypto);
                }
                self.tell_phase1_refusal(sa, &failure);
                Fate::Remove(DownReason::AuthFailed(failure))
            }
        }
    }

    /// The peer's identity message decrypted, so both ends hold the same keys: tell the
    /// peer why we refuse it, in an informational message it can read, so that its
    /// operator sees the refusal instead of a peer that stopped answering.
    pub(super) fn tell_phase1_refusal(&mut self, sa: &mut IkeSa, failure: &Failure) {
        let notify = match failure.notify.as_deref() {
            Some("AUTHENTICATION_FAILED") => ikev1::NotifyType::AuthenticationFailed,
            Some("INVALID_ID_INFORMATION") => ikev1::NotifyType::InvalidIdInformation,
            _ => return,
        };
        let spi = cookie_spi(sa);
        self.send_v1_notify(sa, ikev1::PROTO_ISAKMP, notify, spi, Vec::new());
    }

    /// The peer's HASH_I or HASH_R against what it must be, and its identity against the
    /// connection's.
    fn verify_peer_hash(
        &self,
        sa: &IkeSa,
        opened: &Opened,
    ) -> Result<crate::ike::IkeIdentity, Failure> {
        let payloads = opened.payload_list();
        let (Some(id), Some(hash)) = (find_id(&payloads), find_hash(&payloads)) else {
            return Err(Failure::refused(
                MAIN_MODE,
                "PAYLOAD_MALFORMED",
                "the identity message lacks its ID or HASH payload",
            ));
        };
        let id_b = opened
            .raw_body(|p| matches!(p, Payload::Identification(_)))
            .unwrap_or_default();
        let hs = sa.v1.as_ref().and_then(|v| v.handshake.as_ref());
        let (Some(hs), Some(skeyid)) = (hs, hs.and_then(|h| h.skeyid.as_ref())) else {
            return Err(Failure::local("phase 1 keys missing"));
        };
        let Some(choice) = hs.choice else {
            return Err(Failure::local("phase 1 proposal missing"));
        };
        let (cky_i, cky_r) = (sa.spi_i, sa.spi_r);
        // The initiator checks the responder's HASH_R, the responder the initiator's HASH_I.
        let peer_hash = if sa.initiator {
            keys::hash_r
        } else {
            keys::hash_i
        };
        let expected = peer_hash(
            choice.hash,
            skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cky_i,
            cky_r,
            &hs.sa_i_b,
            id_b,
        );
        let identity = ids::identity_of(id);
        let mode = super::mode_name(sa);
        let settings = self.connection(sa.conn);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), hash)) {
            return Err(Failure::refused(
                mode,
                "AUTHENTICATION_FAILED",
                format!(
                    "HASH of {identity} (psk) does not verify with the pre-shared key; {}",
                    ids::our_side(settings)
                ),
            ));
        }
        if let Some(want) = settings.and_then(|c| c.remote_id.as_ref()) {
            if *want != identity {
                return Err(Failure::refused(
                    mode,
                    "INVALID_ID_INFORMATION",
                    format!("the peer is {identity} (psk); {}", ids::our_side(settings)),
                ));
            }
        }
        Ok(identity)
    }

    /// Responder: Main Mode 5 verified; our identity and HASH_R close phase 1.
    fn answer_main_mode_5(&mut self, now: Instant, sa: &mut IkeSa, datagram: &[u8]) {
        let Some(settings) = self.shared_connection(sa.conn) else {
            return;
        };
        let our_id = Payload::Identification(ids::identity_payload(&settings.local_id));
        let (cky_i, cky_r) = (sa.spi_i, sa.spi_r);
        let Some(hs) = sa.v1.as_ref().and_then(|v| v.handshake.as_ref()) else {
            return;
        };
        let (Some(choice), Some(skeyid)) = (hs.choice, hs.skeyid.as_ref()) else {
            return;
        };
        let hash_r = keys::hash_r(
            choice.hash,
            skeyid,
            &hs.ke_i,
            &hs.ke_r,
            cky_i,
            cky_r,
            &hs.sa_i_b,
            &message::body_of(&our_id),
        );
        let header = message::header(sa, ExchangeType::IdentityProtection, 0);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return;
        };
        let bytes = message::seal(crypto, &header, &[our_id, Payload::Hash(hash_r)], sa.remote);
        self.v1_reply(sa, datagram, bytes);
        self.establish_v1(now, sa);
    }

    /// A phase 1 message that does not decrypt: with Main Mode's keys made from the
    /// pre-shared key, almost always a key that differs between the ends.
    fn undecryptable_phase1(&mut self, sa: &IkeSa, e: &Error) -> Fate {
        match e {
            Error::Undecryptable => {
                self.stats.dropped_undecryptable += 1;
                let failure = Failure::refused(
                    MAIN_MODE,
                    "AUTHENTICATION_FAILED",
                    format!(
                        "the peer's identity message does not decrypt: the pre-shared keys differ; {}",
                        ids::our_side(self.connection(sa.conn))
                    ),
                );
                warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
                Fate::Remove(DownReason::AuthFailed(failure))
            }
            other => {
                self.stats.dropped_malformed += 1;
                debug!(sa = sa.id.0, "dropped IKEv1 message: {other}");
                Fate::Keep
            }
        }
    }

    /// Both roles: phase 1 is done.
    pub(in crate::ike) fn establish_v1(&mut self, now: Instant, sa: &mut IkeSa) {
        sa.state = SaState::Established;
        sa.established_at = Some(now);
        if let Some(v1) = sa.v1.as_mut() {
            v1.handshake = None;
        }
        self.release_half_open(sa);
        TimerQueue::cancel(&mut sa.timers, Timer::Establish);
        self.retries.succeeded(sa.conn);
        self.arm_dpd(now, sa);
        self.arm_v1_lifetime(now, sa);
        info!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, algorithms = sa.algorithms().unwrap_or_default(), "IKEv1 ISAKMP SA established");
        self.v1_established.push(sa.id);
        self.next_v1_request(now, sa);
        self.emit_event(super::super::output::Event::IkeUp {
            conn: sa.conn,
            sa: sa.id,
            remote: sa.remote,
        });
    }

    /// The ISAKMP SA's deadlines: re-authentication before the lifetime both ends agreed on
    /// (the shorter of ours and the peer's), and the hard end after it. The initiator of the
    /// SA re-authenticates first (85-95% of the lifetime); the responder only if it has not by
    /// 98%: both ends starting a phase 1 at once would leave two ISAKMP SAs.
    fn arm_v1_lifetime(&mut self, now: Instant, sa: &mut IkeSa) {
        self.arm_v1_lifetime_since(now, now, sa);
    }

    /// The deadlines of [`Self::arm_v1_lifetime`] counted from `since` (the SA's
    /// establishment, when a reload changed the lifetime). A re-authentication deadline
    /// already past moves to `now`, and the hard end then stays as far behind it as it would
    /// have been, so that the new phase 1 has its usual time to complete.
    pub(in crate::ike) fn arm_v1_lifetime_since(
        &mut self,
        since: Instant,
        now: Instant,
        sa: &mut IkeSa,
    ) {
        let Some(ours) = self.connection(sa.conn).map(|c| c.ike_lifetime) else {
            return;
        };
        let agreed = sa
            .v1
            .as_ref()
            .and_then(|v| v.lifetime_s)
            .map(std::time::Duration::from_secs)
            .map_or(ours, |theirs| theirs.min(ours));
        let rekey = if sa.initiator {
            let random = self.random_u32();
            super::super::child::jittered(agreed.mul_f64(0.95), random)
        } else {
            agreed.mul_f64(0.98)
        };
        let rekey_at = (since + rekey).max(now);
        let expire_at = (since + agreed).max(rekey_at + agreed.saturating_sub(rekey));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::IkeRekey, rekey_at);
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::IkeExpire, expire_at);
    }
}

/// The SPI of an ISAKMP SA in notifies and deletes: CKY-I | CKY-R (RFC 2408 3.15).
pub(super) fn cookie_spi(sa: &IkeSa) -> Vec<u8> {
    let mut spi = sa.spi_i.to_be_bytes().to_vec();
    spi.extend_from_slice(&sa.spi_r.to_be_bytes());
    spi
}
