//! Status fields kept in their typed form and written straight into the JSON as text (SPIs in
//! hex, traffic selectors as CIDRs, addresses): the daemon builds a snapshot of thousands of
//! SAs without one intermediate `String` per field, and the client reads the same text back.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Room for the longest text built here: an IPv6 CIDR with a protocol and port range, or an
/// IPv6 socket address with a scope id.
const TEXT_CAPACITY: usize = 80;

/// A short text built on the stack; IPv4 addresses and numbers are written without going
/// through `core::fmt`, which dominates the cost of printing thousands of them.
struct ShortText {
    bytes: [u8; TEXT_CAPACITY],
    len: usize,
}

impl ShortText {
    fn new() -> ShortText {
        ShortText {
            bytes: [0; TEXT_CAPACITY],
            len: 0,
        }
    }

    fn push(&mut self, text: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text);
        self.len = end;
        Ok(())
    }

    fn push_decimal(&mut self, value: u32) -> fmt::Result {
        let mut digits = [0u8; 10];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.push(&digits[start..])
    }

    fn push_ipv4(&mut self, address: Ipv4Addr) -> fmt::Result {
        let [a, b, c, d] = address.octets();
        self.push_decimal(a.into())?;
        for octet in [b, c, d] {
            self.push(b".")?;
            self.push_decimal(octet.into())?;
        }
        Ok(())
    }

    fn push_ip(&mut self, address: IpAddr) -> fmt::Result {
        match address {
            IpAddr::V4(v4) => self.push_ipv4(v4),
            IpAddr::V6(v6) => write!(self, "{v6}"),
        }
    }

    fn as_str(&self) -> Result<&str, fmt::Error> {
        let bytes = self.bytes.get(..self.len).ok_or(fmt::Error)?;
        std::str::from_utf8(bytes).map_err(|_| fmt::Error)
    }

    /// Serialise what `build` writes as one JSON string.
    fn serialize<S: Serializer>(
        serializer: S,
        build: impl FnOnce(&mut ShortText) -> fmt::Result,
    ) -> Result<S::Ok, S::Error> {
        let mut text = ShortText::new();
        let overflow = |_| serde::ser::Error::custom("status text longer than expected");
        build(&mut text).map_err(overflow)?;
        serializer.serialize_str(text.as_str().map_err(overflow)?)
    }
}

impl fmt::Write for ShortText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text.as_bytes())
    }
}

/// Serialise a socket address as its `Display` form ("192.0.2.1:4500", "[2001:db8::1]:500").
pub fn serialize_socket_address<S: Serializer>(
    address: &SocketAddr,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    ShortText::serialize(serializer, |text| match address {
        SocketAddr::V4(v4) => {
            text.push_ipv4(*v4.ip())?;
            text.push(b":")?;
            text.push_decimal(v4.port().into())
        }
        SocketAddr::V6(v6) => write!(text, "{v6}"),
    })
}

/// `value` as exactly `N` lowercase hex digits (the low `4 * N` bits).
fn hex<const N: usize>(value: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    let mut rest = value;
    for digit in out.iter_mut().rev() {
        *digit = HEX_DIGITS[(rest & 0xf) as usize];
        rest >>= 4;
    }
    out
}

fn parse_hex<E: serde::de::Error>(text: &str, digits: usize, what: &str) -> Result<u64, E> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(E::custom(format!(
            "{what} {text:?} is not {digits} hex digits"
        )));
    }
    u64::from_str_radix(text, 16).map_err(E::custom)
}

/// An IKE SPI: 16 hex digits, e.g. "0123456789abcdef".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeSpi(pub u64);

/// An ESP SPI: 8 hex digits, e.g. "c1a2b3c4".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspSpi(pub u32);

impl IkeSpi {
    fn digits(self) -> [u8; 16] {
        hex(self.0)
    }
}

impl EspSpi {
    fn digits(self) -> [u8; 8] {
        hex(u64::from(self.0))
    }
}

macro_rules! spi_text {
    ($spi:ident, $width:literal, $what:literal, $inner:ty) => {
        impl fmt::Display for $spi {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!("{:0", $width, "x}"), self.0)
            }
        }

        impl Serialize for $spi {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let digits = self.digits();
                // Only hex digits: always UTF-8.
                let text = std::str::from_utf8(&digits).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(text)
            }
        }

        impl<'de> Deserialize<'de> for $spi {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
                let value = parse_hex::<D::Error>(&text, $width, $what)?;
                <$inner>::try_from(value)
                    .map($spi)
                    .map_err(|_| D::Error::custom(concat!($what, " out of range")))
            }
        }
    };
}

spi_text!(IkeSpi, 16, "IKE SPI", u64);
spi_text!(EspSpi, 8, "ESP SPI", u32);

/// The engine's traffic selector, written as its `Display` writes it: "172.16.0.0/16",
/// "172.16.0.0/16[6/443]", "172.16.0.0/16[17/500-4500]"; parsed back from that here.
pub use crate::ike::Selector;

impl FromStr for Selector {
    type Err = String;

