//! Writing a plugin outside kith's repository: `kith new plugin` projects that build offline
//! and run through kith, `kith wit`, and the commands an author meets afterwards (`install
//! --upgrade`, `configure plugin`, `get plugin`, `run plugin ./path`).
//!
//! The project builds need cargo, the wasm32-wasip2 target and the crates of plugins/Cargo.lock
//! in cargo's cache (the plugins' build fetches them); they run with `--offline --locked`.

use crate::harness::{Env, Run, TestResult};
use crate::plugins::{plugin_dir, run_plugin, wasm};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// One cargo target folder for every project these tests build, so wit-bindgen and its
/// dependencies compile once per run (cargo's lock on it makes the builds take turns).
fn shared_target() -> &'static Path {
    static TARGET: OnceLock<tempfile::TempDir> = OnceLock::new();
    TARGET
        .get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

/// `kith new plugin NAME --kind KIND` into a fresh folder of `env`; the project's folder.
fn new_project(env: &Env, name: &str, kind: &str) -> PathBuf {
    let dir = env.dir.path().join("projects").join(name);
    let written = env
        .run(&[
            "new",
            "plugin",
            name,
            "--kind",
            kind,
            "--dir",
            &dir.to_string_lossy(),
        ])
        .ok()
        .json();
    assert_eq!(written["kind"], kind);
    assert!(dir.join("plugin.toml").is_file());
    dir
}

/// Every file of the project, as (path, text).
fn project_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a project folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let text = std::fs::read_to_string(&path).expect("a text file");
                files.push((path, text));
            }
        }
    }
    files
}

/// The project names nothing of kith's repository: no path dependency, no path into it.
fn assert_standalone(dir: &Path) {
    let repository = env!("CARGO_MANIFEST_DIR");
    for (path, text) in project_files(dir) {
        assert!(
            !text.contains(repository),
            "{} names the repository",
            path.display()
        );
        assert!(
            !text.contains("path =") && !text.contains("path="),
            "{} has a path setting:\n{text}",
            path.display()
        );
        for placeholder in [
            "{{name}}",
            "{{crate}}",
            "{{kind}}",
            "{{summary}}",
            "{{grant}}",
        ] {
            assert!(
                !text.contains(placeholder),
                "{} keeps {placeholder}",
                path.display()
            );
        }
    }
}

/// A cargo command in the project, offline, building into the shared target folder.
fn cargo(dir: &Path) -> Command {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    cargo
}

/// Builds the project offline with its own Cargo.lock (`--locked`: the lock kith wrote must
/// be the one cargo would write), and puts the component where its plugin.toml names it.
fn build(dir: &Path, krate: &str) -> PathBuf {
    let output = cargo(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--offline",
            "--locked",
        ])
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the project does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning"), "the build warns:\n{stderr}");
    let built = shared_target().join(format!("wasm32-wasip2/release/{krate}.wasm"));
    let inside = dir.join(format!("target/wasm32-wasip2/release/{krate}.wasm"));
    std::fs::create_dir_all(inside.parent().expect("a folder")).expect("target/ in the project");
    std::fs::copy(&built, &inside).expect("the component");
    built
}

/// The project's own ./test.sh (offline), with `kith` the binary under test.
fn test_script(env: &Env, dir: &Path) -> Run {
    let output = Command::new(dir.join("test.sh"))
        .arg("--offline")
        .current_dir(dir)
        .env("KITH", env!("CARGO_BIN_EXE_kith"))
        .env("KITH_DB", &env.db)
        .env("KITH_CACHE_DIR", env.dir.path().join("cache"))
        .env("CARGO_TARGET_DIR", shared_target())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("test.sh runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn a_new_trait_validator_builds_offline_passes_its_test_and_refuses_a_reserved_name() -> TestResult
{
    let env = Env::new();
    let dir = new_project(&env, "no-admin", "trait-validator");
    assert_standalone(&dir);
    build(&dir, "no_admin");
    let script = test_script(&env, &dir);
    assert_eq!(script.code, 0, "{}\n{}", script.stdout, script.stderr);
    assert!(
        script.stdout.contains("ok   tests/reserved"),
        "{}",
        script.stdout
    );

    let report = run_plugin(
        &env,
        &dir.to_string_lossy(),
        &json!({"schema_id": "preset://username", "traits": {"username": "root"}}),
    );
    assert_eq!(report["output"]["errors"][0]["code"], "reserved");

    env.run(&["install", "plugin", &dir.to_string_lossy()]).ok();
    let refused = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "preset://username", "traits": {"username": "admin"}}).to_string(),
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert_eq!(refused.error()["details"]["plugin"], "no-admin");
    env.create(&json!({"schema_id": "preset://username", "traits": {"username": "ada"}}));
    Ok(())
}

