//! The manual pages written in markdown (docs/*.md) rendered to roff for `man`.
//!
//! Only the markdown the pages use, so that the source reads well as plain text and on a
//! forge, and anything else is an error rather than a page that renders wrong:
//!
//! - `# HEADING` (`.SH`) and `## Heading` (`.SS`);
//! - paragraphs, separated by blank lines;
//! - definitions: a term line followed by lines of which the first starts with `: `
//!   (pandoc's definition lists), rendered as `.TP`;
//! - lists: lines starting with `- `;
//! - fenced code blocks (```` ``` ````), shown as they are;
//! - inline `` `code` `` and `**strong**` in bold, `*emphasis*` in italics.

/// The `.TH` line's fields.
pub struct Title<'a> {
    /// The page's name, e.g. `ikehub.toml`.
    pub name: &'a str,
    /// The manual section, e.g. `5`.
    pub section: &'a str,
    /// When the page was last changed, e.g. `2026-12-07`.
    pub date: &'a str,
    /// What the page documents, e.g. `ikehub 0.1.0`.
    pub source: &'a str,
    /// The manual's title, e.g. `File Formats`.
    pub manual: &'a str,
}

/// Renders a page. Errors name the markdown line.
pub fn to_roff(markdown: &str, title: &Title<'_>) -> Result<String, String> {
    let mut out = format!(
        ".TH {} {} {} {} {}\n",
        quote(&title.name.to_uppercase()),
        quote(title.section),
        quote(title.date),
        quote(title.source),
        quote(title.manual)
    );
    for block in blocks(markdown)? {
        render_block(&block, &mut out)?;
    }
    Ok(out)
}

/// A run of lines between blank lines, or a code block; `first` is the first line's number.
struct Block<'a> {
    first: usize,
    lines: Vec<&'a str>,
    code: bool,
}

fn blocks(markdown: &str) -> Result<Vec<Block<'_>>, String> {
    let mut blocks = Vec::new();
    let mut current: Option<Block<'_>> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let in_code = current.as_ref().is_some_and(|block| block.code);
        if line.trim_end() == "```" {
            // A fence ends the block before it, and opens a code block unless it closes one.
            blocks.extend(current.take());
            if !in_code {
                current = Some(Block {
                    first: number,
                    lines: Vec::new(),
                    code: true,
                });
            }
        } else if line.starts_with("```") {
            return Err(format!(
                "line {number}: only plain ``` fences are supported"
            ));
        } else if let Some(block) = current.as_mut().filter(|block| block.code) {
            block.lines.push(line);
        } else if line.trim().is_empty() {
            blocks.extend(current.take());
        } else {
            current
                .get_or_insert_with(|| Block {
                    first: number,
                    lines: Vec::new(),
                    code: false,
                })
                .lines
                .push(line);
        }
    }
    match current {
        Some(block) if block.code => Err(format!(
            "line {}: the code block is not closed",
            block.first
        )),
        rest => {
            blocks.extend(rest);
            Ok(blocks)
        }
    }
}

fn render_block(block: &Block<'_>, out: &mut String) -> Result<(), String> {
    if block.code {
        out.push_str(".PP\n.RS 4\n.nf\n");
        for line in &block.lines {
            push_text_line(out, &escape(line));
        }
        out.push_str(".fi\n.RE\n");
        return Ok(());
    }
    let mut lines = block.lines.iter().enumerate().peekable();
    // Whether the next plain line starts a paragraph: at the block's start or after a heading.
    let mut fresh = true;
    while let Some((offset, line)) = lines.next() {
        let was_fresh = std::mem::replace(&mut fresh, false);
        let number = block.first + offset;
        let text = |text: &str| inline(text).map_err(|e| format!("line {number}: {e}"));
        if let Some(heading) = line.strip_prefix("## ") {
            out.push_str(&format!(".SS {}\n", quote(&plain(heading))));
            fresh = true;
        } else if let Some(heading) = line.strip_prefix("# ") {
            out.push_str(&format!(".SH {}\n", quote(&plain(heading))));
            fresh = true;
        } else if line.starts_with('#') {
            return Err(format!(
                "line {number}: only # and ## headings are supported"
            ));
        } else if let Some(item) = line.strip_prefix("- ") {
            out.push_str(".IP \\(bu 2\n");
            push_text_line(out, &text(item)?);
        } else if let Some(definition) = line.strip_prefix(": ") {
            push_text_line(out, &text(definition)?);
        } else if was_fresh || starts_term(lines.peek().map(|(_, next)| **next)) {
            let is_term = starts_term(lines.peek().map(|(_, next)| **next));
            out.push_str(if is_term { ".TP\n" } else { ".PP\n" });
            push_text_line(out, &text(line)?);
        } else {
            push_text_line(out, &text(line)?);
        }
    }
    Ok(())
}

