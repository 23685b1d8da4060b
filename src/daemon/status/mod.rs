//! What `ikehub status` shows: a snapshot of every connection, built in one pass over the
//! engine's IKE SAs plus one batched counters request to the dataplane, and its human
//! rendering. The JSON form (`ikehub status --json`) is this structure serialised by serde:
//!
//! ```text
//! {
//!   "schema": 1,                       // the layout's version (see STATUS_SCHEMA)
//!   "daemon": {
//!     "uptime_s": 12,                  // seconds since the daemon started
//!     "dataplane": "kernel",           // "kernel" or "recording" (no traffic protected)
//!     "counters": {
//!       "dropped_malformed": 0,        // datagrams that failed to parse
//!       "dropped_undecryptable": 0,    // SK payloads failing integrity/decryption
//!       "dropped_unknown_sa": 0,       // messages naming an IKE SA we do not have
//!       "dropped_unexpected": 0,       // outside the message-ID window, wrong exchange...
//!       "dropped_oversized": 0,        // IKE_SA_INIT larger than 8192 bytes
//!       "dropped_half_open": 0,        // IKE_SA_INIT over a half-open limit ([gateway]
//!                                      // half_open_per_address, _limit, _memory_mib)
//!       "half_open": 0,                // half-open IKE SAs now (IKE_AUTH not yet come)
//!       "half_open_peak": 0,           // the most half-open IKE SAs at once
//!       "half_open_replaced": 0,       // half-open IKE SAs a newer one replaced under
//!                                      // the limits (oldest first, none under 30 s)
//!       "dropped_bad_marker": 0,       // port 4500 datagrams without the non-ESP marker
//!       "dropped_by_kernel": 0,        // datagrams the kernel dropped on the IKE sockets
//!                                      // before we read them (receive buffer full)
//!       "keepalives_received": 0,      // NAT-keepalives seen on port 4500
//!       "keepalives_sent": 0,          // NAT-keepalives we sent (we are behind a NAT)
//!       "send_errors": 0,              // datagrams the socket refused to send
//!       "retransmits": 0,              // our requests sent again
//!       "responses_resent": 0,         // cached responses resent for retransmitted requests
//!       "cookies_sent": 0,             // IKE_SA_INIT answered with a cookie
//!       "invalid_spi_sent": 0,         // requests for unknown IKE SAs answered with
//!                                      // INVALID_IKE_SPI (at most 20 per second)
//!       "control_clients_refused": 0,  // control clients refused: 256 others were being
//!                                      // answered
//!       "control_clients_dropped": 0,  // control clients closed: silent while others
//!                                      // needed room, or too slow to send or to read
//!       "control_accept_errors": 0     // control socket accept failures (e.g. no file
//!                                      // descriptors left), each pausing accept
//!     }
//!   },
//!   "connections": [{
//!     "name": "office",
//!     "state": "established",          // "down" | "trapped" | "connecting" | "no-child-sa" |
//!                                      // "established" | "deleting" (see below);
//!                                      // "trapped": no IKE SA, the trap policies wait
//!                                      // for traffic (start_action = "trap")
//!     "peer_address": "198.51.100.20:4500", // the current SA's peer (NATed address if
//!                                      // so), else the configured address (for a DNS
//!                                      // name: the one it resolved to last); null for
//!                                      // "any" and a name not resolved yet
//!     "remote_name": null,             // the peer's configured DNS name
//!                                      // ("office.example"); null for an address
//!     "local_subnets": ["172.16.0.0/16"],
//!     "remote_subnets": ["192.168.10.0/24"],
//!     "last_error": null,              // the current failure: none since the last success
//!     "last_error_at": null,           // when: RFC 3339 UTC, "2026-12-07T11:50:02Z"
//!     "last_error_s": null,            // seconds since then
//!     "last_error_by": null,           // the end that refused: "us" | "peer"; null when
//!                                      // no end refused (no answer, the kernel)
//!     "previous_error": null,          // the failure the last success ended, with its
//!     "previous_error_at": null,       // time, age and refusing end as above
//!     "previous_error_s": null,
//!     "previous_error_by": null,
//!     "interface": "ikh-office",       // hub mode: the xfrm interface; null otherwise
//!     "if_id": 2166136261,             // hub mode: the interface's if_id; null otherwise
//!     "ike_sas": [{                    // best first: established, no-child-sa, deleting,
//!                                      // connecting
//!       "state": "established",        // as the connection's, for this IKE SA
//!       "version": 2,                  // 2: IKEv2; 1: IKEv1 (the ISAKMP SA; its IPsec
//!                                      // SA pairs are the "children")
//!       "mode": null,                  // IKEv1: "Main Mode" or "Aggressive Mode"
//!       "initiator": true,             // we initiated this IKE SA
//!       "local": "203.0.113.1:4500", "remote": "198.51.100.20:4500",
//!       "local_id": "203.0.113.1",     // the identity we authenticate as
//!       "remote_id": "gw.example.org", // the peer's, as it identified; null until it has
//!       "auth": "psk",                 // how we authenticate: "psk" (pre-shared key) or
//!                                      // "pubkey" (certificate)
//!       "remote_auth": "psk",          // how the peer authenticates
//!       "peer_certificate": null,      // with remote_auth "pubkey": { "subject": "CN=office1,
//!                                      // O=Example", "issuer": "CN=Example CA", "serial":
//!                                      // "1a:2b", "not_after": "2027-12-07T00:00:00Z",
//!                                      // "expires_in_s": 31536000 }
//!       "spi_i": "0123456789abcdef", "spi_r": "fedcba9876543210", // hex
//!       "algorithms": "aes128gcm16-prfsha256-ecp256", // null before IKE_SA_INIT completes
//!       "established_s": 300,          // null until IKE_AUTH completes
//!       "nat": { "local_behind": false, "remote_behind": true },
//!       "rekey_in_s": 12345,           // null: no rekey scheduled
//!       "children": [{
//!         "reqid": 1073741824,
//!         "spi_in": "c1a2b3c4", "spi_out": "d5e6f708", // hex
//!         "algorithms": "aes128gcm16", // or e.g. "aes256-sha256"; "-esn" when ESN is on
//!         "mode": "tunnel",            // the IPsec mode (ikehub negotiates tunnel mode only)
//!         "pfs_group": null,           // the group of the CHILD_SA's own key exchange, e.g.
//!                                      // "modp2048" (also in "algorithms"); null without
//!         "local_ts": ["172.16.0.0/16"], "remote_ts": ["192.168.10.0/24"],
//!         "bytes_in": 0, "packets_in": 0, "bytes_out": 0, "packets_out": 0,
//!                                      // from the kernel at request time; null when the
//!                                      // kernel has no such SA
//!         "offload_in": "crypto",      // where ESP of the SA runs, as the kernel reports
//!         "offload_in_device": "eth1", // it: "none" (software), "crypto" or "packet", and
//!         "offload_out": "crypto",     // the device (null in software); null when the
//!         "offload_out_device": "eth1", // kernel has no such SA
//!         "established_s": 299,
//!         "rekey_in_s": 3001,          // until we replace it; null: not scheduled
//!         "expires_in_s": 3661         // until it ends if it is not replaced: the hard
//!                                      // lifetime, child_lifetime + 10% (IKEv1: the
//!                                      // lifetime the peer agreed to, when shorter)
//!       }]
//!     }]
//!   }]
//! }
//! ```
//!
//! `schema` changes only when a field is renamed, removed or changes its meaning or type; new
//! fields do not change it, so scripts check it and ignore fields they do not know.
//!
//! A connection's `state` is its best IKE SA's:
//! - `established`: the IKE SA is established and at least one CHILD_SA is installed, so
//!   traffic is protected. A connection is never `established` without a CHILD_SA.
//! - `no-child-sa`: the IKE SA is established but has no CHILD_SA (the peer refused it, as
//!   with TS_UNACCEPTABLE or NO_PROPOSAL_CHOSEN in IKE_AUTH, the kernel refused it, or it was
//!   deleted): no traffic is protected, and `last_error` says why. The word does not contain
//!   "established", and its text form says "authenticated" for the IKE SA's age, so a grep
//!   for "established" does not count such a tunnel up (a `last error` message may still
//!   contain the word: scripts match the state itself).
//! - `connecting` (IKE_SA_INIT or IKE_AUTH under way), `deleting`, and `down` (no IKE SA).
//!
//! `last_error` stays a string, as before; its time is in the fields beside it, null when
//! there is none. The next success (a CHILD_SA up) moves it to `previous_error`, with its
//! time, and clears it (see [`last_error`]): a `last_error` is always a current problem.

