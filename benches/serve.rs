//! Load on `kith serve`: concurrent keep-alive clients on loopback drive
//! `POST /admin/identities` (no cleartext passwords), without and with a trait validator
//! plugin, and report requests/s and latency percentiles. Figures, not assertions. The
//! clients are multiplexed on two threads, as `wrk -t2` does them.
//!
//! `scripts/build-plugins` (builds the plugins and places each component in its folder), then
//! `cargo bench --bench serve [-- SECONDS CONNECTIONS]` (default 10 s, 32 connections).
//! A second run against the same server with a CLI writer on the side shows that busy
//! SQLite locks never become 500s. `KITH_BENCH_BIN` replaces this build's binary;
//! `KITH_BENCH_BASELINE=/path/to/an/older/kith` measures that
//! binary too, in the same run, each in a store of its own, so a change is seen before and after.

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{Server, binaries, kith, kith_command, this_kith};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Client threads, as `wrk -t2`.
const CLIENT_THREADS: usize = 2;

/// One keep-alive connection that sends a request and reads one whole response.
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(address: &str) -> Self {
        let stream = TcpStream::connect(address).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
        }
    }

    /// Returns the status code.
    async fn post(&mut self, host: &str, token: &str, path: &str, body: &str) -> u16 {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("send");
        let mut status_line = String::new();
        self.stream
            .read_line(&mut status_line)
            .await
            .expect("status line");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            self.stream.read_line(&mut header).await.expect("header");
            if header == "\r\n" || header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await.expect("body");
        status
    }
}

struct Figures {
    requests: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    by_status: Vec<(u16, u64)>,
}

/// Drives `connections` keep-alive connections for `seconds`, as wrk does: a few client
/// threads (two, as `wrk -t2`), each multiplexing its connections, so the load generator
/// does not add dozens of threads of its own to the cores the server runs on.
fn load(server: &Server, seconds: u64, connections: usize, label: &str) -> Figures {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLIENT_THREADS)
        .enable_all()
        .build()
        .expect("a client runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let (latencies, statuses) = runtime.block_on(async {
        let clients: Vec<_> = (0..connections)
            .map(|worker| {
                let stop = Arc::clone(&stop);
                let counter = Arc::clone(&counter);
                let host = server.admin.clone();
                let token = server.token.clone();
                let label = label.to_string();
                tokio::spawn(async move {
                    let mut connection = Connection::open(&host).await;
                    let mut latencies = Vec::new();
                    let mut statuses = std::collections::BTreeMap::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let body = format!(
                            r#"{{"schema_id":"preset://email","traits":{{"email":"{label}-{worker}-{i}@example.org"}},"metadata_public":{{"n":{i}}}}}"#
                        );
                        let sent = Instant::now();
                        let status = connection
                            .post(&host, &token, "/admin/identities", &body)
                            .await;
                        latencies.push(sent.elapsed());
                        *statuses.entry(status).or_insert(0u64) += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    (latencies, statuses)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        let mut statuses = std::collections::BTreeMap::new();
        for client in clients {
            let (l, s) = client.await.expect("a client task");
            latencies.extend(l);
            for (status, n) in s {
                *statuses.entry(status).or_insert(0) += n;
            }
        }
        (latencies, statuses)
    });
    let elapsed = started.elapsed();
    let mut latencies = latencies;
    latencies.sort();
    Figures {
        requests: counter.load(Ordering::Relaxed),
        elapsed,
        latencies,
        by_status: statuses.into_iter().collect(),
    }
}

impl Figures {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

fn print(what: &str, figures: &Figures) {
    let at =
        |q: f64| figures.latencies[((figures.latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<44} {:>7.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}  statuses {:?}",
        figures.rate(),
        at(0.5),
        at(0.99),
        figures.latencies.last().copied().unwrap_or_default(),
        figures.by_status,
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    println!("POST /admin/identities, {connections} keep-alive connections, {seconds} s each");

    for (label, binary) in binaries() {
        let bare = tempfile::tempdir().expect("a temporary folder");
        let server = Server::start(&binary, bare.path());
        load(&server, 1, connections, "warm");
        let bare_figures = load(&server, seconds, connections, "bare");
        print(&format!("{label}: no plugin"), &bare_figures);
        server.stop();

        let validated = tempfile::tempdir().expect("a temporary folder");
        let plugin: PathBuf =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins/email-domain-policy");
        kith(
            &binary,
            validated.path(),
            &["install", "plugin", &plugin.to_string_lossy()],
        );
        let server = Server::start(&binary, validated.path());
        load(&server, 1, connections, "warm");
        let checked = load(&server, seconds, connections, "checked");
        print(&format!("{label}: email-domain-policy validator"), &checked);
        server.stop();
        // What a validator costs a server: the share of the no-plugin rate it keeps.
        println!(
            "{label}: validator rate / no-plugin rate {:.2}",
            checked.rate() / bare_figures.rate()
        );
    }

    // A CLI process importing beside the server: the two share the file's write lock.
    let bare = tempfile::tempdir().expect("a temporary folder");
    let server = Server::start(&this_kith(), bare.path());
    load(&server, 1, connections, "warm");
    let records: String = (0..20_000)
        .map(|i| format!("{{\"schema_id\":\"preset://email\",\"traits\":{{\"email\":\"side-{i}@example.org\"}}}}\n"))
        .collect();
    let side_file = bare.path().join("side.ndjson");
    std::fs::write(&side_file, records).expect("the side import file");
    let side = {
        let dir = bare.path().to_path_buf();
        let file = side_file.clone();
        std::thread::spawn(move || {
            for round in 0..1000 {
                if round > 0 && !file.exists() {
                    break;
                }
                let _ = kith_command(&this_kith(), &dir)
                    .args(["import", "identities", "--on-conflict", "skip"])
                    .arg(&file)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        })
    };
    print(
        "no plugin, a CLI import writing alongside",
        &load(&server, seconds, connections, "contended"),
    );
    std::fs::remove_file(&side_file).expect("stop the side import");
    side.join().expect("the side import");
    server.stop();
}
