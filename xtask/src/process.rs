//! Running external commands with errors that name the command and show its stderr.
use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

/// A command line as text, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&quote(arg));
    }
    text
}

fn quote(arg: &OsStr) -> String {
    let arg = arg.to_string_lossy();
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        arg.into_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs a command with inherited stdio; fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(cmd)))
    }
}

/// Runs a command and returns its stdout; on failure the error carries stderr.
pub fn output(cmd: &mut Command) -> Result<String, String> {
    let out = capture(cmd)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(failure(cmd, &out))
    }
}

/// Runs a command to completion and returns everything, whatever its exit status.
pub fn capture(cmd: &mut Command) -> Result<Output, String> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(cmd)))
}

/// The error message for a command that exited with a failure status.
pub fn failure(cmd: &Command, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    if stderr.is_empty() {
        format!("`{}` failed ({})", describe(cmd), out.status)
    } else {
        format!("`{}` failed ({}):\n{stderr}", describe(cmd), out.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_quotes_only_what_needs_it() {
        let mut cmd = Command::new("ip");
        cmd.args(["xfrm", "state", "add", "aead", "rfc4106(gcm(aes))", "it's"]);
        assert_eq!(
            describe(&cmd),
            r"ip xfrm state add aead 'rfc4106(gcm(aes))' 'it'\''s'"
        );
    }

    #[test]
    fn output_reports_stderr_of_a_failing_command() {
        let err = output(Command::new("sh").args(["-c", "echo boom >&2; exit 3"]))
            .expect_err("the command fails");
        assert!(err.contains("boom"), "{err}");
        assert!(err.contains("sh -c"), "{err}");
    }
}
