//! The control socket: how `ikehub status`, `up` and `down` talk to the running daemon.
//!
//! # Protocol
//!
//! A unix stream socket, by default `/run/ikehub/control.sock`, mode 0600 and owned by root
//! (its directory is created 0700 if missing): only root may connect. With `[gateway]
//! control_group` the socket is 0660 and the group's: its members may connect and use the
//! commands that only read (`status`, `routes`, `log` without a level); every other command
//! stays root's. The daemon checks every request against the client's credentials
//! (`control_access`); a refused one is answered `{"ok":false,"error":"permission denied:
//! ...","denied":true}` and logged. One request per connection: the
//! client writes one JSON object on one line (terminated by `\n`), the daemon answers with
//! JSON objects, one per line, and closes the connection. Every answer is one line, except a
//! waited `up` or `down` (below). A status answer's line announces the length of the
//! snapshot that follows it: the snapshot in its JSON form, pretty-printed exactly as
//! `ikehub status --json` prints it, so the client copies it out unparsed.
//!
//! Requests (`cmd` selects the command):
//!
//! ```text
//! {"cmd":"status"}                    every connection
//! {"cmd":"status","name":"office"}    one connection
//! {"cmd":"up","name":"office"}        initiate the connection's IKE SA and CHILD_SA (only
//!                                     a CHILD_SA on an IKE SA without one)
//! {"cmd":"down","name":"office"}      delete the connection's SAs with the peer
//! {"cmd":"up","name":"office","wait_s":30}    the same, and wait up to 30 s (at most
//! {"cmd":"down","name":"office","wait_s":30}  3600) for the outcome
//! {"cmd":"routes"}                    the hub's destination route table
//! {"cmd":"reload"}                    read the configuration file again (as SIGHUP)
//! {"cmd":"log"}                       the log filter
//! {"cmd":"log","level":"debug"}       set the global level (error, warn, info, debug,
//!                                     trace; reset: the directives the daemon started with)
//! {"cmd":"log","level":"debug","name":"office"}   set one connection's level (reset: it
//!                                     follows the global one again)
//! ```
//!
//! Responses:
//!
//! ```text
//! {"ok":true,"status_bytes":N}        status: N bytes of JSON follow the line; see
//!                                     daemon::status for the fields
//! {"ok":true,"message":"office: initiating"}
//! {"ok":true,"routes":[...]}          routes: see daemon::hub::view for the fields; empty
//!                                     when hub mode is off
//! {"ok":false,"error":"unknown connection \"x\"; known connections: office, branch"}
//! {"ok":true,"reloaded":{"added":[],"changed":["office"],"updated":["depot"],"removed":[],
//!   "unchanged":["branch"],"not_started":[]}}
//!                                     reload: connection names (changed: re-established;
//!                                     updated: in place, SAs kept); not_started:
//!                                     "name: reason"
//! {"ok":false,"error":"...: 2 error(s); nothing was applied, ...",
//!   "reload_errors":{"file":"/etc/ikehub/ikehub.toml","errors":["file:3:8: ...", ...]}}
//! {"ok":true,"message":"office: log level debug","log":{"global":"info",
//!   "connections":{"office":"debug"}}}  log: the filter after the command
//! ```
//!
//! A waited `up` or `down` is answered with lines of progress, each with `progress`, as the
//! connection's events happen, and ends with a line without it, whose `outcome` says how it
//! ended: `done` (`up`: established, IKE SA and a CHILD_SA; `down`: no IKE SA left),
//! `failed` (the reason in `error`, by RFC names) or `timeout` (the daemon goes on). A
//! request refused at once (an unknown name) is one line without `outcome`, as unwaited.
//!
//! ```text
//! {"ok":true,"progress":"office: initiating"}
//! {"ok":true,"progress":"office: IKE SA established with 198.51.100.20:500"}
//! {"ok":true,"progress":"office: CHILD_SA not established: negotiation failed: IKE_AUTH (message ID 1, peer 198.51.100.20:500): the peer refused with TS_UNACCEPTABLE: no CHILD_SA"}
//! {"ok":false,"error":"office: failed: negotiation failed: IKE_AUTH (message ID 1, ...): ...","outcome":"failed"}
//! ```
//!
//! Progress lines a client is slow to take may be left out (at most 32 wait for it); the
//! outcome never is.
//!
//! A request line longer than [`MAX_REQUEST`] bytes, or one that is not valid JSON for a known
//! command, gets an `ok: false` answer naming the problem.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::config::ControlGroup;

