//! A dataplane that only records what it was asked to do: for tests and benchmarks that must
//! skip the kernel datapath. It never pretends traffic flows: its counters are always zero.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ike::{EspSa, IntentId, KernelIntent};

use super::{Dataplane, KernelError, KernelEvent, SaCounters};

#[derive(Default)]
pub struct RecordingDataplane {
    /// SAs currently installed, by (destination, SPI).
    pub sas: HashMap<(IpAddr, u32), EspSa>,
    /// Every intent applied, in order.
    pub log: Vec<KernelIntent>,
}

impl Dataplane for RecordingDataplane {
    async fn apply(
        &mut self,
        intents: Vec<KernelIntent>,
    ) -> Vec<(IntentId, Result<(), KernelError>)> {
        let mut results = Vec::with_capacity(intents.len());
        for intent in intents {
            match &intent {
                KernelIntent::InstallChild { id, child } => {
                    self.sas.insert(
                        (child.inbound.dst, child.inbound.spi),
                        child.inbound.clone(),
                    );
                    if let Some(outbound) = &child.outbound {
                        self.sas
                            .insert((outbound.dst, outbound.spi), outbound.clone());
                    }
                    results.push((*id, Ok(())));
                }
                KernelIntent::InstallOutbound { id, child } => {
                    self.sas
                        .insert((child.sa.dst, child.sa.spi), child.sa.clone());
                    results.push((*id, Ok(())));
                }
                KernelIntent::DeleteChild {
                    id,
                    inbound,
                    outbound,
                    ..
                } => {
                    self.sas.remove(&(inbound.1, inbound.2));
                    self.sas.remove(&(outbound.1, outbound.2));
                    results.push((*id, Ok(())));
                }
            }
            self.log.push(intent);
        }
        results
    }

    async fn counters(
        &mut self,
        sas: &[(IpAddr, u32)],
    ) -> Result<Vec<Option<SaCounters>>, KernelError> {
        Ok(sas
            .iter()
            .map(|key| self.sas.get(key).map(|_| SaCounters::default()))
            .collect())
    }

    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        Ok(0)
    }

    async fn next_event(&mut self) -> KernelEvent {
        std::future::pending().await
    }
}
