//! Netlink framing on the XFRM and rtnetlink sockets: requests go out in batches (many messages per `send`),
//! then every acknowledgement, reply and extended-ACK text is collected and matched to its
//! request by sequence number.
//!
//! Everything read here comes from the kernel and is parsed with checked slicing only: a short
//! or malformed message is reported or skipped, never trusted.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

// In an NLMSG_ERROR, NLM_F_CAPPED: the echoed request is cut to its header (NETLINK_CAP_ACK);
// in an NLMSG_ERROR or NLMSG_DONE, NLM_F_ACK_TLVS: extended-ACK attributes follow.
use netlink_packet_core::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NLM_F_ACK_TLVS, NLM_F_CAPPED,
};
pub(super) use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_sys::{Socket, SocketAddr};
use tokio::io::unix::AsyncFd;
use zeroize::{Zeroize, Zeroizing};

/// `NETLINK_XFRM` protocol number (include/uapi/linux/netlink.h).
pub(super) const NETLINK_XFRM: isize = 6;
/// `NETLINK_ROUTE` protocol number: links, addresses, routes, rules.
pub(super) const NETLINK_ROUTE: isize = 0;

pub(super) const NLMSG_HDRLEN: usize = 16;

/// `NLMSGERR_ATTR_MSG`: the kernel's error text.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// `MSG_TRUNC` for recv(2): return the real datagram length even when it did not fit.
const MSG_TRUNC: i32 = 0x20;

/// Receive buffer for one datagram. Kernel dump replies are at most 32 KiB per datagram.
const RECV_BUFFER: usize = 64 * 1024;
/// Requests per `send`: bounded so that the acknowledgements of one batch always fit in the
/// socket's receive buffer (the kernel drops acks that do not fit, with ENOBUFS).
const MAX_BATCH_MESSAGES: usize = 128;
/// Bytes per `send`: well below the default socket send buffer.
const MAX_BATCH_BYTES: usize = 64 * 1024;
/// Socket receive buffer asked for (the kernel caps it at net.core.rmem_max).
const SOCKET_RECEIVE_BUFFER: usize = 1 << 20;
/// A kernel that does not answer a request within this time is treated as broken.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// One netlink request. The payload may hold keys, so it is wiped when dropped.
pub(super) struct Request {
    pub msg_type: u16,
    pub flags: u16,
    pub payload: Zeroizing<Vec<u8>>,
}

impl Request {
    /// A request that the kernel acknowledges (NLM_F_REQUEST | NLM_F_ACK).
    pub fn acked(msg_type: u16, payload: Zeroizing<Vec<u8>>) -> Self {
        Request {
            msg_type,
            flags: NLM_F_REQUEST | NLM_F_ACK,
            payload,
        }
    }

    /// A dump request, answered by replies and NLMSG_DONE.
    pub fn dump(msg_type: u16) -> Self {
        Request {
            msg_type,
            flags: NLM_F_REQUEST | NLM_F_DUMP,
            payload: Zeroizing::new(Vec::new()),
        }
    }

    fn is_dump(&self) -> bool {
        self.flags & NLM_F_DUMP == NLM_F_DUMP
    }

    fn encoded_len(&self) -> usize {
        align(NLMSG_HDRLEN + self.payload.len())
    }

    /// Appends the message (header, payload, alignment padding) to `out`.
    fn encode_into(&self, seq: u32, out: &mut Vec<u8>) -> io::Result<()> {
        let len = u32::try_from(NLMSG_HDRLEN + self.payload.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "netlink message too long"))?;
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&self.msg_type.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        // Port id 0: the kernel fills in ours.
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&self.payload);
        out.resize(
            out.len() + (align(self.payload.len()) - self.payload.len()),
            0,
        );
        Ok(())
    }
}

/// A data message the kernel sent in answer to a request (e.g. XFRM_MSG_NEWSA for a GETSA).
/// SA replies carry the SA's keys, so the payload is wiped when dropped.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub msg_type: u16,
    pub payload: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("msg_type", &self.msg_type)
            .field("len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A request the kernel refused: the errno and the extended ACK text, when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NetlinkError {
    /// Positive errno.
    pub errno: i32,
    pub ext_ack: Option<String>,
}