pub mod last_error;
pub(crate) mod pretty;
mod values;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::crypto::IkeSuite;
use crate::ike::{ChildSa, ChildState, ChildSuite, ConnId, Engine, IkeSa, SaState};
use crate::kernel::link::interface_name;
use crate::kernel::{OffloadMode, SaCounters};

use self::last_error::{LastError, LastErrors, Timestamp};

pub use values::{EspSpi, IkeSpi, Selector};

/// The version of the JSON layout of `ikehub status --json`, its top-level `schema` (see the
/// module docs for when it changes).
pub const STATUS_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusSnapshot {
    /// [`STATUS_SCHEMA`]; 0 from a daemon older than the field.
    #[serde(default)]
    pub schema: u32,
    pub daemon: DaemonStatus,
    pub connections: Vec<ConnectionStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub uptime_s: u64,
    pub dataplane: String,
    pub counters: Counters,
    /// The gateway's own certificate (`[gateway] certificate`), if it has one.
    #[serde(default)]
    pub certificate: Option<PeerCertificateStatus>,
}

/// Daemon-wide counters: the engine's drops and repeats plus the socket layer's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub dropped_malformed: u64,
    pub dropped_undecryptable: u64,
    pub dropped_unknown_sa: u64,
    pub dropped_unexpected: u64,
    #[serde(default)]
    pub dropped_oversized: u64,
    #[serde(default)]
    pub dropped_half_open: u64,
    #[serde(default)]
    pub half_open: u64,
    #[serde(default)]
    pub half_open_peak: u64,
    #[serde(default)]
    pub half_open_replaced: u64,
    pub dropped_bad_marker: u64,
    pub keepalives_received: u64,
    pub keepalives_sent: u64,
    pub send_errors: u64,
    pub retransmits: u64,
    pub responses_resent: u64,
    pub cookies_sent: u64,
    #[serde(default)]
    pub invalid_spi_sent: u64,
    #[serde(default)]
    pub control_clients_refused: u64,
    #[serde(default)]
    pub control_clients_dropped: u64,
    #[serde(default)]
    pub control_accept_errors: u64,
    /// Datagrams the kernel dropped on the IKE sockets before we read them (the sockets'
    /// drop counters: mostly a full receive buffer).
    #[serde(default)]
    pub dropped_by_kernel: u64,
}

impl Counters {
    /// Every datagram dropped before or inside the engine.
    pub fn dropped_total(&self) -> u64 {
        [
            self.dropped_malformed,
            self.dropped_undecryptable,
            self.dropped_unknown_sa,
            self.dropped_unexpected,
            self.dropped_oversized,
            self.dropped_half_open,
            self.dropped_bad_marker,
            self.dropped_by_kernel,
        ]
        .into_iter()
        .fold(0u64, u64::saturating_add)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub name: String,
    pub state: ConnectionState,
    pub peer_address: Option<String>,
    /// The peer's DNS name as configured; `peer_address` is the address in use.
    #[serde(default)]
    pub remote_name: Option<String>,
    pub local_subnets: Vec<IpNet>,
    pub remote_subnets: Vec<IpNet>,
    pub last_error: Option<String>,
    /// When `last_error` was recorded: RFC 3339 UTC, and seconds since.
    #[serde(default)]
    pub last_error_at: Option<String>,
    #[serde(default)]
    pub last_error_s: Option<u64>,
    /// The end that refused: "us" or "peer"; null when no end refused.
    #[serde(default)]
    pub last_error_by: Option<String>,
    /// The failure the last success ended, with its time and refusing end.
    #[serde(default)]
    pub previous_error: Option<String>,
    #[serde(default)]
    pub previous_error_at: Option<String>,
    #[serde(default)]
    pub previous_error_s: Option<u64>,
    #[serde(default)]
    pub previous_error_by: Option<String>,
    pub ike_sas: Vec<IkeSaStatus>,
    /// Hub mode: the connection's xfrm interface and its if_id; null otherwise.
    #[serde(default)]
    pub interface: Option<String>,
    #[serde(default)]
    pub if_id: Option<u32>,
}

/// The state of a connection or of one IKE SA, worst to best (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectionState {
    Down,
    /// No IKE SA, and the trap policies are installed: the next packet for the remote
    /// subnets initiates (`start_action = "trap"`). A connection's state only, never an SA's.
    Trapped,
    Connecting,
    Deleting,
    /// The IKE SA is established without any CHILD_SA: no traffic is protected.
    NoChildSa,
    /// The IKE SA is established with at least one CHILD_SA installed.
    Established,
}

