//! Hostile plugins: every misbehaviour ends in a typed fault naming the plugin, kith stays
//! up, and the next call to a good plugin succeeds (§10 of the plugin-host research).
//!
//! Rust misbehaviours come from `plugins/hostile-probe` (its `mode` config picks one);
//! the rest are WAT modules made into components here, with `wit-component`.

use crate::harness::TestResult;
use crate::plugins::{plugin_dir, wasm};
use kith::Admin as _;
use kith::error::FaultKind;
use kith::{Error, Kith};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One compile cache for the whole test binary, so each component compiles once.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

fn kith() -> Result<Kith, Error> {
    Ok(Kith::open_in_memory()?.with_plugin_cache_dir(cache_dir()))
}

fn validate_input() -> serde_json::Value {
    json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"}})
}

/// A kith with the good validator and the probe in `mode` installed.
fn with_probe(mode: &str) -> Result<Kith, Error> {
    let kith = kith()?;
    wasm("hostile_probe.wasm");
    kith.install_plugin(
        Path::new(&plugin_dir("hostile-probe")),
        &[("mode".into(), mode.into())],
        &[],
    )?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    Ok(kith)
}

/// Runs `plugin`, expects a fault of `kind`, then checks the good plugin still answers.
fn expect_fault(kith: &Kith, plugin: &str, kind: FaultKind) -> String {
    let started = Instant::now();
    let outcome = kith.run_plugin(plugin, &validate_input());
    let message = match outcome {
        Err(Error::PluginFault {
            plugin: named,
            version,
            kind: found,
            message,
        }) => {
            assert_eq!(found, kind, "{plugin}: {message}");
            assert_eq!(named, plugin.rsplit('/').next().unwrap_or(plugin));
            assert!(!version.is_empty());
            message
        }
        other => panic!("{plugin}: expected a {kind} fault, got {other:?}"),
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{plugin} took {:?}",
        started.elapsed()
    );
    expect_good(kith);
    message
}

fn expect_good(kith: &Kith) {
    let report = kith
        .run_plugin("email-domain-policy", &validate_input())
        .expect("the good plugin answers after a hostile one");
    assert_eq!(report.output, json!({"accepted": true}));
}

#[test]
fn an_endless_loop_runs_out_of_fuel() -> TestResult {
    let kith = with_probe("loop")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::OutOfFuel);
    assert!(message.contains("fuel"), "{message}");
    Ok(())
}

#[test]
fn an_endless_loop_with_ample_fuel_hits_the_deadline() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    let dir = folder(
        "timeout",
        "trait-validator",
        &wasm("hostile_probe.wasm"),
        "[limits]\nfuel = 10_000_000_000\ntimeout_ms = 200\n[config]\nmode = \"loop\"\n",
    )?;
    kith.install_plugin(dir.path(), &[], &[])?;
    let started = Instant::now();
    expect_fault(&kith, "timeout", FaultKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn a_memory_bomb_is_stopped_at_the_limit() -> TestResult {
    let kith = with_probe("memory-bomb")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::MemoryExhausted);
    assert!(message.contains("64 MiB"), "{message}");
    Ok(())
}

#[test]
fn deep_recursion_overflows_the_wasm_stack_not_kith() -> TestResult {
    let kith = with_probe("recursion")?;
    expect_fault(&kith, "hostile-probe", FaultKind::StackOverflow);
    Ok(())
}

#[test]
fn a_panic_is_reported_with_its_message() -> TestResult {
    let kith = with_probe("panic")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::Panic);
    assert!(
        message.contains("the probe panicked on purpose"),
        "{message}"
    );
    Ok(())
}

#[test]
fn a_huge_output_is_refused() -> TestResult {
    let kith = with_probe("huge-output")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::OutputTooLarge);
    assert!(message.contains("1 MiB"), "{message}");
    let kith = with_probe("many-errors")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::OutputTooLarge);
    assert!(message.contains("2000 field errors"), "{message}");
    Ok(())
}

