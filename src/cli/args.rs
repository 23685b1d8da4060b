//! Command-line grammar (clap derive). Help texts are written for network engineers.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::daemon::DataplaneKind;

/// Default location of the configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/ikehub/ikehub.toml";
/// Default location of the daemon's root-only control socket.
pub const DEFAULT_SOCKET: &str = "/run/ikehub/control.sock";
/// How long a command waits for the daemon's answer unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT_S: u64 = 10;

/// ikehub: an IPsec VPN gateway (IKEv2/IKEv1 in userspace, ESP in the kernel).
#[derive(Debug, Parser)]
#[command(name = "ikehub", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Control socket of the running daemon.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,

    /// Give up when the daemon has not answered within this many seconds (default 10):
    /// exit status 75.
    #[arg(long, global = true, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,

    #[command(subcommand)]
    pub command: Command,
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
    /// Show every connection: state, peer, subnets, SAs with SPIs, algorithms, counters, NAT.
    Status {
        /// Only this connection.
        name: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Bring a connection up now (initiate IKE and its CHILD_SA).
    Up {
        /// Connection name, as in the configuration.
        name: String,
    },
    /// Take a connection down: delete its SAs with the peer and remove them from the kernel.
    Down {
        /// Connection name, as in the configuration.
        name: String,
    },
    /// Show the hub's destination route table: destination, connection, weight, state, published.
    Routes {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Validate a configuration file and print every error at once (exit 1 if any).
    CheckConfig {
        /// Configuration file to check.
        #[arg(value_name = "FILE", default_value = DEFAULT_CONFIG)]
        file: PathBuf,
    },
}
