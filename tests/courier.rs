//! The courier against real servers on loopback, started by each test: an SMTP relay
//! (aiosmtpd, from tests/smtp/.venv, which scripts/test provisions), STARTTLS with a CA the
//! test makes, a webhook receiver; and `kith serve`'s courier routes.

use crate::harness::{Env, TestResult};
use crate::serve::Server;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running tests/smtp/server.py, killed on drop.
struct Relay {
    child: Child,
    port: u16,
    maildir: PathBuf,
    /// Its stderr: a line per message stored, refused or stalled.
    log: PathBuf,
}

fn smtp_python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/.venv/bin/python")
}

impl Relay {
    /// Starts the SMTP sink with `options`, storing mail under `dir/maildir`.
    fn start(dir: &Path, options: &[&str]) -> Self {
        let maildir = dir.join(format!("maildir-{}", options.join("_").replace('/', "")));
        let log = maildir.with_extension("log");
        let mut child = Command::new(smtp_python())
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/server.py"))
            .arg("--maildir")
            .arg(&maildir)
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the relay's log"))
            .spawn()
            .expect("tests/smtp/.venv is provisioned by scripts/test");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the ready line");
        let port = line
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a ready line: {line:?}"));
        Self {
            child,
            port,
            maildir,
            log,
        }
    }

    /// What it logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The messages it stored, raw.
    fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut messages: Vec<Vec<u8>> = entries
            .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
            .collect();
        messages.sort();
        messages
    }

    fn uri(&self, scheme_and_query: (&str, &str)) -> String {
        let (scheme, query) = scheme_and_query;
        format!("{scheme}://127.0.0.1:{}{query}", self.port)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A relay started with `options` in a folder of its own, and a store whose courier sends
/// to it (plain SMTP, STARTTLS when offered).
fn relay_and_env(options: &[&str]) -> (tempfile::TempDir, Relay, Env) {
    let scratch = tempfile::tempdir().expect("a temporary folder");
    let relay = Relay::start(scratch.path(), options);
    let env = courier_env(&relay.uri(("smtp", "?disable_starttls=true")));
    (scratch, relay, env)
}

/// The status and detail of an invite's first delivery.
fn delivery(invitation: &Value) -> (&str, &str) {
    let first = &invitation["deliveries"][0];
    (
        first["status"].as_str().unwrap_or("(none)"),
        first["detail"].as_str().unwrap_or(""),
    )
}

/// A store whose courier sends to `relay_uri`, retrying fast.
fn courier_env(relay_uri: &str) -> Env {
    let env = Env::new();
    env.install_plugin("smtp-invite", "email:send", &[]);
    env.run(&["set", "config", "courier.smtp.connection_uri", relay_uri])
        .ok();
    env.run(&["set", "config", "courier.retry_base", "10ms"])
        .ok();
    env.run(&["set", "config", "courier.retry_max", "40ms"])
        .ok();
    env
}

fn invite(env: &Env, email: &str) -> Value {
    env.run(&[
        "invite",
        email,
        "--traits",
        &json!({"email": email}).to_string(),
    ])
    .ok()
    .json()
}

/// The message id of an invite's one delivery.
fn message_id(invitation: &Value) -> String {
    invitation["deliveries"][0]["message_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {invitation}"))
        .to_string()
}

