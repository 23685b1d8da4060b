//! Turning [`KernelIntent`]s into XFRM requests, sending them as one batch, and undoing what
//! an intent created when one of its requests failed, so that no intent is left half-applied.

use std::net::IpAddr;

use ipnet::IpNet;

use super::netlink::{Outcome, Request, RequestSocket, EEXIST};
use super::offload::{DeviceOffload, HwMode};
use super::owned;
use super::policy::{self, PolicyKey, PolicySpec};
use super::state::{self, SaDirection};
use super::uapi;
use crate::ike::{ChildInstall, EspSa, KernelIntent, TrapPolicies};
use crate::kernel::error::{kernel_error, transport_error};
use crate::kernel::record::Record;
use crate::kernel::{KernelError, OffloadMode};

/// What one request does, so that its outcome can be judged and undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    AddSa { dst: IpAddr, spi: u32 },
    AddPolicy(PolicySpec),
    DeleteSa { dst: IpAddr, spi: u32 },
    DeletePolicy(PolicyKey),
}

pub(super) struct Op {
    pub step: Step,
    /// For errors and logs, e.g. "add SA 192.0.2.1->192.0.2.2 spi 0x1234abcd reqid 0x40000001".
    pub operation: String,
    pub request: Request,
}

/// Something an intent created, to remove if the intent fails.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Undo {
    Sa { dst: IpAddr, spi: u32 },
    Policy(PolicyKey),
}

impl Undo {
    fn record_key(&self) -> String {
        match self {
            Undo::Sa { dst, spi } => owned::sa_key(*dst, *spi),
            Undo::Policy(key) => owned::policy_key(key),
        }
    }
}

/// The record entry (key, proof) of the object `op` adds; `None` for a delete.
fn claim_of(op: &Op) -> Option<(String, String)> {
    match &op.step {
        // The add request carries the reqid; it was built by `state::add_sa` just before.
        Step::AddSa { dst, spi } => uapi::parse_sa_info(&op.request.payload)
            .map(|sa| (owned::sa_key(*dst, *spi), owned::proof(sa.reqid))),
        Step::AddPolicy(spec) => Some((owned::policy_key(&spec.key), owned::proof(spec.reqid))),
        Step::DeleteSa { .. } | Step::DeletePolicy(_) => None,
    }
}

/// The record key of the object `op` deletes.
fn deleted_key(op: &Op) -> Option<String> {
    match &op.step {
        Step::DeleteSa { dst, spi } => Some(owned::sa_key(*dst, *spi)),
        Step::DeletePolicy(key) => Some(owned::policy_key(key)),
        Step::AddSa { .. } | Step::AddPolicy(_) => None,
    }
}

fn sa_operation(verb: &str, src: IpAddr, dst: IpAddr, spi: u32) -> String {
    format!("{verb} SA {src}->{dst} spi {spi:#010x}")
}

/// The SA's lifetimes and interface, shared by both directions of a CHILD_SA.
struct SaContext {
    reqid: u32,
    limits: state::Limits,
    if_id: Option<u32>,
}

fn add_sa_op(
    sa: &EspSa,
    direction: SaDirection,
    context: &SaContext,
    offload: Option<&DeviceOffload>,
) -> Result<Op, KernelError> {
    let mut operation = format!(
        "{} reqid {:#x}",
        sa_operation("add", sa.src, sa.dst, sa.spi),
        context.reqid
    );
    if let Some(offload) = offload {
        operation.push_str(&format!(
            " with {} offload on {}",
            offload.mode, offload.device
        ));
    }
    let request = state::add_sa(
        sa,
        context.reqid,
        direction,
        &context.limits,
        context.if_id,
        offload,
    )
    .map_err(|message| KernelError {
        errno: None,
        operation: operation.clone(),
        message,
    })?;
    Ok(Op {
        step: Step::AddSa {
            dst: sa.dst,
            spi: sa.spi,
        },
        operation,
        request,
    })
}

/// The devices and modes one attempt of an install offers its SAs to; `None`: software.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OffloadChoice {
    pub inbound: Option<DeviceOffload>,
    pub outbound: Option<DeviceOffload>,
}

