//! Log output: `tracing` events to the systemd journal in its native protocol when stderr is
//! the journal's stream (`journal.rs`: priorities, and the connection and peer as fields),
//! else to stderr as text; filtered by `IKEHUB_LOG`, else `RUST_LOG`, else `info`. `ikehub
//! log` changes the filter while the daemon runs, globally or for one connection
//! (`filter.rs`), without touching any SA, whichever the output.

mod filter;
mod journal;
pub mod scope;

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use super::control::{LogLevel, LogView};
use filter::ConnectionFilter;

/// The filter of the process's subscriber, changed in place by `ikehub log`.
pub struct LogControl {
    handle: reload::Handle<ConnectionFilter, Registry>,
}

/// Set once, by [`init`]: the subscriber is the process's.
static CONTROL: OnceLock<LogControl> = OnceLock::new();

pub fn init() {
    let directives = std::env::var("IKEHUB_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let filter = ConnectionFilter::new(&directives).unwrap_or_else(|e| {
        eprintln!("ikehub: ignoring the log filter {directives:?}: {e}");
        ConnectionFilter::at(LevelFilter::INFO)
    });
    let journal = if journal::stderr_is_journal() {
        match journal::JournalLayer::connect(std::path::Path::new(journal::JOURNAL_SOCKET)) {
            Ok(layer) => Some(layer),
            Err(e) => {
                eprintln!(
                    "ikehub: logging to stderr: cannot reach the journal at {}: {e}",
                    journal::JOURNAL_SOCKET
                );
                None
            }
        }
    } else {
        None
    };
    // The journal names each line's connection from the connection spans: keep them on.
    let filter = if journal.is_some() {
        filter.with_connection_spans()
    } else {
        filter
    };
    let (filter, handle) = reload::Layer::new(filter);
    let text = journal.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
    });
    // A second initialisation (tests) keeps the first subscriber, and its control.
    if tracing_subscriber::registry()
        .with(filter)
        .with(journal)
        .with(text)
        .try_init()
        .is_ok()
    {
        let _ = CONTROL.set(LogControl { handle });
    }
}

/// The running filter's control, when [`init`] installed it.
pub fn control() -> Option<&'static LogControl> {
    CONTROL.get()
}

fn level_filter(level: LogLevel) -> Option<LevelFilter> {
    Some(match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Reset => return None,
    })
}

impl LogControl {
    fn modify(&self, change: impl FnOnce(&mut ConnectionFilter)) -> Result<(), String> {
        self.handle
            .modify(change)
            .map_err(|e| format!("cannot change the log filter: {e}"))
    }

    /// The global directives and every connection's level.
    pub fn view(&self) -> Result<LogView, String> {
        self.handle
            .with_current(|filter| LogView {
                global: filter.global(),
                connections: filter
                    .overrides()
                    .iter()
                    .map(|(name, level)| (name.clone(), level.to_string().to_lowercase()))
                    .collect(),
            })
            .map_err(|e| format!("cannot read the log filter: {e}"))
    }

    /// A level for everything outside the connections with their own; `reset`: the
    /// directives the daemon started with.
    pub fn set_global(&self, level: LogLevel) -> Result<(), String> {
        match level_filter(level) {
            Some(level) => self.modify(|filter| filter.set_global(level)),
            None => self.modify(ConnectionFilter::reset_global),
        }
    }

    /// A connection's own level; `reset`: the global directives again.
    pub fn set_connection(&self, name: &str, level: LogLevel) -> Result<(), String> {
        match level_filter(level) {
            Some(level) => self.modify(|filter| filter.set_connection(name, level)),
            None => self.modify(|filter| {
                filter.reset_connection(name);
            }),
        }
    }

    /// Forget the levels of connections that no longer exist.
    pub fn retain_connections(&self, keep: impl Fn(&str) -> bool) {
        let kept = self.modify(|filter| filter.retain_connections(keep));
        if let Err(e) = kept {
            tracing::warn!("{e}");
        }
    }
}
