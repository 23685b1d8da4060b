//! The running gateway: the engine, the dataplane and the sockets, driven by one loop that
//! waits for a datagram, the engine's next deadline, a control request, a signal or a kernel
//! event, feeds it to the engine and then drains the engine's outputs.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn, Span};

use crate::config::Config;
use crate::crypto::rng::SystemRandom;
use crate::ike::nat_t::{self, NatTDatagram};
use crate::ike::{ConnId, Direction, Engine, Event, IkeSa, KernelFailure, SaState};
use crate::kernel::{Dataplane, KernelEvent};

use super::control::{self, ReloadRefused, ReloadSummary};
use super::control_access::ControlAccess;
use super::control_clients::{ControlClients, ControlRequest, MAX_CLIENTS};
use super::hub::Hub;
use super::logging::{self, scope};
use super::metrics::{self, EventMetrics, ScrapeRequest};
use super::notify::{self, Notifier};
use super::resolver::{self, Resolved};
use super::sockets::{EncapRequirement, Sockets};
use super::status::last_error::{reason_text, refusal_text, LastError, LastErrors, Timestamp};
use super::status::{ConnectionStatus, Counters};
use super::waiters::Waiters;
use super::DaemonOptions;

/// RFC 3948 2.3: a NAT-keepalive every 20 seconds by default.
const NAT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// Largest UDP payload; IKE messages are far smaller, but a datagram is never truncated.
const RECEIVE_BUFFER: usize = 65_535;

/// Datagrams read from one socket before the engine's outputs are drained.
const RECEIVE_BATCH: usize = 64;

/// Engine work after which a batch ends even if more datagrams are queued. Without it a
/// peer that keeps sending while each message costs a key exchange (0.1-0.6 ms) keeps the
/// batch going for all 64 datagrams, and every response of the batch waits for the last:
/// the peers then take turns instead of working at once (measured: two busy processes on
/// two cores shared one core's worth of time). A millisecond still puts many cheap
/// messages, and their kernel intents, into one drain.
const RECEIVE_BATCH_TIME: Duration = Duration::from_millis(1);

/// Control requests queued between the client tasks and the loop.
const CONTROL_QUEUE: usize = 64;

/// What the daemon needs to know about the dataplane it drives.
pub struct DataplaneInfo {
    /// Shown in status: "kernel" or "recording".
    pub name: &'static str,
    /// Whether the NAT-T sockets must have UDP_ENCAP (a real datapath needs it).
    pub encap: EncapRequirement,
}

pub struct Gateway<D: Dataplane> {
    pub(super) engine: Engine,
    pub(super) dataplane: D,
    pub(super) dataplane_name: &'static str,
    pub(super) sockets: Sockets,
    pub(super) config_path: PathBuf,
    pub(super) started: Instant,
    /// Socket-level counters (the engine keeps its own).
    pub(super) counters: Counters,
    /// The most recent failure of each connection, with its time.
    pub(super) last_errors: LastErrors,
    /// Configured connections the engine cannot run, shown in status with the reason.
    pub(super) not_running: Vec<ConnectionStatus>,
    /// When the configuration that `not_running` comes from was loaded: their failure's time.
    pub(super) not_running_since: Timestamp,
    /// SIGTERM/SIGINT arrived: connections are being deleted.
    pub(super) stopping: bool,
    /// When the deletes began, and the engine's retransmits then.
    shutdown_began: Option<(Instant, u64)>,
    /// Hub mode: interfaces and the destination route table.
    pub(super) hub: Option<Hub<D::Links>>,
    /// Reused for framing NAT-T sends.
    scratch: Vec<u8>,
    /// The control socket's clients, bounded in number, time and memory.
    pub(super) control: ControlClients,
    /// Control clients waiting for `up` or `down` to finish.
    pub(super) waiters: Waiters,
    notifier: Notifier,
    /// Counts of what only the engine's events tell, for the metrics endpoint.
    pub(super) metrics: EventMetrics,
    /// The metrics endpoint's address (`gateway.metrics_listen`), bound at start only.
    metrics_listen: Option<SocketAddr>,
    /// Bound at start, served from the loop's start on.
    metrics_listener: Option<TcpListener>,
    /// Where resolutions of peer names send their answers; the loop takes the receiving
    /// end when it starts.
    resolved_tx: mpsc::UnboundedSender<Resolved>,
    resolved_rx: Option<mpsc::UnboundedReceiver<Resolved>>,
}

