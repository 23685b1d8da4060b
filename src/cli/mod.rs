//! The `ikehub` command line: parses arguments, then either runs the daemon, checks a
//! configuration file, or talks to the running daemon over its control socket.

mod args;
mod client;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, DEFAULT_CONFIG, DEFAULT_SOCKET};

use crate::daemon::control::Request;
use crate::daemon::DaemonOptions;

/// Exit status for commands the running version cannot serve yet (EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Daemon { config, dataplane } => crate::daemon::main(DaemonOptions {
            config,
            socket: cli.socket,
            dataplane,
        }),
        Command::Status { name, json } => client::status(&cli.socket, name, json),
        Command::Up { name } => client::command(&cli.socket, Request::Up { name }),
        Command::Down { name } => client::command(&cli.socket, Request::Down { name }),
        Command::Routes { .. } => not_yet("routes", "hub mode in the daemon"),
    }
}

fn check_config(file: &Path) -> ExitCode {
    match crate::config::load(file) {
        Ok(config) => {
            println!("{}: configuration is valid", file.display());
            let summary = config.summary();
            println!("{}", summary.trim_end());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{}", errors.to_string().trim_end());
            eprintln!(
                "{}: {} error(s); nothing was applied",
                file.display(),
                errors.0.len()
            );
            ExitCode::FAILURE
        }
    }
}

/// Say plainly that a command exists in the grammar but is not implemented by this build,
/// rather than printing anything that could be mistaken for real state.
fn not_yet(command: &str, needs: &str) -> ExitCode {
    eprintln!("ikehub {command}: not available in this version: it needs {needs}, which is not implemented yet");
    ExitCode::from(EXIT_UNAVAILABLE)
}