impl OffloadChoice {
    /// Packet offload covers the policies too (the kernel's packet path starts at the
    /// policy): the ifindex for the `out` policy and for `in`/`fwd`, when every SA of the
    /// attempt is in packet mode.
    fn policy_devices(&self, has_outbound: bool) -> Option<(u32, u32)> {
        let packet = |o: &Option<DeviceOffload>| {
            o.as_ref()
                .filter(|o| o.mode == HwMode::Packet)
                .map(|o| o.ifindex)
        };
        let inbound = packet(&self.inbound)?;
        if has_outbound {
            Some((packet(&self.outbound)?, inbound))
        } else {
            Some((inbound, inbound))
        }
    }
}

fn install_ops(child: &ChildInstall, choice: &OffloadChoice) -> Result<Vec<Op>, KernelError> {
    let context = SaContext {
        reqid: child.reqid,
        limits: state::Limits {
            soft: child.soft_lifetime,
            hard: child.hard_lifetime,
            bytes: child.byte_limit,
        },
        if_id: child.if_id,
    };
    // Inbound first: the peer may send as soon as it has installed its outbound SA.
    let mut ops = vec![add_sa_op(
        &child.inbound,
        SaDirection::Inbound,
        &context,
        choice.inbound.as_ref(),
    )?];
    if let Some(outbound) = &child.outbound {
        ops.push(add_sa_op(
            outbound,
            SaDirection::Outbound,
            &context,
            choice.outbound.as_ref(),
        )?);
    }
    let policy_devices = choice.policy_devices(child.outbound.is_some());
    // The tunnel's ends, outbound: from us (the inbound SA's destination) to the peer.
    let tunnel_out = (child.inbound.dst, child.inbound.src);
    let specs = policy::policy_specs(
        &child.local_selectors,
        &child.remote_selectors,
        tunnel_out,
        (child.inbound.src, child.inbound.dst),
        child.reqid,
        child.if_id,
    );
    for mut spec in specs {
        spec.offload = policy_devices.map(|(out, inbound)| match spec.key.dir {
            policy::PolicyDirection::Out => out,
            policy::PolicyDirection::In | policy::PolicyDirection::Fwd => inbound,
        });
        ops.push(add_policy_op(spec));
    }
    Ok(ops)
}

/// Adds one policy; one that exists already is updated in a second round (see [`run`]).
fn add_policy_op(spec: PolicySpec) -> Op {
    let offloaded = if spec.offload.is_some() {
        " with packet offload"
    } else {
        ""
    };
    Op {
        operation: format!("add {} reqid {:#x}{offloaded}", spec.key, spec.reqid),
        request: policy::add_policy(&spec, false),
        step: Step::AddPolicy(spec),
    }
}

/// Deletes the out, in and fwd policies of every selector pair.
fn delete_policy_ops(local: &[IpNet], remote: &[IpNet], if_id: Option<u32>) -> Vec<Op> {
    policy::policy_keys(local, remote, if_id)
        .into_iter()
        .map(|key| Op {
            operation: format!("delete {key}"),
            request: policy::delete_policy(&key),
            step: Step::DeletePolicy(key),
        })
        .collect()
}

/// A trap's policies: a CHILD_SA's, without its SAs. Those that exist (a CHILD_SA of the
/// trap's reqid still holds them, or the trap is put back) are updated to the trap's template.
fn trap_ops(trap: &TrapPolicies) -> Vec<Op> {
    policy::policy_specs(
        &trap.local_selectors,
        &trap.remote_selectors,
        (trap.local, trap.remote),
        (trap.remote, trap.local),
        trap.reqid,
        trap.if_id,
    )
    .into_iter()
    .map(add_policy_op)
    .collect()
}

