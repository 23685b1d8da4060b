//! Peers given by a DNS name. The engine does no I/O, so it does not resolve names: before it
//! initiates to a named peer it asks the driver for the name's address
//! ([`Engine::poll_resolve`]) and waits; the driver answers with [`Engine::peer_resolved`],
//! and the initiation goes on to that address. Every initiation asks again (the first, each
//! retry, a restart after the peer was found dead), so a peer that moved is followed.
//!
//! The address resolved last is the connection's address in use: the one responder lookups
//! match an incoming IKE SA by (see [`ConnectionSettings::accepts_address`]), until the next
//! resolution moves it. Before any resolution the connection accepts no address. A
//! connection that only listens never initiates, so it asks for the address when it starts,
//! when its peer is found dead, and again every [`LISTEN_REFRESH`] (every
//! [`LISTEN_RETRY`] while the name does not resolve), to accept its peer where it moved.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::context::Context;
use super::engine::Engine;
use super::error::Error;
use super::output::{ConnId, SaId};
use super::sa::SaState;
use super::settings::ConnectionSettings;

/// A name the driver should resolve for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRequest {
    pub conn: ConnId,
    pub name: String,
    /// Our address for the connection: the peer's address must be of its family.
    pub local: IpAddr,
}

/// How long a listening connection uses a resolved address before it asks again.
pub const LISTEN_REFRESH: Duration = Duration::from_secs(300);
/// How long a listening connection waits to ask again after a failed resolution.
pub const LISTEN_RETRY: Duration = Duration::from_secs(30);

/// Resolutions asked for and not answered yet, and the next ones of listening connections.
#[derive(Debug, Default)]
pub(super) struct Resolutions {
    queue: VecDeque<ResolveRequest>,
    /// Connections with a resolution under way, with the name asked for, and whether the
    /// answer starts an initiation: one at a time each (a reload that changes the name asks
    /// anew).
    pending: HashMap<(ConnId, String), bool>,
    /// When each listening connection asks again; entries of the heap that no longer match
    /// this are stale and skipped.
    refresh_at: HashMap<ConnId, Instant>,
    refresh_due: BinaryHeap<Reverse<(Instant, ConnId)>>,
}

impl Resolutions {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.refresh_due.peek().map(|Reverse((at, _))| *at)
    }

    fn refresh_later(&mut self, conn: ConnId, at: Instant) {
        self.refresh_at.insert(conn, at);
        self.refresh_due.push(Reverse((at, conn)));
    }

    fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        while let Some(Reverse((at, conn))) = self.refresh_due.peek().copied() {
            if at > now {
                return None;
            }
            self.refresh_due.pop();
            if self.refresh_at.get(&conn) == Some(&at) {
                self.refresh_at.remove(&conn);
                return Some(conn);
            }
        }
        None
    }
}

impl Context {
    /// Ask the driver for the address of the connection's peer. With `initiate`, an
    /// initiation continues in [`Engine::peer_resolved`]; without, the answer only moves the
    /// address the connection accepts its peer from. Returns the error that tells an
    /// initiation's caller to wait.
    pub(super) fn resolve_peer(
        &mut self,
        conn: ConnId,
        settings: &ConnectionSettings,
        name: &str,
        initiate: bool,
    ) -> Error {
        let key = (conn, name.to_owned());
        match self.resolutions.pending.get_mut(&key) {
            // Under way: an initiation waits for the same answer.
            Some(initiates) => *initiates |= initiate,
            None => {
                debug!(
                    connection = settings.name.as_str(),
                    "resolving the peer's name {name}"
                );
                self.resolutions.pending.insert(key, initiate);
                self.resolutions.queue.push_back(ResolveRequest {
                    conn,
                    name: name.to_owned(),
                    local: settings.local_addr,
                });
            }
        }
        Error::Resolving(name.to_owned())
    }

    /// A listening connection with a named peer learns its address (at start, or when its
    /// peer was found dead): see the module's documentation.
    pub(super) fn refresh_peer_address(&mut self, conn: ConnId) {
        let Some(settings) = self.shared_connection(conn) else {
            return;
        };
        if let Some(name) = &settings.remote_name {
            if !settings.initiate {
                self.resolve_peer(conn, &settings, name, false);
            }
        }
    }