/// Runs `kith courier run --once` until `done` holds for the message, at most 30 s.
fn drain_until(env: &Env, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        env.run(&["courier", "run", "--once"]).ok();
        let message = env.run(&["get", "message", id]).ok().json();
        if done(&message) {
            return message;
        }
        assert!(Instant::now() < deadline, "never happened: {message}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The text part of a stored message, decoded, and its headers.
fn text_part(raw: &[u8]) -> (String, mailparse::ParsedMail<'_>) {
    let parsed = mailparse::parse_mail(raw).expect("a MIME message");
    let text = parsed
        .subparts
        .iter()
        .chain(std::iter::once(&parsed))
        .find(|part| part.ctype.mimetype == "text/plain")
        .map(|part| part.get_body().expect("a decodable body"))
        .expect("a text/plain part");
    (text, parsed)
}

#[test]
fn an_invite_reaches_a_real_smtp_relay_and_its_code_redeems() -> TestResult {
    let env0 = Env::new();
    let relay = Relay::start(env0.dir.path(), &[]);
    let env = courier_env(&relay.uri(("smtp", "?disable_starttls=true")));
    env.run(&[
        "set",
        "config",
        "courier.smtp.from_address",
        "id@example.org",
    ])
    .ok();
    let invitation = invite(&env, "grace@example.org");
    assert_eq!(
        invitation["deliveries"][0]["status"], "delivered",
        "{invitation}"
    );
    assert_eq!(invitation["deliveries"][0]["channel"], "email");
    let messages = relay.messages();
    assert_eq!(messages.len(), 1, "one message reached the relay");
    let (text, parsed) = text_part(&messages[0]);
    let header = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(name))
            .map(|h| h.get_value())
            .unwrap_or_default()
    };
    assert_eq!(header("To"), "grace@example.org");
    assert!(
        header("From").contains("id@example.org"),
        "{}",
        header("From")
    );
    assert_eq!(header("X-RcptTo"), "grace@example.org");
    assert!(
        parsed
            .subparts
            .iter()
            .any(|p| p.ctype.mimetype == "text/html"),
        "text and HTML"
    );
    // The code as the invitee reads it in the mail, not as the CLI printed it.
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|word| word.len() == 6)
        .unwrap_or_else(|| panic!("no 6-digit code in {text}"));
    assert_eq!(code, invitation["recovery_code"]);
    assert!(text.contains(invitation["recovery_link"].as_str().unwrap_or("?")));
    crate::invite::accept_code(&env, &invitation, code, "a mail-borne passphrase").ok();
    env.run_with(
        &[
            "verify",
            "password",
            "--identifier",
            "grace@example.org",
            "--password-stdin",
        ],
        "a mail-borne passphrase\n",
    )
    .ok();
    let message = env
        .run(&["get", "message", &message_id(&invitation)])
        .ok()
        .json();
    assert_eq!(message["status"], "sent");
    assert_eq!(message["send_count"], 1);
    assert_eq!(message["body"], "<redacted-unless-dev-mode>");
    assert_eq!(message["dispatches"][0]["status"], "success");
    Ok(())
}

/// A private CA and a certificate for 127.0.0.1 it signs, made with openssl.
fn test_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kith test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "relay.key",
        "-out",
        "relay.csr",
    ]);
    std::fs::write(
        dir.join("relay.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write the extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "relay.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "relay.pem",
        "-extfile",
        "relay.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("relay.pem"),
        dir.join("relay.key"),
    )
}

#[test]
fn starttls_with_a_private_ca_delivers_and_an_unknown_ca_is_retried() -> TestResult {
    let scratch = tempfile::tempdir()?;
    let (ca, cert, key) = test_ca(scratch.path());
    let relay = Relay::start(
        scratch.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap_or_default(),
            "--tls-key",
            key.to_str().unwrap_or_default(),
            "--require-starttls",
        ],
    );
    // smtp:// without disable_starttls: STARTTLS is required.
    let env = courier_env(&relay.uri(("smtp", "")));
    let untrusted = invite(&env, "ada@example.org");
    let (status, detail) = delivery(&untrusted);
    assert_eq!(status, "queued", "{untrusted}");
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
    assert!(relay.messages().is_empty());

    env.run(&[
        "set",
        "config",
        "courier.root_ca_file",
        ca.to_str().unwrap_or_default(),
    ])
    .ok();
    let message = drain_until(&env, &message_id(&untrusted), |m| m["status"] == "sent");
    assert_eq!(message["send_count"], 2);
    assert_eq!(relay.messages().len(), 1);
    Ok(())
}

