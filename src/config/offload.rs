//! The `offload` setting: whether the kernel should hand ESP of a connection's SAs to the
//! network device they leave by (`[gateway] offload` is the default of every connection).

use std::fmt;

/// How much of ESP processing a connection asks the egress device to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Offload {
    /// Software ESP only.
    #[default]
    None,
    /// Crypto offload: the device encrypts and decrypts; the kernel keeps the SA state.
    /// Strict: an SA the device cannot take fails to install.
    Crypto,
    /// Packet offload (XFRM_OFFLOAD_PACKET): the device runs ESP entirely, policies included.
    /// Strict like `Crypto`.
    Packet,
    /// Try packet, then crypto, then none, per SA, and keep what worked.
    Auto,
}

impl Offload {
    /// The values the configuration file accepts, for error messages.
    pub const CHOICES: &'static str = "\"none\", \"crypto\", \"packet\" or \"auto\"";

    /// Parses a configuration value.
    pub fn parse(text: &str) -> Option<Offload> {
        match text {
            "none" => Some(Offload::None),
            "crypto" => Some(Offload::Crypto),
            "packet" => Some(Offload::Packet),
            "auto" => Some(Offload::Auto),
            _ => None,
        }
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Offload::None => "none",
            Offload::Crypto => "crypto",
            Offload::Packet => "packet",
            Offload::Auto => "auto",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for mode in [
            Offload::None,
            Offload::Crypto,
            Offload::Packet,
            Offload::Auto,
        ] {
            assert_eq!(Offload::parse(&mode.to_string()), Some(mode));
        }
        assert_eq!(Offload::parse("Crypto"), None);
        assert_eq!(Offload::parse(""), None);
        assert_eq!(Offload::default(), Offload::None);
    }
}