    /// Make `addr` the connection's address in use: responder lookups find it there from now.
    fn use_peer_address(&mut self, conn: ConnId, addr: IpAddr) {
        let Some(current) = self.shared_connection(conn) else {
            return;
        };
        if current.remote_addr == Some(addr) {
            return;
        }
        let mut updated = ConnectionSettings::clone(&current);
        updated.remote_addr = Some(addr);
        self.conn_index
            .move_address(conn, current.remote_addr, addr);
        if let Some(slot) = self.connections.get_mut(conn.0 as usize) {
            *slot = Some(Arc::new(updated));
        }
    }
}

impl Engine {
    /// A peer name to resolve, for the driver: it answers each with [`Engine::peer_resolved`],
    /// without blocking its loop (the engine goes on meanwhile).
    pub fn poll_resolve(&mut self) -> Option<ResolveRequest> {
        self.cx.resolutions.queue.pop_front()
    }

    /// Start a new IKE SA for a connection (RFC 7296 1.2), or, for a peer given by a name,
    /// ask for its address first: then `Err(Error::Resolving)`, which is no failure, and the
    /// IKE SA starts once the driver answers.
    pub fn initiate(&mut self, now: Instant, conn: ConnId) -> Result<SaId, Error> {
        let Some(settings) = self.cx.shared_connection(conn) else {
            return Err(Error::UnknownConnection(format!("#{}", conn.0)));
        };
        match &settings.remote_name {
            Some(name) => Err(self.cx.resolve_peer(conn, &settings, name, true)),
            None => self.initiate_to_peer(now, conn),
        }
    }

    /// The driver's answer to a [`ResolveRequest`] of the connection: the address chosen,
    /// or why there is none. With an address, the connection uses it and, if the request was
    /// an initiation's, initiates (unless it was taken down or its peer initiated
    /// meanwhile); without one, an initiation is tried again later as after any failed one
    /// (`close_action = "restart"`: with backoff). The driver logs the resolution and records
    /// its failure: the engine has no words of its own for the resolver's errors.
    pub fn peer_resolved(
        &mut self,
        now: Instant,
        conn: ConnId,
        name: &str,
        result: Result<IpAddr, String>,
    ) {
        let initiate = self
            .cx
            .resolutions
            .pending
            .remove(&(conn, name.to_owned()))
            .unwrap_or(false);
        // A reload may have removed the connection or changed its peer since the question.
        let Some(settings) = self
            .cx
            .shared_connection(conn)
            .filter(|c| c.remote_name.as_deref() == Some(name))
        else {
            debug!(
                conn = self.cx.conn_name(conn),
                "resolution of {name} no longer needed"
            );
            return;
        };
        if !settings.initiate && !settings.trap {
            let next = if result.is_ok() {
                LISTEN_REFRESH
            } else {
                LISTEN_RETRY
            };
            self.cx.resolutions.refresh_later(conn, now + next);
        }
        let addr = match result {
            Ok(addr) => addr,
            Err(why) => {
                if initiate {
                    let why = format!("cannot resolve peer address {name}: {why}");
                    self.cx.schedule_restart(now, conn, &why);
                }
                return;
            }
        };
        self.cx.use_peer_address(conn, addr);
        if !initiate || self.cx.stopping || self.cx.held_down.contains(&conn) {
            return;
        }
        // The peer may have initiated while we waited: that IKE SA stands.
        let live = self.cx.sas_of.get(&conn).is_some_and(|ids| {
            ids.iter()
                .filter_map(|id| self.sa(*id))
                .any(|sa| sa.state != SaState::Deleting)
        });
        if live {
            info!(
                connection = settings.name.as_str(),
                "not initiating to {addr}: an IKE SA with the peer came up meanwhile"
            );
            return;
        }
        if let Err(e) = self.initiate_to_peer(now, conn) {
            info!(
                connection = settings.name.as_str(),
                "cannot initiate to {addr}: {e}"
            );
        }
    }

    /// Listening connections whose next resolution is due ask for it.
    pub(super) fn refresh_due_addresses(&mut self, now: Instant) {
        if self.cx.stopping {
            return;
        }
        while let Some(conn) = self.cx.resolutions.pop_due(now) {
            self.cx.refresh_peer_address(conn);
        }
    }
}
