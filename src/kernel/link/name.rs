//! Interface names for hub connections: deterministic, at most 15 characters (IFNAMSIZ 16
//! with the terminating NUL), recognisable by their prefix, and distinct for distinct
//! connection names.
//!
//! Two forms, told apart by the `.` that only the second one contains:
//! - `ikh-NAME` when the connection name is at most 11 characters of `[A-Za-z0-9_-]`: the
//!   name itself, so the mapping is one-to-one;
//! - `ikh-PP.HHHHHHHH` otherwise: up to two sanitised leading characters of the name for the
//!   reader, then 40 bits of SHA-256 of the full name in lowercase base32. Two such names
//!   collide only on a 40-bit hash collision (for 10,000 long names, about 5 in 100,000);
//!   callers that configure many connections check [`interface_names_collide`] once.

use ring::digest;

/// Every interface ikehub creates starts with this; start-up cleanup removes only these.
pub const INTERFACE_PREFIX: &str = "ikh-";

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

const VERBATIM_MAX: usize = MAX_INTERFACE_NAME - INTERFACE_PREFIX.len();
const READABLE_PREFIX: usize = 2;
const HASH_CHARS: usize = MAX_INTERFACE_NAME - INTERFACE_PREFIX.len() - READABLE_PREFIX - 1;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The xfrm interface name of the hub connection called `connection`.
pub fn interface_name(connection: &str) -> String {
    if !connection.is_empty() && connection.len() <= VERBATIM_MAX && connection.chars().all(plain) {
        return format!("{INTERFACE_PREFIX}{connection}");
    }
    let readable: String = connection
        .chars()
        .filter(|&c| plain(c))
        .take(READABLE_PREFIX)
        .collect();
    let hash = digest::digest(&digest::SHA256, connection.as_bytes());
    // 40 bits from the first five bytes, five bits per character, most significant first.
    let mut bits: u64 = 0;
    for &byte in hash.as_ref().iter().take(5) {
        bits = (bits << 8) | u64::from(byte);
    }
    let mut encoded = String::with_capacity(HASH_CHARS);
    for i in (0..HASH_CHARS).rev() {
        let index = ((bits >> (i * 5)) & 0x1f) as usize;
        encoded.push(char::from(BASE32.get(index).copied().unwrap_or(b'a')));
    }
    format!("{INTERFACE_PREFIX}{readable}.{encoded}")
}

/// Whether an interface name is one ikehub gives out.
pub fn is_ours(interface: &str) -> bool {
    interface.starts_with(INTERFACE_PREFIX) && interface.len() <= MAX_INTERFACE_NAME
}

/// The first two distinct connection names that map to the same interface name, if any.
pub fn interface_names_collide<'a>(connections: &[&'a str]) -> Option<(&'a str, &'a str)> {
    let mut seen: std::collections::HashMap<String, &'a str> = std::collections::HashMap::new();
    for &connection in connections {
        if let Some(&other) = seen.get(&interface_name(connection)) {
            if other != connection {
                return Some((other, connection));
            }
        }
        seen.insert(interface_name(connection), connection);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_plain_names_are_kept() {
        assert_eq!(interface_name("site-7"), "ikh-site-7");
        assert_eq!(interface_name("branch_0001"), "ikh-branch_0001");
        assert_eq!(interface_name("branch_0001").len(), 15);
    }

    #[test]
    fn long_or_unusual_names_are_hashed_and_fit() {
        let long = interface_name("frankfurt-datacenter-2");
        assert!(long.starts_with("ikh-fr."), "{long}");
        assert_eq!(long.len(), MAX_INTERFACE_NAME);
        assert_eq!(
            long,
            interface_name("frankfurt-datacenter-2"),
            "deterministic"
        );
        let odd = interface_name("a b/c");
        assert!(odd.starts_with("ikh-ab."), "{odd}");
        assert!(!odd.contains('/') && !odd.contains(' '));
        let empty = interface_name("");
        assert!(empty.starts_with("ikh-."), "{empty}");
        assert!(empty.len() <= MAX_INTERFACE_NAME);
        let unicode = interface_name("zürich");
        assert!(unicode.is_ascii() && unicode.len() <= MAX_INTERFACE_NAME);
    }

    #[test]
    fn distinct_names_stay_distinct() {
        // Names that sanitise alike, names that differ only after the readable prefix, and
        // a verbatim name that looks like a hashed one.
        let names: Vec<String> = (0..20_000).map(|i| format!("connection-{i}")).collect();
        let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
        refs.extend(["a.b", "a_b", "a b", "ab", "ikh-ab", "site.1", "site_1"]);
        assert_eq!(interface_names_collide(&refs), None);
        let mut unique: Vec<String> = refs.iter().map(|n| interface_name(n)).collect();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), refs.len());
        assert!(unique.iter().all(|n| is_ours(n)));
        assert_eq!(interface_names_collide(&["x", "x"]), None);
    }
}