struct Signals {
    hangup: Signal,
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn install() -> io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }
}

/// Start the daemon with a loaded configuration and a dataplane, and run it until SIGTERM.
pub async fn run<D: Dataplane>(
    config: Config,
    options: &DaemonOptions,
    dataplane: D,
    info: DataplaneInfo,
) -> ExitCode {
    let started = match Gateway::start(config, options, dataplane, info).await {
        Ok(started) => started,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut gateway, listener, signals) = started;
    gateway.notifier.ready();
    gateway.notifier.status(&format!(
        "{} connection(s) configured",
        gateway.engine.connection_ids().count()
    ));
    let now = Instant::now();
    gateway.engine.start(now);
    gateway.drive().await;
    gateway.serve(listener, signals).await;
    if let Err(e) = std::fs::remove_file(&options.socket) {
        warn!("cannot remove {}: {e}", options.socket.display());
    }
    info!("stopped");
    ExitCode::SUCCESS
}

impl<D: Dataplane> Gateway<D> {
    /// Bind the sockets, clear stale kernel state and open the control socket: everything
    /// that must succeed before systemd is told we are ready.
    async fn start(
        config: Config,
        options: &DaemonOptions,
        mut dataplane: D,
        info: DataplaneInfo,
    ) -> Result<(Gateway<D>, UnixListener, Signals), String> {
        let (mut settings, mut not_running) = super::engine_settings(&config);
        let sockets = Sockets::bind(&config.gateway.local_addresses, info.encap)
            .map_err(|e| e.to_string())?;
        let removed = dataplane
            .remove_stale()
            .await
            .map_err(|e| format!("cannot remove stale kernel state: {e}"))?;
        info!("removed {removed} stale kernel object(s) left by an earlier run");
        let signals =
            Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let notifier = Notifier::from_env().map_err(|e| format!("NOTIFY_SOCKET: {e}"))?;
        // Before the hub's interfaces: a busy port then leaves nothing to undo.
        let metrics_listener = match config.gateway.metrics_listen {
            Some(address) => Some(TcpListener::bind(address).await.map_err(|e| {
                format!("cannot listen for metrics on {address} (gateway.metrics_listen): {e}")
            })?),
            None => None,
        };
        let mut hub = None;
        if config.gateway.hub {
            let links = dataplane
                .open_links()
                .map_err(|e| format!("hub mode: {e}"))?;
            let (started, refused) = Hub::start(links, &config, &mut settings.connections).await?;
            for (name, reason) in refused {
                error!("connection {name:?} not started: {reason}");
                not_running.push(super::not_running(&config, name, &reason));
            }
            hub = Some(started);
        }
        // Last: nothing after it can fail, so a failed start leaves no socket file behind.
        let listener = match control::listen(&options.socket, config.gateway.control_group.as_ref())
        {
            Ok(listener) => listener,
            Err(e) => {
                if let Some(hub) = &mut hub {
                    if let Err(e) = hub.stop().await {
                        warn!("could not remove the hub's interfaces and routes: {e}");
                    }
                }
                return Err(format!(
                    "cannot open the control socket {}: {e}",
                    options.socket.display()
                ));
            }
        };
        let mut engine = Engine::new(settings, Box::new(SystemRandom::new()));
        engine.set_wall_clock(Instant::now(), crate::wall_clock::now_unix());
        let addresses: Vec<String> = sockets.local_ips().map(|ip| ip.to_string()).collect();
        let readers = match &config.gateway.control_group {
            Some(group) => format!(" (root; group {} may read)", group.name),
            None => " (root only)".to_owned(),
        };
        info!(
            "listening on UDP 500 and 4500 at {}; control socket {}{readers}; {} connection(s)",
            addresses.join(", "),
            options.socket.display(),
            engine.connection_ids().count()
        );
        let (resolved_tx, resolved_rx) = mpsc::unbounded_channel();
        let gateway = Gateway {
            engine,
            dataplane,
            dataplane_name: info.name,
            sockets,
            config_path: options.config.clone(),
            started: Instant::now(),
            counters: Counters::default(),
            last_errors: LastErrors::default(),
            not_running_since: Timestamp::now(),
            not_running,
            stopping: false,
            shutdown_began: None,
            hub,
            scratch: Vec::with_capacity(RECEIVE_BUFFER),
            control: ControlClients::new(
                MAX_CLIENTS,
                ControlAccess::new(config.gateway.control_group.clone()),
            ),
            waiters: Waiters::default(),
            notifier,
            metrics: EventMetrics::default(),
            metrics_listen: config.gateway.metrics_listen,
            metrics_listener,
            resolved_tx,
            resolved_rx: Some(resolved_rx),
        };
        Ok((gateway, listener, signals))
    }

