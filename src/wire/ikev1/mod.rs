//! IKEv1 (ISAKMP) message codec: RFC 2408 (ISAKMP), RFC 2409 (IKE), RFC 2407 (the IPsec DOI),
//! RFC 3947 (NAT traversal) and RFC 3706 (Dead Peer Detection).
//!
//! [`parse_message`] turns an unencrypted datagram into a [`Message`]; [`emit_message`] puts a
//! header in front of a body that [`emit_payloads`] serialized. From the fifth Main Mode
//! message on, bodies are encrypted, a step the crypto module takes: the receiver reads the
//! [`Header`], decrypts the rest and parses the plaintext with [`parse_payloads`], which
//! ignores the padding after the last payload (RFC 2409 5.3); the sender emits the payloads,
//! pads and encrypts them and hands the result to [`emit_message`].
//!
//! Unlike IKEv2's, IKEv1's hashes cover raw payload bodies (RFC 2409 5: SAi_b, IDii_b) and
//! the bytes after a HASH payload (Quick Mode), so every parsed payload comes with its
//! position ([`PayloadSpan`]).
//!
//! The contract is `wire`'s. Whatever parses re-emits to the same bytes except: RESERVED
//! octets and the undefined header flag bits are emitted as zero and the minor version as 0
//! (RFC 2408 3.1, 3.2), a proposal's "# of Transforms" is recomputed, and bytes after the
//! last payload are not kept. Re-parsing the re-emitted bytes always gives the same value.

mod attributes;
mod cert;
mod delete;
mod enums;
mod header;
mod id;
mod message;
mod nat;
mod notify;
mod payload;
mod sa;
pub mod vendor;

pub use attributes::{phase1, phase2, Attribute, AttributeValue};
pub use delete::Delete;
pub use enums::{ExchangeType, NotifyType, PayloadType};
pub use header::{Header, MAJOR_VERSION, VERSION};
pub use id::{
    Identification, ID_DER_ASN1_DN, ID_DER_ASN1_GN, ID_FQDN, ID_IPV4_ADDR, ID_IPV4_ADDR_RANGE,
    ID_IPV4_ADDR_SUBNET, ID_IPV6_ADDR, ID_IPV6_ADDR_RANGE, ID_IPV6_ADDR_SUBNET, ID_KEY_ID,
    ID_USER_FQDN,
};
pub use message::{emit_message, parse_message, Message};
pub use notify::Notification;
pub use payload::{emit_payloads, parse_payloads, Chain, Payload, PayloadSpan, GENERIC_HEADER_LEN};
pub use sa::{
    Proposal, SaPayload, Transform, DOI_IPSEC, ESP_3DES, ESP_AES, ESP_AES_GCM_16, ESP_DES,
    ESP_NULL, KEY_IKE, PROTO_IPCOMP, PROTO_IPSEC_AH, PROTO_IPSEC_ESP, PROTO_ISAKMP,
    SIT_IDENTITY_ONLY,
};
