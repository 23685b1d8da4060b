//! The IKEv1 codec target: arbitrary bytes to the ISAKMP message and payload-chain parsers.
//! Whatever parses must re-emit to bytes that parse to the same value, and every payload's
//! position must lie within the bytes it was parsed from (the parser never panics, see
//! `wire`).

use crate::wire::ikev1::{
    emit_message, emit_payloads, parse_message, parse_payloads, Chain, Header, Payload, PayloadType,
};

/// Positions are ordered, within the bytes, and cover each payload's generic header.
fn check_positions(chain: &Chain, base: usize, len: usize) {
    let mut previous_end = base;
    for span in &chain.payloads {
        assert_eq!(span.start, previous_end, "payloads follow each other");
        assert!(span.body_start() <= span.end, "a payload holds its header");
        previous_end = span.end;
    }
    assert_eq!(chain.payload_end, previous_end);
    assert!(chain.payload_end <= len);
}

fn payloads(chain: &Chain) -> Vec<Payload> {
    chain.payloads().cloned().collect()
}

pub fn run(data: &[u8]) {
    if let Ok(header) = Header::parse(data) {
        let mut again = Vec::new();
        header.emit(&mut again);
        assert_eq!(Header::parse(&again), Ok(header));
    }
    if let Ok(msg) = parse_message(data) {
        check_positions(&msg.chain, Header::LEN, data.len());
        let original = payloads(&msg.chain);
        let mut body = Vec::new();
        let first = emit_payloads(&original, &mut body);
        assert_eq!(first, msg.header.next_payload);
        let again = emit_message(&msg.header, first, &body);
        let reparsed = parse_message(&again).expect("re-emitted message parses");
        assert_eq!(
            reparsed.header,
            Header {
                length: u32::try_from(again.len()).unwrap_or(u32::MAX),
                ..msg.header
            }
        );
        assert_eq!(payloads(&reparsed.chain), original);
        assert_eq!(reparsed.chain.payload_end, again.len());
    }
    // The first octet picks the first payload type, the rest is a decrypted body.
    if let Some((&first, body)) = data.split_first() {
        if let Ok(chain) = parse_payloads(PayloadType::from(first), body) {
            check_positions(&chain, 0, body.len());
            let original = payloads(&chain);
            let mut again = Vec::new();
            let first_again = emit_payloads(&original, &mut again);
            let reparsed = parse_payloads(first_again, &again).expect("re-emitted chain parses");
            assert_eq!(payloads(&reparsed), original);
            assert_eq!(reparsed.payload_end, again.len());
        }
    }
}
