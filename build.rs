//! Tells `kith --version` and `kith version` which commit they were built from, and when:
//! `KITH_COMMIT` (git's short hash, `unknown` outside a git checkout) and `KITH_BUILD_DATE`
//! (UTC, from `SOURCE_DATE_EPOCH` when set, for reproducible builds).
//!
//! A source bundle (`scripts/dist source`) has no `.git`: it carries the commit in a file
//! named `COMMIT` at its root, which wins over git when present. git is asked only when this
//! folder is a checkout of its own, so a bundle unpacked inside some other repository never
//! reports that repository's commit.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// The commit a `COMMIT` file's text names: its first line, cut to git's 12-character short
/// form. Anything but a hex hash there is refused, so a damaged file cannot print as a commit.
/// (tests/dist.rs includes this file to test it.)
pub fn commit_in(text: &str) -> Result<String, String> {
    let line = text.lines().next().unwrap_or("").trim();
    if line.len() < 12 || !line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("holds no commit hash ({line:?})"));
    }
    Ok(line[..12].to_ascii_lowercase())
}

/// The commit of a source bundle's `COMMIT` file, `unknown` (with a warning) for a damaged
/// one, `None` without one.
fn commit_file(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(commit_in(&text).unwrap_or_else(|why| {
        println!(
            "cargo:warning={} {why}; the commit reads as unknown",
            path.display()
        );
        "unknown".into()
    }))
}

fn main() {
    let commit = commit_file(Path::new("COMMIT"))
        .or_else(|| {
            Path::new(".git")
                .exists()
                .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
                .flatten()
        })
        .unwrap_or_else(|| "unknown".into());
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    let date = chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || "unknown".to_string(),
        |t| t.format("%Y-%m-%d").to_string(),
    );
    println!("cargo:rustc-env=KITH_COMMIT={commit}");
    println!("cargo:rustc-env=KITH_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // A new commit (or checkout) changes HEAD or the branch it points to.
    // (Only files that exist: cargo reruns a script on every build for a missing one.)
    // git says where HEAD, packed-refs and the branch's ref live: in a linked worktree
    // `.git` is a file, HEAD is under the worktree's own folder and the refs are shared.
    let mut watched = vec!["COMMIT".to_string()];
    if Path::new(".git").exists() {
        let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
        names.extend(git(&["symbolic-ref", "-q", "HEAD"]));
        watched.extend(
            names
                .iter()
                .filter_map(|name| git(&["rev-parse", "--git-path", name])),
        );
    }
    println!("cargo:rerun-if-changed=build.rs");
    for path in watched.iter().filter(|p| Path::new(p).is_file()) {
        println!("cargo:rerun-if-changed={path}");
    }
}
