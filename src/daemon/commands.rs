//! The control socket's commands, run inside the loop: `status`, `up`, `down`, `routes`,
//! `reload`, `log`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::ike::ConnId;
use crate::kernel::Dataplane;

use super::control::{LogLevel, Outcome, Request, Response};
use super::control_clients;
use super::gateway::Gateway;
use super::logging;
use super::status::{self, ConnectionState, Counters, DaemonFacts, Scope};
use super::waiters::{connection_state, Goal, WaitHandle};

/// A command's answer; for a waited `up` or `down`, the wait that the rest of it comes from.
pub(super) type Reply = (Response, Option<WaitHandle>);

impl<D: Dataplane> Gateway<D> {
    pub(super) async fn handle_request(&mut self, request: Request) -> Reply {
        // `up` and `down` queue work for the engine; the loop drains it after this input.
        let response = match request {
            Request::Status { .. } if !self.control.answer_budget_left() => {
                control_clients::budget_spent()
            }
            Request::Status { name } => self.status(name.as_deref()).await,
            Request::Up { name, wait_s } => {
                return self
                    .named_span(&name)
                    .in_scope(|| self.up(&name, wait_s.map(Duration::from_secs)))
            }
            Request::Down { name, wait_s } => {
                return self
                    .named_span(&name)
                    .in_scope(|| self.down(&name, wait_s.map(Duration::from_secs)))
            }
            Request::Reload if self.stopping => Response::error("the daemon is stopping"),
            Request::Reload => {
                tracing::info!(
                    "reloading {} (requested on the control socket)",
                    self.config_path.display()
                );
                Response::reload(self.reload().await)
            }
            Request::Log { level, name } => self.log(level, name.as_deref()),
            Request::Routes => Response::routes(
                self.hub
                    .as_ref()
                    .map(|hub| hub.routes(&self.engine))
                    .unwrap_or_default(),
            ),
        };
        (response, None)
    }

    /// The answer to `up` or `down` that has started `text`: without a wait, the text; with
    /// one, the text as the first line of progress and the wait for the rest.
    fn started(
        &mut self,
        id: ConnId,
        name: &str,
        goal: Goal,
        wait: Option<Duration>,
        text: String,
    ) -> Reply {
        match wait {
            None => (Response::message(text), None),
            Some(wait) => (
                Response::progress(text),
                Some(self.waiters.add(id, name, goal, wait)),
            ),
        }
    }

    /// The log span of the connection called `name`; none for an unknown one.
    fn named_span(&self, name: &str) -> tracing::Span {
        self.engine
            .connection_id(name)
            .map(|id| self.connection_span(id))
            .unwrap_or_else(tracing::Span::none)
    }

