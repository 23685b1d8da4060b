//! `xtask-cli-docs DIR DATE`: writes the ikehub(8) page, dated DATE, and the bash, zsh and
//! fish completions into DIR, generated from the daemon's clap grammar so that they cannot
//! drift from it. `cargo xtask dist` builds and runs it (xtask/Cargo.toml says why it is a
//! program of its own).
use std::path::Path;
use std::process::ExitCode;

use clap::Arg;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

/// The completion scripts, by the names their shells look them up under.
const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "ikehub.bash"),
    (Shell::Zsh, "_ikehub"),
    (Shell::Fish, "ikehub.fish"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, date] = args.as_slice() else {
        eprintln!("usage: xtask-cli-docs DIR DATE");
        return ExitCode::from(2);
    };
    match write_all(Path::new(dir), date) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask-cli-docs: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(dir: &Path, date: &str) -> Result<(), String> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("ikehub.8", &man_page(date)?)?;
    for (shell, name) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut ikehub::cli::command(), "ikehub", &mut script);
        write(name, &script)?;
    }
    Ok(())
}

/// ikehub(8): clap_mangen's sections, then each command with its own options on this one page
/// (clap_mangen would refer to a page per command), then what the grammar does not say.
fn man_page(date: &str) -> Result<Vec<u8>, String> {
    let mut cmd = ikehub::cli::command();
    cmd.build();
    let man = Man::new(cmd.clone())
        .section("8")
        .date(date)
        .manual("System Administration");
    let mut page = Vec::new();
    let rendered = man
        .render_title(&mut page)
        .and_then(|()| man.render_name_section(&mut page))
        .and_then(|()| man.render_synopsis_section(&mut page))
        .and_then(|()| man.render_description_section(&mut page))
        .and_then(|()| man.render_options_section(&mut page));
    rendered.map_err(|e| format!("rendering ikehub(8): {e}"))?;

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for sub in cmd.get_subcommands_mut() {
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ").trim().to_string();
        roff.control("SS", [usage.as_str()]);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        for arg in sub.get_arguments().filter(|arg| own_argument(arg)) {
            roff.control("TP", []);
            roff.text(argument_header(arg));
            if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
                roff.text([roman(help.to_string())]);
            }
        }
    }
    for (heading, paragraphs) in EXTRA_SECTIONS {
        roff.control("SH", [*heading]);
        for paragraph in *paragraphs {
            roff.control("PP", []);
            roff.text(inlines(paragraph));
        }
    }
    page.extend_from_slice(roff.render().as_bytes());
    Ok(page)
}

/// A subcommand's own arguments: not the global ones (listed under OPTIONS) nor --help.
fn own_argument(arg: &Arg) -> bool {
    !arg.is_global_set()
        && !arg.is_hide_set()
        && !matches!(arg.get_id().as_str(), "help" | "version")
}

/// `-c, --config <FILE> [default: ...]` or `<NAME>`.
fn argument_header(arg: &Arg) -> Vec<Inline> {
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let mut header = Vec::new();
    if arg.is_positional() {
        header.push(italic(format!("<{value_name}>")));
    } else {
        if let Some(short) = arg.get_short() {
            header.push(bold(format!("-{short}")));
            header.push(roman(", "));
        }
        if let Some(long) = arg.get_long() {
            header.push(bold(format!("--{long}")));
        }
        if arg.get_action().takes_values() {
            header.push(roman(" "));
            header.push(italic(format!("<{value_name}>")));
        }
    }
    if !arg.get_action().takes_values() {
        // A flag's default, false, says nothing.
        return header;
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|value| value.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() {
        header.push(roman(format!(" [default: {}]", defaults.join(", "))));
    }
    header
}

/// A paragraph where `*word*` is bold (page references, commands), the rest roman.
fn inlines(text: &str) -> Vec<Inline> {
    text.split('*')
        .enumerate()
        .filter(|(_, part)| !part.is_empty())
        .map(|(index, part)| {
            if index % 2 == 1 {
                bold(part)
            } else {
                roman(part)
            }
        })
        .collect()
}

/// What the page says beyond the grammar. Exit statuses as in src/cli/client.rs and
/// src/cli/output.rs.
const EXTRA_SECTIONS: &[(&str, &[&str])] = &[
    (
        "EXIT STATUS",
        &[
            "0: success. 1: an error, e.g. a configuration file with errors (every one is printed). \
             3: *up* or *down*: the connection failed (the reason is printed). 4: *up* or *down*: \
             not done within --timeout (the daemon goes on).",
            "69: the daemon is not running (or, for *daemon*, this build lacks the dataplane asked \
             for). 74: standard output failed. 75: the daemon did not answer within --timeout. \
             76: the daemon's answer could not be read. 77: the control socket is root-only.",
        ],
    ),
    (
        "FILES",
        &[
            "*/etc/ikehub/ikehub.toml*: the configuration, see *ikehub.toml*(5); mode 600 when it \
             holds a pre-shared key.",
            "*/run/ikehub/control.sock*: the daemon's root-only control socket; beside it the \
             instance's lock and the record of the kernel objects it installed, read after a \
             crash to remove exactly those.",
        ],
    ),
    (
        "SIGNALS",
        &[
            "SIGHUP: read the configuration again, as *ikehub reload*. SIGTERM, SIGINT: delete \
             the SAs with the peers (waiting at most 30 s for them), remove the kernel state and \
             exit.",
        ],
    ),
    (
        "SEE ALSO",
        &["*ikehub.toml*(5), *systemctl*(1), *ip-xfrm*(8)"],
    ),
];
