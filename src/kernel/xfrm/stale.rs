//! Removing what this dataplane owns: the SAs and policies in its [`Record`], at start-up
//! those an earlier run of the instance recorded before it died, at a stop those still
//! installed. An object is removed only when the kernel holds it under the recorded key with
//! the recorded reqid; objects that merely look like ikehub's (a reqid in its range) but are
//! not in the record belong to another program or another instance and are left alone.

use std::collections::HashSet;

use super::netlink::{Reply, Request, RequestSocket};
use super::owned;
use super::policy;
use super::state;
use super::uapi::{parse_policy, parse_sa_info, IPPROTO_ESP, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA};
use crate::ike::REQID_BASE;
use crate::kernel::error::kernel_error;
use crate::kernel::record::Record;
use crate::kernel::KernelError;

/// Objects shown by name in the log line about those left alone; the rest are counted.
const UNPROVEN_SHOWN: usize = 5;

/// What to do with the dumped SAs and policies.
#[derive(Default)]
pub(super) struct Cleanup {
    /// (record key, description, delete request) of each object proven ours.
    pub deletes: Vec<(String, String, Request)>,
    /// Objects in ikehub's reqid range that the record does not prove ours.
    pub unproven: Vec<String>,
}

/// Sorts dumped SAs and policies into those the record proves ours (to delete) and those
/// that only look like ikehub's (to leave alone); the rest are not mentioned.
pub(super) fn plan(sas: &[Reply], policies: &[Reply], record: &Record) -> Cleanup {
    let mut cleanup = Cleanup::default();
    for reply in sas.iter().filter(|r| r.msg_type == XFRM_MSG_NEWSA) {
        let Some(sa) = parse_sa_info(&reply.payload) else {
            tracing::debug!(len = reply.payload.len(), "undecodable SA in dump");
            continue;
        };
        if sa.proto != IPPROTO_ESP {
            continue;
        }
        let key = owned::sa_key(sa.dst, sa.spi);
        let description = format!(
            "SA {}->{} spi {:#010x} reqid {:#x}",
            sa.src, sa.dst, sa.spi, sa.reqid
        );
        if record.proof(&key) == Some(owned::proof(sa.reqid).as_str()) {
            cleanup.deletes.push((
                key,
                format!("delete stale {description}"),
                state::delete_sa(sa.dst, sa.spi),
            ));
        } else if sa.reqid >= REQID_BASE {
            cleanup.unproven.push(description);
        }
    }
    for reply in policies.iter().filter(|r| r.msg_type == XFRM_MSG_NEWPOLICY) {
        let Some(policy) = parse_policy(&reply.payload) else {
            tracing::debug!(len = reply.payload.len(), "undecodable policy in dump");
            continue;
        };
        let recorded = owned::dumped_policy_key(&policy)
            .and_then(|key| record.proof(&key).map(|proof| (key, proof)));
        let proven = recorded.and_then(|(key, proof)| {
            policy
                .templates
                .iter()
                .any(|t| owned::proof(t.reqid) == proof)
                .then_some(key)
        });
        let description = format!("policy index {} dir {}", policy.index, policy.dir);
        match proven {
            Some(key) => cleanup.deletes.push((
                key,
                format!("delete stale {description}"),
                policy::delete_policy_by_index(policy.index, policy.dir, policy.if_id),
            )),
            None if policy.templates.iter().any(|t| t.reqid >= REQID_BASE) => {
                cleanup.unproven.push(description);
            }
            None => {}
        }
    }
    cleanup
}

