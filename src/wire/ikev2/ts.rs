//! Traffic Selector payloads TSi and TSr (RFC 7296 3.13).
//!
//! ```text
//! Payload body:     0 Number of TSs | 1..4 RESERVED | Traffic Selectors
//! Traffic Selector: 0 TS Type | 1 IP Protocol ID | 2..4 Selector Length
//!                   4..6 Start Port | 6..8 End Port | Starting Address | Ending Address
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::enums::TsType;
use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

/// Selector Length of TS_IPV4_ADDR_RANGE (RFC 7296 3.13.1).
pub const IPV4_SELECTOR_LEN: usize = 16;
/// Selector Length of TS_IPV6_ADDR_RANGE (RFC 7296 3.13.1).
pub const IPV6_SELECTOR_LEN: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// Must agree with the address family of `start` and `end`.
    pub ts_type: TsType,
    /// 0 means any protocol.
    pub ip_protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
    pub start: IpAddr,
    pub end: IpAddr,
}

impl TrafficSelector {
    fn parse(r: &mut Reader<'_>) -> Result<TrafficSelector> {
        const WHAT: &str = "traffic selector";
        let ts_type = TsType::from(r.u8(WHAT)?);
        let ip_protocol = r.u8(WHAT)?;
        let length = usize::from(r.u16(WHAT)?);
        let expected = match ts_type {
            TsType::Ipv4AddrRange => IPV4_SELECTOR_LEN,
            TsType::Ipv6AddrRange => IPV6_SELECTOR_LEN,
            TsType::Unknown(code) => return Err(Error::UnsupportedTsType(code)),
        };
        if length != expected {
            return Err(Error::BadLength { what: WHAT });
        }
        let start_port = r.u16(WHAT)?;
        let end_port = r.u16(WHAT)?;
        let (start, end) = if ts_type == TsType::Ipv4AddrRange {
            let start = Ipv4Addr::from(r.array::<4>(WHAT)?);
            (
                IpAddr::V4(start),
                IpAddr::V4(Ipv4Addr::from(r.array::<4>(WHAT)?)),
            )
        } else {
            let start = Ipv6Addr::from(r.array::<16>(WHAT)?);
            (
                IpAddr::V6(start),
                IpAddr::V6(Ipv6Addr::from(r.array::<16>(WHAT)?)),
            )
        };
        Ok(TrafficSelector {
            ts_type,
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        debug_assert!(
            matches!(
                (self.ts_type, self.start, self.end),
                (TsType::Ipv4AddrRange, IpAddr::V4(_), IpAddr::V4(_))
                    | (TsType::Ipv6AddrRange, IpAddr::V6(_), IpAddr::V6(_))
            ),
            "TS type must match the address family"
        );
        let length = match self.start {
            IpAddr::V4(_) => IPV4_SELECTOR_LEN,
            IpAddr::V6(_) => IPV6_SELECTOR_LEN,
        };
        out.push(self.ts_type.value());
        out.push(self.ip_protocol);
        out.extend_from_slice(&crate::wire::codec::len16(length));
        out.extend_from_slice(&self.start_port.to_be_bytes());
        out.extend_from_slice(&self.end_port.to_be_bytes());
        for address in [self.start, self.end] {
            match address {
                IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
            }
        }
    }
}

pub(crate) fn parse_body(body: &[u8]) -> Result<Vec<TrafficSelector>> {
    const WHAT: &str = "TS payload";
    let mut r = Reader::new(body);
    let count = r.u8(WHAT)?;
    r.skip(3, WHAT)?;
    let mut selectors = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        selectors.push(TrafficSelector::parse(&mut r)?);
    }
    r.finish("last traffic selector")?;
    Ok(selectors)
}

pub(crate) fn emit_body(selectors: &[TrafficSelector], out: &mut Vec<u8>) {
    debug_assert!(
        selectors.len() <= usize::from(u8::MAX),
        "too many traffic selectors"
    );
    out.push(u8::try_from(selectors.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(&[0, 0, 0]);
    for selector in selectors {
        selector.emit(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_selectors() {
        let selectors = vec![
            TrafficSelector {
                ts_type: TsType::Ipv4AddrRange,
                ip_protocol: 0,
                start_port: 0,
                end_port: 65535,
                start: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
                end: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 255)),
            },
            TrafficSelector {
                ts_type: TsType::Ipv6AddrRange,
                ip_protocol: 17,
                start_port: 500,
                end_port: 500,
                start: IpAddr::V6(Ipv6Addr::LOCALHOST),
                end: IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
        ];
        let mut out = Vec::new();
        emit_body(&selectors, &mut out);
        assert_eq!(out.len(), 4 + 16 + 40);
        assert_eq!(&out[..8], &[2, 0, 0, 0, 7, 0, 0, 16]);
        assert_eq!(&out[8..20], &[0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 255]);
        assert_eq!(parse_body(&out), Ok(selectors));
    }

    #[test]
    fn selector_length_must_match_type() {
        let mut bytes = vec![1, 0, 0, 0, 7, 0, 0, 40];
        bytes.extend_from_slice(&[0; 36]);
        assert_eq!(
            parse_body(&bytes),
            Err(Error::BadLength {
                what: "traffic selector"
            })
        );
        let bytes = [1, 0, 0, 0, 9, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(parse_body(&bytes), Err(Error::UnsupportedTsType(9)));
        // Count says two, one present.
        let bytes = [2, 0, 0, 0, 7, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        assert!(parse_body(&bytes).is_err());
    }
}
