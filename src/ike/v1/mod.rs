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
mod trace;

/// The phase 1 exchange of an ISAKMP SA by its RFC 2409 name: what failures and log lines
/// call it.
pub(in crate::ike) fn mode_name(sa: &super::sa::IkeSa) -> &'static str {
    if sa.v1.as_ref().is_some_and(|v| v.aggressive) {
        aggressive::AGGRESSIVE_MODE
    } else {
        main_mode::MAIN_MODE
    }
}
