//! ikehub: an IPsec VPN gateway for Linux routers.
//!
//! Keys are negotiated in userspace (IKEv2, IKEv1); ESP runs in the kernel, programmed over
//! XFRM netlink. The crate is layered; data flows down, events flow up, and nothing reaches
//! around a layer:
//!
//! 1. [`config`]: the TOML file, validated into a model (every error at once).
//! 2. [`wire`], [`crypto`], [`ike`]: the sans-I/O protocol engine (no sockets, no clock).
//! 3. [`kernel`]: kernel intents turned into XFRM / rtnetlink requests.
//! 4. [`daemon`]: the tokio process that moves bytes between sockets, engine and kernel.
//! 5. [`cli`]: the command line, talking to the daemon over its control socket.
//!
//! [`algorithm`] names the algorithms every layer speaks of, without any protocol's numbers, so
//! each layer may use it without depending on another.
#![forbid(unsafe_code)]

pub mod algorithm;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod daemon;
pub mod escape;
#[cfg(feature = "testing")]
pub mod fuzz;
pub mod ike;
pub mod kernel;
pub mod wall_clock;
pub mod wire;
