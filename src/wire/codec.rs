//! Checked reading and length-patching writing, shared by every codec in `wire`.

use super::{Error, Result};

/// A cursor over untrusted bytes. Every read is bounds-checked and reports what was being read
/// when the data ran out.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `len` bytes.
    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(len).ok_or(Error::Truncated { what })?;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or(Error::Truncated { what })?;
        self.pos = end;
        Ok(bytes)
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let bytes = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        bytes
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Skips RESERVED octets: RFC 7296 3.2 and following say they MUST be ignored on receipt.
    pub(crate) fn skip(&mut self, len: usize, what: &'static str) -> Result<()> {
        self.take(len, what).map(|_| ())
    }

    /// A sub-reader over a region whose total length (`total`, including the `header_len`
    /// octets already read) came from a length field. Fails unless
    /// `header_len <= total <= header_len + remaining`.
    pub(crate) fn sub(
        &mut self,
        total: usize,
        header_len: usize,
        what: &'static str,
    ) -> Result<Reader<'a>> {
        let body_len = total
            .checked_sub(header_len)
            .ok_or(Error::BadLength { what })?;
        if body_len > self.remaining() {
            return Err(Error::BadLength { what });
        }
        Ok(Reader::new(self.take(body_len, what)?))
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self, what: &'static str) -> Result<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingData { what })
        }
    }
}

/// Appends a 16-bit length placeholder and returns where it is, for [`patch_len16`].
pub(crate) fn reserve_len16(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    at
}

/// Writes the length of everything from `start` to the end of `out` into the placeholder at
/// `at`. Lengths beyond 65535 cannot be represented; our own messages stay far below (the
/// largest IKE datagram we build is bounded by the path MTU or the fragment size), so the
/// value saturates instead of wrapping.
pub(crate) fn patch_len16(out: &mut [u8], at: usize, start: usize) {
    let len = out.len().saturating_sub(start);
    debug_assert!(
        len <= usize::from(u16::MAX),
        "structure too long for a 16-bit length"
    );
    let len = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
    if let Some(slot) = out.get_mut(at..at.saturating_add(2)) {
        slot.copy_from_slice(&len);
    }
}

/// A length known in advance, saturated to 16 bits (see [`patch_len16`]).
pub(crate) fn len16(len: usize) -> [u8; 2] {
    debug_assert!(
        len <= usize::from(u16::MAX),
        "structure too long for a 16-bit length"
    );
    u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a"), Ok(0x0102));
        assert_eq!(r.u16("b"), Err(Error::Truncated { what: "b" }));
        assert_eq!(r.u8("c"), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.take(usize::MAX, "d"), Err(Error::Truncated { what: "d" }));
    }

    #[test]
    fn sub_checks_declared_length() {
        let mut r = Reader::new(&[0; 6]);
        assert_eq!(
            r.clone().sub(3, 4, "x").err(),
            Some(Error::BadLength { what: "x" })
        );
        assert_eq!(
            r.clone().sub(11, 4, "x").err(),
            Some(Error::BadLength { what: "x" })
        );
        let sub = r.sub(10, 4, "x").map(|s| s.remaining());
        assert_eq!(sub, Ok(6));
    }

    #[test]
    fn length_patching() {
        let mut out = vec![9];
        let at = reserve_len16(&mut out);
        out.extend_from_slice(&[7; 300]);
        patch_len16(&mut out, at, 0);
        assert_eq!(&out[1..3], &[0x01, 0x2f]);
    }
}
