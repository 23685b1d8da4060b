//! The NAT-T port's framing: IKE on UDP 4500 carries a four-octet zero non-ESP marker in front
//! of the IKE header, and a single 0xFF octet is a NAT-keepalive (RFC 3948 2.2, 2.3).

/// Prepended to every IKE message sent on port 4500 (RFC 3948 2.2).
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];

/// The NAT-keepalive payload (RFC 3948 2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];

/// What a datagram received on port 4500 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatTDatagram<'a> {
    /// An IKE message, the marker already stripped.
    Ike(&'a [u8]),
    /// A NAT-keepalive: nothing to do but count it.
    Keepalive,
    /// Neither: no marker (ESP the kernel did not take, or garbage).
    BadMarker,
}

/// Classify a datagram received on port 4500.
pub fn classify(datagram: &[u8]) -> NatTDatagram<'_> {
    if datagram == NAT_KEEPALIVE {
        return NatTDatagram::Keepalive;
    }
    match datagram.split_first_chunk::<4>() {
        Some((marker, ike)) if *marker == NON_ESP_MARKER => NatTDatagram::Ike(ike),
        _ => NatTDatagram::BadMarker,
    }
}

/// Put `payload` behind the marker into `out` (reused between sends).
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&NON_ESP_MARKER);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_stripped_from_ike() {
        assert_eq!(
            classify(&[0, 0, 0, 0, 0x11, 0x22]),
            NatTDatagram::Ike(&[0x11, 0x22])
        );
        assert_eq!(classify(&[0, 0, 0, 0]), NatTDatagram::Ike(&[]));
    }

    #[test]
    fn single_ff_is_a_keepalive() {
        assert_eq!(classify(&[0xff]), NatTDatagram::Keepalive);
    }

    #[test]
    fn anything_else_is_a_bad_marker() {
        for bad in [
            &[][..],
            &[0],
            &[0, 0, 0],
            &[0xff, 0xff],
            &[0, 0, 0, 1, 0],
            &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1],
            &[0xfe],
        ] {
            assert_eq!(classify(bad), NatTDatagram::BadMarker, "{bad:?}");
        }
    }

    #[test]
    fn frame_prepends_the_marker_and_reuses_the_buffer() {
        let mut out = vec![9, 9, 9, 9, 9, 9, 9];
        frame(&[1, 2, 3], &mut out);
        assert_eq!(out, [0, 0, 0, 0, 1, 2, 3]);
        assert_eq!(classify(&out), NatTDatagram::Ike(&[1, 2, 3]));
    }
}
