//! IKEv1 (RFC 2409, ISAKMP RFC 2408, the IPsec DOI RFC 2407): Main Mode and Aggressive Mode
//! with pre-shared keys, Quick Mode with and without PFS, informational deletes, notifies and
//! dead peer detection (RFC 3706), NAT traversal (RFC 3947), and the re-authentication that
//! replaces an ISAKMP SA. The exchanges share the engine's SA table, timers, kernel intents
//! and events with IKEv2; what only IKEv1 keeps is in [`sa::V1State`].

mod aggressive;
mod exchange;
mod ids;
mod informational;
mod main_mode;
mod message;
mod nat;
pub(crate) mod proposal;
mod quick_mode;
mod reauth;
pub(crate) mod sa;