use super::hub::RouteStatus;
use super::status::{self, StatusSnapshot};

/// Longest request line accepted.
pub const MAX_REQUEST: usize = 4096;

/// Most memory reserved up front for a status answer (it grows past this if it must).
const MAX_RESERVE: usize = 256 << 20;
/// The client's read buffer: a status answer is copied out through it in pieces this big.
const READ_BUFFER: usize = 256 << 10;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    Up {
        name: String,
        /// Wait up to this many seconds for the connection to be established, answering
        /// with progress lines and the outcome; absent: answer at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_s: Option<u64>,
    },
    Down {
        name: String,
        /// Wait up to this many seconds for the connection's IKE SAs to be deleted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_s: Option<u64>,
    },
    Routes,
    /// Read the configuration file again, as SIGHUP does, and say what changed.
    Reload,
    /// Show the log filter, or set a level: the global one, or with `name` that
    /// connection's.
    Log {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<LogLevel>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

impl Request {
    /// Whether the command only reads: members of `[gateway] control_group` may use it. A
    /// new command must be placed here, on one side or the other.
    pub fn is_read_only(&self) -> bool {
        match self {
            Request::Status { .. } | Request::Routes => true,
            Request::Log { level, .. } => level.is_none(),
            Request::Up { .. } | Request::Down { .. } | Request::Reload => false,
        }
    }

    /// The command as it is typed, for refusals and the log: `status`, `log debug`...
    pub fn command_name(&self) -> String {
        match self {
            Request::Status { .. } => "status".into(),
            Request::Up { .. } => "up".into(),
            Request::Down { .. } => "down".into(),
            Request::Routes => "routes".into(),
            Request::Reload => "reload".into(),
            Request::Log { level: None, .. } => "log".into(),
            Request::Log {
                level: Some(level), ..
            } => format!("log {}", level.as_str()),
        }
    }
}

/// A level `ikehub log` sets; `reset` drops a connection's own level (globally: back to the
/// directives the daemon started with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
    Reset,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
            LogLevel::Reset => "reset",
        }
    }
}

/// The running log filter: the global directives (as `IKEHUB_LOG` spells them) and the
/// connections with a level of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogView {
    pub global: String,
    pub connections: std::collections::BTreeMap<String, String>,
}

/// What a reload applied: connection names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    /// Settings changed: re-established.
    pub changed: Vec<String>,
    /// Only settings the running SAs take changed (DPD, lifetimes, start and close action,
    /// offload): applied to them, SAs kept. Absent from an older daemon's answer.
    #[serde(default)]
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// Kept running as they were.
    pub unchanged: Vec<String>,
    /// Configured but not running, each `name: reason`.
    pub not_started: Vec<String>,
}

/// Why a reload applied nothing: every error in the file, or the one change only a restart
/// makes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRefused {
    pub file: String,
    pub errors: Vec<String>,
}

/// How a waited `up` or `down` ended, on its last line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `up`: established; `down`: no IKE SA left.
    Done,
    /// The connection failed; `error` says why, by RFC names.
    Failed,
    /// Not done within the time asked for; the daemon goes on.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub ok: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    /// The status snapshot in its JSON form ([`status::to_json`]), ready to print.
    pub status_json: Option<Vec<u8>>,
    pub routes: Option<Vec<RouteStatus>>,
    /// A line of progress of a waited command: more lines follow.
    pub progress: Option<String>,
    /// The last line of a waited command: how it ended.
    pub outcome: Option<Outcome>,
    /// `reload`: what it applied.
    pub reloaded: Option<ReloadSummary>,
    /// `reload`: why nothing was applied.
    pub reload_errors: Option<ReloadRefused>,
    /// `log`: the filter after the command.
    pub log: Option<LogView>,
    /// The client may not make this request (see `control_access`).
    pub denied: bool,
}

/// The line of an answer: the [`Response`] with the status snapshot replaced by its length.
#[derive(Debug, Serialize, Deserialize)]
struct ResponseLine {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Bytes of status JSON that follow the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_bytes: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    routes: Option<Vec<RouteStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reloaded: Option<ReloadSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reload_errors: Option<ReloadRefused>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<LogView>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    denied: bool,
}

impl Response {
    pub fn message(text: impl Into<String>) -> Response {
        Response {
            ok: true,
            message: Some(text.into()),
            ..Response::default()
        }
    }

