//! Plugins through the command line: install, list, enable, disable, remove; validators on
//! create and update; `run plugin` for each first-party plugin; refused components.
//!
//! The plugins are built from source first (README: the test command builds them).

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

/// `plugins/NAME` of this repository as `scripts/build-plugins` leaves it: its plugin.toml
/// beside its built component. Staged once per run in a temporary folder from
/// `plugins/target`, so a plain `cargo test` after the cargo build of the plugins works, and
/// always tests the latest build.
pub fn plugin_dir(name: &str) -> String {
    static STAGED: OnceLock<tempfile::TempDir> = OnceLock::new();
    let staged = STAGED.get_or_init(|| {
        let staged = tempfile::tempdir().expect("a temporary folder");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let built = root.join("plugins/target/wasm32-wasip2/release");
        for entry in std::fs::read_dir(root.join("plugins")).expect("plugins/") {
            let source = entry.expect("a plugins/ entry").path();
            let Ok(manifest) = std::fs::read_to_string(source.join("plugin.toml")) else {
                continue;
            };
            let folder = staged.path().join(source.file_name().expect("a name"));
            std::fs::create_dir(&folder).expect("a staged folder");
            std::fs::write(folder.join("plugin.toml"), &manifest).expect("plugin.toml");
            let component = manifest
                .lines()
                .find_map(|l| l.strip_prefix("wasm = \""))
                .and_then(|rest| rest.strip_suffix('"'));
            // A missing build is reported by `wasm()` or by kith's own message at install.
            if let Some(component) = component
                && built.join(component).is_file()
            {
                std::fs::copy(built.join(component), folder.join(component))
                    .expect("a staged component");
            }
        }
        staged
    });
    staged.path().join(name).to_string_lossy().into_owned()
}

/// The built component of a first-party plugin.
pub fn wasm(file: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("plugins/target/wasm32-wasip2/release")
        .join(file);
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first \
         (cargo build --release --manifest-path plugins/Cargo.toml --target wasm32-wasip2)",
        path.display()
    );
    path
}

fn install_policy(env: &Env, denied: &str) {
    env.run(&[
        "install",
        "plugin",
        &plugin_dir("email-domain-policy"),
        "--config",
        &format!("denied_domains={denied}"),
    ])
    .ok();
}

#[test]
fn install_list_disable_enable_remove_and_the_audit_trail() -> TestResult {
    let env = Env::new();
    wasm("email_domain_policy.wasm");
    let installed = env
        .run(&["install", "plugin", &plugin_dir("email-domain-policy")])
        .ok()
        .json();
    assert_eq!(installed["name"], "email-domain-policy");
    assert_eq!(installed["kind"], "trait-validator");
    assert_eq!(installed["enabled"], true);
    assert_eq!(installed["sha256"].as_str().map(str::len), Some(64));

    let again = env.run(&["install", "plugin", &plugin_dir("email-domain-policy")]);
    assert_eq!(again.code, 1);
    assert_eq!(again.error()["code"], 409);

    env.run(&["disable", "plugin", "email-domain-policy"]).ok();
    let listed = env.run(&["list", "plugins"]).ok().json();
    assert_eq!(listed[0]["enabled"], false);
    env.run(&["enable", "plugin", "email-domain-policy"]).ok();
    env.run(&["remove", "plugin", "email-domain-policy"]).ok();
    assert_eq!(env.run(&["list", "plugins"]).ok().json(), json!([]));
    let missing = env.run(&["remove", "plugin", "email-domain-policy"]);
    assert_eq!(
        (missing.code, missing.error()["code"].clone()),
        (1, json!(404))
    );

    let events = env.run(&["list", "events"]).ok().json();
    let actions: Vec<_> = events
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["action"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "plugin.installed",
            "plugin.disabled",
            "plugin.enabled",
            "plugin.removed"
        ]
    );
    Ok(())
}

