//! The daemon: UDP 500/4500, timers, the control socket, signals and systemd integration.
//!
//! Thin by design: it moves datagrams between the sockets and the [`crate::ike::Engine`],
//! kernel intents between the engine and a [`crate::kernel::Dataplane`], and answers the
//! control socket. The loop sleeps until the engine's next deadline
//! ([`crate::ike::Engine::poll_timeout`]) or the next input, and after every input drains the
//! engine's outputs.
//!
//! In hub mode ([`hub`]) the daemon also keeps one xfrm interface per connection and the
//! destination route table in the kernel, following the engine's CHILD_SA events.

mod commands;
pub mod control;
mod control_access;
mod control_clients;
mod gateway;
pub mod hub;
pub mod instance;
mod logging;
pub mod metrics;
mod notify;
mod resolver;
pub mod sockets;
pub mod status;
mod waiters;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::ike::{EngineSettings, Skipped};
use crate::kernel::mock::RecordingDataplane;

pub use gateway::{run, DataplaneInfo};

/// Exit status when the requested dataplane is not part of this build (EX_UNAVAILABLE).
const EXIT_UNAVAILABLE: u8 = 69;

/// Which kernel layer the daemon programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DataplaneKind {
    /// XFRM states and policies over netlink: ESP runs in the kernel.
    Kernel,
    /// Record intents only; no traffic is protected (tests and benchmarks).
    Recording,
}

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config: PathBuf,
    pub socket: PathBuf,
    pub dataplane: DataplaneKind,
}

/// Run the daemon until SIGTERM/SIGINT; the process's exit status.
pub fn main(options: DaemonOptions) -> ExitCode {
    logging::init();
    // First of all: a second daemon of the instance must not get as far as the kernel.
    let paths = instance::InstancePaths::for_socket(&options.socket);
    let _lock = match instance::InstanceLock::acquire(&paths.lock) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match crate::config::load(&options.config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{}", errors.to_string().trim_end());
            eprintln!(
                "{}: {} error(s); the daemon did not start",
                options.config.display(),
                errors.0.len()
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match options.dataplane {
        DataplaneKind::Kernel => runtime.block_on(async {
            // The netlink sockets need the runtime's I/O driver: open them inside it.
            let mut dataplane = match crate::kernel::xfrm::XfrmDataplane::open() {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!("cannot open the kernel's XFRM interface: {e}");
                    return ExitCode::from(EXIT_UNAVAILABLE);
                }
            };
            match dataplane.use_record(&paths.record) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "{}: an earlier run recorded {n} kernel object(s); those still installed are removed",
                    paths.record.display()
                ),
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            }
            let info = gateway::DataplaneInfo {
                name: "kernel",
                encap: sockets::EncapRequirement::Required,
            };
            gateway::run(config, &options, dataplane, info).await
        }),
        DataplaneKind::Recording => {
            tracing::warn!(
                "DATAPLANE 'recording': NO TRAFFIC IS PROTECTED. IKE is negotiated but nothing \
                 is installed in the kernel; use this only for tests and benchmarks"
            );
            let info = gateway::DataplaneInfo {
                name: "recording",
                encap: sockets::EncapRequirement::Optional,
            };
            runtime.block_on(gateway::run(
                config,
                &options,
                RecordingDataplane::default(),
                info,
            ))
        }
    }
}

/// Engine settings for a configuration, and the connections the engine cannot run (each
/// logged as an error), as status entries that say why; the configuration's warnings are
/// logged.
fn engine_settings(
    config: &crate::config::Config,
) -> (EngineSettings, Vec<status::ConnectionStatus>) {
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let (settings, skipped) = EngineSettings::from_config(config);
    let not_running = skipped
        .into_iter()
        .map(|Skipped { connection, reason }| {
            tracing::error!("connection {connection:?} not started: {reason}");
            not_running(config, connection, &reason)
        })
        .collect();
    (settings, not_running)
}

/// The status entry of a configured connection that is not running, with the reason.
fn not_running(
    config: &crate::config::Config,
    connection: String,
    reason: &str,
) -> status::ConnectionStatus {
    let configured = config.connection(&connection);
    let peer = configured.and_then(|c| config.peer_of(c));
    let hub = config.gateway.hub;
    status::ConnectionStatus {
        peer_address: peer.and_then(|p| p.address.addr()).map(|a| a.to_string()),
        remote_name: peer.and_then(|p| match &p.address {
            crate::config::PeerAddress::Name(name) => Some(name.clone()),
            crate::config::PeerAddress::Addr(_) | crate::config::PeerAddress::Any => None,
        }),
        local_subnets: configured
            .map(|c| c.local_subnets.clone())
            .unwrap_or_default(),
        remote_subnets: configured
            .map(|c| c.remote_subnets.clone())
            .unwrap_or_default(),
        last_error: Some(format!("not started: {reason}")),
        // Dated when shown: the time the configuration was loaded.
        last_error_at: None,
        last_error_s: None,
        last_error_by: None,
        previous_error: None,
        previous_error_at: None,
        previous_error_s: None,
        previous_error_by: None,
        state: status::ConnectionState::Down,
        ike_sas: Vec::new(),
        interface: hub.then(|| crate::kernel::link::interface_name(&connection)),
        if_id: hub.then(|| crate::config::hub_if_id(&connection)),
        name: connection,
    }
}
