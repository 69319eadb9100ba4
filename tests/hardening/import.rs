//! Hardening: import never lies and never drops (issue 10, point 5).

use crate::harness::{Env, Run, TestResult};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn report(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn summary(run: &Run) -> Value {
    let last = run.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("summary is not JSON ({e}): {}", run.stderr))
}

fn record(n: usize) -> String {
    json!({"schema_id": "preset://email", "traits": {"email": format!("user{n}@example.org")}})
        .to_string()
}

/// `count` NDJSON records, one a line.
fn ndjson(count: usize) -> String {
    let mut text = String::with_capacity(count * 80);
    for n in 0..count {
        text.push_str(&record(n));
        text.push('\n');
    }
    text
}

/// Every identity id in the store, from `export identities`.
fn stored_ids(env: &Env) -> HashSet<String> {
    // `list identities` pages by id and names the next page on stderr.
    let mut ids = HashSet::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let mut args = vec!["list", "identities", "--page-size", "500"];
        if let Some(token) = &token {
            args.extend(["--page-token", token.as_str()]);
        }
        let run = env.run(&args).ok();
        for identity in run.json().as_array().into_iter().flatten() {
            if let Some(id) = identity["id"].as_str() {
                ids.insert(id.to_string());
            }
        }
        token = run
            .stderr
            .split("--page-token ")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string());
        if token.is_none() {
            break;
        }
    }
    ids
}

