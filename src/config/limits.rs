//! `[gateway]` limits on half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet come):
//! what an internet-facing responder may spend on peers that have not authenticated.

/// The limits, with strongSwan-like defaults where strongSwan has one (its `cookie_threshold`,
/// `block_threshold` and `init_limit_half_open`), scaled for a hub whose spokes may share one
/// address behind a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HalfOpenLimits {
    /// Half-open SAs above which an IKE_SA_INIT must return a cookie (RFC 7296 2.6).
    pub cookie_threshold: u32,
    /// Half-open SAs one address may hold; more are dropped and counted.
    pub per_address: u32,
    /// Half-open SAs in all; more are dropped and counted.
    pub total: u32,
    /// Bytes of IKE_SA_INIT messages all half-open SAs may keep (AUTH signs them, RFC 7296
    /// 2.15, so they are kept whole until IKE_AUTH); more are dropped and counted.
    pub memory_bytes: u64,
}

impl Default for HalfOpenLimits {
    fn default() -> HalfOpenLimits {
        HalfOpenLimits {
            cookie_threshold: 1_000,
            per_address: 1_000,
            total: 10_000,
            memory_bytes: 32 << 20,
        }
    }
}

/// The configuration keys, their lowest accepted values and what they set.
pub(crate) const KEYS: [(&str, i64); 4] = [
    ("cookie_threshold", 0),
    ("half_open_per_address", 1),
    ("half_open_limit", 1),
    ("half_open_memory_mib", 1),
];

impl HalfOpenLimits {
    /// Sets the limit named by a configuration key (one of [`KEYS`]) from its value.
    pub(crate) fn set(&mut self, key: &str, value: u32) {
        match key {
            "cookie_threshold" => self.cookie_threshold = value,
            "half_open_per_address" => self.per_address = value,
            "half_open_limit" => self.total = value,
            "half_open_memory_mib" => self.memory_bytes = u64::from(value) << 20,
            _ => {}
        }
    }
}