    pub fn error(text: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(text.into()),
            ..Response::default()
        }
    }

    /// The client's credentials do not allow the request.
    pub fn denied(text: impl Into<String>) -> Response {
        Response {
            denied: true,
            ..Response::error(text)
        }
    }

    /// A line of progress: the answer goes on.
    pub fn progress(text: impl Into<String>) -> Response {
        Response {
            ok: true,
            progress: Some(text.into()),
            ..Response::default()
        }
    }

    /// The last line of a waited command: a message when it is done, else the error.
    pub fn outcome(outcome: Outcome, text: impl Into<String>) -> Response {
        let mut response = match outcome {
            Outcome::Done => Response::message(text),
            Outcome::Failed | Outcome::Timeout => Response::error(text),
        };
        response.outcome = Some(outcome);
        response
    }

    /// The snapshot is encoded here, once, in the form the client prints.
    pub fn status(snapshot: StatusSnapshot) -> Response {
        match status::to_json(&snapshot) {
            Ok(json) => Response {
                ok: true,
                status_json: Some(json),
                ..Response::default()
            },
            Err(e) => Response::error(format!("cannot encode the status: {e}")),
        }
    }

    /// `reload`: what was applied, or why nothing was.
    pub fn reload(result: Result<ReloadSummary, ReloadRefused>) -> Response {
        match result {
            Ok(summary) => Response {
                ok: true,
                reloaded: Some(summary),
                ..Response::default()
            },
            Err(refused) => Response {
                ok: false,
                error: Some(format!(
                    "{}: {} error(s); nothing was applied, the previous configuration runs on",
                    refused.file,
                    refused.errors.len()
                )),
                reload_errors: Some(refused),
                ..Response::default()
            },
        }
    }

    /// `log`: what was done, and the filter now.
    pub fn log(text: Option<String>, view: LogView) -> Response {
        Response {
            ok: true,
            message: text,
            log: Some(view),
            ..Response::default()
        }
    }

    pub fn routes(routes: Vec<RouteStatus>) -> Response {
        Response {
            ok: true,
            routes: Some(routes),
            ..Response::default()
        }
    }
}

/// Parse one request line.
pub fn decode_request(line: &[u8]) -> Result<Request, String> {
    serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))
}

/// An answer as sent: its line, then the status JSON if it carries one.
pub fn encode_response(response: &Response) -> (Vec<u8>, &[u8]) {
    let status_json = response.status_json.as_deref().unwrap_or_default();
    let line = encode_line(&ResponseLine {
        ok: response.ok,
        message: response.message.clone(),
        error: response.error.clone(),
        status_bytes: response.status_json.as_ref().map(Vec::len),
        routes: response.routes.clone(),
        progress: response.progress.clone(),
        outcome: response.outcome,
        reloaded: response.reloaded.clone(),
        reload_errors: response.reload_errors.clone(),
        log: response.log.clone(),
        denied: response.denied,
    });
    (line, status_json)
}

fn invalid_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Read an answer as [`encode_response`] sends it. An answer that is not one is an
/// `InvalidData` error.
pub fn read_response(reader: &mut impl io::BufRead) -> io::Result<Response> {
    read_answer_line(reader)?.read_status()
}

/// Read an answer's line; its status JSON, if it has one, is left on the connection.
pub fn read_answer_line<R: io::BufRead>(mut reader: R) -> io::Result<PendingAnswer<R>> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(invalid_data(
            "the daemon closed the connection without an answer".to_owned(),
        ));
    }
    let head: ResponseLine =
        serde_json::from_slice(&line).map_err(|e| invalid_data(e.to_string()))?;
    Ok(PendingAnswer {
        response: Response {
            ok: head.ok,
            message: head.message,
            error: head.error,
            status_json: None,
            routes: head.routes,
            progress: head.progress,
            outcome: head.outcome,
            reloaded: head.reloaded,
            reload_errors: head.reload_errors,
            log: head.log,
            denied: head.denied,
        },
        status_bytes: head.status_bytes,
        reader,
    })
}

/// An answer whose status JSON, if it has one, is still to be read.
pub struct PendingAnswer<R> {
    /// The answer without its status JSON.
    pub response: Response,
    status_bytes: Option<usize>,
    pub(crate) reader: R,
}

/// Why copying the status JSON out stopped.
#[derive(Debug)]
pub enum CopyError {
    /// Reading the answer failed (`InvalidData`: it ended early).
    Answer(io::Error),
    /// Writing the copy failed.
    Output(io::Error),
}

impl<R: io::BufRead> PendingAnswer<R> {
    pub fn has_status(&self) -> bool {
        self.status_bytes.is_some()
    }

