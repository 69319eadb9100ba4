//! `backup FILE`, `restore FILE`, `check`: consistent copies of the store and its key file.
//!
//! `restore` runs on the store's path, never on an open store: it takes the store's lock
//! (`kith.db.lock`) exclusively, which every kith process holds shared while it has the store
//! open, so it is refused while `kith serve` or any other kith command uses the store.
//! `check` opens the store read-only and changes nothing.

use super::Format;
use super::output::{CliError, Output};
use clap::Args;
use kith::flows::{BackupOptions, Counts, KeyHandling, Problem};
use kith::{Admin as _, Kith};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (owner-only). Its recovery key file is not in it: see
    /// --with-key.
    file: PathBuf,
    /// Also copy the store's recovery key file to FILE.key (owner-only). Keep the two apart
    /// when the backup leaves the machine: together they redeem every open invite.
    #[arg(long)]
    with_key: bool,
    /// Replace FILE (and FILE.key) when they are there.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A backup written by `kith backup`; FILE.key beside it, when there, becomes the store's
    /// recovery key file.
    file: PathBuf,
    /// Replace a store that holds identities.
    #[arg(long)]
    force: bool,
}

/// `kith backup FILE`: a consistent copy while others write.
pub fn backup(kith: &Kith, out: &Output, args: BackupArgs) -> Result<(), CliError> {
    let options = BackupOptions {
        with_key: args.with_key,
        force: args.force,
    };
    let report = kith.backup(&args.file, &options)?;
    let summary = format!(
        "backup written to {} ({} bytes, store format {}): {}",
        report.path.display(),
        report.size,
        report.format_version,
        counts_text(&report.counts)
    );
    print_copy(out, &report, &report.key, summary, "copied");
    Ok(())
}

/// `kith restore FILE`: the backup in place of the store at `db`.
pub fn restore(db: &Path, out: &Output, args: RestoreArgs) -> Result<(), CliError> {
    let report = Kith::restore(&args.file, db, args.force)?;
    let replaced = match report.replaced_identities {
        Some(n) => format!(", replacing a store of {n} identities"),
        None => String::new(),
    };
    let summary = format!(
        "restored {} to {}{replaced}: {}",
        report.from.display(),
        report.path.display(),
        counts_text(&report.counts)
    );
    print_copy(out, &report, &report.key, summary, "restored");
    Ok(())
}

/// A backup's or restore's report: `summary`, where the key file was `copied` to, and what
/// its handling costs (on stderr, for people; JSON carries it as `key.warning`).
fn print_copy(
    out: &Output,
    report: &impl Serialize,
    key: &KeyHandling,
    summary: String,
    copied: &str,
) {
    if out.format != Format::Table {
        return out.json(report);
    }
    if !out.quiet {
        out.emit(&summary);
        if let Some(copy) = &key.copy {
            out.emit(&format!("recovery key file {copied} to {}", copy.display()));
        }
    }
    if let Some(warning) = &key.warning {
        out.note(&format!("warning: {warning}"));
    }
}

/// `kith check`: every problem on its own line (or a JSON array); exit 1 when there is one.
pub fn check(kith: &Kith, out: &Output) -> Result<(), CliError> {
    let problems: Vec<Problem> = kith.check()?;
    match out.format {
        Format::Table if problems.is_empty() => {
            if !out.quiet {
                out.emit("no problems found");
            }
        }
        Format::Table => {
            for problem in &problems {
                out.emit(&format!("{}: {}", problem.kind, problem.message));
            }
        }
        _ => out.json(&problems),
    }
    match problems.is_empty() {
        true => Ok(()),
        // Printed above; the exit code says the store is not clean.
        false => Err(CliError::Quiet),
    }
}

fn counts_text(counts: &Counts) -> String {
    format!(
        "{} identities, {} schemas, {} plugins, {} open invites, {} unsent messages, {} events",
        counts.identities,
        counts.schemas,
        counts.plugins,
        counts.open_invites,
        counts.unsent_messages,
        counts.events
    )
}
