//! A temporary store and a `kith` command bound to it.

use assert_cmd::Command;
use serde_json::Value;
use std::path::PathBuf;
use tempfile::TempDir;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh store file in its own temporary folder.
pub struct Env {
    pub dir: TempDir,
    pub db: PathBuf,
}

/// What one run of kith printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` with `stdin` to its end.
    pub fn of(cmd: &mut Command, stdin: &str) -> Self {
        let output = cmd.write_stdin(stdin).output().expect("kith runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// stdout as JSON; panics with both streams when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// stderr as Kratos' error envelope: the object under `"error"`.
    pub fn error(&self) -> Value {
        let value: Value = serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}):\n{}", self.stderr));
        value["error"].clone()
    }

    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "kith failed:\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("kith.db");
        Self { dir, db }
    }

    /// `kith --db <file>`, with nothing of the caller's environment leaking in.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("kith").expect("the kith binary");
        cmd.env_remove("KITH_DB")
            .env("USER", "tester")
            .env("KITH_CACHE_DIR", self.dir.path().join("cache"))
            .arg("--db")
            .arg(&self.db);
        cmd
    }

    /// `kith --db <file>` as a plain process, for commands that keep running (`serve`).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kith"));
        cmd.env_remove("KITH_DB")
            .env("USER", "tester")
            .env("KITH_CACHE_DIR", self.dir.path().join("cache"))
            .arg("--db")
            .arg(&self.db);
        cmd
    }

    /// Runs kith with `args` and `stdin`; output is JSON unless `args` pick a format.
    pub fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.cmd();
        if !args.contains(&"--format") {
            cmd.args(["--format", "json"]);
        }
        Run::of(cmd.args(args), stdin)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    /// Creates an identity from a createIdentityBody and returns it.
    pub fn create(&self, body: &Value) -> Value {
        self.run_with(&["create", "identity", "--file", "-"], &body.to_string())
            .ok()
            .json()
    }

    /// Creates a `preset://email` identity and returns its id.
    pub fn create_email(&self, email: &str) -> String {
        let identity = self.create(&serde_json::json!({
            "schema_id": "preset://email",
            "traits": {"email": email},
        }));
        identity["id"].as_str().expect("an id").to_string()
    }

    /// How many identities the store holds, by listing them all.
    /// `kith verify password` for `identifier`, the password given on stdin.
    pub fn verify_password(&self, identifier: &str, password: &str) -> Run {
        self.run_with(
            &[
                "verify",
                "password",
                "--identifier",
                identifier,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        )
    }

    pub fn count(&self) -> usize {
        self.run(&["list", "identities", "--page-size", "500"])
            .ok()
            .json()
            .as_array()
            .map_or(0, Vec::len)
    }

    /// How many identities the store holds, however many: one exported line each.
    pub fn count_all(&self) -> usize {
        self.run(&["export", "identities"])
            .ok()
            .stdout
            .lines()
            .count()
    }

    /// Installs the first-party plugin `name` from plugins/, granting `grant`, with
    /// `--config KEY=VALUE` for each of `config`.
    pub fn install_plugin(&self, name: &str, grant: &str, config: &[&str]) {
        let dir = crate::plugins::plugin_dir(name);
        let mut args = vec!["install", "plugin", dir.as_str(), "--grant", grant];
        for pair in config {
            args.extend(["--config", pair]);
        }
        self.run(&args).ok();
    }

    /// Writes `text` into a file in the temporary folder and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a fixture file");
        path.to_string_lossy().into_owned()
    }

    /// Runs kith on a pseudo-terminal (Python's pty module), answering each prompt that
    /// contains the first text of a pair with the second, written as it is (`\r` ends a
    /// line, `\x04` is Ctrl-D); returns everything the terminal showed, with `[ended]` once
    /// kith exited by itself.
    pub fn on_a_terminal(&self, args: &[&str], dialogue: &[(&str, &str)]) -> String {
        self.on_a_terminal_of_width(100, args, dialogue)
    }

    /// [`Env::on_a_terminal`] on a terminal `columns` wide.
    pub fn on_a_terminal_of_width(
        &self,
        columns: u16,
        args: &[&str],
        dialogue: &[(&str, &str)],
    ) -> String {
        self.on_a_terminal_with(columns, args, dialogue, &[])
    }

    /// [`Env::on_a_terminal`] with `vars` set in kith's environment (an `xterm`, without
    /// `NO_COLOR`, unless `vars` say otherwise).
    pub fn on_a_terminal_with(
        &self,
        columns: u16,
        args: &[&str],
        dialogue: &[(&str, &str)],
        vars: &[(&str, &str)],
    ) -> String {
        let script = r#"
import json, os, pty, select, sys, time
dialogue = json.loads(os.environ["KITH_TEST_DIALOGUE"])
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
import fcntl, struct, termios
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, int(os.environ["KITH_TEST_COLUMNS"]), 0, 0))
out, deadline = b"", time.time() + 30
def read_some():
    global out
    if select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        out += chunk
        return bool(chunk)
    return True
for expect, answer in dialogue:
    while time.time() < deadline and expect.encode() not in out and read_some():
        pass
    if expect.encode() not in out:
        break
    out += b"<<" + expect.encode() + b">>"
    os.write(fd, answer.encode())
ended = False
while time.time() < deadline and not ended:
    ended = os.waitpid(pid, os.WNOHANG)[0] != 0
    if not read_some() and not ended:
        ended = os.waitpid(pid, 0)[0] != 0
if ended:
    out += b"[ended]"
else:
    os.kill(pid, 9)
sys.stdout.write(out.decode(errors="replace"))
"#;
        let dialogue: Vec<[&str; 2]> = dialogue.iter().map(|(e, a)| [*e, *a]).collect();
        let output = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(env!("CARGO_BIN_EXE_kith"))
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .env("KITH_CACHE_DIR", self.dir.path().join("cache"))
            .env("USER", "tester")
            .env("KITH_TEST_COLUMNS", columns.to_string())
            .env_remove("NO_COLOR")
            .env("TERM", "xterm")
            .envs(vars.iter().copied())
            .env(
                "KITH_TEST_DIALOGUE",
                serde_json::to_string(&dialogue).expect("JSON"),
            )
            .output()
            .expect("python3 runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}
