//! The `kith` binary: parse the command line, run it, map the outcome to an exit code.
//!
//! The command line lives here, not in the library: an embedder of `kith` gets the flows
//! without clap, and the CLI reaches the store only through the library's front door.

mod cli;

use clap::Parser;
use std::process::ExitCode;

// Imports allocate and free many small objects on several threads; mimalloc does that
// markedly faster than the system allocator (see benches/import.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // A command line kith cannot use is refused input (1); help and version are not errors.
            return ExitCode::from(u8::from(error.use_stderr()));
        }
    };
    let format = cli.format.clone();
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => ExitCode::from(cli::report(&error, format)),
    }
}
