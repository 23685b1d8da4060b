//! CHILD_SA bookkeeping shared by the exchanges that create, rekey and delete them: kernel
//! intents, SPI reservations, rekey deadlines and events.

use std::time::{Duration, Instant};

use crate::crypto::keymat::ChildKeys;

use super::context::Context;
use super::error::KernelFailure;
use super::output::{ChildInstall, DownReason, EspSa, Event, KernelIntent, OutboundInstall};
use super::sa::{ChildSa, ChildState, ChildSuite, IkeSa, RequestKind};
use super::selector::{self, Selector};
use super::settings::ConnectionSettings;
use super::timer::Timer;

/// A negotiated CHILD_SA before it is installed.
pub(super) struct NewChild {
    pub suite: ChildSuite,
    pub keys: ChildKeys,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    /// Selectors on our side and the peer's side.
    pub local_ts: Vec<Selector>,
    pub remote_ts: Vec<Selector>,
    /// We initiated the exchange that created it (decides which half of KEYMAT is ours).
    pub initiator: bool,
    /// The reqid of the child it replaces, so the kernel policies carry over.
    pub reqid: Option<u32>,
    /// We answered the peer's rekey of a child we still hold: install our outbound SA only
    /// when the peer deletes that child (RFC 7296 2.8).
    pub defer_outbound: bool,
    /// The bytes each SA may protect, when the peer negotiated a limit (IKEv1).
    pub byte_limit: Option<u64>,
    /// The lifetime the peer negotiated (IKEv1, RFC 2407 4.5): the pair lives no longer
    /// than that, nor than our own `child_lifetime`.
    pub agreed_lifetime: Option<Duration>,
}

/// Identifies the kernel policies of a child: the same if_id and selectors are the same
/// policies, whichever reqid installed them last.
fn policy_key(if_id: Option<u32>, local: &[Selector], remote: &[Selector]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (if_id, local, remote).hash(&mut hasher);
    hasher.finish()
}

/// Rekey deadline: the configured lifetime minus up to 10% random jitter, so that the two
/// ends rarely start at the same moment (strongSwan's rand_time).
pub(super) fn jittered(lifetime: Duration, random: u32) -> Duration {
    let jitter = lifetime / 10;
    let fraction = f64::from(random) / f64::from(u32::MAX);
    lifetime.saturating_sub(jitter.mul_f64(fraction))
}

/// The kernel's hard expiry of a CHILD_SA's SAs, for a configured `lifetime`: it ends an SA
/// that could not be rekeyed (strongSwan: life = 110% rekey).
pub(super) fn hard_lifetime(lifetime: Duration) -> Duration {
    lifetime + lifetime / 10
}

/// The kernel's two ESP SAs of a CHILD_SA: the keys of each direction, the addresses and,
/// behind a NAT, the UDP encapsulation ports (RFC 3948).
fn esp_sas(
    sa: &IkeSa,
    suite: &ChildSuite,
    keys: ChildKeys,
    initiator: bool,
    (inbound_spi, outbound_spi): (u32, u32),
) -> (EspSa, EspSa) {
    // RFC 7296 2.17: the first half of KEYMAT protects initiator-to-responder traffic.
    let (in_enc, in_int, out_enc, out_int) = if initiator {
        (keys.encr_r, keys.integ_r, keys.encr_i, keys.integ_i)
    } else {
        (keys.encr_i, keys.integ_i, keys.encr_r, keys.integ_r)
    };
    let encap = sa.nat.any();
    let inbound = EspSa {
        src: sa.remote.ip(),
        dst: sa.local.ip(),
        spi: inbound_spi,
        encryption: suite.encryption,
        integrity: suite.integrity,
        encryption_key: in_enc,
        integrity_key: in_int,
        esn: suite.esn,
        encap: encap.then(|| (sa.remote.port(), sa.local.port())),
    };
    let outbound = EspSa {
        src: sa.local.ip(),
        dst: sa.remote.ip(),
        spi: outbound_spi,
        encryption: suite.encryption,
        integrity: suite.integrity,
        encryption_key: out_enc,
        integrity_key: out_int,
        esn: suite.esn,
        encap: encap.then(|| (sa.local.port(), sa.remote.port())),
    };
    (inbound, outbound)
}

