//! Keeping `initiate` connections up: when an IKE SA we initiated fails (dead peer, refused
//! or timed-out negotiation, kernel error), the connection is initiated again after a backoff
//! of 1, 2, 4 ... 60 s, reset once an IKE SA is established. A delete, by us or the peer, is
//! not retried.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use tracing::debug;

use super::context::Context;
use super::engine::Engine;
use super::output::ConnId;

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

    fn schedule(&mut self, now: Instant, conn: ConnId) -> Duration {
        let failures = self.failures.entry(conn).or_insert(0);
        let delay = FIRST_DELAY
            .saturating_mul(1u32 << (*failures).min(6))
            .min(MAX_DELAY);
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
    pub(super) fn schedule_retry(&mut self, now: Instant, conn: ConnId) {
        if self.connection(conn).is_some_and(|c| c.initiate) {
            let delay = self.retries.schedule(now, conn);
            debug!(conn = conn.0, ?delay, "connection will be initiated again");
        }
    }
}

impl Engine {
    pub(super) fn retry_due_connections(&mut self, now: Instant) {
        while let Some(conn) = self.cx.retries.pop_due(now) {
            // Another SA of the connection may have come up meanwhile (the peer initiated).
            if self.sas().any(|sa| sa.conn == conn) {
                continue;
            }
            if let Err(e) = self.initiate(now, conn) {
                debug!(conn = conn.0, "cannot initiate again: {e}");
            }
        }
    }
}
