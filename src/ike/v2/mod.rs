//! IKEv2 (RFC 7296): the exchanges, one file each, as `impl Engine` blocks, the machinery of
//! requests and responses they share, and what only IKEv2 has: SK payload sealing and
//! fragments (`message`), SA payload proposals (`proposal`), traffic selector payloads (`ts`),
//! NAT detection hashes (`nat`) and cookies (`cookie`).

mod auth;
pub(in crate::ike) mod cookie;
mod create_child;
mod exchange;
mod informational;
mod init;
pub(in crate::ike) mod message;
mod nat;
mod new_child;
pub(in crate::ike) mod proposal;
pub(in crate::ike) mod sa;
mod signature;
pub(in crate::ike) mod trace;
pub(in crate::ike) mod ts;
