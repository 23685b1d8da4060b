//! NAT detection hashes (RFC 7296 2.23).

use std::net::{IpAddr, SocketAddr};

use ring::digest;

/// SHA-1(SPIi | SPIr | IP | Port), as carried in NAT_DETECTION_*_IP notifies.
pub fn detection_hash(spi_i: u64, spi_r: u64, addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(&spi_r.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}
