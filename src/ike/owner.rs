//! Which IKE SA an input or output belongs to, so the driver can scope the work on it (its
//! log span) before handing it in or sending it out: a message, found from its header alone
//! by SPI as the exchanges do it (a new IKE_SA_INIT or Main Mode request belongs to no SA
//! yet); a kernel event, by the SA's SPI or reqid; a kernel result, by its intent.

use std::net::SocketAddr;

use crate::wire::{ikev1, ikev2};

use super::engine::Engine;
use super::output::{IntentId, KernelEvent};
use super::sa::IkeSa;

/// Which way a message goes, which decides which of its SPIs is ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Received,
    Sent,
}

impl Engine {
    /// The IKE SA a message received from, or sent to, `remote` belongs to.
    pub fn sa_of_message(
        &self,
        remote: SocketAddr,
        datagram: &[u8],
        direction: Direction,
    ) -> Option<&IkeSa> {
        match crate::wire::major_version(datagram)? {
            1 => {
                // The cookie pair names an ISAKMP SA whichever way the message goes.
                let header = ikev1::Header::parse(datagram).ok()?;
                self.sa(self.v1_sa_of(&header)?)
            }
            2 => {
                let header = ikev2::Header::parse(datagram).ok()?;
                let init_request =
                    header.exchange == ikev2::ExchangeType::IkeSaInit && !header.flags.response;
                if init_request && direction == Direction::Received {
                    let id = self.cx.half_open.get(&(header.spi_i, remote))?;
                    return self.sa(*id);
                }
                // RFC 7296 3.1: the initiator flag is the sender's; the SPI of the other
                // end's role is the receiver's.
                let sender_initiated = header.flags.initiator;
                let ours = match (direction, sender_initiated) {
                    (Direction::Received, true) | (Direction::Sent, false) => header.spi_r,
                    (Direction::Received, false) | (Direction::Sent, true) => header.spi_i,
                };
                self.sa(*self.cx.by_spi.get(&ours)?)
            }
            _ => None,
        }
    }

    /// The IKE SA whose CHILD_SA a kernel event is about; none for an ACQUIRE of a trap.
    pub fn sa_of_kernel_event(&self, event: &KernelEvent) -> Option<&IkeSa> {
        let id = match event {
            KernelEvent::Expire { spi, .. } => self.cx.inbound_spis.get(spi).copied().flatten(),
            KernelEvent::Acquire { reqid } => self.cx.reqid_owners.get(reqid).copied(),
        };
        self.sa(id?)
    }

    /// The IKE SA whose CHILD_SA an install intent was for, until its result is handed in.
    pub fn sa_of_intent(&self, intent: IntentId) -> Option<&IkeSa> {
        let (id, _) = self.cx.pending_installs.get(&intent)?;
        self.sa(*id)
    }
}
