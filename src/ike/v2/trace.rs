//! The debug line of each IKEv2 message sent or received: its exchange, message ID and
//! payloads, and the proposals an SA payload offers or chooses, so that an operator can follow
//! a negotiation on both ends without a capture. Keys, nonces and AUTH data are never shown:
//! a payload is named by its type, with the algorithms and notify names that are public on
//! the wire anyway.

use std::net::SocketAddr;

use tracing::debug;

use crate::algorithm::DhGroup;
use crate::wire::ikev2::transform::TransformId;
use crate::wire::ikev2::{Header, Payload};

use super::super::owner::Direction;
use super::proposal::describe;

/// Log, at debug, the message `header` and `payloads` (the decrypted ones of a protected
/// message) exchanged with `peer`.
pub fn log_message(direction: Direction, peer: SocketAddr, header: &Header, payloads: &[Payload]) {
    debug!("{}", message_line(direction, peer, header, payloads));
}

/// `sent IKE_AUTH response (message ID 1) to 192.0.2.1:500: IDr, AUTH, SA (chosen
/// aes256-sha256), TSi, TSr`.
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
    let kind = if header.flags.response {
        "response"
    } else {
        "request"
    };
    let names: Vec<String> = payloads
        .iter()
        .map(|p| payload_name(p, header.flags.response))
        .collect();
    let list = if names.is_empty() {
        "no payloads".to_string()
    } else {
        names.join(", ")
    };
    format!(
        "{verb} {} {kind} (message ID {}) {preposition} {peer}: {list}",
        header.exchange, header.message_id
    )
}

/// A payload by its RFC 7296 abbreviation; an SA payload with its proposals (a response's
/// single proposal is the one chosen), a KE with its group, a notify with its name.
fn payload_name(payload: &Payload, response: bool) -> String {
    match payload {
        Payload::Sa(sa) if response && sa.proposals.len() == 1 => {
            format!("SA (chosen {})", describe(sa))
        }
        Payload::Sa(sa) => format!("SA (offered {})", describe(sa)),
        Payload::Ke(ke) => match DhGroup::from_transform_id(ke.group) {
            Some(group) => format!("KE ({group})"),
            None => format!("KE (group {})", ke.group),
        },
        Payload::IdI(_) => "IDi".into(),
        Payload::IdR(_) => "IDr".into(),
        Payload::Cert(_) => "CERT".into(),
        Payload::CertReq(_) => "CERTREQ".into(),
        Payload::Auth(_) => "AUTH".into(),
        Payload::Nonce(_) => "Nonce".into(),
        Payload::Notify(n) => format!("N({})", n.notify_type),
        Payload::Delete(_) => "D".into(),
        Payload::Vendor(_) => "V".into(),
        Payload::TsI(_) => "TSi".into(),
        Payload::TsR(_) => "TSr".into(),
        Payload::Cp(_) => "CP".into(),
        Payload::Eap(_) => "EAP".into(),
        Payload::Encrypted(_) => "SK".into(),
        Payload::EncryptedFragment(_) => "SKF".into(),
        Payload::Unknown { payload_type, .. } => format!("payload type {payload_type}"),
    }
}
