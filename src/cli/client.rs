//! The commands that ask the running daemon: `status`, `up`, `down`, `routes`.

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
    let Some(snapshot) = response.status.as_ref().filter(|_| response.ok) else {
        return refused(&response);
    };
    if json {
        match serde_json::to_string_pretty(snapshot) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("ikehub: cannot encode the status: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", status::render(snapshot));
    }
    ExitCode::SUCCESS
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
