//! The spans the daemon enters around a connection's work, so that every line logged for
//! it, the engine's included, carries the connection's name (and the IKE SA's SPIs when
//! the work is an SA's), and a per-connection log level applies to it (see `filter.rs`).
//!
//! The spans are at info level: with the global directives at warn or quieter and no
//! per-connection level set, they are disabled and cost no more than a cached check; their
//! fields are only evaluated for an enabled span. The field `conn` is the one `filter.rs`
//! reads ([`super::filter::CONNECTION_FIELD`]).

use tracing::Span;

use super::filter::CONNECTION_SPAN;
use crate::ike::{ConnectionSettings, IkeSa};

/// The span of work on one IKE SA of `connection`.
pub fn sa(connection: &ConnectionSettings, sa: &IkeSa) -> Span {
    tracing::info_span!(
        CONNECTION_SPAN,
        conn = connection.name.as_str(),
        spi_i = format_args!("{:016x}", sa.spi_i),
        spi_r = format_args!("{:016x}", sa.spi_r),
    )
}

/// The span of work on `connection` without a given IKE SA (a command, an event).
pub fn connection(connection: &ConnectionSettings) -> Span {
    tracing::info_span!(CONNECTION_SPAN, conn = connection.name.as_str())
}
