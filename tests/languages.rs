//! Plugins written in JavaScript and Python: `plugins-js/disposable-email` and
//! `plugins-py/name-phone`, built from source by scripts/build-plugins with the toolchains
//! scripts/test installs (jco from plugins-js/package-lock.json, componentize-py from
//! plugins-py/requirements.txt), installed and called through the real binary.

use crate::harness::{Env, Run, TestResult};
use crate::serve::Server;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A plugin folder of this repository with its component built in it.
pub fn built(folder: &str, wasm: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(folder);
    assert!(
        dir.join(wasm).is_file(),
        "{folder}/{wasm} is missing: scripts/test installs the JavaScript and Python \
         toolchains and builds it (or scripts/build-plugins, once they are installed)"
    );
    dir.to_string_lossy().into_owned()
}

fn javascript() -> String {
    built("plugins-js/disposable-email", "disposable_email.wasm")
}

fn python() -> String {
    // Compiled once into the shared cache before any test uses it: tests running at once
    // would otherwise each compile it, all at the same time.
    static WARM: OnceLock<()> = OnceLock::new();
    let folder = built("plugins-py/name-phone", "name_phone.wasm");
    WARM.get_or_init(|| {
        let env = Env::new();
        env.create_email("seed@example.org");
        let input = env.file(
            "input.json",
            r#"{"schema_id": "preset://email", "traits": {"email": "a@example.org"}}"#,
        );
        kith(&env, &["run", "plugin", &folder, "--input", &input], "").ok();
    });
    folder
}

/// One compile cache for every test here: Cranelift takes tens of seconds over an 18 MB
/// Python component, so each test compiling its own would dominate the run.
fn shared_cache() -> &'static std::path::Path {
    static CACHE: OnceLock<tempfile::TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

/// `kith --format json ARGS` on `env`'s store, with the shared compile cache.
fn kith(env: &Env, args: &[&str], stdin: &str) -> Run {
    let mut cmd = env.cmd();
    cmd.env("KITH_CACHE_DIR", shared_cache())
        .args(["--format", "json"])
        .args(args);
    Run::of(&mut cmd, stdin)
}

/// A schema with a name and a phone number, for the Python validator.
fn person_schema(env: &Env) {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email",
                "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}},
            "name": {"type": "object", "properties": {
                "first": {"type": "string"}, "last": {"type": "string"}}},
            "phone": {"type": "string"}
        }, "required": ["email"]}}
    });
    let path = env.file("person.schema.json", &schema.to_string());
    kith(env, &["add", "schema", "person", &path], "").ok();
}

fn person(email: &str, first: &str, last: &str, phone: &str) -> Value {
    json!({"schema_id": "person", "traits": {
        "email": email, "name": {"first": first, "last": last}, "phone": phone}})
}

/// Creates `body`, which must be accepted.
fn created(env: &Env, body: &Value) {
    kith(
        env,
        &["create", "identity", "--file", "-"],
        &body.to_string(),
    )
    .ok();
}

