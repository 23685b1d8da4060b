//! Why the engine refused, failed or dropped something, in the words of the RFCs.
//!
//! Two vocabularies meet here. [`Error`] is what an operation of the engine returns (a
//! message that cannot be opened, a connection that cannot start); [`Failure`] and
//! [`KernelFailure`] are why an SA went down or was never made, as events carry it to status
//! and logs. A failure names the end that refused, the exchange and the error notify by their
//! RFC names (`IKE_AUTH`, `TS_UNACCEPTABLE`): that is what operators search logs for and
//! what both IKE versions share.

use std::fmt;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("malformed message: {0}")]
    Malformed(#[from] crate::wire::Error),
    #[error("message is not protected by an SK payload")]
    Unprotected,
    #[error("message announces {0} fragments, more than accepted")]
    TooManyFragments(u16),
    #[error("integrity check or decryption failed")]
    Undecryptable,
    #[error("no acceptable proposal")]
    NoProposalChosen,
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    #[error("key exchange failed: {0}")]
    KeyExchange(String),
    #[error("unknown connection {0:?}")]
    UnknownConnection(String),
    #[error("no usable proposal configured")]
    NoProposalConfigured,
    /// Not a failure: the peer is given by a DNS name, and the initiation waits for the
    /// driver to resolve it (see `resolve.rs`).
    #[error("resolving the peer address {0} first")]
    Resolving(String),
}

/// The end of an IKE SA that refused or gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Local,
    Peer,
}

/// A negotiation that failed: who ended it, in which exchange, with which error notify, and
/// what exactly went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub by: Side,
    /// The exchange by its RFC name (`IKE_SA_INIT`); `None` when none was under way, as when
    /// a lifetime ran out.
    pub exchange: Option<String>,
    /// The message the exchange failed in. Filled in by the exchange's dispatch
    /// ([`Failure::in_message`]), which knows it; `None` outside an exchange. Boxed: failures
    /// travel in the `Err` of `Result`s, which must stay small.
    pub message: Option<Box<InMessage>>,
    /// The error notify sent or received, by its RFC name (`NO_PROPOSAL_CHOSEN`).
    pub notify: Option<String>,
    /// For a person: what did not match or did not arrive. May be empty.
    pub detail: String,
}

/// The message of an exchange: its ID, which finds it in both ends' debug logs and in a
/// capture, and the peer's address it was exchanged with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InMessage {
    pub id: u32,
    pub peer: SocketAddr,
}

impl Failure {
    /// We gave up outside any exchange (a lifetime ran out, a deadline passed).
    pub fn local(detail: impl Into<String>) -> Failure {
        Failure {
            by: Side::Local,
            exchange: None,
            message: None,
            notify: None,
            detail: detail.into(),
        }
    }

    /// We gave up on an exchange without an error notify to name: an answer we cannot use.
    pub fn gave_up(exchange: impl fmt::Display, detail: impl Into<String>) -> Failure {
        Failure {
            by: Side::Local,
            exchange: Some(exchange.to_string()),
            message: None,
            notify: None,
            detail: detail.into(),
        }
    }

    /// We refused the peer's request with an error notify.
    pub fn refused(
        exchange: impl fmt::Display,
        notify: impl fmt::Display,
        detail: impl Into<String>,
    ) -> Failure {
        Failure {
            by: Side::Local,
            exchange: Some(exchange.to_string()),
            message: None,
            notify: Some(notify.to_string()),
            detail: detail.into(),
        }
    }

    /// The peer answered our request with an error notify.
    pub fn refused_by_peer(
        exchange: impl fmt::Display,
        notify: impl fmt::Display,
        detail: impl Into<String>,
    ) -> Failure {
        Failure {
            by: Side::Peer,
            exchange: Some(exchange.to_string()),
            message: None,
            notify: Some(notify.to_string()),
            detail: detail.into(),
        }
    }

    /// Tie the failure to the message `message_id` of `exchange` with `peer`, if it failed
    /// in that exchange and does not know its message yet.
    pub fn in_message(&mut self, exchange: impl fmt::Display, message_id: u32, peer: SocketAddr) {
        if self.message.is_none()
            && self
                .exchange
                .as_deref()
                .is_some_and(|ours| ours == exchange.to_string())
        {
            self.message = Some(Box::new(InMessage {
                id: message_id,
                peer,
            }));
        }
    }

    /// The peer's address the failed exchange ran with, once known.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.message.as_ref().map(|m| m.peer)
    }
}

/// `IKE_AUTH (message ID 1, peer 192.0.2.1:500): the peer refused with
/// AUTHENTICATION_FAILED: ...`, `CREATE_CHILD_SA: refused with NO_PROPOSAL_CHOSEN: ...`,
/// `not established in time`.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(exchange) = &self.exchange {
            f.write_str(exchange)?;
            if let Some(InMessage { id, peer }) = self.message.as_deref() {
                write!(f, " (message ID {id}, peer {peer})")?;
            }
            f.write_str(": ")?;
        }
        let mut wrote = false;
        if let Some(notify) = &self.notify {
            match self.by {
                Side::Peer => write!(f, "the peer refused with {notify}")?,
                Side::Local => write!(f, "refused with {notify}")?,
            }
            wrote = true;
        }
        if !self.detail.is_empty() {
            if wrote {
                f.write_str(": ")?;
            }
            f.write_str(&self.detail)?;
        }
        Ok(())
    }
}

/// The kernel's refusal of an intent: its errno and its own words (the errno text plus the
/// extended ACK message, e.g. "No such file or directory (Requested AEAD algorithm not
/// found)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFailure {
    /// The errno of the netlink answer, when the failure came from the kernel.
    pub errno: Option<i32>,
    pub message: String,
}

impl fmt::Display for KernelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_speak_rfc_names() {
        let peer = Failure::refused_by_peer("IKE_AUTH", "TS_UNACCEPTABLE", "");
        assert_eq!(
            peer.to_string(),
            "IKE_AUTH: the peer refused with TS_UNACCEPTABLE"
        );
        let ours = Failure::refused(
            "CREATE_CHILD_SA",
            "NO_PROPOSAL_CHOSEN",
            "no ESP proposal matches",
        );
        assert_eq!(
            ours.to_string(),
            "CREATE_CHILD_SA: refused with NO_PROPOSAL_CHOSEN: no ESP proposal matches"
        );
        let address: SocketAddr = "192.0.2.1:4500".parse().expect("address");
        let mut dated = ours.clone();
        // Only the exchange it failed in, and only its first message, date a failure.
        dated.in_message("IKE_AUTH", 3, address);
        dated.in_message("CREATE_CHILD_SA", 4, address);
        dated.in_message("CREATE_CHILD_SA", 5, address);
        assert_eq!(
            dated.to_string(),
            "CREATE_CHILD_SA (message ID 4, peer 192.0.2.1:4500): refused with NO_PROPOSAL_CHOSEN: no ESP proposal matches"
        );
        let mut timeout = Failure::local("not established in time");
        timeout.in_message("INFORMATIONAL", 2, address);
        assert_eq!(timeout.to_string(), "not established in time");
    }
}
