//! A dataplane that only records which SAs it was asked to install: for tests and benchmarks
//! that must skip the kernel datapath. It never pretends traffic flows: its counters are
//! always zero. Like the kernel dataplane, it keeps nothing else of an SA (no keys, no
//! history), so a daemon running on it holds what it would hold on the kernel.
//! Its hub side ([`RecordingLinks`]) keeps interfaces and routes in memory, refusing what the
//! kernel would refuse (a duplicate name or route), so hub mode runs without a kernel too.
//! Its SAs live in an [`SaTable`], the in-memory model of the kernel's SA database that the
//! engine tests use as their kernel too.

mod sa_table;

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use crate::ike::{IntentId, KernelIntent, TrapPolicies};

use super::link::{LinkInfo, Route, RouteChange, XfrmInterface, OWNED_TABLE};
use super::{Dataplane, HubLinks, KernelError, KernelEvent, SaCounters};

pub use sa_table::{InstalledSa, SaKey, SaPlacement, SaRecord, SaTable};

#[derive(Default)]
pub struct RecordingDataplane {
    /// SAs currently installed: their names alone.
    pub sas: SaTable<()>,
    /// Traps installed, by reqid (their policies; the table holds no policies otherwise).
    pub traps: BTreeMap<u32, TrapPolicies>,
}

impl Dataplane for RecordingDataplane {
    type Links = RecordingLinks;

    fn open_links(&mut self) -> Result<RecordingLinks, KernelError> {
        Ok(RecordingLinks::default())
    }

    async fn apply(
        &mut self,
        intents: Vec<KernelIntent>,
    ) -> Vec<(IntentId, Result<(), KernelError>)> {
        intents
            .iter()
            .map(|intent| {
                self.sas.apply(intent);
                match intent {
                    KernelIntent::InstallTrap { trap, .. } => {
                        self.traps.insert(trap.reqid, (**trap).clone());
                    }
                    KernelIntent::RemoveTrap { trap, .. } => {
                        self.traps.remove(&trap.reqid);
                    }
                    _ => {}
                }
                (intent.id(), Ok(()))
            })
            .collect()
    }

    async fn counters(
        &mut self,
        sas: &[(IpAddr, u32)],
    ) -> Result<Vec<Option<SaCounters>>, KernelError> {
        Ok(sas
            .iter()
            .map(|key| self.sas.contains_key(key).then(SaCounters::default))
            .collect())
    }

    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        Ok(0)
    }

    async fn next_event(&mut self) -> KernelEvent {
        std::future::pending().await
    }
}

/// Hub links kept in memory. Forwarding is not touched: nothing is routed.
#[derive(Debug, Default)]
pub struct RecordingLinks {
    /// Interfaces by name.
    pub interfaces: BTreeMap<String, LinkInfo>,
    pub routes: HashSet<Route>,
    pub rules: bool,
    last_index: u32,
}

fn refused(operation: String, message: &str) -> KernelError {
    KernelError {
        errno: None,
        operation,
        message: message.to_owned(),
    }
}

impl HubLinks for RecordingLinks {
    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        let removed = self.interfaces.len() + self.routes.len() + usize::from(self.rules);
        self.interfaces.clear();
        self.routes.clear();
        self.rules = false;
        Ok(removed)
    }

    fn enable_forwarding(&mut self, _ipv6: bool) -> Result<(), KernelError> {
        Ok(())
    }

    async fn add_rules(&mut self) -> Result<usize, KernelError> {
        let added = if self.rules { 0 } else { 2 };
        self.rules = true;
        Ok(added)
    }

    async fn egress(&mut self, _destination: IpAddr) -> Result<Option<LinkInfo>, KernelError> {
        Ok(None)
    }

    async fn create_interface(&mut self, spec: &XfrmInterface) -> Result<LinkInfo, KernelError> {
        let operation = || format!("create xfrm interface {} if_id {}", spec.name, spec.if_id);
        if self.interfaces.contains_key(&spec.name) {
            return Err(refused(operation(), "File exists"));
        }
        if spec.if_id == 0 {
            return Err(refused(operation(), "Invalid argument"));
        }
        self.last_index = self.last_index.saturating_add(1);
        let link = LinkInfo {
            index: self.last_index,
            name: spec.name.clone(),
            up: true,
            mtu: Some(spec.mtu),
            kind: Some("xfrm".to_owned()),
            if_id: Some(spec.if_id),
            underlying: (spec.underlying != 0).then_some(spec.underlying),
        };
        self.interfaces.insert(spec.name.clone(), link.clone());
        Ok(link)
    }

    async fn delete_interface(&mut self, name: &str) -> Result<bool, KernelError> {
        let Some(link) = self.interfaces.remove(name) else {
            return Ok(false);
        };
        // As in the kernel, the interface's routes go with it.
        self.routes.retain(|r| r.interface != link.index);
        Ok(true)
    }

    async fn write_routes(&mut self, changes: &[RouteChange]) -> Vec<Result<(), KernelError>> {
        changes
            .iter()
            .map(|change| match change {
                RouteChange::Add(route) => {
                    let clash = self.routes.iter().any(|r| {
                        (r.destination, r.table, r.metric)
                            == (route.destination, route.table, route.metric)
                    });
                    let known = route.is_unreachable()
                        || self.interfaces.values().any(|l| l.index == route.interface);
                    if clash {
                        Err(refused(change.to_string(), "File exists"))
                    } else if !known {
                        Err(refused(change.to_string(), "No such device"))
                    } else {
                        self.routes.insert(*route);
                        Ok(())
                    }
                }
                RouteChange::Delete(route) => {
                    self.routes.remove(route);
                    Ok(())
                }
            })
            .collect()
    }

    fn owned_table(&self) -> u32 {
        OWNED_TABLE
    }
}
