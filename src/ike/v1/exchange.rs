//! The machinery the IKEv1 exchanges share: finding the SA of a datagram by its cookies,
//! answering a repeated message from the reply cache (phase 1 has no message IDs to tell a
//! retransmission from a new message: RFC 2408 leaves it to the implementation), our one
//! request in flight with its retransmissions, and the requests the engine queues.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::debug;

use crate::wire::ikev1::{self, ExchangeType, Header};

use super::super::context::Context;
use super::super::engine::{Engine, Fate};
use super::super::error::Failure;
use super::super::output::{DownReason, SaId, Transmit};
use super::super::sa::{IkeSa, RequestKind, SaState};
use super::super::timer::{Timer, TimerQueue};
use super::aggressive::AGGRESSIVE_MODE;
use super::main_mode::MAIN_MODE;
use super::quick_mode::QUICK_MODE;
use super::sa::{digest, Expect, Outstanding};

/// The name the exchanges give their failures for an exchange type of theirs.
fn exchange_name(exchange: ExchangeType) -> Option<&'static str> {
    match exchange {
        ExchangeType::IdentityProtection => Some(MAIN_MODE),
        ExchangeType::Aggressive => Some(AGGRESSIVE_MODE),
        ExchangeType::QuickMode => Some(QUICK_MODE),
        _ => None,
    }
}

