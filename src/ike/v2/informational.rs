//! INFORMATIONAL (RFC 7296 1.4): Delete of IKE and CHILD SAs, and liveness checks.

use crate::wire::ikev2::{Delete, ExchangeType, Notify, NotifyType, Payload, ProtocolId};

use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::{Error, Failure};
use super::super::output::DownReason;
use super::super::sa::IkeSa;

/// A notify about the IKE SA itself (no protocol, no SPI).
pub(crate) fn notify(notify_type: NotifyType, data: Vec<u8>) -> Notify {
    Notify {
        protocol: ProtocolId::None,
        spi: Vec::new(),
        notify_type,
        data,
    }
}

pub(in crate::ike) fn delete_ike() -> Payload {
    Payload::Delete(Delete {
        protocol: ProtocolId::Ike,
        spi_size: 0,
        spis: Vec::new(),
    })
}

/// RFC 7296 3.11: an ESP delete names the SPI the sender expects on inbound packets.
pub(in crate::ike) fn delete_child(inbound_spi: u32) -> Payload {
    Payload::Delete(Delete {
        protocol: ProtocolId::Esp,
        spi_size: 4,
        spis: vec![inbound_spi.to_be_bytes().to_vec()],
    })
}

impl Context {
    pub(in crate::ike) fn respond_informational(
        &mut self,
        now: std::time::Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
    ) -> (Vec<Payload>, Fate) {
        // RFC 7296 2.21.2: the initiator refused our IKE_AUTH answer after we had established
        // our end. Answer, then drop the IKE SA and its CHILD_SAs as for a Delete.
        if payloads.iter().any(|p| {
            matches!(p, Payload::Notify(n) if n.notify_type == NotifyType::AuthenticationFailed)
        }) {
            let failure = Failure::refused_by_peer(
                ExchangeType::Informational,
                NotifyType::AuthenticationFailed,
                "the peer refused our authentication after IKE_AUTH; check the certificates and identities",
            );
            return (Vec::new(), Fate::Remove(DownReason::AuthFailed(failure)));
        }
        let mut deleted_ours = Vec::new();
        for payload in payloads {
            let Payload::Delete(d) = payload else {
                continue;
            };
            match d.protocol {
                // RFC 7296 1.4.1: answer with an empty INFORMATIONAL, then drop the IKE SA and
                // all its CHILD_SAs.
                ProtocolId::Ike => return (Vec::new(), Fate::Remove(DownReason::DeletedByPeer)),
                ProtocolId::Esp => {
                    for spi in &d.spis {
                        let Ok(spi) = <[u8; 4]>::try_from(spi.as_slice()).map(u32::from_be_bytes)
                        else {
                            continue;
                        };
                        // The peer names its inbound SPI, which is our outbound one.
                        if let Some(index) = sa.children.iter().position(|c| c.outbound_spi == spi)
                        {
                            let child = sa.children.remove(index);
                            deleted_ours.push(child.inbound_spi.to_be_bytes().to_vec());
                            let reason = if child.state == super::super::sa::ChildState::Rekeyed {
                                DownReason::Rekeyed
                            } else {
                                DownReason::DeletedByPeer
                            };
                            self.retire_child(sa, &child, reason);
                        }
                    }
                }
                _ => {}
            }
        }
        if deleted_ours.is_empty() {
            return (Vec::new(), Fate::Keep);
        }
        // The peer took the last CHILD_SA away without a successor: a connection that
        // restarts asks for a new one (after this answer, as requests wait for it anyway).
        self.restore_child(now, sa, true);
        // RFC 7296 1.4.1: the response deletes the SAs of the other direction.
        (
            vec![Payload::Delete(Delete {
                protocol: ProtocolId::Esp,
                spi_size: 4,
                spis: deleted_ours,
            })],
            Fate::Keep,
        )
    }

    pub(in crate::ike) fn on_delete_child_response(
        &mut self,
        sa: &mut IkeSa,
        inbound_spi: u32,
    ) -> Fate {
        let reason = match sa.children.iter().find(|c| c.inbound_spi == inbound_spi) {
            Some(c) if c.state == super::super::sa::ChildState::Rekeyed => DownReason::Rekeyed,
            _ => DownReason::Deleted,
        };
        self.drop_child(sa, inbound_spi, reason);
        Fate::Keep
    }
}

/// The error notify that answers a request the engine refused with `error`, if one applies
/// (RFC 7296 3.10.1).
pub(in crate::ike) fn error_notify(error: &Error) -> Option<NotifyType> {
    match error {
        Error::Malformed(_) => Some(NotifyType::InvalidSyntax),
        Error::NoProposalChosen => Some(NotifyType::NoProposalChosen),
        Error::TsUnacceptable => Some(NotifyType::TsUnacceptable),
        _ => None,
    }
}
