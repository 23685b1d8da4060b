//! Applying a new configuration to a running engine: only the differences. Connections whose
//! settings are unchanged keep their SAs. Changed ones are updated in place when only
//! settings that leave the SAs' keys and selectors alone changed ([`classify`]: DPD,
//! lifetimes, start action between `initiate` and `listen`, close action other than to or
//! from `trap`, offload); their SAs and SPIs stay, and the deadlines those settings govern are
//! re-armed. Any other change re-establishes the connection. Removed connections are deleted
//! with the peer (their traps removed); new ones start as their start action says (initiate,
//! or install their trap).

use std::sync::Arc;
use std::time::Instant;

use super::child::jittered;
use super::context::Context;
use super::engine::Engine;
use super::output::ConnId;
use super::sa::{ChildState, IkeSa, SaState};
use super::settings::{CloseAction, ConnectionSettings, EngineSettings};
use super::timer::{Timer, TimerQueue};

/// What a reload did, by connection name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    /// Re-established: their SAs were deleted and the connection started afresh.
    pub changed: Vec<String>,
    /// Changed only in settings applied to the running SAs, which were kept.
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Connections that should have started but could not, with the reason.
    pub failed_to_start: Vec<(String, String)>,
}

/// What a reload does with a connection it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Unchanged,
    /// Only settings that the running SAs can take without new keys or selectors changed.
    InPlace,
    Reestablish,
}

/// Whether `new` can be applied to the running SAs of `current`. The settings applied in
/// place are listed here, and only here: any other field that differs, a field added later
/// included, re-establishes the connection, which is always correct if not always needed.
///
/// A trap's policies and reqid are made from the connection's settings, so a start or close
/// action to or from `trap` re-establishes too.
fn classify(current: &ConnectionSettings, new: &ConnectionSettings) -> Change {
    if new == current {
        return Change::Unchanged;
    }
    let trap_on_close = |c: &ConnectionSettings| c.close_action == CloseAction::Trap;
    if trap_on_close(current) != trap_on_close(new) {
        return Change::Reestablish;
    }
    let new_without_in_place_fields = ConnectionSettings {
        dpd_interval: current.dpd_interval,
        dpd_timeout: current.dpd_timeout,
        ike_lifetime: current.ike_lifetime,
        child_lifetime: current.child_lifetime,
        initiate: current.initiate,
        close_action: current.close_action,
        offload: current.offload,
        ..new.clone()
    };
    if new_without_in_place_fields == *current {
        Change::InPlace
    } else {
        Change::Reestablish
    }
}