#[test]
fn a_long_log_line_is_cut() -> TestResult {
    let kith = with_probe("long-line")?;
    let report = kith.run_plugin("hostile-probe", &validate_input())?;
    assert_eq!(report.output, json!({"accepted": true}));
    let line = &report.logs[0];
    assert_eq!(line.level, "warn");
    assert!(line.message.ends_with(" [cut]"), "{}", line.message.len());
    assert_eq!(line.message.len(), (2 << 10) + " [cut]".len());
    Ok(())
}

#[test]
fn a_log_flood_is_cut_then_stopped() -> TestResult {
    let kith = with_probe("log-flood")?;
    expect_fault(&kith, "hostile-probe", FaultKind::LogFlood);
    let kith = with_probe("stderr-flood")?;
    expect_fault(&kith, "hostile-probe", FaultKind::LogFlood);
    Ok(())
}

#[test]
fn files_and_environment_are_out_of_reach() -> TestResult {
    // The probe panics with the error it got; had it read anything it would return it.
    let kith = with_probe("read-file")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::Panic);
    assert!(
        message.contains("reading /etc/passwd was denied"),
        "{message}"
    );
    let kith = with_probe("read-env")?;
    let message = expect_fault(&kith, "hostile-probe", FaultKind::Panic);
    assert!(message.contains("(0 variables)"), "{message}");
    Ok(())
}

#[test]
fn a_failing_validator_fails_closed_on_create() -> TestResult {
    let kith = with_probe("panic")?;
    let body = serde_json::from_value(json!({
        "schema_id": "preset://email", "traits": {"email": "ada@example.org"}
    }))?;
    match kith.create_identity(body) {
        Err(error @ Error::PluginFault { .. }) => {
            assert_eq!(error.status(), 500);
            let envelope = serde_json::to_value(error.to_envelope())?;
            assert_eq!(envelope["error"]["details"]["plugin"], "hostile-probe");
            assert_eq!(envelope["error"]["details"]["fault"], "panic");
        }
        other => panic!("expected the write to be refused, got {other:?}"),
    }
    kith.set_plugin_enabled("hostile-probe", false)?;
    let body = serde_json::from_value(json!({
        "schema_id": "preset://email", "traits": {"email": "ada@example.org"}
    }))?;
    kith.create_identity(body)?;
    Ok(())
}

/// A plugin folder in a temporary directory holding a copy of `wasm`, with `extra`
/// manifest lines.
fn folder(
    name: &str,
    kind: &str,
    wasm: &Path,
    extra: &str,
) -> Result<tempfile::TempDir, std::io::Error> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(wasm, dir.path().join("plugin.wasm"))?;
    std::fs::write(
        dir.path().join("plugin.toml"),
        format!(
            "name = \"{name}\"\nversion = \"6.6.6\"\nkind = \"{kind}\"\napi = \"0.1\"\nwasm = \"plugin.wasm\"\n{extra}"
        ),
    )?;
    Ok(dir)
}

const KITH_WIT: &str = include_str!("../plugins/wit/kith-plugin.wit");

/// Extra packages hostile components import from; only their names matter to the check.
const FOREIGN_WIT: &[&str] = &[
    "package wasi:sockets@0.2.0; interface tcp { connect: func(); }",
    "package wasi:http@0.2.0; interface outgoing-handler { handle: func(); }",
    "package evil:x; interface y { z: func(); }",
];

/// A validator component from a core module in WAT. `imports` are `(interface, func)`
/// pairs, each a `func()`; `body` is the validate export's body; `memory` is in pages.
fn validator_component(
    imports: &[(&str, &str)],
    memory_pages: u32,
    body: &str,
    start: bool,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    component(&Core {
        imports,
        memory_pages,
        start,
        export: "validator",
        func: "validate",
        params: "i32 i32 i64 i32 i32 i32 i32",
        // result<_, list<field-error>> returns through a pointer; 0 at 16 is `ok`.
        body: &format!("{body} (i32.store8 (i32.const 16) (i32.const 0)) (i32.const 16)"),
        data: "",
    })
}