    /// The connection called `name`, or the error text: why a configured connection is not
    /// running, or which connections exist.
    fn lookup(&self, name: &str) -> Result<ConnId, String> {
        self.engine.connection_id(name).ok_or_else(|| {
            if let Some(error) = self
                .not_running
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.last_error.as_ref())
            {
                return format!("{name}: {error}");
            }
            let mut known: Vec<&str> = self
                .engine
                .connection_ids()
                .filter_map(|id| self.engine.connection(id))
                .map(|c| c.name.as_str())
                .chain(self.not_running.iter().map(|c| c.name.as_str()))
                .collect();
            known.sort_unstable();
            if known.is_empty() {
                format!("unknown connection {name:?}; no connections are configured")
            } else {
                format!(
                    "unknown connection {name:?}; known connections: {}",
                    known.join(", ")
                )
            }
        })
    }

    /// The socket-level counters with the control socket's.
    fn counters_with_control(&self) -> Counters {
        let control = self.control.counters();
        Counters {
            control_clients_refused: control.refused.load(Ordering::Relaxed),
            control_clients_dropped: control.dropped.load(Ordering::Relaxed),
            control_accept_errors: control.accept_errors.load(Ordering::Relaxed),
            ..self.counters
        }
    }

    /// The status of the connection called `name`, or of all of them.
    async fn status(&mut self, name: Option<&str>) -> Response {
        let not_running = name.and_then(|n| self.not_running.iter().find(|c| c.name == n));
        let (scope, extra) = match (name, not_running) {
            (None, _) => (Scope::All, self.not_running.clone()),
            (Some(_), Some(one)) => (Scope::None, vec![one.clone()]),
            (Some(name), None) => match self.lookup(name) {
                Ok(id) => (Scope::One(id), Vec::new()),
                Err(error) => return Response::error(error),
            },
        };
        Response::status(self.status_snapshot(scope, extra).await)
    }

    /// One pass over the IKE SAs, then one batched counters request to the dataplane.
    /// Connections the engine cannot run (`extra`) are listed after the others, down, with
    /// the reason. Both `status` and the metrics endpoint answer from it.
    pub(super) async fn status_snapshot(
        &mut self,
        scope: Scope,
        extra: Vec<status::ConnectionStatus>,
    ) -> status::StatusSnapshot {
        let dropped_by_kernel = self.sockets.kernel_drops().unwrap_or_else(|e| {
            tracing::warn!("cannot read the IKE sockets' drop counters: {e}");
            0
        });
        let facts = DaemonFacts {
            started: self.started,
            dataplane: self.dataplane_name,
            socket_counters: Counters {
                dropped_by_kernel,
                ..self.counters_with_control()
            },
            last_errors: &self.last_errors,
        };
        let now = Instant::now();
        let mut pending = status::collect(&self.engine, now, &facts, scope);
        // They have no CHILD_SAs, so the counters' order is unaffected. Their failure dates
        // from loading the configuration.
        let since = self.not_running_since;
        pending
            .snapshot
            .connections
            .extend(extra.into_iter().map(|mut connection| {
                connection.set_last_error_time(&since, now);
                connection
            }));
        let counters = if pending.counter_keys.is_empty() {
            Some(Vec::new())
        } else {
            match self.dataplane.counters(&pending.counter_keys).await {
                Ok(counters) if counters.len() == pending.counter_keys.len() => Some(counters),
                Ok(counters) => {
                    tracing::warn!(
                        "dataplane answered {} counters for {} SAs; counters not shown",
                        counters.len(),
                        pending.counter_keys.len()
                    );
                    None
                }
                Err(e) => {
                    tracing::warn!("cannot read SA counters: {e}");
                    None
                }
            }
        };
        pending.finish(counters)
    }

    fn up(&mut self, name: &str, wait: Option<Duration>) -> Reply {
        // Answers that end the command at once, waited or not.
        let done = |text: String| {
            let outcome = wait.map(|_| Outcome::Done);
            (
                Response {
                    outcome,
                    ..Response::message(text)
                },
                None,
            )
        };
        if self.stopping {
            return (Response::error("the daemon is stopping"), None);
        }
        let id = match self.lookup(name) {
            Ok(id) => id,
            Err(error) => return (Response::error(error), None),
        };
        let now = Instant::now();
        // The best of its IKE SAs that are not going away, as status shows it.
        match connection_state(&self.engine, id) {
            Some(ConnectionState::Established) => {
                return done(format!("{name}: already established"));
            }
            // Initiating again would not add the CHILD_SA: the IKE SA is already there, so
            // it is asked for one (CREATE_CHILD_SA).
            Some(ConnectionState::NoChildSa) => {
                if !self.engine.create_child(now, id) {
                    return (
                        Response::error(format!("{name}: cannot ask for a CHILD_SA now")),
                        None,
                    );
                }
                tracing::info!(
                    "{name}: asking the peer for a CHILD_SA (requested on the control socket)"
                );
                let text =
                    format!("{name}: the IKE SA is up without a CHILD_SA; asking the peer for one");
                return self.started(id, name, Goal::Established, wait, text);
            }
            Some(_) => {
                let text = format!("{name}: already connecting");
                return self.started(id, name, Goal::Established, wait, text);
            }
            None => {}
        }
        match self.engine.up(now, id) {
            Ok(_) => {
                tracing::info!("{name}: initiating (requested on the control socket)");
                self.started(
                    id,
                    name,
                    Goal::Established,
                    wait,
                    format!("{name}: initiating"),
                )
            }
            Err(crate::ike::Error::Resolving(host)) => {
                tracing::info!(
                    "{name}: initiating once {host} is resolved (requested on the control socket)"
                );
                self.started(
                    id,
                    name,
                    Goal::Established,
                    wait,
                    format!("{name}: resolving {host}, then initiating"),
                )
            }
            Err(e) => (
                Response::error(format!("{name}: cannot initiate: {e}")),
                None,
            ),
        }
    }

    fn down(&mut self, name: &str, wait: Option<Duration>) -> Reply {
        let id = match self.lookup(name) {
            Ok(id) => id,
            Err(error) => return (Response::error(error), None),
        };
        tracing::info!("{name}: taking down (requested on the control socket); kept down until `ikehub up {name}`");
        match self.engine.down(Instant::now(), id) {
            0 => {
                let text =
                    format!("{name}: already down; kept down (no retry) until `ikehub up {name}`");
                let outcome = wait.map(|_| Outcome::Done);
                (
                    Response {
                        outcome,
                        ..Response::message(text)
                    },
                    None,
                )
            }
            count => {
                let text = format!(
                    "{name}: deleting {count} IKE SA(s); kept down until `ikehub up {name}`"
                );
                self.started(id, name, Goal::Down, wait, text)
            }
        }
    }

    /// `log`: show the filter, or set the global level or one connection's. Nothing else
    /// changes: no SA is touched.
    fn log(&self, level: Option<LogLevel>, name: Option<&str>) -> Response {
        let Some(control) = logging::control() else {
            let refusal = "this daemon's log filter cannot be changed while it runs";
            tracing::warn!("{refusal}");
            return Response::error(refusal);
        };
        if let Some(name) = name {
            if let Err(error) = self.lookup(name) {
                return Response::error(error);
            }
        }
        let done = match (level, name) {
            (None, _) => Ok(None),
            (Some(level), None) => control.set_global(level).map(|()| {
                Some(match level {
                    LogLevel::Reset => "log filter back to the daemon's start".to_owned(),
                    _ => format!("log level {}", level.as_str()),
                })
            }),
            (Some(level), Some(name)) => control.set_connection(name, level).map(|()| {
                Some(match level {
                    LogLevel::Reset => format!("{name}: log level as global"),
                    _ => format!("{name}: log level {}", level.as_str()),
                })
            }),
        };
        if let Ok(Some(text)) = &done {
            tracing::info!("{text} (requested on the control socket)");
        }
        match done.and_then(|text| control.view().map(|view| (text, view))) {
            Ok((text, view)) => Response::log(text, view),
            Err(error) => {
                tracing::warn!("log filter change refused: {error}");
                Response::error(error)
            }
        }
    }
}