    /// The whole answer, status JSON included.
    pub fn read_status(mut self) -> io::Result<Response> {
        use std::io::Read;
        let Some(length) = self.status_bytes else {
            return Ok(self.response);
        };
        // The length comes from the daemon: reserve it only up to a sane bound.
        let mut json = Vec::with_capacity(length.min(MAX_RESERVE));
        self.reader
            .take(u64::try_from(length).unwrap_or(u64::MAX))
            .read_to_end(&mut json)?;
        if json.len() != length {
            return Err(cut_short(json.len(), length));
        }
        self.response.status_json = Some(json);
        Ok(self.response)
    }

    /// Copy the status JSON to `out` as it arrives, without holding all of it: megabytes
    /// for thousands of SAs. Copies nothing when the answer has none.
    pub fn copy_status(self, out: &mut impl io::Write) -> Result<(), CopyError> {
        use std::io::BufRead;
        let length = self.status_bytes.unwrap_or(0);
        let mut json = self.reader.take(u64::try_from(length).unwrap_or(u64::MAX));
        let mut copied = 0usize;
        loop {
            let chunk = json.fill_buf().map_err(CopyError::Answer)?;
            if chunk.is_empty() {
                break;
            }
            out.write_all(chunk).map_err(CopyError::Output)?;
            let taken = chunk.len();
            json.consume(taken);
            copied = copied.saturating_add(taken);
        }
        if copied != length {
            return Err(CopyError::Answer(cut_short(copied, length)));
        }
        Ok(())
    }
}

fn cut_short(got: usize, length: usize) -> io::Error {
    invalid_data(format!("the status ended after {got} of {length} bytes"))
}

/// One line of JSON, newline-terminated.
pub fn encode_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|e| {
        // Serialising our own plain structs cannot fail; answer with the reason if it does.
        format!("{{\"ok\":false,\"error\":\"cannot encode the answer: {e}\"}}").into_bytes()
    });
    bytes.push(b'\n');
    bytes
}

/// Create the listening socket: the directory 0700 if it is missing, a stale socket file
/// replaced, the new one 0600 (root-owned, since the daemon runs as root) or, with a
/// control group, 0660 and given to that group.
///
/// The mode comes from the umask in effect at `bind`, so the file is never more open than
/// that, even for an instant; the umask is the process's, set back at once (the runtime
/// has one thread). The file's group is the daemon's own group: under systemd, `Group=`
/// makes that the control group. Otherwise (root's group) the file is given to the control
/// group after `bind`; until then root's group, whose members are checked on every
/// connection all the same, is the only other one that could connect.
pub fn listen(path: &Path, group: Option<&ControlGroup>) -> io::Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        if let Some(group) = group {
            warn_unless_traversable(dir, group);
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) => {
            // A socket left by a daemon that did not exit cleanly: a running daemon would
            // answer a connection; a stale one refuses.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another daemon answers on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(_) => {}
    }
    let listener = bind_with_mode(path, if group.is_some() { 0o660 } else { 0o600 })?;
    if let Some(group) = group {
        if let Err(e) = give_to_group(path, group) {
            // Closed before it is served: no socket file of the wrong group stays behind.
            drop(listener);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    Ok(listener)
}

/// Give the socket file to the control group. A daemon whose own group it is (systemd:
/// `Group=`) created it so and has nothing to do; otherwise changing it takes CAP_CHOWN.
fn give_to_group(path: &Path, group: &ControlGroup) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if std::fs::symlink_metadata(path)?.gid() == group.gid {
        return Ok(());
    }
    let gid = nix::unistd::Gid::from_raw(group.gid);
    nix::unistd::chown(path, None, Some(gid)).map_err(|e| {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "cannot give {} to group {} (gateway.control_group): {e}; run the daemon with {} as its group (systemd: `systemctl edit ikehub`, then [Service] Group={}), or with CAP_CHOWN",
                path.display(),
                group.name,
                group.name,
                group.name
            ),
        )
    })
}

/// Bind the socket with the umask that leaves exactly `mode`, then restore the umask.
fn bind_with_mode(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use nix::sys::stat::{umask, Mode};
    let mask = Mode::from_bits_truncate(0o777 & !mode);
    let previous = umask(mask);
    let bound = UnixListener::bind(path);
    umask(previous);
    bound
}

