//! Start-up cleanup: remove the SAs and policies an earlier run left behind, recognised by
//! their reqid in ikehub's range, and nothing else.

use super::netlink::{Reply, Request, RequestSocket};
use super::policy;
use super::state;
use super::uapi::{parse_policy, parse_sa_info, IPPROTO_ESP, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA};
use crate::ike::REQID_BASE;
use crate::kernel::error::kernel_error;
use crate::kernel::KernelError;

fn ours(reqid: u32) -> bool {
    reqid >= REQID_BASE
}

/// Delete requests for ikehub's objects among dumped SAs and policies, with descriptions.
pub(super) fn stale_objects(sas: &[Reply], policies: &[Reply]) -> Vec<(String, Request)> {
    let mut deletes = Vec::new();
    for reply in sas.iter().filter(|r| r.msg_type == XFRM_MSG_NEWSA) {
        match parse_sa_info(&reply.payload) {
            Some(sa) if ours(sa.reqid) && sa.proto == IPPROTO_ESP => deletes.push((
                format!(
                    "delete stale SA {}->{} spi {:#010x} reqid {:#x}",
                    sa.src, sa.dst, sa.spi, sa.reqid
                ),
                state::delete_sa(sa.dst, sa.spi),
            )),
            Some(_) => {}
            None => tracing::debug!(len = reply.payload.len(), "undecodable SA in dump"),
        }
    }
    for reply in policies.iter().filter(|r| r.msg_type == XFRM_MSG_NEWPOLICY) {
        match parse_policy(&reply.payload) {
            Some(policy) if policy.templates.iter().any(|t| ours(t.reqid)) => deletes.push((
                format!(
                    "delete stale policy index {} dir {}",
                    policy.index, policy.dir
                ),
                policy::delete_policy_by_index(policy.index, policy.dir, policy.if_id),
            )),
            Some(_) => {}
            None => tracing::debug!(len = reply.payload.len(), "undecodable policy in dump"),
        }
    }
    deletes
}

pub(super) async fn remove_stale(socket: &mut RequestSocket) -> Result<usize, KernelError> {
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
    let deletes = stale_objects(sas, policies);
    if deletes.is_empty() {
        return Ok(0);
    }
    let requests: Vec<&Request> = deletes.iter().map(|(_, r)| r).collect();
    let outcomes = socket.transact(&requests).await.map_err(|e| KernelError {
        errno: None,
        operation: "delete stale XFRM objects".to_owned(),
        message: e.to_string(),
    })?;
    let mut removed = 0;
    let mut first_error = None;
    for ((operation, _), outcome) in deletes.iter().zip(outcomes) {
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
                first_error.get_or_insert_with(|| kernel_error(operation, &error));
            }
        }
    }
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
            Duration::ZERO,
            Duration::ZERO,
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

    #[test]
    fn only_our_reqid_range_is_selected() {
        let sas = [
            sa_reply(7, 0x10),
            sa_reply(REQID_BASE, 0x20),
            sa_reply(REQID_BASE - 1, 0x30),
        ];
        let policies = [policy_reply(7), policy_reply(REQID_BASE + 5)];
        let deletes = stale_objects(&sas, &policies);
        assert_eq!(deletes.len(), 2);
        assert_eq!(deletes[0].1.msg_type, XFRM_MSG_DELSA);
        assert_eq!(&deletes[0].1.payload[16..20], &0x20u32.to_be_bytes());
        assert_eq!(deletes[1].0, "delete stale policy index 77 dir 2");
        assert_eq!(&deletes[1].1.payload[56..60], &77u32.to_ne_bytes());
    }

    #[test]
    fn truncated_dump_entries_are_skipped() {
        let mut sa = sa_reply(REQID_BASE, 1);
        sa.payload.truncate(100);
        let mut policy = policy_reply(REQID_BASE);
        policy.payload.truncate(170);
        assert!(stale_objects(&[sa], &[policy]).is_empty());
    }
}
