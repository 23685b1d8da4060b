//! DNS names for peer addresses, checked by their syntax alone (RFC 1123 2.1 host names):
//! the configuration is checked without the network, and a name that does not resolve today
//! may resolve tomorrow.

/// Longest name in presentation form, without the trailing dot (RFC 1035 2.3.4: 255 octets
/// on the wire).
const MAX_NAME: usize = 253;
/// Longest label (RFC 1035 2.3.4).
const MAX_LABEL: usize = 63;

/// The name, lower-cased and without a trailing dot, or why it is not a host name. Labels are
/// letters, digits and hyphens, 1 to 63 of them, neither starting nor ending with a hyphen;
/// the last label is not all digits, so a mistyped IPv4 address (`192.0.2.300`) is refused
/// rather than looked up.
pub fn parse(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "the name is {} characters long, more than {MAX_NAME}",
            name.len()
        ));
    }
    for label in name.split('.') {
        check_label(label)?;
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "its last label \"{last}\" is all digits (neither an IP address nor a host name)"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label (two dots in a row, or a leading dot)".into());
    }
    if label.len() > MAX_LABEL {
        return Err(format!(
            "its label \"{label}\" is {} characters long, more than {MAX_LABEL}",
            label.len()
        ));
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && *c != '-')
    {
        return Err(format!(
            "{bad:?} is not allowed in a host name (letters, digits, hyphens and dots only)"
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!(
            "its label \"{label}\" starts or ends with a hyphen"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn host_names_are_accepted_lower_cased() {
        assert_eq!(parse("Office.Example.COM"), Ok("office.example.com".into()));
        assert_eq!(parse("vpn-1.example.net."), Ok("vpn-1.example.net".into()));
        assert_eq!(parse("gateway"), Ok("gateway".into()));
        assert_eq!(parse("3com.example"), Ok("3com.example".into()));
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        for (text, reason) in [
            ("", "empty"),
            ("office..example", "empty label"),
            (".example", "empty label"),
            ("office_1.example", "'_' is not allowed"),
            ("office example", "' ' is not allowed"),
            ("-office.example", "hyphen"),
            ("office-.example", "hyphen"),
            ("192.0.2.300", "all digits"),
            ("1.2.3", "all digits"),
            ("http://office.example", "':' is not allowed"),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
        let long_label = format!("{}.example", "a".repeat(64));
        assert!(parse(&long_label).is_err_and(|e| e.contains("more than 63")));
        let long_name = ["abcdefghij"; 25].join(".");
        assert!(parse(&long_name).is_err_and(|e| e.contains("more than 253")));
    }
}
