//! `import identities`, `export identities` and `delete identities --import-run`.

use super::Format;
use super::output::{CliError, Output, record_error};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kith::Admin;
use kith::flows::{
    ImportOptions, ImportOutcome, ImportSource, OnConflict, PasswordHashes, SourceFormat,
};
use std::io::{BufReader, IsTerminal, Read, Write};

/// The inputs of `import identities` and `validate identity`, and how their records become
/// createIdentityBody.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files of createIdentityBody records: one object, a JSON array, or NDJSON. With
    /// --mapper, another system's records: also CSV (`.csv`, a header row), LDIF (`.ldif`)
    /// and Firebase's `{"users": [...]}`. Gzip (`.gz`) is read as it comes. None or `-`
    /// reads stdin.
    #[arg(value_name = "FILE")]
    pub files: Vec<String>,
    /// The import mapper that turns each record into a createIdentityBody: an installed
    /// plugin's name (auth0-import, firebase-import, csv-import, ldif-import, your own) or a
    /// plugin folder's path. A record the mapper refuses is that record's error.
    #[arg(long, value_name = "NAME|DIR")]
    pub mapper: Option<String>,
    /// Auth0's password-hash export (NDJSON, gzip or plain), joined to the user records by
    /// e-mail address before mapping. A hash no user takes, and a user with no hash, are
    /// reported.
    #[arg(long, value_name = "FILE", requires = "mapper")]
    pub password_hashes: Option<String>,
    /// How the inputs are written when their names do not say (stdin, an odd extension).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// One object, a JSON array, NDJSON or a Firebase export.
    Json,
    /// A header row, then a record per row.
    Csv,
    /// LDIF entries (RFC 2849).
    Ldif,
}

