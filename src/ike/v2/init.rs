//! IKE_SA_INIT (RFC 7296 1.2): proposals, key exchange, nonces, NAT detection; with the
//! INVALID_KE_PAYLOAD retry and cookies (2.6).

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info};

use crate::config::AuthMethod;
use crate::crypto::dh::KeyExchange;
use crate::crypto::keymat::{derive_ike_keys, IkeKeys, IkeSuite};
use crate::crypto::protect::PayloadProtection;
use crate::wire::ikev2::{
    self, ExchangeType, Flags, Header, KePayload, Message, NotifyType, Payload, PayloadType,
    SaPayload,
};

use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::{Error, Failure};
use super::super::output::{ConnId, DownReason, SaId, Transmit};
use super::super::owner::Direction;
use super::super::sa::{HalfOpenEntry, IkeSa, NatState, SaOrigin, SaState};
use super::super::timer::{Timer, TimerQueue};
use super::informational::notify;
use super::nat::detection_hash;
use super::proposal::{
    accept_ike, describe, group_offered, ike_sa_payload, preferred_group, select_ike,
};
use super::sa::{AuthContext, AuthKeys, CachedResponse, Expect, Handshake, InitSent, SaCrypto};
use super::trace;
use crate::algorithm::DhGroup;
use crate::wire::ikev2::transform::{InvalidKeData, TransformId};

const IKE_PORT: u16 = 500;
/// The largest IKE_SA_INIT request we answer: room for dozens of proposals, the largest
/// MODP key exchange (8192 bits, 1024 octets), a 256-octet nonce and the usual notifies and
/// vendor IDs, several times over. The message cannot be fragmented (RFC 7383 covers only
/// encrypted messages), so a peer cannot need more than a datagram of this size.
pub(super) const MAX_INIT_REQUEST: usize = 8192;

/// The bytes a half-open SA keeps of IKE_SA_INIT: the request and our answer (AUTH signs
/// both) and the answer again in the response cache.
fn half_open_bytes(sa: &IkeSa) -> u32 {
    let auth = sa
        .v2
        .auth_context()
        .map_or(0, |a| a.request.len() + a.response.len());
    let cached = sa
        .v2
        .exchanges
        .last_response
        .as_ref()
        .map_or(0, |c| c.datagrams.iter().map(Vec::len).sum());
    u32::try_from(auth + cached).unwrap_or(u32::MAX)
}

pub(super) const NAT_T_PORT: u16 = 4500;
const NONCE_LEN: usize = 32;

fn notify_data(payloads: &[Payload], kind: NotifyType) -> Option<&[u8]> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == kind => Some(n.data.as_slice()),
        _ => None,
    })
}

fn notifies(payloads: &[Payload], kind: NotifyType) -> impl Iterator<Item = &[u8]> {
    payloads.iter().filter_map(move |p| match p {
        Payload::Notify(n) if n.notify_type == kind => Some(n.data.as_slice()),
        _ => None,
    })
}

/// Protection for both directions, from the point of view of one side.
pub(in crate::ike) fn sa_crypto(
    suite: IkeSuite,
    keys: IkeKeys,
    initiator: bool,
) -> Result<SaCrypto, Error> {
    let to_err = |e: crate::crypto::error::CryptoError| Error::KeyExchange(e.to_string());
    let (out_e, out_a, in_e, in_a) = if initiator {
        (&keys.sk_ei, &keys.sk_ai, &keys.sk_er, &keys.sk_ar)
    } else {
        (&keys.sk_er, &keys.sk_ar, &keys.sk_ei, &keys.sk_ai)
    };
    let auth = |k: &[u8]| suite.integrity.map(|_| k.to_vec());
    let outbound = PayloadProtection::new(
        suite.encryption,
        suite.integrity,
        out_e,
        auth(out_a).as_deref(),
    )
    .map_err(to_err)?;
    let inbound = PayloadProtection::new(
        suite.encryption,
        suite.integrity,
        in_e,
        auth(in_a).as_deref(),
    )
    .map_err(to_err)?;
    let IkeKeys {
        sk_d, sk_pi, sk_pr, ..
    } = keys;
    Ok(SaCrypto {
        suite,
        sk_d,
        auth_keys: Some(AuthKeys { sk_pi, sk_pr }),
        outbound,
        inbound,
    })
}

