//! The `close_action` setting: what the gateway does when a connection's IKE SA goes away
//! without our asking: the peer deleted it (it stopped or restarted cleanly), it was found
//! dead, its negotiation failed, or its CHILD_SA could not be kept.

use std::fmt;

use super::model::StartAction;

/// What happens to a connection whose IKE SA ended other than by our own delete or a rekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseAction {
    /// Initiate again, after a backoff with jitter (1, 2, 4 ... 60 s, reset once an IKE SA
    /// is established). strongSwan's `close_action = start` plus `dpd_action = restart`.
    Restart,
    /// Install the connection's policies without SAs, as `start_action = "trap"` does: the
    /// next packet brings the tunnel up (strongSwan's `close_action = trap`).
    Trap,
    /// Nothing: the peer brings it back, or an operator does (`ikehub up`).
    None,
}

impl CloseAction {
    /// The values the configuration file accepts, for error messages.
    pub const CHOICES: &'static str = "\"restart\", \"trap\" or \"none\"";

    /// Parses a configuration value.
    pub fn parse(text: &str) -> Option<CloseAction> {
        match text {
            "restart" => Some(CloseAction::Restart),
            "trap" => Some(CloseAction::Trap),
            "none" => Some(CloseAction::None),
            _ => None,
        }
    }

    /// The default follows how the connection starts: one that initiates keeps itself up,
    /// one that listens waits for the peer again, a trap for the next packet.
    pub fn default_for(start_action: StartAction) -> CloseAction {
        match start_action {
            StartAction::Initiate => CloseAction::Restart,
            // A trap's policies stay when its tunnel closes: the next packet brings it back.
            StartAction::Trap => CloseAction::Trap,
            StartAction::Listen => CloseAction::None,
        }
    }
}

impl fmt::Display for CloseAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseAction::Restart => "restart",
            CloseAction::Trap => "trap",
            CloseAction::None => "none",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for action in [CloseAction::Restart, CloseAction::Trap, CloseAction::None] {
            assert_eq!(CloseAction::parse(&action.to_string()), Some(action));
        }
        assert_eq!(CloseAction::parse("start"), None);
        assert_eq!(CloseAction::parse("Restart"), None);
    }

    #[test]
    fn the_default_follows_the_start_action() {
        assert_eq!(
            CloseAction::default_for(StartAction::Initiate),
            CloseAction::Restart
        );
        assert_eq!(
            CloseAction::default_for(StartAction::Listen),
            CloseAction::None
        );
    }
}