/// Kills a child that a failed assertion would otherwise leave running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// See: #10, point 5 (result lines before their chunk committed).
#[test]
fn a_killed_import_printed_only_ids_that_exist() -> TestResult {
    let env = Env::new();
    let path = env.file("users.ndjson", &ndjson(40_000));
    // Large chunks: the old code printed a chunk's lines while its transaction was open.
    let mut child = Reaped(
        env.std_cmd()
            .args([
                "--format",
                "json",
                "import",
                "identities",
                "--chunk-size",
                "10000",
                &path,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut stdout = BufReader::new(child.0.stdout.take().ok_or("no stdout")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    assert!(!first.is_empty(), "the import printed nothing");
    child.0.kill()?;
    child.0.wait()?;
    let mut rest = String::new();
    stdout.read_to_string(&mut rest)?;
    // A line cut by the kill is not a claim.
    let created: Vec<String> = std::iter::once(first.as_str())
        .chain(rest.lines())
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["action"] == "create")
        .filter_map(|l| l["identity"].as_str().map(str::to_string))
        .collect();
    assert!(!created.is_empty(), "no create line to check: {first}");
    let stored = stored_ids(&env);
    let missing = created.iter().filter(|id| !stored.contains(*id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} of {} printed ids do not exist ({} stored)",
        created.len(),
        stored.len()
    );
    Ok(())
}

// See: #10, point 5 (an invalid UTF-8 byte silently ended the import).
#[test]
fn an_invalid_utf8_byte_fails_its_own_line_and_the_rest_import() -> TestResult {
    let env = Env::new();
    let mut input = Vec::new();
    for n in 0..1000 {
        if n == 2 {
            input.extend_from_slice(b"{\"schema_id\":\"preset://email\",\"traits\":{\"email\":\"b\xffd@example.org\"}}\n");
        } else {
            input.extend_from_slice(record(n).as_bytes());
            input.push(b'\n');
        }
    }
    let path = env.dir.path().join("users.ndjson");
    std::fs::write(&path, input)?;
    let path = path.to_string_lossy().into_owned();
    let run = env.run(&["import", "identities", &path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(lines.len(), 1000, "every line reported");
    let errors: Vec<&Value> = lines.iter().filter(|l| l["action"] == "error").collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["source"], format!("{path}:3"));
    let message = errors[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("UTF-8"), "{message}");
    assert_eq!(summary(&run)["created"], 999);
    Ok(())
}

// See: #10, point 5 (an unclosed first line swallowed the file).
#[test]
fn an_unclosed_first_line_fails_alone_and_the_rest_import() -> TestResult {
    let env = Env::new();
    let input = format!(
        "{{\"schema_id\": \"preset://email\", \"traits\": {{\"email\": \"first@example.org\"\n{}",
        ndjson(20)
    );
    let path = env.file("users.ndjson", &input);
    let run = env.run(&["import", "identities", &path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(lines.len(), 21, "{}", run.stdout);
    assert_eq!(lines[0]["action"], "error");
    assert_eq!(lines[0]["source"], format!("{path}:1"));
    assert!(
        lines[1..].iter().all(|l| l["action"] == "create"),
        "{}",
        run.stdout
    );
    assert_eq!(lines[20]["source"], format!("{path}:21"));
    assert_eq!(summary(&run)["created"], 20);
    Ok(())
}

// See: #10, point 5 (a 600 MB line was held whole: no per-record bound).
#[test]
fn an_oversized_line_fails_alone_and_its_neighbours_import() -> TestResult {
    let env = Env::new();
    let huge = format!(
        "{{\"schema_id\":\"preset://email\",\"traits\":{{\"email\":\"big@example.org\",\"x\":\"{}\"}}}}",
        "x".repeat(7 << 20)
    );
    let input = format!("{}\n{huge}\n{}\n", record(1), record(2));
    let path = env.file("users.ndjson", &input);
    let run = env.run(&["import", "identities", &path]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    let actions: Vec<&Value> = lines.iter().map(|l| &l["action"]).collect();
    assert_eq!(
        actions,
        [&json!("create"), &json!("error"), &json!("create")]
    );
    assert_eq!(lines[1]["source"], format!("{path}:2"));
    let message = lines[1]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("larger than"), "{message}");
    Ok(())
}

/// Runs `kith import identities` with `args`, feeding it `bytes` of `fill` after `prefix` on
/// stdin without a line break, and returns how it ended within `limit`.
fn import_endless_stdin(
    env: &Env,
    prefix: &[u8],
    fill: u8,
    bytes: usize,
    limit: Duration,
) -> Result<Run, Box<dyn std::error::Error>> {
    let mut child = Reaped(
        env.std_cmd()
            .args(["--format", "json", "import", "identities", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let mut stdin = child.0.stdin.take().ok_or("no stdin")?;
    let prefix = prefix.to_vec();
    let feeder = std::thread::spawn(move || {
        let block = vec![fill; 1 << 20];
        let _ = stdin.write_all(&prefix);
        let mut sent = 0;
        while sent < bytes {
            if stdin.write_all(&block).is_err() {
                break;
            }
            sent += block.len();
        }
    });
    let mut stdout = child.0.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.0.stderr.take().ok_or("no stderr")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.0.try_wait()? {
            break status.code().unwrap_or(-1);
        }
        assert!(
            started.elapsed() < limit,
            "the import did not end within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    stderr.read_to_string(&mut err)?;
    let _ = feeder.join();
    Ok(Run {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err,
    })
}

// See: #10, point 5 (memory grew with the line: no per-record bound).
#[test]
fn a_long_stream_without_line_breaks_is_refused_in_bounded_memory() -> TestResult {
    let env = Env::new();
    let run = import_endless_stdin(
        &env,
        b"{\"schema_id\":\"preset://email\",\"traits\":{\"email\":\"",
        b'x',
        200 << 20,
        Duration::from_secs(60),
    )?;
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0]["source"], "<stdin>:1");
    let message = lines[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("larger than"), "{message}");
    let peak = summary(&run)["peak_rss_bytes"].as_u64().unwrap_or(0);
    assert!(
        peak > 0 && peak < 150 << 20,
        "peak memory {} MiB",
        peak >> 20
    );
    Ok(())
}

// See: #10, point 5 (`/dev/zero` ran out of memory).
#[test]
fn an_input_that_never_breaks_its_line_ends_with_an_error() -> TestResult {
    let env = Env::new();
    if !std::path::Path::new("/dev/zero").exists() {
        return Ok(());
    }
    let child = Reaped(
        env.std_cmd()
            .args(["--format", "json", "import", "identities", "/dev/zero"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
    );
    let started = Instant::now();
    let mut child = child;
    let code = loop {
        if let Some(status) = child.0.try_wait()? {
            break status.code().unwrap_or(-1);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "/dev/zero was read for a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    child
        .0
        .stdout
        .take()
        .ok_or("no stdout")?
        .read_to_string(&mut stdout)?;
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .ok_or("no stderr")?
        .read_to_string(&mut stderr)?;
    let run = Run {
        code,
        stdout,
        stderr,
    };
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    let message = lines[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("was not read"), "{message}");
    let peak = summary(&run)["peak_rss_bytes"].as_u64().unwrap_or(0);
    assert!(peak < 150 << 20, "peak memory {} MiB", peak >> 20);
    Ok(())
}

// See: #10, point 5 (a dry run held the write lock for its whole run).
#[test]
fn a_dry_run_does_not_keep_a_concurrent_create_waiting() -> TestResult {
    let env = Env::new();
    env.create_email("before@example.org");
    let path = env.file("users.ndjson", &ndjson(150_000));
    let mut dry = Reaped(
        env.std_cmd()
            .args([
                "--format",
                "json",
                "import",
                "identities",
                "--dry-run",
                &path,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut stdout = BufReader::new(dry.0.stdout.take().ok_or("no stdout")?);
    let mut first = String::new();
    stdout.read_line(&mut first)?;
    assert!(!first.is_empty(), "the dry run printed nothing");
    // Keep the pipe drained, so the dry run never waits on its reader.
    let drain = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let started = Instant::now();
    let created = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "during@example.org"}})
            .to_string(),
    );
    let waited = started.elapsed();
    let still_running = dry.0.try_wait()?.is_none();
    assert_eq!(created.code, 0, "the create failed: {}", created.stderr);
    assert!(
        still_running,
        "the create finished only after the dry run ({waited:?}): it waited for its lock"
    );
    drop(dry);
    let _ = drain.join();
    assert_eq!(env.count(), 2, "the dry run wrote nothing, the create did");
    Ok(())
}

// See: #10, point 5: a dry run per chunk still finds conflicts between chunks.
#[test]
fn a_dry_run_in_chunks_still_finds_conflicts_within_the_input() -> TestResult {
    let env = Env::new();
    let input = format!(
        "{}\n{}\n{}\n{}\n",
        record(1),
        record(2),
        record(3),
        record(1)
    );
    let path = env.file("users.ndjson", &input);
    let run = env.run(&[
        "import",
        "identities",
        "--dry-run",
        "--chunk-size",
        "1",
        &path,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let lines = report(&run);
    assert_eq!(lines[3]["action"], "error", "{}", run.stdout);
    assert_eq!(lines[3]["error"]["code"], 409);
    let skip = env.run(&[
        "import",
        "identities",
        "--dry-run",
        "--chunk-size",
        "1",
        "--on-conflict",
        "skip",
        &path,
    ]);
    let lines = report(&skip.ok());
    assert_eq!(lines[3]["action"], "skip");
    assert_eq!(lines[3]["identity"], lines[0]["identity"]);
    assert_eq!(env.count(), 0, "a dry run writes nothing");
    Ok(())
}
