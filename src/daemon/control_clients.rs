//! The control socket's clients, bounded so that no client, however slow or however many,
//! takes the daemon's memory or file descriptors, or keeps a new client from its answer.
//!
//! - At most [`MAX_CLIENTS`] connections are held. When every place is taken, the client that
//!   has waited longest without sending its request makes room for the newcomer; a client
//!   that has sent its request keeps its place, and a newcomer that finds every place taken
//!   by such clients is refused with an error line. Both are counted.
//! - A request must arrive within the request timeout of [`control::read_request`], and an
//!   answer must be taken at some pace: a client that reads nothing for [`STALL_TIMEOUT`] is
//!   dropped and counted.
//! - The status answers held for clients add up to at most [`ANSWER_BUDGET`] bytes; past it a
//!   status request is answered with an error to try again.
//! - When `accept` fails (out of file descriptors), accepting pauses with a doubling delay
//!   instead of spinning, the longest-silent client is closed to give its descriptor back,
//!   and the failure is logged once per [`LOG_INTERVAL`].

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::control::{self, Outcome, Request, Response};
use super::control_access::{self, ControlAccess, Peer};
use super::waiters::{Goal, Settled, WaitHandle};

/// Control connections held at once; well under the usual limit of 1024 file descriptors.
pub const MAX_CLIENTS: usize = 256;

/// How long a client may go without reading any of its answer.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Status answers held for clients, in bytes, at most.
pub const ANSWER_BUDGET: usize = 32 << 20;

/// At most one log line per kind of control-socket trouble in this interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The first pause of `accept` after a failure, doubled for each failure in a row.
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(50);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

pub type ControlRequest = (Request, oneshot::Sender<Answer>);

/// A response on its way to a client, holding its place in the answer budget until it is
/// sent or dropped.
pub struct Answer {
    pub response: Response,
    _held: Option<AnswerBytes>,
    /// A waited `up` or `down`: the lines that follow the response, from the loop.
    pub wait: Option<WaitHandle>,
}

impl Answer {
    fn unheld(response: Response) -> Answer {
        Answer {
            response,
            _held: None,
            wait: None,
        }
    }
}

/// What happened to control clients, shown in status.
#[derive(Debug, Default)]
pub struct ControlCounters {
    /// Newcomers refused because every place was held by a client being answered.
    pub refused: AtomicU64,
    /// Clients dropped: made room while still silent, too slow to send their request or to
    /// read their answer.
    pub dropped: AtomicU64,
    /// `accept` failures (e.g. out of file descriptors).
    pub accept_errors: AtomicU64,
}

/// A client admitted that has not yet sent its request: it can be asked to make room.
struct Silent {
    make_room: oneshot::Sender<()>,
}

pub struct ControlClients {
    /// Who may ask what, checked on every request.
    access: Arc<ControlAccess>,
    counters: Arc<ControlCounters>,
    open: Arc<AtomicUsize>,
    answer_bytes: Arc<AtomicUsize>,
    /// Oldest first. A client that has sent its request drops its receiver, which is how
    /// it leaves this queue.
    silent: VecDeque<Silent>,
    max_clients: usize,
    accept: AcceptBackoff,
    crowd_log: Throttle,
}

impl ControlClients {
    pub fn new(max_clients: usize, access: ControlAccess) -> ControlClients {
        ControlClients {
            access: Arc::new(access),
            counters: Arc::default(),
            open: Arc::default(),
            answer_bytes: Arc::default(),
            silent: VecDeque::new(),
            max_clients,
            accept: AcceptBackoff::default(),
            crowd_log: Throttle::default(),
        }
    }

    pub fn access(&self) -> &ControlAccess {
        &self.access
    }

    pub fn counters(&self) -> &ControlCounters {
        &self.counters
    }

