//! What an operator carries into an air-gapped site (scripts/dist, README "Carrying kith into
//! an air-gapped site"): the commit a source bundle names, a plugin folder as the bundle lays
//! it out, and the checks the README tells the far side to run. The static and offline builds
//! themselves take many minutes and run in scripts/dist, not here.

use crate::harness::{Env, TestResult};
use std::path::Path;
use std::process::Command;

/// build.rs, whose `COMMIT` reading is tested here (its `main` is not called).
#[allow(dead_code)]
#[path = "../build.rs"]
mod build_script;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_commit_file_names_the_commit_in_gits_short_form() {
    let full =
        "5A4E2E14CDB0C2D1E5F60718293A4B5C6D7E8F90\nuncommitted changes on top of this commit\n";
    assert_eq!(build_script::commit_in(full).as_deref(), Ok("5a4e2e14cdb0"));
    assert_eq!(
        build_script::commit_in("  5a4e2e14cdb0  \n").as_deref(),
        Ok("5a4e2e14cdb0")
    );
}

#[test]
fn a_damaged_commit_file_is_refused_not_printed_as_a_commit() {
    for text in [
        "",
        "\n5a4e2e14cdb0",
        "5a4e2e14",
        "main",
        "5a4e2e14cdb0; rm -rf /",
    ] {
        let refused = build_script::commit_in(text);
        assert!(refused.is_err(), "{text:?} read as {refused:?}");
    }
}

#[test]
fn the_bundles_and_a_commit_file_are_never_committed() -> TestResult {
    let ignored = Command::new("git")
        .args([
            "check-ignore",
            "--no-index",
            "dist/kith-0-src/vendor/x",
            "COMMIT",
        ])
        .current_dir(root())
        .output()?;
    if ignored.status.code() == Some(128) {
        eprintln!("skipped: not a git checkout");
        return Ok(());
    }
    let listed = String::from_utf8_lossy(&ignored.stdout);
    assert!(listed.contains("dist/kith-0-src/vendor/x"), "{listed}");
    assert!(listed.lines().any(|l| l == "COMMIT"), "{listed}");
    Ok(())
}

#[test]
fn scripts_dist_refuses_an_unknown_step_before_building_anything() -> TestResult {
    let run = Command::new(root().join("scripts/dist"))
        .arg("statik")
        .current_dir(std::env::temp_dir())
        .output()?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown argument statik") && stderr.contains("[prove-offline]"),
        "{stderr}"
    );
    Ok(())
}

/// The far side's check: a plugin folder holding only plugin.toml and its component (as
/// scripts/dist copies it) installs, and kith shows the component's sha256 as sha256sum
/// computes it over the carried file.
#[test]
fn a_bundled_plugin_folder_installs_and_kith_shows_the_sha256_sha256sum_prints() -> TestResult {
    let env = Env::new();
    let source = Path::new(&crate::plugins::plugin_dir("email-domain-policy")).to_path_buf();
    let carried = env.dir.path().join("bundle/plugins/email-domain-policy");
    std::fs::create_dir_all(&carried)?;
    std::fs::copy(source.join("plugin.toml"), carried.join("plugin.toml"))?;
    let wasm = "email_domain_policy.wasm";
    std::fs::copy(source.join(wasm), carried.join(wasm))?;

    env.run(&["install", "plugin", &carried.to_string_lossy()])
        .ok();
    let summed = Command::new("sha256sum")
        .arg(wasm)
        .current_dir(&carried)
        .output()?;
    assert!(summed.status.success());
    let summed = String::from_utf8_lossy(&summed.stdout);
    let expected = summed.split_whitespace().next().unwrap_or_default();
    assert_eq!(expected.len(), 64, "{summed}");

    let listed = env
        .run(&["list", "plugins", "--format", "json"])
        .ok()
        .json();
    let plugin = listed
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == "email-domain-policy"))
        .unwrap_or_else(|| panic!("not listed: {listed}"));
    assert_eq!(plugin["sha256"], expected, "{plugin}");
    Ok(())
}
