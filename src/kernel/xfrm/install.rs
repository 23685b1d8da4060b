//! Applying intents with ESP hardware offload: finding each SA's device, deciding which modes
//! to offer it, and falling back (setting `auto`) when the kernel or the device refuses.
//!
//! Per SA: the device is the one the kernel sends to the peer by (a route lookup to the
//! peer; the kernel itself looks up the same route, from the SA's local address to the peer,
//! for inbound SAs too, when no device is named: xfrm_dev_state_add), and it must have its
//! `esp-hw-offload` feature on. `crypto` and `packet` are strict: an SA the device does not
//! take fails its intent with the kernel's words (extended ACK) and the algorithm.
//! `auto` offers packet, then crypto, then software. Packet offload is all or nothing for one
//! CHILD_SA (both SAs and their policies), because the kernel's packet path starts at the
//! policy; when any part of it is refused the whole CHILD_SA is retried in crypto mode,
//! and from there each SA falls back on its own.
//!
//! An intent whose setting can fall back closes its batch, so that its retries are applied
//! before the intents that follow it, in order.

use std::collections::HashMap;
use std::net::IpAddr;

use super::algorithms::{self, CipherAttribute};
use super::apply::{self, OffloadCheck, OffloadChoice, Planned, Step};
use super::netlink::RequestSocket;
use super::offload::{self, DeviceOffload, HwMode};
use crate::ike::{EspSa, IntentId, KernelIntent, Offload};
use crate::kernel::link::{Ethtool, LinkDataplane};
use crate::kernel::record::Record;
use crate::kernel::{KernelError, OffloadMode};

/// The device an SA would be offloaded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Egress {
    pub ifindex: u32,
    pub name: String,
    pub esp_hw_offload: bool,
    pub esp_tx_csum_hw_offload: bool,
}

/// Route lookups and feature queries, in the dataplane's namespace.
pub(super) struct Devices {
    pub links: LinkDataplane,
    pub ethtool: Ethtool,
}

impl Devices {
    /// The device packets to `peer` leave by, with its ESP features; `Err` says why there is
    /// none to offload to.
    async fn egress(&mut self, peer: IpAddr) -> Result<Egress, String> {
        let link = match self.links.egress(peer).await {
            Ok(Some(link)) => link,
            Ok(None) => return Err(format!("no route to {peer}")),
            Err(error) => return Err(error.to_string()),
        };
        if !link.up {
            return Err(format!("{} is down", link.name));
        }
        let features = self
            .ethtool
            .esp_features(link.index)
            .await
            .map_err(|error| format!("{}: {error}", link.name))?;
        Ok(Egress {
            ifindex: link.index,
            name: link.name,
            esp_hw_offload: features.esp_hw_offload,
            esp_tx_csum_hw_offload: features.esp_tx_csum_hw_offload,
        })
    }

    /// The name of the link with this ifindex, for status; `None` when it is gone.
    pub async fn name_of(&mut self, ifindex: u32) -> Option<String> {
        self.links
            .link_by_index(ifindex)
            .await
            .ok()
            .flatten()
            .map(|link| link.name)
    }
}

/// One SA of an install intent and the offload it is offered with this round.
#[derive(Debug, Clone)]
struct SaSlot {
    dst: IpAddr,
    spi: u32,
    /// E.g. "aes128-sha256 (cbc(aes), hmac(sha256))": named in strict errors.
    algorithm: String,
    device: Option<(u32, String)>,
    mode: Option<HwMode>,
}

impl SaSlot {
    fn offload(&self) -> Option<DeviceOffload> {
        let (ifindex, device) = self.device.clone()?;
        Some(DeviceOffload {
            ifindex,
            device,
            mode: self.mode?,
        })
    }

    fn describe(&self) -> String {
        format!("SA to {} spi {:#010x}", self.dst, self.spi)
    }
}

fn algorithm(sa: &EspSa) -> String {
    let cipher = match algorithms::cipher(sa.encryption) {
        CipherAttribute::Aead { name, .. } | CipherAttribute::Crypt { name } => name,
    };
    match sa.integrity {
        Some(integrity) => format!(
            "{}-{integrity} ({cipher}, {})",
            sa.encryption,
            algorithms::integrity(integrity).0
        ),
        None => format!("{} ({cipher})", sa.encryption),
    }
}