    /// Serve a newly accepted client, making room or refusing it when every place is taken.
    pub fn admit(&mut self, stream: UnixStream, loop_tx: mpsc::Sender<ControlRequest>) {
        self.accept.on_accepted();
        self.silent.retain(|client| !client.make_room.is_closed());
        let max_clients = self.max_clients;
        if self.open.load(Ordering::Relaxed) >= max_clients && !self.make_room() {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            self.log_crowd(format_args!(
                "control socket: {max_clients} clients are being answered; refusing new ones (counted in control_clients_refused)"
            ));
            refuse(stream, max_clients);
            return;
        }
        let (make_room, made_to_leave) = oneshot::channel();
        self.silent.push_back(Silent { make_room });
        let task = ClientTask {
            stream,
            loop_tx,
            made_to_leave,
            access: Arc::clone(&self.access),
            counters: Arc::clone(&self.counters),
            _place: Place::take(&self.open),
        };
        tokio::spawn(task.serve());
    }

    /// Ask the longest-silent client to leave. False when every client has sent its request.
    fn make_room(&mut self) -> bool {
        let max_clients = self.max_clients;
        while let Some(oldest) = self.silent.pop_front() {
            if oldest.make_room.send(()).is_ok() {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.log_crowd(format_args!(
                    "control socket: {max_clients} clients connected; the longest silent ones are closed to make room (counted in control_clients_dropped)"
                ));
                return true;
            }
        }
        false
    }

    fn log_crowd(&mut self, message: std::fmt::Arguments<'_>) {
        if let Some(suppressed) = self.crowd_log.allow(Instant::now()) {
            warn!("{message}{}", more_since(suppressed));
        }
    }

    /// Whether a status answer may be built now: the answers held for slow clients leave
    /// room in the budget. Checked before the snapshot is taken, so that a crowd of clients
    /// that do not read costs the budget, not one snapshot each.
    pub fn answer_budget_left(&self) -> bool {
        self.answer_bytes.load(Ordering::Relaxed) < ANSWER_BUDGET
    }

    /// The loop's response, its status bytes counted against the budget until the client
    /// has it; past the budget, an error to try again instead.
    pub fn answer(&self, response: Response) -> Answer {
        let bytes = response.status_json.as_ref().map(Vec::len).unwrap_or(0);
        if bytes == 0 {
            return Answer::unheld(response);
        }
        match AnswerBytes::reserve(&self.answer_bytes, bytes) {
            Some(held) => Answer {
                response,
                _held: Some(held),
                wait: None,
            },
            None => Answer::unheld(budget_spent()),
        }
    }

    /// `accept` failed: pause accepting for a while, and say so at most once per interval.
    pub fn on_accept_error(&mut self, error: &io::Error) {
        self.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
        // Out of file descriptors: a silent client gives its back, so that the next accept,
        // after the pause, can take a client that asks for something.
        if matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            self.make_room();
        }
        let now = Instant::now();
        let pause = self.accept.on_error(now);
        if let Some(suppressed) = self.accept.log.allow(now) {
            warn!(
                "control socket: cannot accept a client: {error}; accepting again in {} ms, doubling up to {} ms while it fails{}",
                pause.as_millis(),
                ACCEPT_PAUSE_MAX.as_millis(),
                more_since(suppressed)
            );
        }
    }

    /// Until when accepting is paused, if it is.
    pub fn accept_paused_until(&self) -> Option<Instant> {
        self.accept.paused_until
    }

    pub fn resume_accepting(&mut self) {
        self.accept.paused_until = None;
    }
}

pub fn budget_spent() -> Response {
    Response::error(format!(
        "status answers for slow clients already hold {} MiB; try again",
        ANSWER_BUDGET >> 20
    ))
}

fn more_since(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} more since the last such line)")
    }
}

/// Tell a client there is no room, without waiting for it: a new connection's send buffer
/// is empty, so the line fits, and a client that cannot take it loses nothing it asked for.
fn refuse(stream: UnixStream, max_clients: usize) {
    let (line, _) = control::encode_response(&Response::error(format!(
        "the daemon is answering {max_clients} other control clients; try again"
    )));
    if let Err(e) = stream.try_write(&line) {
        debug!("refused control client: {e}");
    }
}

/// One open control connection, counted while it lives.
struct Place(Arc<AtomicUsize>);