pub(super) const ENOENT: i32 = 2;
pub(super) const ESRCH: i32 = 3;
pub(super) const EEXIST: i32 = 17;

impl NetlinkError {
    /// "No such file or directory (Requested AEAD algorithm not found)".
    pub fn describe(&self) -> String {
        let text = io::Error::from_raw_os_error(self.errno).to_string();
        let text = match text.rsplit_once(" (os error") {
            Some((text, _)) => text.to_owned(),
            None => text,
        };
        match &self.ext_ack {
            Some(ext) => format!("{text} ({ext})"),
            None => text,
        }
    }

    /// The object was already gone.
    pub fn is_not_found(&self) -> bool {
        self.errno == ENOENT || self.errno == ESRCH
    }
}

/// What became of one request.
pub(super) type Outcome = Result<Vec<Reply>, NetlinkError>;

/// A parsed netlink header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub len: u32,
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
}

pub(super) const fn align(len: usize) -> usize {
    (len + 3) & !3
}

pub(super) fn u16_at(buf: &[u8], offset: usize) -> Option<u16> {
    let bytes = buf.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_ne_bytes(bytes.try_into().ok()?))
}

pub(super) fn u32_at(buf: &[u8], offset: usize) -> Option<u32> {
    let bytes = buf.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_ne_bytes(bytes.try_into().ok()?))
}

pub(super) fn u64_at(buf: &[u8], offset: usize) -> Option<u64> {
    let bytes = buf.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_ne_bytes(bytes.try_into().ok()?))
}

/// Splits a datagram into netlink messages. Stops (with an error item) at the first header
/// whose length does not fit the datagram.
pub(super) fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

pub(super) struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(Header, &'a [u8]), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let parsed = (|| {
            let len = u32_at(self.rest, 0)?;
            let header = Header {
                len,
                msg_type: u16_at(self.rest, 4)?,
                flags: u16_at(self.rest, 6)?,
                seq: u32_at(self.rest, 8)?,
            };
            let len = usize::try_from(len).ok()?;
            if len < NLMSG_HDRLEN {
                return None;
            }
            let payload = self.rest.get(NLMSG_HDRLEN..len)?;
            Some((header, payload, len))
        })();
        match parsed {
            Some((header, payload, len)) => {
                self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
                Some(Ok((header, payload)))
            }
            None => {
                let remaining = self.rest.len();
                self.rest = &[];
                Some(Err(format!(
                    "malformed netlink message ({remaining} bytes left in the datagram)"
                )))
            }
        }
    }
}

/// Netlink attributes (`struct nlattr`) in `buf`, as (type without flag bits, value). Stops at
/// the first malformed attribute.
pub(super) fn attributes(buf: &[u8]) -> Attributes<'_> {
    Attributes { rest: buf }
}

