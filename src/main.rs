//! The `kith` binary: parse the command line, run it, map the outcome to an exit code.

use clap::Parser;

// Imports allocate and free many small objects on several threads; mimalloc does that
// markedly faster than the system allocator (see benches/import.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = match kith::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // A command line kith cannot use is refused input (1); help and version are not errors.
            std::process::exit(if error.use_stderr() { 1 } else { 0 });
        }
    };
    let format = cli.format;
    if let Err(error) = kith::cli::run(cli) {
        std::process::exit(kith::cli::report(&error, format));
    }
}
