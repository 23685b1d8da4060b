//! Trap policies (`start_action = "trap"`), strongSwan's on-demand tunnels: while a connection
//! has no CHILD_SA, its policies stay installed without SAs, so the kernel raises an ACQUIRE
//! (XFRM_MSG_ACQUIRE, with the policy template's reqid) for the first packet that matches one
//! (RFC 4301 5.2, an SPD entry whose SA is created on demand). The engine then initiates the
//! connection; its CHILD_SA is installed with the trap's reqid, so it takes over the very
//! policies that caught the packet (the kernel updates existing policies). When the CHILD_SA
//! goes, the policies stay and are brought back to the trap's template: the next packet
//! triggers again.
//!
//! One trap per connection, with one reqid reserved for it for as long as the connection
//! keeps its settings. A trap taken back (its connection removed or changed by a reload)
//! while a CHILD_SA still uses its reqid is retired: its policies go with that CHILD_SA, so
//! traffic is not sent in the clear while the peer acknowledges the delete.

use std::time::Instant;

use tracing::{debug, info};

use super::context::Context;
use super::engine::Engine;
use super::error::{Error, KernelFailure};
use super::output::{ConnId, Event, IntentId, KernelIntent, SaId, TrapPolicies};
use super::sa::{ChildSa, RequestKind, SaState};
use super::selector;

/// A connection's trap.
pub(super) struct Trap {
    pub policies: TrapPolicies,
    /// The kernel confirmed the policies (status shows the connection as trapped while it has
    /// no IKE SA).
    pub installed: bool,
    /// The IKE SA the last ACQUIRE started, so that more ACQUIREs during its negotiation
    /// start no other.
    pub initiated: Option<SaId>,
}

impl Context {
    /// Installs the trap of `conn` (or brings its policies back to the trap's template):
    /// reserves the connection's trap reqid on first use and queues
    /// [`KernelIntent::InstallTrap`]. For `start_action = "trap"` at start and reload, and
    /// after the CHILD_SA of a trapped connection went away.
    pub(super) fn install_trap(&mut self, conn: ConnId) -> Result<(), Error> {
        let settings = self
            .shared_connection(conn)
            .ok_or_else(|| Error::UnknownConnection(format!("#{}", conn.0)))?;
        let Some(remote) = settings.remote_addr else {
            return Err(Error::UnknownConnection(format!(
                "{}: the peer address is 'any', so its policies name no tunnel end to trap",
                settings.name
            )));
        };
        let reqid = match self.trap_of.get(&conn) {
            Some(&reqid) => reqid,
            None => {
                let reqid = self.new_reqid();
                self.trap_of.insert(conn, reqid);
                reqid
            }
        };
        let policies = TrapPolicies {
            conn,
            reqid,
            local: settings.local_addr,
            remote,
            local_selectors: settings.local_subnets.clone(),
            remote_selectors: settings.remote_subnets.clone(),
            if_id: settings.if_id,
        };
        let trap = self.traps.entry(reqid).or_insert_with(|| Trap {
            policies: policies.clone(),
            installed: false,
            initiated: None,
        });
        trap.policies = policies.clone();
        let id = self.new_intent_id();
        self.pending_traps.insert(id, reqid);
        self.emit_intent(KernelIntent::InstallTrap {
            id,
            trap: Box::new(policies),
        });
        Ok(())
    }

    /// Takes the trap of `conn` back: its policies are removed now, or, while a CHILD_SA
    /// still uses its reqid, together with that CHILD_SA (see [`Self::release_trap`]).
    pub(super) fn remove_trap(&mut self, conn: ConnId) {
        let Some(reqid) = self.trap_of.remove(&conn) else {
            return;
        };
        if self.reqid_owners.contains_key(&reqid) {
            debug!(
                conn = self.conn_name(conn),
                reqid, "trap retired: its policies go with its CHILD_SA"
            );
            return;
        }
        if let Some(trap) = self.traps.remove(&reqid) {
            self.emit_remove_trap(trap.policies);
        }
    }

    fn emit_remove_trap(&mut self, policies: TrapPolicies) {
        let id = self.new_intent_id();
        self.emit_intent(KernelIntent::RemoveTrap {
            id,
            trap: Box::new(policies),
        });
    }

    /// The reqid a new CHILD_SA of `conn` (not a rekey) is installed with when the
    /// connection has a trap no other CHILD_SA holds: it takes over the trap's policies.
    pub(super) fn free_trap_reqid(&self, conn: ConnId) -> Option<u32> {
        self.trap_of
            .get(&conn)
            .copied()
            .filter(|reqid| !self.reqid_owners.contains_key(reqid))
    }