#[test]
fn a_new_invite_delivery_plugin_builds_and_plans_one_outbox_file() -> TestResult {
    let env = Env::new();
    let dir = new_project(&env, "txt-outbox", "invite-delivery");
    assert_standalone(&dir);
    build(&dir, "txt_outbox");
    let report = run_plugin(
        &env,
        &dir.to_string_lossy(),
        &json!({"recipient": "ada@example.org", "recovery_link": "https://id.example.org/r?t=1",
                "recovery_code": "042917", "traits": {}}),
    );
    let output = &report["output"];
    assert_eq!(output["plan"], "outbox", "{report}");
    assert_eq!(output["files"].as_array().map(Vec::len), Some(1));
    let body = output["files"][0]["body"].as_str().unwrap_or_default();
    assert!(body.contains("https://id.example.org/r?t=1") && body.contains("042917"));

    let refused = env.run(&["install", "plugin", &dir.to_string_lossy()]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("--grant outbox:write"),
        "{}",
        refused.stderr
    );
    let installed = env
        .run(&[
            "install",
            "plugin",
            &dir.to_string_lossy(),
            "--grant",
            "outbox:write",
        ])
        .ok()
        .json();
    assert_eq!(installed["kind"], "invite-delivery");
    Ok(())
}

#[test]
fn a_new_import_mapper_builds_and_maps_an_email_record() -> TestResult {
    let env = Env::new();
    let dir = new_project(&env, "email-records", "import-mapper");
    assert_standalone(&dir);
    build(&dir, "email_records");
    let plugin = dir.to_string_lossy().into_owned();
    let mapped = run_plugin(
        &env,
        &plugin,
        &json!({"email": " ada@example.org", "name": "Ada"}),
    );
    assert_eq!(
        mapped["output"]["body"],
        json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"}, "state": "active"})
    );
    let refused = run_plugin(&env, &plugin, &json!({"name": "nobody"}));
    assert_eq!(refused["output"]["errors"][0]["code"], "missing_email");
    env.run(&["install", "plugin", &plugin]).ok();
    let mapped = run_plugin(&env, "email-records", &json!({"email": "bo@example.org"}));
    assert_eq!(
        mapped["output"]["body"]["traits"]["email"],
        "bo@example.org"
    );
    Ok(())
}

/// The host side of this kind comes with the password-migration work; here the project must
/// build against the contract's `password-migration` world and export its interface.
#[test]
fn a_new_password_migration_plugin_builds_against_the_contract() -> TestResult {
    let env = Env::new();
    let dir = new_project(&env, "plain-legacy", "password-migration");
    assert_standalone(&dir);
    let built = build(&dir, "plain_legacy");
    let bytes = std::fs::read(built)?;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("kith:plugin/migration@0.1.0"),
        "no migration export"
    );
    Ok(())
}

#[test]
fn kith_wit_prints_the_contract_it_speaks() -> TestResult {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let printed = env.run(&["wit"]).ok();
    assert_eq!(
        printed.stdout,
        std::fs::read_to_string(root.join("plugins/wit/kith-plugin.wit"))?
    );
    let printed = env.run(&["wit", "--api", "0.2"]).ok();
    assert_eq!(
        printed.stdout,
        std::fs::read_to_string(root.join("plugins/wit-0.2/kith-plugin.wit"))?
    );
    assert!(!env.db.exists(), "kith wit made a store");
    Ok(())
}

