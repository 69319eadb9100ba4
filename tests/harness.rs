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
        let output = cmd
            .args(args)
            .write_stdin(stdin)
            .output()
            .expect("kith runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
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

    /// Writes `text` into a file in the temporary folder and returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a fixture file");
        path.to_string_lossy().into_owned()
    }
}
