//! The codec target: arbitrary bytes to the IKEv2 message and payload-chain parsers. Whatever
//! parses must re-emit to bytes that parse to the same value (the parser never panics, see
//! `wire`).

use crate::wire::ikev2::{emit_message, emit_payloads, parse_message, parse_payloads, PayloadType};

pub fn run(data: &[u8]) {
    if let Ok(msg) = parse_message(data) {
        let again = emit_message(&msg.header, &msg.payloads);
        let reparsed = parse_message(&again).expect("re-emitted message parses");
        assert_eq!(reparsed.payloads, msg.payloads);
        if let Some((prefix, body)) = msg.split_encrypted(data) {
            assert_eq!(prefix.len() + body.len(), data.len());
        }
    }
    // The first octet picks the first payload type, the rest is a decrypted inner chain.
    if let Some((&first, chain)) = data.split_first() {
        if let Ok(payloads) = parse_payloads(PayloadType::from(first), chain) {
            let (first_again, again) = emit_payloads(&payloads);
            assert_eq!(parse_payloads(first_again, &again), Ok(payloads));
        }
    }
}
