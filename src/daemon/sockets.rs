//! The IKE sockets: for every local address of the gateway, one UDP socket on port 500 and
//! one on port 4500, each bound to that address so a datagram's local address is known from
//! the socket it arrived on (no IP_PKTINFO needed).

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Poll;

use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::ike::nat_t;
use crate::kernel::xfrm::UDP_ENCAP_ESPINUDP;

/// IKE's port (RFC 7296 2).
pub const IKE_PORT: u16 = 500;
/// IKE and ESP behind NAT (RFC 3948, RFC 7296 2.23).
pub const NAT_T_PORT: u16 = 4500;

/// Receive buffer asked for on every socket: bursts from many peers at once (IKE_SA_INIT
/// when they all start, INFORMATIONAL deletes when a peer with many SAs stops) must not be
/// dropped by the kernel before we read them. Set with SO_RCVBUFFORCE, which passes
/// net.core.rmem_max (the daemon has CAP_NET_ADMIN); the kernel doubles the figure for its
/// bookkeeping, and a small datagram costs it 1-2 KiB of that (the buffer it arrived in):
/// room for several thousand datagrams. Memory is taken only while datagrams wait.
pub const RECEIVE_BUFFER: usize = 8 << 20;

// setsockopt(fd, SOL_UDP, UDP_ENCAP, &UDP_ENCAP_ESPINUDP): the kernel then decapsulates
// ESP-in-UDP arriving on the socket and hands only marker-prefixed IKE (and short non-ESP
// datagrams) to us (RFC 3948 2.2). nix's public macro defines the option type.
sockopt_impl!(
    /// The `UDP_ENCAP` socket option (linux/udp.h).
    UdpEncap,
    Both,
    libc::SOL_UDP,
    libc::UDP_ENCAP,
    libc::c_int
);

/// Let the kernel take ESP-in-UDP arriving on this socket (RFC 3948): only IKE behind the
/// non-ESP marker and short non-ESP datagrams reach us; NAT-keepalives are consumed.
pub fn enable_udp_encap(socket: &impl std::os::fd::AsFd) -> nix::Result<()> {
    setsockopt(socket, UdpEncap, &libc::c_int::from(UDP_ENCAP_ESPINUDP))
}

/// SO_RCVBUFFORCE to [`RECEIVE_BUFFER`]; without CAP_NET_ADMIN, SO_RCVBUF (which the
/// kernel caps at net.core.rmem_max), with a log line saying what we got.
fn size_receive_buffer(socket: &std::net::UdpSocket, local: SocketAddr) {
    let forced = setsockopt(socket, sockopt::RcvBufForce, &RECEIVE_BUFFER);
    let got = || {
        getsockopt(socket, sockopt::RcvBuf)
            .map(|bytes| format!("{} KiB", bytes / 1024))
            .unwrap_or_else(|e| format!("unknown ({e})"))
    };
    match forced {
        Ok(()) => tracing::debug!(%local, "receive buffer {}", got()),
        Err(forced) => {
            if let Err(e) = setsockopt(socket, sockopt::RcvBuf, &RECEIVE_BUFFER) {
                tracing::warn!(%local, "cannot enlarge the receive buffer: SO_RCVBUFFORCE: {forced}; SO_RCVBUF: {e}");
            } else {
                tracing::warn!(
                    %local,
                    "SO_RCVBUFFORCE refused ({forced}; CAP_NET_ADMIN missing?): receive buffer {} \
                     (SO_RCVBUF, capped by net.core.rmem_max); bursts from many peers may be dropped",
                    got()
                );
            }
        }
    }
}

/// One bound socket.
pub struct IkeSocket {
    pub local: SocketAddr,
    pub socket: UdpSocket,
}

impl IkeSocket {
    /// Datagrams on this socket carry the non-ESP marker.
    pub fn nat_t(&self) -> bool {
        self.local.port() == NAT_T_PORT
    }
}

/// Every IKE socket of the daemon, with a lookup from local address to socket.
pub struct Sockets {
    pub list: Vec<IkeSocket>,
    by_local: HashMap<SocketAddr, usize>,
    /// Where the next receive poll starts, so one busy socket cannot starve the others.
    next_poll: usize,
}

/// How UDP_ENCAP failures are treated: fatal when the kernel datapath is used, a warning when
/// it is not (a kernel without XFRM refuses the option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapRequirement {
    Required,
    Optional,
}

