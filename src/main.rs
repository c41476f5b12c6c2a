//! The `switchboard` binary: see `switchboard --help`.

fn main() -> std::process::ExitCode {
    switchboard::cli::run()
}