impl Engine {
    /// An IKEv1 datagram: the first message of a new phase 1, a retransmission of one, or a
    /// message of an ISAKMP SA we have, found by our cookie.
    pub(in crate::ike) fn handle_v1_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) {
        let first_new_event = self.cx.events.len();
        let Some(header) = self.dispatch_v1_datagram(now, local, remote, datagram) else {
            return;
        };
        // As for IKEv2: the failures this message caused in its own exchange learn its
        // message ID and peer here, once for all exchanges. A peer's refusal comes in an
        // informational exchange of its own and keeps none.
        let Some(exchange) = exchange_name(header.exchange) else {
            return;
        };
        for event in self.cx.events.iter_mut().skip(first_new_event) {
            if let Some(failure) = event.failure_mut() {
                failure.in_message(exchange, header.message_id, remote);
            }
        }
    }

    /// [`Engine::handle_v1_datagram`] without tying failures to their message: returns the
    /// header of a message that parsed.
    fn dispatch_v1_datagram(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
    ) -> Option<Header> {
        let cx = &mut self.cx;
        let header = match Header::parse(datagram) {
            Ok(h) if usize::try_from(h.length).ok() == Some(datagram.len()) => h,
            Ok(_) | Err(_) => {
                cx.stats.dropped_malformed += 1;
                debug!(%remote, "dropped malformed IKEv1 datagram");
                return None;
            }
        };
        if header.responder_cookie == 0 {
            self.v1_first_message(now, local, remote, datagram, &header);
            return Some(header);
        }
        let Some(id) = self.v1_sa_of(&header) else {
            self.cx.stats.dropped_unknown_sa += 1;
            debug!(%remote, "dropped IKEv1 message for an unknown ISAKMP SA");
            return Some(header);
        };
        let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return Some(header);
        };
        let cx = &mut self.cx;
        let received = digest(datagram);
        if let Some(reply) = sa.v1.as_ref().and_then(|v| v.cached_reply(&received)) {
            cx.stats.responses_resent += 1;
            let reply = reply.to_vec();
            cx.emit_transmit(Transmit {
                local: sa.local,
                remote: sa.remote,
                payload: reply,
            });
            return Some(header);
        }
        let fate = cx.on_v1_message(now, sa, (local, remote), datagram, &header);
        self.settle(now, id, fate);
        Some(header)
    }

    /// A message without a responder cookie: a new Main or Aggressive Mode, or a
    /// retransmission of one we answered.
    fn v1_first_message(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        datagram: &[u8],
        header: &Header,
    ) {
        let cx = &mut self.cx;
        let new_phase1 = matches!(
            header.exchange,
            ExchangeType::IdentityProtection | ExchangeType::Aggressive
        ) && header.message_id == 0;
        if !new_phase1 {
            // An unencrypted error notify about our first message carries no responder
            // cookie either.
            if header.exchange == ExchangeType::Informational {
                self.v1_refusal_of_first_message(now, remote, datagram, header);
                return;
            }
            cx.stats.dropped_unexpected += 1;
            return;
        }
        if let Some(id) = cx
            .half_open
            .get(&(header.initiator_cookie, remote))
            .copied()
        {
            let Some(sa) = self.sas.get(id.0 as usize).and_then(Option::as_ref) else {
                return;
            };
            match sa
                .v1
                .as_ref()
                .and_then(|v| v.cached_reply(&digest(datagram)))
            {
                Some(reply) => {
                    let transmit = Transmit {
                        local: sa.local,
                        remote: sa.remote,
                        payload: reply.to_vec(),
                    };
                    self.cx.stats.responses_resent += 1;
                    self.cx.emit_transmit(transmit);
                }
                None => self.cx.stats.dropped_unexpected += 1,
            }
            return;
        }
        if cx.stopping {
            cx.stats.dropped_unexpected += 1;
            return;
        }
        let message = match ikev1::parse_message(datagram) {
            Ok(m) if m.header.flags & Header::FLAG_ENCRYPTION == 0 => m,
            Ok(_) | Err(_) => {
                cx.stats.dropped_malformed += 1;
                debug!(%remote, "dropped malformed IKEv1 first message");
                return;
            }
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            let payloads: Vec<ikev1::Payload> = message.chain.payloads().cloned().collect();
            super::trace::log_message(crate::ike::Direction::Received, remote, header, &payloads);
        }
        match header.exchange {
            ExchangeType::Aggressive => {
                cx.respond_aggressive_mode(now, local, remote, datagram, &message)
            }
            _ => cx.respond_main_mode(now, local, remote, datagram, &message),
        }
    }

    /// The peer refused our first phase 1 message with an unencrypted notify (RFC 2408
    /// 5.5: NO-PROPOSAL-CHOSEN and the like). Unauthenticated: it can only end a handshake
    /// that our retransmissions would otherwise keep trying.
    fn v1_refusal_of_first_message(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        datagram: &[u8],
        header: &Header,
    ) {
        let Some(&id) = self.cx.by_spi.get(&header.initiator_cookie) else {
            self.cx.stats.dropped_unknown_sa += 1;
            return;
        };
        let waiting = self.sa(id).is_some_and(|sa| {
            sa.v1.is_some() && sa.initiator && sa.spi_r == 0 && sa.remote.ip() == remote.ip()
        });
        if !waiting {
            self.cx.stats.dropped_unexpected += 1;
            return;
        }
        let Some(payloads) = self.cx.plain_payloads(datagram, remote) else {
            return;
        };
        let Some(notify) = payloads.iter().find_map(|p| match p {
            ikev1::Payload::Notification(n) => Some(n.notify),
            _ => None,
        }) else {
            self.cx.stats.dropped_unexpected += 1;
            return;
        };
        let (mode, offered) = self
            .sa(id)
            .map(|sa| {
                let mode = super::mode_name(sa);
                let offered = self.cx.connection(sa.conn).map_or_else(String::new, |c| {
                    format!(
                        "we offered {}",
                        super::proposal::ours_text_phase1(&c.ike_proposals)
                    )
                });
                (mode, offered)
            })
            .unwrap_or((super::main_mode::MAIN_MODE, String::new()));
        let mut failure = Failure::refused_by_peer(mode, notify, offered);
        failure.in_message(mode, header.message_id, remote);
        tracing::warn!(sa = id.0, peer = %remote, "{failure}");
        self.settle(
            now,
            id,
            Fate::Remove(DownReason::NegotiationFailed(failure)),
        );
    }

    /// The ISAKMP SA a message with both cookies belongs to: ours is the initiator's cookie
    /// when we initiated, the responder's otherwise.
    pub(in crate::ike) fn v1_sa_of(&self, header: &Header) -> Option<SaId> {
        let mine = |id: &SaId, initiator: bool| {
            self.sa(*id).is_some_and(|sa| {
                sa.v1.is_some()
                    && sa.initiator == initiator
                    && (if initiator {
                        sa.spi_i == header.initiator_cookie
                            && (sa.spi_r == 0 || sa.spi_r == header.responder_cookie)
                    } else {
                        sa.spi_r == header.responder_cookie && sa.spi_i == header.initiator_cookie
                    })
            })
        };
        let as_initiator = self.cx.by_spi.get(&header.initiator_cookie);
        if let Some(id) = as_initiator.filter(|id| mine(id, true)) {
            return Some(*id);
        }
        self.cx
            .by_spi
            .get(&header.responder_cookie)
            .filter(|id| mine(id, false))
            .copied()
    }
}

