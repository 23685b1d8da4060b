//! The kernel's SA database as a synchronous in-memory model: which SAs the engine's kernel
//! intents leave installed, under the name the kernel knows them by (destination and SPI),
//! and which outbound SA of a reqid traffic leaves by. What the table keeps of each SA is
//! the user's choice ([`SaRecord`]): the recording dataplane keeps the names alone, as the
//! kernel dataplane keeps nothing of an SA in the daemon; the engine tests keep each SA whole
//! to compare both sides' keys.

use std::collections::hash_map::{self, HashMap};
use std::net::IpAddr;

use crate::ike::{EspSa, KernelIntent};

/// How the kernel names an SA: destination and SPI.
pub type SaKey = (IpAddr, u32);

/// Where an SA stands among the others: the kernel picks the SA traffic leaves by from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaPlacement {
    /// The CHILD_SA's policy set, kept across rekeys.
    pub reqid: u32,
    pub outbound: bool,
    /// Order of addition (1 for the first SA the table added): of the outbound SAs of a reqid,
    /// the kernel sends by the newest.
    pub added: u64,
}

/// What an [`SaTable`] keeps of each installed SA.
pub trait SaRecord {
    fn record(sa: &EspSa, placement: SaPlacement) -> Self;
}

/// The name alone (the table's key): nothing of the SA stays in memory.
impl SaRecord for () {
    fn record(_sa: &EspSa, _placement: SaPlacement) {}
}

/// An SA whole, keys included, with its placement.
#[derive(Debug, Clone)]
pub struct InstalledSa {
    pub esp: EspSa,
    pub placement: SaPlacement,
}

impl SaRecord for InstalledSa {
    fn record(sa: &EspSa, placement: SaPlacement) -> Self {
        InstalledSa {
            esp: sa.clone(),
            placement,
        }
    }
}

/// The SAs installed, by [`SaKey`]. Intents are carried out as the kernel carries them out
/// when it accepts them: refusing one is the caller's business.
#[derive(Debug)]
pub struct SaTable<R> {
    sas: HashMap<SaKey, R>,
    additions: u64,
}

impl<R> Default for SaTable<R> {
    fn default() -> Self {
        SaTable {
            sas: HashMap::new(),
            additions: 0,
        }
    }
}

impl<R: SaRecord> SaTable<R> {
    /// Installs or deletes what `intent` names. An SA installed again under a key it already
    /// holds replaces the old one and counts as the newest.
    pub fn apply(&mut self, intent: &KernelIntent) {
        match intent {
            KernelIntent::InstallChild { child, .. } => {
                self.add(&child.inbound, child.reqid, false);
                if let Some(outbound) = &child.outbound {
                    self.add(outbound, child.reqid, true);
                }
            }
            KernelIntent::InstallOutbound { child, .. } => self.add(&child.sa, child.reqid, true),
            KernelIntent::DeleteChild {
                inbound, outbound, ..
            } => {
                self.sas.remove(&(inbound.1, inbound.2));
                self.sas.remove(&(outbound.1, outbound.2));
            }
            // Policies without SAs: nothing in the SA table.
            KernelIntent::InstallTrap { .. } | KernelIntent::RemoveTrap { .. } => {}
        }
    }

    fn add(&mut self, sa: &EspSa, reqid: u32, outbound: bool) {
        self.additions += 1;
        let placement = SaPlacement {
            reqid,
            outbound,
            added: self.additions,
        };
        self.sas.insert((sa.dst, sa.spi), R::record(sa, placement));
    }
}

impl<R> SaTable<R> {
    pub fn contains_key(&self, key: &SaKey) -> bool {
        self.sas.contains_key(key)
    }

    pub fn get(&self, key: &SaKey) -> Option<&R> {
        self.sas.get(key)
    }

    pub fn len(&self) -> usize {
        self.sas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    pub fn iter(&self) -> hash_map::Iter<'_, SaKey, R> {
        self.sas.iter()
    }

    pub fn keys(&self) -> hash_map::Keys<'_, SaKey, R> {
        self.sas.keys()
    }

    pub fn values(&self) -> hash_map::Values<'_, SaKey, R> {
        self.sas.values()
    }
}

impl<'a, R> IntoIterator for &'a SaTable<R> {
    type Item = (&'a SaKey, &'a R);
    type IntoIter = hash_map::Iter<'a, SaKey, R>;

    fn into_iter(self) -> Self::IntoIter {
        self.sas.iter()
    }
}

