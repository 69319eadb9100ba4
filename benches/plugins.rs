//! Plugin speed: per-call overhead of a validator (warm), `kith create identity` wall time
//! with one validator installed and a warm cache, and first-time compile time.
//!
//! Then the same validator work in three languages: component size, first-time compile, the
//! first call of a fresh process (compiled code from the disk cache) and a warm call, for the
//! Rust `email-domain-policy`, the JavaScript `disposable-email` and the Python `name-phone`.
//!
//! `scripts/build-plugins` (after `scripts/test` installed the JavaScript and Python
//! toolchains), then `cargo bench --bench plugins`. Prints p50/p99; these are figures, not
//! assertions.

#[path = "support/fixture.rs"]
mod fixture;

use kith::bench_internals::{Kind, Manifest, Plugin, PluginHost, sha256_hex};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The build output of a first-party plugin's component (`wasm` of its manifest).
fn built(wasm: &str) -> PathBuf {
    root()
        .join("plugins/target/wasm32-wasip2/release")
        .join(wasm)
}

fn plugin(name: &str) -> Plugin {
    let dir = root().join("plugins").join(name);
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dir.join("plugin.toml")).expect("plugin.toml"))
            .expect("a good manifest");
    let wasm =
        std::fs::read(built(&manifest.wasm)).expect("the plugins are built (see the module docs)");
    Plugin {
        config: manifest.default_config(),
        sha256: sha256_hex(&wasm),
        wasm: Arc::new(wasm),
        manifest,
    }
}

/// A plugin of `plugins-js/` or `plugins-py/`, whose component is built in its own folder.
fn plugin_in(folder: &str) -> Plugin {
    let dir = root().join(folder);
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dir.join("plugin.toml")).expect("plugin.toml"))
            .expect("a good manifest");
    let wasm = std::fs::read(dir.join(&manifest.wasm))
        .unwrap_or_else(|e| panic!("{folder}: {e}: build it with scripts/build-plugins"));
    Plugin {
        config: manifest.default_config(),
        sha256: sha256_hex(&wasm),
        wasm: Arc::new(wasm),
        manifest,
    }
}