/// The parts of a one-function core module that becomes a component.
struct Core<'a> {
    imports: &'a [(&'a str, &'a str)],
    memory_pages: u32,
    start: bool,
    /// The `kith:plugin` interface exported, and its function.
    export: &'a str,
    func: &'a str,
    /// The function's flattened core parameters; it returns an `i32` (the return area).
    params: &'a str,
    body: &'a str,
    /// Extra module fields (data segments).
    data: &'a str,
}

fn component(core: &Core<'_>) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let Core {
        imports,
        memory_pages,
        start,
        export,
        func,
        params,
        body,
        data,
    } = core;
    let mut resolve = wit_parser::Resolve::default();
    for (i, text) in FOREIGN_WIT.iter().enumerate() {
        resolve.push_str(format!("foreign{i}.wit"), text)?;
    }
    resolve.push_str("kith-plugin.wit", KITH_WIT)?;
    let world_imports: String = imports
        .iter()
        .map(|(interface, _)| format!("import {interface};\n"))
        .collect();
    let test = resolve.push_str(
        "test.wit",
        &format!(
            "package test:hostile; world w {{ {world_imports} export kith:plugin/{export}@0.1.0; }}"
        ),
    )?;
    let world = resolve.select_world(&[test], Some("w"))?;
    let core_imports: String = imports
        .iter()
        .map(|(interface, func)| format!("(import \"{interface}\" \"{func}\" (func))\n"))
        .collect();
    let start = if *start { "(start $spin)" } else { "" };
    let wat = format!(
        r#"(module
            {core_imports}
            (memory (export "memory") {memory_pages})
            (global $bump (mut i32) (i32.const 1024))
            (func $spin (loop $l (br $l)))
            {start}
            (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
                (local $p i32)
                (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                                       (i32.sub (i32.const 0) (local.get 2))))
                (global.set $bump (i32.add (local.get $p) (local.get 3)))
                (local.get $p))
            {data}
            (func (export "kith:plugin/{export}@0.1.0#{func}") (param {params}) (result i32)
                {body}))"#
    );
    encode_component(wat::parse_str(&wat)?, &resolve, world)
}

/// A core module with `world` of `resolve` embedded, encoded as a component.
pub fn encode_component(
    mut module: Vec<u8>,
    resolve: &wit_parser::Resolve,
    world: wit_parser::WorldId,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    wit_component::embed_component_metadata(
        &mut module,
        resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )?;
    Ok(wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()?)
}

/// Writes `component` into a plugin folder of `kind`.
fn component_folder(
    name: &str,
    kind: &str,
    component: &[u8],
) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("plugin.wasm");
    std::fs::write(&path, component)?;
    std::fs::write(
        dir.path().join("plugin.toml"),
        format!(
            "name = \"{name}\"\nversion = \"6.6.6\"\nkind = \"{kind}\"\napi = \"0.1\"\nwasm = \"plugin.wasm\"\n"
        ),
    )?;
    Ok(dir)
}

#[test]
fn a_well_formed_wat_validator_works_so_the_fixtures_below_are_fair() -> TestResult {
    let kith = kith()?;
    let dir = component_folder(
        "wat-ok",
        "trait-validator",
        &validator_component(&[], 1, "", false)?,
    )?;
    kith.install_plugin(dir.path(), &[], &[])?;
    let report = kith.run_plugin("wat-ok", &validate_input())?;
    assert_eq!(report.output, json!({"accepted": true}));
    Ok(())
}

#[test]
fn an_endless_loop_at_start_up_is_stopped() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    let component = validator_component(&[], 1, "", true)?;
    let dir = component_folder("start-loop", "trait-validator", &component)?;
    // Installing compiles and links but never runs the start function.
    kith.install_plugin(dir.path(), &[], &[])?;
    expect_fault(&kith, "start-loop", FaultKind::OutOfFuel);
    Ok(())
}

#[test]
fn a_huge_initial_memory_is_refused_at_instantiation() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    let component = validator_component(&[], 40_000, "", false)?;
    let dir = component_folder("huge-memory", "trait-validator", &component)?;
    kith.install_plugin(dir.path(), &[], &[])?;
    expect_fault(&kith, "huge-memory", FaultKind::MemoryExhausted);
    Ok(())
}

