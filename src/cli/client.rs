//! The commands that ask the running daemon: `status`, `up`, `down`, `routes`, `reload`,
//! `log`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::output::{self, error_line, print, print_line};
use crate::daemon::control::{self, ClientError, CopyError, Outcome, Request, Response, Target};
use crate::daemon::hub::{self, RoutesSnapshot};
use crate::daemon::status;

/// EX_UNAVAILABLE: the daemon is not running.
const EXIT_NOT_RUNNING: u8 = 69;
/// EX_NOPERM: the control socket, or the command, is root-only.
const EXIT_NO_PERMISSION: u8 = 77;
/// EX_PROTOCOL: the daemon's answer could not be read.
const EXIT_PROTOCOL: u8 = 76;
/// EX_TEMPFAIL: the daemon did not answer within `--timeout` (stopped, hung, overloaded).
pub const EXIT_NO_ANSWER: u8 = 75;
/// `up` / `down`: the connection failed; the reason is printed.
pub const EXIT_CONNECTION_FAILED: u8 = 3;
/// `up` / `down`: not done within `--timeout`; the daemon goes on.
pub const EXIT_TIMED_OUT: u8 = 4;

/// How much longer than the daemon's wait the client waits for its last line.
const WAIT_GRACE: Duration = Duration::from_secs(2);

fn ask(target: Target<'_>, request: &Request) -> Result<Response, ExitCode> {
    control::request(target, request).map_err(failed)
}

/// The daemon refused: print its reason and fail (EX_NOPERM when the client may not make
/// the request).
fn refused(response: &Response) -> ExitCode {
    error_line(&format!(
        "ikehub: {}",
        response
            .error
            .as_deref()
            .unwrap_or("the daemon refused without a reason")
    ));
    if response.denied {
        ExitCode::from(EXIT_NO_PERMISSION)
    } else {
        ExitCode::FAILURE
    }
}

fn exit_code(error: &ClientError) -> ExitCode {
    ExitCode::from(match error {
        ClientError::PermissionDenied(_) => EXIT_NO_PERMISSION,
        ClientError::NotRunning(_) => EXIT_NOT_RUNNING,
        ClientError::Protocol(_) => EXIT_PROTOCOL,
        ClientError::NoAnswer { .. } => EXIT_NO_ANSWER,
        ClientError::Io { .. } => 1,
    })
}

fn failed(error: ClientError) -> ExitCode {
    error_line(&format!("ikehub: {error}"));
    exit_code(&error)
}

/// `status`: with `--json` the daemon's JSON is copied out as it arrives (it is already in
/// the printed form; an answer cut short leaves what arrived printed and exits 76); else it
/// is decoded and rendered for humans.
pub fn status(target: Target<'_>, name: Option<String>, json: bool) -> ExitCode {
    let answer = match control::request_line(target, &Request::Status { name }) {
        Ok(answer) => answer,
        Err(error) => return failed(error),
    };
    if !answer.response.ok || !answer.has_status() {
        return refused(&answer.response);
    }
    let mut out = std::io::stdout().lock();
    let printed = if json {
        match answer.copy_status(&mut out) {
            Ok(()) => out.write_all(b"\n"),
            Err(CopyError::Answer(e)) => return failed(target.error(e)),
            Err(CopyError::Output(e)) => Err(e),
        }
    } else {
        let response = match answer.read_status() {
            Ok(response) => response,
            Err(e) => return failed(target.error(e)),
        };
        let status_json = response.status_json.unwrap_or_default();
        match serde_json::from_slice::<status::StatusSnapshot>(&status_json) {
            Ok(snapshot) => out.write_all(status::render(&snapshot).as_bytes()),
            Err(e) => return failed(ClientError::Protocol(e.to_string())),
        }
    };
    match printed.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`ikehub status | head`): a quiet end.
        Err(e) => output::output_failed(e),
    }
}

/// `routes`: the hub's destination route table, as a table or as `{"schema": 1, "routes": [...]}`
/// laid out as `status --json`.
pub fn routes(target: Target<'_>, json: bool) -> ExitCode {
    let response = match ask(target, &Request::Routes) {
        Ok(response) => response,
        Err(code) => return code,
    };
    let Some(routes) = response.routes.as_ref().filter(|_| response.ok) else {
        return refused(&response);
    };
    if json {
        match RoutesSnapshot::new(routes.clone()).to_json() {
            Ok(mut text) => {
                text.push(b'\n');
                output::exit(print(text))
            }
            Err(e) => {
                error_line(&format!("ikehub: cannot encode the routes: {e}"));
                ExitCode::FAILURE
            }
        }
    } else {
        output::exit(print(hub::render(routes)))
    }
}

/// `reload`: what changed, or every error of the file (exit 1, nothing applied); connections
/// that could not start are listed on stderr (exit 3).
pub fn reload(target: Target<'_>) -> ExitCode {
    let response = match ask(target, &Request::Reload) {
        Ok(response) => response,
        Err(code) => return code,
    };
    let Some(summary) = response.reloaded.as_ref().filter(|_| response.ok) else {
        if let Some(refused) = &response.reload_errors {
            for error in &refused.errors {
                error_line(error);
            }
        }
        return refused(&response);
    };
    let names = |list: &[String]| {
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        }
    };
    let text = format!(
        "reloaded\nadded: {}\nremoved: {}\nre-established (changed): {}\nupdated in place: {}\nunchanged: {}\n",
        names(&summary.added),
        names(&summary.removed),
        names(&summary.changed),
        names(&summary.updated),
        names(&summary.unchanged)
    );
    if let Err(code) = print(text) {
        return code;
    }
    if summary.not_started.is_empty() {
        return ExitCode::SUCCESS;
    }
    for line in &summary.not_started {
        error_line(&format!("ikehub: not started: {line}"));
    }
    ExitCode::from(EXIT_CONNECTION_FAILED)
}

