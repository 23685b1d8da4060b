//! The `ikehub` command line: parses arguments, then either runs the daemon, checks a
//! configuration file, or talks to the running daemon over its control socket.

mod args;
mod client;
pub mod output;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

pub use args::{
    command, Cli, Command, DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_TIMEOUT_S, DEFAULT_WAIT_S,
};

use crate::daemon::control::{Request, Target};
use crate::daemon::DaemonOptions;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let target = Target {
        path: &cli.socket,
        timeout: Duration::from_secs(cli.timeout.unwrap_or(DEFAULT_TIMEOUT_S)),
    };
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Daemon { config, dataplane } => crate::daemon::main(DaemonOptions {
            config,
            socket: cli.socket.clone(),
            dataplane,
        }),
        Command::Status { name, json } => client::status(target, name, json),
        Command::Up { name, no_wait } => {
            let wait_s = (!no_wait).then_some(cli.timeout.unwrap_or(DEFAULT_WAIT_S));
            up_or_down(target, wait_s, Request::Up { name, wait_s })
        }
        Command::Down { name, no_wait } => {
            let wait_s = (!no_wait).then_some(cli.timeout.unwrap_or(DEFAULT_WAIT_S));
            up_or_down(target, wait_s, Request::Down { name, wait_s })
        }
        Command::Routes { json } => client::routes(target, json),
        Command::Reload => client::reload(target),
        Command::Log { level, connection } => client::log(
            target,
            Request::Log {
                level,
                name: connection,
            },
        ),
    }
}

/// `up` / `down`: waiting `wait_s` seconds for the connection, or not at all.
fn up_or_down(target: Target<'_>, wait_s: Option<u64>, request: Request) -> ExitCode {
    match wait_s {
        Some(wait_s) => client::wait(
            Target {
                timeout: Duration::from_secs(wait_s),
                ..target
            },
            request,
        ),
        None => client::command(target, request),
    }
}

fn check_config(file: &Path) -> ExitCode {
    match crate::config::load(file) {
        Ok(config) => {
            let summary = config.summary();
            let warnings: String = config
                .warnings()
                .iter()
                .map(|w| format!("warning: {w}\n"))
                .collect();
            output::exit(output::print(format!(
                "{}: configuration is valid\n{}\n{warnings}",
                file.display(),
                summary.trim_end()
            )))
        }
        Err(errors) => {
            output::error_line(errors.to_string().trim_end());
            output::error_line(&format!("{}: {} error(s)", file.display(), errors.0.len()));
            ExitCode::FAILURE
        }
    }
}
