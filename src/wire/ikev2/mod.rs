//! IKEv2 message codec (RFC 7296 section 3; RFC 7383 for fragmentation).
//!
//! [`parse_message`] turns a datagram into a [`Message`]; [`emit_message`] does the reverse.
//! Encrypted messages are handled in two steps, because the cipher lives in the crypto module:
//! the receiver parses the outer message, decrypts the SK body found at
//! [`Message::encrypted_body_offset`] and parses the plaintext with [`parse_payloads`]; the
//! sender serializes the inner chain with [`emit_payloads`], encrypts it and puts
//! [`emit_encrypted_prefix`] (or [`emit_fragment_prefix`]) in front.

mod auth;
mod cert;
mod cp;
mod delete;
mod enums;
mod header;
mod id;
mod ke;
mod message;
mod nonce;
mod notify;
mod payload;
mod sa;
mod sk;
pub mod transform;
mod ts;
mod vendor;

pub use auth::AuthPayload;
pub use cert::CertPayload;
pub use cp::{ConfigAttribute, Configuration};
pub use delete::Delete;
pub use enums::{
    AuthMethod, CertEncoding, CfgType, ConfigAttributeType, ExchangeType, IdType, NotifyType,
    PayloadType, ProtocolId, TransformType, TsType,
};
pub use header::{Flags, Header, MAJOR_VERSION, VERSION};
pub use id::Identification;
pub use ke::KePayload;
pub use message::{
    emit_encrypted_prefix, emit_fragment_prefix, emit_message, emit_payloads, parse_message,
    parse_payloads, Message,
};
pub use nonce::{NONCE_MAX_LEN, NONCE_MIN_LEN};
pub use notify::Notify;
pub use payload::{first_unsupported_critical, Payload, GENERIC_HEADER_LEN};
pub use sa::{
    AttributeValue, Proposal, SaPayload, Transform, TransformAttribute, ATTRIBUTE_KEY_LENGTH,
};
pub use sk::{Encrypted, EncryptedFragment};
pub use ts::{TrafficSelector, IPV4_SELECTOR_LEN, IPV6_SELECTOR_LEN};