pub(super) struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let len = usize::from(u16_at(self.rest, 0)?);
        let kind = u16_at(self.rest, 2)? & 0x3fff;
        let value = if len >= 4 {
            self.rest.get(4..len)
        } else {
            None
        };
        match value {
            Some(value) => {
                self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
                Some((kind, value))
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// The text of a string attribute, up to its terminating NUL; bytes that are not UTF-8 are
/// replaced, not refused.
pub(super) fn string(value: &[u8]) -> String {
    let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(text).into_owned()
}

/// Errno and extended-ACK text of an NLMSG_ERROR (or NLMSG_DONE) payload; `None` for a
/// positive acknowledgement. Layout: `struct nlmsgerr` then, with NLM_F_ACK_TLVS, attributes.
pub(super) fn parse_error(header: &Header, payload: &[u8]) -> Result<Option<NetlinkError>, String> {
    let code = u32_at(payload, 0)
        .map(|raw| raw as i32)
        .ok_or_else(|| "truncated netlink error message".to_owned())?;
    if code == 0 {
        return Ok(None);
    }
    let errno = code.checked_neg().unwrap_or(i32::MAX);
    let mut ext_ack = None;
    if header.flags & NLM_F_ACK_TLVS != 0 {
        let tlv_offset = if header.msg_type == NLMSG_DONE {
            4
        } else if header.flags & NLM_F_CAPPED != 0 {
            4 + NLMSG_HDRLEN
        } else {
            // The whole request is echoed: skip it by its own length field.
            let echoed = u32_at(payload, 4).and_then(|len| usize::try_from(len).ok());
            4 + align(echoed.unwrap_or(NLMSG_HDRLEN))
        };
        if let Some(tlvs) = payload.get(tlv_offset..) {
            for (kind, value) in attributes(tlvs) {
                if kind == NLMSGERR_ATTR_MSG {
                    let text = string(value).trim().to_owned();
                    if !text.is_empty() {
                        ext_ack = Some(text);
                    }
                }
            }
        }
    }
    Ok(Some(NetlinkError { errno, ext_ack }))
}

/// A non-blocking netlink socket registered with the tokio reactor.
pub(super) struct NetlinkSocket {
    fd: AsyncFd<Socket>,
}

impl NetlinkSocket {
    /// Binds `socket` and registers it with the current tokio runtime.
    pub fn new(mut socket: Socket) -> io::Result<Self> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "a netlink socket needs a running tokio runtime",
            ));
        }
        socket.bind_auto()?;
        socket.set_non_blocking(true)?;
        // `AsyncFd::new` is deprecated because an arbitrary `T` might close or swap its file
        // descriptor while registered; `Socket` owns its descriptor for its whole life and
        // closes it only on drop, which is the invariant the reactor needs.
        #[allow(deprecated)]
        let fd = AsyncFd::new(socket)?;
        Ok(NetlinkSocket { fd })
    }

    /// Options for a request socket: kernel error texts, short acks, a large receive buffer.
    pub fn configure_for_requests(socket: &Socket) -> io::Result<()> {
        // Extended ACKs carry the kernel's reason ("Requested AEAD algorithm not found").
        if let Err(error) = socket.set_ext_ack(true) {
            tracing::debug!(%error, "kernel without NETLINK_EXT_ACK: errors carry errno only");
        }
        // Acks echo only the request header, not the request (which holds keys).
        if let Err(error) = socket.set_cap_ack(true) {
            tracing::debug!(%error, "kernel without NETLINK_CAP_ACK");
        }
        socket.set_rx_buf_sz(SOCKET_RECEIVE_BUFFER)?;
        Ok(())
    }

    pub fn socket(&self) -> &Socket {
        self.fd.get_ref()
    }

    async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let kernel = SocketAddr::new(0, 0);
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|fd| fd.get_ref().send_to(datagram, &kernel, 0)) {
                Ok(result) => {
                    let sent = result?;
                    if sent != datagram.len() {
                        return Err(io::Error::other(format!(
                            "netlink send wrote {sent} of {} bytes",
                            datagram.len()
                        )));
                    }
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one datagram into `buf` (cleared first).
    pub async fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            buf.clear();
            if buf.capacity() < RECV_BUFFER {
                buf.reserve(RECV_BUFFER);
            }
            let capacity = buf.capacity();
            match guard.try_io(|fd| fd.get_ref().recv(buf, MSG_TRUNC)) {
                Ok(result) => {
                    let len = result?;
                    if len > capacity {
                        return Err(io::Error::other(format!(
                            "netlink datagram of {len} bytes truncated to {capacity}"
                        )));
                    }
                    return Ok(());
                }
                Err(_would_block) => continue,
            }
        }
    }
}

/// How many of `requests` (at least one) go into the next datagram.
fn batch_len(requests: &[&Request]) -> usize {
    let mut count = 0;
    let mut bytes = 0;
    for request in requests {
        let len = request.encoded_len();
        if count > 0 && (count >= MAX_BATCH_MESSAGES || bytes + len > MAX_BATCH_BYTES) {
            break;
        }
        count += 1;
        bytes += len;
        // A socket runs one dump at a time: a second dump request in the same batch would be
        // refused with EBUSY, so a dump closes its batch.
        if request.is_dump() {
            break;
        }
    }
    count
}

/// The request socket: sequence numbers and batching.
pub(super) struct RequestSocket {
    socket: NetlinkSocket,
    next_seq: u32,
    buf: Vec<u8>,
}

