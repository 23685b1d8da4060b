//! Prometheus metrics over HTTP (`gateway.metrics_listen`), off unless configured.
//!
//! The gateway's state lives in its loop, so the HTTP side ([`http`]) owns nothing: each
//! scrape is a request sent into the loop, which takes a status snapshot (kernel counters
//! included, as `ikehub status` does) and renders it ([`render`]) with the counters that only
//! events can give ([`events`]).

pub mod events;
pub mod http;
pub mod render;
mod scrape;

#[cfg(test)]
mod dashboard_tests;

use tokio::sync::oneshot;

pub use events::EventMetrics;

/// A scrape waiting for the loop: the rendered text goes back on the sender; `None` when it
/// could not be rendered.
pub type ScrapeRequest = oneshot::Sender<Option<String>>;