#[test]
fn new_plugin_refuses_bad_names_unknown_kinds_and_folders_with_files() -> TestResult {
    let env = Env::new();
    let folder = env.dir.path().join("taken");
    std::fs::create_dir(&folder)?;
    std::fs::write(folder.join("notes.txt"), "mine")?;
    let taken = env.run(&[
        "new",
        "plugin",
        "ok-name",
        "--kind",
        "trait-validator",
        "--dir",
        &folder.to_string_lossy(),
    ]);
    assert_eq!(taken.code, 1);
    assert!(taken.stderr.contains("is not empty"), "{}", taken.stderr);
    assert_eq!(std::fs::read_to_string(folder.join("notes.txt"))?, "mine");

    for (name, expected) in [
        ("Bad_Name", "lowercase letters, digits and dashes"),
        ("under_score", "lowercase letters, digits and dashes"),
        ("9lives", "cannot start with a digit"),
        ("core", "Rust's own crates"),
    ] {
        let dir = env.dir.path().join(format!("p-{name}"));
        let refused = env.run(&[
            "new",
            "plugin",
            name,
            "--kind",
            "trait-validator",
            "--dir",
            &dir.to_string_lossy(),
        ]);
        assert_eq!(refused.code, 1, "{name}");
        assert!(
            refused.stderr.contains(expected),
            "{name}: {}",
            refused.stderr
        );
        assert!(!dir.exists(), "{name}: a folder was made");
    }
    let kind = env.run(&["new", "plugin", "x", "--kind", "validator"]);
    assert_eq!(kind.code, 1);
    assert!(kind.stderr.contains("trait-validator"), "{}", kind.stderr);
    let lang = env.run(&[
        "new",
        "plugin",
        "x",
        "--kind",
        "import-mapper",
        "--lang",
        "cobol",
    ]);
    assert_eq!(lang.code, 1);
    assert!(!env.db.exists(), "kith new made a store");
    Ok(())
}

/// A copy of the first-party `email-domain-policy` folder with its plugin.toml edited.
fn policy_variant(env: &Env, folder: &str, edit: impl Fn(String) -> String) -> String {
    let source = PathBuf::from(plugin_dir("email-domain-policy"));
    let dir = env.dir.path().join(folder);
    std::fs::create_dir_all(&dir).expect("a folder");
    let manifest = std::fs::read_to_string(source.join("plugin.toml")).expect("plugin.toml");
    std::fs::write(dir.join("plugin.toml"), edit(manifest)).expect("plugin.toml");
    std::fs::copy(
        wasm("email_domain_policy.wasm"),
        dir.join("email_domain_policy.wasm"),
    )
    .expect("the component");
    dir.to_string_lossy().into_owned()
}

fn actions(env: &Env) -> Vec<String> {
    env.run(&["list", "events"])
        .ok()
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn install_upgrade_replaces_a_plugin_keeping_its_config_grants_and_enabled_state() -> TestResult {
    let env = Env::new();
    env.run(&[
        "install",
        "plugin",
        &plugin_dir("email-domain-policy"),
        "--config",
        "denied_domains=spam.example",
        "--config",
        "allowed_domains=example.org,spam.example",
    ])
    .ok();
    env.run(&["disable", "plugin", "email-domain-policy"]).ok();
    // 0.2.0 drops allowed_domains, adds `note`, and changes a default nobody set.
    let newer = policy_variant(&env, "policy-0.2", |manifest| {
        manifest
            .replace("version = \"0.1.0\"", "version = \"0.2.0\"")
            .replace("allowed_domains = \"\"\n", "note = \"new\"\n")
            .replace("timeout_ms = 500", "timeout_ms = 400")
    });
    let again = env.run(&["install", "plugin", &newer]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("--upgrade"), "{}", again.stderr);

    let upgraded = env
        .run(&["install", "plugin", &newer, "--upgrade"])
        .ok()
        .json();
    assert_eq!(upgraded["version"], "0.2.0");
    assert_eq!(upgraded["enabled"], false);
    assert_eq!(
        upgraded["config"],
        json!({"denied_domains": "spam.example", "note": "new"})
    );
    assert_eq!(upgraded["upgraded_from"]["version"], "0.1.0");
    assert_eq!(
        upgraded["upgraded_from"]["dropped_config"],
        json!(["allowed_domains"])
    );
    let listed = env.run(&["list", "plugins"]).ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["version"], "0.2.0");
    assert_eq!(
        actions(&env).last().map(String::as_str),
        Some("plugin.upgraded")
    );

    // Enabled again, the kept config is the one in force.
    env.run(&["enable", "plugin", "email-domain-policy"]).ok();
    let refused = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "eve@spam.example"}})
            .to_string(),
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);

    // A plugin of another kind under the same name is not an upgrade: auth0-import's
    // component (a mapper) under this name.
    let mapper = env.dir.path().join("policy-mapper");
    std::fs::create_dir(&mapper)?;
    let auth0 =
        std::fs::read_to_string(PathBuf::from(plugin_dir("auth0-import")).join("plugin.toml"))?;
    std::fs::write(
        mapper.join("plugin.toml"),
        auth0.replace("name = \"auth0-import\"", "name = \"email-domain-policy\""),
    )?;
    std::fs::copy(wasm("auth0_import.wasm"), mapper.join("auth0_import.wasm"))?;
    let refused = env.run(&["install", "plugin", &mapper.to_string_lossy(), "--upgrade"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("keeps its kind"),
        "{}",
        refused.stderr
    );

    // With nothing installed under the name, --upgrade installs.
    env.run(&["remove", "plugin", "email-domain-policy"]).ok();
    let fresh = env
        .run(&["install", "plugin", &newer, "--upgrade"])
        .ok()
        .json();
    assert_eq!(fresh["upgraded_from"], Value::Null);
    assert_eq!(fresh["enabled"], true);
    Ok(())
}

