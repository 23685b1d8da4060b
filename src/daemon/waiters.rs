//! Control clients waiting for `ikehub up` or `down` to finish.
//!
//! The loop never waits for a client: it hands each waiting client the lines of progress its
//! connection's events make through a small bounded channel (`try_send`: a client too slow to
//! take them loses progress lines, never the loop's time) and, once the connection is where
//! the command wanted it or has failed, the outcome through a one-shot channel. The client's
//! task writes them, and gives up by itself when its time is over or the client leaves.
//!
//! A waiter is settled after a drain of the engine in which its connection had events, so the
//! kernel's answers to the drain's intents are known: a CHILD_SA the kernel refused is not
//! reported installed.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::ike::{ConnId, Engine, Event, SaState};

use super::status::last_error::{failure_of, reason_text};
use super::status::ConnectionState;

/// Progress lines held for one waiting client; more are dropped until it takes some.
const PROGRESS_QUEUE: usize = 32;

/// The longest a client may ask to wait.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// What the command waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// `up`: the connection `established` (IKE SA and at least one CHILD_SA).
    Established,
    /// `down`: no IKE SA left.
    Down,
}

/// How a wait ended in the loop (the client's task decides a timeout by itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The goal is reached; the text says so.
    Done(String),
    /// The connection failed: the reason, by RFC names.
    Failed(String),
}

/// The client task's end of a wait.
pub struct WaitHandle {
    pub progress: mpsc::Receiver<String>,
    pub settled: oneshot::Receiver<Settled>,
    /// How long the client asked to wait, at most [`MAX_WAIT`].
    pub wait: Duration,
    pub name: String,
    pub goal: Goal,
}

/// The loop's end of a wait.
struct Waiter {
    conn: ConnId,
    name: String,
    goal: Goal,
    progress: mpsc::Sender<String>,
    settled: Option<oneshot::Sender<Settled>>,
    /// The first failure seen since the wait began.
    failure: Option<String>,
    /// Its connection had events since it was last settled.
    touched: bool,
}

/// Every waiting client; as many as control clients at most.
#[derive(Default)]
pub struct Waiters {
    list: Vec<Waiter>,
}

