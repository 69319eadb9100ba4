//! README.md's tour, run top to bottom on a fresh store, so the README cannot drift.
//!
//! The test reads `README.md` when it runs and takes every ```` ```sh ````, ```` ```bash ````
//! and ```` ```console ```` block from `## The two commands` up to `## Compatibility with
//! Kratos`, in order. One `bash` (`set -euo pipefail`) runs them all, so variables carry from
//! block to block, in a temporary folder that is its working directory and `HOME`: the store
//! is the default one of that home, `kith` (the binary under test) is first on `PATH`, and
//! `plugins/` holds the first-party plugins as `scripts/build-plugins` leaves them. Every block
//! reads `/dev/null` as stdin, so its output is kith's piped output (JSON). A block passes when
//! it exits 0 and shows what its markers expect.
//!
//! Markers are HTML comments, hidden on the rendered page, on the lines right above a block's
//! opening fence, one directive each:
//!
//! - `<!-- tour: skip (why) -->`: the block is not run (a synopsis, another site's setup).
//! - `<!-- tour: skip-line PREFIX -->`: the block's lines that start with PREFIX, and their
//!   `\` continuations, are not run (prompts on a terminal, placeholders such as `01a2...`).
//!   A PREFIX that matches no line fails the test.
//! - `<!-- tour: run COMMAND -->`: COMMAND runs just before the block, as rustdoc's hidden
//!   lines do: for what the reader has and the README does not show (their password, their
//!   own input files).
//! - `<!-- tour: file NAME -->` above a block of another language (JSON, TOML): its text is
//!   written to NAME in the working directory, as the reader saves it.
//! - `<!-- tour: expect "TEXT" -->` (a JSON string): the block's stdout or stderr contains
//!   TEXT. Outcomes the README shows in comments are pinned this way.
//! - `<!-- tour: fails -->`: the block must exit non-zero instead.
//! - `<!-- tour: capture NAME /POINTER after PREFIX -->`: once the block's line that starts
//!   with PREFIX has run, the shell variable NAME holds the string at JSON pointer POINTER of
//!   the first JSON value printed so far that has one (the link an invite prints).
//! - `<!-- tour: replace "FROM" with "TO" -->`: FROM in the block is run as TO
//!   (`cargo run --release --` as the built `kith`).
//! - `<!-- tour: serve -->`: the test starts `kith serve` on free loopback ports in place of
//!   the block's `kith serve` line, and from then on every block's `127.0.0.1:4434` and
//!   `127.0.0.1:4433` name those ports; it stops the server after the last block.

use crate::serve::{listener, spawn_serve};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Where the tour starts and where it ends (the first heading after it).
const FIRST: &str = "## The two commands";
const END: &str = "## Compatibility with Kratos";

/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, PartialEq)]
enum Marker {
    Skip,
    SkipLine(String),
    Run(String),
    File(String),
    Expect(String),
    Fails,
    Capture {
        name: String,
        pointer: String,
        after: String,
    },
    Replace {
        from: String,
        to: String,
    },
    Serve,
}

/// A fenced block of the tour with the markers above it.
#[derive(Debug)]
struct Block {
    /// 1-based line of its opening fence in README.md.
    line: usize,
    lang: String,
    text: String,
    markers: Vec<Marker>,
}

impl Block {
    fn is_shell(&self) -> bool {
        matches!(self.lang.as_str(), "sh" | "bash" | "console" | "shell")
    }
}

/// Reads one JSON string at the start of `text`: the string and the rest after it.
fn json_string(text: &str) -> Result<(String, &str), String> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<String>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, &text[stream.byte_offset()..])),
        _ => Err(format!("expected a JSON string in {text:?}")),
    }
}

fn parse_marker(directive: &str) -> Result<Marker, String> {
    let (word, rest) = directive
        .split_once(' ')
        .map_or((directive, ""), |(w, r)| (w, r.trim()));
    Ok(match word {
        "skip" => Marker::Skip,
        "skip-line" if !rest.is_empty() => Marker::SkipLine(rest.to_string()),
        "run" if !rest.is_empty() => Marker::Run(rest.to_string()),
        "file" if !rest.is_empty() => Marker::File(rest.to_string()),
        "expect" => Marker::Expect(json_string(rest)?.0),
        "fails" => Marker::Fails,
        "capture" => {
            let usage = || format!("capture NAME /POINTER after PREFIX, not {rest:?}");
            let (name, rest) = rest.split_once(' ').ok_or_else(usage)?;
            let (pointer, after) = rest.split_once(" after ").ok_or_else(usage)?;
            Marker::Capture {
                name: name.to_string(),
                pointer: pointer.trim().to_string(),
                after: after.trim().to_string(),
            }
        }
        "replace" => {
            let (from, rest) = json_string(rest)?;
            let rest = rest
                .trim_start()
                .strip_prefix("with")
                .ok_or_else(|| format!("replace \"FROM\" with \"TO\", not {directive:?}"))?;
            let (to, _) = json_string(rest.trim_start())?;
            Marker::Replace { from, to }
        }
        "serve" => Marker::Serve,
        _ => return Err(format!("unknown tour marker {directive:?}")),
    })
}

