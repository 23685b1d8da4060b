use std::process::ExitCode;

fn main() -> ExitCode {
    ikehub::cli::main()
}
