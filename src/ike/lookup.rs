//! Finding the connection an incoming IKE SA belongs to without scanning every connection:
//! by the peer's address for IKE_SA_INIT, by its identity for IKE_AUTH. Rebuilt when the
//! connections change; a hub with thousands of spokes pays a hash lookup per new SA.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::output::ConnId;
use super::settings::{ConnectionSettings, IkeIdentity};

#[derive(Debug, Default)]
pub struct ConnIndex {
    by_remote: HashMap<IpAddr, Vec<ConnId>>,
    any_remote: Vec<ConnId>,
    by_identity: HashMap<IkeIdentity, Vec<ConnId>>,
    any_identity: Vec<ConnId>,
}

impl ConnIndex {
    pub fn build(connections: &[Option<Arc<ConnectionSettings>>]) -> ConnIndex {
        let mut index = ConnIndex::default();
        for (i, c) in connections.iter().enumerate() {
            let (Some(c), Ok(i)) = (c, u32::try_from(i)) else {
                continue;
            };
            let id = ConnId(i);
            // A named peer is found by the address its name resolved to last; before the
            // first resolution by none (see `ConnectionSettings::accepts_address`).
            match c.remote_addr {
                Some(addr) => index.by_remote.entry(addr).or_default().push(id),
                None if c.accepts_any_address() => index.any_remote.push(id),
                None => {}
            }
            match &c.remote_id {
                Some(identity) => index
                    .by_identity
                    .entry(identity.clone())
                    .or_default()
                    .push(id),
                None => index.any_identity.push(id),
            }
        }
        index
    }

    /// A named peer's connection moves from the address its name resolved to before (if
    /// any) to `new`, keeping its place after the connections already there.
    pub fn move_address(&mut self, conn: ConnId, old: Option<IpAddr>, new: IpAddr) {
        if let Some(old) = old {
            if let Some(list) = self.by_remote.get_mut(&old) {
                list.retain(|id| *id != conn);
                if list.is_empty() {
                    self.by_remote.remove(&old);
                }
            }
        }
        let list = self.by_remote.entry(new).or_default();
        if !list.contains(&conn) {
            list.push(conn);
        }
    }

    /// Connections naming this peer address, then those accepting any address, in
    /// configuration order within each group.
    pub fn by_address(&self, remote: IpAddr) -> impl Iterator<Item = ConnId> + '_ {
        self.by_remote
            .get(&remote)
            .into_iter()
            .flatten()
            .chain(&self.any_remote)
            .copied()
    }

    /// Connections expecting this identity, then those accepting any identity.
    pub fn by_identity<'a>(&'a self, identity: &IkeIdentity) -> impl Iterator<Item = ConnId> + 'a {
        self.by_identity
            .get(identity)
            .into_iter()
            .flatten()
            .chain(&self.any_identity)
            .copied()
    }
}