impl Engine {
    pub fn reload(&mut self, now: Instant, mut settings: EngineSettings) -> ReloadReport {
        let mut report = ReloadReport::default();
        let mut incoming = std::mem::take(&mut settings.connections);
        self.cx.settings = settings;
        let existing: Vec<ConnId> = self.connection_ids().collect();
        let mut to_start = Vec::new();
        for id in existing {
            let Some(current) = self.cx.shared_connection(id) else {
                continue;
            };
            match incoming.iter().position(|c| c.name == current.name) {
                None => {
                    self.cx.held_down.remove(&id);
                    self.cx.remove_trap(id);
                    self.terminate(now, id);
                    self.cx.forget_v1_pairs(id);
                    if let Some(slot) = self.cx.connections.get_mut(id.0 as usize) {
                        *slot = None;
                    }
                    report.removed.push(current.name.clone());
                }
                Some(index) => {
                    let mut new = incoming.remove(index);
                    // A name that stays keeps the address it resolved to: the next
                    // initiation resolves it again anyway.
                    if new.remote_name.is_some() && new.remote_name == current.remote_name {
                        new.remote_addr = current.remote_addr;
                    }
                    match classify(&current, &new) {
                        Change::Unchanged => {
                            report.unchanged.push(current.name.clone());
                            continue;
                        }
                        Change::InPlace => {
                            if let Some(slot) = self.cx.connections.get_mut(id.0 as usize) {
                                *slot = Some(Arc::new(new));
                            }
                            if self.update_in_place(now, id, &current) {
                                to_start.push(id);
                            }
                            report.updated.push(current.name.clone());
                            continue;
                        }
                        Change::Reestablish => {}
                    }
                    // The old trap goes (with its CHILD_SA, if one still uses it); a
                    // new one, for the new settings, has a reqid of its own. A changed
                    // connection starts afresh, whatever `down` said of the old one.
                    self.cx.held_down.remove(&id);
                    self.cx.remove_trap(id);
                    self.terminate(now, id);
                    self.cx.forget_v1_pairs(id);
                    if let Some(slot) = self.cx.connections.get_mut(id.0 as usize) {
                        *slot = Some(Arc::new(new));
                    }
                    to_start.push(id);
                    report.changed.push(current.name.clone());
                }
            }
        }
        for new in incoming {
            report.added.push(new.name.clone());
            self.cx.connections.push(Some(Arc::new(new)));
            if let Ok(i) = u32::try_from(self.cx.connections.len() - 1) {
                to_start.push(ConnId(i));
            }
        }
        self.cx.conn_index = super::lookup::ConnIndex::build(&self.cx.connections);
        for id in to_start {
            if let Err(e) = self.start_connection(now, id) {
                let name = self
                    .connection(id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                report.failed_to_start.push((name, e.to_string()));
            }
        }
        report
    }
}

impl Engine {
    /// Applies the new settings of `conn` (already in place of `old`) to its running SAs:
    /// the deadlines that depend on what changed are re-armed; keys, SPIs and selectors stay.
    /// IKEv1 and IKEv2 SAs share the timers. Returns whether the connection must be started,
    /// as its start action became `initiate` while it has no IKE SA.
    fn update_in_place(&mut self, now: Instant, conn: ConnId, old: &ConnectionSettings) -> bool {
        let Some(new) = self.cx.shared_connection(conn) else {
            return false;
        };
        if new.close_action != old.close_action && new.close_action != CloseAction::Restart {
            // A restart already scheduled would go against the new close action.
            self.cx.retries.succeeded(conn);
        }
        for id in self.cx.sa_ids_of(conn) {
            let Some(sa) = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut) else {
                continue;
            };
            // An SA being deleted or replaced keeps the deadlines of its end.
            if sa.state != SaState::Established || sa.replaced_by.is_some() {
                continue;
            }
            if new.dpd_interval != old.dpd_interval {
                self.cx.rearm_dpd(now, sa);
            }
            if new.dpd_timeout != old.dpd_timeout {
                self.cx.rearm_answer_deadline(now, sa);
            }
            if new.ike_lifetime != old.ike_lifetime {
                self.cx.rearm_ike_lifetime(now, sa);
            }
            if new.child_lifetime < old.child_lifetime {
                self.cx
                    .bring_child_rekeys_forward(now, sa, new.child_lifetime);
            }
        }
        new.initiate
            && !old.initiate
            && !self.cx.held_down.contains(&conn)
            && self.cx.sa_ids_of(conn).is_empty()
    }
}

impl Context {
    /// A changed DPD interval: the next check counts from the last message received, as
    /// [`Context::on_dpd_timer`] does, and never comes before now. None when DPD is now off.
    fn rearm_dpd(&mut self, now: Instant, sa: &mut IkeSa) {
        match self.connection(sa.conn).and_then(|c| c.dpd_interval) {
            Some(interval) => {
                let at = (sa.last_received + interval).max(now);
                self.timers.arm(&mut sa.timers, sa.id, Timer::Dpd, at);
            }
            None => TimerQueue::cancel(&mut sa.timers, Timer::Dpd),
        }
    }

    /// A changed `dpd_timeout`: a request already outstanding is given up by the new
    /// deadline if that comes before its next retransmission (never before now). A longer
    /// timeout takes effect at that retransmission.
    fn rearm_answer_deadline(&mut self, now: Instant, sa: &mut IkeSa) {
        let first_sent = match &sa.v1 {
            Some(v1) => v1.outstanding.as_ref().map(|o| o.first_sent),
            None => sa.v2.exchanges.outstanding.as_ref().map(|o| o.first_sent),
        };
        let (Some(first_sent), Some(armed)) = (first_sent, sa.timers.deadline(Timer::Retransmit))
        else {
            return;
        };
        if let Some(deadline) = self.answer_deadline(sa, first_sent) {
            if deadline < armed {
                self.timers
                    .arm(&mut sa.timers, sa.id, Timer::Retransmit, deadline.max(now));
            }
        }
    }

    /// A changed IKE lifetime: the rekey (IKEv2) or re-authentication (IKEv1) deadline and
    /// the hard end are computed again from the SA's establishment, with fresh jitter, as if
    /// the SA had been made with the new lifetime; a deadline already past moves to now. An
    /// SA whose rekey is already under way (its deadline taken) is left to finish it.
    fn rearm_ike_lifetime(&mut self, now: Instant, sa: &mut IkeSa) {
        let Some(since) = sa.established_at else {
            return;
        };
        if sa.timers.deadline(Timer::IkeRekey).is_none() {
            return;
        }
        if sa.v1.is_some() {
            self.arm_v1_lifetime_since(since, now, sa);
        } else {
            self.arm_ike_lifetime_since(since, now, sa);
        }
    }

