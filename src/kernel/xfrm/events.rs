//! The kernel's XFRM events: a second socket joined to the EXPIRE and ACQUIRE multicast
//! groups, decoded into [`KernelEvent`]s.

use std::collections::VecDeque;
use std::io;

use netlink_sys::Socket;

use super::netlink::{messages, NetlinkSocket};
use super::uapi::{
    parse_acquire_reqid, parse_expire, XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRM_MSG_ACQUIRE,
    XFRM_MSG_EXPIRE,
};
use crate::kernel::KernelEvent;

const ENOBUFS: i32 = 105;

pub(super) struct EventSocket {
    socket: NetlinkSocket,
    pending: VecDeque<KernelEvent>,
    buf: Vec<u8>,
}

impl EventSocket {
    pub fn new(socket: Socket) -> io::Result<Self> {
        let socket = NetlinkSocket::new(socket)?;
        // Groups are joined after bind (NetlinkSocket::new binds).
        socket.socket().add_membership(XFRMNLGRP_EXPIRE)?;
        socket.socket().add_membership(XFRMNLGRP_ACQUIRE)?;
        Ok(EventSocket {
            socket,
            pending: VecDeque::new(),
            buf: Vec::new(),
        })
    }

    /// The next event. Cancel-safe: a datagram is decoded completely into the queue before
    /// anything is returned.
    pub async fn next(&mut self) -> KernelEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return event;
            }
            if let Err(error) = self.socket.recv(&mut self.buf).await {
                if error.raw_os_error() == Some(ENOBUFS) {
                    // Events were lost because we read too slowly; later ones still come.
                    tracing::warn!("XFRM events lost: the event socket overflowed");
                    continue;
                }
                // Any other error would repeat on every read: stop reading rather than spin.
                tracing::error!(%error, "reading XFRM events failed; no more kernel events");
                return std::future::pending().await;
            }
            decode(&self.buf, &mut self.pending);
        }
    }
}

/// Decodes one datagram of multicast messages; skips what it cannot decode.
pub(super) fn decode(datagram: &[u8], out: &mut VecDeque<KernelEvent>) {
    for message in messages(datagram) {
        let (header, payload) = match message {
            Ok(message) => message,
            Err(problem) => {
                tracing::debug!(%problem, "skipping XFRM event data");
                continue;
            }
        };
        match header.msg_type {
            XFRM_MSG_EXPIRE => match parse_expire(payload) {
                Some((sa, hard)) => out.push_back(KernelEvent::Expire {
                    dst: sa.dst,
                    spi: sa.spi,
                    hard,
                }),
                None => tracing::debug!(len = payload.len(), "undecodable XFRM expire"),
            },
            XFRM_MSG_ACQUIRE => match parse_acquire_reqid(payload) {
                Some(reqid) => out.push_back(KernelEvent::Acquire { reqid }),
                None => tracing::debug!(len = payload.len(), "undecodable XFRM acquire"),
            },
            other => tracing::debug!(kind = other, "ignoring XFRM message"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::uapi::{USER_ACQUIRE_LEN, USER_EXPIRE_LEN, USER_TMPL_LEN, XFRMA_TMPL};
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn expire_and_acquire() {
        let mut expire = vec![0u8; USER_EXPIRE_LEN];
        expire[56..60].copy_from_slice(&[192, 0, 2, 2]);
        expire[72..76].copy_from_slice(&0xabcd_0001u32.to_be_bytes());
        expire[212..214].copy_from_slice(&2u16.to_ne_bytes());
        expire[224] = 1;
        let mut acquire = vec![0u8; USER_ACQUIRE_LEN];
        let mut tmpl = vec![0u8; USER_TMPL_LEN];
        tmpl[24..26].copy_from_slice(&2u16.to_ne_bytes());
        tmpl[44..48].copy_from_slice(&0x4000_0009u32.to_ne_bytes());
        acquire.extend_from_slice(&((4 + USER_TMPL_LEN) as u16).to_ne_bytes());
        acquire.extend_from_slice(&XFRMA_TMPL.to_ne_bytes());
        acquire.extend_from_slice(&tmpl);

        let mut datagram = message(XFRM_MSG_EXPIRE, &expire);
        datagram.extend_from_slice(&message(XFRM_MSG_ACQUIRE, &acquire));
        datagram.extend_from_slice(&message(XFRM_MSG_EXPIRE, &expire[..100]));
        let mut events = VecDeque::new();
        decode(&datagram, &mut events);
        assert_eq!(
            Vec::from(events),
            vec![
                KernelEvent::Expire {
                    dst: "192.0.2.2".parse().unwrap(),
                    spi: 0xabcd_0001,
                    hard: true
                },
                KernelEvent::Acquire { reqid: 0x4000_0009 },
            ]
        );
    }

    #[test]
    fn garbage_is_skipped() {
        let mut events = VecDeque::new();
        for len in 0..64 {
            let datagram: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            decode(&datagram, &mut events);
        }
        decode(&message(XFRM_MSG_ACQUIRE, &[0; 10]), &mut events);
        assert!(events.is_empty());
    }
}
