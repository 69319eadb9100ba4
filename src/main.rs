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

/// musl's x86_64 `memcpy` is a `rep movsq` with byte loops either side, slow to start for the
/// short copies SQLite and the JSON code make by the million: in the static build it took
/// 13.5% of an import's samples (glibc's vector copies 7.6%), and the import ran 15–20%
/// slower than the glibc build. Copies of up to 64 bytes are done here as glibc does them, in
/// a few overlapping unaligned loads and stores; longer ones with `rep movsb`. Defined in
/// the binary, this `memcpy` is the one the linker takes (never musl's), SQLite's included.
#[cfg(all(target_env = "musl", target_arch = "x86_64"))]
#[allow(unsafe_code)] // libc functions, defined as libc defines them
mod musl_memcpy {
    use std::ptr::{read_unaligned, write_unaligned};

    /// # Safety
    /// `memcpy`'s contract: `n` bytes readable at `src` and writable at `dest`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: every access below is inside the first `n` bytes of `src` or `dest`, which
        // the caller guarantees. Each branch loads all it copies before it stores, so a
        // forward copy with `dest` below `src` (`__memcpy_fwd`) is right too; `rep movsb`
        // copies forward byte by byte (the direction flag is clear by the System V ABI).
        unsafe {
            if n <= 16 {
                if n >= 8 {
                    let head = read_unaligned(src.cast::<u64>());
                    let tail = read_unaligned(src.add(n - 8).cast::<u64>());
                    write_unaligned(dest.cast::<u64>(), head);
                    write_unaligned(dest.add(n - 8).cast::<u64>(), tail);
                } else if n >= 4 {
                    let head = read_unaligned(src.cast::<u32>());
                    let tail = read_unaligned(src.add(n - 4).cast::<u32>());
                    write_unaligned(dest.cast::<u32>(), head);
                    write_unaligned(dest.add(n - 4).cast::<u32>(), tail);
                } else if n > 0 {
                    let (first, middle, last) = (*src, *src.add(n / 2), *src.add(n - 1));
                    *dest = first;
                    *dest.add(n / 2) = middle;
                    *dest.add(n - 1) = last;
                }
            } else if n <= 32 {
                let head = read_unaligned(src.cast::<u128>());
                let tail = read_unaligned(src.add(n - 16).cast::<u128>());
                write_unaligned(dest.cast::<u128>(), head);
                write_unaligned(dest.add(n - 16).cast::<u128>(), tail);
            } else if n <= 64 {
                let a = read_unaligned(src.cast::<u128>());
                let b = read_unaligned(src.add(16).cast::<u128>());
                let c = read_unaligned(src.add(n - 32).cast::<u128>());
                let d = read_unaligned(src.add(n - 16).cast::<u128>());
                write_unaligned(dest.cast::<u128>(), a);
                write_unaligned(dest.add(16).cast::<u128>(), b);
                write_unaligned(dest.add(n - 32).cast::<u128>(), c);
                write_unaligned(dest.add(n - 16).cast::<u128>(), d);
            } else {
                core::arch::asm!(
                    "rep movsb",
                    inout("rcx") n => _,
                    inout("rdi") dest => _,
                    inout("rsi") src => _,
                    options(nostack, preserves_flags)
                );
            }
        }
        dest
    }

    /// musl's `memmove` copies forward through this symbol of musl's `memcpy` file; defined
    /// too, so that file is never linked (the linker would refuse a second `memcpy`).
    ///
    /// # Safety
    /// As [`memcpy`], where a forward copy is right for any overlap (`dest` below `src`).
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn __memcpy_fwd(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: as `memcpy`, whose branches are all right for a forward overlap.
        unsafe { memcpy(dest, src, n) }
    }
}

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