/// The requests of one intent, in the order the kernel must see them.
pub(super) fn plan(intent: &KernelIntent, choice: &OffloadChoice) -> Result<Vec<Op>, KernelError> {
    match intent {
        KernelIntent::InstallChild { child, .. } => install_ops(child, choice),
        KernelIntent::InstallOutbound { child, .. } => {
            let context = SaContext {
                reqid: child.reqid,
                limits: state::Limits {
                    soft: child.soft_lifetime,
                    hard: child.hard_lifetime,
                    bytes: child.byte_limit,
                },
                if_id: child.if_id,
            };
            Ok(vec![add_sa_op(
                &child.sa,
                SaDirection::Outbound,
                &context,
                choice.outbound.as_ref(),
            )?])
        }
        KernelIntent::DeleteChild {
            inbound,
            outbound,
            remove_policies,
            local_selectors,
            remote_selectors,
            if_id,
            ..
        } => {
            let mut ops = Vec::new();
            if *remove_policies {
                ops = delete_policy_ops(local_selectors, remote_selectors, *if_id);
            }
            for &(src, dst, spi) in [inbound, outbound] {
                ops.push(Op {
                    step: Step::DeleteSa { dst, spi },
                    operation: sa_operation("delete", src, dst, spi),
                    request: state::delete_sa(dst, spi),
                });
            }
            Ok(ops)
        }
        KernelIntent::InstallTrap { trap, .. } => Ok(trap_ops(trap)),
        KernelIntent::RemoveTrap { trap, .. } => Ok(delete_policy_ops(
            &trap.local_selectors,
            &trap.remote_selectors,
            trap.if_id,
        )),
    }
}

/// Writes the record's changes. A failure does not stop the kernel's work: tunnels go on,
/// and the next write retries with the whole record.
fn flush(record: &mut Record) {
    if let Err(error) = record.flush() {
        tracing::error!(
            "{error}; after a crash, the next start may leave this run's kernel objects behind"
        );
    }
}

/// What a [`transport_error`] names: the socket failed, not one request.
const EXCHANGE: &str = "XFRM netlink exchange";

/// An offloaded SA to read back once installed: the kernel may have put it in software
/// without saying so (xfrm_dev_state_add returns success when the device has no XFRM ops or
/// its driver answers EOPNOTSUPP in crypto mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OffloadCheck {
    pub dst: IpAddr,
    pub spi: u32,
    pub wanted: HwMode,
    pub device: String,
    /// A strict setting: an SA the device did not take fails.
    pub strict: bool,
    /// Added by the operation's name in errors.
    pub operation: String,
}

/// One intent as a round of [`run`] applies it.
pub(super) struct Planned {
    pub ops: Result<Vec<Op>, KernelError>,
    pub checks: Vec<OffloadCheck>,
}

/// What became of one intent in a round.
#[derive(Debug)]
pub(super) struct RoundResult {
    pub result: Result<(), KernelError>,
    /// The step that failed, when the kernel refused one.
    pub failed: Option<Step>,
    /// For every [`OffloadCheck`] that was read back: (SPI, what the kernel installed).
    pub installed: Vec<(u32, OffloadMode)>,
}

/// Progress of one intent through the phases of [`run`].
struct Progress {
    ops: Vec<Op>,
    error: Option<KernelError>,
    failed: Option<Step>,
    created: Vec<Undo>,
    /// Policies that already existed (a rekey of the same reqid): replaced with UPDPOLICY.
    existing_policies: Vec<PolicySpec>,
    checks: Vec<OffloadCheck>,
    installed: Vec<(u32, OffloadMode)>,
    /// Entries recorded ahead of the requests: (op index, key, the proof it had before).
    claims: Vec<(usize, String, Option<String>)>,
    /// Adds the kernel refused: their claims are taken back.
    not_created: Vec<usize>,
    /// Keys of objects known to be gone: deleted, rolled back, or already absent.
    gone: Vec<String>,
}

impl Progress {
    /// Judges the kernel's answer to `ops[index]`.
    fn record(&mut self, index: usize, outcome: Outcome) {
        let Some(op) = self.ops.get(index) else {
            return;
        };
        match (outcome, &op.step) {
            (Ok(_), Step::AddSa { dst, spi }) => self.created.push(Undo::Sa {
                dst: *dst,
                spi: *spi,
            }),
            (Ok(_), Step::AddPolicy(spec)) => self.created.push(Undo::Policy(spec.key)),
            (Ok(_), Step::DeleteSa { .. } | Step::DeletePolicy(_)) => {
                self.gone.extend(deleted_key(op));
            }
            (Err(error), Step::AddPolicy(spec)) if error.errno == EEXIST => {
                self.existing_policies.push(spec.clone());
            }
            (Err(error), Step::DeleteSa { .. } | Step::DeletePolicy(_)) if error.is_not_found() => {
                tracing::debug!(operation = %op.operation, "already gone");
                self.gone.extend(deleted_key(op));
            }
            (Err(error), step) => {
                if matches!(step, Step::AddSa { .. } | Step::AddPolicy(_)) {
                    self.not_created.push(index);
                }
                if self.error.is_none() {
                    self.error = Some(kernel_error(&op.operation, &error));
                    self.failed = Some(step.clone());
                }
            }
        }
    }

