//! The debug line of each IKEv1 message sent or received, as IKEv2 has (`v2/trace.rs`): its
//! exchange, message ID and payloads, the transforms an SA payload offers or chose, and the
//! names of notifies, so that an operator can follow a negotiation on both ends without a
//! capture. Keys, nonces, hashes and identities are never shown: a payload is named by its
//! type, with the algorithms and notify names that are public on the wire anyway.

use std::net::SocketAddr;

use tracing::debug;

use crate::wire::ikev1::{ExchangeType, Header, Payload};

use super::super::owner::Direction;
use super::proposal::describe;

/// Log, at debug, the message `header` and `payloads` (the decrypted ones of an encrypted
/// message) exchanged with `peer`.
pub fn log_message(direction: Direction, peer: SocketAddr, header: &Header, payloads: &[Payload]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        debug!("{}", message_line(direction, peer, header, payloads));
    }
}

/// `sent Main Mode (message ID 0) to 192.0.2.2:500: SA (aes128-sha256-ecp256), VID, VID`.
pub fn message_line(
    direction: Direction,
    peer: SocketAddr,
    header: &Header,
    payloads: &[Payload],
) -> String {
    let (verb, preposition) = match direction {
        Direction::Sent => ("sent", "to"),
        Direction::Received => ("received", "from"),
    };
    let names: Vec<String> = payloads.iter().map(payload_name).collect();
    let list = if names.is_empty() {
        "no payloads".to_string()
    } else {
        names.join(", ")
    };
    format!(
        "{verb} {} (message ID {}) {preposition} {peer}: {list}",
        exchange_name(header.exchange),
        header.message_id
    )
}

/// The exchange by its RFC 2409 name; others by the number's RFC 2408 name.
fn exchange_name(exchange: ExchangeType) -> String {
    match exchange {
        ExchangeType::IdentityProtection => "Main Mode".into(),
        ExchangeType::Aggressive => "Aggressive Mode".into(),
        ExchangeType::QuickMode => "Quick Mode".into(),
        ExchangeType::Informational => "Informational".into(),
        other => other.to_string(),
    }
}

/// A payload by its RFC 2408 abbreviation; an SA payload with its transforms, a notify with
/// its name, a delete with its protocol's SPI count.
fn payload_name(payload: &Payload) -> String {
    match payload {
        Payload::Sa(sa) => format!("SA ({})", describe(sa)),
        Payload::KeyExchange(_) => "KE".into(),
        Payload::Identification(_) => "ID".into(),
        Payload::Certificate { .. } => "CERT".into(),
        Payload::CertificateRequest { .. } => "CR".into(),
        Payload::Hash(_) => "HASH".into(),
        Payload::Signature(_) => "SIG".into(),
        Payload::Nonce(_) => "NONCE".into(),
        Payload::Notification(n) => format!("N({})", n.notify),
        Payload::Delete(d) => format!("D({} SPI(s))", d.spis.len()),
        Payload::VendorId(_) => "VID".into(),
        Payload::NatD { .. } => "NAT-D".into(),
        Payload::NatOa { .. } => "NAT-OA".into(),
        Payload::Unknown { payload_type, .. } => format!("payload type {payload_type}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ikev1::{Notification, NotifyType, PayloadType};

    fn header(exchange: ExchangeType, message_id: u32) -> Header {
        Header {
            initiator_cookie: 1,
            responder_cookie: 2,
            next_payload: PayloadType::None,
            exchange,
            flags: 0,
            message_id,
            length: 0,
        }
    }

    #[test]
    fn a_line_names_the_exchange_the_message_id_and_the_payloads_but_no_secrets() {
        let peer: SocketAddr = "192.0.2.2:500".parse().expect("peer");
        let ours = [crate::config::IkeProposal::parse("aes128-sha256-ecp256").expect("proposal")];
        let sa = super::super::proposal::phase1_sa(&ours, 3600);
        let line = message_line(
            Direction::Sent,
            peer,
            &header(ExchangeType::IdentityProtection, 0),
            &[Payload::Sa(sa), Payload::VendorId(vec![1; 16])],
        );
        assert_eq!(
            line,
            "sent Main Mode (message ID 0) to 192.0.2.2:500: SA (aes128-sha256-ecp256), VID"
        );
        let line = message_line(
            Direction::Received,
            peer,
            &header(ExchangeType::Informational, 77),
            &[
                Payload::Hash(vec![0xab; 20]),
                Payload::Notification(Notification {
                    doi: 1,
                    protocol: 1,
                    spi: Vec::new(),
                    notify: NotifyType::NoProposalChosen,
                    data: Vec::new(),
                }),
                Payload::Nonce(vec![0xcd; 16]),
            ],
        );
        assert_eq!(
            line,
            "received Informational (message ID 77) from 192.0.2.2:500: HASH, N(NO_PROPOSAL_CHOSEN), NONCE"
        );
        assert!(!line.contains("ab") && !line.contains("cd"), "{line}");
    }
}
