//! Writing netlink attributes (`struct nlattr`: length, type, value, padding to 4 bytes) for
//! the rtnetlink messages of this module.

/// Marks an attribute whose value is itself a list of attributes.
pub(super) const NLA_F_NESTED: u16 = 0x8000;

const NLA_HDRLEN: usize = 4;

fn pad(buf: &mut Vec<u8>) {
    while buf.len() % 4 != 0 {
        buf.push(0);
    }
}

/// Appends one attribute. Values here are a few bytes; a value too long for the 16-bit
/// length field is a programming error and is truncated in the length (never happens).
pub(super) fn put(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(NLA_HDRLEN + value.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    pad(buf);
}

pub(super) fn put_u32(buf: &mut Vec<u8>, kind: u16, value: u32) {
    put(buf, kind, &value.to_ne_bytes());
}

/// A NUL-terminated string attribute (interface names, link kinds).
pub(super) fn put_str(buf: &mut Vec<u8>, kind: u16, value: &str) {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    put(buf, kind, &bytes);
}

/// Starts a nested attribute; returns the offset to pass to [`end_nested`].
pub(super) fn begin_nested(buf: &mut Vec<u8>, kind: u16) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&0u16.to_ne_bytes());
    buf.extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    start
}

/// Writes the length of the nested attribute started at `start`.
pub(super) fn end_nested(buf: &mut [u8], start: usize) {
    let len = u16::try_from(buf.len().saturating_sub(start)).unwrap_or(u16::MAX);
    if let Some(field) = buf.get_mut(start..start.saturating_add(2)) {
        field.copy_from_slice(&len.to_ne_bytes());
    }
}

/// The string value of an attribute, without its terminating NUL.
pub(super) fn string(value: &[u8]) -> String {
    let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::attributes;

    #[test]
    fn nested_attributes_round_trip() {
        let mut buf = Vec::new();
        put_str(&mut buf, 3, "ikh-a");
        let start = begin_nested(&mut buf, 18);
        put_str(&mut buf, 1, "xfrm");
        put_u32(&mut buf, 2, 42);
        end_nested(&mut buf, start);
        assert_eq!(buf.len() % 4, 0);
        let top: Vec<(u16, &[u8])> = attributes(&buf).collect();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0], (3, &b"ikh-a\0"[..]));
        assert_eq!(top[1].0, 18, "flag bits are masked off when reading");
        assert_eq!(&buf[12 + 2..12 + 4], &(18 | NLA_F_NESTED).to_ne_bytes());
        let inner: Vec<(u16, &[u8])> = attributes(top[1].1).collect();
        assert_eq!(
            inner,
            vec![(1, &b"xfrm\0"[..]), (2, &42u32.to_ne_bytes()[..])]
        );
        assert_eq!(string(inner[0].1), "xfrm");
    }
}