#[test]
fn a_relay_answering_4xx_is_retried_then_sent() -> TestResult {
    let (_scratch, relay, env) = relay_and_env(&["--fail-first", "2", "--fail-code", "451"]);
    let invitation = invite(&env, "lin@example.org");
    let (status, detail) = delivery(&invitation);
    assert_eq!(status, "queued", "{invitation}");
    assert!(
        detail.contains("451"),
        "the relay's answer is shown: {detail}"
    );
    let message = drain_until(&env, &message_id(&invitation), |m| m["status"] == "sent");
    assert_eq!(message["send_count"], 3);
    let statuses: Vec<&str> = message["dispatches"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["status"].as_str())
        .collect();
    assert_eq!(statuses, ["success", "failed", "failed"], "newest first");
    assert_eq!(relay.messages().len(), 1);
    let listed = env
        .run(&["list", "invites", "--status", "delivered"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    Ok(())
}

#[test]
fn a_relay_answering_5xx_is_abandoned_after_its_retries_and_shown_over_http() -> TestResult {
    let (_scratch, _relay, env) = relay_and_env(&["--fail-always", "550"]);
    env.run(&["set", "config", "courier.message_retries", "2"])
        .ok();
    let server = Server::start(&env);
    let created = server.admin(
        "POST",
        "/admin/invites",
        Some(&json!({"email": "max@example.org"}).to_string()),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = message_id(&created.json());
    // kith serve's own worker retries it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let message = loop {
        let got = server.admin("GET", &format!("/admin/courier/messages/{id}"), None);
        assert_eq!(got.status, 200, "{}", got.body);
        let message = got.json();
        if message["status"] == "abandoned" {
            break message;
        }
        assert!(Instant::now() < deadline, "not abandoned: {message}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(message["send_count"], 3, "message_retries + 1 attempts");
    let dispatches = message["dispatches"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(dispatches.len(), 3);
    assert_eq!(
        dispatches[0]["error"]["reason"],
        "failed to send email via smtp"
    );
    assert!(
        dispatches[0]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("550"),
        "{message}"
    );
    assert_eq!(message["body"], "<redacted-unless-dev-mode>");
    assert_eq!(message["subject"], "<redacted-unless-dev-mode>");
    let listed = server.admin("GET", "/admin/courier/messages?status=abandoned", None);
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    assert_eq!(listed[0]["id"], id);
    assert!(
        listed[0].get("dispatches").is_none(),
        "a list has no dispatches"
    );
    assert!(
        listed_link(&server, "/admin/courier/messages?status=abandoned").contains("rel=\"first\"")
    );
    let bad = server.admin("GET", "/admin/courier/messages?status=lost", None);
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["error"]["message"],
        "Message status is not valid"
    );
    let malformed = server.admin("GET", "/admin/courier/messages/not-a-uuid", None);
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.json()["error"]["message"],
        "uuid: incorrect UUID length 10 in string \"not-a-uuid\""
    );
    let unknown = server.admin(
        "GET",
        "/admin/courier/messages/00000000-0000-0000-0000-000000000001",
        None,
    );
    assert_eq!(unknown.status, 404);
    Ok(())
}

fn listed_link(server: &Server, path: &str) -> String {
    server
        .admin("GET", path, None)
        .header("link")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_relay_that_is_down_is_retried_until_it_is_up() -> TestResult {
    let scratch = tempfile::tempdir()?;
    // A port nothing listens on, until the relay starts there.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let env = courier_env(&format!("smtp://127.0.0.1:{port}?disable_starttls=true"));
    let invitation = invite(&env, "kai@example.org");
    assert_eq!(
        invitation["deliveries"][0]["status"], "queued",
        "{invitation}"
    );
    let id = message_id(&invitation);
    let relay = Relay::start(scratch.path(), &["--port", &port.to_string()]);
    let message = drain_until(&env, &id, |m| m["status"] == "sent");
    assert!(
        message["send_count"].as_i64().unwrap_or(0) >= 2,
        "{message}"
    );
    assert_eq!(relay.messages().len(), 1);
    Ok(())
}

/// Starts `kith courier run` and waits until it holds the store: until a second worker
/// (`courier run --once`) is refused, which it returns. A `--once` that took the lock first
/// makes the starting worker give up; it is started again.
fn start_worker(env: &Env) -> (Child, crate::harness::Run) {
    let spawn = || {
        env.std_cmd()
            .args(["courier", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kith courier run starts")
    };
    let mut worker = spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let second = env.run(&["courier", "run", "--once"]);
        if second.code != 0 {
            return (worker, second);
        }
        if worker.try_wait().ok().flatten().is_some() {
            worker = spawn();
        }
        assert!(Instant::now() < deadline, "the worker never held the store");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_worker_killed_mid_send_loses_no_message() -> TestResult {
    let (_scratch, relay, env) = relay_and_env(&["--stall-first", "1"]);
    let (mut worker, _) = start_worker(&env);
    // The worker holds the store, so an invite only queues its message for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let invitation = invite(&env, "sam@example.org");
    assert_eq!(
        invitation["deliveries"][0]["status"], "queued",
        "{invitation}"
    );
    let id = message_id(&invitation);
    // Mid-send: the relay has the message's DATA, and holds it.
    while !relay.log().contains("stalling") {
        assert!(Instant::now() < deadline, "never sent: {}", relay.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let processing = env.run(&["get", "message", &id]).ok().json();
    assert_eq!(processing["status"], "processing");
    assert_eq!(processing["send_count"], 1);
    // kill -9.
    worker.kill()?;
    worker.wait()?;
    let message = drain_until(&env, &id, |m| m["status"] == "sent");
    assert_eq!(
        message["send_count"], 2,
        "sent after the restart: {message}"
    );
    assert!(!relay.messages().is_empty());
    Ok(())
}

#[test]
fn one_worker_holds_a_store_at_a_time() -> TestResult {
    let env = Env::new();
    env.run(&["set", "config", "courier.retry_base", "1s"]).ok();
    let (mut worker, refused) = start_worker(&env);
    worker.kill()?;
    worker.wait()?;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.error()["reason"]
            .as_str()
            .unwrap_or("")
            .contains("one worker per store")
    );
    env.run(&["courier", "run", "--once"]).ok();
    Ok(())
}

/// A webhook receiver on loopback: keeps every request's body and answers what `answer`
/// makes of it (a status line and a body).
fn http_receiver(
    answer: impl Fn(&str) -> (&'static str, String) + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let (status, reply) = answer(&body);
            kept.lock().expect("lock").push(body);
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                    reply.len()
                )
                .as_bytes(),
            );
        }
    });
    (format!("http://{address}"), bodies)
}

/// A receiver that takes every request (200).
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    http_receiver(|_| ("200 OK", String::new()))
}

#[test]
fn webhook_invite_posts_to_an_allowed_url_and_nowhere_else() -> TestResult {
    let (base, bodies) = receiver();
    let env = Env::new();
    let url = format!("{base}/hooks/invites");
    env.install_plugin("webhook-invite", "http:post", &[&format!("url={url}")]);
    env.run(&[
        "set",
        "config",
        "courier.http.allowed_urls",
        &format!("{base}/hooks"),
    ])
    .ok();
    let invitation = invite(&env, "noor@example.org");
    assert_eq!(
        invitation["deliveries"][0]["status"], "delivered",
        "{invitation}"
    );
    assert_eq!(invitation["deliveries"][0]["channel"], "http");
    let posted: Value = serde_json::from_str(&bodies.lock().expect("lock")[0])?;
    assert_eq!(posted["recipient"], "noor@example.org");
    assert_eq!(posted["recovery_code"], invitation["recovery_code"]);

    env.run(&[
        "set",
        "config",
        "courier.http.allowed_urls",
        &format!("{base}/other"),
    ])
    .ok();
    let refused = invite(&env, "omar@example.org");
    let (status, detail) = delivery(&refused);
    assert_eq!(status, "failed", "{refused}");
    assert!(detail.contains("courier.http.allowed_urls"), "{detail}");
    assert_eq!(bodies.lock().expect("lock").len(), 1, "nothing was posted");
    Ok(())
}

#[test]
fn a_copy_of_the_store_does_not_reveal_a_queued_message() -> TestResult {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let env = courier_env(&format!("smtp://127.0.0.1:{port}?disable_starttls=true"));
    let invitation = invite(&env, "ines@example.org");
    assert_eq!(invitation["deliveries"][0]["status"], "queued");
    let code = invitation["recovery_code"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    let token = invitation["recovery_link"]
        .as_str()
        .and_then(|link| link.split("token=").nth(1))
        .unwrap_or("?")
        .to_string();
    let mut copy = std::fs::read(&env.db)?;
    if let Ok(wal) = std::fs::read(env.db.with_extension("db-wal")) {
        copy.extend(wal);
    }
    let holds = |needle: &str| copy.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!holds(&token), "the link's token is in the store in clear");
    assert!(!holds(&format!("code {code}")) && !holds(&format!("<strong>{code}")));
    // Once abandoned, its plan is gone from the store.
    env.run(&["set", "config", "courier.message_retries", "0"])
        .ok();
    drain_until(&env, &message_id(&invitation), |m| {
        m["status"] == "abandoned"
    });
    let exposed = {
        env.run(&["set", "config", "courier.expose_bodies", "true"])
            .ok();
        env.run(&["get", "message", &message_id(&invitation)])
            .ok()
            .json()
    };
    assert_eq!(exposed["body"], "<wiped after sending>", "{exposed}");
    Ok(())
}

#[test]
fn invites_over_http_run_the_cli_flows() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let created = server.admin(
        "POST",
        "/admin/invites",
        Some(
            &json!({"email": "rui@example.org", "expires_in": "1h", "deliver": false}).to_string(),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let invitation = created.json();
    assert!(invitation["recovery_code"].is_string());
    let id = invitation["invite_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let listed = server.admin("GET", "/admin/invites?status=pending", None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.json()[0]["id"], id.as_str());
    let resent = server.admin("POST", &format!("/admin/invites/{id}/resend"), None);
    assert_eq!(resent.status, 200, "{}", resent.body);
    assert_ne!(resent.json()["recovery_code"], invitation["recovery_code"]);
    let revoked = server.admin("DELETE", &format!("/admin/invites/{id}"), None);
    assert_eq!(revoked.status, 204, "{}", revoked.body);
    let listed = server.admin("GET", "/admin/invites?status=revoked", None);
    assert_eq!(listed.json()[0]["id"], id.as_str());
    let unknown_field = server.admin(
        "POST",
        "/admin/invites",
        Some(r#"{"emali":"x@example.org"}"#),
    );
    assert_eq!(unknown_field.status, 400, "{}", unknown_field.body);
    let bad_status = server.admin("GET", "/admin/invites?status=lost", None);
    assert_eq!(bad_status.status, 400);
    Ok(())
}

#[test]
fn retrying_an_abandoned_message_resends_its_invite() -> TestResult {
    let scratch = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let env = courier_env(&format!("smtp://127.0.0.1:{port}?disable_starttls=true"));
    env.run(&["set", "config", "courier.message_retries", "0"])
        .ok();
    let invitation = invite(&env, "ana@example.org");
    let id = message_id(&invitation);
    assert_eq!(
        env.run(&["get", "message", &id]).ok().json()["status"],
        "abandoned"
    );
    let relay = Relay::start(scratch.path(), &["--port", &port.to_string()]);
    let retried = env.run(&["retry", "message", &id]).ok().json();
    let new_id = retried["messages"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(new_id, id, "a new message, with the invite's new secrets");
    assert_eq!(
        env.run(&["get", "message", &new_id]).ok().json()["status"],
        "sent"
    );
    assert_eq!(relay.messages().len(), 1);
    let (text, _) = text_part(&relay.messages()[0]);
    assert!(
        !text.contains(invitation["recovery_code"].as_str().unwrap_or("?")),
        "the old code is dead and not sent again"
    );
    let sent = env.run(&["retry", "message", &new_id]);
    assert_eq!(
        sent.code, 1,
        "a sent message is not sent again: {}",
        sent.stderr
    );
    Ok(())
}

#[test]
fn a_starting_worker_waits_for_the_store_instead_of_giving_up() -> TestResult {
    let (_scratch, relay, env) = relay_and_env(&[]);
    // Another worker holds the store (as a one-shot `kith invite` does for a moment).
    let mut lock_path = env.db.clone().into_os_string();
    lock_path.push(".courier-lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)?;
    held.try_lock()?;
    let mut worker = env
        .std_cmd()
        .args(["courier", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(500));
    assert!(worker.try_wait()?.is_none(), "the worker gave up");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.run(&["courier", "run", "--once"]).code == 0 {
        assert!(Instant::now() < deadline, "the worker never took the store");
        std::thread::sleep(Duration::from_millis(20));
    }
    let invitation = invite(&env, "eve@example.org");
    let id = message_id(&invitation);
    while env.run(&["get", "message", &id]).ok().json()["status"] != "sent" {
        assert!(Instant::now() < deadline, "the worker never sent it");
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.kill()?;
    let mut said = String::new();
    worker.wait()?;
    worker
        .stderr
        .take()
        .map(|mut e| e.read_to_string(&mut said));
    assert!(said.contains("waiting for it to stop"), "{said}");
    assert_eq!(relay.messages().len(), 1);
    Ok(())
}

/// A relay that never finishes its greeting: a continuation line every half second, so no
/// read ever times out.
fn dripping_relay() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                for _ in 0..240 {
                    if stream.write_all(b"220-still here\r\n").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            });
        }
    });
    port
}

#[test]
fn a_relay_that_drips_forever_is_given_up_on_and_a_stop_still_stops() -> TestResult {
    let port = dripping_relay();
    let env = courier_env(&format!("smtp://127.0.0.1:{port}?disable_starttls=true"));
    env.run(&["set", "config", "courier.send_deadline", "2s"])
        .ok();
    let started = Instant::now();
    let invitation = invite(&env, "dora@example.org");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "kith invite hung"
    );
    let (status, detail) = delivery(&invitation);
    assert_eq!(status, "queued", "{invitation}");
    assert!(detail.contains("no progress"), "{detail}");
    // A worker stuck in such a send still stops on SIGTERM, and the message waits.
    env.run(&["set", "config", "courier.send_deadline", "1h"])
        .ok();
    env.run(&["set", "config", "courier.retry_base", "1ms"])
        .ok();
    let worker = env
        .std_cmd()
        .args(["courier", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let id = message_id(&invitation);
    let deadline = Instant::now() + Duration::from_secs(30);
    while env.run(&["get", "message", &id]).ok().json()["status"] != "processing" {
        assert!(Instant::now() < deadline, "the worker never took it");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status()?;
    let stopped = Instant::now();
    let status = wait_with_timeout(worker, Duration::from_secs(10));
    assert!(status.is_some(), "SIGTERM did not stop the worker");
    assert!(stopped.elapsed() < Duration::from_secs(10));
    assert_eq!(
        env.run(&["get", "message", &id]).ok().json()["status"],
        "queued"
    );
    Ok(())
}

/// Waits for `child` at most `limit`; kills it and returns `None` past that.
fn wait_with_timeout(mut child: Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A webhook receiver that refuses every request with 400, echoing its body.
fn echoing_receiver() -> String {
    http_receiver(|body| ("400 Bad Request", format!("bad payload: {body}"))).0
}

#[test]
fn a_webhook_reply_that_echoes_the_request_keeps_no_secret() -> TestResult {
    let base = echoing_receiver();
    let env = Env::new();
    let url = format!("{base}/hooks/T0/SECRETPATH");
    env.install_plugin(
        "webhook-invite",
        "http:post",
        &[&format!("url={url}"), "authorization=Bearer WEBHOOKTOKEN"],
    );
    let listed = env.run(&["list", "plugins"]).ok().stdout;
    assert!(!listed.contains("WEBHOOKTOKEN"), "{listed}");
    env.run(&[
        "set",
        "config",
        "courier.http.allowed_urls",
        &format!("{base}/hooks"),
    ])
    .ok();
    env.run(&["set", "config", "courier.message_retries", "0"])
        .ok();
    let invitation = invite(&env, "vera@example.org");
    let (status, detail) = delivery(&invitation);
    assert_eq!(status, "failed", "{invitation}");
    assert!(detail.contains("400"), "{detail}");
    let code = invitation["recovery_code"].as_str().unwrap_or("?");
    let token = invitation["recovery_link"]
        .as_str()
        .and_then(|link| link.split("token=").nth(1))
        .unwrap_or("?");
    let message = env
        .run(&["get", "message", &message_id(&invitation)])
        .ok()
        .stdout;
    let events = env.run(&["list", "events"]).ok().stdout;
    let mut file = std::fs::read(&env.db)?;
    file.extend(std::fs::read(env.db.with_extension("db-wal")).unwrap_or_default());
    let text = String::from_utf8_lossy(&file);
    // The webhook's URL is the plugin's config, kept in the store; it is not repeated in
    // what the courier records.
    let store = text.to_string();
    for (place, seen, secrets) in [
        ("message", &message, &[token, "SECRETPATH"][..]),
        ("events", &events, &[token, "SECRETPATH"][..]),
        ("store", &store, &[token][..]),
    ] {
        for secret in secrets {
            assert!(!seen.contains(secret), "{secret} is in the {place}");
        }
        assert!(
            !seen.contains(&format!("\"recovery_code\":\"{code}\"")),
            "the code is in the {place}"
        );
    }
    Ok(())
}

#[test]
fn bounces_go_to_the_sites_address_whatever_the_plan_says() -> TestResult {
    let scratch = tempfile::tempdir()?;
    let relay = Relay::start(scratch.path(), &[]);
    let env = Env::new();
    env.install_plugin(
        "smtp-invite",
        "email:send",
        &["sender=Evil <attacker@evil.example>"],
    );
    env.run(&[
        "set",
        "config",
        "courier.smtp.connection_uri",
        &relay.uri(("smtp", "?disable_starttls=true")),
    ])
    .ok();
    env.run(&[
        "set",
        "config",
        "courier.smtp.from_address",
        "it@corp.example",
    ])
    .ok();
    let invitation = invite(&env, "yan@example.org");
    assert_eq!(delivery(&invitation).0, "delivered", "{invitation}");
    let raw = String::from_utf8_lossy(&relay.messages()[0]).into_owned();
    assert!(raw.contains("X-MailFrom: it@corp.example"), "{raw}");
    assert!(raw.contains("Message-ID:"), "a Message-ID relays require");
    Ok(())
}

#[test]
fn a_resend_drops_a_message_stranded_mid_send() -> TestResult {
    let (_scratch, relay, env) = relay_and_env(&["--stall-first", "1"]);
    // `kith invite` sends its own message, and is killed while the relay holds it.
    let mut inviting = env
        .std_cmd()
        .args(["--format", "json", "invite", "bo@example.org"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !relay.log().contains("stalling") {
        assert!(Instant::now() < deadline, "never sent: {}", relay.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    inviting.kill()?;
    inviting.wait()?;
    let invites = env.run(&["list", "invites"]).ok().json();
    let stranded = invites[0]["deliveries"][0]["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        env.run(&["get", "message", &stranded]).ok().json()["status"],
        "processing"
    );
    let resent = env
        .run(&[
            "resend",
            "invite",
            invites[0]["id"].as_str().unwrap_or_default(),
        ])
        .ok()
        .json();
    assert_eq!(delivery(&resent).0, "delivered", "{resent}");
    env.run(&["courier", "run", "--once"]).ok();
    assert_eq!(env.run(&["get", "message", &stranded]).code, 1, "dropped");
    let (text, _) = text_part(&relay.messages()[0]);
    assert!(text.contains(resent["recovery_code"].as_str().unwrap_or("?")));
    assert_eq!(relay.messages().len(), 1, "the dead code was never sent");
    Ok(())
}

#[test]
fn courier_messages_page_by_keyset_with_kratos_link_headers() -> TestResult {
    let env = Env::new();
    env.install_plugin("eml-outbox", "outbox:write", &[]);
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(message_id(&invite(&env, &format!("page{n}@example.org"))));
    }
    let server = Server::start(&env);
    let first = server.admin(
        "GET",
        "/admin/courier/messages?page_size=2&recipient=",
        None,
    );
    assert_eq!(first.status, 200, "{}", first.body);
    let page: Vec<String> = first
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(page, [sent[2].clone(), sent[1].clone()], "newest first");
    let link = first.header("link").unwrap_or_default().to_string();
    assert!(link.contains("rel=\"first\""), "{link}");
    let next = link
        .split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| part.split(['<', '>']).nth(1))
        .unwrap_or_else(|| panic!("no next link: {link}"));
    let path = next
        .split_once(&server.admin)
        .map_or(next, |(_, path)| path);
    let second = server.admin("GET", path, None);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()[0]["id"], sent[0].as_str());
    assert!(
        !second
            .header("link")
            .unwrap_or_default()
            .contains("rel=\"next\"")
    );
    let bad = server.admin("GET", "/admin/courier/messages?page_token=forged", None);
    assert_eq!(bad.status, 400);
    let only = server.admin(
        "GET",
        "/admin/courier/messages?recipient=page1@example.org",
        None,
    );
    assert_eq!(only.json().as_array().map(Vec::len), Some(1));
    Ok(())
}
