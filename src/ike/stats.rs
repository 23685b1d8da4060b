//! Counters of what the engine dropped or repeated, for status and tests.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams that failed to parse (header, payload chain, lengths).
    pub dropped_malformed: u64,
    /// Encrypted messages whose integrity check or decryption failed.
    pub dropped_undecryptable: u64,
    /// Messages naming an IKE SA we do not have.
    pub dropped_unknown_sa: u64,
    /// Messages out of the message-ID window, unexpected responses, wrong exchange for the state.
    pub dropped_unexpected: u64,
    /// IKE_SA_INIT requests larger than any peer needs (`MAX_INIT_REQUEST`).
    pub dropped_oversized: u64,
    /// IKE_SA_INIT requests dropped because the half-open limits were reached.
    pub dropped_half_open: u64,
    /// Half-open SAs (responder, IKE_SA_INIT answered, IKE_AUTH not yet come) now, and the
    /// most there were at once since the start.
    pub half_open: u64,
    pub half_open_peak: u64,
    /// Half-open SAs dropped before their time to make room for a new one, the half-open
    /// limits being reached (the oldest first, none younger than `establish_timeout`).
    pub half_open_replaced: u64,
    /// Requests we retransmitted.
    pub retransmits: u64,
    /// Cached responses resent for retransmitted requests.
    pub responses_resent: u64,
    /// IKE_SA_INIT requests answered with a cookie instead of state.
    pub cookies_sent: u64,
    /// Requests for an IKE SA we do not have answered with INVALID_IKE_SPI (RFC 7296
    /// 2.21.4), within the rate limit.
    pub invalid_spi_sent: u64,
}
