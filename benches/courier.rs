//! Courier throughput: messages/s from the queue into a local SMTP sink.
//!
//! The store gets N invites planned by `smtp-invite` (queued while this process holds the
//! courier lock, so none is sent yet); then `kith courier run --once` drains them into an
//! SMTP sink on loopback that this benchmark runs (it answers every command at once, so the
//! figure is kith's). Figures, not assertions.
//!
//! `scripts/build-plugins`, then `cargo bench --bench courier [-- MESSAGES]` (default 2000).
//! `KITH_BENCH_BIN` replaces this build's binary (a release build, say).

use kith::Admin as _;
use kith::flows::InviteRequest;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const KITH: &str = env!("CARGO_BIN_EXE_kith");

fn this_kith() -> PathBuf {
    std::env::var_os("KITH_BENCH_BIN").map_or_else(|| PathBuf::from(KITH), PathBuf::from)
}

/// An SMTP sink: every command gets its answer at once; messages are counted, not kept.
fn start_sink(received: Arc<AtomicU64>) -> u16 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let received = Arc::clone(&received);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read);
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut line = String::new();
                    let mut in_data = false;
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            break;
                        }
                        if in_data {
                            if line == ".\r\n" {
                                in_data = false;
                                received.fetch_add(1, Ordering::SeqCst);
                                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
                            }
                            continue;
                        }
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 ok\r\n",
                        };
                        let _ = write.write_all(answer).await;
                    }
                });
            }
        });
    });
    port
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let messages: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let received = Arc::new(AtomicU64::new(0));
    let port = start_sink(Arc::clone(&received));
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("kith.db");
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/smtp-invite");
    {
        let kith = kith::Kith::open(&db)?.with_plugin_cache_dir(dir.path().join("cache"));
        kith.install_plugin(&plugin, &[], &["email:send".to_string()])?;
        kith.set_config(
            "courier.smtp.connection_uri",
            &format!("smtp://127.0.0.1:{port}?disable_starttls=true"),
        )?;
        // Held while inviting: no worker may send, so every message stays queued.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.path().join("kith.db.courier-lock"))?;
        lock.try_lock()?;
        let started = Instant::now();
        for n in 0..messages {
            kith.invite(&InviteRequest {
                email: Some(format!("person{n}@example.org")),
                ..InviteRequest::default()
            })?;
        }
        let took = started.elapsed();
        println!(
            "queued {messages} invites in {:.1} s ({:.0}/s)",
            took.as_secs_f64(),
            messages as f64 / took.as_secs_f64()
        );
    }
    let started = Instant::now();
    let output = Command::new(this_kith())
        .env("KITH_CACHE_DIR", dir.path().join("cache"))
        .arg("--db")
        .arg(&db)
        .args(["--format", "json", "courier", "run", "--once"])
        .output()?;
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!(
        "courier run --once: {}",
        String::from_utf8_lossy(&output.stdout).trim()
    );
    println!(
        "courier: {} messages into the SMTP sink in {:.2} s: {:.0} messages/s",
        received.load(Ordering::SeqCst),
        took.as_secs_f64(),
        received.load(Ordering::SeqCst) as f64 / took.as_secs_f64()
    );
    Ok(())
}