/// Size, compile, first call and warm call of one validator, as the README's table has them.
fn languages(traits: &str) {
    for (language, plugin) in [
        ("Rust, email-domain-policy", plugin("email-domain-policy")),
        (
            "JavaScript, disposable-email",
            plugin_in("plugins-js/disposable-email"),
        ),
        ("Python, name-phone", plugin_in("plugins-py/name-phone")),
    ] {
        let size = plugin.wasm.len();
        println!("{language}: component {:.2} MB", size as f64 / 1e6);
        let cache = tempfile::tempdir().expect("a temporary folder");
        let mut compiles = Vec::new();
        for round in 0..3 {
            // A fresh cache each round, so Cranelift runs; the last one stays for the calls.
            let dir = cache.path().join(round.to_string());
            let host = PluginHost::with_cache_dir(&dir);
            let inspection = host
                .inspect(Kind::TraitValidator, &plugin.wasm)
                .expect("the plugin is accepted");
            compiles.push(inspection.compile_time.expect("compiled, not cached"));
        }
        report(&format!("  first-time compile, {language}"), compiles);
        let compiled = cache.path().join("2");
        // A fresh process: a new host reads the compiled code from the disk cache, links it
        // and makes the first instance (what `kith create identity` pays once per run).
        let mut firsts = Vec::new();
        for _ in 0..10 {
            let host = PluginHost::with_cache_dir(&compiled);
            let started = Instant::now();
            host.validate(&plugin, "preset://email", traits, 0)
                .expect("a first call");
            firsts.push(started.elapsed());
        }
        report(&format!("  first call, cached code, {language}"), firsts);
        let mut pooled = PluginHost::with_cache_dir(&compiled);
        pooled.set_pooled();
        for (how, host) in [
            ("", PluginHost::with_cache_dir(&compiled)),
            (", pooled", pooled),
        ] {
            for _ in 0..20 {
                host.validate(&plugin, "preset://email", traits, 0)
                    .expect("warm-up call");
            }
            let mut calls = Vec::new();
            let mut fuel = 0;
            let mut memory = 0;
            for _ in 0..300 {
                let started = Instant::now();
                let report = host
                    .validate(&plugin, "preset://email", traits, 0)
                    .expect("a call");
                calls.push(started.elapsed());
                fuel = report.fuel_used;
                memory = report.peak_memory_bytes;
            }
            report(
                &format!("  warm call{how}, {language}, {fuel} fuel, {memory} B peak memory"),
                calls,
            );
        }
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn report(what: &str, samples: Vec<Duration>) {
    let n = samples.len();
    let (p50, p99) = percentiles(samples);
    println!("{what:<58} p50 {p50:>10.2?}  p99 {p99:>10.2?}  (n = {n})");
}

fn main() {
    // `cargo bench --bench plugins -- languages` runs only the comparison of languages.
    let named = r#"{"email":"ada@example.org","name":{"first":"Ada","last":"Lovelace"}}"#;
    if std::env::args().any(|a| a == "languages") {
        languages(named);
        return;
    }
    let cache = tempfile::tempdir().expect("a temporary folder");
    let policy = plugin("email-domain-policy");

    // First-time compile: a fresh cache each time, so Cranelift runs.
    let mut compiles = Vec::new();
    for _ in 0..5 {
        let fresh = tempfile::tempdir().expect("a temporary folder");
        let host = PluginHost::with_cache_dir(fresh.path());
        let inspection = host
            .inspect(Kind::TraitValidator, &policy.wasm)
            .expect("the plugin is accepted");
        compiles.push(inspection.compile_time.expect("compiled, not cached"));
    }
    report("first-time compile, email-domain-policy (88 KB)", compiles);

    // Per-call overhead, warm: fresh store + WASI context + instance + call, compiled code
    // in memory. hostile-probe in its default `ok` mode is a trivial Rust validator. Once
    // with instances mapped per call (the CLI), once from the pool (`kith serve`).
    let mut pooled = PluginHost::with_cache_dir(cache.path());
    pooled.set_pooled();
    let hosts = [
        ("", PluginHost::with_cache_dir(cache.path())),
        (", pooled", pooled),
    ];
    let traits = r#"{"email":"ada@example.org"}"#;
    let trivial = plugin("hostile-probe");
    for ((what, plugin), (how, host)) in [
        ("trivial Rust validator (hostile-probe, mode ok)", &trivial),
        ("email-domain-policy", &policy),
    ]
    .into_iter()
    .flat_map(|p| hosts.iter().map(move |h| (p, h)))
    {
        for _ in 0..200 {
            host.validate(plugin, "preset://email", traits, 0)
                .expect("warm-up call");
        }
        let mut calls = Vec::new();
        let mut fuel = 0;
        for _ in 0..5000 {
            let started = Instant::now();
            let report = host
                .validate(plugin, "preset://email", traits, 0)
                .expect("a call");
            calls.push(started.elapsed());
            fuel = report.fuel_used;
        }
        report(&format!("validator call, {what}{how}, {fuel} fuel"), calls);
    }
    // Two threads calling at once, as two cores of a server do: calls per second.
    let (_, pooled) = &hosts[1];
    let started = Instant::now();
    let per_thread = 5000;
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    pooled
                        .validate(&policy, "preset://email", traits, 0)
                        .expect("a call");
                }
            });
        }
    });
    let rate = f64::from(2 * per_thread) / started.elapsed().as_secs_f64();
    println!("validator calls, email-domain-policy, pooled, 2 threads: {rate:.0}/s");

    // `kith create identity` end to end: process start, open, validator, write.
    let kith = env!("CARGO_BIN_EXE_kith");
    let run = |args: &[&str]| {
        fixture::kith(std::path::Path::new(kith), cache.path(), args);
    };
    let dir = root().join("plugins/email-domain-policy");
    let component = built("email_domain_policy.wasm");
    run(&[
        "install",
        "plugin",
        &dir.to_string_lossy(),
        "--wasm",
        &component.to_string_lossy(),
    ]);
    let mut creates = Vec::new();
    for i in 0..60 {
        let traits = format!(r#"{{"email":"user{i}@example.org"}}"#);
        let started = Instant::now();
        run(&[
            "create",
            "identity",
            "--schema-id",
            "preset://email",
            "--traits",
            &traits,
        ]);
        creates.push(started.elapsed());
    }
    report("kith create identity, one validator, warm cache", creates);

    let bare = cache.path().join("bare.db");
    let mut bare_creates = Vec::new();
    for i in 0..60 {
        let traits = format!(r#"{{"email":"user{i}@example.org"}}"#);
        let started = Instant::now();
        let status = Command::new(kith)
            .arg("--db")
            .arg(&bare)
            .args([
                "-q",
                "create",
                "identity",
                "--schema-id",
                "preset://email",
                "--traits",
                &traits,
            ])
            .output()
            .expect("kith runs");
        assert!(status.status.success());
        bare_creates.push(started.elapsed());
    }
    report("kith create identity, no plugins (baseline)", bare_creates);

    languages(named);
}