impl Sockets {
    /// Bind 500 and 4500 on every address.
    pub fn bind(addresses: &[IpAddr], encap: EncapRequirement) -> io::Result<Sockets> {
        let mut list = Vec::with_capacity(addresses.len() * 2);
        for &ip in addresses {
            for port in [IKE_PORT, NAT_T_PORT] {
                let local = SocketAddr::new(ip, port);
                let std_socket = std::net::UdpSocket::bind(local).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot bind UDP {local}: {e}"))
                })?;
                size_receive_buffer(&std_socket, local);
                if port == NAT_T_PORT {
                    if let Err(e) = enable_udp_encap(&std_socket) {
                        let message = format!(
                            "cannot enable ESP-in-UDP decapsulation (UDP_ENCAP) on {local}: {e}"
                        );
                        match encap {
                            EncapRequirement::Required => {
                                return Err(io::Error::other(message));
                            }
                            EncapRequirement::Optional => tracing::warn!("{message}"),
                        }
                    }
                }
                std_socket.set_nonblocking(true)?;
                let socket = UdpSocket::from_std(std_socket)?;
                list.push(IkeSocket { local, socket });
            }
        }
        let by_local = list.iter().enumerate().map(|(i, s)| (s.local, i)).collect();
        Ok(Sockets {
            list,
            by_local,
            next_poll: 0,
        })
    }

    /// The addresses bound.
    pub fn local_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.list
            .iter()
            .filter(|s| s.local.port() == IKE_PORT)
            .map(|s| s.local.ip())
    }

    /// The socket to send an IKE message from: the NAT-T socket when either port is 4500.
    pub fn for_transmit(&self, local: SocketAddr, remote: SocketAddr) -> Option<&IkeSocket> {
        let port = if local.port() == NAT_T_PORT || remote.port() == NAT_T_PORT {
            NAT_T_PORT
        } else {
            IKE_PORT
        };
        let index = self.by_local.get(&SocketAddr::new(local.ip(), port))?;
        self.list.get(*index)
    }

    /// Send an IKE message, framed with the non-ESP marker on the NAT-T socket. `scratch` is
    /// reused between sends.
    pub async fn send_ike(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        let Some(socket) = self.for_transmit(local, remote) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no socket bound to {}", local.ip()),
            ));
        };
        let bytes = if socket.nat_t() {
            nat_t::frame(payload, scratch);
            scratch.as_slice()
        } else {
            payload
        };
        socket.socket.send_to(bytes, remote).await.map(drop)
    }

    /// Send a NAT-keepalive from our 4500 socket at `local_ip` (RFC 3948 2.3).
    pub async fn send_keepalive(&self, local_ip: IpAddr, remote: SocketAddr) -> io::Result<()> {
        let Some(index) = self.by_local.get(&SocketAddr::new(local_ip, NAT_T_PORT)) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no NAT-T socket bound to {local_ip}"),
            ));
        };
        let socket = self.list.get(*index).ok_or(io::ErrorKind::NotFound)?;
        socket
            .socket
            .send_to(&nat_t::NAT_KEEPALIVE, remote)
            .await
            .map(drop)
    }

    /// A datagram already queued on socket `index`, without waiting; `None` when there is
    /// none (or on an error, which the next `recv` reports).
    pub fn try_recv(&self, index: usize, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        self.list.get(index)?.socket.try_recv_from(buf).ok()
    }

    /// Wait for a datagram on any socket; returns the socket's index, the sender and the
    /// length written into `buf`.
    pub async fn recv(&mut self, buf: &mut [u8]) -> (usize, io::Result<(usize, SocketAddr)>) {
        let count = self.list.len();
        let start = self.next_poll;
        let list = &self.list;
        let (index, result) = poll_fn(|cx| {
            for step in 0..count {
                let index = (start + step) % count;
                let Some(socket) = list.get(index) else {
                    continue;
                };
                let mut read = ReadBuf::new(buf);
                if let Poll::Ready(result) = socket.socket.poll_recv_from(cx, &mut read) {
                    let result = result.map(|from| (read.filled().len(), from));
                    return Poll::Ready((index, result));
                }
            }
            Poll::Pending
        })
        .await;
        self.next_poll = (index + 1) % count.max(1);
        (index, result)
    }
}

/// Where the kernel lists the UDP sockets of our network namespace, with their drop counters.
const UDP_TABLES: [&str; 2] = ["/proc/self/net/udp", "/proc/self/net/udp6"];