/// The tour's fenced blocks, in order, each with its markers.
fn tour_blocks(readme: &str) -> Result<Vec<Block>, String> {
    let mut lines = readme.lines().enumerate();
    lines
        .by_ref()
        .find(|(_, l)| l.trim_end() == FIRST)
        .ok_or_else(|| format!("README.md has no {FIRST:?}"))?;
    let mut blocks = Vec::new();
    let mut markers: Vec<(usize, Marker)> = Vec::new();
    let mut ended = false;
    while let Some((index, line)) = lines.next() {
        if line.trim_end() == END {
            ended = true;
            break;
        }
        if let Some(directive) = line
            .trim()
            .strip_prefix("<!-- tour:")
            .and_then(|d| d.strip_suffix("-->"))
        {
            let marker = parse_marker(directive.trim())
                .map_err(|e| format!("README.md:{}: {e}", index + 1))?;
            markers.push((index + 1, marker));
            continue;
        }
        if let Some(lang) = line.strip_prefix("```") {
            let mut text = String::new();
            let mut closed = false;
            for (_, inner) in lines.by_ref() {
                if inner.starts_with("```") {
                    closed = true;
                    break;
                }
                text.push_str(inner);
                text.push('\n');
            }
            if !closed {
                return Err(format!("README.md:{}: a block is never closed", index + 1));
            }
            blocks.push(Block {
                line: index + 1,
                lang: lang.trim().to_string(),
                text,
                markers: markers.drain(..).map(|(_, m)| m).collect(),
            });
            continue;
        }
        if let Some((at, _)) = markers.first() {
            return Err(format!(
                "README.md:{at}: a tour marker must sit right above a block's fence"
            ));
        }
    }
    if !ended {
        return Err(format!("README.md has no {END:?} after the tour"));
    }
    Ok(blocks)
}

/// Lines of a shell block, with `\` continuations joined to the line they continue.
fn commands(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut continuing = false;
    for line in text.lines() {
        if continuing {
            let last = out.last_mut().expect("a line to continue");
            last.push('\n');
            last.push_str(line);
        } else {
            out.push(line.to_string());
        }
        continuing = line.trim_end().ends_with('\\');
    }
    out
}

/// One part of a block's script; a capture splits a block after the line it waits for.
#[derive(Debug, PartialEq)]
struct Part {
    script: String,
    /// Shell variable and JSON pointer to take from this part's output.
    capture: Option<(String, String)>,
}

/// The script that runs for `block`, in parts: hidden lines first, then its own lines minus
/// the skipped ones, with replacements made; `Err` names a marker that matched nothing.
fn script(block: &Block, serving: Option<&Serving>) -> Result<Vec<Part>, String> {
    let mut parts = vec![Part {
        script: String::new(),
        capture: None,
    }];
    for marker in &block.markers {
        if let Marker::Run(command) = marker {
            parts[0].script.push_str(command);
            parts[0].script.push('\n');
        }
    }
    let mut matched: Vec<&Marker> = Vec::new();
    for command in commands(&block.text) {
        let start = command.trim_start();
        let skip = block.markers.iter().find(|m| match m {
            Marker::SkipLine(prefix) => start.starts_with(prefix.as_str()),
            Marker::Serve => start.starts_with("kith serve"),
            _ => false,
        });
        if let Some(marker) = skip {
            matched.push(marker);
            continue;
        }
        let mut command = command.clone();
        for marker in &block.markers {
            if let Marker::Replace { from, to } = marker
                && command.contains(from.as_str())
            {
                command = command.replace(from.as_str(), to);
                matched.push(marker);
            }
        }
        if let Some(serving) = serving {
            command = command
                .replace("127.0.0.1:4434", &serving.admin)
                .replace("127.0.0.1:4433", &serving.public);
        }
        let capture = block.markers.iter().find(|m| {
            matches!(m, Marker::Capture { after, .. } if start.starts_with(after.as_str()))
                && !matched.contains(m)
        });
        let part = parts.last_mut().expect("a part");
        part.script.push_str(&command);
        part.script.push('\n');
        if let Some(marker @ Marker::Capture { name, pointer, .. }) = capture {
            part.capture = Some((name.clone(), pointer.clone()));
            matched.push(marker);
            parts.push(Part {
                script: String::new(),
                capture: None,
            });
        }
    }
    for marker in &block.markers {
        if matches!(
            marker,
            Marker::SkipLine(_) | Marker::Serve | Marker::Replace { .. } | Marker::Capture { .. }
        ) && !matched.contains(&marker)
        {
            return Err(format!("{marker:?} matches no line of the block"));
        }
    }
    Ok(parts)
}