    fn from_str(text: &str) -> Result<Selector, String> {
        let bad = || format!("traffic selector {text:?} is not CIDR[protocol/ports]");
        let (net, ports) = match text.split_once('[') {
            None => (text, None),
            Some((net, rest)) => (net, Some(rest.strip_suffix(']').ok_or_else(bad)?)),
        };
        let net: IpNet = net.parse().map_err(|_| bad())?;
        let Some(ports) = ports else {
            return Ok(Selector {
                net,
                protocol: 0,
                start_port: 0,
                end_port: u16::MAX,
            });
        };
        let (protocol, range) = ports.split_once('/').ok_or_else(bad)?;
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        Ok(Selector {
            net,
            protocol: protocol.parse().map_err(|_| bad())?,
            start_port: start.parse().map_err(|_| bad())?,
            end_port: end.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Selector {
    /// The `Display` form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ShortText::serialize(serializer, |text| {
            text.push_ip(self.net.addr())?;
            text.push(b"/")?;
            text.push_decimal(self.net.prefix_len().into())?;
            if *self == Selector::subnet(self.net) {
                return Ok(());
            }
            text.push(b"[")?;
            text.push_decimal(self.protocol.into())?;
            text.push(b"/")?;
            text.push_decimal(self.start_port.into())?;
            if self.start_port != self.end_port {
                text.push(b"-")?;
                text.push_decimal(self.end_port.into())?;
            }
            text.push(b"]")
        })
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        std::borrow::Cow::<str>::deserialize(deserializer)?
            .parse()
            .map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(text: &str) -> Selector {
        text.parse().expect("selector")
    }

    #[test]
    fn spis_are_full_width_lowercase_hex_both_ways() {
        let ike = IkeSpi(0x0123_4567_89ab_cdef);
        let esp = EspSpi(0xc1a2_b3c4);
        assert_eq!(
            serde_json::to_string(&ike).expect("json"),
            "\"0123456789abcdef\""
        );
        assert_eq!(
            serde_json::to_string(&EspSpi(0x42)).expect("json"),
            "\"00000042\""
        );
        assert_eq!(ike.to_string(), "0123456789abcdef");
        assert_eq!(EspSpi(0x42).to_string(), "00000042");
        let back: IkeSpi = serde_json::from_str("\"0123456789abcdef\"").expect("ike spi");
        assert_eq!(back, ike);
        let back: EspSpi = serde_json::from_str("\"c1a2b3c4\"").expect("esp spi");
        assert_eq!(back, esp);
        for bad in [
            "\"c1a2b3\"",
            "\"c1a2b3c4c1\"",
            "\"c1a2b3cx\"",
            "\"+1a2b3c4\"",
            "7",
        ] {
            assert!(serde_json::from_str::<EspSpi>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<IkeSpi>("\"c1a2b3c4\"").is_err());
    }

    #[derive(Serialize)]
    struct Address(#[serde(serialize_with = "serialize_socket_address")] SocketAddr);

    #[test]
    fn socket_addresses_are_written_as_displayed() {
        for text in [
            "0.0.0.0:0",
            "192.0.2.1:500",
            "255.255.255.255:65535",
            "10.0.100.7:4500",
            "[2001:db8::1]:500",
            "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
            "[::ffff:192.0.2.1]:4500",
        ] {
            let address: SocketAddr = text.parse().expect("address");
            assert_eq!(
                serde_json::to_string(&Address(address)).expect("json"),
                format!("\"{address}\""),
                "{text}"
            );
        }
    }

    #[test]
    fn selectors_print_ports_only_when_narrowed_and_parse_back() {
        for (text, protocol, start, end) in [
            ("172.16.0.0/16", 0, 0, u16::MAX),
            ("10.1.2.0/24[6/443]", 6, 443, 443),
            ("2001:db8::/32[17/500-4500]", 17, 500, 4500),
            ("10.0.0.1/32[0/0-1023]", 0, 0, 1023),
        ] {
            let parsed = selector(text);
            assert_eq!(
                (parsed.protocol, parsed.start_port, parsed.end_port),
                (protocol, start, end),
                "{text}"
            );
            assert_eq!(parsed.to_string(), text);
            assert_eq!(
                serde_json::to_string(&parsed).expect("json"),
                format!("\"{text}\"")
            );
            let back: Selector = serde_json::from_str(&format!("\"{text}\"")).expect("back");
            assert_eq!(back, parsed);
        }
        let widest = Selector {
            net: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
                .parse()
                .expect("net"),
            protocol: 255,
            start_port: 65534,
            end_port: 65535,
        };
        assert_eq!(
            serde_json::to_string(&widest).expect("json"),
            format!("\"{widest}\"")
        );
        for bad in [
            "",
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/8[",
            "10.0.0.0/8[6]",
            "10.0.0.0/8[6/x]",
            "10.0.0.0/8[256/1]",
            "10.0.0.0/8[6/1-70000]",
            "10.0.0.0/8[6/1]x",
        ] {
            assert!(bad.parse::<Selector>().is_err(), "{bad:?}");
        }
    }
}
