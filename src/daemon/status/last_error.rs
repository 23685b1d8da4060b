//! Each connection's most recent failure and when it happened, as status shows it.
//!
//! The engine reports failures in its events and knows no clock; the daemon records each one
//! here with the time it saw it: the wall-clock time to show (RFC 3339, UTC) and the monotonic
//! time to measure its age by, which a clock step cannot move.
//!
//! The next success (a CHILD_SA up: the tunnel carries traffic) moves the failure to the
//! connection's previous error and clears the last one: `last_error` then always means a
//! current problem, and the reason of the last outage stays visible, with its time, in
//! `previous_error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::ike::{ConnId, DownReason, Event, Failure, Side};

/// A moment as the daemon saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Shown, as RFC 3339 UTC.
    pub wall: SystemTime,
    /// Measures the age, immune to clock steps.
    pub monotonic: Instant,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp {
            wall: SystemTime::now(),
            monotonic: Instant::now(),
        }
    }

    /// The wall-clock time as RFC 3339 UTC, e.g. "2026-12-07T11:50:02Z".
    pub fn rfc3339(&self) -> String {
        rfc3339_utc(self.wall)
    }

    /// Whole seconds from this moment until `now` (0 if `now` is earlier).
    pub fn age_s(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.monotonic).as_secs()
    }
}

/// A failure and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    pub message: String,
    pub at: Timestamp,
    /// The end that refused or gave up, when the failure was a negotiation's.
    pub by: Option<Side>,
}

impl LastError {
    /// Which end refused, as status shows it: "us" or "peer".
    pub fn by_text(&self) -> Option<&'static str> {
        self.by.map(|side| match side {
            Side::Local => "us",
            Side::Peer => "peer",
        })
    }
}

/// A connection's current failure and the one before its last success.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConnErrors {
    /// Since the last success; `None` once the connection succeeded after it.
    pub last: Option<LastError>,
    /// The failure the last success ended.
    pub previous: Option<LastError>,
}

/// The failures of each connection since the daemon started.
#[derive(Debug, Default)]
pub struct LastErrors {
    by_conn: HashMap<ConnId, ConnErrors>,
}

impl LastErrors {
    /// The connection's current failure, if it has not succeeded since.
    pub fn get(&self, conn: ConnId) -> Option<&LastError> {
        self.by_conn.get(&conn)?.last.as_ref()
    }

    /// The failure the connection's last success ended.
    pub fn previous(&self, conn: ConnId) -> Option<&LastError> {
        self.by_conn.get(&conn)?.previous.as_ref()
    }

    /// Record `error` as the connection's most recent failure, replacing the one before.
    pub fn record(&mut self, conn: ConnId, error: LastError) {
        self.by_conn.entry(conn).or_default().last = Some(error);
    }

    /// The connection succeeded: its current failure, if any, becomes the previous one.
    pub fn succeeded(&mut self, conn: ConnId) {
        if let Some(errors) = self.by_conn.get_mut(&conn) {
            if let Some(last) = errors.last.take() {
                errors.previous = Some(last);
            }
        }
    }

    /// Record the failure `event` reports, if it reports one for a connection, or the
    /// success (a CHILD_SA up); returns the connection whose errors changed. Deletes (ours or
    /// the peer's) and rekeys are no failures.
    pub fn record_event(&mut self, event: &Event, at: Timestamp) -> Option<ConnId> {
        if let Event::ChildUp { conn, .. } = event {
            self.succeeded(*conn);
            return Some(*conn);
        }
        let (conn, message) = failure_of(event)?;
        let by = event.failure().map(|failure| failure.by);
        self.record(conn, LastError { message, at, by });
        Some(conn)
    }
}

/// The connection and the text of the failure an engine event reports.
pub(crate) fn failure_of(event: &Event) -> Option<(ConnId, String)> {
    match event {
        Event::IkeDown { conn, reason, .. }
        | Event::ChildDown { conn, reason, .. }
        | Event::ChildFailed { conn, reason, .. } => {
            // A delete, ours or the peer's, is no failure: the log says who deleted what,
            // and the failure before it (often the reason for the delete) stays visible.
            if matches!(
                reason,
                DownReason::Deleted
                    | DownReason::DeletedByPeer
                    | DownReason::Rekeyed
                    | DownReason::Superseded
            ) {
                None
            } else {
                Some((*conn, reason_text(reason)))
            }
        }
        Event::Refused {
            conn: Some(conn),
            peer,
            failure,
        } => Some((*conn, refusal_text(*peer, failure))),
        Event::TrapFailed { conn, failure } => Some((
            *conn,
            format!("the kernel refused the trap policies: {failure}"),
        )),
        Event::Refused { conn: None, .. }
        | Event::IkeUp { .. }
        | Event::ChildUp { .. }
        | Event::IkeRekeyed { .. } => None,
    }
}

/// A refusal of a request that left no SA: the failure names the peer once it knows its
/// message; else the peer is named first.
pub fn refusal_text(peer: SocketAddr, failure: &Failure) -> String {
    if failure.peer() == Some(peer) {
        format!("refused: {failure}")
    } else {
        format!("refused {peer}: {failure}")
    }
}

/// Why an SA went down or was not established, for logs and status.
pub fn reason_text(reason: &DownReason) -> String {
    reason.to_string()
}

