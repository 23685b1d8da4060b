//! Stateless cookies against IKE_SA_INIT floods (RFC 7296 2.6).

use std::net::IpAddr;

use ring::digest;

const SECRET_VERSION: u8 = 1;

/// Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>).
pub fn compute(secret: &[u8; 32], ni: &[u8], initiator: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(ni);
    match initiator {
        IpAddr::V4(v4) => ctx.update(&v4.octets()),
        IpAddr::V6(v6) => ctx.update(&v6.octets()),
    }
    ctx.update(&spi_i.to_be_bytes());
    ctx.update(secret);
    let mut cookie = vec![SECRET_VERSION];
    cookie.extend_from_slice(ctx.finish().as_ref());
    cookie
}

pub fn verify(secret: &[u8; 32], ni: &[u8], initiator: IpAddr, spi_i: u64, cookie: &[u8]) -> bool {
    let expected = compute(secret, ni, initiator, spi_i);
    subtle::ConstantTimeEq::ct_eq(expected.as_slice(), cookie).into()
}