/// NAT detection from the notifies the peer sent (RFC 7296 2.23). `peer_src` are the
/// NAT_DETECTION_SOURCE_IP hashes (the peer's view of itself), `peer_dst` the
/// NAT_DETECTION_DESTINATION_IP one (its view of us).
fn detect_nat(
    payloads: &[Payload],
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
) -> NatState {
    let mut src = notifies(payloads, NotifyType::NatDetectionSourceIp).peekable();
    let remote_behind =
        src.peek().is_some() && !src.any(|h| h == detection_hash(spi_i, spi_r, remote).as_slice());
    let local_behind = notify_data(payloads, NotifyType::NatDetectionDestinationIp)
        .is_some_and(|h| h != detection_hash(spi_i, spi_r, local).as_slice());
    NatState {
        local_behind,
        remote_behind,
    }
}

/// What the responder reads from an IKE_SA_INIT request.
#[derive(Clone, Copy)]
struct InitRequest<'a> {
    local: SocketAddr,
    remote: SocketAddr,
    spi_i: u64,
    datagram: &'a [u8],
    payloads: &'a [Payload],
    offer: &'a SaPayload,
    ke: &'a KePayload,
    ni: &'a [u8],
}

/// The SA, KE and Nonce payloads both IKE_SA_INIT messages must carry (RFC 7296 1.2).
fn sa_ke_nonce(payloads: &[Payload]) -> Option<(&SaPayload, &KePayload, &[u8])> {
    let (mut sa, mut ke, mut nonce) = (None, None, None);
    for p in payloads {
        match p {
            Payload::Sa(s) => sa = Some(s),
            Payload::Ke(k) => ke = Some(k),
            Payload::Nonce(n) => nonce = Some(n.as_slice()),
            _ => {}
        }
    }
    Some((sa?, ke?, nonce?))
}

/// What the responder's side of the key exchange yields.
struct ResponderKeys {
    crypto: SaCrypto,
    our_public: Vec<u8>,
    nr: Vec<u8>,
    spi_r: u64,
}

/// The notifies of our IKE_SA_INIT response: NAT detection when the initiator sent it
/// (RFC 7296 2.23), and fragmentation support when both ends announce it (RFC 7383 2.3).
fn init_response_notifies(request: &InitRequest, spi_r: u64, fragmentation: bool) -> Vec<Payload> {
    let mut out = Vec::new();
    if notify_data(request.payloads, NotifyType::NatDetectionSourceIp).is_some() {
        out.push(Payload::Notify(notify(
            NotifyType::NatDetectionSourceIp,
            detection_hash(request.spi_i, spi_r, request.local),
        )));
        out.push(Payload::Notify(notify(
            NotifyType::NatDetectionDestinationIp,
            detection_hash(request.spi_i, spi_r, request.remote),
        )));
    }
    if fragmentation {
        out.push(Payload::Notify(notify(
            NotifyType::Ikev2FragmentationSupported,
            Vec::new(),
        )));
    }
    out
}

