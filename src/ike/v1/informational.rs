//! Informational exchanges of an ISAKMP SA (RFC 2409 5.7): one message each, protected by
//! HASH(1) = prf(SKEYID_a, M-ID | N/D) and encrypted under an IV of its own. They carry
//! deletes (RFC 2408 3.15), INITIAL-CONTACT (RFC 2407 4.6.3.3), error notifies and dead peer
//! detection (RFC 3706: R-U-THERE, answered by R-U-THERE-ACK with the same sequence number).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::crypto::ikev1 as keys;
use crate::wire::ikev1::{self, ExchangeType, NotifyType, Payload};

use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::Failure;
use super::super::output::{DownReason, Event};
use super::super::sa::{ChildState, IkeSa, SaState};
use super::super::timer::Timer;
use super::main_mode::cookie_spi;
use super::message;
use super::quick_mode::QUICK_MODE;
use super::sa::Expect;

/// How long after our Quick Mode replaced an IPsec SA pair the old pair stays, in our
/// kernel and the peer's. The peer installs the new pair only when HASH(3) arrives and
/// sends on the old one until then: removing our old inbound SA at once drops what it sent
/// meanwhile. And strongSwan handles the messages of one ISAKMP SA on several threads: a
/// Delete sent right behind HASH(3) can be handled first, the old CHILD_SA then taking the
/// policies with it before the new one is installed.
pub(in crate::ike) const DELETE_REKEYED_AFTER: Duration = Duration::from_secs(1);

impl Context {
    /// Send one informational message with these payloads after its HASH(1).
    fn send_v1_informational(&mut self, sa: &mut IkeSa, rest: &[Payload]) {
        let message_id = self.new_v1_message_id();
        let header = message::header(sa, ExchangeType::Informational, message_id);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let payloads = message::hashed(rest, |bytes| {
            keys::informational_hash(hash, &skeyid_a, message_id, bytes)
        });
        let bytes = message::seal(crypto, &header, &payloads, sa.remote);
        crypto.forget_iv(message_id);
        self.emit_transmit(super::super::output::Transmit {
            local: sa.local,
            remote: sa.remote,
            payload: bytes,
        });
    }

    /// A notify in an informational message.
    pub(in crate::ike) fn send_v1_notify(
        &mut self,
        sa: &mut IkeSa,
        protocol: u8,
        notify: NotifyType,
        spi: Vec<u8>,
        data: Vec<u8>,
    ) {
        let payload = Payload::Notification(ikev1::Notification {
            doi: ikev1::DOI_IPSEC,
            protocol,
            notify,
            spi,
            data,
        });
        self.send_v1_informational(sa, &[payload]);
    }

    /// Tell the peer an IPsec SA pair is gone: the Delete names our inbound SPI, the one
    /// the peer sends to (RFC 2408 3.15).
    pub(in crate::ike) fn send_v1_delete_child(&mut self, sa: &mut IkeSa, inbound_spi: u32) {
        let delete = Payload::Delete(ikev1::Delete {
            doi: ikev1::DOI_IPSEC,
            protocol: ikev1::PROTO_IPSEC_ESP,
            spi_size: 4,
            spis: vec![inbound_spi.to_be_bytes().to_vec()],
        });
        self.send_v1_informational(sa, &[delete]);
    }