/// An intent on its way through one or more rounds.
struct Entry {
    intent: KernelIntent,
    setting: Offload,
    inbound: Option<SaSlot>,
    outbound: Option<SaSlot>,
    /// Refused before anything was sent (a strict setting without a capable device).
    early: Option<KernelError>,
    result: Option<Result<(), KernelError>>,
}

impl Entry {
    fn id(&self) -> IntentId {
        self.intent.id()
    }

    fn slots(&self) -> impl Iterator<Item = &SaSlot> {
        self.inbound.iter().chain(self.outbound.iter())
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut SaSlot> {
        self.inbound.iter_mut().chain(self.outbound.iter_mut())
    }

    fn can_fall_back(&self) -> bool {
        self.setting == Offload::Auto && self.slots().any(|slot| slot.mode.is_some())
    }

    fn choice(&self) -> OffloadChoice {
        OffloadChoice {
            inbound: self.inbound.as_ref().and_then(SaSlot::offload),
            outbound: self.outbound.as_ref().and_then(SaSlot::offload),
        }
    }

    fn checks(&self) -> Vec<OffloadCheck> {
        let strict = self.setting != Offload::Auto;
        self.slots()
            .filter_map(|slot| {
                let offload = slot.offload()?;
                Some(OffloadCheck {
                    dst: slot.dst,
                    spi: slot.spi,
                    wanted: offload.mode,
                    operation: format!(
                        "{} offload on {} of {}",
                        offload.mode,
                        offload.device,
                        slot.describe()
                    ),
                    device: offload.device,
                    strict,
                })
            })
            .collect()
    }

    fn planned(&self) -> Planned {
        Planned {
            ops: match &self.early {
                Some(error) => Err(error.clone()),
                None => apply::plan(&self.intent, &self.choice()),
            },
            checks: if self.early.is_some() {
                Vec::new()
            } else {
                self.checks()
            },
        }
    }

    /// After a refusal at `failed`: lowers the offered modes for the next round (setting
    /// `auto` only). Returns false when there is nothing lower to offer.
    fn fall_back(&mut self, failed: Option<&Step>) -> bool {
        if self.setting != Offload::Auto {
            return false;
        }
        let packet_refused = match failed {
            Some(Step::AddPolicy(spec)) => spec.offload.is_some(),
            Some(Step::AddSa { spi, dst }) => self
                .slots()
                .any(|s| s.spi == *spi && s.dst == *dst && s.mode == Some(HwMode::Packet)),
            _ => false,
        };
        if packet_refused {
            // Packet offload is all or nothing for a CHILD_SA.
            for slot in self.slots_mut() {
                if slot.mode == Some(HwMode::Packet) {
                    slot.mode = Some(HwMode::Crypto);
                }
            }
            return true;
        }
        let Some(Step::AddSa { spi, dst }) = failed else {
            return false;
        };
        let setting = self.setting;
        for slot in self.slots_mut() {
            if slot.spi == *spi && slot.dst == *dst && slot.mode.is_some() {
                if let Some(next) = offload::next_attempt(setting, slot.mode) {
                    slot.mode = next;
                    return true;
                }
            }
        }
        false
    }

    /// A strict refusal names the mode, the device and the algorithm next to the kernel's
    /// words.
    fn strict_error(&self, mut error: KernelError, failed: Option<&Step>) -> KernelError {
        if let Some(Step::AddSa { spi, dst }) = failed {
            if let Some(slot) = self.slots().find(|s| s.spi == *spi && s.dst == *dst) {
                if let Some(offload) = slot.offload() {
                    error.message.push_str(&format!(
                        "; offload = \"{}\": {} did not take {} offload of algorithm {}",
                        self.setting, offload.device, offload.mode, slot.algorithm
                    ));
                }
            }
        }
        error
    }
}

/// Resolves the devices of an install intent's SAs and the first modes to offer.
async fn prepare(
    devices: &mut Devices,
    cache: &mut HashMap<IpAddr, Result<Egress, String>>,
    intent: KernelIntent,
) -> Entry {
    // (slot, peer, inbound) for each SA: the SA's addresses and algorithm, never its keys.
    let slot = |sa: &EspSa| SaSlot {
        dst: sa.dst,
        spi: sa.spi,
        algorithm: algorithm(sa),
        device: None,
        mode: None,
    };
    let (setting, sas) = match &intent {
        KernelIntent::InstallChild { child, .. } => (
            child.offload,
            std::iter::once((slot(&child.inbound), child.inbound.src, true))
                .chain(child.outbound.iter().map(|sa| (slot(sa), sa.dst, false)))
                .collect(),
        ),
        KernelIntent::InstallOutbound { child, .. } => {
            (child.offload, vec![(slot(&child.sa), child.sa.dst, false)])
        }
        KernelIntent::DeleteChild { .. }
        | KernelIntent::InstallTrap { .. }
        | KernelIntent::RemoveTrap { .. } => (Offload::None, Vec::new()),
    };
    let mut entry = Entry {
        setting,
        inbound: None,
        outbound: None,
        early: None,
        result: None,
        intent,
    };
    if setting == Offload::None {
        return entry;
    }
    let first = offload::attempts(setting).first().copied().flatten();
    let strict = setting != Offload::Auto;
    for (mut slot, peer, inbound_side) in sas {
        let egress = match cache.get(&peer) {
            Some(known) => known.clone(),
            None => {
                let found = devices.egress(peer).await;
                cache.insert(peer, found.clone());
                found
            }
        };
        let refusal = match &egress {
            Err(reason) => Some(reason.clone()),
            Ok(device) if !device.esp_hw_offload => Some(format!(
                "{} has ethtool feature {} off",
                device.name,
                crate::kernel::link::ESP_HW_OFFLOAD
            )),
            Ok(_) => None,
        };
        match (refusal, egress) {
            (None, Ok(device)) => {
                tracing::debug!(
                    sa = %slot.describe(),
                    device = %device.name,
                    esp_tx_csum_hw_offload = device.esp_tx_csum_hw_offload,
                    "offload device found"
                );
                slot.device = Some((device.ifindex, device.name));
                slot.mode = first;
            }
            (Some(reason), _) if strict => {
                if entry.early.is_none() {
                    entry.early = Some(KernelError {
                        errno: None,
                        operation: format!("{setting} offload of {}", slot.describe()),
                        message: format!("no device to offload to: {reason}"),
                    });
                }
            }
            (Some(reason), _) => {
                tracing::info!(
                    sa = %slot.describe(),
                    %reason,
                    "offload = \"auto\": software ESP, no device to offload to"
                );
            }
            (None, Err(_)) => {}
        }
        if inbound_side {
            entry.inbound = Some(slot);
        } else {
            entry.outbound = Some(slot);
        }
    }
    entry
}

fn log_installed(entry: &Entry, installed: &[(u32, OffloadMode)]) {
    for slot in entry.slots() {
        let Some(device) = slot.device.as_ref().map(|(_, name)| name) else {
            continue;
        };
        let got = installed
            .iter()
            .find(|(spi, _)| *spi == slot.spi)
            .map(|(_, mode)| *mode);
        match (got, slot.mode) {
            (Some(OffloadMode::None), _) | (None, None) => tracing::info!(
                sa = %slot.describe(),
                %device,
                offload = %entry.setting,
                "ESP in software: the device did not take the SA"
            ),
            (Some(mode), _) => tracing::info!(
                sa = %slot.describe(),
                %device,
                %mode,
                "ESP offloaded"
            ),
            (None, Some(mode)) => tracing::info!(
                sa = %slot.describe(),
                %device,
                %mode,
                "ESP offload requested; not read back"
            ),
        }
    }
}

/// Applies a group of entries (all but the last without fallback), retrying the last while
/// it can fall back.
async fn run_group(
    socket: &mut RequestSocket,
    record: &mut Record,
    mut entries: Vec<Entry>,
) -> Vec<(IntentId, Result<(), KernelError>)> {
    loop {
        let pending: Vec<usize> = (0..entries.len())
            .filter(|&i| entries.get(i).is_some_and(|e| e.result.is_none()))
            .collect();
        if pending.is_empty() {
            break;
        }
        let planned = pending
            .iter()
            .filter_map(|&i| entries.get(i).map(Entry::planned))
            .collect();
        let round = apply::run(socket, record, planned).await;
        for (&i, outcome) in pending.iter().zip(round) {
            let Some(entry) = entries.get_mut(i) else {
                continue;
            };
            match outcome.result {
                Ok(()) => {
                    log_installed(entry, &outcome.installed);
                    entry.result = Some(Ok(()));
                }
                Err(error) => {
                    let offloaded = entry.slots().any(|s| s.mode.is_some());
                    if offloaded && entry.fall_back(outcome.failed.as_ref()) {
                        tracing::warn!(
                            %error,
                            "offload = \"auto\": the device refused the offer; trying the next mode"
                        );
                    } else if entry.setting == Offload::Auto || entry.setting == Offload::None {
                        entry.result = Some(Err(error));
                    } else {
                        let error = entry.strict_error(error, outcome.failed.as_ref());
                        entry.result = Some(Err(error));
                    }
                }
            }
        }
    }
    entries
        .into_iter()
        .map(|entry| {
            let id = entry.id();
            (id, entry.result.unwrap_or(Ok(())))
        })
        .collect()
}

/// Applies `intents` in order; one result per intent.
pub(super) async fn apply(
    socket: &mut RequestSocket,
    record: &mut Record,
    devices: &mut Devices,
    intents: Vec<KernelIntent>,
) -> Vec<(IntentId, Result<(), KernelError>)> {
    let mut cache = HashMap::new();
    let mut results = Vec::with_capacity(intents.len());
    let mut group = Vec::new();
    for intent in intents {
        let entry = prepare(devices, &mut cache, intent).await;
        let closes_group = entry.can_fall_back();
        group.push(entry);
        if closes_group {
            results.extend(run_group(socket, record, std::mem::take(&mut group)).await);
        }
    }
    if !group.is_empty() {
        results.extend(run_group(socket, record, group).await);
    }
    results
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zeroize::Zeroizing;

    use super::super::policy::{PolicyDirection, PolicyKey, PolicySpec};
    use super::*;
    use crate::algorithm::{Encryption, Integrity};
    use crate::ike::{ChildInstall, ConnId, SaId};

    fn esp(src: &str, dst: &str, spi: u32, encryption: Encryption) -> EspSa {
        EspSa {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            spi,
            encryption,
            integrity: None,
            encryption_key: Zeroizing::new(vec![7; 20]),
            integrity_key: Zeroizing::new(Vec::new()),
            esn: false,
            encap: None,
        }
    }

    fn slot(sa: &EspSa, mode: Option<HwMode>) -> SaSlot {
        SaSlot {
            dst: sa.dst,
            spi: sa.spi,
            algorithm: algorithm(sa),
            device: Some((4, "eni0np1".into())),
            mode,
        }
    }

    fn entry(setting: Offload, mode: Option<HwMode>) -> Entry {
        let inbound = esp(
            "192.0.2.2",
            "192.0.2.1",
            0x100,
            Encryption::AesGcm16 { key_bits: 128 },
        );
        let outbound = esp(
            "192.0.2.1",
            "192.0.2.2",
            0x200,
            Encryption::AesGcm16 { key_bits: 128 },
        );
        let child = ChildInstall {
            conn: ConnId(0),
            ike_sa: SaId(0),
            reqid: 0x4000_0001,
            inbound: inbound.clone(),
            outbound: Some(outbound.clone()),
            local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
            remote_selectors: vec!["10.2.0.0/24".parse().unwrap()],
            soft_lifetime: Duration::from_secs(5),
            hard_lifetime: Duration::from_secs(10),
            byte_limit: None,
            if_id: None,
            offload: setting,
        };
        Entry {
            intent: KernelIntent::InstallChild {
                id: IntentId(1),
                child: Box::new(child),
            },
            setting,
            inbound: Some(slot(&inbound, mode)),
            outbound: Some(slot(&outbound, mode)),
            early: None,
            result: None,
        }
    }

    fn modes(entry: &Entry) -> Vec<Option<HwMode>> {
        entry.slots().map(|s| s.mode).collect()
    }

    fn sa_step(dst: &str, spi: u32) -> Step {
        Step::AddSa {
            dst: dst.parse().unwrap(),
            spi,
        }
    }

    #[test]
    fn packet_offload_plans_offloaded_policies() {
        let entry = entry(Offload::Packet, Some(HwMode::Packet));
        let ops = apply::plan(&entry.intent, &entry.choice()).unwrap();
        let policies: Vec<&PolicySpec> = ops
            .iter()
            .filter_map(|op| match &op.step {
                Step::AddPolicy(spec) => Some(spec),
                _ => None,
            })
            .collect();
        assert_eq!(policies.len(), 3);
        assert!(policies.iter().all(|spec| spec.offload == Some(4)));
        assert!(ops[2].operation.ends_with("with packet offload"));
        assert!(ops[0].operation.ends_with("with packet offload on eni0np1"));
        // Crypto offload leaves the policies alone.
        let crypto = self::entry(Offload::Crypto, Some(HwMode::Crypto));
        let ops = apply::plan(&crypto.intent, &crypto.choice()).unwrap();
        assert!(ops.iter().all(|op| match &op.step {
            Step::AddPolicy(spec) => spec.offload.is_none(),
            _ => true,
        }));
        assert_eq!(crypto.checks().len(), 2);
        assert!(crypto
            .checks()
            .iter()
            .all(|c| c.strict && c.wanted == HwMode::Crypto));
    }

    #[test]
    fn auto_lowers_packet_for_the_whole_child_then_each_sa_on_its_own() {
        let mut auto = entry(Offload::Auto, Some(HwMode::Packet));
        assert!(auto.can_fall_back());
        // The outbound SA refused packet mode: both SAs move to crypto.
        assert!(auto.fall_back(Some(&sa_step("192.0.2.2", 0x200))));
        assert_eq!(modes(&auto), vec![Some(HwMode::Crypto); 2]);
        assert!(auto.checks().iter().all(|c| !c.strict));
        // Then the inbound SA refused crypto: only it goes to software.
        assert!(auto.fall_back(Some(&sa_step("192.0.2.1", 0x100))));
        assert_eq!(modes(&auto), vec![None, Some(HwMode::Crypto)]);
        assert!(auto.fall_back(Some(&sa_step("192.0.2.2", 0x200))));
        assert_eq!(modes(&auto), vec![None, None]);
        assert!(!auto.can_fall_back());
        // Nothing left to lower; a failure elsewhere is final.
        assert!(!auto.fall_back(Some(&sa_step("192.0.2.2", 0x200))));
        assert!(!auto.fall_back(None));
    }

    #[test]
    fn a_refused_packet_policy_lowers_the_child_to_crypto() {
        let mut auto = entry(Offload::Auto, Some(HwMode::Packet));
        let spec = PolicySpec {
            key: PolicyKey {
                dir: PolicyDirection::Fwd,
                src: "10.2.0.0/24".parse().unwrap(),
                dst: "10.1.0.0/24".parse().unwrap(),
                if_id: None,
            },
            tmpl_src: "192.0.2.2".parse().unwrap(),
            tmpl_dst: "192.0.2.1".parse().unwrap(),
            reqid: 1,
            offload: Some(4),
        };
        assert!(auto.fall_back(Some(&Step::AddPolicy(spec))));
        assert_eq!(modes(&auto), vec![Some(HwMode::Crypto); 2]);
    }

    #[test]
    fn strict_settings_never_fall_back_and_name_the_algorithm() {
        let mut strict = entry(Offload::Crypto, Some(HwMode::Crypto));
        assert!(!strict.can_fall_back());
        assert!(!strict.fall_back(Some(&sa_step("192.0.2.1", 0x100))));
        assert_eq!(modes(&strict), vec![Some(HwMode::Crypto); 2]);
        let mut cbc = esp(
            "192.0.2.2",
            "192.0.2.1",
            0x100,
            Encryption::AesCbc { key_bits: 128 },
        );
        cbc.integrity = Some(Integrity::HmacSha256_128);
        strict.inbound = Some(slot(&cbc, Some(HwMode::Crypto)));
        let error = strict.strict_error(
            KernelError {
                errno: None,
                operation: "add SA".into(),
                message: "Invalid argument (Device failed to offload this state)".into(),
            },
            Some(&sa_step("192.0.2.1", 0x100)),
        );
        assert!(error
            .message
            .starts_with("Invalid argument (Device failed to offload this state)"));
        assert!(error.message.contains("cbc(aes)"), "{}", error.message);
        assert!(error.message.contains("hmac(sha256)"), "{}", error.message);
        assert!(
            error
                .message
                .contains("eni0np1 did not take crypto offload"),
            "{}",
            error.message
        );
    }
}