impl Place {
    fn take(open: &Arc<AtomicUsize>) -> Place {
        open.fetch_add(1, Ordering::Relaxed);
        Place(Arc::clone(open))
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Bytes of a status answer held for a client, given back when it is sent or dropped.
struct AnswerBytes {
    total: Arc<AtomicUsize>,
    bytes: usize,
}

impl AnswerBytes {
    /// None when the answer would take the total past the budget.
    fn reserve(total: &Arc<AtomicUsize>, bytes: usize) -> Option<AnswerBytes> {
        let previous = total.fetch_add(bytes, Ordering::Relaxed);
        let reserved = AnswerBytes {
            total: Arc::clone(total),
            bytes,
        };
        if previous.saturating_add(bytes) > ANSWER_BUDGET {
            drop(reserved);
            return None;
        }
        Some(reserved)
    }
}

impl Drop for AnswerBytes {
    fn drop(&mut self) {
        self.total.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

struct ClientTask {
    stream: UnixStream,
    loop_tx: mpsc::Sender<ControlRequest>,
    made_to_leave: oneshot::Receiver<()>,
    access: Arc<ControlAccess>,
    counters: Arc<ControlCounters>,
    _place: Place,
}

impl ClientTask {
    async fn serve(mut self) {
        let read = tokio::select! {
            read = control::read_request(&mut self.stream) => read,
            _ = &mut self.made_to_leave => {
                debug!("control client closed to make room: it sent no request");
                return;
            }
        };
        // Having sent its request, the client keeps its place.
        drop(self.made_to_leave);
        let answer = match read {
            Err(e) => {
                if e.timed_out {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Answer::unheld(Response::error(e.message))
            }
            Ok(request) => match refusal(&self.stream, &self.access, &request).await {
                None => ask_loop(&self.loop_tx, request).await,
                Some(refused) => Answer::unheld(refused),
            },
        };
        let written = match answer.wait {
            Some(wait) => stream_wait(&mut self.stream, &answer.response, wait).await,
            None => {
                control::write_response(&mut self.stream, &answer.response, STALL_TIMEOUT).await
            }
        };
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                debug!("control client dropped: {e}");
            }
            Err(e) => debug!("control client went away: {e}"),
        }
    }
}

/// The answer to a request the client may not make, logged; `None` when it may.
async fn refusal(
    stream: &UnixStream,
    access: &ControlAccess,
    request: &Request,
) -> Option<Response> {
    let command = request.command_name();
    let credentials = match stream.peer_cred() {
        Ok(credentials) => credentials,
        Err(e) => {
            warn!("control socket: refused `{command}`: cannot read the client's credentials: {e}");
            return Some(Response::denied(format!(
                "permission denied: the daemon cannot read your credentials: {e}"
            )));
        }
    };
    let peer = Peer {
        uid: credentials.uid(),
        gid: credentials.gid(),
    };
    let groups = if access.needs_groups(&peer) {
        let (uid, gid) = (peer.uid, peer.gid);
        // The group database may be a file or a network service: off the loop's thread.
        tokio::task::spawn_blocking(move || control_access::supplementary_groups(uid, gid))
            .await
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let refusal = access.decide(&peer, &groups, request).err()?;
    let pid = credentials
        .pid()
        .map_or_else(String::new, |pid| format!(", pid {pid}"));
    warn!(
        "control socket: refused `{command}` from uid {} (gid {}{pid}): {}",
        peer.uid, peer.gid, refusal.answer
    );
    Some(Response::denied(refusal.answer))
}

/// A waited command's answer: its first line, the progress the loop hands over, then the
/// outcome, or a timeout when the loop has none in time. A client that goes away ends it.
async fn stream_wait(
    stream: &mut UnixStream,
    first: &Response,
    mut wait: WaitHandle,
) -> io::Result<()> {
    let (mut from_client, mut to_client) = stream.split();
    write_within(&mut to_client, &control::encode_response(first).0).await?;
    let timeout = tokio::time::sleep(wait.wait);
    tokio::pin!(timeout);
    let mut ignored = [0u8; 64];
    let last = loop {
        tokio::select! {
            // Progress first: what the loop sent before the outcome is written before it.
            biased;
            Some(line) = wait.progress.recv() => {
                write_within(&mut to_client, &control::encode_response(&Response::progress(line)).0).await?;
            }
            settled = &mut wait.settled => break match settled {
                Ok(Settled::Done(text)) => Response::outcome(Outcome::Done, text),
                Ok(Settled::Failed(text)) => Response::outcome(Outcome::Failed, text),
                Err(_) => Response::error("the daemon is stopping"),
            },
            () = &mut timeout => break Response::outcome(Outcome::Timeout, timed_out(&wait)),
            read = from_client.read(&mut ignored) => match read {
                // The client left: nobody to tell.
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            },
        }
    };
    while let Ok(line) = wait.progress.try_recv() {
        write_within(
            &mut to_client,
            &control::encode_response(&Response::progress(line)).0,
        )
        .await?;
    }
    write_within(&mut to_client, &control::encode_response(&last).0).await?;
    to_client.shutdown().await
}

fn timed_out(wait: &WaitHandle) -> String {
    let (name, seconds) = (&wait.name, wait.wait.as_secs());
    match wait.goal {
        Goal::Established => format!(
            "{name}: not established within {seconds} s; the daemon goes on trying (`ikehub status {name}` shows where it is)"
        ),
        Goal::Down => format!(
            "{name}: not down within {seconds} s: the peer has not answered every delete yet; the SAs go when it does or when it is found dead"
        ),
    }
}

/// Write `bytes`, giving up when the client takes none of them for [`STALL_TIMEOUT`].
async fn write_within(to_client: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> io::Result<()> {
    match tokio::time::timeout(STALL_TIMEOUT, to_client.write_all(bytes)).await {
        Ok(written) => written,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client read none of its answer for {} s",
                STALL_TIMEOUT.as_secs()
            ),
        )),
    }
}

async fn ask_loop(loop_tx: &mpsc::Sender<ControlRequest>, request: Request) -> Answer {
    let stopping = || Answer::unheld(Response::error("the daemon is stopping"));
    let (reply_tx, reply_rx) = oneshot::channel();
    if loop_tx.send((request, reply_tx)).await.is_err() {
        return stopping();
    }
    reply_rx.await.unwrap_or_else(|_| stopping())
}

/// The pause of `accept` after failures, doubling while they go on.
#[derive(Debug, Default)]
struct AcceptBackoff {
    paused_until: Option<Instant>,
    /// The pause after the next failure; zero means the minimum.
    next_pause: Duration,
    log: Throttle,
}

impl AcceptBackoff {
    fn on_error(&mut self, now: Instant) -> Duration {
        let pause = self.next_pause.max(ACCEPT_PAUSE_MIN);
        self.paused_until = Some(now + pause);
        self.next_pause = (pause * 2).min(ACCEPT_PAUSE_MAX);
        pause
    }

    fn on_accepted(&mut self) {
        self.next_pause = Duration::ZERO;
    }
}

/// At most one line per [`LOG_INTERVAL`]; the lines held back are counted in the next.
#[derive(Debug, Default)]
struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// Some(lines held back since the last one) when a line may be written now.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_pauses_double_up_to_the_maximum_and_reset_on_success() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        let pauses: Vec<u128> = (0..7).map(|_| backoff.on_error(now).as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.paused_until, Some(now + ACCEPT_PAUSE_MAX));
        backoff.on_accepted();
        assert_eq!(backoff.on_error(now), ACCEPT_PAUSE_MIN);
    }

    #[test]
    fn throttle_allows_one_line_per_interval_and_counts_the_rest() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        assert_eq!(throttle.allow(start), Some(0));
        for i in 1..=1000 {
            assert_eq!(throttle.allow(start + Duration::from_millis(i)), None);
        }
        assert_eq!(throttle.allow(start + LOG_INTERVAL), Some(1000));
        assert_eq!(throttle.allow(start + LOG_INTERVAL), None);
    }

    #[test]
    fn answers_past_the_budget_are_not_reserved_and_give_back_what_they_took() {
        let total = Arc::new(AtomicUsize::new(0));
        let first = AnswerBytes::reserve(&total, ANSWER_BUDGET - 10);
        assert!(first.is_some());
        assert!(AnswerBytes::reserve(&total, 11).is_none());
        assert_eq!(total.load(Ordering::Relaxed), ANSWER_BUDGET - 10);
        let second = AnswerBytes::reserve(&total, 10);
        assert!(second.is_some());
        drop(first);
        drop(second);
        assert_eq!(total.load(Ordering::Relaxed), 0);
    }
}
