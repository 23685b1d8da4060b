//! Command-line grammar (clap derive). Help texts are written for network engineers.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::daemon::control::LogLevel;
use crate::daemon::DataplaneKind;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/ikehub/ikehub.toml";
/// Default location of the daemon's control socket (root's; `[gateway] control_group` may read).
pub const DEFAULT_SOCKET: &str = "/run/ikehub/control.sock";
/// How long a command waits for the daemon's answer unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT_S: u64 = 10;
/// How long `up` and `down` wait for the connection unless `--timeout` says otherwise.
pub const DEFAULT_WAIT_S: u64 = 30;

/// ikehub: an IPsec VPN gateway (IKEv2 and IKEv1 in userspace, ESP in the kernel).
#[derive(Debug, Parser)]
#[command(name = "ikehub", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Control socket of the running daemon.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,

    /// Give up when the daemon has not answered within this many seconds (default 10; for
    /// `up` and `down`, how long they wait for the connection: default 30).
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
}

/// The whole grammar as a clap command, for what is generated from it outside this binary: the
/// ikehub(8) page and the shell completions (`cargo xtask dist`).
pub fn command() -> clap::Command {
    Cli::command()
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: negotiate tunnels and program the kernel (normally started by systemd).
    Daemon {
        /// Configuration file.
        #[arg(long, short, value_name = "FILE", default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Where SAs go: `kernel` (XFRM; the default) or `recording` (nothing is installed and
        /// no traffic is protected: for tests and benchmarks only).
        #[arg(long, value_enum, default_value = "kernel")]
        dataplane: DataplaneKind,
    },
    /// Show every connection: state, peer, subnets, SAs with identities, SPIs, algorithms, PFS,
    /// lifetimes, counters, NAT.
    Status {
        /// Only this connection.
        name: Option<String>,
        /// Machine-readable output: pretty-printed JSON whose top-level `schema` is the version
        /// of its layout.
        #[arg(long)]
        json: bool,
    },
    /// Bring a connection up now (initiate IKE and its CHILD_SA, or only a CHILD_SA on an IKE
    /// SA without one) and wait until it is established, printing each step: exit 0 when
    /// established, 3 when it failed (the reason, e.g. the peer's NO_PROPOSAL_CHOSEN or
    /// TS_UNACCEPTABLE), 4 when not established within --timeout (default 30 s).
    Up {
        /// Connection name, as in the configuration.
        name: String,
        /// Return once the daemon has started it, without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Take a connection down: delete its SAs with the peer and remove them from the kernel,
    /// and wait until they are gone (exit 4 when not within --timeout, default 30 s).
    Down {
        /// Connection name, as in the configuration.
        name: String,
        /// Return once the deletes are sent, without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the hub's destination route table: destination, connection, weight, state, published.
    Routes {
        /// Machine-readable output: pretty-printed JSON whose top-level `schema` is the version
        /// of its layout.
        #[arg(long)]
        json: bool,
    },
    /// Make the daemon read its configuration file again (as SIGHUP) and print what changed:
    /// connections added, removed, re-established (settings changed), updated in place (only
    /// settings the running SAs take changed: DPD, lifetimes, start and close action,
    /// offload) and unchanged. A file
    /// with errors is refused whole: every error is printed, nothing is applied (exit 1).
    Reload,
    /// Show or change the running daemon's log level, globally or for one connection, without
    /// a restart: no SA is touched.
    ///
    /// Without LEVEL, print the filter: the global directives and each connection's own
    /// level. With --connection, that connection's lines (the engine's and the daemon's, each
    /// marked `connection{conn="NAME" ...}`) follow LEVEL, the others the global level;
    /// `reset` makes them follow the global level again. Without --connection, LEVEL is the
    /// global level; `reset` returns to the filter the daemon started with (IKEHUB_LOG).
    Log {
        /// The level to set; `reset` drops the connection's own level (without
        /// --connection: back to the daemon's starting filter).
        #[arg(value_enum, value_name = "LEVEL")]
        level: Option<LogLevel>,
        /// Only this connection, by its name in the configuration.
        #[arg(long, value_name = "NAME")]
        connection: Option<String>,
    },
    /// Validate a configuration file and print every error at once (exit 1 if any).
    CheckConfig {
        /// Configuration file to check.
        #[arg(value_name = "FILE", default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
}