/// The socket is of no use to the group if it cannot reach it: say so at start.
fn warn_unless_traversable(dir: &Path, group: &ControlGroup) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return;
    };
    let mode = meta.mode();
    let by_others = mode & 0o001 != 0;
    let by_group = mode & 0o010 != 0 && meta.gid() == group.gid;
    if !by_others && !by_group {
        tracing::warn!(
            "members of group {} cannot reach the control socket: {} is mode {:04o}; let them traverse it (e.g. group {} and mode 0710, as the shipped systemd unit's RuntimeDirectoryMode=0710 with Group={} gives)",
            group.name,
            dir.display(),
            mode & 0o7777,
            group.name,
            group.name
        );
    }
}

/// Why a client's request was not read.
#[derive(Debug)]
pub struct RequestError {
    pub message: String,
    /// The client sent no whole request in time.
    pub timed_out: bool,
}

impl RequestError {
    fn new(message: String) -> RequestError {
        RequestError {
            message,
            timed_out: false,
        }
    }
}

/// Read one request line from a client (bounded in size and time).
pub async fn read_request(stream: &mut UnixStream) -> Result<Request, RequestError> {
    let mut line = Vec::new();
    let mut reader = BufReader::new(stream).take(MAX_REQUEST as u64 + 1);
    let read = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_until(b'\n', &mut line)).await;
    match read {
        Err(_) => {
            return Err(RequestError {
                message: format!("no request within {} s", REQUEST_TIMEOUT.as_secs()),
                timed_out: true,
            })
        }
        Ok(Err(e)) => return Err(RequestError::new(format!("cannot read the request: {e}"))),
        Ok(Ok(_)) => {}
    }
    if line.len() > MAX_REQUEST {
        return Err(RequestError::new(format!(
            "request longer than {MAX_REQUEST} bytes"
        )));
    }
    decode_request(&line).map_err(RequestError::new)
}

/// Pieces an answer is written in; each must be taken by the client within the stall timeout.
const WRITE_PIECE: usize = 64 << 10;

/// Write the answer and close. A client that takes none of a piece within `stall` is left
/// with a `TimedOut` error.
pub async fn write_response(
    stream: &mut UnixStream,
    response: &Response,
    stall: Duration,
) -> io::Result<()> {
    let (line, status_json) = encode_response(response);
    for piece in std::iter::once(&line[..]).chain(status_json.chunks(WRITE_PIECE)) {
        match tokio::time::timeout(stall, stream.write_all(piece)).await {
            Ok(written) => written?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client read none of its answer for {} s",
                        stall.as_secs()
                    ),
                ))
            }
        }
    }
    stream.shutdown().await
}

/// Why a client could not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("permission denied on {0}: the control socket is root-only (members of [gateway] control_group may read); run as root (e.g. sudo ikehub status)")]
    PermissionDenied(PathBuf),
    #[error("the daemon is not running (no control socket at {0})")]
    NotRunning(PathBuf),
    #[error("no answer from the daemon on {} within {seconds} s: it is stopped or too busy (--timeout SECONDS waits longer)", path.display())]
    NoAnswer { path: PathBuf, seconds: u64 },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("unreadable answer from the daemon: {0}")]
    Protocol(String),
}

/// Where the daemon is and how long the client waits for it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub path: &'a Path,
    /// Connecting and the answer's first line, together, take at most this long; after the
    /// first line every read must bring something within it.
    pub timeout: Duration,
}

impl Target<'_> {
    /// A failure to reach the daemon or to read its answer.
    pub fn error(&self, e: io::Error) -> ClientError {
        let path = self.path.to_path_buf();
        match e.kind() {
            io::ErrorKind::InvalidData => ClientError::Protocol(e.to_string()),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ClientError::NoAnswer {
                path,
                seconds: self.timeout.as_secs_f64().ceil() as u64,
            },
            _ => ClientError::Io {
                path,
                message: e.to_string(),
            },
        }
    }
}

/// Send one request to the daemon and wait for its whole answer (blocking; the CLI has no
/// runtime of its own).
pub fn request(target: Target<'_>, request: &Request) -> Result<Response, ClientError> {
    request_line(target, request)?
        .read_status()
        .map_err(|e| target.error(e))
}

/// Send one request and read the answer's line, leaving what follows it (a status
/// snapshot, more lines of a waited command) on the connection. Everything up to the line
/// is bounded by `target.timeout`; later reads by the same time each.
pub fn request_line(
    target: Target<'_>,
    request: &Request,
) -> Result<PendingAnswer<io::BufReader<TimedStream>>, ClientError> {
    request_line_by(target, request, Instant::now() + target.timeout)
}