impl ConnectionState {
    pub fn name(self) -> &'static str {
        match self {
            ConnectionState::Down => "down",
            ConnectionState::Trapped => "trapped",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Deleting => "deleting",
            ConnectionState::NoChildSa => "no-child-sa",
            ConnectionState::Established => "established",
        }
    }

    /// The state of an IKE SA in `state` holding `children` CHILD_SAs.
    pub fn of(state: SaState, children: usize) -> ConnectionState {
        match state {
            SaState::InitSent | SaState::InitAnswered | SaState::AuthSent => {
                ConnectionState::Connecting
            }
            SaState::Established if children == 0 => ConnectionState::NoChildSa,
            SaState::Established => ConnectionState::Established,
            SaState::Deleting => ConnectionState::Deleting,
        }
    }

    fn of_sa(sa: &IkeSa) -> ConnectionState {
        ConnectionState::of(sa.state, sa.children.len())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NatStatus {
    pub local_behind: bool,
    pub remote_behind: bool,
}

fn ikev2() -> u8 {
    2
}

/// A certificate as `status` shows it: a peer's, or the gateway's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCertificateStatus {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// RFC 3339 UTC.
    pub not_after: String,
    /// Seconds until it expires (0 once it has).
    pub expires_in_s: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    pub state: ConnectionState,
    /// The IKE version: 1 or 2.
    #[serde(default = "ikev2")]
    pub version: u8,
    /// IKEv1's phase 1 exchange: "Main Mode" or "Aggressive Mode".
    #[serde(default)]
    pub mode: Option<String>,
    pub initiator: bool,
    #[serde(serialize_with = "values::serialize_socket_address")]
    pub local: SocketAddr,
    #[serde(serialize_with = "values::serialize_socket_address")]
    pub remote: SocketAddr,
    /// The identity we authenticate as, and the peer's (`None` until it has identified).
    #[serde(default)]
    pub local_id: Option<String>,
    #[serde(default)]
    pub remote_id: Option<String>,
    /// How we authenticate: "psk" or "pubkey".
    #[serde(default)]
    pub auth: Option<String>,
    /// How the peer authenticates: "psk" or "pubkey".
    #[serde(default)]
    pub remote_auth: Option<String>,
    /// The certificate the peer authenticated with.
    #[serde(default)]
    pub peer_certificate: Option<PeerCertificateStatus>,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub algorithms: Option<String>,
    pub established_s: Option<u64>,
    pub nat: NatStatus,
    pub rekey_in_s: Option<u64>,
    pub children: Vec<ChildSaStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildSaStatus {
    pub reqid: u32,
    pub spi_in: EspSpi,
    pub spi_out: EspSpi,
    pub algorithms: String,
    /// The IPsec mode: "tunnel".
    #[serde(default)]
    pub mode: Option<String>,
    /// The group of the CHILD_SA's own key exchange (PFS); `None` without one.
    #[serde(default)]
    pub pfs_group: Option<String>,
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
    pub bytes_in: Option<u64>,
    pub packets_in: Option<u64>,
    pub bytes_out: Option<u64>,
    pub packets_out: Option<u64>,
    /// Hardware offload of each SA as the kernel reports it (see the module docs).
    #[serde(default)]
    pub offload_in: Option<OffloadMode>,
    #[serde(default)]
    pub offload_in_device: Option<String>,
    #[serde(default)]
    pub offload_out: Option<OffloadMode>,
    #[serde(default)]
    pub offload_out_device: Option<String>,
    pub established_s: u64,
    /// Seconds until we replace this CHILD_SA (rekey, or a new Quick Mode for IKEv1).
    #[serde(default)]
    pub rekey_in_s: Option<u64>,
    /// Seconds until this CHILD_SA ends if it is not replaced (its hard lifetime).
    #[serde(default)]
    pub expires_in_s: Option<u64>,
}

impl ConnectionStatus {
    /// Show `error` as the connection's last error, with its time as of `now`.
    pub fn set_last_error(&mut self, error: &LastError, now: Instant) {
        self.last_error = Some(error.message.clone());
        self.last_error_by = error.by_text().map(str::to_owned);
        self.set_last_error_time(&error.at, now);
    }

    /// Show `error` as the failure the connection's last success ended.
    pub fn set_previous_error(&mut self, error: &LastError, now: Instant) {
        self.previous_error = Some(error.message.clone());
        self.previous_error_at = Some(error.at.rfc3339());
        self.previous_error_s = Some(error.at.age_s(now));
        self.previous_error_by = error.by_text().map(str::to_owned);
    }

    /// Date `last_error`, if there is one, at `at`, as of `now`.
    pub fn set_last_error_time(&mut self, at: &Timestamp, now: Instant) {
        if self.last_error.is_some() {
            self.last_error_at = Some(at.rfc3339());
            self.last_error_s = Some(at.age_s(now));
        }
    }
}

/// A snapshot without kernel counters yet, and the (destination, SPI) keys to ask the
/// dataplane for, in the order [`PendingStatus::finish`] expects them.
pub struct PendingStatus {
    pub snapshot: StatusSnapshot,
    pub counter_keys: Vec<(IpAddr, u32)>,
}

/// What the daemon adds to the engine's view.
pub struct DaemonFacts<'a> {
    pub started: Instant,
    pub dataplane: &'a str,
    pub socket_counters: Counters,
    /// The last error of each connection, with its time.
    pub last_errors: &'a LastErrors,
}

/// Which connections a snapshot covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    One(ConnId),
    /// The daemon section only.
    None,
}

impl Scope {
    fn includes(self, id: ConnId) -> bool {
        match self {
            Scope::All => true,
            Scope::One(only) => only == id,
            Scope::None => false,
        }
    }
}

/// Build the snapshot of the connections in `scope`, in one pass over the IKE SAs.
pub fn collect(
    engine: &Engine,
    now: Instant,
    facts: &DaemonFacts<'_>,
    scope: Scope,
) -> PendingStatus {
    let ids: Vec<ConnId> = engine
        .connection_ids()
        .filter(|id| scope.includes(*id))
        .collect();
    let slots = ids.iter().map(|id| id.0 as usize + 1).max().unwrap_or(0);
    let mut per_conn: Vec<Vec<&IkeSa>> = vec![Vec::new(); slots];
    for sa in engine.sas() {
        if !scope.includes(sa.conn) {
            continue;
        }
        if let Some(list) = per_conn.get_mut(sa.conn.0 as usize) {
            list.push(sa);
        }
    }
    let mut builder = SaStatusBuilder {
        now,
        counter_keys: Vec::new(),
        names: AlgorithmNames::default(),
    };
    let mut connections = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(settings) = engine.connection(id) else {
            continue;
        };
        let mut sas = per_conn
            .get_mut(id.0 as usize)
            .map(std::mem::take)
            .unwrap_or_default();
        sas.sort_by_key(|sa| {
            (
                std::cmp::Reverse(ConnectionState::of_sa(sa)),
                std::cmp::Reverse(sa.established_at),
            )
        });
        let state =
            sas.first()
                .map(|sa| ConnectionState::of_sa(sa))
                .unwrap_or(if engine.trapped(id) {
                    ConnectionState::Trapped
                } else {
                    ConnectionState::Down
                });
        let peer_address = match sas.first() {
            Some(sa) => Some(sa.remote.to_string()),
            None => settings.remote_addr.map(|a| a.to_string()),
        };
        // The same for each IKE SA of the connection: formatted once.
        let local = LocalSide {
            id: settings.local_id.to_string(),
            auth: settings.local_auth.name(),
            remote_auth: settings.remote_auth.name(),
        };
        let ike_sas = sas.iter().map(|sa| builder.ike_sa(sa, &local)).collect();
        let mut connection = ConnectionStatus {
            name: settings.name.clone(),
            state,
            peer_address,
            remote_name: settings.remote_name.clone(),
            local_subnets: settings.local_subnets.clone(),
            remote_subnets: settings.remote_subnets.clone(),
            last_error: None,
            last_error_at: None,
            last_error_s: None,
            last_error_by: None,
            previous_error: None,
            previous_error_at: None,
            previous_error_s: None,
            previous_error_by: None,
            ike_sas,
            interface: settings.if_id.map(|_| interface_name(&settings.name)),
            if_id: settings.if_id,
        };
        if let Some(error) = facts.last_errors.get(id) {
            connection.set_last_error(error, now);
        }
        if let Some(error) = facts.last_errors.previous(id) {
            connection.set_previous_error(error, now);
        }
        connections.push(connection);
    }
    let stats = engine.stats();
    let counters = Counters {
        dropped_malformed: stats.dropped_malformed,
        dropped_undecryptable: stats.dropped_undecryptable,
        dropped_unknown_sa: stats.dropped_unknown_sa,
        dropped_unexpected: stats.dropped_unexpected,
        dropped_oversized: stats.dropped_oversized,
        dropped_half_open: stats.dropped_half_open,
        half_open: stats.half_open,
        half_open_peak: stats.half_open_peak,
        half_open_replaced: stats.half_open_replaced,
        retransmits: stats.retransmits,
        responses_resent: stats.responses_resent,
        cookies_sent: stats.cookies_sent,
        invalid_spi_sent: stats.invalid_spi_sent,
        ..facts.socket_counters
    };
    PendingStatus {
        snapshot: StatusSnapshot {
            schema: STATUS_SCHEMA,
            daemon: DaemonStatus {
                uptime_s: now.saturating_duration_since(facts.started).as_secs(),
                dataplane: facts.dataplane.to_string(),
                counters,
                certificate: engine
                    .credentials()
                    .and_then(|c| c.local.as_ref())
                    .map(|local| {
                        let c = &local.certificate;
                        PeerCertificateStatus {
                            subject: c.subject.clone(),
                            issuer: c.issuer.clone(),
                            serial: c.serial.clone(),
                            not_after: c.not_after_text(),
                            expires_in_s: c.not_after.saturating_sub(crate::wall_clock::now_unix()),
                        }
                    }),
            },
            connections,
        },
        counter_keys: builder.counter_keys,
    }
}

