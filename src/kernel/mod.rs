//! The kernel layer: turns the engine's [`KernelIntent`]s into XFRM and rtnetlink requests,
//! reads SA counters back, and reports the kernel's XFRM events.
//!
//! The daemon is generic over [`Dataplane`], so the engine and daemon run against the real
//! kernel ([`xfrm::XfrmDataplane`]) in production and VM tests, and against
//! [`mock::RecordingDataplane`] where a test or benchmark must skip the datapath.
//!
//! Ownership: every state and policy ikehub installs carries a reqid at or above
//! [`crate::ike::REQID_BASE`], but a reqid in that range proves nothing (another IKE daemon, or
//! another ikehub instance, may use it). The XFRM dataplane therefore keeps a [`record`] of
//! each SA and policy it installs, written before the request goes out; at start it removes
//! exactly the objects the dead run of the instance recorded (same key, same reqid) and leaves
//! everything else alone. Hub mode's links, routes and rules ([`link::LinkDataplane`]) are
//! recorded the same way, in a record of their own, with the if_id, interface or table as
//! the proof.

use std::future::Future;
use std::net::IpAddr;

use crate::ike::{IntentId, KernelIntent};

pub use self::error::KernelError;

mod error;
pub mod link;
pub mod mock;
mod netlink;
mod netns;
pub mod record;
pub mod xfrm;

/// Traffic counted by the kernel on one SA, and how the kernel runs its ESP.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SaCounters {
    pub bytes: u64,
    pub packets: u64,
    /// Hardware offload as the kernel reports it (XFRMA_OFFLOAD_DEV of the SA).
    pub offload: OffloadMode,
    /// The device the SA is offloaded to; `None` for software ESP.
    pub offload_device: Option<String>,
}

/// Where an SA's ESP runs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum OffloadMode {
    /// Software ESP.
    #[default]
    None,
    /// The device encrypts and decrypts; the kernel keeps the SA state.
    Crypto,
    /// The device runs all of ESP (XFRM_OFFLOAD_PACKET).
    Packet,
}

impl std::fmt::Display for OffloadMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OffloadMode::None => "none",
            OffloadMode::Crypto => "crypto",
            OffloadMode::Packet => "packet",
        })
    }
}

/// Events the kernel raises on its own (XFRM multicast groups); defined by the engine,
/// which consumes them.
pub use crate::ike::KernelEvent;

/// What the daemon needs from the kernel.
pub trait Dataplane {
    /// Hub mode's side of this dataplane: links, routes and rules.
    type Links: HubLinks;

    /// Opens the hub side, in the same network namespace; called only in hub mode.
    fn open_links(&mut self) -> Result<Self::Links, KernelError>;

    /// Apply intents in order; one result per intent, in the same order. Implementations
    /// batch: many netlink messages per send, one wait for all acknowledgements. An intent
    /// whose kernel calls partly succeeded is rolled back before its error is returned.
    fn apply(
        &mut self,
        intents: Vec<KernelIntent>,
    ) -> impl Future<Output = Vec<(IntentId, Result<(), KernelError>)>>;

    /// Counters of the SAs given as (destination, SPI); `None` where the kernel has no such SA.
    fn counters(
        &mut self,
        sas: &[(IpAddr, u32)],
    ) -> impl Future<Output = Result<Vec<Option<SaCounters>>, KernelError>>;

    /// Remove every state and policy this dataplane owns: those it installed and still holds,
    /// and those the earlier run of its instance recorded; nothing else. Returns how many
    /// objects were removed.
    fn remove_stale(&mut self) -> impl Future<Output = Result<usize, KernelError>>;

    /// The next kernel event; pending forever for dataplanes that have none.
    fn next_event(&mut self) -> impl Future<Output = KernelEvent>;
}

/// What hub mode needs from the kernel besides SAs: one xfrm interface per connection,
/// routes through them (see [`link`] for the tables and ownership) and IP forwarding.
pub trait HubLinks {
    /// Remove every interface, route and rule this instance owns (those added and those the
    /// earlier run recorded) and nothing else; how many objects were removed.
    fn remove_stale(&mut self) -> impl Future<Output = Result<usize, KernelError>>;

    /// Turn on IPv4 forwarding, and IPv6 forwarding when `ipv6`.
    fn enable_forwarding(&mut self, ipv6: bool) -> Result<(), KernelError>;

    /// Add the rules that make the kernel consult the owned table; how many were added.
    fn add_rules(&mut self) -> impl Future<Output = Result<usize, KernelError>>;

    /// The link packets to `destination` leave by; `None` when there is no route or the
    /// dataplane cannot tell.
    fn egress(
        &mut self,
        destination: IpAddr,
    ) -> impl Future<Output = Result<Option<link::LinkInfo>, KernelError>>;

    /// Create the xfrm interface, up and with its MTU.
    fn create_interface(
        &mut self,
        spec: &link::XfrmInterface,
    ) -> impl Future<Output = Result<link::LinkInfo, KernelError>>;

    /// Delete the interface called `name` (with its routes); `Ok(false)` when it was gone.
    fn delete_interface(&mut self, name: &str) -> impl Future<Output = Result<bool, KernelError>>;

    /// Apply route changes in order and in one batch; one result per change.
    fn write_routes(
        &mut self,
        changes: &[link::RouteChange],
    ) -> impl Future<Output = Vec<Result<(), KernelError>>>;

    /// The table hub routes go to.
    fn owned_table(&self) -> u32;
}