#[test]
fn an_enabled_validator_refuses_creates_and_updates_naming_itself() -> TestResult {
    let env = Env::new();
    install_policy(&env, "spam.example");
    let refused = env.run_with(
        &["create", "identity", "--file", "-"],
        &json!({"schema_id": "preset://email", "traits": {"email": "eve@mail.spam.example"}})
            .to_string(),
    );
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let error = refused.error();
    assert_eq!(error["code"], 400);
    assert_eq!(error["details"]["plugin"], "email-domain-policy");
    assert_eq!(
        error["details"]["errors"],
        json!([{"pointer": "/email", "code": "domain_denied",
                "message": "e-mail addresses at mail.spam.example are not accepted"}])
    );
    assert!(
        error["reason"]
            .as_str()
            .is_some_and(|r| r.contains("email-domain-policy")),
        "{error}"
    );
    assert_eq!(env.count(), 0);

    let id = env.create_email("ada@example.org");
    let body = env.file(
        "update.json",
        &json!({"schema_id": "preset://email", "traits": {"email": "ada@spam.example"}})
            .to_string(),
    );
    let update = env.run(&["update", "identity", &id, "--file", &body]);
    assert_eq!(update.code, 1, "{}", update.stderr);
    assert_eq!(update.error()["details"]["plugin"], "email-domain-policy");

    // Disabled, it no longer runs.
    env.run(&["disable", "plugin", "email-domain-policy"]).ok();
    env.create_email("eve@spam.example");
    Ok(())
}

#[test]
fn a_validator_is_scoped_by_the_schema_ids_of_its_manifest() -> TestResult {
    let env = Env::new();
    let dir = env.dir.path().join("scoped");
    std::fs::create_dir_all(&dir)?;
    let manifest =
        std::fs::read_to_string(format!("{}/plugin.toml", plugin_dir("email-domain-policy")))?
            .replace("schemas = [\"*\"]", "schemas = [\"preset://username\"]");
    std::fs::write(dir.join("plugin.toml"), manifest)?;
    std::fs::copy(
        wasm("email_domain_policy.wasm"),
        dir.join("email_domain_policy.wasm"),
    )?;
    env.run(&["install", "plugin", &dir.to_string_lossy()]).ok();
    // preset://email is not in its scope: the denied domain passes.
    env.create_email("eve@mailinator.com");
    Ok(())
}

/// `kith run plugin PLUGIN --input FILE` with `input` in FILE; the report.
pub fn run_plugin(env: &Env, plugin: &str, input: &Value) -> Value {
    let path = env.file("input.json", &input.to_string());
    env.run(&["run", "plugin", plugin, "--input", &path])
        .ok()
        .json()
}