    /// Whether the connection's trap has policies for every selector pair of `child`, which
    /// may therefore stay in the kernel when it goes.
    pub(super) fn trap_covers(&self, conn: ConnId, child: &ChildSa) -> bool {
        let Some(trap) = self
            .trap_of
            .get(&conn)
            .and_then(|reqid| self.traps.get(reqid))
        else {
            return false;
        };
        let (local, remote) = (
            &trap.policies.local_selectors,
            &trap.policies.remote_selectors,
        );
        let covered = |nets: &[ipnet::IpNet], net: &ipnet::IpNet| {
            nets.iter().any(|n| n.trunc() == net.trunc())
        };
        selector::prefixes(&child.local_ts)
            .iter()
            .all(|l| covered(local, l))
            && selector::prefixes(&child.remote_ts)
                .iter()
                .all(|r| covered(remote, r))
    }

    /// After the last CHILD_SA of `reqid` left the kernel: a trap of the connection is put
    /// back (its policies stayed or come back, so the next packet initiates again), and a
    /// trap retired meanwhile loses its policies.
    pub(super) fn release_trap(&mut self, conn: ConnId, reqid: u32) {
        let retired = self
            .traps
            .get(&reqid)
            .is_some_and(|trap| self.trap_of.get(&trap.policies.conn) != Some(&reqid));
        if retired {
            if let Some(trap) = self.traps.remove(&reqid) {
                self.emit_remove_trap(trap.policies);
            }
        }
        if self.trap_of.contains_key(&conn) {
            if let Err(e) = self.install_trap(conn) {
                debug!(conn = self.conn_name(conn), "trap not put back: {e}");
            }
        }
    }

    /// The kernel's answer to a trap intent; `None` when `id` was no trap's.
    pub(super) fn trap_result(
        &mut self,
        id: IntentId,
        result: &Result<(), KernelFailure>,
    ) -> Option<()> {
        let reqid = self.pending_traps.remove(&id)?;
        let trap = self.traps.get_mut(&reqid)?;
        let conn = trap.policies.conn;
        match result {
            Ok(()) => {
                if !trap.installed {
                    trap.installed = true;
                    let name = self.connection(conn).map(|c| c.name.clone());
                    info!(
                        "{}: trap policies installed (reqid {reqid}): the first packet initiates",
                        name.unwrap_or_default()
                    );
                }
            }
            Err(failure) => {
                trap.installed = false;
                self.emit_event(Event::TrapFailed {
                    conn,
                    failure: failure.clone(),
                });
            }
        }
        Some(())
    }
}

impl Engine {
    /// Installs the trap of a connection (see [`Context::install_trap`]), to be triggered by
    /// traffic.
    pub fn trap(&mut self, conn: ConnId) -> Result<(), Error> {
        self.cx.install_trap(conn)
    }

    /// Whether the kernel holds the connection's trap policies; without an IKE SA, the
    /// connection then waits for traffic.
    pub fn trapped(&self, conn: ConnId) -> bool {
        self.cx
            .trap_of
            .get(&conn)
            .and_then(|reqid| self.cx.traps.get(reqid))
            .is_some_and(|trap| trap.installed)
    }

    /// An ACQUIRE for `reqid` that no CHILD_SA holds: when it is a trap's, the connection is
    /// initiated, once for as long as that negotiation runs.
    pub(super) fn acquire_trap(&mut self, now: Instant, reqid: u32) {
        let Some(trap) = self.cx.traps.get(&reqid) else {
            debug!(reqid, "ACQUIRE for a reqid that is no trap's: ignored");
            return;
        };
        let conn = trap.policies.conn;
        if self.cx.trap_of.get(&conn) != Some(&reqid) {
            return;
        }
        // Taken down by an operator: the trap stays (its traffic is dropped, never sent in
        // the clear), but nothing is negotiated until `up`.
        if self.cx.held_down.contains(&conn) {
            debug!(reqid, "ACQUIRE for a connection held down: ignored");
            return;
        }
        if let Some(id) = trap.initiated {
            match self.sa(id).filter(|sa| sa.conn == conn).map(|sa| sa.state) {
                // Its negotiation runs: the kernel asks again for packets that follow.
                Some(state) if state != SaState::Established && state != SaState::Deleting => {
                    debug!(
                        reqid,
                        "ACQUIRE while the trap's IKE SA is negotiated: ignored"
                    );
                    return;
                }
                // Established without the trap's CHILD_SA (the peer deleted it alone): a new
                // CHILD_SA on it, which takes the trap's reqid and policies.
                Some(SaState::Established) => {
                    info!("traffic for reqid {reqid}: asking for a new CHILD_SA");
                    if let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) {
                        self.cx
                            .request(now, sa, RequestKind::CreateChild { replaces: None });
                    }
                    return;
                }
                _ => {}
            }
        }
        let name = self
            .connection(conn)
            .map(|c| c.name.clone())
            .unwrap_or_default();
        info!("traffic for {name}: initiating");
        match self.initiate(now, conn) {
            Ok(id) => {
                if let Some(trap) = self.cx.traps.get_mut(&reqid) {
                    trap.initiated = Some(id);
                }
            }
            Err(e) => info!("traffic for {name}: cannot initiate: {e}"),
        }
    }
}
