//! Hardening: plugins. A plugin folder names only files inside it, a plan is carried out only
//! under the grants its plugin holds, a mistyped export is refused at install, and a panic's
//! message reads in the order it was written.

use crate::harness::{Env, Run, TestResult};
use crate::plugins::{plugin_dir, wasm};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A plugin folder `name` under the test's folder with a trait-validator manifest naming
/// `wasm`; returns the folder.
fn validator_folder(env: &Env, name: &str, wasm: &str) -> std::io::Result<std::path::PathBuf> {
    let dir = env.dir.path().join("plugins").join(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("plugin.toml"),
        format!(
            "name = \"{name}\"\nversion = \"1.0.0\"\nkind = \"trait-validator\"\napi = \"0.1\"\nwasm = {wasm:?}\n"
        ),
    )?;
    Ok(dir)
}

/// `kith install plugin DIR` that cannot hang or exhaust the machine even on a kith that
/// would: address space capped at 1 GiB, killed after 10 s (then `code` is -1).
fn install_bounded(env: &Env, dir: &Path, extra: &[&str]) -> Run {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_kith"))
        .args(["--db", &env.db.to_string_lossy(), "--format", "json"])
        .args(["install", "plugin", &dir.to_string_lossy()])
        .args(extra)
        .env_remove("KITH_DB")
        .env("KITH_CACHE_DIR", env.dir.path().join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs kith");
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        match child.try_wait().expect("the child can be waited for") {
            Some(status) => break status.code().unwrap_or(-2),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break -1;
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Run {
        code,
        stdout,
        stderr,
    }
}

fn assert_refused(run: &Run, expected: &str) {
    assert_eq!(run.code, 1, "refused with exit 1: {run:?}");
    assert_eq!(run.error()["code"], 400, "{run:?}");
    let reason = run.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains(expected), "{expected:?} not in {reason}");
}

fn no_plugins_installed(env: &Env) {
    assert_eq!(
        env.run(&["list", "plugins"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn a_manifest_wasm_path_with_dot_dots_cannot_leave_the_folder() -> TestResult {
    let env = Env::new();
    // A good component waits outside the folder, where `../../x` leads.
    std::fs::copy(wasm("email_domain_policy.wasm"), env.dir.path().join("x"))?;
    let dir = validator_folder(&env, "climber", "../../x")?;
    let run = install_bounded(&env, &dir, &[]);
    assert_refused(&run, "inside the plugin folder");
    no_plugins_installed(&env);
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_symlinked_component_leaving_the_folder_is_refused() -> TestResult {
    let env = Env::new();
    let outside = env.dir.path().join("elsewhere.wasm");
    std::fs::copy(wasm("email_domain_policy.wasm"), &outside)?;
    let dir = validator_folder(&env, "linker", "plugin.wasm")?;
    std::os::unix::fs::symlink(&outside, dir.join("plugin.wasm"))?;
    let run = install_bounded(&env, &dir, &[]);
    assert_refused(&run, "outside the plugin folder");
    no_plugins_installed(&env);
    // A symlink that stays inside the folder is fine.
    std::fs::remove_file(dir.join("plugin.wasm"))?;
    std::fs::copy(&outside, dir.join("real.wasm"))?;
    std::os::unix::fs::symlink("real.wasm", dir.join("plugin.wasm"))?;
    install_bounded(&env, &dir, &[]).ok();
    Ok(())
}

#[cfg(unix)]
#[test]
fn dev_zero_as_the_component_is_refused_without_reading_it() -> TestResult {
    let env = Env::new();
    let dir = validator_folder(&env, "zero", "plugin.wasm")?;
    std::os::unix::fs::symlink("/dev/zero", dir.join("plugin.wasm"))?;
    let run = install_bounded(&env, &dir, &[]);
    assert_refused(&run, "outside the plugin folder");
    // Named by the user with --wasm, it is still read only if it is a regular file.
    let run = install_bounded(&env, &dir, &["--wasm", "/dev/zero"]);
    assert_refused(&run, "/dev/zero is a device, not a regular file");
    no_plugins_installed(&env);
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_fifo_as_the_component_or_manifest_does_not_hang_install() -> TestResult {
    let env = Env::new();
    let dir = validator_folder(&env, "fifo", "plugin.wasm")?;
    let made = Command::new("mkfifo")
        .arg(dir.join("plugin.wasm"))
        .status()?;
    assert!(made.success());
    let started = Instant::now();
    let run = install_bounded(&env, &dir, &[]);
    assert_refused(&run, "is a FIFO, not a regular file");
    assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");

    let manifest_fifo = env.dir.path().join("plugins").join("manifest-fifo");
    std::fs::create_dir_all(&manifest_fifo)?;
    let made = Command::new("mkfifo")
        .arg(manifest_fifo.join("plugin.toml"))
        .status()?;
    assert!(made.success());
    let run = install_bounded(&env, &manifest_fifo, &[]);
    assert_refused(&run, "is a FIFO, not a regular file");
    no_plugins_installed(&env);
    Ok(())
}

#[test]
fn a_component_built_elsewhere_installs_with_an_explicit_wasm_option() -> TestResult {
    let env = Env::new();
    let dir = validator_folder(&env, "built-elsewhere", "not-here.wasm")?;
    let missing = env.run(&["install", "plugin", &dir.to_string_lossy()]);
    assert_refused(&missing, "scripts/build-plugins");
    let installed = env
        .run(&[
            "install",
            "plugin",
            &dir.to_string_lossy(),
            "--wasm",
            &wasm("email_domain_policy.wasm").to_string_lossy(),
        ])
        .ok()
        .json();
    assert_eq!(installed["name"], "built-elsewhere");
    Ok(())
}

#[test]
fn a_delivery_plugin_without_the_outbox_grant_cannot_write_to_the_outbox() -> TestResult {
    let env = Env::new();
    // hostile-delivery, with a manifest that never asks for `outbox:write`.
    let source = Path::new(&plugin_dir("hostile-delivery")).to_path_buf();
    let dir = env.dir.path().join("ungranted");
    std::fs::create_dir_all(&dir)?;
    let manifest = std::fs::read_to_string(source.join("plugin.toml"))?;
    assert!(manifest.contains("capabilities = [\"outbox:write\"]\n"));
    std::fs::write(
        dir.join("plugin.toml"),
        manifest.replace("capabilities = [\"outbox:write\"]\n", ""),
    )?;
    std::fs::copy(
        wasm("hostile_delivery.wasm"),
        dir.join("hostile_delivery.wasm"),
    )?;
    env.run(&[
        "install",
        "plugin",
        &dir.to_string_lossy(),
        "--config",
        "mode=file",
        "--config",
        "name=sneaky.eml",
    ])
    .ok();
    let invitation = env.run(&["invite", "sneaky@example.org"]).ok().json();
    let delivery = &invitation["deliveries"][0];
    assert_eq!(delivery["plugin"], "hostile-delivery", "{invitation}");
    assert_eq!(delivery["status"], "failed", "{invitation}");
    let detail = delivery["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("`outbox:write`"), "{detail}");
    assert!(detail.contains("not granted"), "{detail}");
    let written = std::fs::read_dir(env.dir.path().join("outbox").join("new"))
        .map(|entries| entries.count())
        .unwrap_or(0);
    assert_eq!(written, 0, "nothing reached the outbox");
    let failed = env
        .run(&["list", "invites", "--status", "delivery-failed"])
        .ok()
        .json();
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{failed}");
    Ok(())
}

/// A component whose `kith:plugin/validator@0.1.0#validate` takes one string and returns
/// one string: the right name, the wrong type.
fn mistyped_validator() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str(
        "impostor.wit",
        "package kith:plugin@0.1.0;
         interface validator { validate: func(traits-json: string) -> string; }
         world w { export validator; }",
    )?;
    let world = resolve.select_world(&[package], Some("w"))?;
    let module = wat::parse_str(
        r#"(module
            (memory (export "memory") 1)
            (global $bump (mut i32) (i32.const 1024))
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $p i32)
                (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                                       (i32.sub (i32.const 0) (local.get 2))))
                (global.set $bump (i32.add (local.get $p) (local.get 3)))
                (local.get $p))
            (data (i32.const 64) "ok")
            (func (export "kith:plugin/validator@0.1.0#validate") (param i32 i32) (result i32)
                (i32.store (i32.const 16) (i32.const 64))
                (i32.store (i32.const 20) (i32.const 2))
                (i32.const 16)))"#,
    )?;
    crate::hostile::encode_component(module, &resolve, world)
}

#[test]
fn an_export_of_the_right_name_but_the_wrong_type_is_refused_at_install() -> TestResult {
    let env = Env::new();
    let dir = validator_folder(&env, "impostor", "plugin.wasm")?;
    std::fs::write(dir.join("plugin.wasm"), mistyped_validator()?)?;
    let run = env.run(&["install", "plugin", &dir.to_string_lossy()]);
    assert_refused(&run, "kith:plugin/validator@0.1.0#validate");
    let reason = run.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("validate: func(traits-json: string) -> string"),
        "names what it found: {reason}"
    );
    assert!(
        reason.contains(
            "validate: func(ctx: call-context, schema-id: string, traits-json: string) -> result<_, list<field-error>>"
        ),
        "names what was expected: {reason}"
    );
    no_plugins_installed(&env);
    Ok(())
}

#[test]
fn a_multi_line_panic_message_from_stderr_keeps_its_line_order() -> TestResult {
    let env = Env::new();
    wasm("hostile_probe.wasm");
    env.run(&[
        "install",
        "plugin",
        &plugin_dir("hostile-probe"),
        "--config",
        "mode=stderr-panic",
    ])
    .ok();
    let input = env.file("in.json", r#"{"schema_id":"s","traits":{}}"#);
    let run = env.run(&["run", "plugin", "hostile-probe", "--input", &input]);
    assert_eq!(run.code, 2, "{run:?}");
    let reason = run.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("panic"), "{reason}");
    assert!(
        reason.contains("first line | second line | third line"),
        "the lines read in the order they were written: {reason}"
    );
    Ok(())
}
