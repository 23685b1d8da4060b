//! [`KernelError`], and the three ways a netlink exchange fails: a socket that cannot be
//! opened, a request the kernel refuses, and a socket that fails mid-exchange.

use std::io;

use super::netlink::NetlinkError;

/// A kernel refusal, with the kernel's own words (extended ACK text) when it gave any.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct KernelError {
    /// The errno of the kernel's answer; `None` when the failure was not the kernel's
    /// refusal (a socket that could not be opened, a lost answer).
    pub errno: Option<i32>,
    /// What we asked for, e.g. "add SA 192.0.2.1->192.0.2.2 spi 0x1234abcd".
    pub operation: String,
    /// errno text plus the kernel's extended ACK message, e.g.
    /// "No such file or directory (Requested AEAD algorithm not found)".
    pub message: String,
}

/// Turns the failure to open or set up `sockets` (e.g. "rtnetlink socket") into an error;
/// for `map_err`.
pub(super) fn open_error(sockets: &'static str) -> impl Fn(io::Error) -> KernelError {
    move |error| KernelError {
        errno: None,
        operation: format!("open {sockets}"),
        message: error.to_string(),
    }
}

/// The kernel refused `operation`: the errno text and the kernel's extended-ACK text.
pub(super) fn kernel_error(operation: &str, error: &NetlinkError) -> KernelError {
    KernelError {
        errno: Some(error.errno),
        operation: operation.to_owned(),
        message: error.describe(),
    }
}

/// The socket failed while `operation` was in flight: the kernel may have applied some of it.
pub(super) fn transport_error(operation: &str, error: &io::Error) -> KernelError {
    KernelError {
        errno: None,
        operation: operation.to_owned(),
        message: format!("{error}; the kernel state of this request is unknown"),
    }
}

/// The engine learns of a refusal with the operation named in front of the kernel's words.
impl From<KernelError> for crate::ike::KernelFailure {
    fn from(error: KernelError) -> crate::ike::KernelFailure {
        crate::ike::KernelFailure {
            errno: error.errno,
            message: error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_operation_and_keep_the_kernels_words() {
        let refused = kernel_error(
            "add SA",
            &NetlinkError {
                errno: 2,
                ext_ack: Some("Requested AEAD algorithm not found".to_owned()),
            },
        );
        assert_eq!(
            refused.to_string(),
            "add SA: No such file or directory (Requested AEAD algorithm not found)"
        );
        assert_eq!(refused.errno, Some(2));
        let failure = crate::ike::KernelFailure::from(refused);
        assert_eq!(failure.errno, Some(2), "the engine sees the errno");
        let open = open_error("rtnetlink socket")(io::Error::from_raw_os_error(24));
        assert_eq!(open.operation, "open rtnetlink socket");
        let lost = transport_error("write hub routes", &io::Error::other("gone"));
        assert_eq!(
            lost.message,
            "gone; the kernel state of this request is unknown"
        );
    }
}