/// Removes the recorded objects the kernel still holds, and forgets every entry except
/// those whose removal failed. Returns how many objects were removed.
pub(super) async fn remove_owned(
    socket: &mut RequestSocket,
    record: &mut Record,
) -> Result<usize, KernelError> {
    let dumps = [state::dump_sas(), policy::dump_policies()];
    let requests: Vec<&Request> = dumps.iter().collect();
    let outcomes = socket.transact(&requests).await.map_err(|e| KernelError {
        errno: None,
        operation: "dump XFRM SAs and policies".to_owned(),
        message: e.to_string(),
    })?;
    let mut replies = Vec::new();
    for (outcome, what) in outcomes
        .into_iter()
        .zip(["dump XFRM SAs", "dump XFRM policies"])
    {
        replies.push(outcome.map_err(|e| kernel_error(what, &e))?);
    }
    let (sas, policies) = match replies.as_slice() {
        [sas, policies] => (sas.as_slice(), policies.as_slice()),
        _ => (&[][..], &[][..]),
    };
    let cleanup = plan(sas, policies, record);
    if !cleanup.unproven.is_empty() {
        let shown: Vec<&str> = cleanup
            .unproven
            .iter()
            .take(UNPROVEN_SHOWN)
            .map(String::as_str)
            .collect();
        tracing::info!(
            "left alone {} XFRM object(s) with a reqid in ikehub's range that this instance's \
             record does not list (another program's or another instance's): {}{}",
            cleanup.unproven.len(),
            shown.join(", "),
            if cleanup.unproven.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        );
    }
    // Entries whose object is not in the kernel, or is there under another reqid, are gone
    // as far as this run is concerned; only a failed removal keeps its entry.
    let mut kept = HashSet::new();
    let mut removed = 0;
    let mut first_error = None;
    if !cleanup.deletes.is_empty() {
        let requests: Vec<&Request> = cleanup.deletes.iter().map(|(_, _, r)| r).collect();
        let outcomes = match socket.transact(&requests).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                return Err(KernelError {
                    errno: None,
                    operation: "delete stale XFRM objects".to_owned(),
                    message: e.to_string(),
                })
            }
        };
        for ((key, operation, _), outcome) in cleanup.deletes.iter().zip(outcomes) {
            match outcome {
                Ok(_) => {
                    tracing::debug!(%operation, "removed");
                    removed += 1;
                }
                Err(error) if error.is_not_found() => {
                    tracing::debug!(%operation, "already gone");
                }
                Err(error) => {
                    tracing::warn!(%operation, error = %error.describe(), "stale object not removed");
                    kept.insert(key.as_str());
                    first_error.get_or_insert_with(|| kernel_error(operation, &error));
                }
            }
        }
    }
    record.retain(|key| kept.contains(key));
    match first_error {
        Some(error) => Err(error),
        None => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zeroize::Zeroizing;

    use super::super::policy::{PolicyDirection, PolicyKey, PolicySpec};
    use super::super::state::SaDirection;
    use super::super::uapi::XFRM_MSG_DELSA;
    use super::*;
    use crate::algorithm::Encryption;
    use crate::ike::EspSa;

    fn sa_reply(reqid: u32, spi: u32) -> Reply {
        let sa = EspSa {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            spi,
            encryption: Encryption::AesGcm16 { key_bits: 128 },
            integrity: None,
            encryption_key: Zeroizing::new(vec![1; 20]),
            integrity_key: Zeroizing::new(Vec::new()),
            esn: false,
            encap: None,
        };
        let request = state::add_sa(
            &sa,
            reqid,
            SaDirection::Inbound,
            &state::Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        Reply {
            msg_type: XFRM_MSG_NEWSA,
            payload: request.payload.clone(),
        }
    }

    fn policy_reply(reqid: u32) -> Reply {
        let spec = PolicySpec {
            key: PolicyKey {
                dir: PolicyDirection::Fwd,
                src: "10.2.0.0/24".parse().unwrap(),
                dst: "10.1.0.0/24".parse().unwrap(),
                if_id: None,
            },
            tmpl_src: "192.0.2.2".parse().unwrap(),
            tmpl_dst: "192.0.2.1".parse().unwrap(),
            reqid,
            offload: None,
        };
        let mut payload = policy::add_policy(&spec, false).payload;
        // The kernel reports the index it assigned.
        payload[156..160].copy_from_slice(&77u32.to_ne_bytes());
        Reply {
            msg_type: XFRM_MSG_NEWPOLICY,
            payload,
        }
    }

    /// The record of a run that installed the SA 0x20 and the fwd policy with reqid
    /// `REQID_BASE + 5`.
    fn record() -> Record {
        let mut record = Record::in_memory();
        record.claim(
            owned::sa_key("192.0.2.2".parse().unwrap(), 0x20),
            owned::proof(REQID_BASE),
        );
        record.claim(
            "policy fwd 10.2.0.0/24->10.1.0.0/24".to_owned(),
            owned::proof(REQID_BASE + 5),
        );
        record
    }

    #[test]
    fn only_recorded_objects_with_their_reqid_are_selected() {
        let sas = [
            sa_reply(7, 0x10),
            sa_reply(REQID_BASE, 0x20),
            sa_reply(REQID_BASE - 1, 0x30),
            // In ikehub's range, but not recorded: another program's.
            sa_reply(REQID_BASE + 0x123, 0x40),
        ];
        let policies = [policy_reply(7), policy_reply(REQID_BASE + 5)];
        let cleanup = plan(&sas, &policies, &record());
        let deletes = &cleanup.deletes;
        assert_eq!(deletes.len(), 2);
        assert_eq!(deletes[0].0, "sa 192.0.2.2 spi 0x00000020");
        assert_eq!(deletes[0].2.msg_type, XFRM_MSG_DELSA);
        assert_eq!(&deletes[0].2.payload[16..20], &0x20u32.to_be_bytes());
        assert_eq!(deletes[1].1, "delete stale policy index 77 dir 2");
        assert_eq!(&deletes[1].2.payload[56..60], &77u32.to_ne_bytes());
        assert_eq!(
            cleanup.unproven,
            vec!["SA 192.0.2.1->192.0.2.2 spi 0x00000040 reqid 0x40000123".to_owned()]
        );
    }

    #[test]
    fn a_recorded_key_under_another_reqid_is_left_alone() {
        // The same SA and policy keys, but made with other reqids than the record's.
        let sas = [sa_reply(REQID_BASE + 1, 0x20)];
        let policies = [policy_reply(REQID_BASE + 6)];
        let cleanup = plan(&sas, &policies, &record());
        assert!(cleanup.deletes.is_empty());
        assert_eq!(cleanup.unproven.len(), 2);
    }

    #[test]
    fn without_a_record_nothing_is_selected() {
        let sas = [sa_reply(REQID_BASE, 0x20)];
        let policies = [policy_reply(REQID_BASE + 5)];
        let cleanup = plan(&sas, &policies, &Record::in_memory());
        assert!(cleanup.deletes.is_empty());
        assert_eq!(cleanup.unproven.len(), 2);
    }

    #[test]
    fn truncated_dump_entries_are_skipped() {
        let mut sa = sa_reply(REQID_BASE, 0x20);
        sa.payload.truncate(100);
        let mut policy = policy_reply(REQID_BASE + 5);
        policy.payload.truncate(170);
        let cleanup = plan(&[sa], &[policy], &record());
        assert!(cleanup.deletes.is_empty() && cleanup.unproven.is_empty());
    }
}