/// As [`request_line`], with the answer's line due by `deadline`.
pub fn request_line_by(
    target: Target<'_>,
    request: &Request,
    deadline: Instant,
) -> Result<PendingAnswer<io::BufReader<TimedStream>>, ClientError> {
    use std::io::Write;
    let path = target.path;
    let stream = connect(path, deadline).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => ClientError::PermissionDenied(path.to_path_buf()),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(path.to_path_buf())
        }
        _ => target.error(e),
    })?;
    let mut stream = TimedStream {
        stream,
        deadline: Some(deadline),
        idle: target.timeout,
    };
    stream
        .write_all(&encode_line(request))
        .map_err(|e| target.error(e))?;
    let mut answer = read_answer_line(io::BufReader::with_capacity(READ_BUFFER, stream))
        .map_err(|e| target.error(e))?;
    answer.reader.get_mut().deadline = None;
    Ok(answer)
}

/// Connect to the daemon's socket, giving up at `deadline`: a stopped daemon's listening
/// queue fills, and then `connect` waits, bounded by the socket's send timeout.
fn connect(path: &Path, deadline: Instant) -> io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let address = UnixAddr::new(path)?;
    socket::setsockopt(&fd, sockopt::SendTimeout, &timeval(time_left(deadline)?))?;
    match socket::connect(fd.as_raw_fd(), &address) {
        Ok(()) => Ok(std::os::unix::net::UnixStream::from(fd)),
        Err(nix::errno::Errno::EAGAIN) => Err(timed_out()),
        Err(e) => Err(e.into()),
    }
}

fn timeval(duration: Duration) -> nix::sys::time::TimeVal {
    nix::sys::time::TimeVal::new(
        libc::time_t::try_from(duration.as_secs()).unwrap_or(libc::time_t::MAX),
        libc::suseconds_t::from(duration.subsec_micros()),
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "no answer in time")
}

/// The time until `deadline`: never zero, which would mean "no timeout" to the socket.
fn time_left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(timed_out());
    }
    Ok(left.max(Duration::from_millis(1)))
}

/// The client's end of a control connection, whose reads and writes give up in time: until
/// `deadline` while it is set, then after `idle` without progress each.
pub struct TimedStream {
    stream: std::os::unix::net::UnixStream,
    deadline: Option<Instant>,
    idle: Duration,
}

impl TimedStream {
    fn wait(&self) -> io::Result<Duration> {
        match self.deadline {
            Some(deadline) => time_left(deadline),
            None => Ok(self.idle.max(Duration::from_millis(1))),
        }
    }

    /// Until `deadline`, reads give up then; `None`: each read waits up to the idle time.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }
}

fn in_time<T>(result: io::Result<T>) -> io::Result<T> {
    match result {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(timed_out())
        }
        other => other,
    }
}

impl io::Read for TimedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.set_read_timeout(Some(self.wait()?))?;
        in_time(io::Read::read(&mut self.stream, buf))
    }
}

