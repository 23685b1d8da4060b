//! A peer that still holds an IKE SA with us that we no longer have (we restarted, or were
//! killed) goes on using it: its requests name SPIs we do not know. We answer them with
//! INVALID_IKE_SPI (RFC 7296 2.21.4), but that answer is unauthenticated and peers may ignore
//! it (strongSwan 5.9 does): such a peer sees the tunnel dead only when its liveness checks
//! give up, minutes later, and a peer that initiates only then brings it back.
//!
//! A connection that only listens would wait all that time. So when its configured peer
//! address sends requests for an IKE SA we do not have, and the connection holds no SA at
//! all, we initiate it once, with INITIAL_CONTACT (we hold no SA with the peer), which tells
//! the peer to drop its stale SAs for the new one. At most once per [`ATTEMPT_INTERVAL`] per
//! connection, and only to the address the configuration names, never to where a datagram
//! claims to come from: a spoofed request makes us talk only to a peer we would talk to
//! anyway.
//!
//! A request on an IKE SA this run removed itself is no such sign: after our Delete, a peer
//! may retransmit a request it sent before (its own Delete, whose answer was lost). So the
//! SPIs of SAs we removed are remembered for [`GONE_MEMORY`] (a peer's retransmissions end
//! within that), at most [`GONE_CAPACITY`] of them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::context::Context;
use super::engine::Engine;
use super::ConnId;

/// Least time between two such initiations of one connection.
pub const ATTEMPT_INTERVAL: Duration = Duration::from_secs(30);

/// Addresses noted per input at most (a datagram brings one; the bound is for safety).
const MAX_NOTED: usize = 16;

/// How long the SPI of an IKE SA we removed is remembered: longer than a peer retransmits
/// (165 s on strongSwan's and our default schedule).
pub const GONE_MEMORY: Duration = Duration::from_secs(180);

/// SPIs remembered at most (16 bytes each, twice): a hub stopping 10,000 tunnels at once
/// forgets the oldest first.
pub const GONE_CAPACITY: usize = 16_384;

impl Context {
    /// A request arrived for an IKE SA we do not have; `our_spi` is the SPI it names as ours.
    pub(in crate::ike) fn note_stale_peer(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        our_spi: u64,
    ) {
        self.forget_gone(now);
        if self.gone_spi_set.contains(&our_spi) {
            return;
        }
        if self.stale_peers.len() < MAX_NOTED {
            self.stale_peers.push(remote);
        }
    }

    /// An IKE SA of ours was removed.
    pub(super) fn remember_gone(&mut self, now: Instant, our_spi: u64) {
        if our_spi == 0 {
            return;
        }
        self.forget_gone(now);
        if self.gone_spis.len() >= GONE_CAPACITY {
            if let Some((oldest, _)) = self.gone_spis.pop_front() {
                self.gone_spi_set.remove(&oldest);
            }
        }
        if self.gone_spi_set.insert(our_spi) {
            self.gone_spis.push_back((our_spi, now));
        }
    }

    fn forget_gone(&mut self, now: Instant) {
        while let Some(&(spi, at)) = self.gone_spis.front() {
            if now.saturating_duration_since(at) < GONE_MEMORY {
                break;
            }
            self.gone_spis.pop_front();
            self.gone_spi_set.remove(&spi);
        }
    }
}

impl Engine {
    /// Initiate the listening connections whose peers hold a stale IKE SA with us.
    pub(super) fn reestablish_for_stale_peers(&mut self, now: Instant) {
        for remote in std::mem::take(&mut self.cx.stale_peers) {
            let candidates: Vec<ConnId> = self.cx.conn_index.by_address(remote.ip()).collect();
            for conn in candidates {
                if !self.may_reestablish(now, conn, remote) {
                    continue;
                }
                self.cx.stale_peer_attempts.insert(conn, now);
                let name = self
                    .connection(conn)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                info!(
                    connection = name.as_str(),
                    peer = %remote,
                    "the peer uses an IKE SA we do not have (lost in a restart): initiating with INITIAL_CONTACT so that it replaces it"
                );
                if let Err(e) = self.initiate(now, conn) {
                    debug!(conn = self.cx.conn_name(conn), "cannot initiate: {e}");
                }
            }
        }
    }

    fn may_reestablish(&self, now: Instant, conn: ConnId, remote: SocketAddr) -> bool {
        let Some(settings) = self.connection(conn) else {
            return false;
        };
        // Connections that initiate or trap come back by their own start and close actions.
        let listens = !settings.initiate && !settings.trap;
        let named_peer = settings.remote_addr == Some(remote.ip());
        let recently = self
            .cx
            .stale_peer_attempts
            .get(&conn)
            .is_some_and(|at| now.saturating_duration_since(*at) < ATTEMPT_INTERVAL);
        listens
            && named_peer
            && !recently
            && !self.cx.stopping
            && !self.cx.held_down.contains(&conn)
            && !self.cx.sas_of.contains_key(&conn)
    }
}
