//! Hardening: server. `kith serve` cannot be exhausted by sockets, slow clients or
//! unauthenticated uploads, and builds its links from its own settings, not the client's.
//! See: issue 10, points 3 and 4.

use crate::harness::{Env, TestResult};
use crate::serve::{Reply, SERVE_ON_LOOPBACK, listener, request, spawn_serve};
use serde_json::{Value, json};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `kith serve` on free loopback ports, started with `args` (and, when asked, a
/// lowered open-file limit); stopped with SIGTERM on drop.
struct Serving {
    child: Child,
    admin: String,
    public: String,
    token: String,
    ready: Value,
}

impl Serving {
    fn start(env: &Env, args: &[&str], open_files: Option<u32>) -> Self {
        let made = env.run(&["create", "token", "--name", "tests"]).ok().json();
        let mut cmd = match open_files {
            // The shell lowers both limits, so kith cannot raise its own past them.
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_kith"));
                sh
            }
            None => Command::new(env!("CARGO_BIN_EXE_kith")),
        };
        cmd.env_remove("KITH_DB")
            .env("USER", "tester")
            .env("KITH_CACHE_DIR", env.dir.path().join("cache"))
            .arg("--db")
            .arg(&env.db)
            .args(SERVE_ON_LOOPBACK)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        let (child, ready) = spawn_serve(cmd);
        Self {
            admin: listener(&ready, "admin"),
            public: listener(&ready, "public"),
            token: made["token"].as_str().expect("a token").to_string(),
            ready,
            child,
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // Bounded: a server that does not stop in time is killed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to `host` from the loopback address `source` (127.0.0.x), so that one test
/// can be several peers.
fn connect_from(source: [u8; 4], host: &str) -> std::io::Result<TcpStream> {
    let target: SocketAddr = host.parse().map_err(std::io::Error::other)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        socket.connect(target).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Reads until the peer closes or `within` passes; true when it closed (EOF or reset).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buffer = [0u8; 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
    false
}

/// One request written raw, with the headers given; the answer read until the server closes
/// (or `within` passes, when whatever arrived is returned).
fn raw_request(host: &str, head: &str, within: Duration) -> String {
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(within))
        .expect("a read timeout");
    stream.write_all(head.as_bytes()).expect("send head");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).into_owned()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

#[test]
fn idle_and_silent_connections_are_closed_after_the_header_timeout() -> TestResult {
    let env = Env::new();
    let server = Serving::start(&env, &["--header-timeout", "1s"], None);
    let mut silent_public = TcpStream::connect(&server.public)?;
    let mut silent_admin = TcpStream::connect(&server.admin)?;
    let mut partial = TcpStream::connect(&server.admin)?;
    partial.write_all(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n")?;
    // A keep-alive connection that got its answer and then says nothing more.
    let mut idle = TcpStream::connect(&server.public)?;
    idle.write_all(b"GET /health/alive HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer)?;
    assert_eq!(&answer, b"HTTP/1.1 200");

    let started = Instant::now();
    for (what, stream) in [
        ("silent, public", &mut silent_public),
        ("silent, admin", &mut silent_admin),
        ("partial head", &mut partial),
        ("idle keep-alive", &mut idle),
    ] {
        assert!(
            closed_within(stream, Duration::from_secs(4)),
            "the {what} connection is still open after {:?}",
            started.elapsed()
        );
    }
    // The server still serves.
    let alive = request(&server.public, "GET", "/health/alive", None, None);
    assert_eq!(alive.status, 200);
    Ok(())
}

#[test]
fn flooding_the_public_listener_leaves_the_admin_listener_answering() -> TestResult {
    let env = Env::new();
    // 256 descriptors: the old server ran out of them on public sockets and could not accept
    // on the admin listener any more.
    let server = Serving::start(&env, &[], Some(256));
    if let Some(cap) = server.ready["limits"]["public_connections"].as_u64() {
        assert!(cap < 256, "{}", server.ready);
    }
    // Five peers of 64 sockets each: more than the public cap (and than the limit), no peer
    // over its own share.
    let mut flood = Vec::new();
    for peer in 1..=5u8 {
        for _ in 0..64 {
            flood.push(connect_from([127, 0, 0, peer], &server.public)?);
        }
    }
    // Let the server take what it will take.
    std::thread::sleep(Duration::from_millis(500));

    let answered = |path: &str, token: Option<&str>| -> Option<Reply> {
        let admin = server.admin.clone();
        let (path, token) = (path.to_string(), token.map(str::to_string));
        let call =
            std::thread::spawn(move || request(&admin, "GET", &path, token.as_deref(), None));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !call.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A thread stuck on an unanswered socket is left behind; the server's exit ends it.
        if call.is_finished() {
            call.join().ok()
        } else {
            None
        }
    };
    let alive = answered("/health/alive", None).ok_or("admin /health/alive does not answer")?;
    assert_eq!(alive.status, 200);
    let listed = answered("/admin/identities", Some(&server.token))
        .ok_or("an authenticated admin request does not answer")?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json(), json!([]));

    // Once the flood leaves, the public listener serves again.
    drop(flood);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut stream = connect_from([127, 0, 0, 9], &server.public)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        stream.write_all(b"GET /health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the public listener does not recover after the flood: {answer:?}"
        );
    }
    Ok(())
}

#[test]
fn one_peer_cannot_hold_every_connection_of_the_public_listener() -> TestResult {
    let env = Env::new();
    let server = Serving::start(&env, &[], None);
    let sockets = (0..80)
        .map(|_| connect_from([127, 0, 0, 1], &server.public))
        .collect::<std::io::Result<Vec<_>>>()?;
    for socket in &sockets {
        socket.set_nonblocking(true)?;
    }
    // Those past the peer's share (64) are closed at once; the others wait for a request.
    let closed = |sockets: &[TcpStream]| {
        sockets
            .iter()
            .filter(|s| match s.peek(&mut [0u8; 1]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while closed(&sockets) < 16 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(closed(&sockets), 16, "one peer keeps 64 connections");
    // Another address is served meanwhile.
    let mut other = connect_from([127, 0, 0, 2], &server.public)?;
    other.set_read_timeout(Some(Duration::from_secs(5)))?;
    other.write_all(b"GET /health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    other.read_to_string(&mut answer)?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    Ok(())
}

#[test]
fn an_unauthenticated_slow_upload_gets_401_before_its_body_is_read() -> TestResult {
    let env = Env::new();
    let server = Serving::start(&env, &[], None);
    for authorization in ["", "Authorization: Bearer kith_pat_forged-token\r\n"] {
        // A client that waits for `100 Continue` before uploading: it must never get one.
        let started = Instant::now();
        let mut stream = TcpStream::connect(&server.admin)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(
            format!(
                "POST /admin/identities HTTP/1.1\r\nHost: {}\r\n{authorization}Content-Type: application/json\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n",
                server.admin
            )
            .as_bytes(),
        )?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        assert_eq!(
            String::from_utf8_lossy(&status),
            "HTTP/1.1 401",
            "{authorization:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));

        // A client that trickles its body: the answer comes before the body is complete.
        let mut stream = TcpStream::connect(&server.admin)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(
            format!(
                "POST /admin/identities HTTP/1.1\r\nHost: {}\r\n{authorization}Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{{\"schema_id\":",
                server.admin
            )
            .as_bytes(),
        )?;
        let mut status = [0u8; 12];
        stream.read_exact(&mut status)?;
        assert_eq!(&status, b"HTTP/1.1 401", "{authorization:?}");
    }
    assert_eq!(env.run(&["list", "identities"]).ok().json(), json!([]));
    Ok(())
}

#[test]
fn a_body_sent_slower_than_the_body_deadline_is_cut_off() -> TestResult {
    let env = Env::new();
    let server = Serving::start(&env, &["--body-timeout", "1s"], None);
    let mut stream = TcpStream::connect(&server.admin)?;
    stream.write_all(
        format!(
            "POST /admin/identities HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
            server.admin, server.token
        )
        .as_bytes(),
    )?;
    // A byte every 100 ms: never idle, never done.
    let mut writer = stream.try_clone()?;
    let trickle = std::thread::spawn(move || {
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(b" ").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut status = [0u8; 12];
    let answered = stream.read_exact(&mut status);
    let elapsed = started.elapsed();
    assert!(
        answered.is_ok() && elapsed < Duration::from_secs(3),
        "the body was still being read after {elapsed:?}"
    );
    assert_eq!(String::from_utf8_lossy(&status), "HTTP/1.1 400");
    drop(stream);
    let _ = trickle.join();
    Ok(())
}

#[test]
fn location_and_link_come_from_admin_url_never_from_the_host_header() -> TestResult {
    let env = Env::new();
    let server = Serving::start(&env, &[], None);
    let body = r#"{"schema_id":"preset://email","traits":{"email":"host@example.org"}}"#;
    let create = |email: &str| {
        let body = body.replace("host@", &format!("{email}@"));
        raw_request(
            &server.admin,
            &format!(
                "POST /admin/identities HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                server.token,
                body.len()
            ),
            Duration::from_secs(10),
        )
    };
    let list = || {
        raw_request(
            &server.admin,
            &format!(
                "GET /admin/identities?page_size=1 HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-Host: evil.example\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                server.token
            ),
            Duration::from_secs(10),
        )
    };

    // Unset: the admin listener's own address.
    let created = create("first");
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let location = header(&created, "location").unwrap_or_default();
    assert!(
        location.starts_with(&format!("http://{}/identities/", server.admin)),
        "{location}"
    );
    create("second");
    let listed = list();
    let link = header(&listed, "link").unwrap_or_default();
    assert!(
        link.starts_with(&format!("<http://{}/admin/identities?", server.admin))
            && link.contains("rel=\"next\"")
            && !link.contains("evil"),
        "{link}"
    );

    // Set: the setting, live within a second or so.
    env.run(&[
        "set",
        "config",
        "admin_url",
        "https://admin.example.org/kratos/",
    ])
    .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    for attempt in 0.. {
        let created = create(&format!("later-{attempt}"));
        let location = header(&created, "location").unwrap_or_default().to_string();
        if location.starts_with("https://admin.example.org/kratos/identities/") {
            break;
        }
        assert!(!location.contains("evil"), "{location}");
        assert!(
            Instant::now() < deadline,
            "Location ignores admin_url: {location}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let link = header(&list(), "link").unwrap_or_default().to_string();
    assert!(
        link.starts_with("<https://admin.example.org/kratos/admin/identities?"),
        "{link}"
    );
    Ok(())
}
