//! The sans-I/O IKE engine: datagrams, timer ticks, kernel results and commands in;
//! datagrams, deadlines, kernel intents and events out. No sockets, no tokio, no clock.
//!
//! Implemented: IKEv2 IKE_SA_INIT (with INVALID_KE_PAYLOAD retry, cookies under load and NAT
//! detection), IKE_AUTH with PSK or certificates (signatures of RFC 7427 and RFC 4754; CERT and
//! CERTREQ; the peer's chain validated at the wall-clock time the caller gives) and the first
//! CHILD_SA (traffic-selector narrowing),
//! CREATE_CHILD_SA (CHILD_SA rekeys with optional PFS, new CHILD_SAs from either end, IKE SA
//! rekeys, simultaneous-rekey resolution), INFORMATIONAL deletes and liveness checks,
//! retransmission with exponential backoff, the response cache and the one-request window,
//! rekey scheduling with jitter and hard IKE SA expiry, IKE fragmentation (RFC 7383), trap
//! policies that initiate on the kernel's ACQUIRE (`start_action = "trap"`), the recovery of
//! CHILD_SAs that cannot be rekeyed (`recovery.rs`) and of connections the peer deleted
//! (`reconnect.rs`); IKEv1 Main Mode, Aggressive Mode, Quick Mode and informational
//! exchanges with pre-shared keys (`v1/`). Not yet: IKEv1 certificates and EAP.

mod child;
mod context;
mod engine;
mod error;
mod from_config;
mod lookup;
pub mod nat_t;
mod output;
mod owner;
mod peer_certificate;
mod reconnect;
mod recovery;
mod reload;
mod resolve;
mod sa;
mod selector;
mod settings;
pub mod shutdown;
mod stale_peer;
mod stats;
#[cfg(feature = "testing")]
mod testing;
mod timer;
mod trap;
mod v1;
mod v2;

pub use engine::{Engine, REQID_BASE};
pub use error::{Error, Failure, KernelFailure, Side};
pub use from_config::Skipped;
pub use output::{
    ChildInstall, ConnId, DownReason, EspSa, Event, IntentId, KernelEvent, KernelIntent,
    OutboundInstall, SaId, Transmit, TrapPolicies,
};
pub use owner::Direction;
pub use peer_certificate::PeerCertificate;
pub use reload::ReloadReport;
pub use resolve::ResolveRequest;
pub use sa::{ChildSa, ChildState, ChildSuite, IkeSa, IpsecMode, NatState, SaState};
pub use selector::Selector;
pub use settings::{
    AuthMethod, CloseAction, ConnectionSettings, EngineSettings, EspProposal, IdentityKind,
    IkeIdentity, IkeProposal, IkeVersion, Offload, Pfs, PreSharedKey,
};
pub use stats::Stats;
#[cfg(feature = "testing")]
pub use testing::MessageIds;
