//! A stable content fingerprint (64-bit FNV-1a) for cache stamps: rebuild a
//! cached artefact when the fingerprint of its inputs changes.

#[derive(Clone)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        // a separator, so that ("ab", "c") and ("a", "bc") differ
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        self
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_value_and_field_separation() {
        assert_eq!(Fingerprint::default().hex(), "cbf29ce484222325");
        let mut ab_c = Fingerprint::default();
        ab_c.add(b"ab").add(b"c");
        let mut a_bc = Fingerprint::default();
        a_bc.add(b"a").add(b"bc");
        assert_ne!(ab_c.hex(), a_bc.hex());
        let mut again = Fingerprint::default();
        again.add(b"ab").add(b"c");
        assert_eq!(ab_c.hex(), again.hex());
    }
}