impl InputArgs {
    /// The inputs opened (gzip taken off), the total bytes when known, and the options their
    /// records need (mapper, password hashes).
    fn open(&self) -> Result<(Vec<ImportSource>, Option<u64>, ImportOptions), CliError> {
        let (mut sources, total) = open_sources(&self.files)?;
        if let Some(format) = self.input_format {
            let format = match format {
                InputFormat::Json => SourceFormat::Json,
                InputFormat::Csv => SourceFormat::Csv,
                InputFormat::Ldif => SourceFormat::Ldif,
            };
            sources = sources.into_iter().map(|s| s.with_format(format)).collect();
        }
        let password_hashes = match &self.password_hashes {
            Some(file) => {
                let (mut hashes, _) = open_sources(std::slice::from_ref(file))?;
                let source = hashes.remove(0);
                Some(std::sync::Arc::new(PasswordHashes::read(source)))
            }
            None => None,
        };
        let options = ImportOptions {
            mapper: self.mapper.clone(),
            password_hashes,
            ..ImportOptions::default()
        };
        Ok((sources, total, options))
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    input: InputArgs,
    /// Check every record, conflicts included, and write nothing. With --endpoint (Kratos
    /// has no dry run) as `validate identity` checks: kith's rules against the server's
    /// schema, identifiers and external_id looked up on the server.
    #[arg(long)]
    dry_run: bool,
    /// What to do with a record whose identifiers, addresses or external_id are taken.
    #[arg(long, value_enum, default_value_t = ConflictChoice::Fail)]
    on_conflict: ConflictChoice,
    /// Take each record's `id` as its identity's id (Kratos' body has none; `export
    /// --with-ids` writes it). A taken id is a conflict; with `--on-conflict update` the
    /// record updates the identity of that id.
    #[arg(long)]
    keep_ids: bool,
    /// Also write every record's result, one JSON line each, to FILE (owner-only).
    #[arg(long, value_name = "FILE")]
    report: Option<std::path::PathBuf>,
    /// Records per transaction (with --endpoint: per batch request, at most 1000).
    #[arg(long, default_value_t = 1000, hide = true)]
    chunk_size: usize,
    /// With --endpoint: skip the records an earlier run's report (--report FILE, or the
    /// JSON lines a piped import prints) lists as created or skipped, matched by source
    /// position, so an interrupted import picks up where it stopped. Use the same files in
    /// the same order.
    #[arg(long, value_name = "REPORT")]
    resume: Option<std::path::PathBuf>,
    /// With --endpoint: how often a batch is sent again after a 429, a 5xx or a broken
    /// connection (with growing, jittered pauses, or as Retry-After asks) before the
    /// import gives up and says so.
    #[arg(long, value_name = "N", default_value_t = 5)]
    retries: u32,
}

impl ImportArgs {
    pub fn input(&self) -> &InputArgs {
        &self.input
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConflictChoice {
    /// Report the record as a 409 error.
    Fail,
    /// Report the record as skipped: re-running an import completes it.
    Skip,
    /// Update the identity the record matches (by its id under --keep-ids, else its
    /// external_id, else a credential identifier) with PUT semantics; a record that changes
    /// nothing is reported unchanged. Re-applying a fixture file changes nothing.
    Update,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Include password hashes and social-login links.
    #[arg(long)]
    include_credentials: bool,
    /// Write each identity's id (`id`, which only `import --keep-ids` takes back).
    #[arg(long)]
    with_ids: bool,
}

#[derive(Debug, Args)]
pub struct DeleteIdentitiesArgs {
    /// Delete exactly the identities this import run created.
    #[arg(long, value_name = "ID")]
    import_run: String,
}

/// A reader whose end stays the end: a terminal's Ctrl-D ends one read only, and the next
/// read would wait for more typing; a parser that looks twice must see the end twice.
struct StickyEnd<R> {
    inner: R,
    ended: bool,
}

impl<R: Read> Read for StickyEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.ended = n == 0;
        Ok(n)
    }
}

fn open_sources(files: &[String]) -> Result<(Vec<ImportSource>, Option<u64>), CliError> {
    let files: Vec<String> = if files.is_empty() {
        vec!["-".into()]
    } else {
        files.to_vec()
    };
    if files.iter().any(|f| f == "-") && std::io::stdin().is_terminal() {
        // Otherwise a user who forgot the file name sees nothing happen.
        eprintln!("reading stdin (Ctrl-D to end; pass FILE... to import files)");
    }
    let mut sources = Vec::new();
    let mut total = Some(0u64);
    for file in files {
        let (name, reader): (String, Box<dyn Read + Send>) = if file == "-" {
            total = None;
            (
                "<stdin>".into(),
                Box::new(StickyEnd {
                    inner: std::io::stdin(),
                    ended: false,
                }),
            )
        } else {
            let handle = std::fs::File::open(&file)
                .map_err(|e| CliError::input(&file, format!("could not open {file}: {e}")))?;
            let size = handle.metadata().map(|m| m.len()).ok();
            total = total.zip(size).map(|(a, b)| a + b);
            (file.clone(), Box::new(handle))
        };
        let source = ImportSource::new(name.clone(), reader)
            .map_err(|e| CliError::input(&name, format!("could not read {name}: {e}")))?;
        sources.push(source);
    }
    Ok((sources, total))
}

fn progress_bar(total: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(bytes) => ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template("{bar:30} {percent}% {msg} (eta {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

pub fn import(target: &super::Target, out: &Output, args: ImportArgs) -> Result<(), CliError> {
    let remote = match target {
        super::Target::Remote(remote) => Some(remote),
        super::Target::Local(_) => None,
    };
    let (sources, total, input_options) = args.input.open()?;
    let bar = progress_bar(total, out.quiet);
    let options = ImportOptions {
        dry_run: args.dry_run,
        on_conflict: match args.on_conflict {
            ConflictChoice::Fail => OnConflict::Fail,
            ConflictChoice::Skip => OnConflict::Skip,
            ConflictChoice::Update => OnConflict::Update,
        },
        keep_ids: args.keep_ids,
        chunk_size: args.chunk_size,
        ..input_options
    };
    if remote.is_some() && options.mapper.is_some() {
        return Err(CliError::usage(
            "--mapper runs against the store file, not --endpoint: import into a store, then \
             `kith export identities --include-credentials | kith import identities -e URL`",
        ));
    }
    let mut plan = kith::remote::ImportPlan::new(&options);
    plan.retry.attempts = args.retries.saturating_add(1);
    if remote.is_some() && (options.on_conflict == OnConflict::Update || options.keep_ids) {
        return Err(CliError::usage(
            "--on-conflict update and --keep-ids need a local store: Kratos' batch endpoint creates only",
        ));
    }
    if args.resume.is_some() && remote.is_none() {
        return Err(CliError::usage(
            "--resume needs --endpoint; against the store file, re-run with --on-conflict skip",
        ));
    }
    if let Some(path) = &args.resume {
        let report = std::fs::File::open(path).map_err(|e| {
            CliError::usage(format!("--resume: could not open {}: {e}", path.display()))
        })?;
        let name = path.display().to_string();
        plan.resume_from(BufReader::new(report), &name)?;
    }
    let mut report_file = match &args.report {
        Some(path) => Some(std::io::BufWriter::with_capacity(
            64 << 10,
            create_owner_only(path).map_err(|e| {
                CliError::usage(format!(
                    "--report: could not create {}: {e}",
                    path.display()
                ))
            })?,
        )),
        None => None,
    };
    // A person at a terminal reads the errors and a summary; anything else (a pipe, a file,
    // an explicit --format json) gets one JSON line per record, a report programs can stream.
    let for_a_person =
        out.format == Format::Table || (!out.format_explicit && std::io::stdout().is_terminal());
    let mut handled = 0u64;
    let mut done_bytes = 0u64;
    let mut errors_shown = 0u64;
    let started = std::time::Instant::now();
    // Buffered, so a large import is not one write call per record; a reader that goes away
    // does not stop the import (its summary still reaches stderr).
    let mut report = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let mut on_result = |result: &kith::flows::ImportResult| {
        handled += 1;
        done_bytes += result.bytes;
        if let Some(file) = &mut report_file
            && serde_json::to_writer(&mut *file, result).is_ok()
        {
            let _ = file.write_all(b"\n");
        }
        match (&result.outcome, for_a_person) {
            (ImportOutcome::Error { error }, true) => {
                errors_shown += 1;
                if errors_shown <= MAX_ERRORS_SHOWN {
                    bar.suspend(|| {
                        let _ = writeln!(report, "{}", record_error(&result.source, error));
                        let _ = report.flush();
                    });
                }
            }
            (_, true) => {
                if let Some(warning) = &result.warning {
                    errors_shown += 1;
                    if errors_shown <= MAX_ERRORS_SHOWN {
                        bar.suspend(|| {
                            let _ = writeln!(report, "{}: warning: {warning}", result.source);
                            let _ = report.flush();
                        });
                    }
                }
            }
            (outcome, false) => {
                let is_error = matches!(outcome, ImportOutcome::Error { .. });
                if (!out.quiet || is_error) && serde_json::to_writer(&mut report, result).is_ok() {
                    let _ = report.write_all(b"\n");
                }
            }
        }
        if handled.is_multiple_of(512) {
            // Progress counts the bytes of records done, not of records read ahead, so the
            // bar and its ETA follow what the store has taken.
            bar.set_position(done_bytes);
            let rate = handled as f64 / started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!("{handled} identities, {rate:.0}/s"));
        }
    };
    let summary = match remote {
        Some(remote) => remote.import(sources, &plan, &mut on_result),
        None => target
            .admin()
            .import_identities(sources, &options, &mut on_result),
    };
    // What was reported stays reported when the import stops early (a remote that gave up):
    // the report is flushed below before the error is returned.
    let _ = report.flush();
    drop(report);
    if let Some(mut file) = report_file
        && let Err(e) = file.flush()
    {
        eprintln!("warning: the report file is incomplete: {e}");
    }
    bar.finish_and_clear();
    let summary = summary?;
    if for_a_person && errors_shown > MAX_ERRORS_SHOWN {
        out.note(&format!(
            "... and {} more errors{}",
            errors_shown - MAX_ERRORS_SHOWN,
            match &args.report {
                Some(path) => format!(" ({} has them all)", path.display()),
                None => " (--report FILE keeps them all)".to_string(),
            }
        ));
    }
    let peak = peak_rss_bytes();
    // People watching stderr get a sentence; programs (or an explicit --format json) get JSON.
    let human =
        out.format == Format::Table || (!out.format_explicit && std::io::stderr().is_terminal());
    let handled =
        summary.created + summary.updated + summary.unchanged + summary.skipped + summary.failed;
    let counts = match args.on_conflict {
        ConflictChoice::Update => format!(
            "{} created, {} updated, {} unchanged, {} failed",
            summary.created, summary.updated, summary.unchanged, summary.failed
        ),
        _ => format!(
            "{} created, {} skipped, {} failed",
            summary.created, summary.skipped, summary.failed
        ),
    };
    match human {
        true if handled == 0 => {
            out.note("no records in the input: nothing imported, no import run recorded")
        }
        true => out.note(&format!(
            "{} {}: {counts} in {:.2}s ({:.0} records/s{}){}",
            match (summary.dry_run, remote.is_some()) {
                (true, _) => "dry run",
                (false, false) => "import run",
                (false, true) => "import into",
            },
            match remote {
                Some(remote) => remote.endpoint().to_string(),
                None => summary.import_run.to_string(),
            },
            summary.elapsed.as_secs_f64(),
            summary.rate,
            peak.map(|p| format!(", peak memory {} MiB", p >> 20))
                .unwrap_or_default(),
            match (summary.dry_run, summary.created) {
                (true, _) => "; nothing was written".to_string(),
                (false, 0) => String::new(),
                // A remote server keeps no import runs to undo.
                (false, _) if remote.is_some() => String::new(),
                (false, _) => format!(
                    "\n  undo: kith delete identities --import-run {}{}",
                    summary.import_run,
                    match summary.updated {
                        0 => "",
                        _ => " (deletes what it created; updates stay)",
                    }
                ),
            },
        )),
        false => {
            let mut value = serde_json::to_value(&summary).unwrap_or_default();
            if let Some(peak) = peak {
                value["peak_rss_bytes"] = peak.into();
            }
            if let Some(remote) = remote {
                // A remote server keeps no import runs: the nil id stands for none.
                value["endpoint"] = remote.endpoint().into();
            }
            out.note(&value.to_string());
        }
    }
    if summary.failed > 0 {
        return Err(CliError::Quiet);
    }
    Ok(())
}

/// Errors printed on a terminal before the rest are only counted: the report file keeps all.
const MAX_ERRORS_SHOWN: u64 = 20;

/// A new file only its owner can read: a report names identifiers and addresses.
fn create_owner_only(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// `kith validate identity`: an import's dry run over `files`, reporting each record as valid
/// or with its error, by its position (`users.json[3]`, `users.ndjson:17`).
///
/// # Errors
/// [`CliError::Quiet`] when a record is invalid (each was reported); an unreadable file.
pub fn check_records(kith: &dyn Admin, out: &Output, input: &InputArgs) -> Result<(), CliError> {
    let (sources, _, options) = input.open()?;
    let options = ImportOptions {
        dry_run: true,
        ..options
    };
    let summary = kith.import_identities(sources, &options, &mut |result| {
        let error = match &result.outcome {
            ImportOutcome::Error { error } => Some(error),
            _ => None,
        };
        if out.quiet && error.is_none() {
            return;
        }
        let warning = result
            .warning
            .as_ref()
            .map(|w| format!(" (warning: {w})"))
            .unwrap_or_default();
        match (out.format, error) {
            (Format::Table, None) => out.emit(&format!("{}: valid{warning}", result.source)),
            (Format::Table, Some(error)) => out.emit(&record_error(&result.source, error)),
            (_, None) => {
                let mut valid = serde_json::json!({"source": result.source, "valid": true});
                if let Some(warning) = &result.warning {
                    valid["warning"] = warning.as_str().into();
                }
                out.json(&valid)
            }
            (_, Some(error)) => out.json(
                &serde_json::json!({"source": result.source, "valid": false, "error": error}),
            ),
        }
    })?;
    if summary.failed > 0 {
        return Err(CliError::Quiet);
    }
    Ok(())
}

/// This process's peak resident memory, where the platform tells (Linux: VmHWM).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// An exported record with its identity's id first, for `--with-ids`.
#[derive(serde::Serialize)]
struct WithId<'a> {
    id: kith::model::IdentityId,
    #[serde(flatten)]
    body: &'a kith::model::CreateIdentityBody,
}

pub fn export(kith: &dyn Admin, out: &Output, args: ExportArgs) -> Result<(), CliError> {
    kith.export_identities(args.include_credentials, &mut |id, body| {
        let line = match args.with_ids {
            true => serde_json::to_string(&WithId { id, body }),
            false => serde_json::to_string(body),
        };
        out.emit(&line.unwrap_or_default());
        // Nobody reads the rest (`kith export identities | head`): stop reading the store.
        !out.is_closed()
    })?;
    Ok(())
}

pub fn delete_identities(
    kith: &dyn Admin,
    out: &Output,
    args: DeleteIdentitiesArgs,
) -> Result<(), CliError> {
    let run = super::output::parse_uuid(&args.import_run, "an import run id")?;
    let deleted = kith.delete_import_run(run)?;
    // People watching stderr get a sentence; programs (or an explicit --format json) get JSON.
    let human =
        out.format == Format::Table || (!out.format_explicit && std::io::stderr().is_terminal());
    match human {
        true => out.note(&format!(
            "deleted {} identities of import run {run}",
            deleted.len()
        )),
        _ => {
            for id in &deleted {
                out.emit(&id.to_string());
            }
        }
    }
    Ok(())
}
