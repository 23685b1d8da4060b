//! Why the engine refused or dropped something.

use crate::wire::ikev2::NotifyType;

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
    #[error("missing {0} payload")]
    Missing(&'static str),
    #[error("no acceptable proposal")]
    NoProposalChosen,
    #[error("traffic selectors unacceptable")]
    TsUnacceptable,
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    #[error("peer refused: {0:?}")]
    PeerRefused(NotifyType),
    #[error("key exchange failed: {0}")]
    KeyExchange(String),
    #[error("unknown connection {0:?}")]
    UnknownConnection(String),
    #[error("no usable proposal configured")]
    NoProposalConfigured,
}

impl Error {
    /// The error notify to answer a request with, if one applies (RFC 7296 3.10.1).
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Error::Malformed(_) | Error::Missing(_) => Some(NotifyType::InvalidSyntax),
            Error::NoProposalChosen => Some(NotifyType::NoProposalChosen),
            Error::TsUnacceptable => Some(NotifyType::TsUnacceptable),
            Error::AuthFailed(_) => Some(NotifyType::AuthenticationFailed),
            _ => None,
        }
    }
}
