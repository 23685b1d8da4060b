//! The request/response machinery the IKEv2 exchanges share: message IDs, the one-request
//! window, retransmission with exponential backoff and the response cache (RFC 7296 2.1-2.3).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::debug;

use crate::wire::ikev2::{self, ExchangeType, Message, Payload};

use super::super::context::Context;
use super::super::engine::{Engine, Fate};
use super::super::error::Error;
use super::super::output::{DownReason, Transmit};
use super::super::owner::Direction;
use super::super::sa::{IkeSa, RequestKind, SaState};
use super::super::timer::Timer;
use super::informational;
use super::init::NAT_T_PORT;
use super::message;
use super::sa::{CachedResponse, Expect, Outstanding};
use super::trace;

/// INVALID_IKE_SPI answers sent at most per second (see `Context::answer_invalid_spi`).
const INVALID_SPI_PER_SECOND: u32 = 20;

impl Engine {
    /// An IKEv2 datagram: a new IKE_SA_INIT request, a retransmission of one, or a message
    /// of an SA we have, found by our SPI and lent with the context to its exchange.
    pub(in crate::ike) fn handle_v2_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        let first_new_event = self.cx.events.len();
        let Some(header) = self.dispatch_v2_datagram(now, local, remote, datagram) else {
            return;
        };
        // The exchanges name their failures; the message ID that both ends' logs and a
        // capture find the exchange by is known here, once for all of them.
        for event in self.cx.events.iter_mut().skip(first_new_event) {
            if let Some(failure) = event.failure_mut() {
                failure.in_message(header.exchange, header.message_id, remote);
            }
        }
    }

    /// [`Engine::handle_v2_datagram`] without tying failures to their message: returns the
    /// header of a message that parsed.
    fn dispatch_v2_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Option<ikev2::Header> {
        let cx = &mut self.cx;
        if cx.drop_init_from_full_source(remote, datagram) {
            return None;
        }
        let message = match ikev2::parse_message(datagram) {
            Ok(m) => m,
            Err(e) => {
                cx.stats.dropped_malformed += 1;
                debug!(%remote, "dropped malformed datagram: {e}");
                return None;
            }
        };
        let header = message.header;
        // A protected message's payloads are logged once decrypted (`open_protected`).
        if !message
            .payloads
            .iter()
            .any(|p| matches!(p, Payload::Encrypted(_) | Payload::EncryptedFragment(_)))
        {
            trace::log_message(Direction::Received, remote, &header, &message.payloads);
        }
        if header.exchange == ExchangeType::IkeSaInit && !header.flags.response {
            if header.spi_r != 0 || header.message_id != 0 {
                cx.stats.dropped_unexpected += 1;
                return Some(header);
            }
            match cx.half_open.get(&(header.spi_i, remote)).copied() {
                Some(id) => {
                    let sa = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut);
                    self.cx
                        .resend_init_response(now, sa, local, remote, datagram);
                }
                None if cx.stopping => {
                    cx.stats.dropped_unexpected += 1;
                    debug!(%remote, "dropped IKE_SA_INIT: stopping");
                }
                None => cx.respond_init(now, local, remote, datagram, &message),
            }
            return Some(header);
        }
        // The sender's initiator flag tells which of the two SPIs is ours (RFC 7296 3.1).
        let our_spi = if header.flags.initiator {
            header.spi_r
        } else {
            header.spi_i
        };
        let Some(id) = cx.by_spi.get(&our_spi).copied() else {
            cx.stats.dropped_unknown_sa += 1;
            debug!(%remote, spi = format_args!("{our_spi:016x}"), "dropped message for unknown IKE SA");
            if !header.flags.response {
                cx.answer_invalid_spi(now, local, remote, &header);
                cx.note_stale_peer(now, remote, our_spi);
            }
            return Some(header);
        };
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return Some(header);
        };
        let cx = &mut self.cx;
        let fate = if header.flags.initiator == sa.initiator {
            cx.stats.dropped_unexpected += 1;
            Fate::Keep
        } else if header.flags.response {
            cx.on_response(now, sa, local, remote, datagram, &message)
        } else {
            cx.on_request(now, sa, local, remote, datagram, &message)
        };
        self.settle(now, id, fate);
        Some(header)
    }
}

