//! Hardening: hashes.

use crate::harness::{Env, TestResult};
use crate::serve::{SERVE_ON_LOOPBACK, listener, request, spawn_serve};
use serde_json::json;
use std::process::{Command, Stdio};

/// Kilobytes of a `/proc/<pid>/status` field (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn concurrent_creates_with_passwords_hash_under_a_memory_bound() -> TestResult {
    const CLIENTS: usize = 40;
    // The default hasher, argon2id with m=19456 KiB: each hash holds 19 MiB while it runs.
    const HASH_KIB: u64 = 19_456;
    let env = Env::new();
    let made = env.run(&["create", "token", "--name", "tests"]).ok().json();
    let token = made["token"].as_str().unwrap_or_default().to_string();
    let mut command = env.std_cmd();
    command.args(SERVE_ON_LOOPBACK).stderr(Stdio::null());
    let (mut child, ready) = spawn_serve(command);
    let pid = child.id();
    let admin = listener(&ready, "admin");
    // Warm up (one create) so the baseline holds what every create needs besides hashing.
    let warm = json!({"schema_id": "preset://email", "traits": {"email": "warm@example.org"},
        "credentials": {"password": {"config": {"password": "correct horse battery staple"}}}});
    let first = request(
        &admin,
        "POST",
        "/admin/identities",
        Some(&token),
        Some(&warm.to_string()),
    );
    let baseline = status_kib(pid, "VmHWM");
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (admin, token) = (&admin, &token);
                scope.spawn(move || {
                    let body = json!({"schema_id": "preset://email",
                        "traits": {"email": format!("user{i}@example.org")},
                        "credentials": {"password": {"config": {"password": format!("pass-{i}-correct horse")}}}});
                    request(admin, "POST", "/admin/identities", Some(token), Some(&body.to_string())).status
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap_or(0)).collect()
    });
    let peak = status_kib(pid, "VmHWM");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    child.wait()?;
    assert_eq!(first.status, 201, "{}", first.body);
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    // The gate lets as many hashes run as there are cores (2 on CI); without it all 40 run
    // at once (760 MiB). Allow eight at once, whatever the machine.
    let grown = peak.saturating_sub(baseline);
    assert!(
        grown < 8 * HASH_KIB,
        "peak RSS grew by {grown} KiB over {baseline} KiB for {CLIENTS} concurrent creates"
    );
    Ok(())
}