    /// Judges the read-back of `checks[index]`.
    fn verify(&mut self, index: usize, outcome: Outcome) {
        let Some(check) = self.checks.get(index) else {
            return;
        };
        let installed = match outcome {
            Ok(replies) => replies
                .iter()
                .filter(|r| r.msg_type == uapi::XFRM_MSG_NEWSA)
                .map(|r| {
                    uapi::sa_offload_value(&r.payload)
                        .and_then(super::offload::parse_attribute)
                        .map_or(OffloadMode::None, |(_, mode)| mode)
                })
                .next(),
            Err(error) => {
                tracing::warn!(operation = %check.operation, error = %error.describe(), "could not read the SA back");
                None
            }
        };
        let Some(installed) = installed else {
            return;
        };
        self.installed.push((check.spi, installed));
        if check.strict && installed != check.wanted.installed() && self.error.is_none() {
            self.error = Some(KernelError {
                errno: None,
                operation: check.operation.clone(),
                message: format!(
                    "the kernel installed the SA with offload {installed} instead: {} declined \
                     {} offload of it",
                    check.device, check.wanted
                ),
            });
            self.failed = Some(Step::AddSa {
                dst: check.dst,
                spi: check.spi,
            });
        }
    }
}

/// Applies planned intents in order, as one batch; one result per intent. An intent that
/// fails is rolled back. Every object added is in `record` before its request is sent, and
/// leaves it once the kernel has confirmed it gone (see `kernel::record`).
pub(super) async fn run(
    socket: &mut RequestSocket,
    record: &mut Record,
    planned: Vec<Planned>,
) -> Vec<RoundResult> {
    let mut progress: Vec<Progress> = planned
        .into_iter()
        .map(|planned| {
            let (ops, error) = match planned.ops {
                Ok(ops) => (ops, None),
                Err(error) => (Vec::new(), Some(error)),
            };
            Progress {
                ops,
                error,
                failed: None,
                created: Vec::new(),
                existing_policies: Vec::new(),
                checks: planned.checks,
                installed: Vec::new(),
                claims: Vec::new(),
                not_created: Vec::new(),
                gone: Vec::new(),
            }
        })
        .collect();

    // Phase 0: record what this round may create, before the kernel sees it.
    for p in &mut progress {
        for (index, op) in p.ops.iter().enumerate() {
            if let Some((key, proof)) = claim_of(op) {
                let previous = record.claim(key.clone(), proof);
                p.claims.push((index, key, previous));
            }
        }
    }
    flush(record);

    // Phase 1: every request of every intent, one batch.
    let requests: Vec<&Request> = progress
        .iter()
        .flat_map(|p| p.ops.iter().map(|op| &op.request))
        .collect();
    let outcomes = match socket.transact(&requests).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            let error = transport_error(EXCHANGE, &error);
            // Nothing was applied: the claims go back to what they were.
            for p in &mut progress {
                for (_, key, previous) in p.claims.drain(..) {
                    record.restore(key, previous);
                }
            }
            flush(record);
            return progress
                .into_iter()
                .map(|p| RoundResult {
                    result: Err(p.error.unwrap_or_else(|| error.clone())),
                    failed: None,
                    installed: Vec::new(),
                })
                .collect();
        }
    };
    drop(requests);
    let mut outcomes = outcomes.into_iter();
    for p in &mut progress {
        for index in 0..p.ops.len() {
            if let Some(outcome) = outcomes.next() {
                p.record(index, outcome);
            }
        }
    }

    // Phase 2: policies that existed already (make-before-break rekey) take the new
    // template; the kernel keeps forwarding with them throughout.
    let updates: Vec<(usize, String, Request)> = progress
        .iter()
        .enumerate()
        .filter(|(_, p)| p.error.is_none())
        .flat_map(|(i, p)| {
            p.existing_policies.iter().map(move |spec| {
                (
                    i,
                    format!("update {} reqid {:#x}", spec.key, spec.reqid),
                    policy::add_policy(spec, true),
                )
            })
        })
        .collect();
    if !updates.is_empty() {
        let requests: Vec<&Request> = updates.iter().map(|(_, _, r)| r).collect();
        match socket.transact(&requests).await {
            Ok(outcomes) => {
                for ((i, operation, _), outcome) in updates.iter().zip(outcomes) {
                    if let (Err(error), Some(p)) = (outcome, progress.get_mut(*i)) {
                        if p.error.is_none() {
                            p.error = Some(kernel_error(operation, &error));
                        }
                    }
                }
            }
            Err(error) => {
                let error = transport_error(EXCHANGE, &error);
                for (i, _, _) in &updates {
                    if let Some(p) = progress.get_mut(*i) {
                        p.error.get_or_insert_with(|| error.clone());
                    }
                }
            }
        }
    }

    // Phase 3: read offloaded SAs back; a strict setting fails where the device did not
    // take the SA although the kernel accepted it.
    let reads: Vec<(usize, usize, Request)> = progress
        .iter()
        .enumerate()
        .filter(|(_, p)| p.error.is_none())
        .flat_map(|(i, p)| {
            p.checks
                .iter()
                .enumerate()
                .map(move |(c, check)| (i, c, state::get_sa(check.dst, check.spi)))
        })
        .collect();
    if !reads.is_empty() {
        let requests: Vec<&Request> = reads.iter().map(|(_, _, r)| r).collect();
        match socket.transact(&requests).await {
            Ok(outcomes) => {
                for ((i, c, _), outcome) in reads.iter().zip(outcomes) {
                    if let Some(p) = progress.get_mut(*i) {
                        p.verify(*c, outcome);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not read offloaded SAs back");
            }
        }
    }

    // Phase 4: undo what failed intents created.
    let mut undo: Vec<(usize, String, Request)> = Vec::new();
    for (i, p) in progress.iter().enumerate() {
        if p.error.is_none() {
            continue;
        }
        for created in p.created.iter().rev() {
            undo.push(match created {
                Undo::Policy(key) => (i, format!("delete {key}"), policy::delete_policy(key)),
                Undo::Sa { dst, spi } => (
                    i,
                    format!("delete SA to {dst} spi {spi:#010x}"),
                    state::delete_sa(*dst, *spi),
                ),
            });
        }
    }
    let undone: Vec<(usize, String)> = progress
        .iter()
        .enumerate()
        .filter(|(_, p)| p.error.is_some())
        .flat_map(|(i, p)| p.created.iter().rev().map(move |c| (i, c.record_key())))
        .collect();
    if !undo.is_empty() {
        let requests: Vec<&Request> = undo.iter().map(|(_, _, r)| r).collect();
        let outcomes = socket.transact(&requests).await;
        for (index, (i, operation, _)) in undo.iter().enumerate() {
            let failure = match &outcomes {
                Ok(outcomes) => match outcomes.get(index) {
                    Some(Err(error)) if !error.is_not_found() => Some(error.describe()),
                    _ => None,
                },
                Err(error) => Some(error.to_string()),
            };
            if let Some(failure) = failure {
                tracing::warn!(%operation, %failure, "rollback step failed");
                if let Some(KernelError { message, .. }) =
                    progress.get_mut(*i).and_then(|p| p.error.as_mut())
                {
                    message.push_str(&format!("; rollback could not {operation}: {failure}"));
                }
            } else if let (Some((_, key)), Some(p)) = (undone.get(index), progress.get_mut(*i)) {
                p.gone.push(key.clone());
            }
        }
    }

    // The record follows what the kernel said: refused adds are taken back, objects that
    // are gone are forgotten.
    for p in &mut progress {
        for (index, key, previous) in p.claims.drain(..) {
            if p.not_created.contains(&index) {
                record.restore(key, previous);
            }
        }
        for key in p.gone.drain(..) {
            record.forget(&key);
        }
    }
    flush(record);

    progress
        .into_iter()
        .map(|p| RoundResult {
            result: match p.error {
                None => Ok(()),
                Some(error) => Err(error),
            },
            failed: p.failed,
            installed: p.installed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zeroize::Zeroizing;

    use super::super::netlink::NetlinkError;
    use super::super::uapi::{
        XFRM_MSG_DELPOLICY, XFRM_MSG_DELSA, XFRM_MSG_NEWPOLICY, XFRM_MSG_NEWSA,
    };
    use super::*;
    use crate::algorithm::Encryption;
    use crate::ike::{ConnId, EspSa, IntentId, Offload, SaId};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn esp(src: &str, dst: &str, spi: u32) -> EspSa {
        EspSa {
            src: ip(src),
            dst: ip(dst),
            spi,
            encryption: Encryption::AesGcm16 { key_bits: 128 },
            integrity: None,
            encryption_key: Zeroizing::new(vec![7; 20]),
            integrity_key: Zeroizing::new(Vec::new()),
            esn: false,
            encap: None,
        }
    }

    #[test]
    fn install_plan_order() {
        let intent = KernelIntent::InstallChild {
            id: IntentId(1),
            child: Box::new(ChildInstall {
                conn: ConnId(0),
                ike_sa: SaId(0),
                reqid: 0x4000_0001,
                inbound: esp("192.0.2.2", "192.0.2.1", 0x100),
                outbound: Some(esp("192.0.2.1", "192.0.2.2", 0x200)),
                local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
                remote_selectors: vec!["10.2.0.0/24".parse().unwrap()],
                soft_lifetime: Duration::from_secs(5),
                hard_lifetime: Duration::from_secs(10),
                byte_limit: None,
                if_id: None,
                offload: Offload::None,
            }),
        };
        let ops = plan(&intent, &OffloadChoice::default()).unwrap();
        let kinds: Vec<u16> = ops.iter().map(|op| op.request.msg_type).collect();
        assert_eq!(
            kinds,
            vec![
                XFRM_MSG_NEWSA,
                XFRM_MSG_NEWSA,
                XFRM_MSG_NEWPOLICY,
                XFRM_MSG_NEWPOLICY,
                XFRM_MSG_NEWPOLICY
            ]
        );
        assert_eq!(
            ops[0].step,
            Step::AddSa {
                dst: ip("192.0.2.1"),
                spi: 0x100
            }
        );
        assert_eq!(
            ops[0].operation,
            "add SA 192.0.2.2->192.0.2.1 spi 0x00000100 reqid 0x40000001"
        );
        assert_eq!(
            ops[2].operation,
            "add policy out 10.1.0.0/24->10.2.0.0/24 reqid 0x40000001"
        );
    }

    #[test]
    fn deferred_outbound_sa_is_planned_on_its_own() {
        let child = |outbound| ChildInstall {
            conn: ConnId(0),
            ike_sa: SaId(0),
            reqid: 0x4000_0001,
            inbound: esp("192.0.2.2", "192.0.2.1", 0x100),
            outbound,
            local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
            remote_selectors: vec!["10.2.0.0/24".parse().unwrap()],
            soft_lifetime: Duration::from_secs(5),
            hard_lifetime: Duration::from_secs(10),
            byte_limit: None,
            if_id: Some(9),
            offload: Offload::None,
        };
        // Inbound only: one SA, and the policies still name the tunnel's ends.
        let ops = plan(
            &KernelIntent::InstallChild {
                id: IntentId(1),
                child: Box::new(child(None)),
            },
            &OffloadChoice::default(),
        )
        .unwrap();
        let kinds: Vec<u16> = ops.iter().map(|op| op.request.msg_type).collect();
        assert_eq!(
            kinds,
            vec![
                XFRM_MSG_NEWSA,
                XFRM_MSG_NEWPOLICY,
                XFRM_MSG_NEWPOLICY,
                XFRM_MSG_NEWPOLICY
            ]
        );
        let with_outbound = plan(
            &KernelIntent::InstallChild {
                id: IntentId(1),
                child: Box::new(child(Some(esp("192.0.2.1", "192.0.2.2", 0x200)))),
            },
            &OffloadChoice::default(),
        )
        .unwrap();
        let policies = |ops: &[Op]| {
            ops.iter()
                .filter_map(|op| match &op.step {
                    Step::AddPolicy(spec) => Some(spec.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(policies(&ops), policies(&with_outbound));
        // The outbound SA later: just that SA, with the child's reqid and lifetimes.
        let later = plan(
            &KernelIntent::InstallOutbound {
                id: IntentId(2),
                child: Box::new(crate::ike::OutboundInstall {
                    conn: ConnId(0),
                    ike_sa: SaId(0),
                    reqid: 0x4000_0001,
                    sa: esp("192.0.2.1", "192.0.2.2", 0x200),
                    soft_lifetime: Duration::from_secs(5),
                    hard_lifetime: Duration::from_secs(10),
                    byte_limit: None,
                    if_id: Some(9),
                    offload: Offload::None,
                }),
            },
            &OffloadChoice::default(),
        )
        .unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].request.msg_type, XFRM_MSG_NEWSA);
        assert_eq!(
            later[0].operation,
            "add SA 192.0.2.1->192.0.2.2 spi 0x00000200 reqid 0x40000001"
        );
    }

    #[test]
    fn delete_plan_with_and_without_policies() {
        let intent = |remove_policies| KernelIntent::DeleteChild {
            id: IntentId(2),
            reqid: 0x4000_0001,
            inbound: (ip("192.0.2.2"), ip("192.0.2.1"), 0x100),
            outbound: (ip("192.0.2.1"), ip("192.0.2.2"), 0x200),
            remove_policies,
            local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
            remote_selectors: vec!["10.2.0.0/24".parse().unwrap()],
            if_id: None,
        };
        let kinds = |ops: Vec<Op>| ops.iter().map(|op| op.request.msg_type).collect::<Vec<_>>();
        assert_eq!(
            kinds(plan(&intent(false), &OffloadChoice::default()).unwrap()),
            vec![XFRM_MSG_DELSA, XFRM_MSG_DELSA]
        );
        assert_eq!(
            kinds(plan(&intent(true), &OffloadChoice::default()).unwrap()),
            vec![
                XFRM_MSG_DELPOLICY,
                XFRM_MSG_DELPOLICY,
                XFRM_MSG_DELPOLICY,
                XFRM_MSG_DELSA,
                XFRM_MSG_DELSA
            ]
        );
    }

    #[test]
    fn trap_plan_is_policies_alone() {
        let trap = TrapPolicies {
            conn: ConnId(0),
            reqid: 0x4000_0002,
            local: ip("192.0.2.1"),
            remote: ip("192.0.2.2"),
            local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
            remote_selectors: vec![
                "10.2.0.0/24".parse().unwrap(),
                "10.3.0.0/24".parse().unwrap(),
            ],
            if_id: None,
        };
        let install = plan(
            &KernelIntent::InstallTrap {
                id: IntentId(3),
                trap: Box::new(trap.clone()),
            },
            &OffloadChoice::default(),
        )
        .unwrap();
        // Out, in and fwd for each pair, with the tunnel's template and the trap's reqid: a
        // CHILD_SA's policies, without its SAs.
        assert_eq!(install.len(), 6);
        assert!(install
            .iter()
            .all(|op| op.request.msg_type == XFRM_MSG_NEWPOLICY));
        let Step::AddPolicy(out) = &install[0].step else {
            panic!("{:?}", install[0].step)
        };
        assert_eq!(out.key.dir, policy::PolicyDirection::Out);
        assert_eq!((out.tmpl_src, out.tmpl_dst), (trap.local, trap.remote));
        assert_eq!(out.reqid, 0x4000_0002);
        let Step::AddPolicy(inbound) = &install[1].step else {
            panic!("{:?}", install[1].step)
        };
        assert_eq!(
            (inbound.tmpl_src, inbound.tmpl_dst),
            (trap.remote, trap.local)
        );
        assert_eq!(
            install[0].operation,
            "add policy out 10.1.0.0/24->10.2.0.0/24 reqid 0x40000002"
        );
        let remove = plan(
            &KernelIntent::RemoveTrap {
                id: IntentId(4),
                trap: Box::new(trap),
            },
            &OffloadChoice::default(),
        )
        .unwrap();
        assert_eq!(remove.len(), 6);
        assert!(remove
            .iter()
            .all(|op| op.request.msg_type == XFRM_MSG_DELPOLICY));
    }

    #[test]
    fn outcomes_decide_rollback() {
        let spec = PolicySpec {
            key: PolicyKey {
                dir: policy::PolicyDirection::Out,
                src: "10.1.0.0/24".parse().unwrap(),
                dst: "10.2.0.0/24".parse().unwrap(),
                if_id: None,
            },
            tmpl_src: ip("192.0.2.1"),
            tmpl_dst: ip("192.0.2.2"),
            reqid: 1,
            offload: None,
        };
        let op = |step: Step| Op {
            request: Request::dump(0),
            operation: format!("{step:?}"),
            step,
        };
        let mut p = Progress {
            ops: vec![
                op(Step::AddSa {
                    dst: ip("192.0.2.1"),
                    spi: 1,
                }),
                op(Step::AddPolicy(spec.clone())),
                op(Step::AddPolicy(spec.clone())),
                op(Step::AddSa {
                    dst: ip("192.0.2.2"),
                    spi: 2,
                }),
            ],
            error: None,
            failed: None,
            created: Vec::new(),
            existing_policies: Vec::new(),
            checks: Vec::new(),
            installed: Vec::new(),
            claims: Vec::new(),
            not_created: Vec::new(),
            gone: Vec::new(),
        };
        p.record(0, Ok(Vec::new()));
        p.record(
            1,
            Err(NetlinkError {
                errno: EEXIST,
                ext_ack: None,
            }),
        );
        p.record(2, Ok(Vec::new()));
        assert!(p.error.is_none());
        p.record(
            3,
            Err(NetlinkError {
                errno: 22,
                ext_ack: Some("bad key".into()),
            }),
        );
        assert_eq!(p.existing_policies, vec![spec.clone()]);
        assert_eq!(
            p.created,
            vec![
                Undo::Sa {
                    dst: ip("192.0.2.1"),
                    spi: 1
                },
                Undo::Policy(spec.key)
            ]
        );
        let error = p.error.unwrap();
        assert_eq!(error.message, "Invalid argument (bad key)");
        assert!(error.operation.contains("spi: 2"));
    }

    fn sa_reply(offload: Option<u8>) -> Outcome {
        let mut payload = vec![0u8; uapi::USERSA_INFO_LEN];
        if let Some(flags) = offload {
            // struct nlattr (len 12, XFRMA_OFFLOAD_DEV) + struct xfrm_user_offload.
            payload.extend_from_slice(&12u16.to_ne_bytes());
            payload.extend_from_slice(&uapi::XFRMA_OFFLOAD_DEV.to_ne_bytes());
            payload.extend_from_slice(&5u32.to_ne_bytes());
            payload.extend_from_slice(&[flags, 0, 0, 0]);
        }
        Ok(vec![super::super::netlink::Reply {
            msg_type: XFRM_MSG_NEWSA,
            payload: Zeroizing::new(payload),
        }])
    }

    fn checking(strict: bool) -> Progress {
        Progress {
            ops: Vec::new(),
            error: None,
            failed: None,
            created: Vec::new(),
            existing_policies: Vec::new(),
            checks: vec![OffloadCheck {
                dst: ip("192.0.2.1"),
                spi: 0x100,
                wanted: HwMode::Crypto,
                device: "eni0np1".into(),
                strict,
                operation: "crypto offload on eni0np1 of SA to 192.0.2.1 spi 0x00000100".into(),
            }],
            installed: Vec::new(),
            claims: Vec::new(),
            not_created: Vec::new(),
            gone: Vec::new(),
        }
    }

    #[test]
    fn read_back_offload_decides_strict_settings() {
        // The device took the SA (inbound flag set by the kernel): fine either way.
        let mut strict = checking(true);
        strict.verify(0, sa_reply(Some(2)));
        assert!(strict.error.is_none());
        assert_eq!(strict.installed, vec![(0x100, OffloadMode::Crypto)]);
        // The kernel installed it in software without a word: strict fails, naming it.
        let mut strict = checking(true);
        strict.verify(0, sa_reply(None));
        let error = strict.error.clone().unwrap();
        assert!(error.message.contains("offload none"), "{}", error.message);
        assert!(error.message.contains("eni0np1 declined crypto offload"));
        assert_eq!(
            strict.failed,
            Some(Step::AddSa {
                dst: ip("192.0.2.1"),
                spi: 0x100
            })
        );
        // auto only records what it got.
        let mut auto = checking(false);
        auto.verify(0, sa_reply(None));
        assert!(auto.error.is_none());
        assert_eq!(auto.installed, vec![(0x100, OffloadMode::None)]);
    }
}
