//! Keeping connections up (`close_action = "restart"`): when an IKE SA we initiated fails
//! (refused or timed-out negotiation, kernel error), or an established one, whoever initiated
//! it, is deleted by the peer or found dead, the connection is initiated again after a
//! backoff of 1, 2, 4 ... 60 s with up to 25% jitter (so that a hub's spokes do not return
//! in lockstep), reset once an IKE SA is established. Our own deletes and rekeys are not
//! followed by a restart.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::context::Context;
use super::engine::Engine;
use super::output::ConnId;
use super::sa::{IkeSa, SaState};
use super::settings::{CloseAction, ConnectionSettings};

const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Retries {
    due: BinaryHeap<Reverse<(Instant, ConnId)>>,
    /// Consecutive failures per connection.
    failures: HashMap<ConnId, u32>,
}

impl Retries {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _))| *at)
    }

    pub fn succeeded(&mut self, conn: ConnId) {
        self.failures.remove(&conn);
    }

    /// `random` picks the jitter: up to a quarter of the delay is taken off.
    fn schedule(&mut self, now: Instant, conn: ConnId, random: u32) -> Duration {
        let failures = self.failures.entry(conn).or_insert(0);
        let backoff = FIRST_DELAY
            .saturating_mul(1u32 << (*failures).min(6))
            .min(MAX_DELAY);
        let jitter = (backoff / 4).mul_f64(f64::from(random) / f64::from(u32::MAX));
        let delay = backoff.saturating_sub(jitter);
        *failures = failures.saturating_add(1);
        self.due.push(Reverse((now + delay, conn)));
        delay
    }

    fn pop_due(&mut self, now: Instant) -> Option<ConnId> {
        match self.due.peek() {
            Some(Reverse((at, conn))) if *at <= now => {
                let conn = *conn;
                self.due.pop();
                Some(conn)
            }
            _ => None,
        }
    }
}

impl Context {
    /// Initiate the connection again later if its close action says so.
    pub(super) fn schedule_restart(
        &mut self,
        now: Instant,
        conn: ConnId,
        why: &dyn std::fmt::Display,
    ) {
        if self.held_down.contains(&conn) {
            return;
        }
        let Some(name) = self
            .connection(conn)
            .filter(|c| c.close_action == CloseAction::Restart && c.can_initiate())
            .map(|c| c.name.clone())
        else {
            return;
        };
        let random = self.random_u32();
        let delay = self.retries.schedule(now, conn, random);
        info!(
            connection = name.as_str(),
            "initiating again in {:.1} s (close_action = restart) after: {}",
            delay.as_secs_f64(),
            why
        );
    }
}

impl Engine {
    /// An operator's `down`: delete the connection's IKE SAs and keep it down (pending and
    /// future restarts, retries and trap initiations cancelled) until [`Engine::up`] or a
    /// reload of the connection. A listening connection still answers its peer. Returns how
    /// many IKE SAs are deleted.
    pub fn down(&mut self, now: Instant, conn: ConnId) -> usize {
        self.cx.held_down.insert(conn);
        self.cx.retries.succeeded(conn);
        let count = self.cx.sas_of.get(&conn).map_or(0, Vec::len);
        self.terminate(now, conn);
        count
    }

    /// An operator's `up`: the connection may come up again by itself, and is initiated now.
    pub fn up(&mut self, now: Instant, conn: ConnId) -> Result<super::output::SaId, super::Error> {
        self.cx.held_down.remove(&conn);
        self.initiate(now, conn)
    }

    /// Whether an operator's `down` holds the connection down.
    pub fn held_down(&self, conn: ConnId) -> bool {
        self.cx.held_down.contains(&conn)
    }

    pub(super) fn retry_due_connections<G>(
        &mut self,
        now: Instant,
        scope: &mut impl FnMut(&ConnectionSettings, Option<&IkeSa>) -> G,
    ) {
        while let Some(conn) = self.cx.retries.pop_due(now) {
            let _scope = self.cx.connection(conn).map(|c| scope(c, None));
            if self.cx.held_down.contains(&conn) {
                continue;
            }
            // Another SA of the connection may have come up meanwhile (the peer initiated);
            // one we are deleting does not count.
            let live = self.cx.sas_of.get(&conn).is_some_and(|ids| {
                ids.iter()
                    .filter_map(|id| self.sa(*id))
                    .any(|sa| sa.state != SaState::Deleting)
            });
            if live {
                continue;
            }
            match self.initiate(now, conn) {
                // A named peer's initiation goes on once its name is resolved.
                Ok(_) | Err(super::Error::Resolving(_)) => {}
                Err(e) => debug!(conn = self.cx.conn_name(conn), "cannot initiate again: {e}"),
            }
        }
    }
}