/// The algorithm names of the suites seen so far in one snapshot: thousands of SAs share a
/// handful of suites, so each name is formatted once and then copied.
#[derive(Default)]
struct AlgorithmNames {
    ike: Vec<(IkeSuite, String)>,
    child: Vec<(ChildSuite, String)>,
}

impl AlgorithmNames {
    fn ike(&mut self, sa: &IkeSa) -> Option<String> {
        // An ISAKMP SA has no IKEv2 suite: its name comes from its own keys.
        let Some(suite) = sa.suite() else {
            return sa.algorithms();
        };
        if let Some((_, name)) = self.ike.iter().find(|(known, _)| *known == suite) {
            return Some(name.clone());
        }
        let name = sa.algorithms()?;
        self.ike.push((suite, name.clone()));
        Some(name)
    }

    fn child(&mut self, suite: &ChildSuite) -> String {
        if let Some((_, name)) = self.child.iter().find(|(known, _)| known == suite) {
            return name.clone();
        }
        let name = child_algorithms(suite);
        self.child.push((*suite, name.clone()));
        name
    }
}

/// "aes128gcm16", "aes256-sha256-modp2048-esn": encryption, integrity, PFS group, ESN.
fn child_algorithms(suite: &ChildSuite) -> String {
    let mut name = suite.encryption.to_string();
    if let Some(integrity) = suite.integrity {
        let _ = write!(name, "-{integrity}");
    }
    if let Some(dh) = suite.dh {
        let _ = write!(name, "-{dh}");
    }
    if suite.esn {
        name.push_str("-esn");
    }
    name
}

/// What the IKE SAs of one connection share: our identity and the authentication method.
struct LocalSide {
    id: String,
    auth: &'static str,
    remote_auth: &'static str,
}

/// Turns engine SAs into their status entries, noting the counters to ask the kernel for.
struct SaStatusBuilder {
    now: Instant,
    counter_keys: Vec<(IpAddr, u32)>,
    names: AlgorithmNames,
}

impl SaStatusBuilder {
    fn ike_sa(&mut self, sa: &IkeSa, local: &LocalSide) -> IkeSaStatus {
        let now = self.now;
        let children = sa
            .children
            .iter()
            .map(|child| {
                // Inbound ESP is addressed to us, outbound to the peer.
                self.counter_keys.push((sa.local.ip(), child.inbound_spi));
                self.counter_keys.push((sa.remote.ip(), child.outbound_spi));
                self.child(child)
            })
            .collect();
        IkeSaStatus {
            state: ConnectionState::of_sa(sa),
            version: sa.version(),
            mode: sa.exchange_mode().map(str::to_owned),
            initiator: sa.initiator,
            local: sa.local,
            remote: sa.remote,
            local_id: Some(local.id.clone()),
            remote_id: sa.remote_id.as_ref().map(ToString::to_string),
            auth: Some(local.auth.to_owned()),
            remote_auth: Some(local.remote_auth.to_owned()),
            peer_certificate: sa
                .peer_certificate
                .as_deref()
                .map(|c| PeerCertificateStatus {
                    subject: c.subject.clone(),
                    issuer: c.issuer.clone(),
                    serial: c.serial.clone(),
                    not_after: c.not_after_text.clone(),
                    expires_in_s: c.not_after.saturating_sub(crate::wall_clock::now_unix()),
                }),
            spi_i: IkeSpi(sa.spi_i),
            spi_r: IkeSpi(sa.spi_r),
            algorithms: self.names.ike(sa),
            established_s: sa
                .established_at
                .map(|t| now.saturating_duration_since(t).as_secs()),
            nat: NatStatus {
                local_behind: sa.nat.local_behind,
                remote_behind: sa.nat.remote_behind,
            },
            rekey_in_s: sa
                .rekey_at()
                .map(|t| t.saturating_duration_since(now).as_secs()),
            children,
        }
    }

    fn child(&mut self, child: &ChildSa) -> ChildSaStatus {
        ChildSaStatus {
            reqid: child.reqid,
            spi_in: EspSpi(child.inbound_spi),
            spi_out: EspSpi(child.outbound_spi),
            algorithms: self.names.child(&child.suite),
            mode: Some(child.mode().name().to_owned()),
            pfs_group: child.pfs_group().map(|group| group.to_string()),
            local_ts: child.local_ts.clone(),
            remote_ts: child.remote_ts.clone(),
            bytes_in: None,
            packets_in: None,
            bytes_out: None,
            packets_out: None,
            offload_in: None,
            offload_in_device: None,
            offload_out: None,
            offload_out_device: None,
            established_s: self
                .now
                .saturating_duration_since(child.established_at)
                .as_secs(),
            rekey_in_s: (child.state == ChildState::Installed)
                .then(|| child.rekey_at.saturating_duration_since(self.now).as_secs()),
            expires_in_s: child
                .expires_at()
                .map(|t| t.saturating_duration_since(self.now).as_secs()),
        }
    }
}

impl PendingStatus {
    /// Fill in the kernel counters, answered for `counter_keys` in order; `None` when the
    /// dataplane could not be asked (the counters stay null).
    pub fn finish(mut self, counters: Option<Vec<Option<SaCounters>>>) -> StatusSnapshot {
        let Some(counters) = counters else {
            return self.snapshot;
        };
        let mut answers = counters.into_iter();
        let children = self
            .snapshot
            .connections
            .iter_mut()
            .flat_map(|c| c.ike_sas.iter_mut())
            .flat_map(|sa| sa.children.iter_mut());
        for child in children {
            let inbound = answers.next().flatten();
            let outbound = answers.next().flatten();
            child.bytes_in = inbound.as_ref().map(|c| c.bytes);
            child.packets_in = inbound.as_ref().map(|c| c.packets);
            child.offload_in = inbound.as_ref().map(|c| c.offload);
            child.offload_in_device = inbound.and_then(|c| c.offload_device);
            child.bytes_out = outbound.as_ref().map(|c| c.bytes);
            child.packets_out = outbound.as_ref().map(|c| c.packets);
            child.offload_out = outbound.as_ref().map(|c| c.offload);
            child.offload_out_device = outbound.and_then(|c| c.offload_device);
        }
        self.snapshot
    }
}

