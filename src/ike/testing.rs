//! Views into the engine for tests and fuzzing (feature `testing`): speaking for an SA's peer
//! with the SA's own keys, and reading its message IDs. A fuzzer that seals its input this way
//! reaches the exchange handlers behind the SK payload's integrity check, which random bytes
//! never pass. A release build does not have them.

use crate::wire::ikev2::{self, ExchangeType, Payload};

use super::engine::Engine;
use super::output::SaId;
use super::v2::message;

/// Message IDs of an IKE SA (RFC 7296 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageIds {
    /// The ID of our next request.
    pub next_request: u32,
    /// The ID we expect on the peer's next request.
    pub expected_request: u32,
    /// The ID of our request waiting for its response, if one is.
    pub outstanding: Option<u32>,
}

impl Engine {
    /// Whether the index of SAs by connection lists exactly the SAs of the table, each
    /// under its connection (checked by the in-memory tests after every step).
    pub fn sas_by_connection_consistent(&self) -> bool {
        let indexed: usize = self.cx.sas_of.values().map(Vec::len).sum();
        indexed == self.sas().count()
            && self.sas().all(|sa| {
                self.cx
                    .sas_of
                    .get(&sa.conn)
                    .is_some_and(|ids| ids.contains(&sa.id))
            })
    }

    /// The IKE SA that messages carrying `spi` as our SPI reach.
    pub fn sa_by_local_spi(&self, spi: u64) -> Option<SaId> {
        self.cx.by_spi.get(&spi).copied()
    }

    /// The message IDs of an SA.
    pub fn message_ids(&self, id: SaId) -> Option<MessageIds> {
        let exchanges = &self.sa(id)?.v2.exchanges;
        Some(MessageIds {
            next_request: exchanges.next_request_id,
            expected_request: exchanges.expected_request_id,
            outstanding: exchanges.outstanding.as_ref().map(|o| o.message_id),
        })
    }

    /// `payloads` sealed as SA `id` sends a message to its peer: its header and its outbound
    /// SK keys, one datagram (never fragments). None before the SA has keys. The SA's state is
    /// not touched beyond the cipher's IV counter and the random stream.
    pub fn seal_as_sa(
        &mut self,
        id: SaId,
        exchange: ExchangeType,
        response: bool,
        message_id: u32,
        payloads: &[Payload],
    ) -> Option<Vec<u8>> {
        let sa = self.sas.get_mut(id.0 as usize).and_then(Option::as_mut)?;
        let header = message::header(sa, exchange, response, message_id);
        let crypto = sa.v2.crypto.as_mut()?;
        let mut datagrams = message::seal(
            &mut crypto.outbound,
            &header,
            payloads,
            self.cx.rng.as_mut(),
            None,
        );
        datagrams.pop()
    }

    /// The inner payloads of a whole SK message that reached SA `id`, opened with its inbound
    /// keys without acting on them. None if it does not parse, is a fragment or fails the
    /// integrity check.
    pub fn open_as_sa(&self, id: SaId, datagram: &[u8]) -> Option<Vec<Payload>> {
        let crypto = self.sa(id)?.v2.crypto.as_ref()?;
        let parsed = ikev2::parse_message(datagram).ok()?;
        match message::open(&crypto.inbound, &mut None, datagram, &parsed).ok()? {
            message::Opened::Complete { payloads, .. } => Some(payloads),
            message::Opened::Partial => None,
        }
    }
}