/// The string at `pointer` in the first JSON value of `output` that has one.
fn captured(output: &str, pointer: &str) -> Option<String> {
    output.lines().find_map(|line| {
        serde_json::from_str::<Value>(line)
            .ok()?
            .pointer(pointer)?
            .as_str()
            .map(str::to_string)
    })
}

/// `kith serve` started by the test, stopped with SIGTERM when dropped.
struct Serving {
    child: Child,
    admin: String,
    public: String,
}

impl Serving {
    fn start(home: &Path, path: &str, log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
        tour_env(&mut command, home, path);
        command
            .args(crate::serve::SERVE_ON_LOOPBACK)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(log).expect("a log file"));
        let (child, ready) = spawn_serve(command);
        Self {
            admin: listener(&ready, "admin"),
            public: listener(&ready, "public"),
            child,
        }
    }

    fn stop(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The environment of every process of the tour: nothing of the caller's but `PATH`.
fn tour_env(command: &mut Command, home: &Path, path: &str) {
    command
        .env_clear()
        .env("HOME", home)
        .env("PATH", path)
        .env("USER", "tester")
        .env("LOGNAME", "tester")
        .env("LANG", "C.UTF-8")
        .current_dir(home);
}

/// One `bash` that runs the tour's blocks as they come, killed if the test ends early.
struct Shell {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Shell {
    fn start(home: &Path, path: &str, log: &Path) -> Self {
        let mut command = Command::new("bash");
        tour_env(&mut command, home, path);
        let mut child = command
            .args(["--noprofile", "--norc"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).expect("a log file"))
            .spawn()
            .expect("bash starts");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut shell = Self {
            stdin: child.stdin.take(),
            child,
            lines,
        };
        shell.send("set -euo pipefail\n");
        shell
    }

    fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("bash's stdin");
        // A shell that has exited is noticed by `status`.
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.flush();
    }

    /// Runs `script` with its output in `out` and `err`: its exit status, or why there is none
    /// (bash exited as a command failed under `set -e`, or the block ran past the timeout).
    fn status(
        &mut self,
        n: &str,
        script: &str,
        out: &Path,
        err: &Path,
        fails: bool,
    ) -> Result<i32, String> {
        let quote = |p: &Path| format!("'{}'", p.display());
        let group = format!(
            "{{\n{script}\n}} </dev/null >{} 2>{}",
            quote(out),
            quote(err)
        );
        let text = if fails {
            format!(
                "set +e\n{group}\ntour_status=$?\nset -e\necho \"tour-block-{n} $tour_status\"\n"
            )
        } else {
            format!("{group}\necho \"tour-block-{n} $?\"\n")
        };
        self.send(&text);
        let deadline = Instant::now() + BLOCK_TIMEOUT;
        let tag = format!("tour-block-{n} ");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|e| match e {
                RecvTimeoutError::Timeout => format!("the block ran over {BLOCK_TIMEOUT:?}"),
                RecvTimeoutError::Disconnected => "a command failed (bash exited)".to_string(),
            })?;
            if let Some(code) = line.strip_prefix(&tag) {
                return code.trim().parse().map_err(|e| format!("{line:?}: {e}"));
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Single-quoted for bash.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// README.md beside Cargo.toml.
fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

// See: #16 (the tour's curl got 409, its BODY.json conflicted, its invite's traits were ignored).
#[test]
fn readme_tour_runs_top_to_bottom_on_a_fresh_store() -> crate::harness::TestResult {
    let readme = std::fs::read_to_string(readme_path())?;
    let blocks = tour_blocks(&readme)?;
    assert!(
        blocks.iter().filter(|b| b.is_shell()).count() >= 10,
        "the tour has shell blocks"
    );

    let home = tempfile::tempdir()?;
    let logs = tempfile::tempdir()?;
    // The first-party plugins, built and staged as `scripts/build-plugins` leaves them.
    let staged = PathBuf::from(crate::plugins::plugin_dir("eml-outbox"));
    std::os::unix::fs::symlink(
        staged.parent().expect("staged plugins"),
        home.path().join("plugins"),
    )?;
    let bin = Path::new(env!("CARGO_BIN_EXE_kith"))
        .parent()
        .expect("a folder");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );

    let mut shell = Shell::start(home.path(), &path, &logs.path().join("bash.err"));
    let mut serving: Option<Serving> = None;
    let mut ran = 0;
    for (n, block) in blocks.iter().enumerate() {
        let at = format!("README.md:{}", block.line);
        if !block.is_shell() {
            for marker in &block.markers {
                match marker {
                    Marker::File(name) => std::fs::write(home.path().join(name), &block.text)?,
                    other => panic!("{at}: {other:?} on a {} block", block.lang),
                }
            }
            continue;
        }
        if block.markers.contains(&Marker::Skip) {
            continue;
        }
        if block.markers.contains(&Marker::Serve) && serving.is_none() {
            serving = Some(Serving::start(
                home.path(),
                &path,
                &logs.path().join("serve.err"),
            ));
        }
        let parts = script(block, serving.as_ref()).map_err(|e| format!("{at}: {e}"))?;
        let fails = block.markers.contains(&Marker::Fails);
        let (mut stdout, mut stderr, mut shown_script) =
            (String::new(), String::new(), String::new());
        for (i, part) in parts.iter().enumerate() {
            let out = logs.path().join(format!("{n}.{i}.out"));
            let err = logs.path().join(format!("{n}.{i}.err"));
            let last = i + 1 == parts.len();
            let status = shell.status(&format!("{n}.{i}"), &part.script, &out, &err, fails && last);
            let part_stdout = std::fs::read_to_string(&out).unwrap_or_default();
            stdout.push_str(&part_stdout);
            stderr.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
            shown_script.push_str(&part.script);
            let shown = || {
                format!(
                    "{at}, run as:\n{shown_script}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}\n--- bash:\n{}",
                    std::fs::read_to_string(logs.path().join("bash.err")).unwrap_or_default()
                )
            };
            let expected = if fails && last { "non-zero" } else { "0" };
            match status {
                Ok(0) if !(fails && last) => {}
                Ok(code) if fails && last && code != 0 => {}
                Ok(code) => panic!("exit status {code}, expected {expected}: {}", shown()),
                Err(why) => panic!("{why}: {}", shown()),
            }
            if let Some((name, pointer)) = &part.capture {
                let value = captured(&part_stdout, pointer).unwrap_or_else(|| {
                    panic!("capture {name}: no JSON with {pointer}: {}", shown())
                });
                shell.send(&format!("{name}={}\n", shell_quote(&value)));
            }
        }
        for marker in &block.markers {
            if let Marker::Expect(text) = marker {
                assert!(
                    stdout.contains(text.as_str()) || stderr.contains(text.as_str()),
                    "{at}: expected {text:?} in the output of:\n{shown_script}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}"
                );
            }
        }
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} blocks ran");
    shell.send("exit 0\n");
    drop(shell);
    if let Some(mut serving) = serving {
        let code = serving.stop();
        assert_eq!(
            code,
            Some(0),
            "kith serve stopped with {code:?}:\n{}",
            std::fs::read_to_string(logs.path().join("serve.err")).unwrap_or_default()
        );
    }
    Ok(())
}

#[test]
fn tour_markers_are_read_as_documented() -> crate::harness::TestResult {
    let readme = "intro\n```sh\nnot the tour\n```\n## The two commands\n\
                  <!-- tour: replace \"cargo run --\" with \"kith\" -->\n\
                  <!-- tour: skip-line scripts/test -->\n\
                  ```sh\ncargo run -- list schemas\nscripts/test \\\n  serve::\n```\n\
                  <!-- tour: file a.json -->\n```json\n{}\n```\n\
                  <!-- tour: expect \"\\\"a\\\"\" -->\n\
                  <!-- tour: capture LINK /link after echo -->\n\
                  ```console\necho '{\"link\":\"a\"}'\nls\n```\n\
                  ## Compatibility with Kratos\n```sh\nafter\n```\n";
    let blocks = tour_blocks(readme)?;
    assert_eq!(blocks.len(), 3);
    let two = script(&blocks[0], None)?;
    assert_eq!(two.len(), 1);
    assert_eq!(two[0].script, "kith list schemas\n");
    assert_eq!(blocks[1].markers, [Marker::File("a.json".into())]);
    assert_eq!(blocks[2].markers[0], Marker::Expect("\"a\"".into()));
    let parts = script(&blocks[2], None)?;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].capture, Some(("LINK".into(), "/link".into())));
    assert_eq!(parts[1].script, "ls\n");
    assert_eq!(
        captured("text\n{\"link\":\"a\"}\n", "/link").as_deref(),
        Some("a")
    );
    // A marker that matches nothing, or that floats away from its block, is an error.
    let stray = Block {
        line: 1,
        lang: "sh".into(),
        text: "kith list schemas\n".into(),
        markers: vec![Marker::SkipLine("kith accept".into())],
    };
    assert!(script(&stray, None).is_err());
    for broken in [
        "## The two commands\n<!-- tour: skip -->\n\ntext\n## Compatibility with Kratos\n",
        "## The two commands\n<!-- tour: skiip -->\n```sh\n```\n## Compatibility with Kratos\n",
        "## The two commands\n```sh\nkith\n```\n",
    ] {
        assert!(tour_blocks(broken).is_err(), "{broken:?}");
    }
    Ok(())
}