#[test]
fn an_oversized_input_is_refused_before_the_plugin_runs() -> TestResult {
    let kith = with_probe("ok")?;
    let input = json!({"schema_id": "s", "traits": {"blob": "x".repeat(300 << 10)}});
    match kith.run_plugin("hostile-probe", &input) {
        Err(Error::PluginFault { kind, message, .. }) => {
            assert_eq!(kind, FaultKind::InputTooLarge, "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    expect_good(&kith);
    Ok(())
}

#[test]
fn network_and_unknown_imports_are_refused_at_install_by_name() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    for (interface, func, expected) in [
        ("wasi:sockets/tcp@0.2.0", "connect", "never grants"),
        ("wasi:http/outgoing-handler@0.2.0", "handle", "never grants"),
        ("evil:x/y", "z", "does not provide"),
    ] {
        let component = validator_component(&[(interface, func)], 1, "", false)?;
        let dir = component_folder("importer", "trait-validator", &component)?;
        match kith.install_plugin(dir.path(), &[], &[]) {
            Err(Error::PluginInvalid { problem, .. }) => {
                assert!(problem.contains(interface), "{problem}");
                assert!(problem.contains(expected), "{problem}");
            }
            other => panic!("{interface}: expected a refusal, got {other:?}"),
        }
        expect_good(&kith);
    }
    assert_eq!(kith.list_plugins()?.len(), 1);
    Ok(())
}

#[test]
fn a_component_of_the_wrong_kind_is_refused() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    let dir = folder("wrong", "trait-validator", &wasm("eml_outbox.wasm"), "")?;
    match kith.install_plugin(dir.path(), &[], &[]) {
        Err(Error::PluginInvalid { problem, .. }) => {
            assert!(problem.contains("kith:plugin/validator"), "{problem}");
            assert!(problem.contains("kith:plugin/delivery@0.1.0"), "{problem}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    expect_good(&kith);
    Ok(())
}

#[test]
fn a_truncated_or_corrupt_cache_entry_is_recompiled() -> TestResult {
    let cache = tempfile::tempdir()?;
    let open = || -> Result<Kith, Error> {
        Ok(Kith::open_in_memory()?.with_plugin_cache_dir(cache.path()))
    };
    open()?.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.path())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    let full = std::fs::read(entry)?;
    let mut flipped = full.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    for damaged in [full[..full.len() / 2].to_vec(), flipped, b"junk".to_vec()] {
        std::fs::write(entry, &damaged)?;
        let kith = open()?;
        kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
        expect_good(&kith);
        assert_eq!(
            std::fs::read(entry)?.len(),
            full.len(),
            "the entry is rewritten"
        );
    }
    Ok(())
}

#[test]
fn a_result_that_breaks_the_contract_is_bad_output() -> TestResult {
    let kith = kith()?;
    kith.install_plugin(Path::new(&plugin_dir("email-domain-policy")), &[], &[])?;
    // An import mapper whose createIdentityBody is the string "nope".
    let mapper = component(&Core {
        imports: &[],
        memory_pages: 1,
        start: false,
        export: "mapper",
        func: "map-record",
        params: "i32 i32 i64 i32 i32",
        body: "(i32.store8 (i32.const 16) (i32.const 0))
               (i32.store (i32.const 20) (i32.const 64))
               (i32.store (i32.const 24) (i32.const 4))
               (i32.const 16)",
        data: r#"(data (i32.const 64) "nope")"#,
    })?;
    let dir = component_folder("nope", "import-mapper", &mapper)?;
    kith.install_plugin(dir.path(), &[], &[])?;
    match kith.run_plugin("nope", &json!({"email": "a@example.org"})) {
        Err(Error::PluginFault { kind, message, .. }) => {
            assert_eq!(kind, FaultKind::BadOutput, "{message}");
            assert!(message.contains("not a JSON object"), "{message}");
        }
        other => panic!("expected bad output, got {other:?}"),
    }
    expect_good(&kith);
    Ok(())
}