/// Creates `body` and returns the refusal: exit 1 and Kratos' error envelope.
fn refused(env: &Env, body: &Value) -> Value {
    let run = kith(
        env,
        &["create", "identity", "--file", "-"],
        &body.to_string(),
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    run.error()
}

#[test]
fn a_javascript_validator_refuses_disposable_addresses_in_kratos_error_shape() -> TestResult {
    let env = Env::new();
    kith(&env, &["install", "plugin", &javascript()], "").ok();
    let listed = kith(&env, &["list", "plugins"], "").ok().json();
    assert_eq!(listed[0]["name"], "disposable-email", "{listed}");

    let accepted = json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"}});
    created(&env, &accepted);

    let error = refused(
        &env,
        &json!({"schema_id": "preset://email", "traits": {"email": "eve@Mail.YopMail.com"}}),
    );
    assert_eq!(error["code"], 400);
    assert_eq!(error["status"], "Bad Request");
    assert_eq!(error["details"]["plugin"], "disposable-email");
    assert_eq!(
        error["details"]["errors"],
        json!([{"pointer": "/email", "code": "disposable_email",
                "message": "mail.yopmail.com hands out disposable addresses; use a permanent e-mail address"}])
    );

    // Its config is read per call: an exception from `allowed_domains` lets the domain in.
    kith(&env, &["remove", "plugin", "disposable-email"], "").ok();
    kith(
        &env,
        &[
            "install",
            "plugin",
            &javascript(),
            "--config",
            "allowed_domains=yopmail.com",
        ],
        "",
    )
    .ok();
    let body = json!({"schema_id": "preset://email", "traits": {"email": "eve@mail.yopmail.com"}});
    created(&env, &body);
    // The import path runs validators too: one record refused, the other imported.
    let records = [
        json!({"schema_id": "preset://email", "traits": {"email": "bob@example.org"}}),
        json!({"schema_id": "preset://email", "traits": {"email": "mallory@sharklasers.com"}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let import = kith(&env, &["import", "identities"], &records);
    assert_eq!(import.code, 1, "{}", import.stderr);
    let report: Vec<Value> = import
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(report[0]["action"], "create", "{report:?}");
    assert_eq!(report[1]["action"], "error", "{report:?}");
    let why = report[1]["error"].to_string();
    assert!(
        why.contains("disposable-email") && why.contains("sharklasers.com"),
        "{why}"
    );
    assert_eq!(env.count(), 3);
    Ok(())
}

#[test]
fn a_python_validator_checks_names_and_phone_numbers_in_kratos_error_shape() -> TestResult {
    let env = Env::new();
    person_schema(&env);
    kith(&env, &["install", "plugin", &python()], "").ok();

    // Letters of any script, apostrophes and hyphens; a phone number with separators.
    let body = person(
        "zoe@example.org",
        "Zoë",
        "O'Brien-Nakamura",
        "+44 (20) 7946-0958",
    );
    created(&env, &body);

    let error = refused(
        &env,
        &person("r2@example.org", "R2D2", "  ", "020 7946 0958"),
    );
    assert_eq!(error["code"], 400);
    assert_eq!(error["details"]["plugin"], "name-phone");
    let errors = &error["details"]["errors"];
    let found: Vec<(&str, &str)> = errors
        .as_array()
        .ok_or("a list of field errors")?
        .iter()
        .map(|e| {
            (
                e["pointer"].as_str().unwrap_or_default(),
                e["code"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("/name/first", "name_invalid_characters"),
            ("/name/last", "name_blank"),
            ("/phone", "phone_not_e164"),
        ],
        "{errors}"
    );
    assert!(
        errors[2]["message"]
            .as_str()
            .is_some_and(|m| m.contains("'020 7946 0958'") && m.contains("+44 20 7946 0958")),
        "{errors}"
    );
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("name-phone")),
        "{error}"
    );
    // Only the pointers of its config are checked: with none for names, the name passes.
    kith(&env, &["remove", "plugin", "name-phone"], "").ok();
    kith(
        &env,
        &["install", "plugin", &python(), "--config", "name_pointers="],
        "",
    )
    .ok();
    let body = person("r2@example.org", "R2D2", "Droid", "+1 555 0100 123");
    created(&env, &body);
    assert_eq!(env.count(), 2);
    Ok(())
}

#[test]
fn run_plugin_calls_the_javascript_and_python_validators() -> TestResult {
    let env = Env::new();
    env.create_email("seed@example.org");
    let input = env.file(
        "input.json",
        &json!({"schema_id": "preset://email",
                "traits": {"email": "x@10minutemail.com", "name": {"first": "X Æ A-12"}}})
        .to_string(),
    );
    for (folder, plugin, code, pointer) in [
        (
            javascript(),
            "disposable-email",
            "disposable_email",
            "/email",
        ),
        (
            python(),
            "name-phone",
            "name_invalid_characters",
            "/name/first",
        ),
    ] {
        let report = kith(&env, &["run", "plugin", &folder, "--input", &input], "")
            .ok()
            .json();
        assert_eq!(report["plugin"], plugin);
        assert_eq!(report["output"]["accepted"], false, "{report}");
        assert_eq!(report["output"]["errors"][0]["code"], code, "{report}");
        assert_eq!(
            report["output"]["errors"][0]["pointer"], pointer,
            "{report}"
        );
        let fuel = report["fuel_used"].as_u64().unwrap_or(0);
        assert!(fuel > 0 && fuel < report["fuel_limit"].as_u64().unwrap_or(0));
        let memory = report["peak_memory_bytes"].as_u64().unwrap_or(0);
        assert!(memory > 0 && memory <= report["memory_limit_bytes"].as_u64().unwrap_or(0));
        // Each logs through kith:plugin/log, its only import.
        assert_eq!(report["logs"].as_array().map(Vec::len), Some(2), "{report}");
        assert_eq!(report["logs"][1]["level"], "info", "{report}");
        assert_eq!(
            report["logs"][1]["message"],
            format!("refused {pointer}"),
            "{report}"
        );
        assert_eq!(report["stdio"], "", "{report}");
    }
    Ok(())
}

/// `kith serve` takes instances from wasmtime's pool, whose per-slot budget must hold a
/// Python component's 38 core instances; several calls at once must all be answered.
#[cfg(unix)]
#[test]
fn a_python_validator_runs_from_the_servers_instance_pool() -> TestResult {
    let env = Env::new();
    person_schema(&env);
    kith(&env, &["install", "plugin", &python()], "").ok();
    kith(&env, &["install", "plugin", &javascript()], "").ok();
    // The server reads compiled code from the shared cache (it compiles what it misses).
    std::os::unix::fs::symlink(shared_cache(), env.dir.path().join("cache"))?;
    let server = Server::start(&env);
    let refused = server.admin(
        "POST",
        "/admin/identities",
        Some(&person("b@example.org", "B0b", "Smith", "12").to_string()),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error = &refused.json()["error"];
    assert_eq!(error["details"]["plugin"], "name-phone", "{error}");
    assert_eq!(
        error["details"]["errors"][1]["pointer"], "/phone",
        "{error}"
    );

    std::thread::scope(|scope| {
        for thread in 0..4 {
            let server = &server;
            scope.spawn(move || {
                for i in 0..3 {
                    let email = format!("user{thread}-{i}@example.org");
                    server.create_identity(&person(&email, "Grace", "Hopper", "+1 202 555 0143"));
                }
            });
        }
    });
    let disposable = server.admin(
        "POST",
        "/admin/identities",
        Some(&person("c@guerrillamail.com", "Carol", "Shaw", "+1 202 555 0144").to_string()),
    );
    assert_eq!(disposable.status, 400, "{}", disposable.body);
    assert_eq!(
        disposable.json()["error"]["details"]["plugin"],
        "disposable-email"
    );
    assert_eq!(env.count(), 12);
    Ok(())
}

/// `kith new plugin NAME --kind KIND --lang LANG` into `env`, then the project's own
/// `./test.sh` (its build.sh with the toolchain scripts/test installed, then each of its
/// cases through `kith run plugin`), as an author runs it.
fn new_project_passes_its_own_test(env: &Env, lang: &str, kind: &str) {
    let name = format!("my-{lang}-{kind}");
    let dir = env.dir.path().join(&name);
    kith(
        env,
        &[
            "new",
            "plugin",
            &name,
            "--kind",
            kind,
            "--lang",
            lang,
            "--dir",
            &dir.to_string_lossy(),
        ],
        "",
    )
    .ok();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new(dir.join("test.sh"))
        .env("KITH", env!("CARGO_BIN_EXE_kith"))
        .env("KITH_DB", &env.db)
        .env("KITH_CACHE_DIR", shared_cache())
        .env("JCO", root.join("plugins-js/node_modules/.bin/jco"))
        .env(
            "COMPONENTIZE_PY",
            root.join("plugins-py/.venv/bin/componentize-py"),
        )
        .output()
        .expect("test.sh runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{lang} {kind}: test.sh failed:\n{said}"
    );
    assert!(
        said.contains("ok   tests/"),
        "{lang} {kind}: no case ran:\n{said}"
    );
    assert!(!said.contains("FAIL"), "{lang} {kind}:\n{said}");
}

#[test]
fn new_javascript_projects_build_and_pass_their_own_tests() -> TestResult {
    // The toolchain is the one scripts/test installed (javascript() says so when it is not).
    javascript();
    let env = Env::new();
    for kind in ["trait-validator", "import-mapper"] {
        new_project_passes_its_own_test(&env, "js", kind);
    }
    Ok(())
}

#[test]
fn a_new_python_project_builds_and_passes_its_own_test() -> TestResult {
    python();
    let env = Env::new();
    new_project_passes_its_own_test(&env, "python", "trait-validator");
    Ok(())
}