#[test]
fn configure_plugin_changes_config_without_reinstalling() -> TestResult {
    let env = Env::new();
    wasm("email_domain_policy.wasm");
    let dir = plugin_dir("email-domain-policy");
    let typo = env.run(&["install", "plugin", &dir, "--config", "denied_domain=x.org"]);
    assert_eq!(typo.code, 1);
    assert!(
        typo.stderr.contains("did you mean `denied_domains`"),
        "{}",
        typo.stderr
    );
    env.run(&["install", "plugin", &dir]).ok();
    let body =
        json!({"schema_id": "preset://email", "traits": {"email": "eve@spam.example"}}).to_string();
    env.run_with(&["create", "identity", "--file", "-"], &body)
        .ok();

    let configured = env
        .run(&[
            "configure",
            "plugin",
            "email-domain-policy",
            "--config",
            "denied_domains=spam.example",
        ])
        .ok()
        .json();
    assert_eq!(configured["config"]["denied_domains"], "spam.example");
    let body = json!({"schema_id": "preset://email", "traits": {"email": "eve2@spam.example"}})
        .to_string();
    let refused = env.run_with(&["create", "identity", "--file", "-"], &body);
    assert_eq!(refused.code, 1, "{}", refused.stderr);

    let unset = env
        .run(&[
            "configure",
            "plugin",
            "email-domain-policy",
            "--unset",
            "denied_domains",
        ])
        .ok()
        .json();
    assert_eq!(
        unset["config"]["denied_domains"],
        "mailinator.com,guerrillamail.com"
    );
    env.run_with(&["create", "identity", "--file", "-"], &body)
        .ok();

    let unknown = env.run(&[
        "configure",
        "plugin",
        "email-domain-policy",
        "--config",
        "alowed_domains=x.org",
    ]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("did you mean `allowed_domains`"),
        "{}",
        unknown.stderr
    );
    let nothing = env.run(&["configure", "plugin", "email-domain-policy"]);
    assert_eq!(nothing.code, 1);
    let missing = env.run(&["configure", "plugin", "nope", "--config", "a=b"]);
    assert_eq!(missing.error()["code"], 404);
    let events = env.run(&["list", "events"]).ok().json();
    let configured: Vec<&Value> = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "plugin.configured")
        .collect();
    assert_eq!(configured.len(), 2);
    assert!(
        !configured[0].to_string().contains("spam.example"),
        "values are not recorded: {}",
        configured[0]
    );
    Ok(())
}