#[test]
fn run_plugin_reports_result_fuel_memory_logs_and_time() -> TestResult {
    let env = Env::new();
    install_policy(&env, "mailinator.com");
    let report = run_plugin(
        &env,
        "email-domain-policy",
        &json!({"schema_id": "preset://email", "traits": {"email": "x@mailinator.com"}}),
    );
    assert_eq!(report["output"]["accepted"], false);
    assert_eq!(report["output"]["errors"][0]["code"], "domain_denied");
    let fuel = report["fuel_used"].as_u64().unwrap_or(0);
    assert!(fuel > 0 && fuel < report["fuel_limit"].as_u64().unwrap_or(0));
    assert!(report["peak_memory_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(report["duration_ms"].as_f64().unwrap_or(-1.0) >= 0.0);
    assert_eq!(report["logs"][0]["level"], "debug");

    // A folder runs without being installed, with its manifest's config.
    wasm("email_domain_policy.wasm");
    let report = run_plugin(
        &env,
        &plugin_dir("email-domain-policy"),
        &json!({"schema_id": "s", "traits": {"email": "x@example.org"}}),
    );
    assert_eq!(report["output"], json!({"accepted": true}));

    let wrong = env.run(&[
        "run",
        "plugin",
        "email-domain-policy",
        "--input",
        &env.file("wrong.json", r#"{"traits":{}}"#),
    ]);
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.error()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("does not fit plugin email-domain-policy")),
        "{}",
        wrong.stderr
    );

    let table = env.run(&[
        "--format",
        "table",
        "run",
        "plugin",
        "email-domain-policy",
        "--input",
        &env.file("in.json", r#"{"schema_id":"s","traits":{}}"#),
    ]);
    let table = table.ok().stdout;
    for label in ["result", "fuel", "peak memory", "time", "logs"] {
        assert!(table.contains(label), "{label} missing from:\n{table}");
    }
    Ok(())
}

#[test]
fn eml_outbox_renders_an_rfc_5322_message_with_text_and_html() -> TestResult {
    let env = Env::new();
    wasm("eml_outbox.wasm");
    let refused = env.run(&["install", "plugin", &plugin_dir("eml-outbox")]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("--grant outbox:write"),
        "{}",
        refused.stderr
    );
    env.run(&[
        "install",
        "plugin",
        &plugin_dir("eml-outbox"),
        "--grant",
        "outbox:write",
        "--config",
        "subject=Welcome, {{traits.name.first}}",
    ])
    .ok();
    let report = run_plugin(
        &env,
        "eml-outbox",
        &json!({
            "recipient": "ada@example.org",
            "recovery_link": "https://id.example.org/recovery?token=abc",
            "recovery_code": "123456",
            "expires_unix_ms": 1_800_000_000_000u64,
            "traits": {"email": "ada@example.org", "name": {"first": "Ada <3"}},
        }),
    );
    let file = &report["output"]["files"][0];
    assert_eq!(report["output"]["plan"], "outbox");
    assert_eq!(file["content_type"], "message/rfc822");
    let name = file["name"].as_str().unwrap_or("");
    assert!(
        name.starts_with("invite-") && name.ends_with("-ada@example.org.eml"),
        "{name}"
    );
    let eml = file["body"].as_str().unwrap_or("");
    for header in [
        "From: kith <no-reply@example.invalid>\r\n",
        "To: ada@example.org\r\n",
        "Subject: Welcome, Ada <3\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/alternative; boundary=",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: text/html; charset=utf-8",
    ] {
        assert!(eml.contains(header), "{header:?} missing from:\n{eml}");
    }
    let parts = decode_parts(eml);
    assert!(parts[0].contains("https://id.example.org/recovery?token=abc"));
    assert!(parts[0].contains("123456") && parts[0].contains("2027-01-15T08:00:00Z"));
    assert!(parts[1].contains("Hello Ada &lt;3"), "{}", parts[1]);
    Ok(())
}

/// The base64 bodies of a multipart message, decoded.
fn decode_parts(eml: &str) -> Vec<String> {
    use base64::Engine as _;
    eml.split("Content-Transfer-Encoding: base64\r\n\r\n")
        .skip(1)
        .map(|part| {
            let encoded: String = part.lines().take_while(|l| !l.starts_with("--")).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

#[test]
fn auth0_import_maps_hash_verification_and_linked_identities() -> TestResult {
    let env = Env::new();
    wasm("auth0_import.wasm");
    env.run(&["install", "plugin", &plugin_dir("auth0-import")])
        .ok();
    let hash = "$2b$10$Yb5HNWzdQ8pzQ5iCf0jqP.rPZaQ1gqb.pV5xV5YyQ0Yl3bNq0Xb1K";
    let record = json!({
        "user_id": "auth0|5f7c8ec7c33c6c004bbafe82",
        "email": "Ada@Example.org",
        "email_verified": true,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "blocked": false,
        "custom_password_hash": {"algorithm": "bcrypt", "hash": {"value": hash}},
        "identities": [
            {"provider": "auth0", "user_id": "5f7c8ec7c33c6c004bbafe82", "connection": "Username-Password-Authentication"},
            {"provider": "google-oauth2", "user_id": "10987654321", "connection": "google-oauth2", "isSocial": true}
        ],
        "user_metadata": {"plan": "pro"}
    });
    let report = run_plugin(&env, "auth0-import", &record);
    let body = &report["output"]["body"];
    assert_eq!(body["external_id"], "auth0|5f7c8ec7c33c6c004bbafe82");
    assert_eq!(
        body["traits"],
        json!({"email": "Ada@Example.org", "name": {"first": "Ada", "last": "Lovelace"}})
    );
    assert_eq!(
        body["credentials"]["password"]["config"]["hashed_password"],
        hash
    );
    assert_eq!(
        body["credentials"]["oidc"]["config"]["providers"],
        json!([{"provider": "google", "subject": "10987654321"}])
    );
    assert_eq!(body["verifiable_addresses"][0]["verified"], true);
    assert_eq!(body["metadata_public"], json!({"plan": "pro"}));

    // The body is one kith takes as it is.
    let created = env.create(body);
    assert_eq!(created["verifiable_addresses"][0]["verified"], true);
    assert_eq!(
        created["credentials"]["oidc"]["identifiers"],
        json!(["google:10987654321"])
    );

    let refused = run_plugin(
        &env,
        "auth0-import",
        &json!({"email": "x@example.org",
                "custom_password_hash": {"algorithm": "md4", "hash": {"value": "x"}}}),
    );
    assert_eq!(
        refused["output"]["errors"][0]["pointer"],
        "/custom_password_hash/algorithm"
    );
    Ok(())
}

#[test]
fn components_that_are_not_components_are_refused_with_exit_1() -> TestResult {
    let env = Env::new();
    let good = std::fs::read(wasm("email_domain_policy.wasm"))?;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "garbage",
            b"this is not wasm at all".to_vec(),
            "not WebAssembly",
        ),
        (
            "core",
            wat::parse_str("(module)")?,
            "core WebAssembly module, not a component",
        ),
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "malformed or truncated",
        ),
    ];
    for (name, bytes, expected) in cases {
        let dir = env.dir.path().join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("plugin.wasm"), bytes)?;
        std::fs::write(
            dir.join("plugin.toml"),
            format!(
                "name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"trait-validator\"\napi = \"0.1\"\nwasm = \"plugin.wasm\"\n"
            ),
        )?;
        let run = env.run(&[
            "--format",
            "table",
            "install",
            "plugin",
            &dir.to_string_lossy(),
        ]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
    }
    assert_eq!(env.run(&["list", "plugins"]).ok().json(), json!([]));
    // The store is unharmed: a good plugin installs and answers.
    install_policy(&env, "spam.example");
    let report = run_plugin(
        &env,
        "email-domain-policy",
        &json!({"schema_id": "s", "traits": {"email": "a@example.org"}}),
    );
    assert_eq!(report["output"], json!({"accepted": true}));
    Ok(())
}

#[test]
fn a_misbehaving_plugin_fails_the_command_with_exit_2_and_kith_carries_on() -> TestResult {
    let env = Env::new();
    wasm("hostile_probe.wasm");
    env.run(&[
        "install",
        "plugin",
        &plugin_dir("hostile-probe"),
        "--config",
        "mode=loop",
    ])
    .ok();
    let input = env.file("in.json", r#"{"schema_id":"s","traits":{}}"#);
    let run = env.run(&["run", "plugin", "hostile-probe", "--input", &input]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let error = run.error();
    assert_eq!(error["code"], 500);
    assert_eq!(error["details"]["plugin"], "hostile-probe");
    assert_eq!(error["details"]["version"], "0.1.0");
    assert_eq!(error["details"]["fault"], "out_of_fuel");

    // Validators fail closed: the write is refused, and nothing is written.
    let create = env.run(&[
        "create",
        "identity",
        "--schema-id",
        "preset://email",
        "--traits",
        r#"{"email":"ada@example.org"}"#,
    ]);
    assert_eq!(create.code, 2, "{}", create.stderr);
    env.run(&["disable", "plugin", "hostile-probe"]).ok();
    env.create_email("ada@example.org");
    assert_eq!(env.count(), 1);
    Ok(())
}