/// What the kernel layer installs for a CHILD_SA: its SAs with lifetimes, selectors, xfrm
/// interface and offload; the outbound SA apart when it must wait (see
/// [`ChildInstall::outbound`]).
fn kernel_install(
    sa: &IkeSa,
    settings: &ConnectionSettings,
    reqid: u32,
    (inbound, outbound): (EspSa, EspSa),
    (local_ts, remote_ts): (&[Selector], &[Selector]),
    lifetime: Duration,
    (defer_outbound, byte_limit): (bool, Option<u64>),
) -> (ChildInstall, Option<Box<OutboundInstall>>) {
    let (if_id, offload) = (settings.if_id, settings.offload);
    // The kernel's soft expiry is a safety net behind our own rekey timer.
    let (soft_lifetime, hard_lifetime) = (lifetime, hard_lifetime(lifetime));
    let (outbound, deferred_outbound) = if defer_outbound {
        let later = OutboundInstall {
            conn: sa.conn,
            ike_sa: sa.id,
            reqid,
            sa: outbound,
            soft_lifetime,
            hard_lifetime,
            byte_limit,
            if_id,
            offload,
        };
        (None, Some(Box::new(later)))
    } else {
        (Some(outbound), None)
    };
    let install = ChildInstall {
        conn: sa.conn,
        ike_sa: sa.id,
        reqid,
        inbound,
        outbound,
        local_selectors: selector::prefixes(local_ts),
        remote_selectors: selector::prefixes(remote_ts),
        soft_lifetime,
        hard_lifetime,
        byte_limit,
        if_id,
        offload,
    };
    (install, deferred_outbound)
}