#[test]
fn get_plugin_shows_manifest_config_grants_limits_and_the_components_sha256() -> TestResult {
    use sha2::Digest as _;
    let env = Env::new();
    let component = std::fs::read(wasm("eml_outbox.wasm"))?;
    env.install_plugin("eml-outbox", "outbox:write", &["subject=Welcome"]);
    let details = env.run(&["get", "plugin", "eml-outbox"]).ok().json();
    let sha256: String = sha2::Sha256::digest(&component)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(details["sha256"], sha256);
    assert_eq!(details["size_bytes"], component.len());
    assert_eq!(details["name"], "eml-outbox");
    assert_eq!(details["kind"], "invite-delivery");
    assert_eq!(details["api"], "0.1");
    assert_eq!(details["enabled"], true);
    assert_eq!(details["config"]["subject"], "Welcome");
    assert_eq!(details["capabilities"], json!(["outbox:write"]));
    assert_eq!(details["grants"], json!(["outbox:write"]));
    assert!(details["limits"]["fuel"].as_u64().unwrap_or(0) > 0);
    assert!(details["description"].as_str().is_some());

    let table = env
        .run(&["--format", "table", "get", "plugin", "eml-outbox"])
        .ok()
        .stdout;
    for label in [
        "sha256",
        &sha256,
        "grants",
        "outbox:write",
        "Welcome",
        "limits",
    ] {
        assert!(table.contains(label), "{label} missing from:\n{table}");
    }
    let listed = env.run(&["list", "plugins"]).ok().json();
    assert_eq!(listed[0]["sha256"], sha256);
    let missing = env.run(&["get", "plugin", "nope"]);
    assert_eq!(
        (missing.code, missing.error()["code"].clone()),
        (1, json!(404))
    );
    Ok(())
}

#[test]
fn run_plugin_takes_a_path_as_a_path_and_blames_the_plugin_for_its_errors() -> TestResult {
    let env = Env::new();
    let input = env.file(
        "call.json",
        r#"{"schema_id": "preset://email", "traits": {"email": "a@example.org"}}"#,
    );
    let run = |plugin: &str| {
        env.run_with(
            &[
                "--format", "table", "run", "plugin", plugin, "--input", &input,
            ],
            "",
        )
    };

    let missing = run("./not-here");
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .starts_with("error: plugin ./not-here cannot be run: there is no such folder"),
        "{}",
        missing.stderr
    );
    assert!(!missing.stderr.contains("call.json"), "{}", missing.stderr);

    // A folder whose manifest is broken: the folder is named, not the input.
    let broken = env.dir.path().join("broken");
    std::fs::create_dir(&broken)?;
    std::fs::write(broken.join("plugin.toml"), "name = \"broken\"\n")?;
    let shown = broken.to_string_lossy().into_owned();
    let refused = run(&shown);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.starts_with(&format!(
            "error: plugin {shown} cannot be run: plugin.toml:"
        )),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("call.json"), "{}", refused.stderr);

    // A plugin that traps: its fault names it, not the input.
    wasm("hostile_probe.wasm");
    let probe = PathBuf::from(plugin_dir("hostile-probe"));
    let panicking = env.dir.path().join("panicking");
    std::fs::create_dir(&panicking)?;
    let manifest = std::fs::read_to_string(probe.join("plugin.toml"))?;
    std::fs::write(
        panicking.join("plugin.toml"),
        manifest.replace("mode = \"ok\"", "mode = \"panic\""),
    )?;
    std::fs::copy(
        probe.join("hostile_probe.wasm"),
        panicking.join("hostile_probe.wasm"),
    )?;
    let fault = run(&panicking.to_string_lossy());
    assert_eq!(fault.code, 2, "{}", fault.stderr);
    assert!(
        fault
            .stderr
            .starts_with("error: plugin hostile-probe 0.1.0 failed (panic)"),
        "{}",
        fault.stderr
    );

    // A folder runs without a store, and makes none; a name needs the store.
    let ok = run(&plugin_dir("email-domain-policy")).ok();
    assert!(ok.stdout.contains("accepted"), "{}", ok.stdout);
    assert!(!env.db.exists(), "a folder run made a store");
    let by_name = run("email-domain-policy");
    assert_eq!(by_name.code, 1);

    // An existing folder without a slash is a folder too.
    let here = env
        .cmd()
        .current_dir(env.dir.path())
        .args([
            "--format", "json", "run", "plugin", "broken", "--input", &input,
        ])
        .output()?;
    assert!(
        String::from_utf8_lossy(&here.stderr).contains("plugin broken cannot be run"),
        "{}",
        String::from_utf8_lossy(&here.stderr)
    );
    // An input that does not fit the kind is the input file's fault.
    let wrong = env.file("wrong.json", r#"{"traits": {}}"#);
    let misfit = env.run(&[
        "--format",
        "table",
        "run",
        "plugin",
        &plugin_dir("email-domain-policy"),
        "--input",
        &wrong,
    ]);
    assert!(misfit.stderr.contains("wrong.json"), "{}", misfit.stderr);
    Ok(())
}