impl io::Write for TimedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.set_write_timeout(Some(self.wait()?))?;
        in_time(io::Write::write(&mut self.stream, buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_form() {
        assert_eq!(
            String::from_utf8(encode_line(&Request::Status { name: None })).expect("utf-8"),
            "{\"cmd\":\"status\"}\n"
        );
        assert_eq!(
            String::from_utf8(encode_line(&Request::Up {
                name: "x".into(),
                wait_s: None
            }))
            .expect("utf-8"),
            "{\"cmd\":\"up\",\"name\":\"x\"}\n"
        );
        assert_eq!(
            String::from_utf8(encode_line(&Request::Up {
                name: "x".into(),
                wait_s: Some(30)
            }))
            .expect("utf-8"),
            "{\"cmd\":\"up\",\"name\":\"x\",\"wait_s\":30}\n"
        );
        assert_eq!(
            decode_request(b"{\"cmd\":\"down\",\"name\":\"office\"}\n"),
            Ok(Request::Down {
                name: "office".into(),
                wait_s: None
            })
        );
        assert_eq!(
            decode_request(b"{\"cmd\":\"routes\"}\n"),
            Ok(Request::Routes)
        );
        assert_eq!(
            String::from_utf8(encode_line(&Request::Routes)).expect("utf-8"),
            "{\"cmd\":\"routes\"}\n"
        );
        assert_eq!(
            String::from_utf8(encode_response(&Response::routes(Vec::new())).0).expect("utf-8"),
            "{\"ok\":true,\"routes\":[]}\n"
        );
        assert_eq!(
            decode_request(b"{\"cmd\":\"status\",\"name\":\"office\"}"),
            Ok(Request::Status {
                name: Some("office".into())
            })
        );
    }

    #[test]
    fn a_waited_answer_is_progress_lines_then_the_outcome() {
        assert_eq!(
            decode_request(b"{\"cmd\":\"down\",\"name\":\"office\",\"wait_s\":5}"),
            Ok(Request::Down {
                name: "office".into(),
                wait_s: Some(5)
            })
        );
        let lines = [
            Response::progress("office: initiating"),
            Response::progress("office: IKE SA established with 192.0.2.1:500"),
            Response::outcome(Outcome::Failed, "office: failed: TS_UNACCEPTABLE"),
        ];
        let mut wire = Vec::new();
        for line in &lines {
            wire.extend_from_slice(&encode_response(line).0);
        }
        let text = String::from_utf8(wire.clone()).expect("utf-8");
        assert!(
            text.starts_with("{\"ok\":true,\"progress\":\"office: initiating\"}\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "{\"ok\":false,\"error\":\"office: failed: TS_UNACCEPTABLE\",\"outcome\":\"failed\"}\n"
            ),
            "{text}"
        );
        let mut reader = &wire[..];
        for line in &lines {
            let read = read_answer_line(&mut reader).expect("line").response;
            assert_eq!(&read, line);
        }
        let done = Response::outcome(Outcome::Done, "office: established");
        assert_eq!(
            String::from_utf8(encode_response(&done).0).expect("utf-8"),
            "{\"ok\":true,\"message\":\"office: established\",\"outcome\":\"done\"}\n"
        );
        // The connection closed before the outcome: said so.
        let error = read_answer_line(&mut &b""[..]).err().expect("no answer");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("closed the connection"),
            "{error}"
        );
    }

    #[test]
    fn reload_answers_round_trip() {
        assert_eq!(decode_request(b"{\"cmd\":\"reload\"}"), Ok(Request::Reload));
        let applied = Response::reload(Ok(ReloadSummary {
            changed: vec!["office".into()],
            updated: vec!["depot".into()],
            unchanged: vec!["branch".into()],
            ..ReloadSummary::default()
        }));
        assert_eq!(
            String::from_utf8(encode_response(&applied).0).expect("utf-8"),
            "{\"ok\":true,\"reloaded\":{\"added\":[],\"changed\":[\"office\"],\"updated\":[\"depot\"],\"removed\":[],\"unchanged\":[\"branch\"],\"not_started\":[]}}\n"
        );
        assert_eq!(round_trip(&applied).expect("decode"), applied);
        // An older daemon's answer, without `updated`, still reads.
        let older = read_response(
            &mut &b"{\"ok\":true,\"reloaded\":{\"added\":[],\"changed\":[],\"removed\":[],\"unchanged\":[\"branch\"],\"not_started\":[]}}\n"[..],
        );
        assert_eq!(
            older.ok().and_then(|r| r.reloaded).map(|r| r.updated),
            Some(Vec::new())
        );
        let refused = Response::reload(Err(ReloadRefused {
            file: "/etc/ikehub/ikehub.toml".into(),
            errors: vec!["a".into(), "b".into()],
        }));
        assert!(!refused.ok);
        assert_eq!(
            refused.error.as_deref(),
            Some("/etc/ikehub/ikehub.toml: 2 error(s); nothing was applied, the previous configuration runs on")
        );
        assert_eq!(round_trip(&refused).expect("decode"), refused);
    }

    #[test]
    fn log_requests_and_answers_have_the_documented_form() {
        assert_eq!(
            decode_request(b"{\"cmd\":\"log\"}"),
            Ok(Request::Log {
                level: None,
                name: None
            })
        );
        let request = Request::Log {
            level: Some(LogLevel::Debug),
            name: Some("office".into()),
        };
        assert_eq!(
            String::from_utf8(encode_line(&request)).expect("utf-8"),
            "{\"cmd\":\"log\",\"level\":\"debug\",\"name\":\"office\"}\n"
        );
        assert_eq!(
            decode_request(b"{\"cmd\":\"log\",\"level\":\"reset\",\"name\":\"office\"}"),
            Ok(Request::Log {
                level: Some(LogLevel::Reset),
                name: Some("office".into())
            })
        );
        assert!(decode_request(b"{\"cmd\":\"log\",\"level\":\"verbose\"}").is_err());
        let answer = Response::log(
            Some("office: log level debug".into()),
            LogView {
                global: "info".into(),
                connections: [("office".to_owned(), "debug".to_owned())].into(),
            },
        );
        assert_eq!(
            String::from_utf8(encode_response(&answer).0).expect("utf-8"),
            "{\"ok\":true,\"message\":\"office: log level debug\",\"log\":{\"global\":\"info\",\"connections\":{\"office\":\"debug\"}}}\n"
        );
        assert_eq!(round_trip(&answer).expect("decode"), answer);
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"cmd\":\"reboot\"}",
            b"{\"cmd\":\"up\"}",
            b"{\"cmd\":\"up\",\"name\":\"x\",\"force\":true}",
            b"[1,2]",
        ] {
            let error = decode_request(bad).expect_err("must be refused");
            assert!(error.starts_with("bad request: "), "{error}");
        }
    }

    /// What the client reads back from what the daemon sends.
    fn round_trip(response: &Response) -> io::Result<Response> {
        let (mut wire, status_json) = encode_response(response);
        wire.extend_from_slice(status_json);
        read_response(&mut &wire[..])
    }

    #[test]
    fn responses_round_trip_and_omit_empty_fields() {
        let ok = Response::message("office: initiating");
        let (line, status_json) = encode_response(&ok);
        assert_eq!(
            String::from_utf8(line).expect("utf-8"),
            "{\"ok\":true,\"message\":\"office: initiating\"}\n"
        );
        assert!(status_json.is_empty());
        assert_eq!(round_trip(&ok).expect("decode"), ok);
        let error = Response::error("unknown connection");
        assert_eq!(round_trip(&error).expect("decode"), error);
    }

    #[test]
    fn a_status_answer_is_its_length_then_the_pretty_snapshot() {
        let snapshot = crate::daemon::status::tests::sample();
        let response = Response::status(snapshot.clone());
        let pretty = serde_json::to_vec_pretty(&snapshot).expect("json");
        assert_eq!(response.status_json.as_deref(), Some(&pretty[..]));
        let (line, status_json) = encode_response(&response);
        assert_eq!(
            String::from_utf8(line).expect("utf-8"),
            format!("{{\"ok\":true,\"status_bytes\":{}}}\n", pretty.len())
        );
        assert_eq!(status_json, &pretty[..]);
        assert_eq!(round_trip(&response).expect("decode"), response);
    }

    #[test]
    fn a_cut_short_or_garbled_answer_is_invalid_data() {
        let response = Response::status(crate::daemon::status::tests::sample());
        let (mut wire, status_json) = encode_response(&response);
        wire.extend_from_slice(status_json);
        let cut = wire.len() - 1;
        let error = read_response(&mut &wire[..cut]).expect_err("cut short");
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(
            error.to_string().contains("the status ended after"),
            "{error}"
        );
        for garbled in [&b""[..], b"{\"ok\":tru\n", b"<html>\n"] {
            let error = read_response(&mut &garbled[..]).expect_err("garbled");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        }
        let pending = read_answer_line(&wire[..cut]).expect("line");
        let mut copy = Vec::new();
        match pending.copy_status(&mut copy) {
            Err(CopyError::Answer(error)) => {
                assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            }
            other => panic!("a cut-short answer was copied: {other:?}"),
        }
    }

    #[test]
    fn status_json_is_copied_out_exactly_and_write_errors_are_the_outputs() {
        let response = Response::status(crate::daemon::status::tests::sample());
        let (mut wire, status_json) = encode_response(&response);
        wire.extend_from_slice(status_json);
        // Followed by anything: only the announced bytes are copied.
        wire.extend_from_slice(b"trailing");
        let pending = read_answer_line(io::BufReader::with_capacity(7, &wire[..])).expect("line");
        assert!(pending.has_status());
        assert_eq!(pending.response.status_json, None);
        let mut copy = Vec::new();
        assert!(pending.copy_status(&mut copy).is_ok());
        assert_eq!(Some(copy), response.status_json);

        struct Full;
        impl io::Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let pending = read_answer_line(&wire[..]).expect("line");
        assert!(matches!(
            pending.copy_status(&mut Full),
            Err(CopyError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe
        ));
        let (line, _) = encode_response(&Response::message("x"));
        let without = read_answer_line(&line[..]).expect("line");
        assert!(!without.has_status());
    }

    #[test]
    fn a_missing_socket_means_the_daemon_is_not_running() {
        let path = std::env::temp_dir().join(format!("ikehub-no-such-{}.sock", std::process::id()));
        let target = Target {
            path: &path,
            timeout: Duration::from_secs(1),
        };
        let error = request(target, &Request::Status { name: None }).expect_err("no daemon");
        assert!(matches!(error, ClientError::NotRunning(_)), "{error}");
        assert!(error
            .to_string()
            .starts_with("the daemon is not running (no control socket at "));
    }
}