/// `time` as RFC 3339 in UTC to the second, e.g. "2026-12-07T11:50:02Z"; times before 1970
/// (a clock set far back) show as the epoch.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    crate::wall_clock::rfc3339(seconds)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ike::{Failure, SaId};

    fn at_unix(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn rfc3339_utc_to_the_second() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (86_399, "1970-01-01T23:59:59Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (978_307_199, "2000-12-31T23:59:59Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (1_796_644_202, "2026-12-07T11:50:02Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
        ] {
            assert_eq!(rfc3339_utc(at_unix(seconds)), text, "{seconds}");
        }
        let fraction = at_unix(1_796_644_202) + Duration::from_millis(999);
        assert_eq!(rfc3339_utc(fraction), "2026-12-07T11:50:02Z");
        let before_epoch = UNIX_EPOCH - Duration::from_secs(5);
        assert_eq!(rfc3339_utc(before_epoch), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn age_counts_from_the_monotonic_time() {
        let then = Timestamp {
            wall: at_unix(1_796_644_202),
            monotonic: Instant::now(),
        };
        assert_eq!(then.rfc3339(), "2026-12-07T11:50:02Z");
        assert_eq!(then.age_s(then.monotonic + Duration::from_secs(180)), 180);
        assert_eq!(then.age_s(then.monotonic), 0);
    }

    #[test]
    fn failures_are_recorded_with_their_time_and_deletes_are_not() {
        let conn = ConnId(3);
        let sa = SaId(0);
        let first = Timestamp::now();
        let later = Timestamp {
            monotonic: first.monotonic + Duration::from_secs(60),
            wall: first.wall + Duration::from_secs(60),
        };
        let mut errors = LastErrors::default();
        let refused = Event::ChildFailed {
            conn,
            sa,
            reason: DownReason::NegotiationFailed(Failure::local(
                "IKE_AUTH: refused with TS_UNACCEPTABLE",
            )),
        };
        assert_eq!(errors.record_event(&refused, first), Some(conn));
        let recorded = errors.get(conn).expect("recorded");
        assert_eq!(
            recorded.message,
            "negotiation failed: IKE_AUTH: refused with TS_UNACCEPTABLE"
        );
        assert_eq!(recorded.at, first);
        for not_a_failure in [
            Event::IkeDown {
                conn,
                sa,
                reason: DownReason::Deleted,
            },
            Event::ChildDown {
                conn,
                sa,
                reqid: 1,
                inbound_spi: 2,
                reason: DownReason::Rekeyed,
            },
        ] {
            assert_eq!(errors.record_event(&not_a_failure, later), None);
        }
        assert_eq!(errors.get(conn).map(|e| e.at), Some(first), "kept");
        assert_eq!(errors.get(conn).and_then(LastError::by_text), Some("us"));
        let dead = Event::IkeDown {
            conn,
            sa,
            reason: DownReason::PeerDead,
        };
        errors.record_event(&dead, later);
        let recorded = errors.get(conn).expect("replaced");
        assert_eq!(recorded.message, "the peer stopped answering");
        assert_eq!(recorded.at, later);
        assert_eq!(recorded.by, None, "no end refused");
        assert_eq!(errors.get(ConnId(4)), None);
    }

    #[test]
    fn a_success_moves_the_last_error_to_previous_with_its_time() {
        let conn = ConnId(2);
        let sa = SaId(1);
        let failed_at = Timestamp::now();
        let mut errors = LastErrors::default();
        let up = Event::ChildUp {
            conn,
            sa,
            reqid: 1,
            inbound_spi: 2,
            outbound_spi: 3,
        };
        errors.record_event(&up, Timestamp::now());
        assert_eq!((errors.get(conn), errors.previous(conn)), (None, None));
        let refused = Event::IkeDown {
            conn,
            sa,
            reason: DownReason::AuthFailed(Failure::refused_by_peer(
                "IKE_AUTH",
                "AUTHENTICATION_FAILED",
                "",
            )),
        };
        errors.record_event(&refused, failed_at);
        let failure = errors.get(conn).cloned().expect("recorded");
        assert_eq!(failure.by_text(), Some("peer"));
        assert_eq!(errors.previous(conn), None);
        assert_eq!(errors.record_event(&up, Timestamp::now()), Some(conn));
        assert_eq!(errors.get(conn), None, "cleared by the success");
        assert_eq!(errors.previous(conn), Some(&failure), "with its time");
        // Another success keeps it; the next failure leaves it until the next success.
        errors.record_event(&up, Timestamp::now());
        assert_eq!(errors.previous(conn), Some(&failure));
        let dead = Event::IkeDown {
            conn,
            sa,
            reason: DownReason::PeerDead,
        };
        errors.record_event(&dead, Timestamp::now());
        assert_eq!(errors.previous(conn), Some(&failure));
        errors.record_event(&up, Timestamp::now());
        assert_eq!(
            errors.previous(conn).map(|e| e.message.as_str()),
            Some("the peer stopped answering")
        );
    }

    #[test]
    fn a_refusal_names_the_peer() {
        let peer = "192.0.2.9:500".parse().expect("address");
        let mut errors = LastErrors::default();
        let refused = |conn| Event::Refused {
            conn,
            peer,
            failure: Failure::local("IKE_SA_INIT: refused with NO_PROPOSAL_CHOSEN"),
        };
        assert_eq!(errors.record_event(&refused(None), Timestamp::now()), None);
        let conn = ConnId(0);
        errors.record_event(&refused(Some(conn)), Timestamp::now());
        assert_eq!(
            errors.get(conn).map(|e| e.message.as_str()),
            Some("refused 192.0.2.9:500: IKE_SA_INIT: refused with NO_PROPOSAL_CHOSEN")
        );
        let mut dated = Failure::refused("IKE_SA_INIT", "NO_PROPOSAL_CHOSEN", "");
        dated.in_message("IKE_SA_INIT", 0, peer);
        assert_eq!(
            refusal_text(peer, &dated),
            "refused: IKE_SA_INIT (message ID 0, peer 192.0.2.9:500): refused with NO_PROPOSAL_CHOSEN"
        );
    }
}
