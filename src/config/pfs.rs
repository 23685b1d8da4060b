//! The `pfs` setting: whether a CHILD_SA made or rekeyed with CREATE_CHILD_SA must come with
//! its own key exchange (perfect forward secrecy, RFC 7296 1.3.1 and 1.3.3).

use std::fmt;

/// What a connection asks of the key exchange of CHILD_SAs made by CREATE_CHILD_SA. The first
/// CHILD_SA, made in IKE_AUTH, never has one of its own (RFC 7296 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pfs {
    /// We propose a key exchange when we rekey and accept the peer's with or without one
    /// (what a stock strongSwan 5.9 peer, which proposes none, needs).
    #[default]
    Optional,
    /// A CHILD_SA without a key exchange is refused (NO_PROPOSAL_CHOSEN), and ours never go
    /// without one.
    Required,
}

impl Pfs {
    /// The values the configuration file accepts, for error messages.
    pub const CHOICES: &'static str = "\"optional\" or \"required\"";

    /// Parses a configuration value.
    pub fn parse(text: &str) -> Option<Pfs> {
        match text {
            "optional" => Some(Pfs::Optional),
            "required" => Some(Pfs::Required),
            _ => None,
        }
    }
}

impl fmt::Display for Pfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Pfs::Optional => "optional",
            Pfs::Required => "required",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for mode in [Pfs::Optional, Pfs::Required] {
            assert_eq!(Pfs::parse(&mode.to_string()), Some(mode));
        }
        assert_eq!(Pfs::parse("yes"), None);
        assert_eq!(Pfs::parse("Required"), None);
        assert_eq!(Pfs::default(), Pfs::Optional);
    }
}
