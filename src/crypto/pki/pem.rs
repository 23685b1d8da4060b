//! PEM text with one block or several (a certificate and its chain, a CA bundle, a CRL file,
//! "EC PARAMETERS" before an "EC PRIVATE KEY"), each block decoded by `pem-rfc7468`.

use der::pem;
use zeroize::Zeroizing;

/// One `-----BEGIN label-----` ... `-----END label-----` block, decoded.
pub(super) struct PemBlock {
    pub(super) label: String,
    /// Zeroized on drop: the block may be a private key.
    pub(super) der: Zeroizing<Vec<u8>>,
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// Whether the bytes hold PEM rather than DER: PEM has a BEGIN boundary, and no certificate or
/// CRL a CA issues carries one inside its DER.
pub(super) fn is_pem(bytes: &[u8]) -> bool {
    find(bytes, BEGIN).is_some()
}

/// Every block in file order. Text between blocks (OpenSSL's "subject=..." lines in a
/// bundle, comments) is skipped; a block that does not decode is an error naming its
/// position and label.
pub(super) fn pem_blocks(text: &[u8]) -> Result<Vec<PemBlock>, String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(begin) = find(rest, BEGIN) {
        let block = &rest[begin..];
        let number = blocks.len() + 1;
        let end = find(block, END).ok_or_else(|| format!("PEM block {number} has no END line"))?;
        let after_end = &block[end + END.len()..];
        let label_end = find(after_end, DASHES)
            .ok_or_else(|| format!("PEM block {number} has an unfinished END line"))?;
        let block_len = end + END.len() + label_end + DASHES.len();
        blocks.push(decode_block(&block[..block_len], number)?);
        rest = &block[block_len..];
    }
    Ok(blocks)
}

fn decode_block(block: &[u8], number: usize) -> Result<PemBlock, String> {
    // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") are what OpenSSL writes for keys encrypted
    // with a passphrase; RFC 7468 has no headers, so say what they most likely mean.
    if find(block, b"Proc-Type:").is_some() {
        return Err(format!(
            "PEM block {number} is encrypted with a passphrase: decrypt it with openssl pkey"
        ));
    }
    // The strict 64-column reader first (constant time, which matters for keys); other line
    // widths, which some tools write, through the detecting reader.
    let mut decoder = pem::Decoder::new(block)
        .or_else(|_| pem::Decoder::new_detect_wrap(block))
        .map_err(|error| format!("PEM block {number} does not decode: {error}"))?;
    let label = decoder.type_label().to_string();
    let mut der = Zeroizing::new(vec![0u8; decoder.remaining_len()]);
    let decoded_len = decoder
        .decode(der.as_mut_slice())
        .map_err(|error| format!("PEM block {number} ({label}) does not decode: {error}"))?
        .len();
    der.truncate(decoded_len);
    Ok(PemBlock { label, der })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "-----BEGIN TEST-----\nAQID\n-----END TEST-----\n";

    #[test]
    fn blocks_between_text_are_found_in_order() {
        let text = format!(
            "subject=CN=x\n{ONE}\nsome words\n{}",
            ONE.replace("TEST", "OTHER").replace("AQID", "BAUG")
        );
        let blocks = pem_blocks(text.as_bytes()).expect("two blocks");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "TEST");
        assert_eq!(blocks[0].der.as_slice(), &[1, 2, 3]);
        assert_eq!(blocks[1].label, "OTHER");
        assert_eq!(blocks[1].der.as_slice(), &[4, 5, 6]);
    }

    #[test]
    fn crlf_and_no_final_newline_decode() {
        let text = ONE.replace('\n', "\r\n");
        let blocks = pem_blocks(text.trim_end().as_bytes()).expect("one block");
        assert_eq!(blocks[0].der.as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn broken_blocks_are_errors() {
        assert!(pem_blocks(b"-----BEGIN TEST-----\nAQID\n").is_err());
        assert!(pem_blocks(b"-----BEGIN TEST-----\n!!!!\n-----END TEST-----\n").is_err());
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                         DEK-Info: AES-128-CBC,00\n\nAQID\n-----END RSA PRIVATE KEY-----\n";
        let error = pem_blocks(encrypted.as_bytes()).err().unwrap_or_default();
        assert!(error.contains("passphrase"), "{error}");
        assert!(pem_blocks(b"no pem here").expect("no error").is_empty());
        assert!(!is_pem(&[0x30, 0x03, 0x02, 0x01, 0x00]));
    }
}
