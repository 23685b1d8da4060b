//! The control socket's commands, run inside the loop: `status`, `up`, `down`, `routes`.

use std::time::Instant;

use crate::ike::{ConnId, SaState};
use crate::kernel::Dataplane;

use super::control::{Request, Response};
use super::gateway::Gateway;
use super::status::{self, ConnectionState, Counters, DaemonFacts, Scope};

impl<D: Dataplane> Gateway<D> {
    pub(super) async fn handle_request(&mut self, request: Request) -> Response {
        // `up` and `down` queue work for the engine; the loop drains it after this input.
        match request {
            Request::Status { name } => self.status(name.as_deref()).await,
            Request::Up { name } => self.up(&name),
            Request::Down { name } => self.down(&name),
            Request::Routes => Response::routes(
                self.hub
                    .as_ref()
                    .map(|hub| hub.routes(&self.engine))
                    .unwrap_or_default(),
            ),
        }
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

    /// One pass over the IKE SAs, then one batched counters request to the dataplane.
    /// Connections the engine cannot run are listed after the others, down, with the reason.
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
        let dropped_by_kernel = self.sockets.kernel_drops().unwrap_or_else(|e| {
            tracing::warn!("cannot read the IKE sockets' drop counters: {e}");
            0
        });
        let facts = DaemonFacts {
            started: self.started,
            dataplane: self.dataplane_name,
            socket_counters: Counters {
                dropped_by_kernel,
                ..self.counters
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
        Response::status(pending.finish(counters))
    }

    fn up(&mut self, name: &str) -> Response {
        if self.stopping {
            return Response::error("the daemon is stopping");
        }
        let id = match self.lookup(name) {
            Ok(id) => id,
            Err(error) => return Response::error(error),
        };
        // The best of its IKE SAs that are not going away, as status shows it.
        let active = self
            .engine
            .sas()
            .filter(|sa| sa.conn == id && sa.state != SaState::Deleting)
            .map(|sa| ConnectionState::of(sa.state, sa.children.len()))
            .max();
        match active {
            Some(ConnectionState::Established) => {
                return Response::message(format!("{name}: already established"));
            }
            // Initiating again would not add the CHILD_SA: the IKE SA is already there.
            Some(ConnectionState::NoChildSa) => {
                let why = self
                    .last_errors
                    .get(id)
                    .map(|e| format!(" (last error: {})", e.message))
                    .unwrap_or_default();
                return Response::error(format!(
                    "{name}: the IKE SA is up without a CHILD_SA{why}; `ikehub down {name}` and `up` again to renegotiate"
                ));
            }
            Some(_) => return Response::message(format!("{name}: already connecting")),
            None => {}
        }
        match self.engine.up(Instant::now(), id) {
            Ok(_) => {
                tracing::info!("{name}: initiating (requested on the control socket)");
                Response::message(format!("{name}: initiating"))
            }
            Err(e) => Response::error(format!("{name}: cannot initiate: {e}")),
        }
    }

    fn down(&mut self, name: &str) -> Response {
        let id = match self.lookup(name) {
            Ok(id) => id,
            Err(error) => return Response::error(error),
        };
        tracing::info!("{name}: taking down (requested on the control socket); kept down until `ikehub up {name}`");
        match self.engine.down(Instant::now(), id) {
            0 => Response::message(format!(
                "{name}: already down; kept down (no retry) until `ikehub up {name}`"
            )),
            count => Response::message(format!(
                "{name}: deleting {count} IKE SA(s); kept down until `ikehub up {name}`"
            )),
        }
    }
}