impl Waiters {
    /// Start a wait for `goal` on the connection; its client's end.
    pub fn add(&mut self, conn: ConnId, name: &str, goal: Goal, wait: Duration) -> WaitHandle {
        // Clients that left are forgotten here and in `settle`.
        self.list.retain(|w| !w.progress.is_closed());
        let (progress_tx, progress) = mpsc::channel(PROGRESS_QUEUE);
        let (settled_tx, settled) = oneshot::channel();
        self.list.push(Waiter {
            conn,
            name: name.to_owned(),
            goal,
            progress: progress_tx,
            settled: Some(settled_tx),
            failure: None,
            touched: false,
        });
        WaitHandle {
            progress,
            settled,
            wait: wait.min(MAX_WAIT),
            name: name.to_owned(),
            goal,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// An engine event: a progress line for each client waiting on its connection.
    pub fn on_event(&mut self, event: &Event) {
        if self.list.is_empty() {
            return;
        }
        let Some(conn) = event.conn() else {
            return;
        };
        let failure = failure_of(event).map(|(_, text)| text);
        let mut text = None;
        for waiter in self.list.iter_mut().filter(|w| w.conn == conn) {
            waiter.touched = true;
            if waiter.goal == Goal::Established && waiter.failure.is_none() {
                waiter.failure.clone_from(&failure);
            }
            let line = text.get_or_insert_with(|| progress_text(event));
            // Full: the client is slow to read; it loses this line, the loop no time.
            let _ = waiter.progress.try_send(format!("{}: {line}", waiter.name));
        }
    }

    /// A failure the daemon found itself (a peer name it could not resolve): the clients
    /// waiting for the connection to come up learn it, as from an engine event.
    pub fn on_failure(&mut self, conn: ConnId, text: &str) {
        for waiter in self.list.iter_mut().filter(|w| w.conn == conn) {
            waiter.touched = true;
            if waiter.goal == Goal::Established && waiter.failure.is_none() {
                waiter.failure = Some(text.to_owned());
            }
            let _ = waiter.progress.try_send(format!("{}: {text}", waiter.name));
        }
    }

    /// After a drain: the waiters whose connection had events learn whether it is done.
    pub fn settle(&mut self, engine: &Engine) {
        for waiter in self.list.iter_mut().filter(|w| w.touched) {
            waiter.touched = false;
            if let Some(settled) = settle_one(engine, waiter) {
                if let Some(sender) = waiter.settled.take() {
                    let _ = sender.send(settled);
                }
            }
        }
        self.list
            .retain(|w| w.settled.is_some() && !w.progress.is_closed());
    }

    /// After a reload: waits on connections it removed end, failed.
    pub fn forget_removed(&mut self, engine: &Engine) {
        for waiter in &mut self.list {
            let present = engine
                .connection(waiter.conn)
                .is_some_and(|c| c.name == waiter.name);
            if !present {
                if let Some(sender) = waiter.settled.take() {
                    let _ = sender.send(Settled::Failed(format!(
                        "{}: removed from the configuration by a reload",
                        waiter.name
                    )));
                }
            }
        }
        self.list.retain(|w| w.settled.is_some());
    }

    /// The daemon is stopping: every wait ends, failed.
    pub fn fail_all(&mut self, why: &str) {
        for mut waiter in self.list.drain(..) {
            if let Some(sender) = waiter.settled.take() {
                let _ = sender.send(Settled::Failed(format!("{}: {why}", waiter.name)));
            }
        }
    }
}

/// The state of the connection as status shows it, from its IKE SAs that are not going
/// away; `None` without any.
pub fn connection_state(engine: &Engine, conn: ConnId) -> Option<ConnectionState> {
    engine
        .sas()
        .filter(|sa| sa.conn == conn && sa.state != SaState::Deleting)
        .map(|sa| ConnectionState::of(sa.state, sa.children.len()))
        .max()
}

fn settle_one(engine: &Engine, waiter: &Waiter) -> Option<Settled> {
    let name = &waiter.name;
    match waiter.goal {
        Goal::Established => {
            if connection_state(engine, waiter.conn) == Some(ConnectionState::Established) {
                return Some(Settled::Done(format!("{name}: established")));
            }
            if let Some(failure) = &waiter.failure {
                return Some(Settled::Failed(format!("{name}: failed: {failure}")));
            }
            if engine.held_down(waiter.conn) {
                return Some(Settled::Failed(format!(
                    "{name}: taken down (`ikehub down {name}`) before it was established"
                )));
            }
            None
        }
        Goal::Down => (!engine.sas().any(|sa| sa.conn == waiter.conn))
            .then(|| Settled::Done(format!("{name}: down"))),
    }
}

/// What a waiting client is told of an event, after the connection's name.
fn progress_text(event: &Event) -> String {
    match event {
        Event::IkeUp { remote, .. } => format!("IKE SA established with {remote}"),
        Event::IkeDown { reason, .. } => format!("IKE SA down: {}", reason_text(reason)),
        Event::ChildUp {
            reqid,
            inbound_spi,
            outbound_spi,
            ..
        } => format!(
            "CHILD_SA installed (reqid {reqid}, spi in {inbound_spi:08x} out {outbound_spi:08x})"
        ),
        Event::ChildDown { reqid, reason, .. } => {
            format!("CHILD_SA down (reqid {reqid}): {}", reason_text(reason))
        }
        Event::IkeRekeyed { .. } => "IKE SA rekeyed".to_owned(),
        Event::ChildFailed { reason, .. } => {
            format!("CHILD_SA not established: {}", reason_text(reason))
        }
        Event::TrapFailed { failure, .. } => {
            format!("the kernel refused the trap policies: {failure}")
        }
        Event::Refused { peer, failure, .. } => format!("refused {peer}: {failure}"),
    }
}