impl Context {
    pub(super) fn random_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.rng.fill(&mut b);
        u32::from_be_bytes(b)
    }

    /// Record a CHILD_SA and ask the kernel layer to install it, inbound keys first.
    pub(super) fn install_child(&mut self, now: Instant, sa: &mut IkeSa, child: NewChild) {
        let Some(settings) = self.shared_connection(sa.conn) else {
            return;
        };
        let if_id = settings.if_id;
        let lifetime = child
            .agreed_lifetime
            .map_or(settings.child_lifetime, |agreed| {
                agreed.min(settings.child_lifetime)
            });
        let (inbound, outbound) = esp_sas(
            sa,
            &child.suite,
            child.keys,
            child.initiator,
            (child.inbound_spi, child.outbound_spi),
        );
        // A new CHILD_SA of a trapped connection takes the trap's reqid, and so its policies.
        let reqid = child
            .reqid
            .or_else(|| self.free_trap_reqid(sa.conn))
            .unwrap_or_else(|| self.new_reqid());
        let (install, deferred_outbound) = kernel_install(
            sa,
            &settings,
            reqid,
            (inbound, outbound),
            (&child.local_ts, &child.remote_ts),
            lifetime,
            (child.defer_outbound, child.byte_limit),
        );
        let id = self.new_intent_id();
        self.pending_installs.insert(id, (sa.id, reqid));
        self.emit_intent(KernelIntent::InstallChild {
            id,
            child: Box::new(install),
        });
        self.emit_event(Event::ChildUp {
            conn: sa.conn,
            sa: sa.id,
            reqid,
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
        });
        self.inbound_spis.insert(child.inbound_spi, Some(sa.id));
        let random = self.random_u32();
        let rekey_at = now + jittered(lifetime, random);
        let hard_lifetime_s = u32::try_from(hard_lifetime(lifetime).as_secs()).unwrap_or(u32::MAX);
        // Kept for the CHILD_SA's life, which on a hub means thousands of them: no spare
        // capacity (a Vec grows to four entries at its first push).
        let (mut local_ts, mut remote_ts) = (child.local_ts, child.remote_ts);
        local_ts.shrink_to_fit();
        remote_ts.shrink_to_fit();
        self.reqid_owners.insert(reqid, sa.id);
        *self
            .policy_users
            .entry(policy_key(if_id, &local_ts, &remote_ts))
            .or_insert(0) += 1;
        sa.children.reserve_exact(1);
        sa.children.push(ChildSa {
            reqid,
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
            suite: child.suite,
            local_ts,
            remote_ts,
            established_at: now,
            rekey_at,
            hard_lifetime_s,
            state: ChildState::Installed,
            collision: None,
            if_id,
            rekey_failures: 0,
            deferred_outbound,
        });
        self.arm_child_rekey(sa);
    }

    /// The ChildRekey timer follows the earliest rekey deadline of the SA's children.
    pub(in crate::ike) fn arm_child_rekey(&mut self, sa: &mut IkeSa) {
        let next = sa
            .children
            .iter()
            .filter(|c| c.state == ChildState::Installed)
            .map(|c| c.rekey_at)
            .min();
        match next {
            Some(at) => self
                .timers
                .arm(&mut sa.timers, sa.id, Timer::ChildRekey, at),
            None => super::timer::TimerQueue::cancel(&mut sa.timers, Timer::ChildRekey),
        }
    }

    /// Start a rekey for every child whose deadline passed.
    pub(in crate::ike) fn on_child_rekey_timer(&mut self, now: Instant, sa: &mut IkeSa) {
        let due: Vec<u32> = sa
            .children
            .iter()
            .filter(|c| c.state == ChildState::Installed && c.rekey_at <= now)
            .map(|c| c.inbound_spi)
            .collect();
        for old_inbound_spi in due {
            self.rekey_child(now, sa, old_inbound_spi);
        }
        self.arm_child_rekey(sa);
    }

    /// Queue a rekey of one child (no-op if it is already being replaced).
    pub(in crate::ike) fn rekey_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        old_inbound_spi: u32,
    ) {
        let Some(child) = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old_inbound_spi)
        else {
            return;
        };
        if child.state != ChildState::Installed {
            return;
        }
        child.state = ChildState::Rekeying;
        self.request(now, sa, RequestKind::RekeyChild { old_inbound_spi });
    }

    /// Ask the kernel layer to remove a CHILD_SA (already taken out of `sa.children`) and
    /// release its SPI. Its policies go only when no successor with the same reqid remains,
    /// and not when the connection's trap covers them: they are brought back to the trap's
    /// template instead, so the next packet initiates again (`trap.rs`).
    pub(in crate::ike) fn remove_child_from_kernel(
        &mut self,
        sa: &IkeSa,
        child: &ChildSa,
        reason: DownReason,
    ) {
        let id = self.new_intent_id();
        let successor = sa.children.iter().any(|c| c.reqid == child.reqid);
        let trapped = !successor && self.trap_covers(sa.conn, child);
        let key = policy_key(child.if_id, &child.local_ts, &child.remote_ts);
        let users = match self.policy_users.get_mut(&key) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if users == 0 {
            self.policy_users.remove(&key);
        }
        self.emit_intent(KernelIntent::DeleteChild {
            id,
            reqid: child.reqid,
            inbound: (sa.remote.ip(), sa.local.ip(), child.inbound_spi),
            outbound: (sa.local.ip(), sa.remote.ip(), child.outbound_spi),
            remove_policies: !successor && users == 0 && !trapped,
            local_selectors: selector::prefixes(&child.local_ts),
            remote_selectors: selector::prefixes(&child.remote_ts),
            if_id: child.if_id,
        });
        self.inbound_spis.remove(&child.inbound_spi);
        if !successor && self.reqid_owners.get(&child.reqid) == Some(&sa.id) {
            self.reqid_owners.remove(&child.reqid);
        }
        if !successor {
            self.release_trap(sa.conn, child.reqid);
        }
        self.emit_event(Event::ChildDown {
            conn: sa.conn,
            sa: sa.id,
            reqid: child.reqid,
            inbound_spi: child.inbound_spi,
            reason,
        });
    }

    /// Take a child out of the SA and out of the kernel.
    pub(in crate::ike) fn drop_child(
        &mut self,
        sa: &mut IkeSa,
        inbound_spi: u32,
        reason: DownReason,
    ) -> bool {
        let Some(index) = sa
            .children
            .iter()
            .position(|c| c.inbound_spi == inbound_spi)
        else {
            return false;
        };
        let child = sa.children.remove(index);
        self.retire_child(sa, &child, reason);
        true
    }

    /// Remove one child (already taken out of `sa.children`) that may have a successor
    /// waiting for it to go: the successor's outbound SA is installed first, so traffic moves
    /// over before the old SAs leave the kernel (RFC 7296 2.8: the initiator deleting the old
    /// SA shows it can receive on the new one).
    pub(in crate::ike) fn retire_child(
        &mut self,
        sa: &mut IkeSa,
        child: &ChildSa,
        reason: DownReason,
    ) {
        let successors = sa
            .children
            .iter_mut()
            .filter(|c| c.reqid == child.reqid && c.deferred_outbound.is_some());
        let mut released = Vec::new();
        for successor in successors {
            if let Some(outbound) = successor.deferred_outbound.take() {
                released.push(outbound);
            }
        }
        for outbound in released {
            self.install_deferred_outbound(sa, outbound);
        }
        self.remove_child_from_kernel(sa, child, reason);
    }

    /// Ask the kernel layer for an outbound SA a child held back.
    pub(in crate::ike) fn install_deferred_outbound(
        &mut self,
        sa: &IkeSa,
        outbound: Box<OutboundInstall>,
    ) {
        let id = self.new_intent_id();
        self.pending_installs.insert(id, (sa.id, outbound.reqid));
        self.emit_intent(KernelIntent::InstallOutbound {
            id,
            child: outbound,
        });
    }

    /// The kernel refused a CHILD_SA: clean up what it may hold and delete it with the peer.
    /// Ask the peer to delete the CHILD_SA whose inbound SPI is ours (RFC 7296 1.4.1).
    pub(super) fn delete_child(&mut self, now: Instant, sa: &mut IkeSa, inbound_spi: u32) {
        self.request(now, sa, RequestKind::DeleteChild { inbound_spi });
    }

    pub(in crate::ike) fn child_failed_in_kernel(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        reqid: u32,
        failure: KernelFailure,
    ) {
        // The newest child of the reqid is the one just installed.
        let Some(child) = sa.children.iter().rev().find(|c| c.reqid == reqid) else {
            return;
        };
        let inbound_spi = child.inbound_spi;
        self.drop_child(sa, inbound_spi, DownReason::KernelError(failure));
        self.delete_child(now, sa, inbound_spi);
    }
}