impl Context {
    /// Start a new IKE SA for a connection (RFC 7296 1.2).
    /// `first`: the connection has no other IKE SA, so IKE_AUTH carries INITIAL_CONTACT.
    pub fn initiate(&mut self, now: Instant, conn: ConnId, first: bool) -> Result<SaId, Error> {
        let settings = self.settings_of(conn)?;
        let remote_ip = settings.remote_addr.ok_or_else(|| {
            Error::UnknownConnection(format!(
                "{}: the peer address is 'any', so only the peer can initiate",
                settings.name
            ))
        })?;
        let local_ip = settings.local_addr;
        let group = preferred_group(&settings.ike_proposals).ok_or(Error::NoProposalConfigured)?;
        let dh = KeyExchange::generate(group, self.rng.as_mut())
            .map_err(|e| Error::KeyExchange(e.to_string()))?;
        let mut ni = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut ni);
        let spi_i = self.new_ike_spi();
        let child_spi = self.new_esp_spi();
        let id = self.new_sa_id();
        let mut sa = IkeSa::new(
            SaOrigin {
                id,
                conn,
                initiator: true,
                spi_i,
                spi_r: 0,
                local: SocketAddr::new(local_ip, IKE_PORT),
                remote: SocketAddr::new(remote_ip, IKE_PORT),
                state: SaState::InitSent,
            },
            now,
        );
        sa.v2.handshake = Some(Handshake::ExpectInitResponse(Box::new(InitSent {
            ni,
            request: Vec::new(),
            dh,
            cookie: None,
            child_spi,
            initial_contact: first,
        })));
        self.by_spi.insert(spi_i, id);
        // No deadline besides retransmission: it gives up after its last try, as the peer's
        // half-open timeout would.
        self.send_init_request(now, &mut sa);
        self.adopt(sa);
        Ok(id)
    }

    fn send_init_request(&mut self, now: Instant, sa: &mut IkeSa) {
        let header = super::message::header(sa, ExchangeType::IkeSaInit, false, 0);
        let Some(settings) = self.connection(sa.conn) else {
            return;
        };
        let Some(init) = sa.v2.init_sent() else {
            return;
        };
        let dh = &init.dh;
        let mut payloads = Vec::with_capacity(6);
        if let Some(c) = &init.cookie {
            // The cookie goes first (RFC 7296 2.6).
            payloads.push(Payload::Notify(notify(NotifyType::Cookie, c.clone())));
        }
        payloads.push(Payload::Sa(ike_sa_payload(&settings.ike_proposals, None)));
        payloads.push(Payload::Ke(KePayload {
            group: dh.group().transform_id(),
            data: dh.public_value().to_vec(),
        }));
        payloads.push(Payload::Nonce(init.ni.clone()));
        payloads.push(Payload::Notify(notify(
            NotifyType::NatDetectionSourceIp,
            detection_hash(sa.spi_i, 0, sa.local),
        )));
        payloads.push(Payload::Notify(notify(
            NotifyType::NatDetectionDestinationIp,
            detection_hash(sa.spi_i, 0, sa.remote),
        )));
        payloads.push(Payload::Notify(notify(
            NotifyType::Ikev2FragmentationSupported,
            Vec::new(),
        )));
        if settings.local_auth == AuthMethod::Pubkey || settings.remote_auth == AuthMethod::Pubkey {
            payloads.push(super::signature::hashes_notify());
        }
        trace::log_message(Direction::Sent, sa.remote, &header, &payloads);
        let bytes = ikev2::emit_message(&header, &payloads);
        init.request = bytes.clone();
        self.send_request(now, sa, Expect::InitResponse, 0, vec![bytes]);
    }

    /// An unauthenticated error answer to an IKE_SA_INIT request; no state is kept.
    fn refuse_init(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        spi_i: u64,
        kind: NotifyType,
        data: Vec<u8>,
    ) {
        let header = Header {
            spi_i,
            spi_r: 0,
            next_payload: PayloadType::None,
            version: 0x20,
            exchange: ExchangeType::IkeSaInit,
            flags: Flags {
                initiator: false,
                response: true,
            },
            message_id: 0,
            length: 0,
        };
        let payloads = [Payload::Notify(notify(kind, data))];
        trace::log_message(Direction::Sent, remote, &header, &payloads);
        let payload = ikev2::emit_message(&header, &payloads);
        self.emit_transmit(Transmit {
            local,
            remote,
            payload,
        });
    }

    /// Connections a peer at `remote` may reach us for at `local`.
    fn responder_connection(&self, local: SocketAddr, remote: SocketAddr) -> Option<ConnId> {
        self.conn_index.by_address(remote.ip()).find(|id| {
            self.connection(*id).is_some_and(|c| {
                c.local_addr == local.ip() && c.version == crate::ike::IkeVersion::V2
            })
        })
    }

    /// Responder: a new IKE_SA_INIT request (RFC 7296 1.2; a retransmission gets
    /// [`Self::resend_init_response`]): checked, admitted (cookies under load), given a
    /// proposal and answered, creating a half-open SA.
    pub(in crate::ike) fn respond_init(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) {
        let Some(request) = self.read_init_request(local, remote, datagram, msg) else {
            return;
        };
        self.cookie_secrets.rotate_if_due(now, self.rng.as_mut());
        self.evict_for_new = None;
        let Some(conn) = self.admit_init(now, &request) else {
            return;
        };
        let Some((suite, answer)) = self.choose_init_proposal(conn, &request) else {
            return;
        };
        self.answer_init(now, conn, &request, suite, answer);
    }

    /// RFC 7296 2.1: the cached answer to a retransmitted IKE_SA_INIT, if it is byte for
    /// byte the request we answered.
    ///
    /// The initiator had not received our answer: its IKE_AUTH, and the retransmissions of
    /// it, start only now, so the half-open SA is kept as long again from now.
    pub(in crate::ike) fn resend_init_response(
        &mut self,
        now: Instant,
        half_open: Option<&mut IkeSa>,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        let request = super::message::digest(datagram);
        let Some(sa) = half_open else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let cached = sa
            .v2
            .exchanges
            .last_response
            .as_ref()
            .filter(|c| c.message_id == 0 && c.request == request)
            .map(|c| c.datagrams.clone());
        if cached.is_none() {
            self.stats.dropped_unexpected += 1;
        } else if sa.half_open_key.is_some() {
            let deadline = now + self.settings.half_open_lifetime();
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::Establish, deadline);
        }
        for payload in cached.into_iter().flatten() {
            self.stats.responses_resent += 1;
            self.emit_transmit(Transmit {
                local,
                remote,
                payload,
            });
        }
    }

    /// The payloads an IKE_SA_INIT request must have; `None` (counted, or refused for an
    /// unknown critical payload) otherwise.
    fn read_init_request<'a>(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &'a [u8],
        msg: &'a Message,
    ) -> Option<InitRequest<'a>> {
        let spi_i = msg.header.spi_i;
        let payloads = &msg.payloads;
        // A half-open SA keeps its request whole (AUTH signs it): one larger than any
        // proposal, key exchange and notifies need is refused before it costs anything.
        if datagram.len() > MAX_INIT_REQUEST {
            self.stats.dropped_oversized += 1;
            debug!(%remote, len = datagram.len(), "dropped an IKE_SA_INIT of {} bytes (at most {MAX_INIT_REQUEST})", datagram.len());
            return None;
        }
        if let Some(t) = ikev2::first_unsupported_critical(payloads) {
            // RFC 7296 2.5: reject a message with a critical payload we do not understand.
            self.refuse_init(
                local,
                remote,
                spi_i,
                NotifyType::UnsupportedCriticalPayload,
                vec![t],
            );
            let conn = self.connection_naming(remote.ip());
            let failure = Failure::refused(
                ExchangeType::IkeSaInit,
                NotifyType::UnsupportedCriticalPayload,
                format!("critical payload of type {t}"),
            );
            self.report_refusal(conn, remote, failure);
            return None;
        }
        let Some((offer, ke, ni)) = sa_ke_nonce(payloads) else {
            self.stats.dropped_malformed += 1;
            return None;
        };
        // RFC 7296 2.10: nonces are at least 16 and at most 256 octets.
        if !(16..=256).contains(&ni.len()) {
            self.stats.dropped_malformed += 1;
            return None;
        }
        Some(InitRequest {
            local,
            remote,
            spi_i,
            datagram,
            payloads,
            offer,
            ke,
            ni,
        })
    }

    /// The connection the request is for, once a cookie proves the initiator's address when
    /// too many SAs are half-open (RFC 7296 2.6).
    fn admit_init(&mut self, now: Instant, request: &InitRequest) -> Option<ConnId> {
        let InitRequest {
            local,
            remote,
            spi_i,
            ni,
            ..
        } = *request;
        let Some(conn) = self.responder_connection(local, remote) else {
            self.refuse_init(
                local,
                remote,
                spi_i,
                NotifyType::NoProposalChosen,
                Vec::new(),
            );
            let failure = Failure::refused(
                ExchangeType::IkeSaInit,
                NotifyType::NoProposalChosen,
                format!("no connection for a peer at {} on {local}", remote.ip()),
            );
            self.report_refusal(None, remote, failure);
            return None;
        };
        let evict = self.half_open_room(now, remote)?;
        let cookie_threshold = usize::try_from(self.settings.half_open.cookie_threshold);
        if cookie_threshold.is_ok_and(|t| self.half_open.len() >= t) {
            let valid = notify_data(request.payloads, NotifyType::Cookie)
                .is_some_and(|c| self.cookie_secrets.verify(ni, remote.ip(), spi_i, c));
            if !valid {
                let c = self.cookie_secrets.compute(ni, remote.ip(), spi_i);
                self.stats.cookies_sent += 1;
                self.refuse_init(local, remote, spi_i, NotifyType::Cookie, c);
                return None;
            }
        }
        // Only a request that made it here (from its own address, when cookies are asked
        // for) takes an older SA's place, and only once its SA exists (`keep_half_open`).
        self.evict_for_new = evict;
        Some(conn)
    }

    /// A new IKE_SA_INIT request from an address that holds all the half-open SAs it may is
    /// dropped (and counted) on its header alone, before its payloads are decoded: a flood
    /// from one address that answers cookies costs a header read and two lookups once it is
    /// full. Retransmissions of requests already answered go on to their cached response.
    pub(in crate::ike) fn drop_init_from_full_source(
        &mut self,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Ok(header) = ikev2::Header::parse(datagram) else {
            return false;
        };
        let new_request = header.exchange == ExchangeType::IkeSaInit
            && !header.flags.response
            && header.spi_r == 0
            && datagram.len() <= MAX_INIT_REQUEST;
        if !new_request || self.half_open.contains_key(&(header.spi_i, remote)) {
            return false;
        }
        let held = self.half_open_by_address.get(&remote.ip()).copied();
        if held.is_none_or(|n| n < self.settings.half_open.per_address) {
            return false;
        }
        self.count_half_open_drop(remote, "half_open_per_address");
        true
    }

    /// Whether another half-open SA from `remote` fits the limits (per address, in all, in
    /// bytes): `Some(None)` if it does, `Some(Some(oldest))` if it does once the oldest
    /// half-open SA goes, which may happen when that one is older than `establish_timeout`
    /// and the limit reached is the total or the bytes (an address at its own limit waits
    /// for its own SAs to go); `None`, counted, if not. Only sources that return cookies can
    /// fill them (above the cookie threshold a spoofed flood creates no SA), and a full
    /// source is dropped before its cookie is computed.
    pub(in crate::ike) fn half_open_room(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Option<Option<SaId>> {
        let limits = self.settings.half_open;
        let from_address = self
            .half_open_by_address
            .get(&remote.ip())
            .copied()
            .unwrap_or(0);
        let total = u32::try_from(self.half_open.len()).unwrap_or(u32::MAX);
        // A request and our answer, at most, come on top of what is kept.
        let bytes = self.half_open_bytes + 2 * MAX_INIT_REQUEST as u64;
        let full = if from_address >= limits.per_address {
            Some("half_open_per_address")
        } else if total >= limits.total {
            Some("half_open_limit")
        } else if bytes > limits.memory_bytes {
            Some("half_open_memory_mib")
        } else {
            None
        };
        let Some(limit) = full else {
            return Some(None);
        };
        if limit != "half_open_per_address" {
            if let Some(oldest) = self.oldest_half_open(now) {
                return Some(Some(oldest));
            }
        }
        self.count_half_open_drop(remote, limit);
        None
    }

    /// The oldest half-open SA if it is past `establish_timeout`, so that it may give way to
    /// a new one under the limits. Entries of SAs no longer half-open are dropped on the way.
    fn oldest_half_open(&mut self, now: Instant) -> Option<SaId> {
        while let Some(&(id, key, created)) = self.half_open_order.front() {
            if self.half_open.get(&key) != Some(&id) {
                self.half_open_order.pop_front();
                continue;
            }
            let age = now.saturating_duration_since(created);
            return (age >= self.settings.establish_timeout).then_some(id);
        }
        None
    }

    /// An IKE_SA_INIT request dropped for the half-open `limit`: counted, the first from each
    /// peer logged.
    fn count_half_open_drop(&mut self, remote: SocketAddr, limit: &str) {
        self.stats.dropped_half_open += 1;
        if self.first_time(remote, super::super::context::RefusalKind::HalfOpenLimit) {
            info!(peer = %remote, "IKE_SA_INIT dropped: the {limit} limit of half-open SAs is reached (counted in dropped_half_open)");
        }
    }

    /// Our proposal for the initiator's offer, with a KE of the chosen group; refused with
    /// NO_PROPOSAL_CHOSEN, or INVALID_KE_PAYLOAD naming the group we want (RFC 7296 1.2).
    fn choose_init_proposal(
        &mut self,
        conn: ConnId,
        request: &InitRequest,
    ) -> Option<(IkeSuite, SaPayload)> {
        let InitRequest {
            local,
            remote,
            spi_i,
            ..
        } = *request;
        let settings = self.connection(conn)?;
        let Some((suite, answer, _)) = select_ike(&settings.ike_proposals, request.offer, None)
        else {
            let ours: Vec<String> = settings
                .ike_proposals
                .iter()
                .map(|p| p.to_string())
                .collect();
            let failure = Failure::refused(
                ExchangeType::IkeSaInit,
                NotifyType::NoProposalChosen,
                format!(
                    "no IKE proposal matches: ours {}; offered {}",
                    ours.join(", "),
                    describe(request.offer)
                ),
            );
            self.refuse_init(
                local,
                remote,
                spi_i,
                NotifyType::NoProposalChosen,
                Vec::new(),
            );
            self.report_refusal(Some(conn), remote, failure);
            return None;
        };
        if request.ke.group != suite.dh.transform_id() {
            self.refuse_init(
                local,
                remote,
                spi_i,
                NotifyType::InvalidKePayload,
                suite.dh.transform_id().to_be_bytes().to_vec(),
            );
            return None;
        }
        Some((suite, answer))
    }

    /// The responder's half of the key exchange, our nonce and SPI, and the IKE SA's keys
    /// (RFC 7296 2.14); `None` for unusable KE data (counted as malformed).
    fn responder_keys(&mut self, request: &InitRequest, suite: IkeSuite) -> Option<ResponderKeys> {
        let (secret, our_public) =
            match KeyExchange::respond(suite.dh, &request.ke.data, self.rng.as_mut()) {
                Ok(s) => s,
                Err(e) => {
                    let remote = request.remote;
                    debug!(%remote, "IKE_SA_INIT with unusable key exchange data: {e}");
                    self.stats.dropped_malformed += 1;
                    return None;
                }
            };
        let spi_r = self.new_ike_spi();
        let mut nr = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut nr);
        let keys = derive_ike_keys(
            &suite,
            secret.as_bytes(),
            request.ni,
            &nr,
            request.spi_i,
            spi_r,
        );
        let crypto = match sa_crypto(suite, keys, false) {
            Ok(c) => c,
            Err(e) => {
                debug!("cannot set up IKE SA protection: {e}");
                return None;
            }
        };
        Some(ResponderKeys {
            crypto,
            our_public,
            nr,
            spi_r,
        })
    }

    /// Complete the key exchange, answer, and keep a half-open SA until IKE_AUTH.
    fn answer_init(
        &mut self,
        now: Instant,
        conn: ConnId,
        request: &InitRequest,
        suite: IkeSuite,
        answer: SaPayload,
    ) {
        let InitRequest {
            local,
            remote,
            spi_i,
            ni,
            ..
        } = *request;
        let Some(ResponderKeys {
            crypto,
            our_public,
            nr,
            spi_r,
        }) = self.responder_keys(request, suite)
        else {
            return;
        };
        // RFC 7383 2.3: fragmentation is used only if both ends announce it.
        let fragmentation =
            notify_data(request.payloads, NotifyType::Ikev2FragmentationSupported).is_some();
        let mut out = vec![
            Payload::Sa(answer),
            Payload::Ke(KePayload {
                group: suite.dh.transform_id(),
                data: our_public,
            }),
            Payload::Nonce(nr.clone()),
        ];
        out.extend(init_response_notifies(request, spi_r, fragmentation));
        // RFC 7427 4: answer an initiator that announced its hashes, if we have certificates;
        // and name our CAs (RFC 7296 3.7) so that it picks a certificate they issued.
        let peer_hashes = super::signature::peer_hashes(request.payloads);
        let credentials = self.settings.credentials.as_deref();
        if peer_hashes.is_some() && credentials.is_some() {
            out.push(super::signature::hashes_notify());
            out.extend(super::signature::certificate_request(credentials));
        }
        let id = self.new_sa_id();
        let mut sa = IkeSa::new(
            SaOrigin {
                id,
                conn,
                initiator: false,
                spi_i,
                spi_r,
                local,
                remote,
                state: SaState::InitAnswered,
            },
            now,
        );
        sa.nat = detect_nat(request.payloads, spi_i, 0, local, remote);
        sa.v2.crypto = Some(crypto);
        sa.v2.fragmentation = fragmentation;
        sa.v2.exchanges.expected_request_id = 1;
        let header = super::message::header(&sa, ExchangeType::IkeSaInit, true, 0);
        trace::log_message(Direction::Sent, remote, &header, &out);
        let response = ikev2::emit_message(&header, &out);
        self.emit_transmit(Transmit {
            local,
            remote,
            payload: response.clone(),
        });
        sa.v2.exchanges.last_response = Some(CachedResponse {
            message_id: 0,
            request: super::message::digest(request.datagram),
            datagrams: vec![response.clone()],
        });
        sa.v2.handshake = Some(Handshake::ExpectAuth(Box::new(AuthContext {
            ni: ni.to_vec(),
            nr,
            request: request.datagram.to_vec(),
            response,
            child_spi: 0,
            initial_contact: false,
            peer_hashes,
        })));
        self.keep_half_open(now, sa);
    }

    /// A responder's SA between IKE_SA_INIT and IKE_AUTH: found by our SPI and by the
    /// initiator's SPI and address (for retransmissions), and gone if IKE_AUTH does not come
    /// in time.
    fn keep_half_open(&mut self, now: Instant, mut sa: IkeSa) {
        let deadline = now + self.settings.half_open_lifetime();
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Establish, deadline);
        self.by_spi.insert(sa.spi_r, sa.id);
        let entry = HalfOpenEntry {
            spi_i: sa.spi_i,
            remote: sa.remote,
            bytes: half_open_bytes(&sa),
        };
        self.register_half_open(now, &mut sa, entry);
        self.adopt(sa);
    }

    /// Enter a responder's SA into the half-open table and the limits' counts; the newest
    /// SA takes the place of the one the limits evicted for it.
    pub(in crate::ike) fn register_half_open(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        entry: HalfOpenEntry,
    ) {
        self.half_open.insert((entry.spi_i, entry.remote), sa.id);
        self.half_open_order
            .push_back((sa.id, (entry.spi_i, entry.remote), now));
        if self.half_open_order.len() > 2 * self.half_open.len() + 64 {
            let live = &self.half_open;
            self.half_open_order
                .retain(|(id, key, _)| live.get(key) == Some(id));
        }
        if let Some(oldest) = self.evict_for_new.take() {
            self.half_open_evictions.push(oldest);
        }
        self.stats.half_open_peak = self.stats.half_open_peak.max(self.half_open.len() as u64);
        *self
            .half_open_by_address
            .entry(entry.remote.ip())
            .or_insert(0) += 1;
        self.half_open_bytes += u64::from(entry.bytes);
        sa.half_open_key = Some(entry);
    }

    /// Initiator: the answer to our IKE_SA_INIT. INVALID_KE_PAYLOAD and COOKIE make us send
    /// the request again (RFC 7296 1.2, 2.6), another error notify ends the SA, and a proper
    /// answer completes the key exchange and moves on to IKE_AUTH.
    pub(in crate::ike) fn on_init_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) -> Fate {
        let payloads = &msg.payloads;
        if self.connection(sa.conn).is_none() {
            return Fate::Remove(DownReason::Deleted);
        }
        if let Some(data) = notify_data(payloads, NotifyType::InvalidKePayload) {
            return self.retry_init_with_group(now, sa, DhGroup::from_notify_data(data));
        }
        if let Some(cookie) = notify_data(payloads, NotifyType::Cookie) {
            return self.retry_init_with_cookie(now, sa, cookie);
        }
        if let Some(refusal) = payloads.iter().find_map(|p| match p {
            Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
            _ => None,
        }) {
            // What we offered, for comparing with the peer's configuration.
            let offered = self
                .connection(sa.conn)
                .map(|c| {
                    let ours: Vec<String> =
                        c.ike_proposals.iter().map(ToString::to_string).collect();
                    format!("we offered {}", ours.join(", "))
                })
                .unwrap_or_default();
            return Fate::Remove(DownReason::NegotiationFailed(Failure::refused_by_peer(
                ExchangeType::IkeSaInit,
                refusal,
                offered,
            )));
        }
        let Some((sa_p, ke, nr)) = sa_ke_nonce(payloads) else {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        };
        if msg.header.spi_r == 0 || !(16..=256).contains(&nr.len()) {
            self.stats.dropped_malformed += 1;
            return Fate::Keep;
        }
        let spi_r = msg.header.spi_r;
        let crypto = match self.initiator_keys(sa, sa_p, ke, nr, spi_r, datagram) {
            Ok(Some(crypto)) => crypto,
            Ok(None) => return Fate::Keep,
            Err(failure) => return Fate::Remove(DownReason::NegotiationFailed(failure)),
        };
        sa.spi_r = spi_r;
        sa.v2.crypto = Some(crypto);
        if let Some(Handshake::ExpectAuth(context)) = sa.v2.handshake.as_mut() {
            context.peer_hashes = super::signature::peer_hashes(payloads);
        }
        sa.nat = detect_nat(payloads, sa.spi_i, spi_r, local, remote);
        sa.v2.fragmentation =
            notify_data(payloads, NotifyType::Ikev2FragmentationSupported).is_some();
        sa.last_received = now;
        if sa.nat.any() {
            // RFC 7296 2.23: continue on port 4500 once a NAT is detected.
            sa.local.set_port(NAT_T_PORT);
            sa.remote.set_port(NAT_T_PORT);
        }
        sa.v2.exchanges.outstanding = None;
        TimerQueue::cancel(&mut sa.timers, Timer::Retransmit);
        self.send_auth_request(now, sa)
    }

    /// INVALID_KE_PAYLOAD: start again with the group the responder names, if we offer it
    /// and it is not the one we sent.
    fn retry_init_with_group(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        wanted: Option<DhGroup>,
    ) -> Fate {
        let current = sa.v2.init_sent().map(|i| i.dh.group());
        let offered = |group: DhGroup| {
            self.connection(sa.conn)
                .is_some_and(|c| group_offered(&c.ike_proposals, group))
        };
        let Some(group) = wanted.filter(|g| Some(*g) != current && offered(*g)) else {
            return Fate::Remove(DownReason::NegotiationFailed(Failure::refused_by_peer(
                ExchangeType::IkeSaInit,
                NotifyType::InvalidKePayload,
                "it wants a DH group we do not offer",
            )));
        };
        debug!(sa = sa.id.0, %group, "responder asked for another DH group");
        match KeyExchange::generate(group, self.rng.as_mut()) {
            Ok(dh) => {
                if let Some(init) = sa.v2.init_sent() {
                    init.dh = dh;
                }
                self.restart_init(now, sa);
                Fate::Keep
            }
            Err(e) => Fate::Remove(DownReason::NegotiationFailed(Failure::gave_up(
                ExchangeType::IkeSaInit,
                e.to_string(),
            ))),
        }
    }

    /// COOKIE: send the request again with the cookie first (RFC 7296 2.6).
    fn retry_init_with_cookie(&mut self, now: Instant, sa: &mut IkeSa, cookie: &[u8]) -> Fate {
        let Some(init) = sa.v2.init_sent() else {
            return Fate::Keep;
        };
        if init.cookie.as_deref() == Some(cookie) {
            // The same cookie again: the responder does not accept it; let retransmission
            // and the establish deadline decide.
            self.stats.dropped_unexpected += 1;
            return Fate::Keep;
        }
        init.cookie = Some(cookie.to_vec());
        self.restart_init(now, sa);
        Fate::Keep
    }

    /// The IKE SA's keys from the responder's proposal, KE and nonce; the IKE_SA_INIT
    /// context keeps the nonce and the response for AUTH. `Ok(None)`: the SA has no key
    /// exchange in progress (a duplicate answer).
    fn initiator_keys(
        &self,
        sa: &mut IkeSa,
        answer: &SaPayload,
        ke: &KePayload,
        nr: &[u8],
        spi_r: u64,
        datagram: &[u8],
    ) -> Result<Option<SaCrypto>, Failure> {
        let gave_up = |detail: String| Failure::gave_up(ExchangeType::IkeSaInit, detail);
        let Some(settings) = self.connection(sa.conn) else {
            return Err(gave_up("the connection was removed".into()));
        };
        let Some((suite, _)) = accept_ike(&settings.ike_proposals, answer) else {
            return Err(gave_up(
                "responder chose a proposal we did not offer".into(),
            ));
        };
        if sa.v2.init_sent().is_none() {
            return Ok(None);
        }
        let Some(Handshake::ExpectInitResponse(sent)) = sa.v2.handshake.take() else {
            return Ok(None);
        };
        let InitSent {
            ni,
            request,
            dh,
            child_spi,
            initial_contact,
            ..
        } = *sent;
        if ke.group != suite.dh.transform_id() || dh.group() != suite.dh {
            return Err(gave_up(
                "responder's KE group does not match its proposal".into(),
            ));
        }
        let secret = dh
            .agree(&ke.data)
            .map_err(|e| gave_up(format!("responder's key exchange data: {e}")))?;
        let keys = derive_ike_keys(&suite, secret.as_bytes(), &ni, nr, sa.spi_i, spi_r);
        // IKE_AUTH signs both IKE_SA_INIT messages and the nonces (RFC 7296 2.15).
        sa.v2.handshake = Some(Handshake::ExpectAuth(Box::new(AuthContext {
            ni,
            nr: nr.to_vec(),
            request,
            response: datagram.to_vec(),
            child_spi,
            initial_contact,
            // Set from the response's notifies once the keys are made.
            peer_hashes: None,
        })));
        sa_crypto(suite, keys, true)
            .map(Some)
            .map_err(|e| gave_up(e.to_string()))
    }

    /// Resend IKE_SA_INIT after INVALID_KE_PAYLOAD or COOKIE: same SPI, message ID 0.
    fn restart_init(&mut self, now: Instant, sa: &mut IkeSa) {
        sa.v2.exchanges.outstanding = None;
        TimerQueue::cancel(&mut sa.timers, Timer::Retransmit);
        self.send_init_request(now, sa);
    }
}
