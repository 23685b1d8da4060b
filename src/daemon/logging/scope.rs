//! The spans the daemon enters around a connection's work, so that every line logged for
//! it, the engine's included, carries the connection's name (and the IKE SA's SPIs when
//! the work is an SA's), and a per-connection log level applies to it (see `filter.rs`).
//!
//! The journal output (`journal.rs`) takes the `conn` and `peer` fields of these spans for
//! its IKEHUB_CONNECTION and IKEHUB_PEER fields, and keeps the spans on at every level.
//!
//! The spans are at debug level ([`CONNECTION_SPAN_LEVEL`]): enabled while any connection
//! has a level of its own (`filter.rs` turns them on then) or the global directives include
//! debug for this module. Otherwise, as at the default `info`, they are disabled: each costs
//! a cached check and its fields are not evaluated, so the daemon handles messages at what it
//! did without them (an enabled span costs about a microsecond, a few per handshake). The
//! field `conn` is the one `filter.rs` reads ([`super::filter::CONNECTION_FIELD`]).

use tracing::level_filters::LevelFilter;
use tracing::Span;

use super::filter::{CONNECTION_SPAN, CONNECTION_SPAN_LEVEL};
use crate::ike::{ConnectionSettings, IkeSa};

/// Whether the spans can be on at all: the level check that comes before every filter, one
/// atomic load. When false, the daemon skips finding the connection or SA a span would name.
pub fn may_be_on() -> bool {
    LevelFilter::current() >= LevelFilter::from_level(CONNECTION_SPAN_LEVEL)
}

/// The span of work on one IKE SA of `connection`, with its peer's address as the SA has it.
pub fn sa(connection: &ConnectionSettings, sa: &IkeSa) -> Span {
    tracing::span!(
        CONNECTION_SPAN_LEVEL,
        CONNECTION_SPAN,
        conn = connection.name.as_str(),
        spi_i = format_args!("{:016x}", sa.spi_i),
        spi_r = format_args!("{:016x}", sa.spi_r),
        peer = %sa.remote,
    )
}

/// The span of work on `connection` without a given IKE SA (a command, an event).
pub fn connection(connection: &ConnectionSettings) -> Span {
    tracing::span!(
        CONNECTION_SPAN_LEVEL,
        CONNECTION_SPAN,
        conn = connection.name.as_str()
    )
}