impl Context {
    /// A message of an ISAKMP SA we hold, by exchange.
    pub(in crate::ike) fn on_v1_message(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        addresses: (SocketAddr, SocketAddr),
        datagram: &[u8],
        header: &Header,
    ) -> Fate {
        let in_phase1 = sa.v1.as_ref().is_some_and(|v| v.handshake.is_some());
        match header.exchange {
            ExchangeType::IdentityProtection if in_phase1 => {
                self.on_main_mode(now, sa, addresses, datagram)
            }
            ExchangeType::Aggressive if in_phase1 => {
                self.on_aggressive_mode(now, sa, addresses, datagram)
            }
            ExchangeType::QuickMode if sa.state == SaState::Established => {
                self.on_quick_mode(now, sa, addresses, datagram, header)
            }
            ExchangeType::Informational if sa.v1.as_ref().is_some_and(|v| v.crypto.is_some()) => {
                self.on_v1_informational(now, sa, addresses, datagram)
            }
            _ => {
                self.stats.dropped_unexpected += 1;
                Fate::Keep
            }
        }
    }

    /// Send a message that asks for an answer, and retransmit it until one comes.
    pub(in crate::ike) fn send_v1_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        expect: Expect,
        message_id: u32,
        datagram: Vec<u8>,
    ) {
        self.emit_transmit(Transmit {
            local: sa.local,
            remote: sa.remote,
            payload: datagram.clone(),
        });
        let Some(v1) = sa.v1.as_mut() else {
            return;
        };
        v1.outstanding = Some(Outstanding {
            expect,
            message_id,
            datagram,
            sends: 1,
            first_sent: now,
        });
        let next = now + self.retransmit_delay(1);
        let at = self.answer_deadline(sa, now).map_or(next, |d| next.min(d));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Retransmit, at);
    }

    /// A phase 1 message that answers the peer's and asks for the next: cached for the
    /// peer's retransmissions, and retransmitted until the next one comes.
    pub(in crate::ike) fn answer_with_request(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        received: &[u8],
        bytes: Vec<u8>,
    ) {
        if let Some(v1) = sa.v1.as_mut() {
            v1.cache_reply(digest(received), bytes.clone());
        }
        self.send_v1_request(now, sa, Expect::Phase1, 0, bytes);
    }

    /// A reply that asks for nothing more (or whose answer the peer retransmits for): sent,
    /// and cached for the peer's retransmissions.
    pub(in crate::ike) fn v1_reply(&mut self, sa: &mut IkeSa, received: &[u8], bytes: Vec<u8>) {
        self.emit_transmit(Transmit {
            local: sa.local,
            remote: sa.remote,
            payload: bytes.clone(),
        });
        if let Some(v1) = sa.v1.as_mut() {
            v1.cache_reply(digest(received), bytes);
        }
    }

    /// Our outstanding request had no answer in time: send it again or give up.
    pub(in crate::ike) fn on_v1_retransmit_timer(&mut self, now: Instant, sa: &mut IkeSa) -> Fate {
        let tries = self.settings.retransmit_tries;
        let Some(first_sent) = sa
            .v1
            .as_ref()
            .and_then(|v| v.outstanding.as_ref())
            .map(|o| o.first_sent)
        else {
            return Fate::Keep;
        };
        let deadline = self.answer_deadline(sa, first_sent);
        let Some(out) = sa.v1.as_mut().and_then(|v| v.outstanding.as_mut()) else {
            return Fate::Keep;
        };
        if out.sends >= tries || deadline.is_some_and(|d| now >= d) {
            debug!(
                sa = sa.id.0,
                "no answer after {} sends in {:?}: peer is dead",
                out.sends,
                now.saturating_duration_since(out.first_sent)
            );
            let sends = out.sends;
            return Fate::Remove(self.unanswered_v1(sa, sends));
        }
        out.sends += 1;
        let sends = out.sends;
        let datagram = out.datagram.clone();
        self.stats.retransmits += 1;
        self.emit_transmit(Transmit {
            local: sa.local,
            remote: sa.remote,
            payload: datagram,
        });
        let next = now + self.retransmit_delay(sends);
        let at = deadline.map_or(next, |d| next.min(d));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::Retransmit, at);
        Fate::Keep
    }

    /// Why an SA whose request went unanswered ends. A Main Mode initiator whose identity
    /// message (the fifth) goes unanswered has most likely a pre-shared key the peer does not
    /// share: the peer cannot decrypt it, and an IKEv1 peer cannot say so in a way we could
    /// read (its notify would be encrypted with keys made from its own key). Saying that,
    /// with our identities, beats "the peer stopped answering".
    fn unanswered_v1(&self, sa: &IkeSa, sends: u32) -> DownReason {
        let identity_sent = sa.state != SaState::Established
            && sa.initiator
            && sa.v1.as_ref().is_some_and(|v| {
                !v.aggressive && v.handshake.as_ref().is_some_and(|h| h.skeyid.is_some())
            });
        if !identity_sent {
            return DownReason::PeerDead;
        }
        let mut failure = Failure::gave_up(
            MAIN_MODE,
            format!(
                "our identity message went unanswered ({sends} sends): the peer cannot decrypt \
                 it if its pre-shared key differs; {}",
                super::ids::our_side(self.connection(sa.conn))
            ),
        );
        failure.in_message(MAIN_MODE, 0, sa.remote);
        DownReason::NegotiationFailed(failure)
    }

    /// Queue or start a request the engine asks of an established ISAKMP SA.
    pub(in crate::ike) fn v1_request(&mut self, now: Instant, sa: &mut IkeSa, kind: RequestKind) {
        let Some(v1) = sa.v1.as_mut() else {
            return;
        };
        match kind {
            // Deletes are not acknowledged in IKEv1 (RFC 2408 3.15): sent at once.
            RequestKind::DeleteIke => {
                self.delete_isakmp_sa(sa);
                return;
            }
            RequestKind::DeleteChild { inbound_spi } => {
                self.send_v1_delete_child(sa, inbound_spi);
                return;
            }
            _ => {}
        }
        // One request at a time, and none before phase 1 is done (IPsec SAs the peer's
        // re-authentication handed to a phase 1 still under way wait for it).
        if v1.outstanding.is_some() || sa.state != SaState::Established {
            if !v1.queued.contains(&kind) {
                v1.queued.push_back(kind);
            }
            return;
        }
        match kind {
            RequestKind::Liveness => self.send_r_u_there(now, sa),
            RequestKind::RekeyChild { old_inbound_spi } => {
                self.start_quick_mode_replacing(now, sa, old_inbound_spi)
            }
            RequestKind::CreateChild {
                replaces: Some(old),
            } => self.start_quick_mode_replacing(now, sa, old),
            RequestKind::CreateChild { replaces: None } => self.start_quick_modes(now, sa),
            RequestKind::RekeyIke => self.reauthenticate(now, sa),
            RequestKind::DeleteIke | RequestKind::DeleteChild { .. } => {}
        }
        self.next_v1_request(now, sa);
    }

    /// When nothing is in flight, the next queued request goes.
    pub(in crate::ike) fn next_v1_request(&mut self, now: Instant, sa: &mut IkeSa) {
        let Some(v1) = sa.v1.as_mut() else {
            return;
        };
        if v1.outstanding.is_some() {
            return;
        }
        if let Some(next) = v1.queued.pop_front() {
            self.v1_request(now, sa, next);
        }
    }

    /// The answer to our request arrived: nothing to resend any more.
    pub(in crate::ike) fn v1_answered(&mut self, sa: &mut IkeSa) -> Option<Outstanding> {
        let out = sa.v1.as_mut()?.outstanding.take();
        TimerQueue::cancel(&mut sa.timers, Timer::Retransmit);
        out
    }
}