    /// Remove an IPsec SA pair our Quick Mode replaced and send its Delete
    /// [`DELETE_REKEYED_AFTER`] from now.
    pub(in crate::ike) fn defer_v1_delete_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        inbound_spi: u32,
    ) {
        let Some(v1) = sa.v1.as_mut() else { return };
        v1.deferred_deletes
            .push((now + DELETE_REKEYED_AFTER, inbound_spi));
        if let Some(at) = v1.deferred_deletes.iter().map(|(at, _)| *at).min() {
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::SendDeletes, at);
        }
    }

    /// Send the deferred Deletes that are due.
    pub(in crate::ike) fn send_deferred_deletes(&mut self, now: Instant, sa: &mut IkeSa) {
        let Some(v1) = sa.v1.as_mut() else { return };
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut v1.deferred_deletes)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        v1.deferred_deletes = later;
        if let Some(at) = v1.deferred_deletes.iter().map(|(at, _)| *at).min() {
            self.timers
                .arm(&mut sa.timers, sa.id, Timer::SendDeletes, at);
        }
        for (_, spi) in due {
            // Gone already if the peer deleted it meanwhile.
            if self.drop_child(sa, spi, DownReason::Rekeyed) && sa.state == SaState::Established {
                self.send_v1_delete_child(sa, spi);
            }
        }
    }

    /// Delete the ISAKMP SA with the peer: its IPsec SAs first, then itself. Deletes are not
    /// acknowledged (RFC 2408 3.15), so the SA goes at once (see `Context::v1_gone`).
    pub(in crate::ike) fn delete_isakmp_sa(&mut self, sa: &mut IkeSa) {
        if sa.v1.as_ref().is_some_and(|v| v.crypto.is_some()) {
            if let Some(v1) = sa.v1.as_mut() {
                v1.deferred_deletes.clear();
            }
            let spis: Vec<u32> = sa.children.iter().map(|c| c.inbound_spi).collect();
            for spi in spis {
                self.send_v1_delete_child(sa, spi);
            }
            let delete = Payload::Delete(ikev1::Delete {
                doi: ikev1::DOI_IPSEC,
                protocol: ikev1::PROTO_ISAKMP,
                spi_size: 16,
                spis: vec![cookie_spi(sa)],
            });
            self.send_v1_informational(sa, &[delete]);
        }
        sa.state = SaState::Deleting;
        self.v1_gone.push((sa.id, DownReason::Deleted));
    }

    /// RFC 3706: ask whether the peer is alive, when it announced DPD; its answer is our
    /// outstanding request, retransmitted until the DPD timeout.
    pub(in crate::ike) fn send_r_u_there(&mut self, now: Instant, sa: &mut IkeSa) {
        let Some(v1) = sa.v1.as_mut() else { return };
        if !v1.peer_dpd {
            return;
        }
        v1.dpd_sequence = v1.dpd_sequence.wrapping_add(1).max(1);
        let sequence = v1.dpd_sequence;
        let message_id = self.new_v1_message_id();
        let notify = Payload::Notification(ikev1::Notification {
            doi: ikev1::DOI_IPSEC,
            protocol: ikev1::PROTO_ISAKMP,
            notify: NotifyType::RUThere,
            spi: cookie_spi(sa),
            data: sequence.to_be_bytes().to_vec(),
        });
        let header = message::header(sa, ExchangeType::Informational, message_id);
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return;
        };
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let payloads = message::hashed(&[notify], |bytes| {
            keys::informational_hash(hash, &skeyid_a, message_id, bytes)
        });
        let bytes = message::seal(crypto, &header, &payloads, sa.remote);
        crypto.forget_iv(message_id);
        self.send_v1_request(now, sa, Expect::DpdAck { sequence }, message_id, bytes);
    }

    /// An informational message from the peer.
    pub(in crate::ike) fn on_v1_informational(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        _addresses: (SocketAddr, SocketAddr),
        datagram: &[u8],
    ) -> Fate {
        let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) else {
            return Fate::Keep;
        };
        let opened = match message::open(crypto, datagram, sa.remote) {
            Ok(o) => o,
            Err(e) => {
                self.count_v1_drop(sa, &e);
                return Fate::Keep;
            }
        };
        let message_id = opened.header.message_id;
        let (hash, skeyid_a) = (crypto.hash, crypto.skeyid_a.clone());
        let verified = opened.leading_hash().is_some_and(|(h, rest)| {
            let expected = keys::informational_hash(hash, &skeyid_a, message_id, rest);
            bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_slice(), h))
        });
        if !verified {
            self.stats.dropped_undecryptable += 1;
            debug!(
                sa = sa.id.0,
                "informational message without a valid HASH(1): dropped"
            );
            return Fate::Keep;
        }
        crypto.forget_iv(message_id);
        sa.last_received = now;
        let payloads = opened.payload_list();
        let mut fate = Fate::Keep;
        for payload in &payloads {
            match payload {
                Payload::Notification(n) => {
                    if let Fate::Remove(reason) = self.on_v1_notify(now, sa, n) {
                        fate = Fate::Remove(reason);
                    }
                }
                Payload::Delete(d) => {
                    if let Fate::Remove(reason) = self.on_v1_delete(now, sa, d) {
                        fate = Fate::Remove(reason);
                    }
                }
                _ => {}
            }
        }
        fate
    }

    fn on_v1_notify(&mut self, now: Instant, sa: &mut IkeSa, n: &ikev1::Notification) -> Fate {
        if let Some(refused) = self.peer_refused_phase1(sa, n.notify) {
            return refused;
        }
        match n.notify {
            NotifyType::RUThere => {
                self.send_v1_notify(
                    sa,
                    ikev1::PROTO_ISAKMP,
                    NotifyType::RUThereAck,
                    cookie_spi(sa),
                    n.data.clone(),
                );
            }
            NotifyType::RUThereAck => {
                let acked = <[u8; 4]>::try_from(n.data.as_slice())
                    .ok()
                    .map(u32::from_be_bytes);
                let waiting = sa.v1.as_ref().and_then(|v| v.outstanding.as_ref()).is_some_and(
                    |o| matches!(o.expect, Expect::DpdAck { sequence } if Some(sequence) == acked),
                );
                if waiting {
                    self.v1_answered(sa);
                    self.next_v1_request(now, sa);
                }
            }
            NotifyType::InitialContact => {
                self.initial_contacts.push(sa.id);
            }
            other if u16::from(other) < 16384 => self.peer_refused_quick_mode(now, sa, other),
            other => debug!(sa = sa.id.0, "informational notify {other} ignored"),
        }
        Fate::Keep
    }

    /// The peer refused our identity (`tell_phase1_refusal` in `main_mode.rs`): while phase
    /// 1 runs, or once it is done on our end before any IPsec SA exists (our identity
    /// message was the last, and the peer found it wrong), an authenticated
    /// AUTHENTICATION_FAILED or INVALID_ID_INFORMATION ends the ISAKMP SA with the peer's
    /// reason, instead of a wait for a Quick Mode that will not come.
    fn peer_refused_phase1(&mut self, sa: &mut IkeSa, notify: NotifyType) -> Option<Fate> {
        let identity_refusal = matches!(
            notify,
            NotifyType::AuthenticationFailed | NotifyType::InvalidIdInformation
        );
        let quick_in_flight = sa
            .v1
            .as_ref()
            .and_then(|v| v.outstanding.as_ref())
            .is_some_and(|o| matches!(o.expect, Expect::Quick(_)));
        if !identity_refusal || quick_in_flight || !sa.children.is_empty() {
            return None;
        }
        let mode = super::mode_name(sa);
        let mut failure = Failure::refused_by_peer(
            mode,
            notify,
            format!(
                "{}; check the pre-shared key and identities",
                super::ids::our_side(self.connection(sa.conn))
            ),
        );
        failure.in_message(mode, 0, sa.remote);
        warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
        Some(Fate::Remove(DownReason::AuthFailed(failure)))
    }

    /// An error notify from the peer: when our Quick Mode is in flight, it is the peer's
    /// refusal of it.
    fn peer_refused_quick_mode(&mut self, now: Instant, sa: &mut IkeSa, notify: NotifyType) {
        let quick = sa
            .v1
            .as_ref()
            .and_then(|v| v.outstanding.as_ref())
            .is_some_and(|o| matches!(o.expect, Expect::Quick(_)));
        if !quick {
            info!(sa = sa.id.0, peer = %sa.remote, "the peer sent {notify}");
            return;
        }
        let Some(out) = self.v1_answered(sa) else {
            return;
        };
        let Expect::Quick(sent) = out.expect else {
            return;
        };
        if let Some(crypto) = sa.v1.as_mut().and_then(|v| v.crypto.as_mut()) {
            crypto.forget_iv(out.message_id);
        }
        self.inbound_spis.remove(&sent.inbound_spi);
        if let Some(old) = sent.replaces {
            if let Some(c) = sa.children.iter_mut().find(|c| c.inbound_spi == old) {
                c.state = super::super::sa::ChildState::Installed;
                c.rekey_failures = c.rekey_failures.saturating_add(1);
            }
        }
        // What we asked for, for comparing with the peer's configuration.
        let offered = match self.connection(sa.conn) {
            Some(c) if notify == NotifyType::NoProposalChosen => {
                format!(
                    "; we offered {}",
                    super::proposal::ours_text_phase2(&c.esp_proposals)
                )
            }
            _ => String::new(),
        };
        let mut failure = Failure::refused_by_peer(
            QUICK_MODE,
            notify,
            format!(
                "for {} (ours) <=> {} (theirs){offered}",
                sent.local_ts, sent.remote_ts
            ),
        );
        failure.in_message(QUICK_MODE, out.message_id, sa.remote);
        warn!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "{failure}");
        self.emit_event(Event::ChildFailed {
            conn: sa.conn,
            sa: sa.id,
            reason: DownReason::NegotiationFailed(failure),
        });
        self.next_v1_request(now, sa);
    }

    /// The peer deleted IPsec SAs (named by the SPI it receives on: our outbound SPI; some
    /// implementations name their outbound one, so both are looked at) or the ISAKMP SA.
    fn on_v1_delete(&mut self, now: Instant, sa: &mut IkeSa, delete: &ikev1::Delete) -> Fate {
        match delete.protocol {
            ikev1::PROTO_ISAKMP => {
                let ours = delete.spis.iter().any(|s| *s == cookie_spi(sa));
                if !ours {
                    return Fate::Keep;
                }
                info!(conn = self.conn_name(sa.conn), sa = sa.id.0, peer = %sa.remote, "the peer deleted the ISAKMP SA");
                // Its IPsec SAs live on (RFC 2409 has them independent of the ISAKMP SA):
                // a newer ISAKMP SA with the peer takes them over (see `Engine::v1_gone`).
                sa.state = SaState::Deleting;
                self.v1_gone.push((sa.id, DownReason::DeletedByPeer));
                Fate::Keep
            }
            ikev1::PROTO_IPSEC_ESP | ikev1::PROTO_IPSEC_AH => {
                for spi in &delete.spis {
                    let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes)
                    else {
                        continue;
                    };
                    let found = sa
                        .children
                        .iter()
                        .find(|c| c.outbound_spi == spi)
                        .or_else(|| sa.children.iter().find(|c| c.inbound_spi == spi))
                        .map(|c| c.inbound_spi);
                    match found {
                        Some(inbound) => {
                            info!(
                                conn = self.conn_name(sa.conn),
                                sa = sa.id.0,
                                spi = format_args!("{inbound:08x}"),
                                "the peer deleted an IPsec SA pair"
                            );
                            self.retire_v1_child(now, sa, inbound);
                        }
                        // IPsec SAs are independent of the ISAKMP SA that made them (RFC
                        // 2409 5.5): a peer that re-authenticated deletes pairs of its old
                        // ISAKMP SA over its new one. The engine looks in the others.
                        None => self.v1_foreign_deletes.push((sa.id, spi)),
                    }
                }
                Fate::Keep
            }
            _ => Fate::Keep,
        }
    }

    /// A pair the peer deleted: gone from the kernel; if it was not replaced, the recovery
    /// ladder makes it anew (see `recovery.rs`).
    pub(in crate::ike) fn retire_v1_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        inbound_spi: u32,
    ) {
        let Some(deleted) = sa.children.iter().find(|c| c.inbound_spi == inbound_spi) else {
            return;
        };
        // A pair already replaced (possibly by one on a newer ISAKMP SA) needs no successor.
        let replaced = deleted.state == ChildState::Rekeyed
            || sa
                .children
                .iter()
                .any(|c| c.inbound_spi != inbound_spi && c.reqid == deleted.reqid);
        let reason = if replaced {
            DownReason::Rekeyed
        } else {
            DownReason::DeletedByPeer
        };
        self.drop_child(sa, inbound_spi, reason);
        self.arm_child_rekey(sa);
        if !replaced {
            self.restore_child(now, sa, true);
        }
    }
}