impl Sockets {
    /// Datagrams the kernel dropped on our sockets since they were opened (most often: the
    /// receive buffer was full), the sum of their `drops` column in /proc/net/udp and udp6.
    pub fn kernel_drops(&self) -> io::Result<u64> {
        let mut inodes = Vec::with_capacity(self.list.len());
        for socket in &self.list {
            let stat = nix::sys::stat::fstat(&socket.socket).map_err(io::Error::from)?;
            inodes.push(stat.st_ino);
        }
        let (mut total, mut found) = (0u64, 0usize);
        for table in UDP_TABLES {
            match std::fs::read_to_string(table) {
                Ok(text) => {
                    let (drops, sockets) = drops_of(&text, &inodes);
                    total = total.saturating_add(drops);
                    found += sockets;
                }
                // A kernel without IPv6 has no udp6 table.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io::Error::new(e.kind(), format!("{table}: {e}"))),
            }
        }
        if found < inodes.len() {
            return Err(io::Error::other(format!(
                "{} of our {} sockets not listed in {}",
                inodes.len() - found,
                inodes.len(),
                UDP_TABLES.join(" or ")
            )));
        }
        Ok(total)
    }
}

/// The sum of the `drops` column (the thirteenth) of the lines of a /proc/net/udp table
/// whose `inode` column (the tenth) is one of `inodes`, and how many such lines there were;
/// lines that do not parse are skipped.
pub fn drops_of(table: &str, inodes: &[u64]) -> (u64, usize) {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(9)?.parse().ok()?;
            let drops: u64 = fields.get(12)?.parse().ok()?;
            inodes.contains(&inode).then_some(drops)
        })
        .fold((0u64, 0usize), |(sum, n), drops| {
            (sum.saturating_add(drops), n + 1)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_encap_is_set_to_esp_in_udp() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(getsockopt(&socket, UdpEncap).expect("get"), 0);
        match enable_udp_encap(&socket) {
            Ok(()) => assert_eq!(getsockopt(&socket, UdpEncap).expect("get"), 2),
            // A kernel built without XFRM refuses the option; nothing more to check then.
            Err(nix::errno::Errno::ENOPROTOOPT) => {
                println!("SKIPPED: this kernel has no ESP-in-UDP (UDP_ENCAP refused)")
            }
            Err(e) => panic!("UDP_ENCAP: {e}"),
        }
    }

    #[test]
    fn drops_are_summed_over_our_inodes_only() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  116: 010002C0:01F4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  205: 010002C0:1194 00000000:0000 07 00000000:00043400 00:00000000 00000000     0        0 4243 2 0000000000000000 445
  300: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 999 2 0000000000000000 1000
  301: garbage line
  302: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4244 2 0000000000000000 notanumber
";
        assert_eq!(drops_of(table, &[4242, 4243, 4244]), (462, 2));
        assert_eq!(drops_of(table, &[]), (0, 0));
        assert_eq!(drops_of("", &[4242]), (0, 0));
    }

    #[test]
    fn a_new_socket_has_a_drop_counter_of_zero() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let inode = nix::sys::stat::fstat(&socket).expect("fstat").st_ino;
        let text = std::fs::read_to_string(UDP_TABLES[0]).expect("/proc/self/net/udp");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(9) == Some(&inode.to_string())),
            "inode {inode} not in {text}"
        );
        assert_eq!(drops_of(&text, &[inode]), (0, 1));
    }

    #[tokio::test]
    async fn transmits_leave_from_the_socket_of_their_port_framed_on_4500() {
        // Bound on ephemeral ports, then looked up as if they were 500/4500.
        let ike = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let nat_t = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let local_ike: SocketAddr = "127.0.0.1:500".parse().expect("addr");
        let local_nat_t: SocketAddr = "127.0.0.1:4500".parse().expect("addr");
        let list = vec![
            IkeSocket {
                local: local_ike,
                socket: ike,
            },
            IkeSocket {
                local: local_nat_t,
                socket: nat_t,
            },
        ];
        let by_local = list.iter().enumerate().map(|(i, s)| (s.local, i)).collect();
        let sockets = Sockets {
            list,
            by_local,
            next_poll: 0,
        };
        let remote = peer.local_addr().expect("addr");
        let mut scratch = Vec::new();
        let mut buf = [0u8; 64];

        sockets
            .send_ike(local_ike, remote, b"plain", &mut scratch)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"plain");

        sockets
            .send_ike(local_nat_t, remote, b"framed", &mut scratch)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"\0\0\0\0framed");

        sockets
            .send_keepalive(local_ike.ip(), remote)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], [0xff]);

        let unbound: SocketAddr = "127.0.0.7:500".parse().expect("addr");
        assert!(sockets
            .send_ike(unbound, remote, b"x", &mut scratch)
            .await
            .is_err());
    }
}