impl RequestSocket {
    pub fn new(socket: NetlinkSocket) -> Self {
        RequestSocket {
            socket,
            next_seq: 1,
            buf: Vec::with_capacity(RECV_BUFFER),
        }
    }

    /// Sends every request (in order, several per datagram) and returns one outcome per
    /// request, in the same order. An `Err` means the socket itself failed: the outcome of
    /// the requests is then unknown.
    pub async fn transact(&mut self, requests: &[&Request]) -> io::Result<Vec<Outcome>> {
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut rest = requests;
        while !rest.is_empty() {
            let count = batch_len(rest);
            let (batch, later) = rest.split_at(count);
            outcomes.extend(self.transact_batch(batch).await?);
            rest = later;
        }
        Ok(outcomes)
    }

    async fn transact_batch(&mut self, batch: &[&Request]) -> io::Result<Vec<Outcome>> {
        let first_seq = self.next_seq;
        let count = u32::try_from(batch.len()).map_err(|_| io::Error::other("batch too large"))?;
        // Sequence numbers wrap; 0 is skipped so that a zeroed header never matches.
        self.next_seq = match first_seq.wrapping_add(count) {
            0 => 1,
            next => next,
        };
        let mut datagram = Zeroizing::new(Vec::with_capacity(
            batch.iter().map(|r| r.encoded_len()).sum(),
        ));
        let mut seq = first_seq;
        let mut seqs = Vec::with_capacity(batch.len());
        for request in batch {
            request.encode_into(seq, &mut datagram)?;
            seqs.push(seq);
            seq = match seq.wrapping_add(1) {
                0 => 1,
                next => next,
            };
        }
        self.socket.send(&datagram).await?;

        let mut replies: Vec<Vec<Reply>> = vec![Vec::new(); batch.len()];
        let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
        let mut open = batch.len();
        let mut queue = VecDeque::new();
        while open > 0 {
            match tokio::time::timeout(REPLY_TIMEOUT, self.socket.recv(&mut self.buf)).await {
                Ok(result) => result?,
                Err(_elapsed) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("the kernel left {open} netlink requests unanswered"),
                    ))
                }
            }
            queue.clear();
            for message in messages(&self.buf) {
                match message {
                    Ok((header, payload)) => {
                        queue.push_back((header, Zeroizing::new(payload.to_vec())))
                    }
                    Err(problem) => tracing::debug!(%problem, "skipping netlink data"),
                }
            }
            // The datagram may hold SA keys (GETSA replies, SA dumps).
            self.buf.zeroize();
            for (header, payload) in queue.drain(..) {
                let Some(index) = seqs.iter().position(|&s| s == header.seq) else {
                    tracing::debug!(
                        seq = header.seq,
                        kind = header.msg_type,
                        "netlink message for no pending request"
                    );
                    continue;
                };
                let (Some(slot), Some(data)) = (outcomes.get_mut(index), replies.get_mut(index))
                else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                match header.msg_type {
                    NLMSG_NOOP => {}
                    NLMSG_OVERRUN => return Err(io::Error::other("netlink overrun")),
                    NLMSG_ERROR | NLMSG_DONE => {
                        let result = if header.msg_type == NLMSG_DONE && payload.len() < 4 {
                            Ok(None)
                        } else {
                            parse_error(&header, &payload)
                        };
                        *slot = Some(match result {
                            Ok(None) => Ok(std::mem::take(data)),
                            Ok(Some(error)) => Err(error),
                            Err(problem) => Err(NetlinkError {
                                errno: 71, // EPROTO
                                ext_ack: Some(problem),
                            }),
                        });
                        open -= 1;
                    }
                    msg_type => data.push(Reply { msg_type, payload }),
                }
            }
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(Ok(Vec::new())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&msg_type.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn request_encoding_pads_to_four_bytes() {
        let request = Request::acked(16, Zeroizing::new(vec![1, 2, 3, 4, 5]));
        let mut out = Vec::new();
        request.encode_into(7, &mut out).unwrap();
        assert_eq!(out.len(), 24);
        assert_eq!(u32_at(&out, 0), Some(21));
        assert_eq!(u16_at(&out, 4), Some(16));
        assert_eq!(u16_at(&out, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(u32_at(&out, 8), Some(7));
        assert_eq!(&out[16..21], &[1, 2, 3, 4, 5]);
        assert_eq!(&out[21..], &[0, 0, 0]);
        assert_eq!(request.encoded_len(), 24);
    }

    #[test]
    fn dump_request_flags() {
        let request = Request::dump(18);
        assert_eq!(request.flags, 0x301);
        assert!(request.payload.is_empty());
        assert!(request.is_dump());
        assert!(!Request::acked(18, Zeroizing::new(vec![0; 24])).is_dump());
    }

    #[test]
    fn batches_are_bounded_and_end_at_dumps() {
        let small = Request::acked(16, Zeroizing::new(vec![0; 100]));
        let big = Request::acked(16, Zeroizing::new(vec![0; 40_000]));
        let dump = Request::dump(18);
        assert_eq!(batch_len(&[&small; 300]), MAX_BATCH_MESSAGES);
        assert_eq!(batch_len(&[&small, &big, &big]), 2);
        assert_eq!(batch_len(&[&big]), 1);
        assert_eq!(batch_len(&[&small, &dump, &dump, &small]), 2);
        assert_eq!(batch_len(&[&dump, &dump]), 1);
    }

    #[test]
    fn error_with_extended_ack_text() {
        // nlmsgerr: error -2, capped echo of the request header, then NLMSGERR_ATTR_MSG.
        let mut payload = (-2i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&header(16, 5, 9, &[])[..16]);
        let text = b"Requested AEAD algorithm not found\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let datagram = header(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 9, &payload);
        let (hdr, body) = messages(&datagram).next().unwrap().unwrap();
        assert_eq!(hdr.seq, 9);
        let error = parse_error(&hdr, body).unwrap().unwrap();
        assert_eq!(error.errno, 2);
        assert_eq!(
            error.ext_ack.as_deref(),
            Some("Requested AEAD algorithm not found")
        );
        assert_eq!(
            error.describe(),
            "No such file or directory (Requested AEAD algorithm not found)"
        );
        assert!(error.is_not_found());
    }

    #[test]
    fn ack_is_not_an_error() {
        let datagram = header(NLMSG_ERROR, NLM_F_CAPPED, 3, &[0; 20]);
        let (hdr, body) = messages(&datagram).next().unwrap().unwrap();
        assert_eq!(parse_error(&hdr, body).unwrap(), None);
    }

    #[test]
    fn uncapped_error_skips_the_echoed_request() {
        let echoed = header(16, 5, 4, &[0xaa; 10]);
        let mut payload = (-22i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&echoed);
        payload.resize(4 + align(echoed.len()), 0);
        let text = b"bad\0";
        payload.extend_from_slice(&8u16.to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        let datagram = header(NLMSG_ERROR, NLM_F_ACK_TLVS, 4, &payload);
        let (hdr, body) = messages(&datagram).next().unwrap().unwrap();
        let error = parse_error(&hdr, body).unwrap().unwrap();
        assert_eq!(error.errno, 22);
        assert_eq!(error.ext_ack.as_deref(), Some("bad"));
    }

    #[test]
    fn malformed_input_never_panics() {
        for len in 0..40 {
            let datagram: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            for (hdr, body) in messages(&datagram).flatten() {
                let _ = parse_error(&hdr, body);
                let _ = attributes(body).count();
            }
        }
        // A header claiming more than the datagram holds is reported, not followed.
        let mut datagram = header(NLMSG_ERROR, 0, 1, &[0; 4]);
        datagram[0] = 200;
        assert!(messages(&datagram).next().unwrap().is_err());
        assert!(parse_error(
            &Header {
                len: 16,
                msg_type: NLMSG_ERROR,
                flags: NLM_F_ACK_TLVS,
                seq: 1
            },
            &[1, 2]
        )
        .is_err());
    }

    #[test]
    fn several_messages_in_one_datagram() {
        let mut datagram = header(NLMSG_ERROR, 0, 1, &[0; 5]);
        datagram.resize(align(datagram.len()), 0);
        datagram.extend_from_slice(&header(NLMSG_DONE, 0, 2, &[0; 4]));
        let seqs: Vec<u32> = messages(&datagram).map(|m| m.unwrap().0.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
    }
}
