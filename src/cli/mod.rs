//! The `ikehub` command line: parses arguments, then either runs the daemon, checks a
//! configuration file, or talks to the running daemon over its control socket.

mod args;
mod client;
pub mod output;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

pub use args::{Cli, Command, DEFAULT_CONFIG, DEFAULT_SOCKET, DEFAULT_TIMEOUT_S};

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
        Command::Up { name } => client::command(target, Request::Up { name }),
        Command::Down { name } => client::command(target, Request::Down { name }),
        Command::Routes { json } => client::routes(target, json),
    }
}

fn check_config(file: &Path) -> ExitCode {
    match crate::config::load(file) {
        Ok(config) => {
            let summary = config.summary();
            output::exit(output::print(format!(
                "{}: configuration is valid\n{}\n",
                file.display(),
                summary.trim_end()
            )))
        }
        Err(errors) => {
            output::error_line(errors.to_string().trim_end());
            output::error_line(&format!(
                "{}: {} error(s); nothing was applied",
                file.display(),
                errors.0.len()
            ));
            ExitCode::FAILURE
        }
    }
}
