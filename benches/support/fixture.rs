//! What the benchmarks share: the binaries to measure, a `kith serve` on loopback, and a file
//! of generated records. Included by path (`#[path = "support/fixture.rs"] mod fixture;`);
//! each benchmark uses part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// bcrypt, cost 12 (Kratos' default), of "correct horse".
pub const HASH: &str = "$2b$12$ywIxsM1CIdOYNBaVmf21guIfw.933PLZFck5guSQlZEV/u4UcvR6q";

/// This build's kith, or the binary `KITH_BENCH_BIN` names (a release build, say).
pub fn this_kith() -> PathBuf {
    std::env::var_os("KITH_BENCH_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kith")), PathBuf::from)
}

/// This build's kith, and the baseline named by `KITH_BENCH_BASELINE` when set.
pub fn binaries() -> Vec<(&'static str, PathBuf)> {
    let mut binaries = vec![("this", this_kith())];
    if let Some(baseline) = std::env::var_os("KITH_BENCH_BASELINE") {
        binaries.insert(0, ("baseline", baseline.into()));
    }
    binaries
}

/// The numbers among the benchmark's arguments (`100_000` reads as 100000).
pub fn numbers() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect()
}

/// `<dir>/users.ndjson` with `records` generated records, announced on stdout.
pub fn generated_input(dir: &Path, records: usize) -> std::io::Result<PathBuf> {
    let input = dir.join("users.ndjson");
    let size = write_records(&input, records)?;
    println!(
        "input: {records} records, {:.1} MiB",
        size as f64 / (1 << 20) as f64
    );
    Ok(input)
}

/// Writes `records` preset://email records with pre-hashed passwords, as NDJSON, and
/// returns the file's size in bytes.
pub fn write_records(path: &Path, records: usize) -> std::io::Result<u64> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for n in 0..records {
        writeln!(
            file,
            r#"{{"schema_id":"preset://email","traits":{{"email":"user{n}@example.org","name":{{"first":"User","last":"{n}"}}}},"credentials":{{"password":{{"config":{{"hashed_password":"{HASH}"}}}}}}}}"#
        )?;
    }
    file.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// One import of `input` into a fresh file (or where `extra` arguments and `env` point it):
/// wall seconds and peak RSS in MiB.
pub fn import_once(
    binary: &Path,
    dir: &Path,
    input: &Path,
    records: usize,
    run: usize,
    env: &[(&str, &str)],
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let db = dir.join(format!("kith-{run}.db"));
    let mut command = Command::new(binary);
    command
        .envs(env.iter().copied())
        .arg("--db")
        .arg(&db)
        .args(["--format", "json", "import", "identities"])
        .arg(input);
    let (wall, peak) = timed_import(command, records)?;
    for suffix in ["", "-wal", "-shm", ".key"] {
        let mut file = db.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    Ok((wall, peak))
}

/// Runs `command` (a `kith ... import identities ...` printing JSON), which must create
/// `records` identities: wall seconds and kith's peak RSS in MiB.
pub fn timed_import(
    mut command: Command,
    records: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap_or("{}"))?;
    assert_eq!(
        summary["created"], records as u64,
        "every record imports: {stderr}"
    );
    let peak = summary["peak_rss_bytes"].as_u64().unwrap_or(0) as f64 / (1 << 20) as f64;
    Ok((wall, peak))
}

/// `kith --db <dir>/kith.db --format json`, its cache in `<dir>/cache`.
pub fn kith_command(binary: &Path, dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .env("KITH_CACHE_DIR", dir.join("cache"))
        .arg("--db")
        .arg(dir.join("kith.db"))
        .args(["--format", "json"]);
    command
}

/// `kith --db <dir>/kith.db --format json ARGS`, which must succeed; its stdout.
pub fn kith(binary: &Path, dir: &Path, args: &[&str]) -> String {
    let output = kith_command(binary, dir)
        .args(args)
        .output()
        .expect("kith runs");
    assert!(
        output.status.success(),
        "kith {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A `kith serve` on free loopback ports, with an API token.
pub struct Server {
    child: Child,
    /// `host:port` of the admin listener.
    pub admin: String,
    pub token: String,
}

impl Server {
    pub fn start(binary: &Path, dir: &Path) -> Self {
        let made: serde_json::Value =
            serde_json::from_str(&kith(binary, dir, &["create", "token", "--name", "bench"]))
                .unwrap();
        let mut child = kith_command(binary, dir)
            .args(["serve", "--admin", "127.0.0.1:0", "--public", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            // The request log (one line a request, as a user's server writes it) goes to a
            // file, not over the benchmark's figures.
            .stderr(std::fs::File::create(dir.join("serve.log")).expect("serve.log"))
            .spawn()
            .expect("kith serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the ready line");
        let ready: serde_json::Value = serde_json::from_str(&line).expect("a JSON ready line");
        Self {
            child,
            admin: ready["admin"]
                .as_str()
                .unwrap()
                .trim_start_matches("http://")
                .to_string(),
            token: made["token"].as_str().unwrap().to_string(),
        }
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("kith serve exits");
        assert!(status.success(), "kith serve exited with {status}");
    }
}