impl Context {
    /// A request from the peer on an existing SA.
    pub(in crate::ike) fn on_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) -> Fate {
        let id = msg.header.message_id;
        let first_fragment = msg.encrypted_fragment().is_none_or(|f| f.number == 1);
        if let Some(cached) = &sa.v2.exchanges.last_response {
            if cached.message_id == id {
                // A retransmitted request: answer with the very same bytes (RFC 7296 2.1),
                // once per retransmission, not once per fragment (RFC 7383 2.6.1), and only
                // if it is byte for byte the request we answered.
                if first_fragment && message::digest(datagram) == cached.request {
                    self.stats.responses_resent += 1;
                    self.transmit_all(sa.local, sa.remote, &cached.datagrams);
                } else {
                    self.stats.dropped_unexpected += 1;
                }
                return Fate::Keep;
            }
        }
        if id != sa.v2.exchanges.expected_request_id {
            self.stats.dropped_unexpected += 1;
            return Fate::Keep;
        }
        let (payloads, request) = match self.open_protected(sa, datagram, msg) {
            Some(p) => p,
            None => return Fate::Keep,
        };
        sa.last_received = now;
        self.follow_peer_address(sa, local, remote);
        if let Some(t) = crate::wire::ikev2::first_unsupported_critical(&payloads) {
            // RFC 7296 2.5: a critical payload we do not understand rejects the message.
            let refusal = vec![Payload::Notify(informational::notify(
                crate::wire::ikev2::NotifyType::UnsupportedCriticalPayload,
                vec![t],
            ))];
            self.send_response(sa, msg.header.exchange, id, request, &refusal);
            return Fate::Keep;
        }
        let (response, fate) = match (msg.header.exchange, sa.state) {
            (ExchangeType::IkeAuth, SaState::InitAnswered) => self.respond_auth(now, sa, &payloads),
            (ExchangeType::Informational, SaState::Established | SaState::Deleting) => {
                self.respond_informational(now, sa, &payloads)
            }
            (ExchangeType::CreateChildSa, SaState::Established) => {
                self.respond_create_child(now, sa, &payloads)
            }
            // RFC 7296 2.25: no new SAs on an IKE SA that is going away.
            (ExchangeType::CreateChildSa, SaState::Deleting) => (
                vec![Payload::Notify(informational::notify(
                    crate::wire::ikev2::NotifyType::TemporaryFailure,
                    Vec::new(),
                ))],
                Fate::Keep,
            ),
            _ => {
                self.stats.dropped_unexpected += 1;
                return Fate::Keep;
            }
        };
        self.send_response(sa, msg.header.exchange, id, request, &response);
        fate
    }

    /// A response from the peer: it must answer our outstanding request.
    pub(in crate::ike) fn on_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        msg: &Message,
    ) -> Fate {
        let matches = sa
            .v2
            .exchanges
            .outstanding
            .as_ref()
            .is_some_and(|o| o.message_id == msg.header.message_id);
        if !matches {
            self.stats.dropped_unexpected += 1;
            return Fate::Keep;
        }
        let awaits_init = sa
            .v2
            .exchanges
            .outstanding
            .as_ref()
            .is_some_and(|o| matches!(o.expect, Expect::InitResponse));
        let fate = if awaits_init {
            if msg.header.exchange != ExchangeType::IkeSaInit {
                self.stats.dropped_unexpected += 1;
                return Fate::Keep;
            }
            // Unprotected: a forged answer could only make us fail or retry, which the
            // retransmission of the genuine response would still win over.
            self.on_init_response(now, sa, local, remote, datagram, msg)
        } else {
            let payloads = match self.open_protected(sa, datagram, msg) {
                Some((p, _)) => p,
                None => return Fate::Keep,
            };
            sa.last_received = now;
            self.follow_peer_address(sa, local, remote);
            let Some(answered) = sa.v2.exchanges.outstanding.take() else {
                return Fate::Keep;
            };
            super::super::timer::TimerQueue::cancel(&mut sa.timers, Timer::Retransmit);
            match answered.expect {
                Expect::AuthResponse => self.on_auth_response(now, sa, &payloads),
                Expect::IkeDeleted => Fate::Remove(DownReason::Deleted),
                Expect::ChildDeleted { inbound_spi } => {
                    self.on_delete_child_response(sa, inbound_spi)
                }
                Expect::ChildRekey(sent) => {
                    self.finish_child_rekey(now, sa, &payloads, *sent);
                    Fate::Keep
                }
                Expect::IkeRekey(sent) => self.finish_ike_rekey(now, sa, &payloads, *sent),
                Expect::NewChild(sent) => {
                    self.finish_new_child(now, sa, &payloads, *sent);
                    Fate::Keep
                }
                Expect::LivenessAnswer | Expect::InitResponse => Fate::Keep,
            }
        };
        if matches!(fate, Fate::Keep) && sa.v2.exchanges.outstanding.is_none() {
            if let Some(next) = sa.v2.exchanges.queued.pop_front() {
                self.request(now, sa, next);
            }
        }
        fate
    }

    /// Queue or send a request of `kind` on an SA with keys.
    pub(in crate::ike) fn request(&mut self, now: Instant, sa: &mut IkeSa, kind: RequestKind) {
        if sa.v1.is_some() {
            self.v1_request(now, sa, kind);
            return;
        }
        if sa.v2.exchanges.outstanding.is_some() {
            if !sa.v2.exchanges.queued.contains(&kind) {
                sa.v2.exchanges.queued.push_back(kind);
            }
            return;
        }
        let (exchange, payloads, expect) = match &kind {
            RequestKind::Liveness => (
                ExchangeType::Informational,
                Vec::new(),
                Expect::LivenessAnswer,
            ),
            RequestKind::DeleteIke => (
                ExchangeType::Informational,
                vec![informational::delete_ike()],
                Expect::IkeDeleted,
            ),
            RequestKind::DeleteChild { inbound_spi } => (
                ExchangeType::Informational,
                vec![informational::delete_child(*inbound_spi)],
                Expect::ChildDeleted {
                    inbound_spi: *inbound_spi,
                },
            ),
            RequestKind::RekeyChild { .. }
            | RequestKind::RekeyIke
            | RequestKind::CreateChild { .. } => {
                let built = match kind {
                    RequestKind::CreateChild { replaces } => self.build_new_child(sa, replaces),
                    _ => self.build_create_child(sa, &kind),
                };
                match built {
                    Some((payloads, expect)) => (ExchangeType::CreateChildSa, payloads, expect),
                    None => {
                        // Nothing left to rekey: move on to what is queued.
                        if let Some(next) = sa.v2.exchanges.queued.pop_front() {
                            self.request(now, sa, next);
                        }
                        return;
                    }
                }
            }
        };
        let message_id = sa.v2.exchanges.next_request_id;
        let header = message::header(sa, exchange, false, message_id);
        let Some(datagrams) = self.seal_for(sa, &header, &payloads) else {
            return;
        };
        self.send_request(now, sa, expect, message_id, datagrams);
    }

    /// Send a request once and expect no answer: the SA is removed right after. RFC 7296
    /// 2.21.2: an initiator that refuses the responder's IKE_AUTH answer tells it so in a
    /// separate INFORMATIONAL, the responder having established its end already.
    pub(in crate::ike) fn send_once(
        &mut self,
        sa: &mut IkeSa,
        exchange: ExchangeType,
        payloads: &[Payload],
    ) {
        let message_id = sa.v2.exchanges.next_request_id;
        let header = message::header(sa, exchange, false, message_id);
        if let Some(datagrams) = self.seal_for(sa, &header, payloads) {
            self.transmit_all(sa.local, sa.remote, &datagrams);
            sa.v2.exchanges.next_request_id = message_id.wrapping_add(1);
        }
    }

    /// Queue the datagrams of one message (several when fragmented).
    fn transmit_all(&mut self, local: SocketAddr, remote: SocketAddr, datagrams: &[Vec<u8>]) {
        for payload in datagrams {
            self.emit_transmit(Transmit {
                local,
                remote,
                payload: payload.clone(),
            });
        }
    }

    /// Seal payloads for `sa`, fragmenting when negotiated and needed.
    pub(in crate::ike) fn seal_for(
        &mut self,
        sa: &mut IkeSa,
        header: &crate::wire::ikev2::Header,
        payloads: &[Payload],
    ) -> Option<Vec<Vec<u8>>> {
        let max = sa.v2.fragmentation.then(|| self.max_message(sa));
        let crypto = sa.v2.crypto.as_mut()?;
        trace::log_message(Direction::Sent, sa.remote, header, payloads);
        Some(message::seal(
            &mut crypto.outbound,
            header,
            payloads,
            self.rng.as_mut(),
            max,
        ))
    }

    /// Largest IKE message that keeps the IP datagram within the fragment size: IP and UDP
    /// headers and, on port 4500, the non-ESP marker come on top.
    fn max_message(&self, sa: &IkeSa) -> usize {
        let ip = if sa.remote.is_ipv4() { 20 } else { 40 };
        let marker = if sa.remote.port() == 4500 || sa.local.port() == 4500 {
            4
        } else {
            0
        };
        self.settings.fragment_size.saturating_sub(ip + 8 + marker)
    }

    /// Verify and decrypt a protected message (or one fragment of it); `None` when there is
    /// nothing to process yet or it was dropped (and counted).
    fn open_protected(
        &mut self,
        sa: &mut IkeSa,
        datagram: &[u8],
        msg: &Message,
    ) -> Option<(Vec<Payload>, message::Digest)> {
        let crypto = sa.v2.crypto.as_ref()?;
        match message::open(&crypto.inbound, &mut sa.v2.reassembly, datagram, msg) {
            Ok(message::Opened::Complete { payloads, digest }) => {
                trace::log_message(Direction::Received, sa.remote, &msg.header, &payloads);
                Some((payloads, digest))
            }
            Ok(message::Opened::Partial) => None,
            Err(e) => {
                self.count_drop(&e);
                debug!(sa = sa.id.0, "dropped message: {e}");
                None
            }
        }
    }

    /// Send a built request, remember it for retransmission and advance the message ID.
    pub(in crate::ike) fn send_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        expect: Expect,
        message_id: u32,
        datagrams: Vec<Vec<u8>>,
    ) {
        self.transmit_all(sa.local, sa.remote, &datagrams);
        sa.v2.exchanges.outstanding = Some(Outstanding {
            expect,
            message_id,
            datagrams,
            sends: 1,
            first_sent: now,
        });
        sa.v2.exchanges.next_request_id = message_id.wrapping_add(1);
        let next = now + self.retransmit_delay(1);
        let at = self.answer_deadline(sa, now).map_or(next, |d| next.min(d));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Retransmit, at);
    }

    fn send_response(
        &mut self,
        sa: &mut IkeSa,
        exchange: ExchangeType,
        message_id: u32,
        request: message::Digest,
        payloads: &[Payload],
    ) {
        let header = message::header(sa, exchange, true, message_id);
        let Some(datagrams) = self.seal_for(sa, &header, payloads) else {
            return;
        };
        self.transmit_all(sa.local, sa.remote, &datagrams);
        sa.v2.exchanges.last_response = Some(CachedResponse {
            message_id,
            request,
            datagrams,
        });
        sa.v2.exchanges.expected_request_id = message_id.wrapping_add(1);
    }

    /// Timeout before send number `sends + 1`: base timeout times base^(sends-1); shorter
    /// while stopping (see `shutdown.rs`).
    pub(in crate::ike) fn retransmit_delay(&self, sends: u32) -> Duration {
        if self.stopping {
            return super::super::shutdown::retransmit_delay(sends);
        }
        self.settings.retransmit_delay(sends)
    }

    /// The connection's `dpd_timeout` bounds how long an established SA waits for the answer
    /// to a request first sent at `first_sent`; the handshake keeps the full schedule (its own
    /// establish timeout applies).
    pub(in crate::ike) fn answer_deadline(
        &self,
        sa: &IkeSa,
        first_sent: Instant,
    ) -> Option<Instant> {
        if sa.state != SaState::Established {
            return None;
        }
        let timeout = self.connection(sa.conn).and_then(|c| c.dpd_timeout)?;
        Some(first_sent + timeout)
    }

    pub(in crate::ike) fn on_retransmit_timer(&mut self, now: Instant, sa: &mut IkeSa) -> Fate {
        let tries = self.settings.retransmit_tries;
        let first_sent = match &sa.v2.exchanges.outstanding {
            Some(out) => out.first_sent,
            None => return Fate::Keep,
        };
        let deadline = self.answer_deadline(sa, first_sent);
        let Some(out) = sa.v2.exchanges.outstanding.as_mut() else {
            return Fate::Keep;
        };
        if out.sends >= tries || deadline.is_some_and(|d| now >= d) {
            debug!(
                sa = sa.id.0,
                "no answer after {} sends in {:?}: peer is dead",
                out.sends,
                now.saturating_duration_since(out.first_sent)
            );
            return Fate::Remove(DownReason::PeerDead);
        }
        out.sends += 1;
        let sends = out.sends;
        self.stats.retransmits += 1;
        self.transmit_all(sa.local, sa.remote, &out.datagrams);
        let next = now + self.retransmit_delay(sends);
        let at = deadline.map_or(next, |d| next.min(d));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Retransmit, at);
        Fate::Keep
    }

    /// Liveness (RFC 7296 2.4): when nothing authenticated came from the peer for a DPD
    /// interval, send an empty INFORMATIONAL; retransmission exhaustion declares it dead.
    pub(in crate::ike) fn on_dpd_timer(&mut self, now: Instant, sa: &mut IkeSa) -> Fate {
        let Some(interval) = self.connection(sa.conn).and_then(|c| c.dpd_interval) else {
            return Fate::Keep;
        };
        if sa.state != SaState::Established {
            return Fate::Keep;
        }
        let idle_since = sa.last_received;
        if now.saturating_duration_since(idle_since) >= interval {
            if !sa.requests_pending() {
                debug!(
                    sa = sa.id.0,
                    "nothing from the peer for {interval:?}: checking liveness"
                );
                self.request(now, sa, RequestKind::Liveness);
            }
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::Dpd, now + interval);
        } else {
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::Dpd, idle_since + interval);
        }
        Fate::Keep
    }

    pub(in crate::ike) fn arm_dpd(&mut self, now: Instant, sa: &mut IkeSa) {
        if let Some(interval) = self.connection(sa.conn).and_then(|c| c.dpd_interval) {
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::Dpd, now + interval);
        }
    }

    /// RFC 7296 2.21.4: a request for an IKE SA we do not have (we restarted and forgot it)
    /// may be answered, unprotected, with INVALID_IKE_SPI, to where it came from, with its
    /// SPIs and message ID; a response never is. It tells a peer that still holds the SA to
    /// stop using it, rather than wait for its liveness checks to fail. Spoofed requests could
    /// make us a reflector, so at most [`INVALID_SPI_PER_SECOND`] go out each second; the
    /// rest are only counted.
    pub(in crate::ike) fn answer_invalid_spi(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        request: &ikev2::Header,
    ) {
        let (window, sent) = self.invalid_spi_window.get_or_insert((now, 0));
        if now.saturating_duration_since(*window) >= Duration::from_secs(1) {
            *window = now;
            *sent = 0;
        }
        if *sent >= INVALID_SPI_PER_SECOND {
            return;
        }
        *sent += 1;
        self.stats.invalid_spi_sent += 1;
        let header = ikev2::Header {
            spi_i: request.spi_i,
            spi_r: request.spi_r,
            next_payload: ikev2::PayloadType::None,
            version: 0x20,
            exchange: request.exchange,
            flags: ikev2::Flags {
                initiator: !request.flags.initiator,
                response: true,
            },
            message_id: request.message_id,
            length: 0,
        };
        let notify = informational::notify(ikev2::NotifyType::InvalidIkeSpi, Vec::new());
        let payload = ikev2::emit_message(&header, &[Payload::Notify(notify)]);
        self.emit_transmit(Transmit {
            local,
            remote,
            payload,
        });
    }

    /// Where an authenticated message came from is where the IKE SA now lives: behind a NAT
    /// the mapping may change (RFC 7296 2.23), and a peer may move to port 4500 without one
    /// ("an initiator can use port 4500 for both IKE and ESP, regardless of whether or not
    /// there is a NAT", 2.23; strongSwan does in IKE_AUTH). Our requests must follow, or the
    /// peer sees them from the old port and answers or deletes there. The move to 4500 is
    /// one way: a message that still arrives on 500 does not move the SA back.
    fn follow_peer_address(&mut self, sa: &mut IkeSa, local: SocketAddr, remote: SocketAddr) {
        let floated = local.port() == NAT_T_PORT && sa.local.port() != NAT_T_PORT;
        if sa.nat.any() || floated {
            sa.local = local;
            sa.remote = remote;
        }
    }

    fn count_drop(&mut self, e: &Error) {
        match e {
            Error::Undecryptable => self.stats.dropped_undecryptable += 1,
            _ => self.stats.dropped_malformed += 1,
        }
    }
}