/// The JSON form of a snapshot, as `ikehub status --json` prints it: pretty-printed, one
/// field per line (scripts read it line by line), without a final newline.
pub fn to_json(snapshot: &StatusSnapshot) -> serde_json::Result<Vec<u8>> {
    // About what one IKE SA with one CHILD_SA takes, so the buffer grows rarely.
    const BYTES_PER_SA: usize = 1400;
    let sas: usize = snapshot.connections.iter().map(|c| c.ike_sas.len()).sum();
    let mut out = Vec::with_capacity(BYTES_PER_SA.saturating_mul(sas.saturating_add(2)));
    pretty::to_writer(&mut out, snapshot)?;
    Ok(out)
}

fn duration_text(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}d{h}h{m}m")
    } else if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// " (2026-12-07T11:50:02Z, 3m0s ago)": when something happened, as far as it is known.
fn when_text(at: Option<&str>, age_s: Option<u64>) -> String {
    let parts: Vec<String> = at
        .map(str::to_owned)
        .into_iter()
        .chain(age_s.map(|s| format!("{} ago", duration_text(s))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn list(nets: &[impl std::fmt::Display]) -> String {
    if nets.is_empty() {
        return "-".into();
    }
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// "crypto on eth1", "none" (software), "n/a" (not read).
fn offload_text(mode: Option<OffloadMode>, device: Option<&str>) -> String {
    match (mode, device) {
        (None, _) => "n/a".into(),
        (Some(mode), Some(device)) => format!("{mode} on {device}"),
        (Some(mode), None) => mode.to_string(),
    }
}

/// "ids: 203.0.113.1 -> gw.example.org, auth psk"; `None` from a daemon that sends none of
/// them.
fn identities_text(sa: &IkeSaStatus) -> Option<String> {
    if sa.local_id.is_none() && sa.remote_id.is_none() && sa.auth.is_none() {
        return None;
    }
    let mut text = format!(
        "ids: {} -> {}",
        sa.local_id.as_deref().unwrap_or("unknown"),
        sa.remote_id.as_deref().unwrap_or("peer not identified yet")
    );
    match (&sa.auth, &sa.remote_auth) {
        (Some(ours), Some(theirs)) if ours != theirs => {
            let _ = write!(text, ", auth {ours}, peer {theirs}");
        }
        (Some(auth), _) => {
            let _ = write!(text, ", auth {auth}");
        }
        _ => {}
    }
    Some(text)
}

/// A CHILD_SA's algorithms with its PFS group apart: "aes256-sha256, PFS modp2048" rather
/// than the group once in the suite and again as PFS; "aes128gcm16, no PFS".
fn child_algorithms_text(child: &ChildSaStatus) -> String {
    match &child.pfs_group {
        Some(group) => {
            let suite: Vec<&str> = child
                .algorithms
                .split('-')
                .filter(|part| part != group)
                .collect();
            format!("{}, PFS {group}", suite.join("-"))
        }
        // A daemon older than `mode` and `pfs_group` did not say whether there was PFS.
        None if child.mode.is_none() => child.algorithms.clone(),
        None => format!("{}, no PFS", child.algorithms),
    }
}

fn traffic(bytes: Option<u64>, packets: Option<u64>) -> String {
    match (bytes, packets) {
        (Some(b), Some(p)) => format!("{b} bytes/{p} packets"),
        _ => "n/a".into(),
    }
}

/// The human form of a snapshot: the same fields as the JSON.
pub fn render(snapshot: &StatusSnapshot) -> String {
    let mut out = String::new();
    let d = &snapshot.daemon;
    let c = &d.counters;
    let _ = writeln!(
        out,
        "daemon: up {}, dataplane {}",
        duration_text(d.uptime_s),
        d.dataplane
    );
    let _ = writeln!(
        out,
        "  dropped: {} malformed, {} undecryptable, {} unknown SA, {} unexpected, {} oversized IKE_SA_INIT, {} over the half-open limits, {} bad non-ESP marker, {} by the kernel (socket receive buffer full)",
        c.dropped_malformed, c.dropped_undecryptable, c.dropped_unknown_sa, c.dropped_unexpected, c.dropped_oversized, c.dropped_half_open, c.dropped_bad_marker, c.dropped_by_kernel
    );
    let _ = writeln!(
        out,
        "  half-open IKE SAs: {} now, {} at most, {} replaced by newer ones",
        c.half_open, c.half_open_peak, c.half_open_replaced
    );
    let _ = writeln!(
        out,
        "  retransmitted: {} requests, {} responses; answered with {} cookies, {} INVALID_IKE_SPI; NAT-keepalives {} received, {} sent; {} send errors",
        c.retransmits, c.responses_resent, c.cookies_sent, c.invalid_spi_sent, c.keepalives_received, c.keepalives_sent, c.send_errors
    );
    if c.control_clients_refused + c.control_clients_dropped + c.control_accept_errors > 0 {
        let _ = writeln!(
            out,
            "  control socket: {} clients refused, {} dropped, {} accept errors",
            c.control_clients_refused, c.control_clients_dropped, c.control_accept_errors
        );
    }
    for conn in &snapshot.connections {
        let hint = match conn.state {
            ConnectionState::NoChildSa => " (IKE SA up, no traffic protected)",
            _ => "",
        };
        let peer = match (&conn.remote_name, &conn.peer_address) {
            (Some(name), Some(address)) => format!("{name} ({address})"),
            (Some(name), None) => format!("{name} (not resolved yet)"),
            (None, address) => address.as_deref().unwrap_or("any").to_owned(),
        };
        let _ = writeln!(
            out,
            "\n{}: {}{hint}, peer {peer}",
            conn.name,
            conn.state.name(),
        );
        let _ = writeln!(
            out,
            "  subnets: {} === {}",
            list(&conn.local_subnets),
            list(&conn.remote_subnets)
        );
        if let (Some(interface), Some(if_id)) = (&conn.interface, conn.if_id) {
            let _ = writeln!(out, "  interface: {interface} (if_id {if_id})");
        }
        if let Some(error) = &conn.last_error {
            let _ = writeln!(
                out,
                "  last error{}: {error}",
                when_text(conn.last_error_at.as_deref(), conn.last_error_s)
            );
        }
        if let Some(error) = &conn.previous_error {
            let _ = writeln!(
                out,
                "  previous error{}: {error}",
                when_text(conn.previous_error_at.as_deref(), conn.previous_error_s)
            );
        }
        for sa in &conn.ike_sas {
            let role = if sa.initiator {
                "initiator"
            } else {
                "responder"
            };
            let (kind, role) = match &sa.mode {
                Some(mode) if sa.version == 1 => ("IKEv1 SA", format!("{role}, {mode}")),
                _ => ("IKE SA", role.to_owned()),
            };
            // "established" only for an IKE SA with a CHILD_SA, so that a grep for the word
            // finds working tunnels only; the state says it once, with the age.
            let state = match (sa.established_s, sa.state) {
                (Some(s), ConnectionState::Established) => {
                    format!("established {} ago ({role})", duration_text(s))
                }
                (Some(s), state) => format!(
                    "{} ({role}), authenticated {} ago",
                    state.name(),
                    duration_text(s)
                ),
                (None, state) => format!("{} ({role}), not authenticated yet", state.name()),
            };
            let _ = writeln!(
                out,
                "  {kind} {state}: {} -> {}, spi {}_i {}_r, {}",
                sa.local,
                sa.remote,
                sa.spi_i,
                sa.spi_r,
                sa.algorithms
                    .as_deref()
                    .unwrap_or("algorithms not negotiated yet"),
            );
            let nat = match (sa.nat.local_behind, sa.nat.remote_behind) {
                (false, false) => "no NAT".to_string(),
                (true, false) => "we are behind a NAT".to_string(),
                (false, true) => "the peer is behind a NAT".to_string(),
                (true, true) => "both ends behind NAT".to_string(),
            };
            let rekey = match sa.rekey_in_s {
                Some(s) => format!("rekey in {}", duration_text(s)),
                None => "no rekey scheduled".into(),
            };
            if let Some(identities) = identities_text(sa) {
                let _ = writeln!(out, "    {identities}");
            }
            if let Some(c) = &sa.peer_certificate {
                let _ = writeln!(
                    out,
                    "    peer certificate \"{}\" from \"{}\", serial {}, expires {} (in {})",
                    c.subject,
                    c.issuer,
                    c.serial,
                    c.not_after,
                    duration_text(c.expires_in_s)
                );
            }
            let _ = writeln!(out, "    {nat}, {rekey}");
            for child in &sa.children {
                let mode = child
                    .mode
                    .as_deref()
                    .map(|mode| format!(", {mode} mode"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    CHILD_SA reqid {}{mode}: spi in {} out {}, {}, established {} ago{}{}",
                    child.reqid,
                    child.spi_in,
                    child.spi_out,
                    child_algorithms_text(child),
                    duration_text(child.established_s),
                    child
                        .rekey_in_s
                        .map(|s| format!(", rekey in {}", duration_text(s)))
                        .unwrap_or_default(),
                    child
                        .expires_in_s
                        .map(|s| format!(", expires in {}", duration_text(s)))
                        .unwrap_or_default()
                );
                let _ = writeln!(
                    out,
                    "      {} === {}",
                    list(&child.local_ts),
                    list(&child.remote_ts)
                );
                let _ = writeln!(
                    out,
                    "      in {}, out {}",
                    traffic(child.bytes_in, child.packets_in),
                    traffic(child.bytes_out, child.packets_out)
                );
                let _ = writeln!(
                    out,
                    "      offload in {}, out {}",
                    offload_text(child.offload_in, child.offload_in_device.as_deref()),
                    offload_text(child.offload_out, child.offload_out_device.as_deref())
                );
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    /// A snapshot with every kind of field: an established connection (with the failure of
    /// its last outage), one whose CHILD_SA was refused, and a failed one.
    pub(crate) fn sample() -> StatusSnapshot {
        StatusSnapshot {
            schema: STATUS_SCHEMA,
            daemon: DaemonStatus {
                uptime_s: 3725,
                dataplane: "recording".into(),
                counters: Counters {
                    dropped_malformed: 7,
                    dropped_bad_marker: 2,
                    ..Counters::default()
                },
                certificate: None,
            },
            connections: vec![
                ConnectionStatus {
                    name: "office".into(),
                    state: ConnectionState::Established,
                    peer_address: Some("198.51.100.20:4500".into()),
                    remote_name: None,
                    local_subnets: vec![net("172.16.0.0/16")],
                    remote_subnets: vec![net("192.168.10.0/24")],
                    last_error: Some("the peer stopped answering".into()),
                    last_error_at: Some("2026-12-07T11:48:02Z".into()),
                    last_error_s: Some(180),
                    last_error_by: None,
                    previous_error: None,
                    previous_error_at: None,
                    previous_error_s: None,
                    previous_error_by: None,
                    interface: Some("ikh-office".into()),
                    if_id: Some(7),
                    ike_sas: vec![IkeSaStatus {
                        state: ConnectionState::Established,
                        version: 2,
                        mode: None,
                        initiator: true,
                        local: "203.0.113.1:4500".parse().expect("address"),
                        remote: "198.51.100.20:4500".parse().expect("address"),
                        local_id: Some("203.0.113.1".into()),
                        remote_id: Some("office.example.org".into()),
                        auth: Some("psk".into()),
                        remote_auth: Some("psk".into()),
                        peer_certificate: None,
                        spi_i: IkeSpi(0x0123_4567_89ab_cdef),
                        spi_r: IkeSpi(0xfedc_ba98_7654_3210),
                        algorithms: Some("aes128gcm16-prfsha256-ecp256".into()),
                        established_s: Some(61),
                        nat: NatStatus {
                            local_behind: false,
                            remote_behind: true,
                        },
                        rekey_in_s: None,
                        children: vec![
                            ChildSaStatus {
                                reqid: 0x4000_0000,
                                spi_in: EspSpi(0xc1a2_b3c4),
                                spi_out: EspSpi(0xd5e6_f708),
                                algorithms: "aes128gcm16".into(),
                                mode: Some("tunnel".into()),
                                pfs_group: None,
                                local_ts: vec!["172.16.0.0/16".parse().expect("selector")],
                                remote_ts: vec!["192.168.10.0/24[6/443]"
                                    .parse()
                                    .expect("selector")],
                                bytes_in: Some(1500),
                                packets_in: Some(3),
                                bytes_out: None,
                                packets_out: None,
                                offload_in: Some(OffloadMode::Crypto),
                                offload_in_device: Some("eth1".into()),
                                offload_out: None,
                                offload_out_device: None,
                                established_s: 60,
                                rekey_in_s: Some(3000),
                                expires_in_s: Some(3900),
                            },
                            // Being replaced: a rekey made with PFS.
                            ChildSaStatus {
                                reqid: 0x4000_0001,
                                spi_in: EspSpi(0xc1a2_b3c5),
                                spi_out: EspSpi(0xd5e6_f709),
                                algorithms: "aes256-sha256-modp2048-esn".into(),
                                mode: Some("tunnel".into()),
                                pfs_group: Some("modp2048".into()),
                                local_ts: vec!["172.16.0.0/16".parse().expect("selector")],
                                remote_ts: vec!["192.168.11.0/24".parse().expect("selector")],
                                bytes_in: None,
                                packets_in: None,
                                bytes_out: None,
                                packets_out: None,
                                offload_in: None,
                                offload_in_device: None,
                                offload_out: None,
                                offload_out_device: None,
                                established_s: 3500,
                                rekey_in_s: None,
                                expires_in_s: Some(460),
                            },
                        ],
                    }],
                },
                ConnectionStatus {
                    name: "lab".into(),
                    state: ConnectionState::NoChildSa,
                    peer_address: Some("198.51.100.30:500".into()),
                    remote_name: None,
                    local_subnets: vec![net("172.16.0.0/16")],
                    remote_subnets: vec![net("10.8.0.0/16")],
                    last_error: Some(
                        "negotiation failed: IKE_AUTH: the peer refused with TS_UNACCEPTABLE"
                            .into(),
                    ),
                    last_error_at: Some("2026-12-07T11:50:57Z".into()),
                    last_error_s: Some(5),
                    last_error_by: None,
                    previous_error: None,
                    previous_error_at: None,
                    previous_error_s: None,
                    previous_error_by: None,
                    interface: None,
                    if_id: None,
                    ike_sas: vec![IkeSaStatus {
                        state: ConnectionState::NoChildSa,
                        version: 2,
                        mode: None,
                        initiator: true,
                        local: "203.0.113.1:500".parse().expect("address"),
                        remote: "198.51.100.30:500".parse().expect("address"),
                        local_id: Some("hub.example.org".into()),
                        remote_id: None,
                        auth: Some("psk".into()),
                        remote_auth: Some("psk".into()),
                        peer_certificate: None,
                        spi_i: IkeSpi(0x1111_2222_3333_4444),
                        spi_r: IkeSpi(0x5555_6666_7777_8888),
                        algorithms: Some("aes128gcm16-prfsha256-ecp256".into()),
                        established_s: Some(5),
                        nat: NatStatus {
                            local_behind: false,
                            remote_behind: false,
                        },
                        rekey_in_s: Some(14_000),
                        children: vec![],
                    }],
                },
                ConnectionStatus {
                    name: "branch".into(),
                    state: ConnectionState::Down,
                    peer_address: None,
                    remote_name: None,
                    local_subnets: vec![net("172.16.0.0/16")],
                    remote_subnets: vec![net("10.9.0.0/16")],
                    last_error: Some("authentication failed: AUTH payload mismatch".into()),
                    last_error_at: Some("2026-12-07T11:50:59Z".into()),
                    last_error_s: Some(3),
                    last_error_by: None,
                    previous_error: None,
                    previous_error_at: None,
                    previous_error_s: None,
                    previous_error_by: None,
                    ike_sas: vec![],
                    interface: None,
                    if_id: None,
                },
            ],
        }
    }

    #[test]
    fn human_form_shows_every_field() {
        let text = render(&sample());
        for expected in [
            "daemon: up 1h2m5s, dataplane recording",
            "7 malformed",
            "2 bad non-ESP marker",
            "office: established, peer 198.51.100.20:4500",
            "subnets: 172.16.0.0/16 === 192.168.10.0/24",
            "interface: ikh-office (if_id 7)",
            "IKE SA established 1m1s ago (initiator): 203.0.113.1:4500 -> 198.51.100.20:4500, spi 0123456789abcdef_i fedcba9876543210_r, aes128gcm16-prfsha256-ecp256",
            "\n    ids: 203.0.113.1 -> office.example.org, auth psk\n",
            "the peer is behind a NAT, no rekey scheduled",
            "CHILD_SA reqid 1073741824, tunnel mode: spi in c1a2b3c4 out d5e6f708, aes128gcm16, no PFS, established 1m0s ago, rekey in 50m0s, expires in 1h5m0s\n",
            "CHILD_SA reqid 1073741825, tunnel mode: spi in c1a2b3c5 out d5e6f709, aes256-sha256-esn, PFS modp2048, established 58m20s ago, expires in 7m40s\n",
            "172.16.0.0/16 === 192.168.10.0/24[6/443]",
            "in 1500 bytes/3 packets, out n/a",
            "offload in crypto on eth1, out n/a",
            "last error (2026-12-07T11:48:02Z, 3m0s ago): the peer stopped answering",
            "lab: no-child-sa (IKE SA up, no traffic protected), peer 198.51.100.30:500",
            "last error (2026-12-07T11:50:57Z, 5s ago): negotiation failed: IKE_AUTH: the peer refused with TS_UNACCEPTABLE",
            "IKE SA no-child-sa (initiator), authenticated 5s ago: 203.0.113.1:500 -> 198.51.100.30:500",
            "\n    ids: hub.example.org -> peer not identified yet, auth psk\n",
            "branch: down, peer any",
            "last error (2026-12-07T11:50:59Z, 3s ago): authentication failed: AUTH payload mismatch",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    /// No word twice in a row, and no label repeating its section's name ("CHILD_SA
    /// CHILD_SA", "IKE SA established (initiator), established 1m ago").
    #[test]
    fn human_form_says_each_thing_once() {
        let mut snapshot = sample();
        // Every state an IKE SA line can show.
        let mut connecting = snapshot.connections[1].ike_sas[0].clone();
        connecting.state = ConnectionState::Connecting;
        connecting.established_s = None;
        connecting.algorithms = None;
        let mut deleting = snapshot.connections[0].ike_sas[0].clone();
        deleting.state = ConnectionState::Deleting;
        snapshot.connections[1]
            .ike_sas
            .extend([connecting, deleting]);
        let mut v1 = snapshot.connections[0].ike_sas[0].clone();
        v1.version = 1;
        v1.mode = Some("Main Mode".into());
        snapshot.connections[0].ike_sas.push(v1);
        let text = render(&snapshot);
        assert!(text.contains("\n  IKEv1 SA established 1m1s ago (initiator, Main Mode): "));
        assert!(text.contains("\n  IKE SA connecting (initiator), not authenticated yet: "));
        assert!(text.contains("\n  IKE SA deleting (initiator), authenticated 1m1s ago: "));
        for line in text.lines() {
            let words: Vec<String> = line
                .split(|c: char| c.is_whitespace() || ",:;()".contains(c))
                .filter(|w| !w.is_empty())
                .map(str::to_lowercase)
                .collect();
            for pair in words.windows(2) {
                assert_ne!(pair[0], pair[1], "{line:?}");
            }
            // A state, an age or a label said twice on one line.
            for word in [
                "established",
                "authenticated",
                "ago",
                "child_sa",
                "sa",
                "sent",
                "resent",
                "ids",
                "auth",
                "mode",
                "pfs",
                "modp2048",
            ] {
                let count = words.iter().filter(|w| *w == word).count();
                assert!(count <= 1, "{word:?} {count} times in {line:?}");
            }
        }
    }

    #[test]
    fn child_algorithms_text_shows_the_pfs_group_once() {
        let child = |algorithms: &str, pfs_group: Option<&str>, mode: Option<&str>| ChildSaStatus {
            algorithms: algorithms.into(),
            pfs_group: pfs_group.map(Into::into),
            mode: mode.map(Into::into),
            ..sample().connections[0].ike_sas[0].children[0].clone()
        };
        let tunnel = Some("tunnel");
        assert_eq!(
            child_algorithms_text(&child("aes256-sha256-ecp256-esn", Some("ecp256"), tunnel)),
            "aes256-sha256-esn, PFS ecp256"
        );
        assert_eq!(
            child_algorithms_text(&child("aes128gcm16-curve25519", Some("curve25519"), tunnel)),
            "aes128gcm16, PFS curve25519"
        );
        assert_eq!(
            child_algorithms_text(&child("aes128gcm16", None, tunnel)),
            "aes128gcm16, no PFS"
        );
        // From a daemon that did not say: the suite as it came.
        assert_eq!(
            child_algorithms_text(&child("aes256-sha256-modp2048", None, None)),
            "aes256-sha256-modp2048"
        );
    }

    /// `ikehub status | grep established` finds the tunnels that carry traffic, and no
    /// connection without a CHILD_SA.
    #[test]
    fn only_connections_with_a_child_sa_say_established() {
        let text = render(&sample());
        let mut connection = "";
        for line in text.lines().filter(|l| l.contains("established")) {
            if !line.starts_with(' ') {
                connection = line;
            }
            assert!(
                !line.contains("no-child-sa") && !line.starts_with("lab:"),
                "{line:?} in\n{text}"
            );
        }
        assert!(connection.starts_with("office: established"), "{text}");
        let lab = text
            .split("\n\n")
            .find(|block| block.starts_with("lab:"))
            .expect("lab's block");
        assert!(!lab.contains("established"), "{lab}");
    }

    #[test]
    fn connection_states_put_a_child_sa_first() {
        use ConnectionState::*;
        assert_eq!(ConnectionState::of(SaState::Established, 1), Established);
        assert_eq!(ConnectionState::of(SaState::Established, 0), NoChildSa);
        assert_eq!(ConnectionState::of(SaState::AuthSent, 0), Connecting);
        assert_eq!(ConnectionState::of(SaState::Deleting, 1), Deleting);
        let mut states = [Established, Down, NoChildSa, Deleting, Connecting];
        states.sort();
        assert_eq!(
            states,
            [Down, Connecting, Deleting, NoChildSa, Established],
            "worst to best"
        );
        let names: Vec<&str> = states.iter().map(|s| s.name()).collect();
        let json: Vec<String> = states
            .iter()
            .map(|s| serde_json::to_value(s).expect("state").to_string())
            .collect();
        assert_eq!(
            names,
            [
                "down",
                "connecting",
                "deleting",
                "no-child-sa",
                "established"
            ]
        );
        assert_eq!(
            json,
            names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_last_error_without_its_time_still_shows() {
        // As an older daemon sends it: no `last_error_at` or `last_error_s`.
        let mut json = serde_json::to_value(sample()).expect("serialise");
        let branch = json["connections"][2].as_object_mut().expect("branch");
        branch.remove("last_error_at");
        branch.remove("last_error_s");
        let snapshot: StatusSnapshot = serde_json::from_value(json).expect("deserialise");
        assert_eq!(snapshot.connections[2].last_error_at, None);
        let text = render(&snapshot);
        assert!(
            text.contains("\n  last error: authentication failed: AUTH payload mismatch\n"),
            "{text}"
        );
    }

    #[test]
    fn when_text_shows_what_is_known() {
        assert_eq!(
            when_text(Some("2026-12-07T11:50:02Z"), Some(3725)),
            " (2026-12-07T11:50:02Z, 1h2m5s ago)"
        );
        assert_eq!(when_text(None, Some(0)), " (0s ago)");
        assert_eq!(
            when_text(Some("2026-12-07T11:50:02Z"), None),
            " (2026-12-07T11:50:02Z)"
        );
        assert_eq!(when_text(None, None), "");
    }

    #[test]
    fn json_round_trips_with_documented_names() {
        let snapshot = sample();
        let json = serde_json::to_value(&snapshot).expect("serialise");
        let conn = &json["connections"][0];
        assert_eq!(conn["state"], "established");
        assert_eq!(conn["ike_sas"][0]["spi_i"], "0123456789abcdef");
        assert_eq!(conn["ike_sas"][0]["local"], "203.0.113.1:4500");
        assert_eq!(conn["ike_sas"][0]["children"][0]["spi_out"], "d5e6f708");
        assert_eq!(
            conn["ike_sas"][0]["children"][0]["remote_ts"][0],
            "192.168.10.0/24[6/443]"
        );
        assert_eq!(conn["ike_sas"][0]["rekey_in_s"], serde_json::Value::Null);
        assert_eq!(conn["ike_sas"][0]["nat"]["remote_behind"], true);
        assert_eq!(conn["ike_sas"][0]["children"][0]["bytes_in"], 1500);
        assert_eq!(conn["ike_sas"][0]["children"][0]["offload_in"], "crypto");
        assert_eq!(
            conn["ike_sas"][0]["children"][0]["offload_in_device"],
            "eth1"
        );
        assert_eq!(
            conn["ike_sas"][0]["children"][0]["offload_out"],
            serde_json::Value::Null
        );
        assert_eq!(conn["local_subnets"][0], "172.16.0.0/16");
        assert_eq!(conn["last_error"], "the peer stopped answering");
        assert_eq!(conn["last_error_at"], "2026-12-07T11:48:02Z");
        assert_eq!(conn["last_error_s"], 180);
        let lab = &json["connections"][1];
        assert_eq!(lab["state"], "no-child-sa");
        assert_eq!(lab["ike_sas"][0]["state"], "no-child-sa");
        assert_eq!(lab["ike_sas"][0]["children"], serde_json::json!([]));
        assert_eq!(json["connections"][2]["state"], "down");
        assert_eq!(conn["interface"], "ikh-office");
        assert_eq!(conn["if_id"], 7);
        assert_eq!(json["connections"][2]["interface"], serde_json::Value::Null);
        assert_eq!(json["connections"][2]["if_id"], serde_json::Value::Null);
        assert_eq!(json["daemon"]["counters"]["dropped_malformed"], 7);
        let sa = &conn["ike_sas"][0];
        assert_eq!(sa["local_id"], "203.0.113.1");
        assert_eq!(sa["remote_id"], "office.example.org");
        assert_eq!(sa["auth"], "psk");
        assert_eq!(lab["ike_sas"][0]["remote_id"], serde_json::Value::Null);
        let (child, rekeyed) = (&sa["children"][0], &sa["children"][1]);
        assert_eq!(child["mode"], "tunnel");
        assert_eq!(child["pfs_group"], serde_json::Value::Null);
        assert_eq!(child["expires_in_s"], 3900);
        assert_eq!(rekeyed["pfs_group"], "modp2048");
        assert_eq!(rekeyed["rekey_in_s"], serde_json::Value::Null);
        assert_eq!(rekeyed["expires_in_s"], 460);
        let back: StatusSnapshot = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, snapshot);
    }

    #[test]
    fn json_starts_with_its_schema() {
        let json = String::from_utf8(to_json(&sample()).expect("json")).expect("utf-8");
        assert!(
            json.starts_with("{\n  \"schema\": 1,\n  \"daemon\": {"),
            "{json}"
        );
        // A daemon older than the field: the snapshot still reads, as schema 0.
        let mut value = serde_json::to_value(sample()).expect("serialise");
        value.as_object_mut().expect("object").remove("schema");
        let old: StatusSnapshot = serde_json::from_value(value).expect("deserialise");
        assert_eq!(old.schema, 0);
    }

    #[test]
    fn finish_fills_offload_from_the_kernels_answer() {
        let mut snapshot = sample();
        snapshot.connections[0].ike_sas[0].children[0].offload_in = None;
        snapshot.connections[0].ike_sas[0].children[0].offload_in_device = None;
        let pending = PendingStatus {
            snapshot,
            counter_keys: Vec::new(),
        };
        let finished = pending.finish(Some(vec![
            Some(SaCounters {
                bytes: 10,
                packets: 1,
                offload: OffloadMode::Crypto,
                offload_device: Some("eni0np1".into()),
            }),
            Some(SaCounters::default()),
        ]));
        let child = &finished.connections[0].ike_sas[0].children[0];
        assert_eq!(child.offload_in, Some(OffloadMode::Crypto));
        assert_eq!(child.offload_in_device.as_deref(), Some("eni0np1"));
        assert_eq!(child.offload_out, Some(OffloadMode::None));
        assert_eq!(child.offload_out_device, None);
        assert!(render(&finished).contains("offload in crypto on eni0np1, out none"));
    }
}