    /// A shorter CHILD_SA lifetime: each installed CHILD_SA's rekey deadline is computed
    /// again from its establishment with the new lifetime (and fresh jitter), and taken when
    /// it is earlier; never before now. A longer lifetime waits for the next CHILD_SA: the
    /// kernel SAs of a running one keep the soft and hard lifetimes they were installed with,
    /// and would expire before a later rekey.
    fn bring_child_rekeys_forward(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        lifetime: std::time::Duration,
    ) {
        for index in 0..sa.children.len() {
            let random = self.random_u32();
            let Some(child) = sa.children.get_mut(index) else {
                continue;
            };
            if child.state != ChildState::Installed {
                continue;
            }
            let at = (child.established_at + jittered(lifetime, random)).max(now);
            child.rekey_at = child.rekey_at.min(at);
        }
        self.arm_child_rekey(sa);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Offload;

    fn settings() -> ConnectionSettings {
        let config = crate::config::parse(
            "[gateway]\nname = \"gw\"\nlocal_addresses = [\"192.0.2.1\"]\nlocal_subnets = [\"10.1.0.0/16\"]\n[[peer]]\nname = \"p\"\naddress = \"198.51.100.1\"\n[[connection]]\nname = \"site\"\npeer = \"p\"\npsk = \"s3cret-site\"\nremote_subnets = [\"10.9.0.0/16\"]\n",
            std::path::Path::new("gw.toml"),
        )
        .expect("valid");
        let (settings, _) = EngineSettings::from_config(&config);
        settings.connections.into_iter().next().expect("one")
    }

    fn changed(edit: impl FnOnce(&mut ConnectionSettings)) -> Change {
        let current = settings();
        let mut new = current.clone();
        edit(&mut new);
        classify(&current, &new)
    }

    #[test]
    fn dpd_lifetimes_start_close_and_offload_apply_in_place() {
        assert_eq!(changed(|_| {}), Change::Unchanged);
        assert_eq!(
            changed(|c| c.dpd_interval = Some(Duration::from_secs(5))),
            Change::InPlace
        );
        assert_eq!(changed(|c| c.dpd_interval = None), Change::InPlace);
        assert_eq!(
            changed(|c| c.dpd_timeout = Some(Duration::from_secs(60))),
            Change::InPlace
        );
        assert_eq!(
            changed(|c| c.ike_lifetime = Duration::from_secs(600)),
            Change::InPlace
        );
        assert_eq!(
            changed(|c| c.child_lifetime = Duration::from_secs(600)),
            Change::InPlace
        );
        assert_eq!(changed(|c| c.initiate = !c.initiate), Change::InPlace);
        assert_eq!(
            changed(|c| c.close_action = CloseAction::Restart),
            Change::InPlace
        );
        assert_eq!(changed(|c| c.offload = Offload::Crypto), Change::InPlace);
        assert_eq!(
            changed(|c| {
                c.dpd_interval = Some(Duration::from_secs(5));
                c.child_lifetime = Duration::from_secs(600);
            }),
            Change::InPlace
        );
    }

    #[test]
    fn keys_selectors_and_traps_reestablish() {
        assert_eq!(
            changed(|c| c.remote_subnets = vec!["10.9.0.0/24".parse().expect("net")]),
            Change::Reestablish
        );
        assert_eq!(
            changed(|c| c.psk = super::super::settings::PreSharedKey(b"other".to_vec().into())),
            Change::Reestablish
        );
        assert_eq!(changed(|c| c.esp_proposals.clear()), Change::Reestablish);
        assert_eq!(changed(|c| c.if_id = Some(7)), Change::Reestablish);
        assert_eq!(changed(|c| c.aggressive = true), Change::Reestablish);
        assert_eq!(changed(|c| c.trap = true), Change::Reestablish);
        assert_eq!(
            changed(|c| c.close_action = CloseAction::Trap),
            Change::Reestablish
        );
        // An in-place change alongside one that is not still re-establishes.
        assert_eq!(
            changed(|c| {
                c.dpd_interval = None;
                c.remote_addr = None;
            }),
            Change::Reestablish
        );
    }
}