impl SaTable<InstalledSa> {
    /// The SA the kernel sends the traffic of each reqid by (the newest outbound one), by reqid.
    pub fn sending_sas(&self) -> HashMap<u32, SaKey> {
        let mut newest: HashMap<u32, (u64, SaKey)> = HashMap::new();
        for (key, sa) in &self.sas {
            let SaPlacement {
                reqid,
                outbound,
                added,
            } = sa.placement;
            if !outbound {
                continue;
            }
            let best = newest.entry(reqid).or_insert((added, *key));
            if added > best.0 {
                *best = (added, *key);
            }
        }
        newest
            .into_iter()
            .map(|(reqid, (_, key))| (reqid, key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use zeroize::Zeroizing;

    use super::*;
    use crate::algorithm::Encryption;
    use crate::ike::{ChildInstall, ConnId, IntentId, Offload, SaId};

    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    const LIFETIME: Duration = Duration::from_secs(60);

    /// An SA towards `dst` (from the other address).
    fn sa(dst: IpAddr, spi: u32) -> EspSa {
        EspSa {
            src: if dst == LOCAL { PEER } else { LOCAL },
            dst,
            spi,
            encryption: Encryption::AesGcm16 { key_bits: 128 },
            integrity: None,
            encryption_key: Zeroizing::new(vec![7; 20]),
            integrity_key: Zeroizing::new(Vec::new()),
            esn: false,
            encap: None,
        }
    }

    fn install(reqid: u32, spi_in: u32, spi_out: Option<u32>) -> KernelIntent {
        KernelIntent::InstallChild {
            id: IntentId(u64::from(spi_in)),
            child: Box::new(ChildInstall {
                conn: ConnId(0),
                ike_sa: SaId(0),
                reqid,
                inbound: sa(LOCAL, spi_in),
                outbound: spi_out.map(|spi| sa(PEER, spi)),
                local_selectors: Vec::new(),
                remote_selectors: Vec::new(),
                soft_lifetime: LIFETIME,
                hard_lifetime: LIFETIME,
                byte_limit: None,
                if_id: None,
                offload: Offload::None,
            }),
        }
    }

    fn delete(reqid: u32, spi_in: u32, spi_out: u32) -> KernelIntent {
        KernelIntent::DeleteChild {
            id: IntentId(0),
            reqid,
            inbound: (PEER, LOCAL, spi_in),
            outbound: (LOCAL, PEER, spi_out),
            remove_policies: false,
            local_selectors: Vec::new(),
            remote_selectors: Vec::new(),
            if_id: None,
        }
    }

    fn sending(table: &SaTable<InstalledSa>) -> Vec<(u32, u32)> {
        let mut spis: Vec<(u32, u32)> = table
            .sending_sas()
            .into_iter()
            .map(|(reqid, (_, spi))| (reqid, spi))
            .collect();
        spis.sort_unstable();
        spis
    }

    #[test]
    fn traffic_leaves_by_the_newest_outbound_sa_of_each_reqid() {
        let mut table = SaTable::<InstalledSa>::default();
        table.apply(&install(1, 0x10, Some(0x11)));
        table.apply(&install(2, 0x20, Some(0x21)));
        assert_eq!(sending(&table), [(1, 0x11), (2, 0x21)]);
        // A rekey responder installs inbound first: traffic stays on the old outbound SA.
        table.apply(&install(1, 0x12, None));
        assert_eq!(sending(&table), [(1, 0x11), (2, 0x21)]);
        table.apply(&install(1, 0x14, Some(0x15)));
        assert_eq!(sending(&table), [(1, 0x15), (2, 0x21)]);
        table.apply(&delete(1, 0x10, 0x11));
        assert_eq!(sending(&table), [(1, 0x15), (2, 0x21)]);
        let installed = table.get(&(PEER, 0x15)).map(|sa| sa.placement);
        assert_eq!(
            installed,
            Some(SaPlacement {
                reqid: 1,
                outbound: true,
                added: 7
            })
        );
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn a_table_of_names_tracks_installs_and_deletes() {
        let mut table = SaTable::<()>::default();
        table.apply(&install(1, 0x10, Some(0x11)));
        assert!(table.contains_key(&(LOCAL, 0x10)) && table.contains_key(&(PEER, 0x11)));
        table.apply(&delete(1, 0x10, 0x11));
        assert!(table.is_empty());
    }
}
