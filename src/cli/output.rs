//! What the commands print. `println!` panics when standard output is a closed pipe
//! (`ikehub status | head -0`); here a closed output ends the command quietly instead.

use std::io::{self, Write};
use std::process::ExitCode;

/// Standard output was closed by its reader: the status a shell shows for a process killed
/// by SIGPIPE (128 + 13), which is what a command writing into a closed pipe usually gets.
pub const EXIT_OUTPUT_CLOSED: u8 = 141;
/// EX_IOERR: standard output failed otherwise (e.g. a full disk).
pub const EXIT_OUTPUT_FAILED: u8 = 74;

/// Write `text` to standard output and flush it. A closed output is a quiet end (exit
/// [`EXIT_OUTPUT_CLOSED`]); another failure is reported on stderr ([`EXIT_OUTPUT_FAILED`]).
pub fn print(text: impl AsRef<[u8]>) -> Result<(), ExitCode> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_ref())
        .and_then(|()| out.flush())
        .map_err(output_failed)
}

/// `text` and a newline on standard output, as [`print`].
pub fn print_line(text: &str) -> Result<(), ExitCode> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    print(line)
}

/// The exit code for a failed write to standard output, said on stderr unless the reader
/// simply went away.
pub fn output_failed(error: io::Error) -> ExitCode {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::from(EXIT_OUTPUT_CLOSED);
    }
    error_line(&format!("ikehub: cannot write to standard output: {error}"));
    ExitCode::from(EXIT_OUTPUT_FAILED)
}

/// A line on stderr; a closed stderr is ignored (there is nobody left to tell).
pub fn error_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err
        .write_all(text.as_bytes())
        .and_then(|()| err.write_all(b"\n"))
        .and_then(|()| err.flush());
}

/// The exit code of a command that printed what it had to (`Ok`) or stopped (`Err`).
pub fn exit(result: Result<(), ExitCode>) -> ExitCode {
    result.err().unwrap_or(ExitCode::SUCCESS)
}