    /// The loop. Returns after SIGTERM/SIGINT once every IKE SA is gone or the grace period
    /// has passed.
    async fn serve(&mut self, listener: UnixListener, mut signals: Signals) {
        let (control_tx, mut control_rx) = mpsc::channel::<ControlRequest>(CONTROL_QUEUE);
        let (metrics_tx, mut metrics_rx) =
            mpsc::channel::<ScrapeRequest>(metrics::http::MAX_SCRAPES);
        let metrics_server = self.metrics_listener.take().map(|listener| {
            if let Ok(address) = listener.local_addr() {
                info!("metrics at http://{address}/metrics");
            }
            tokio::spawn(metrics::http::serve(listener, metrics_tx.clone()))
        });
        // Taken once: `serve` runs once per daemon.
        let mut resolved_rx = self
            .resolved_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1);
        let mut buf = vec![0u8; RECEIVE_BUFFER];
        let mut keepalive = tokio::time::interval(NAT_KEEPALIVE_INTERVAL);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watchdog = notify::watchdog_interval().map(tokio::time::interval);
        // SIGTERM/SIGINT: until when the peers' answers to our deletes are waited for.
        let mut stop_at: Option<Instant> = None;
        let mut grace = Duration::ZERO;
        loop {
            let deadline = self.engine.poll_timeout();
            let stopping = stop_at.is_some();
            tokio::select! {
                (index, result) = self.sockets.recv(&mut buf) => {
                    let batch_start = Instant::now();
                    self.on_datagram(index, result, &buf);
                    // Take what else is queued on that socket before draining the engine
                    // once: bursts cost one pass through the loop, not one per datagram.
                    for _ in 1..RECEIVE_BATCH {
                        if batch_start.elapsed() >= RECEIVE_BATCH_TIME {
                            break;
                        }
                        let Some(result) = self.sockets.try_recv(index, &mut buf) else {
                            break;
                        };
                        self.on_datagram(index, Ok(result), &buf);
                    }
                }
                () = sleep_until(deadline) => {
                    self.engine.handle_timeout_in(Instant::now(), |connection, sa| {
                        match sa {
                            Some(sa) => scope::sa(connection, sa),
                            None => scope::connection(connection),
                        }
                        .entered()
                    });
                }
                () = sleep_until(stop_at) => {
                    let left = self.engine.sas().count();
                    warn!("{left} IKE SA(s) not deleted within {grace:?}; stopping anyway");
                    break;
                }
                accepted = listener.accept(), if !stopping && self.control.accept_paused_until().is_none() => match accepted {
                    Ok((stream, _)) => self.control.admit(stream, control_tx.clone()),
                    Err(e) => self.control.on_accept_error(&e),
                },
                () = sleep_until(self.control.accept_paused_until()) => self.control.resume_accepting(),
                Some((request, reply)) = control_rx.recv() => {
                    let (response, wait) = self.handle_request(request).await;
                    let mut answer = self.control.answer(response);
                    answer.wait = wait;
                    // The client may have gone away; nothing to do then.
                    let _ = reply.send(answer);
                }
                Some(resolved) = resolved_rx.recv() => self.on_resolved(resolved),
                Some(reply) = metrics_rx.recv() => {
                    let text = self.metrics_text().await;
                    // The scraper may have given up; nothing to do then.
                    let _ = reply.send(text);
                }
                _ = signals.hangup.recv() => {
                    if stopping {
                        info!("SIGHUP ignored: stopping");
                    } else {
                        info!("SIGHUP: reloading {}", self.config_path.display());
                        // The log says how it went.
                        let _ = self.reload().await;
                    }
                }
                _ = signals.terminate.recv() => {
                    if stopping { break; }
                    let (at, wait) = self.begin_shutdown("SIGTERM");
                    (stop_at, grace) = (Some(at), wait);
                }
                _ = signals.interrupt.recv() => {
                    if stopping { break; }
                    let (at, wait) = self.begin_shutdown("SIGINT");
                    (stop_at, grace) = (Some(at), wait);
                }
                // Dropped and re-created on every turn of the loop: a dataplane's
                // `next_event` must not lose an event when its future is dropped.
                event = self.dataplane.next_event() => self.on_kernel_event(event),
                _ = keepalive.tick() => {
                    // Certificates are checked against this date; giving it again now and
                    // then follows a clock that was stepped.
                    self.engine.set_wall_clock(Instant::now(), crate::wall_clock::now_unix());
                    self.send_nat_keepalives().await
                }
                () = tick(&mut watchdog) => self.notifier.watchdog(),
            }
            self.drive().await;
            if stop_at.is_some() && self.engine.sas().next().is_none() {
                info!("every IKE SA is deleted");
                break;
            }
        }
        // Scrapes already accepted end with the loop's channel: an error answer, not a wait.
        if let Some(server) = metrics_server {
            server.abort();
        }
        // Whatever the engine still wants from the kernel is applied before exiting.
        self.drive().await;
        if let Some((began, retransmits)) = self.shutdown_began {
            info!(
                "deletes done in {} ms: {} IKE SA(s) left unanswered, {} request(s) retransmitted",
                began.elapsed().as_millis(),
                self.engine.sas().count(),
                self.engine.stats().retransmits.saturating_sub(retransmits)
            );
        }
        if stop_at.is_some() {
            // SAs of peers that did not answer in time are still installed: ikehub's kernel
            // state goes with the daemon all the same.
            match self.dataplane.remove_stale().await {
                Ok(0) => {}
                Ok(n) => info!("removed {n} kernel object(s) left by unanswered deletes"),
                Err(e) => warn!("could not remove ikehub's kernel state: {e}"),
            }
            if let Some(hub) = &mut self.hub {
                match hub.stop().await {
                    Ok(n) => info!("hub: removed {n} interface(s), route(s) and rule(s)"),
                    Err(e) => warn!("could not remove the hub's interfaces and routes: {e}"),
                }
            }
        }
    }

    /// STOPPING=1, then delete every IKE SA with its peer, paced and retransmitted by the
    /// engine (`ike::shutdown`). Returns until when, and how long, the answers are waited for.
    fn begin_shutdown(&mut self, signal: &str) -> (Instant, Duration) {
        self.stopping = true;
        self.notifier.stopping();
        self.waiters.fail_all("the daemon is stopping");
        let now = Instant::now();
        self.shutdown_began = Some((now, self.engine.stats().retransmits));
        let grace = self.engine.shutdown(now);
        info!("{signal}: deleting every IKE SA (waiting up to {grace:?} for the peers), then stopping");
        (now.checked_add(grace).unwrap_or(now), grace)
    }

    /// One datagram from socket `index`.
    fn on_datagram(&mut self, index: usize, result: io::Result<(usize, SocketAddr)>, buf: &[u8]) {
        let Some(socket) = self.sockets.list.get(index) else {
            return;
        };
        let local = socket.local;
        let nat_t = socket.nat_t();
        let (len, remote) = match result {
            Ok(received) => received,
            Err(e) => {
                debug!(%local, "receive error: {e}");
                return;
            }
        };
        let Some(datagram) = buf.get(..len) else {
            return;
        };
        let now = Instant::now();
        if !nat_t {
            let _span = self
                .sa_span(|engine| engine.sa_of_message(remote, datagram, Direction::Received))
                .entered();
            debug!(%local, %remote, len, "datagram");
            self.engine.handle_datagram(now, local, remote, datagram);
            return;
        }
        match nat_t::classify(datagram) {
            NatTDatagram::Ike(ike) => {
                let _span = self
                    .sa_span(|engine| engine.sa_of_message(remote, ike, Direction::Received))
                    .entered();
                debug!(%local, %remote, len, "datagram");
                self.engine.handle_datagram(now, local, remote, ike);
            }
            NatTDatagram::Keepalive => {
                self.counters.keepalives_received =
                    self.counters.keepalives_received.saturating_add(1);
            }
            NatTDatagram::BadMarker => {
                self.counters.dropped_bad_marker =
                    self.counters.dropped_bad_marker.saturating_add(1);
                debug!(%remote, len, "dropped datagram without the non-ESP marker");
            }
        }
    }

    /// Drain the engine in the order of its contract (`ike::engine`): kernel intents first,
    /// until their results queue no more (so an inbound SA exists before the message
    /// announcing it leaves), then datagrams, then events.
    pub(super) async fn drive(&mut self) {
        let mut routes_changed = false;
        // A kernel result may queue more intents (a refused install deletes the CHILD_SA):
        // they are applied before anything is sent, as the engine's contract asks.
        loop {
            let intents: Vec<_> = std::iter::from_fn(|| self.engine.poll_kernel()).collect();
            if intents.is_empty() {
                break;
            }
            let results = self.dataplane.apply(intents).await;
            let now = Instant::now();
            for (id, result) in results {
                let _span = self.sa_span(|engine| engine.sa_of_intent(id)).entered();
                if let Err(e) = &result {
                    warn!("kernel refused: {e}");
                }
                self.engine
                    .handle_kernel_result(now, id, result.map_err(KernelFailure::from));
            }
        }
        while let Some(transmit) = self.engine.poll_transmit() {
            // Entered around the lines only, never across the send's await.
            let span = self.sa_span(|engine| {
                engine.sa_of_message(transmit.remote, &transmit.payload, Direction::Sent)
            });
            span.in_scope(|| {
                debug!(local = %transmit.local, remote = %transmit.remote, len = transmit.payload.len(), "send");
            });
            if let Err(e) = self
                .sockets
                .send_ike(
                    transmit.local,
                    transmit.remote,
                    &transmit.payload,
                    &mut self.scratch,
                )
                .await
            {
                self.counters.send_errors += 1;
                span.in_scope(|| debug!(remote = %transmit.remote, "send failed: {e}"));
            }
        }
        while let Some(event) = self.engine.poll_event() {
            if let Some(hub) = &mut self.hub {
                routes_changed |= hub.on_event(&event);
            }
            self.waiters.on_event(&event);
            self.on_event(event);
        }
        while let Some(request) = self.engine.poll_resolve() {
            resolver::spawn(request, self.resolved_tx.clone());
        }
        // Waiting clients learn the outcome once the kernel's answers are in.
        if !self.waiters.is_empty() {
            self.waiters.settle(&self.engine);
        }
        if routes_changed {
            if let Some(hub) = &mut self.hub {
                hub.sync(&self.engine).await;
            }
        }
    }

    /// The log span of work on the IKE SA that `find` picks (a message's, a kernel
    /// answer's); none when it picks none (a new IKE_SA_INIT belongs to no SA yet), or when
    /// the spans are off: then nothing is looked up.
    fn sa_span<'a>(&'a self, find: impl FnOnce(&'a Engine) -> Option<&'a IkeSa>) -> Span {
        if !scope::may_be_on() {
            return Span::none();
        }
        find(&self.engine)
            .and_then(|sa| Some(scope::sa(self.engine.connection(sa.conn)?, sa)))
            .unwrap_or_else(Span::none)
    }

    /// The log span of a connection's work; none for an unknown connection or when the spans
    /// are off.
    pub(super) fn connection_span(&self, conn: ConnId) -> Span {
        if !scope::may_be_on() {
            return Span::none();
        }
        self.engine
            .connection(conn)
            .map(scope::connection)
            .unwrap_or_else(Span::none)
    }

    fn connection_name(&self, conn: ConnId) -> String {
        self.engine
            .connection(conn)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{} (removed)", conn.0))
    }

    fn on_event(&mut self, event: Event) {
        let _span = event
            .conn()
            .map(|conn| self.connection_span(conn))
            .unwrap_or_else(Span::none)
            .entered();
        self.last_errors.record_event(&event, Timestamp::now());
        if let Some(conn) = event.conn() {
            let setup = match &event {
                Event::IkeUp { sa, .. } => self.engine.sa(*sa).and_then(|sa| {
                    let established = sa.established_at?;
                    Some(established.saturating_duration_since(sa.created_at))
                }),
                _ => None,
            };
            let name = self.connection_name(conn);
            self.metrics
                .on_event(&event, &name, setup, SystemTime::now());
        }
        match event {
            Event::IkeUp { conn, remote, .. } => {
                info!(
                    "{}: IKE SA established with {remote}",
                    self.connection_name(conn)
                );
            }
            Event::IkeDown { conn, reason, .. } => {
                let name = self.connection_name(conn);
                info!("{name}: IKE SA down: {}", reason_text(&reason));
            }
            Event::ChildUp {
                conn,
                reqid,
                inbound_spi,
                outbound_spi,
                ..
            } => {
                info!(
                    "{}: tunnel up (CHILD_SA reqid {reqid}, spi in {inbound_spi:08x} out {outbound_spi:08x})",
                    self.connection_name(conn)
                );
            }
            Event::ChildDown {
                conn,
                reqid,
                reason,
                ..
            } => {
                info!(
                    "{}: tunnel down (CHILD_SA reqid {reqid}): {}",
                    self.connection_name(conn),
                    reason_text(&reason)
                );
            }
            Event::IkeRekeyed { conn, .. } => {
                info!("{}: IKE SA rekeyed", self.connection_name(conn));
            }
            Event::ChildFailed { conn, reason, .. } => {
                warn!(
                    "{}: CHILD_SA not established: {}",
                    self.connection_name(conn),
                    reason_text(&reason)
                );
            }
            Event::Refused {
                conn: Some(conn),
                peer,
                failure,
            } => {
                warn!(
                    "{}: {}",
                    self.connection_name(conn),
                    refusal_text(peer, &failure)
                );
            }
            Event::TrapFailed { conn, failure } => {
                warn!(
                    "{}: the kernel refused the trap policies: {failure}",
                    self.connection_name(conn)
                );
            }
            Event::Refused {
                conn: None,
                peer,
                failure,
            } => {
                info!(
                    "no connection accepts {peer}: {}",
                    refusal_text(peer, &failure)
                );
            }
        }
    }

    /// A peer's name resolved (or not): logged, a failure recorded as the connection's
    /// `last_error`, and the engine told, which initiates or retries later.
    fn on_resolved(&mut self, resolved: Resolved) {
        let Resolved {
            conn,
            name: host,
            result,
            addresses,
        } = resolved;
        let _span = self.connection_span(conn).entered();
        // A reload may have removed the connection or renamed its peer meanwhile: then the
        // answer is the engine's to drop, and nobody's failure.
        let current = self
            .engine
            .connection(conn)
            .is_some_and(|c| c.remote_name.as_deref() == Some(host.as_str()));
        if current {
            let name = self.connection_name(conn);
            match &result {
                Ok(address) if addresses.len() > 1 => {
                    let all: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                    info!(
                        "{name}: peer address {host} resolved to {address} (of {})",
                        all.join(", ")
                    );
                }
                Ok(address) => info!("{name}: peer address {host} resolved to {address}"),
                Err(why) => {
                    let text = format!("cannot resolve peer address {host}: {why}");
                    warn!("{name}: {text}");
                    self.waiters.on_failure(conn, &text);
                    self.metrics.on_resolve_failure(&name);
                    self.last_errors.record(
                        conn,
                        LastError {
                            message: text,
                            at: Timestamp::now(),
                            by: None,
                        },
                    );
                }
            }
        }
        self.engine
            .peer_resolved(Instant::now(), conn, &host, result);
    }

    fn on_kernel_event(&mut self, event: KernelEvent) {
        let _span = self
            .sa_span(|engine| engine.sa_of_kernel_event(&event))
            .entered();
        match &event {
            KernelEvent::Expire { dst, spi, hard } => {
                let kind = if *hard { "hard" } else { "soft" };
                info!("kernel: {kind} lifetime expired for SA {dst} spi {spi:08x}");
            }
            KernelEvent::Acquire { reqid } => {
                debug!("kernel: traffic for reqid {reqid} without an SA");
            }
        }
        self.engine.handle_kernel_event(Instant::now(), event);
    }

    /// RFC 3948 2.3: while we are behind a NAT, keep its mapping alive with a 0xFF datagram
    /// to the peer's NAT-T port. One pass over the IKE SAs every 20 s.
    async fn send_nat_keepalives(&mut self) {
        let mut sent = 0u64;
        let mut failed = 0u64;
        let targets: Vec<(std::net::IpAddr, SocketAddr)> = self
            .engine
            .sas()
            .filter(|sa| sa.state == SaState::Established && sa.nat.local_behind)
            .map(|sa| (sa.local.ip(), sa.remote))
            .collect();
        for (local_ip, remote) in targets {
            match self.sockets.send_keepalive(local_ip, remote).await {
                Ok(()) => sent += 1,
                Err(e) => {
                    failed += 1;
                    debug!(%remote, "NAT-keepalive not sent: {e}");
                }
            }
        }
        self.counters.keepalives_sent += sent;
        self.counters.send_errors += failed;
    }

    /// SIGHUP and `ikehub reload`: read the configuration again; keep the running one if
    /// the new one has errors (then every error is returned, and logged). In hub mode,
    /// interfaces of new connections are created before the engine starts them and those of
    /// removed connections deleted after their routes are withdrawn.
    pub(super) async fn reload(&mut self) -> Result<ReloadSummary, ReloadRefused> {
        let config = match crate::config::load(&self.config_path) {
            Ok(config) => config,
            Err(errors) => {
                self.metrics.on_reload(false);
                for e in &errors.0 {
                    error!("{e}");
                }
                error!(
                    "{} error(s) in {}; still running the previous configuration",
                    errors.0.len(),
                    self.config_path.display()
                );
                return Err(ReloadRefused {
                    errors: errors.0.iter().map(ToString::to_string).collect(),
                    file: self.config_path.display().to_string(),
                });
            }
        };
        let bound: Vec<_> = self.sockets.local_ips().collect();
        for ip in &config.gateway.local_addresses {
            if !bound.contains(ip) {
                warn!("local address {ip} is new: its sockets are bound only at start; restart the daemon to use it");
            }
        }
        if config.gateway.hub != self.hub.is_some() {
            let error = format!(
                "gateway.hub changed in {}: hub mode is switched at start only; restart the daemon",
                self.config_path.display()
            );
            error!("{error}. Still running the previous configuration");
            self.metrics.on_reload(false);
            return Err(ReloadRefused {
                errors: vec![error],
                file: self.config_path.display().to_string(),
            });
        }
        if config.gateway.control_group.as_ref() != self.control.access().group() {
            warn!("gateway.control_group changed: the control socket's group is set at start only; restart the daemon to apply it");
        }
        if config.gateway.metrics_listen != self.metrics_listen {
            warn!("gateway.metrics_listen changed: the metrics endpoint is bound at start only; restart the daemon to move it");
        }
        let (mut settings, mut not_running) = super::engine_settings(&config);
        if let Some(hub) = &mut self.hub {
            for (name, reason) in hub.prepare_reload(&mut settings.connections).await {
                error!("connection {name:?} not started: {reason}");
                not_running.push(super::not_running(&config, name, &reason));
            }
        }
        let mut not_started: Vec<String> = not_running
            .iter()
            .map(|c| match &c.last_error {
                Some(reason) => format!("{}: {reason}", c.name),
                None => c.name.clone(),
            })
            .collect();
        self.not_running = not_running;
        self.not_running_since = Timestamp::now();
        let report = self.engine.reload(Instant::now(), settings);
        self.metrics.on_reload(true);
        self.metrics.forget(&report.removed);
        if let Some(control) = logging::control() {
            control.retain_connections(|name| self.engine.connection_id(name).is_some());
        }
        self.waiters.forget_removed(&self.engine);
        if let Some(hub) = &mut self.hub {
            hub.finish_reload(&config, &self.engine).await;
        }
        let names = |list: &[String]| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        info!(
            "reloaded: added {}; changed (re-established) {}; updated in place (SAs kept) {}; removed {}; unchanged (kept running) {}",
            names(&report.added),
            names(&report.changed),
            names(&report.updated),
            names(&report.removed),
            names(&report.unchanged)
        );
        for (name, reason) in &report.failed_to_start {
            error!("{name}: not started after reload: {reason}");
            not_started.push(format!("{name}: {reason}"));
        }
        self.notifier.status(&format!(
            "reloaded; {} connection(s) configured",
            self.engine.connection_ids().count()
        ));
        Ok(ReloadSummary {
            added: report.added,
            changed: report.changed,
            updated: report.updated,
            removed: report.removed,
            unchanged: report.unchanged,
            not_started,
        })
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
