//! What a valid configuration does that an operator should know about: algorithms kept only
//! for old peers, and IKEv1 Aggressive Mode. `check-config` prints these, the daemon logs
//! them at start; neither refuses the configuration.

use crate::algorithm::{DhGroup, Encryption, Integrity};

use super::model::{Config, IkeVersion};

/// Why an algorithm is weak, in one line naming the RFC that says so.
fn weak_group(g: DhGroup) -> Option<&'static str> {
    match g {
        DhGroup::Modp1024 => Some(
            "modp1024 (DH group 2) is within reach of a nation-state attacker; RFC 8247 2.4: SHOULD NOT",
        ),
        DhGroup::Modp1536 => Some(
            "modp1536 (DH group 5) has too narrow a security margin; RFC 8247 2.4: SHOULD NOT",
        ),
        _ => None,
    }
}

fn weak_cipher(e: Encryption) -> Option<&'static str> {
    match e {
        Encryption::TripleDes => Some(
            "3des has a 64-bit block (collisions after a few GB under one key) and is slow; RFC 8247 2.1 and RFC 8221 5: SHOULD NOT",
        ),
        _ => None,
    }
}

fn weak_integrity(i: Integrity) -> Option<&'static str> {
    match i {
        Integrity::HmacMd5_96 => Some(
            "md5 is broken as a hash; RFC 8247 2.3 and RFC 8221 6: MUST NOT for new use",
        ),
        Integrity::HmacSha1_96 => Some(
            "sha1 is deprecated (SHA-1 collisions are practical); RFC 8247 2.3: MUST- (to be phased out)",
        ),
        _ => None,
    }
}

impl Config {
    /// One line per connection and concern, e.g. `connection "cloud": ike_proposals:
    /// modp1024 (DH group 2) ...`. Empty when nothing calls for a warning.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.connections {
            let mut notes: Vec<(&str, &'static str)> = Vec::new();
            for p in &c.ike_proposals {
                notes.extend(
                    p.dh.iter()
                        .filter_map(|g| weak_group(*g))
                        .map(|w| ("ike_proposals", w)),
                );
                notes.extend(
                    p.encryption
                        .iter()
                        .filter_map(|e| weak_cipher(*e))
                        .map(|w| ("ike_proposals", w)),
                );
                notes.extend(
                    p.integrity
                        .iter()
                        .filter_map(|i| weak_integrity(*i))
                        .map(|w| ("ike_proposals", w)),
                );
            }
            for p in &c.esp_proposals {
                notes.extend(
                    p.dh.iter()
                        .filter_map(|g| weak_group(*g))
                        .map(|w| ("esp_proposals", w)),
                );
                notes.extend(
                    p.encryption
                        .iter()
                        .filter_map(|e| weak_cipher(*e))
                        .map(|w| ("esp_proposals", w)),
                );
                notes.extend(
                    p.integrity
                        .iter()
                        .filter_map(|i| weak_integrity(*i))
                        .map(|w| ("esp_proposals", w)),
                );
            }
            if c.version == IkeVersion::V1 && c.aggressive {
                notes.push((
                    "aggressive",
                    "Aggressive Mode sends the identities in the clear and a hash an eavesdropper can test pre-shared key guesses against offline; use Main Mode where the peer allows",
                ));
            }
            let mut seen = Vec::new();
            for (key, why) in notes {
                if !seen.contains(&(key, why)) {
                    seen.push((key, why));
                    out.push(format!("connection \"{}\": {key}: {why}", c.name));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    const BASE: &str = r#"
[gateway]
name = "gw"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/16"]

[[peer]]
name = "cloud"
address = "198.51.100.1"

[[connection]]
name = "cloud"
peer = "cloud"
psk = "a long enough pre-shared key for the tests"
remote_subnets = ["10.2.0.0/16"]
"#;

    fn warnings(extra: &str) -> Vec<String> {
        let text = format!("{BASE}{extra}");
        parse(&text, std::path::Path::new("test.toml"))
            .expect("valid")
            .warnings()
    }

    #[test]
    fn modern_defaults_draw_no_warning() {
        assert!(warnings("").is_empty(), "{:?}", warnings(""));
    }

    #[test]
    fn legacy_cloud_defaults_are_named_with_the_reason() {
        let w = warnings(
            "version = \"ikev1\"\nike_proposals = [\"aes128-sha1-modp1024\"]\nesp_proposals = [\"3des-md5-modp1024\"]\n",
        );
        let text = w.join("\n");
        for expected in [
            "connection \"cloud\": ike_proposals: modp1024 (DH group 2)",
            "connection \"cloud\": ike_proposals: sha1 is deprecated",
            "connection \"cloud\": esp_proposals: 3des has a 64-bit block",
            "connection \"cloud\": esp_proposals: md5 is broken",
            "connection \"cloud\": esp_proposals: modp1024",
        ] {
            assert!(text.contains(expected), "{expected} missing from:\n{text}");
        }
        assert_eq!(w.len(), 5, "each concern once: {text}");
    }

    #[test]
    fn aggressive_mode_is_warned_about() {
        let w = warnings("version = \"ikev1\"\naggressive = true\n");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("aggressive: Aggressive Mode sends the identities in the clear"));
    }
}