/// `log`: what the daemon did, if it changed something, then the filter it now runs.
pub fn log(target: Target<'_>, request: Request) -> ExitCode {
    let response = match ask(target, &request) {
        Ok(response) => response,
        Err(code) => return code,
    };
    let Some(view) = response.log.as_ref().filter(|_| response.ok) else {
        return refused(&response);
    };
    let mut text = String::new();
    if let Some(message) = &response.message {
        text.push_str(message);
        text.push('\n');
    }
    text.push_str(&render_log(view));
    output::exit(print(text))
}

/// The filter, one line for the global directives and one per connection with its own level.
fn render_log(view: &control::LogView) -> String {
    let mut text = format!("global: {}\n", view.global);
    if view.connections.is_empty() {
        text.push_str("connections: none with a level of their own\n");
    }
    for (name, level) in &view.connections {
        text.push_str(&format!("connection {name}: {level}\n"));
    }
    text
}

/// `up` / `down` with `--no-wait`: print the daemon's answer.
pub fn command(target: Target<'_>, request: Request) -> ExitCode {
    let response = match ask(target, &request) {
        Ok(response) => response,
        Err(code) => return code,
    };
    if !response.ok {
        return refused(&response);
    }
    match &response.message {
        Some(message) => output::exit(print_line(message)),
        None => ExitCode::SUCCESS,
    }
}

/// `up` / `down`: ask the daemon to wait up to `target.timeout` for the connection, print
/// each line of progress as it comes, and exit with how it ended.
pub fn wait(target: Target<'_>, request: Request) -> ExitCode {
    let deadline = Instant::now() + target.timeout + WAIT_GRACE;
    let mut answer = match control::request_line_by(target, &request, deadline) {
        Ok(answer) => answer,
        Err(error) => return failed(error),
    };
    // Every line, the last included, is due by the deadline.
    answer.reader.get_mut().set_deadline(Some(deadline));
    let mut response = answer.response;
    let mut reader = answer.reader;
    loop {
        if let Some(progress) = &response.progress {
            if let Err(code) = print_line(progress) {
                return code;
            }
            response = match control::read_answer_line(&mut reader) {
                Ok(next) => next.response,
                Err(e) => return failed(target.error(e)),
            };
            continue;
        }
        return finish(&response);
    }
}

/// The last line of a waited command.
fn finish(response: &Response) -> ExitCode {
    if !response.ok {
        let refused = refused(response);
        return match response.outcome {
            Some(Outcome::Failed) => ExitCode::from(EXIT_CONNECTION_FAILED),
            Some(Outcome::Timeout) => ExitCode::from(EXIT_TIMED_OUT),
            // Refused before anything started (an unknown connection, a client that may
            // not make the request...).
            Some(Outcome::Done) | None => refused,
        };
    }
    match &response.message {
        Some(message) => output::exit(print_line(message)),
        None => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon's answer for `snapshot`, as it arrives on the connection.
    fn wire(snapshot: &status::StatusSnapshot) -> Vec<u8> {
        let answer = Response::status(snapshot.clone());
        let (mut wire, status_json) = control::encode_response(&answer);
        wire.extend_from_slice(status_json);
        wire
    }

    #[test]
    fn json_output_is_the_snapshot_pretty_printed_one_field_per_line() {
        let snapshot = status::tests::sample();
        let wire = wire(&snapshot);
        let answer = control::read_answer_line(&wire[..]).expect("answer");
        let mut printed = Vec::new();
        assert!(answer.copy_status(&mut printed).is_ok());
        let text = String::from_utf8(printed).expect("utf-8");
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(parsed, serde_json::to_value(&snapshot).expect("value"));
        // Byte for byte what decoding and pretty-printing the snapshot gives.
        let pretty = serde_json::to_string_pretty(&snapshot).expect("pretty");
        assert_eq!(text, pretty);
        // One field per line: scripts grep lines like `"spi_in": "c1a2b3c4",`.
        assert!(text.lines().count() > 60, "{text}");
        for line in text.lines() {
            assert!(line.matches("\": ").count() <= 1, "two fields on {line:?}");
            assert!(
                !line.trim_end_matches(',').contains(','),
                "list on {line:?}"
            );
        }
        assert!(
            text.contains("\n              \"spi_in\": \"c1a2b3c4\",\n"),
            "{text}"
        );
        assert!(
            text.contains("\n      \"state\": \"established\",\n"),
            "{text}"
        );
    }

    #[test]
    fn human_output_is_rendered_from_the_same_answer() {
        let snapshot = status::tests::sample();
        let response = control::read_response(&mut &wire(&snapshot)[..]).expect("answer");
        let status_json = response.status_json.expect("status");
        let decoded: status::StatusSnapshot = serde_json::from_slice(&status_json).expect("decode");
        assert_eq!(decoded, snapshot);
    }
}
