//! The configuration reference, docs/ikehub.toml.5.md, documents every key the parser accepts:
//! a key added to `raw.rs` without its entry in the page fails here.

use super::raw::{CONNECTION_KEYS, GATEWAY_KEYS, PEER_KEYS, ROUTE_KEYS, TOP_KEYS};

const PAGE: &str = include_str!("../../docs/ikehub.toml.5.md");

/// The heading of a top-level key's section: `[gateway]` (one table), `[[peer]]` (an array).
fn heading(top: &str) -> String {
    if top == "gateway" {
        format!("[{top}]")
    } else {
        format!("[[{top}]]")
    }
}

/// The keys of each section the parser reads, by top-level key.
fn sections() -> [(&'static str, &'static [&'static str]); 4] {
    [
        ("gateway", GATEWAY_KEYS),
        ("peer", PEER_KEYS),
        ("connection", CONNECTION_KEYS),
        ("route", ROUTE_KEYS),
    ]
}

/// The lines of the section under the `# HEADING` line, up to the next `# ` heading.
fn section<'a>(page: &'a str, heading: &str) -> Option<Vec<&'a str>> {
    let mut lines = page.lines();
    lines.find(|line| line.strip_prefix("# ") == Some(heading))?;
    Some(lines.take_while(|line| !line.starts_with("# ")).collect())
}

/// Every key the parser accepts that the page does not document, as `section.key`. A key is
/// documented by an entry line starting with it in backquotes, in its section.
fn undocumented(page: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for top in TOP_KEYS {
        let Some((_, keys)) = sections().into_iter().find(|(name, _)| name == top) else {
            missing.push(format!("{top} (no key list in this test)"));
            continue;
        };
        let Some(lines) = section(page, &heading(top)) else {
            missing.push(format!("{top} (no `# {}` section)", heading(top)));
            continue;
        };
        for key in keys {
            let entry = format!("`{key}` ");
            if !lines.iter().any(|line| line.starts_with(&entry)) {
                missing.push(format!("{top}.{key}"));
            }
        }
    }
    missing
}

#[test]
fn the_reference_documents_every_key() {
    assert_eq!(undocumented(PAGE), Vec::<String>::new());
}

#[test]
fn a_missing_key_is_found() {
    let without_dpd: String = PAGE
        .lines()
        .filter(|line| !line.starts_with("`dpd_interval`"))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(undocumented(&without_dpd), ["connection.dpd_interval"]);
    // A key documented under another section does not count.
    let no_route_section = PAGE.replace("# [[route]]", "# ROUTES");
    assert_eq!(
        undocumented(&no_route_section),
        ["route (no `# [[route]]` section)"]
    );
}
