//! Plugin speed: per-call overhead of a validator (warm), `kith create identity` wall time
//! with one validator installed and a warm cache, and first-time compile time.
//!
//! `cargo build --release --manifest-path plugins/Cargo.toml --target wasm32-wasip2`, then
//! `cargo bench --bench plugins`. Prints p50/p99; these are figures, not assertions.

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
}
