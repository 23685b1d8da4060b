//! The commands that ask the running daemon: `status`, `up`, `down`, `routes`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::daemon::control::{self, ClientError, Request, Response};
use crate::daemon::hub::{self, RoutesSnapshot};
use crate::daemon::status;

/// EX_UNAVAILABLE: the daemon is not running.
const EXIT_NOT_RUNNING: u8 = 69;
/// EX_NOPERM: the control socket is root-only.
const EXIT_NO_PERMISSION: u8 = 77;
/// EX_PROTOCOL: the daemon's answer could not be read.
const EXIT_PROTOCOL: u8 = 76;

fn ask(socket: &Path, request: &Request) -> Result<Response, ExitCode> {
    control::request(socket, request).map_err(|e| {
        eprintln!("ikehub: {e}");
        ExitCode::from(match e {
            ClientError::PermissionDenied(_) => EXIT_NO_PERMISSION,
            ClientError::NotRunning(_) => EXIT_NOT_RUNNING,
            ClientError::Protocol(_) => EXIT_PROTOCOL,
            ClientError::Io { .. } => 1,
        })
    })
}

/// The daemon refused: print its reason and fail.
fn refused(response: &Response) -> ExitCode {
    eprintln!(
        "ikehub: {}",
        response
            .error
            .as_deref()
            .unwrap_or("the daemon refused without a reason")
    );
    ExitCode::FAILURE
}

pub fn status(socket: &Path, name: Option<String>, json: bool) -> ExitCode {
    let response = match ask(socket, &Request::Status { name }) {
        Ok(response) => response,
        Err(code) => return code,
    };
    let Some(status_json) = response.status_json.as_deref().filter(|_| response.ok) else {
        return refused(&response);
    };
    match print_status(&mut std::io::stdout().lock(), status_json, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(StatusOutputError::Unreadable(e)) => {
            eprintln!("ikehub: unreadable answer from the daemon: {e}");
            ExitCode::from(EXIT_PROTOCOL)
        }
        Err(StatusOutputError::Write(e)) => {
            eprintln!("ikehub: cannot print the status: {e}");
            ExitCode::FAILURE
        }
    }
}

enum StatusOutputError {
    Unreadable(serde_json::Error),
    Write(std::io::Error),
}

/// Print the daemon's status JSON: as it came (it is already in the printed form) with
/// `--json`, else decoded and rendered for humans.
fn print_status(
    out: &mut impl Write,
    status_json: &[u8],
    json: bool,
) -> Result<(), StatusOutputError> {
    let written = if json {
        out.write_all(status_json)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        let snapshot: status::StatusSnapshot =
            serde_json::from_slice(status_json).map_err(StatusOutputError::Unreadable)?;
        out.write_all(status::render(&snapshot).as_bytes())
    };
    written
        .and_then(|()| out.flush())
        .map_err(StatusOutputError::Write)
}

/// `routes`: the hub's destination route table, as a table or as `{"routes":[...]}`.
pub fn routes(socket: &Path, json: bool) -> ExitCode {
    let response = match ask(socket, &Request::Routes) {
        Ok(response) => response,
        Err(code) => return code,
    };
    let Some(routes) = response.routes.as_ref().filter(|_| response.ok) else {
        return refused(&response);
    };
    if json {
        let snapshot = RoutesSnapshot {
            routes: routes.clone(),
        };
        match serde_json::to_string(&snapshot) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("ikehub: cannot encode the routes: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", hub::render(routes));
    }
    ExitCode::SUCCESS
}

/// `up` / `down`: print the daemon's answer.
pub fn command(socket: &Path, request: Request) -> ExitCode {
    let response = match ask(socket, &request) {
        Ok(response) => response,
        Err(code) => return code,
    };
    if !response.ok {
        return refused(&response);
    }
    if let Some(message) = &response.message {
        println!("{message}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `status` prints for `snapshot`, taken through the daemon's answer and the
    /// client's reading of it.
    fn printed(snapshot: &status::StatusSnapshot, json: bool) -> String {
        let answer = Response::status(snapshot.clone());
        let (mut wire, status_json) = control::encode_response(&answer);
        wire.extend_from_slice(status_json);
        let response = control::read_response(&mut &wire[..]).expect("answer");
        let mut out = Vec::new();
        let status_json = response.status_json.as_deref().expect("status");
        assert!(print_status(&mut out, status_json, json).is_ok());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn json_output_is_the_snapshot_pretty_printed_one_field_per_line() {
        let snapshot = status::tests::sample();
        let text = printed(&snapshot, true);
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(parsed, serde_json::to_value(&snapshot).expect("value"));
        // Byte for byte what decoding and pretty-printing the snapshot gives.
        let pretty = serde_json::to_string_pretty(&snapshot).expect("pretty");
        assert_eq!(text, format!("{pretty}\n"));
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
        assert_eq!(printed(&snapshot, false), status::render(&snapshot));
    }

    #[test]
    fn an_unreadable_status_is_reported_not_printed() {
        let mut out = Vec::new();
        assert!(matches!(
            print_status(&mut out, b"{\"daemon\":", false),
            Err(StatusOutputError::Unreadable(_))
        ));
        assert!(out.is_empty());
    }
}
