//! Configuration payload (RFC 7296 3.15).
//!
//! ```text
//! Payload body: 0 CFG Type | 1..4 RESERVED | Configuration Attributes
//! Attribute:    R bit | 15-bit Attribute Type | 2..4 Length | Value
//! ```

use super::enums::{CfgType, ConfigAttributeType};
use crate::wire::codec::{len16, Reader};
use crate::wire::Result;

/// The R bit of an attribute is reserved (RFC 7296 3.15.1): ignored on receipt, sent as zero.
const ATTRIBUTE_TYPE_MASK: u16 = 0x7fff;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub cfg_type: CfgType,
    pub attributes: Vec<ConfigAttribute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttribute {
    pub attr_type: ConfigAttributeType,
    /// Empty in a CFG_REQUEST that asks for any value.
    pub value: Vec<u8>,
}

impl Configuration {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Configuration> {
        const WHAT: &str = "CP payload";
        let mut r = Reader::new(body);
        let cfg_type = CfgType::from(r.u8(WHAT)?);
        r.skip(3, WHAT)?;
        let mut attributes = Vec::new();
        while !r.is_empty() {
            let attr_type = ConfigAttributeType::from(r.u16(WHAT)? & ATTRIBUTE_TYPE_MASK);
            let len = usize::from(r.u16(WHAT)?);
            let value = r.take(len, "configuration attribute")?.to_vec();
            attributes.push(ConfigAttribute { attr_type, value });
        }
        Ok(Configuration {
            cfg_type,
            attributes,
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.cfg_type.value());
        out.extend_from_slice(&[0, 0, 0]);
        for attribute in &self.attributes {
            let attr_type = attribute.attr_type.value() & ATTRIBUTE_TYPE_MASK;
            out.extend_from_slice(&attr_type.to_be_bytes());
            out.extend_from_slice(&len16(attribute.value.len()));
            out.extend_from_slice(&attribute.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_for_an_address_and_dns() {
        let body = [1, 0, 0, 0, 0, 1, 0, 0, 0x80, 3, 0, 4, 10, 0, 0, 53];
        let cp = Configuration::parse_body(&body).expect("valid");
        assert_eq!(cp.cfg_type, CfgType::Request);
        assert_eq!(cp.attributes.len(), 2);
        assert_eq!(
            cp.attributes[0].attr_type,
            ConfigAttributeType::InternalIp4Address
        );
        assert!(cp.attributes[0].value.is_empty());
        // The R bit is ignored.
        assert_eq!(
            cp.attributes[1].attr_type,
            ConfigAttributeType::InternalIp4Dns
        );
        assert_eq!(cp.attributes[1].value, vec![10, 0, 0, 53]);
        assert!(Configuration::parse_body(&[1, 0, 0, 0, 0, 1, 0, 4, 1]).is_err());
    }
}