/// Whether the next line makes this one a definition's term.
fn starts_term(next: Option<&str>) -> bool {
    next.is_some_and(|next| next.starts_with(": "))
}

/// A text line that roff cannot take for a request, whatever it starts with.
fn push_text_line(out: &mut String, text: &str) {
    if text.starts_with('.') || text.starts_with('\'') {
        out.push_str("\\&");
    }
    out.push_str(text);
    out.push('\n');
}

/// Characters roff would interpret: the escape character, and `-`, which roff may render as a
/// hyphen that cannot be copied back into a shell or a file.
fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// A heading's text, markup removed (roff headings are set in bold anyway).
fn plain(text: &str) -> String {
    escape(&text.replace(['`', '*'], ""))
}

/// A request argument in double quotes (roff has no way to escape a quote inside one).
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\\(dq"))
}

/// Inline markup to font changes. An unclosed marker is an error.
fn inline(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(['`', '*']) {
        out.push_str(&escape(&rest[..start]));
        let after = &rest[start..];
        let (marker, font) = if after.starts_with('`') {
            ("`", "B")
        } else if after.starts_with("**") {
            ("**", "B")
        } else {
            ("*", "I")
        };
        let inner = &after[marker.len()..];
        let end = inner
            .find(marker)
            .ok_or_else(|| format!("an unclosed {marker}"))?;
        out.push_str(&format!("\\f{font}{}\\fR", escape(&inner[..end])));
        rest = &inner[end + marker.len()..];
    }
    out.push_str(&escape(rest));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TITLE: Title<'static> = Title {
        name: "demo.toml",
        section: "5",
        date: "2026-12-07",
        source: "demo 1.0",
        manual: "File Formats",
    };

    fn body(markdown: &str) -> String {
        let page = to_roff(markdown, &TITLE).expect("renders");
        let (title, rest) = page.split_once('\n').expect("a title line");
        assert_eq!(
            title,
            r#".TH "DEMO.TOML" "5" "2026-12-07" "demo 1.0" "File Formats""#
        );
        rest.to_string()
    }

    #[test]
    fn headings_paragraphs_and_inline_markup() {
        assert_eq!(
            body("# NAME\n\ndemo.toml - a `key` and *one*\nof **two** lines\n\n## Sub part\n"),
            ".SH \"NAME\"\n.PP\ndemo.toml \\- a \\fBkey\\fR and \\fIone\\fR\n\
             of \\fBtwo\\fR lines\n.SS \"Sub part\"\n"
        );
    }

    #[test]
    fn definitions_and_lists() {
        assert_eq!(
            body("`name` = \"x\"\n: Required.\nSecond line.\n\n- one\ncontinued\n- two\n"),
            ".TP\n\\fBname\\fR = \"x\"\nRequired.\nSecond line.\n\
             .IP \\(bu 2\none\ncontinued\n.IP \\(bu 2\ntwo\n"
        );
    }

    #[test]
    fn code_is_shown_as_written_and_cannot_become_requests() {
        assert_eq!(
            body("```\n[gateway]\n.hidden = 'a\\b'\n\n'quoted\n```\n"),
            ".PP\n.RS 4\n.nf\n[gateway]\n\\&.hidden = 'a\\eb'\n\n\\&'quoted\n.fi\n.RE\n"
        );
        assert_eq!(body(".dot starts a line\n"), ".PP\n\\&.dot starts a line\n");
        assert_eq!(body("# H\ntext\n"), ".SH \"H\"\n.PP\ntext\n");
    }

    #[test]
    fn what_it_cannot_render_is_an_error() {
        let error = |markdown| to_roff(markdown, &TITLE).expect_err("refused");
        assert_eq!(error("text\n\na `key\n"), "line 3: an unclosed `");
        assert_eq!(error("```\ncode\n"), "line 1: the code block is not closed");
        assert!(error("### deep\n").starts_with("line 1:"));
        assert!(error("```toml\n```\n").starts_with("line 1:"));
    }

    #[test]
    fn the_configuration_reference_renders() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ikehub.toml.5.md"),
        )
        .expect("docs/ikehub.toml.5.md");
        let roff = to_roff(&page, &TITLE).expect("renders");
        assert!(roff.contains(".SH \"[[connection]]\"\n"), "{roff}");
        assert!(
            roff.contains(".TP\n\\fBdpd_interval\\fR = \"30s\"\n"),
            "{roff}"
        );
    }
}
