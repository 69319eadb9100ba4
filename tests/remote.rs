//! `--endpoint`: the identity commands against another `kith serve` on loopback, through a
//! recording (and, when asked, faulty) HTTP proxy; every request checked against Kratos'
//! OpenAPI spec.

use crate::harness::{Env, Run, TestResult};
use crate::serve::Server;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the client sent it.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// What the proxy does to the batch requests (`PATCH /admin/identities`) it sees.
#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    /// Answer 503 (without forwarding) to every `nth` batch.
    unavailable_every: Option<usize>,
    /// Forward this batch (counted from 1), then drop the client's connection unanswered.
    lose_answer_of: Option<usize>,
}

/// An HTTP/1.1 proxy on a free loopback port in front of `upstream`: it records every
/// request, forwards it on a fresh connection and relays the answer, closing each client
/// connection after one exchange. Stopped on drop.
struct Proxy {
    addr: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: &str, faults: Faults) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("an address").to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    let (requests, batches, upstream) =
                        (requests.clone(), batches.clone(), upstream.clone());
                    std::thread::spawn(move || {
                        let _ = exchange(client, &upstream, faults, &requests, &batches);
                    });
                }
            })
        };
        Self {
            addr: format!("http://{addr}"),
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request: its head's lines and its body (by Content-Length).
fn read_request(stream: &mut TcpStream) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte)? == 0 || raw.len() > 64 << 10 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        raw.push(byte[0]);
    }
    let head: Vec<String> = String::from_utf8_lossy(&raw)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let length = head
        .iter()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body)?;
    Ok((head, body))
}

fn exchange(
    mut client: TcpStream,
    upstream: &str,
    faults: Faults,
    requests: &Mutex<Vec<Recorded>>,
    batches: &AtomicUsize,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let (head, body) = read_request(&mut client)?;
    let mut words = head.first().map(|l| l.split(' ')).into_iter().flatten();
    let (method, target) = (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    );
    requests.lock().expect("requests").push(Recorded {
        method: method.clone(),
        target: target.clone(),
        body: body.clone(),
    });
    let batch = match (method.as_str(), target.as_str()) {
        ("PATCH", "/admin/identities") => Some(batches.fetch_add(1, Ordering::SeqCst) + 1),
        _ => None,
    };
    if let (Some(n), Some(every)) = (batch, faults.unavailable_every)
        && n % every == 0
    {
        let answer =
            r#"{"error":{"code":503,"status":"Service Unavailable","message":"try again"}}"#;
        write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut forwarded = String::new();
    forwarded.push_str(&head[0]);
    forwarded.push_str("\r\n");
    for line in &head[1..] {
        let name = line.split(':').next().unwrap_or_default().trim();
        if !name.eq_ignore_ascii_case("connection") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    server.write_all(forwarded.as_bytes())?;
    server.write_all(&body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    if batch.is_some() && batch == faults.lose_answer_of {
        // The server committed the batch; its answer never reaches the client.
        client.shutdown(Shutdown::Both)?;
        return Ok(());
    }
    client.write_all(&answer)?;
    client.flush()
}

/// `kith --endpoint URL --format json ARGS` with the server's token in KITH_TOKEN.
fn remote(client: &Env, endpoint: &str, token: &str, args: &[&str], stdin: &str) -> Run {
    let mut cmd = client.cmd();
    cmd.env("KITH_TOKEN", token)
        .env_remove("KITH_ENDPOINT")
        .env_remove("KRATOS_ADMIN_URL")
        .args(["--endpoint", endpoint, "--format", "json"])
        .args(args);
    Run::of(&mut cmd, stdin)
}

/// A server, a proxy in front of it, and a client folder whose store is never made.
struct Setup {
    server_env: Env,
    server: Server,
    proxy: Proxy,
    client: Env,
}

impl Setup {
    fn new(faults: Faults) -> Self {
        let server_env = Env::new();
        let server = Server::start(&server_env);
        let proxy = Proxy::start(&server.admin, faults);
        Self {
            server_env,
            server,
            proxy,
            client: Env::new(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        remote(
            &self.client,
            &self.proxy.addr,
            &self.server.token,
            args,
            stdin,
        )
    }

    /// The identities on the server, counted in its own store.
    fn server_count(&self) -> usize {
        self.server_env.count_all()
    }
}

/// `n` preset://email records as NDJSON, with pre-hashed passwords (bcrypt cost 4).
fn records(prefix: &str, n: usize) -> String {
    const HASH: &str = "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2";
    (0..n)
        .map(|i| {
            json!({
                "schema_id": "preset://email",
                "traits": {"email": format!("{prefix}{i}@example.org")},
                "credentials": {"password": {"config": {"hashed_password": HASH}}},
            })
            .to_string()
                + "\n"
        })
        .collect()
}

/// Runs create, get, list, update, patch, validate and delete identity, get and list
/// schemas, and recovery code and link, each checked.
fn every_identity_command(setup: &Setup) -> TestResult {
    let body = json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"}});
    let created = setup
        .run_with(&["create", "identity", "--file", "-"], &body.to_string())
        .ok()
        .json();
    let id = created["id"].as_str().ok_or("an id")?.to_string();
    assert_eq!(created["traits"]["email"], "ada@example.org");

    let fetched = setup
        .run(&["get", "identity", &id, "-i", "password"])
        .ok()
        .json();
    assert_eq!(fetched["id"], created["id"]);
    let listed = setup
        .run(&["list", "identities", "--identifier", "ada@example.org"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    let update = setup.client.file(
        "update.json",
        &json!({"schema_id": "preset://email", "traits": {"email": "ada@example.org"},
                "metadata_public": {"team": "engines"}, "state": "active"})
        .to_string(),
    );
    let updated = setup
        .run(&["update", "identity", &id, "--file", &update])
        .ok()
        .json();
    assert_eq!(updated["metadata_public"]["team"], "engines");

    let patch = setup.client.file(
        "patch.json",
        r#"[{"op":"replace","path":"/traits/email","value":"lovelace@example.org"}]"#,
    );
    let patched = setup
        .run(&["patch", "identity", &id, "--file", &patch])
        .ok()
        .json();
    assert_eq!(patched["traits"]["email"], "lovelace@example.org");

    // validate: a good record, one the schema refuses, one whose identifier the server holds,
    // and two of a schema only the server has (fetched from it).
    let schema = setup.server_env.file(
        "employee.json",
        &crate::schema::employee_schema().to_string(),
    );
    setup
        .server_env
        .run(&["add", "schema", "employee", &schema])
        .ok();
    let checked = setup.client.file(
        "check.ndjson",
        &[
            json!({"schema_id": "preset://email", "traits": {"email": "new@example.org"}}),
            json!({"schema_id": "preset://email", "traits": {"email": "nope"}}),
            json!({"schema_id": "preset://email", "traits": {"email": "Lovelace@example.org"}}),
            json!({"schema_id": "employee", "traits": {"work_email": "lin@corp.example", "employee_no": 7}}),
            json!({"schema_id": "employee", "traits": {"work_email": "max@corp.example"}}),
        ]
        .map(|v| v.to_string())
        .join("\n"),
    );
    let validated = setup.run(&["validate", "identity", &checked]);
    assert_eq!(validated.code, 1, "{validated:?}");
    let lines: Vec<Value> = validated
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines[0]["valid"], true, "{lines:?}");
    assert_eq!(lines[1]["error"]["code"], 400, "{lines:?}");
    assert_eq!(lines[2]["error"]["code"], 409, "{lines:?}");
    assert_eq!(
        lines[2]["error"]["details"]["conflicting_identity"],
        id.as_str()
    );
    assert_eq!(lines[3]["valid"], true, "{lines:?}");
    assert!(
        lines[4]["error"].to_string().contains("employee_no"),
        "{lines:?}"
    );
    assert_eq!(setup.server_count(), 1, "validate wrote nothing");

    let schema = setup.run(&["get", "schema", "preset://email"]).ok().json();
    assert!(schema.to_string().contains("ory.sh/kratos"), "{schema}");
    let schemas = setup.run(&["list", "schemas"]).ok().json();
    assert!(
        schemas.to_string().contains("preset://username"),
        "{schemas}"
    );
    let code = setup.run(&["create", "recovery-code", &id]).ok().json();
    assert_eq!(
        code["recovery_code"].as_str().map(str::len),
        Some(6),
        "{code}"
    );
    let link = setup.run(&["create", "recovery-link", &id]).ok().json();
    assert!(link["recovery_link"].as_str().is_some(), "{link}");

    setup.run(&["delete", "identity", &id]).ok();
    let gone = setup.run(&["get", "identity", &id]);
    assert_eq!(gone.code, 1, "{gone:?}");
    assert_eq!(gone.error()["code"], 404, "{gone:?}");
    Ok(())
}

#[test]
fn every_identity_command_round_trips_against_kith_serve() -> TestResult {
    let setup = Setup::new(Faults::default());
    every_identity_command(&setup)?;
    assert!(
        !setup.client.db.exists(),
        "a remote command never makes a local store"
    );
    Ok(())
}

#[test]
fn a_remote_import_reports_each_record_by_its_source_position() -> TestResult {
    let setup = Setup::new(Faults::default());
    let ndjson = setup.client.file(
        "users.ndjson",
        &format!(
            "{}\n{}\nnot json\n{}\n{}\n{}\n",
            json!({"schema_id": "preset://email", "traits": {"email": "a@example.org"}}),
            json!({"schema_id": "preset://email", "traits": {"email": "nope"}}),
            json!({"schema_id": "preset://email", "traits": {"email": "A@example.org"}}),
            // A state Kratos refuses fails its whole batch: the batch is halved around it.
            json!({"schema_id": "preset://email", "traits": {"email": "c@example.org"}, "state": "asleep"}),
            json!({"schema_id": "preset://email", "traits": {"email": "d@example.org"}}),
        ),
    );
    let array = setup.client.file(
        "more.json",
        &json!([{"schema_id": "preset://email", "traits": {"email": "b@example.org"},
                 "credentials": {"password": {"config": {"password": "a long enough secret"}}}}])
        .to_string(),
    );
    let report = setup.client.dir.path().join("report.jsonl");
    let run = setup.run(&[
        "import",
        "identities",
        &ndjson,
        &array,
        "--report",
        report.to_str().ok_or("a path")?,
    ]);
    assert_eq!(run.code, 1, "failed records: exit 1\n{run:?}");
    let lines = report_lines(&report)?;
    let seen: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["source"].as_str().unwrap_or_default().to_string(),
                l["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        (format!("{ndjson}:1"), "create"),
        (format!("{ndjson}:2"), "error"),
        (format!("{ndjson}:3"), "error"),
        (format!("{ndjson}:4"), "error"),
        (format!("{ndjson}:5"), "error"),
        (format!("{ndjson}:6"), "create"),
        (format!("{array}[0]"), "create"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(s, a)| (s, a.to_string()))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(lines[1]["error"]["code"], 400);
    assert_eq!(
        lines[3]["error"]["code"], 409,
        "the same identifier: {}",
        lines[3]
    );
    assert_eq!(lines[4]["error"]["code"], 400, "{}", lines[4]);
    assert_eq!(setup.server_count(), 3);
    Ok(())
}

#[test]
fn a_remote_export_imports_back_into_a_fresh_store_unchanged() -> TestResult {
    let setup = Setup::new(Faults::default());
    let body = json!({
        "schema_id": "preset://email",
        "external_id": "crm-1",
        "traits": {"email": "grace@example.org"},
        "metadata_public": {"plan": "pro"},
        "metadata_admin": {"note": "vip"},
        "verifiable_addresses": [{"value": "grace@example.org", "verified": true, "via": "email", "status": "completed"}],
        "credentials": {
            "password": {"config": {"hashed_password": "$2b$04$yDMIRw1fzieqnevtX.tfjOITRFkWEuWfYne2rDTBk10D/jGmflau2"}},
            "oidc": {"config": {"providers": [{"provider": "github", "subject": "4711"}]}}
        }
    });
    setup.server.create_identity(&body);
    let stdin = records("bulk", 620);
    setup
        .run_with(&["import", "identities", "--on-conflict", "skip"], &stdin)
        .ok();
    // 621 identities: more than one page of 500.
    let exported = setup
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    assert_eq!(exported.lines().count(), 621);
    let local = Env::new();
    local.run_with(&["import", "identities"], &exported).ok();
    let again = local
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    assert_eq!(again, exported, "the same identities, field for field");
    let direct = setup
        .server_env
        .run(&["export", "identities", "--include-credentials"])
        .ok()
        .stdout;
    assert_eq!(
        direct, exported,
        "a remote export is the server's own export"
    );
    assert!(exported.contains("\"oidc\"") && exported.contains("\"verified\":true"));
    Ok(())
}

#[test]
fn an_import_through_a_flaky_proxy_loses_nothing_and_doubles_nothing() -> TestResult {
    let setup = Setup::new(Faults {
        unavailable_every: Some(10),
        lose_answer_of: Some(4),
    });
    let n = 1500;
    let input = setup.client.file("users.ndjson", &records("flaky", n));
    let report = setup.client.dir.path().join("report.jsonl");
    let run = setup.run(&[
        "import",
        "identities",
        &input,
        "--on-conflict",
        "skip",
        "--chunk-size",
        "50",
        "--report",
        report.to_str().ok_or("a path")?,
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = report_lines(&report)?;
    assert_eq!(lines.len(), n, "one line per record");
    let skipped = lines.iter().filter(|l| l["action"] == "skip").count();
    assert_eq!(
        skipped, 50,
        "the batch whose answer was lost was created, and its retry skipped"
    );
    assert!(lines.iter().all(|l| l["action"] != "error"));
    let batches = setup
        .proxy
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert!(
        batches > n / 50 + 1,
        "503s and the lost answer were retried: {batches}"
    );
    assert_eq!(setup.server_count(), n, "nothing lost, nothing doubled");
    Ok(())
}

#[test]
fn a_remote_import_that_runs_out_of_retries_says_so_and_resume_completes_it() -> TestResult {
    let setup = Setup::new(Faults {
        unavailable_every: Some(3),
        lose_answer_of: None,
    });
    let n = 400;
    let input = setup.client.file("users.ndjson", &records("resume", n));
    let first = setup.client.dir.path().join("first.jsonl");
    let run = setup.run(&[
        "import",
        "identities",
        &input,
        "--chunk-size",
        "100",
        "--retries",
        "0",
        "--report",
        first.to_str().ok_or("a path")?,
    ]);
    // Batches 1 and 2 go through; batch 3 meets a 503 and no retry is allowed.
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("503"), "{}", run.stderr);
    let report = std::fs::read_to_string(&first)?;
    assert!(report.contains("gave up after 1 attempts"), "{report}");
    assert_eq!(report.matches("\"create\"").count(), 200, "{report}");
    assert!(report.contains("re-run with --resume"), "{report}");
    assert_eq!(setup.server_count(), 200);

    let second = setup.client.dir.path().join("second.jsonl");
    setup
        .run(&[
            "import",
            "identities",
            &input,
            "--chunk-size",
            "100",
            "--resume",
            first.to_str().ok_or("a path")?,
            "--report",
            second.to_str().ok_or("a path")?,
        ])
        .ok();
    let lines = report_lines(&second)?;
    assert_eq!(lines.iter().filter(|l| l["action"] == "skip").count(), 200);
    assert_eq!(
        lines.iter().filter(|l| l["action"] == "create").count(),
        200
    );
    assert_eq!(
        setup.server_count(),
        n,
        "each record once, without --on-conflict skip"
    );
    Ok(())
}

#[test]
fn kith_only_commands_and_plain_http_beyond_loopback_are_refused_without_the_token_showing()
-> TestResult {
    let client = Env::new();
    let secret = "kith_tok_do_not_print_me";
    let local_only = remote(
        &client,
        "http://127.0.0.1:9",
        secret,
        &["list", "invites"],
        "",
    );
    assert_eq!(local_only.code, 1);
    assert!(
        local_only.error()["reason"]
            .as_str()
            .is_some_and(|r| r.contains("`kith list invites` needs a local store")),
        "{local_only:?}"
    );
    let clear = remote(
        &client,
        "http://192.0.2.1:4434",
        secret,
        &["list", "identities"],
        "",
    );
    assert_eq!(clear.code, 1);
    assert!(clear.stderr.contains("--insecure-http"), "{clear:?}");
    let unreachable = remote(
        &client,
        "http://127.0.0.1:9",
        secret,
        &["list", "identities"],
        "",
    );
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    let not_a_ca = client.file("ca.pem", "not a certificate");
    let no_ca = remote(
        &client,
        "https://127.0.0.1:9",
        secret,
        &["--root-ca", &not_a_ca, "list", "identities"],
        "",
    );
    assert_eq!(no_ca.code, 1, "{no_ca:?}");
    assert!(
        no_ca.stderr.contains("holds no PEM certificate"),
        "{no_ca:?}"
    );
    for run in [&local_only, &clear, &unreachable, &no_ca] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret));
    }
    assert!(!client.db.exists());
    Ok(())
}

/// The OpenAPI document of Kratos, read from the shared reference folder.
/// The lines of an import report (JSON lines).
fn report_lines(path: &std::path::Path) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

fn kratos_spec() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/kratos-openapi.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("Kratos' spec at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the spec is JSON")
}

/// What is wrong with `request` by `spec`: its path and method, its query parameters, and
/// its body against the operation's requestBody schema (`$ref`s resolved in the spec).
fn spec_problems(spec: &Value, request: &Recorded) -> Vec<String> {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    let segments: Vec<&str> = path.split('/').collect();
    let Some((template, item)) =
        spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .find(|(template, _)| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(part, segment)| {
                        part == segment || (part.starts_with('{') && !segment.is_empty())
                    })
            })
    else {
        return vec![format!("{} {}: no such path", request.method, path)];
    };
    let method = request.method.to_ascii_lowercase();
    let Some(operation) = item.get(&method) else {
        return vec![format!("{} {template}: no such method", request.method)];
    };
    let mut problems = Vec::new();
    let known: Vec<&str> = operation["parameters"]
        .as_array()
        .into_iter()
        .chain(item["parameters"].as_array())
        .flatten()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for (name, _) in form_urlencoded_pairs(query) {
        if !known.contains(&name.as_str()) {
            problems.push(format!(
                "{method} {template}: unknown query parameter {name}"
            ));
        }
    }
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    match (schema.is_null(), request.body.is_empty()) {
        (true, true) => {}
        (true, false) => problems.push(format!("{method} {template}: a body it does not take")),
        (false, true) if operation["requestBody"]["required"] == true => {
            problems.push(format!("{method} {template}: no body"))
        }
        (false, true) => {}
        (false, false) => {
            let instance: Value = match serde_json::from_slice(&request.body) {
                Ok(value) => value,
                Err(e) => return vec![format!("{method} {template}: body not JSON: {e}")],
            };
            // The whole spec as the root, so `#/components/...` resolves; in draft 4 a
            // root `$ref` stands for the root.
            let mut root = spec.clone();
            root["$ref"] = match schema.get("$ref") {
                Some(reference) => reference.clone(),
                None => {
                    root["x-request-body"] = schema.clone();
                    json!("#/x-request-body")
                }
            };
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .build(&root)
                .expect("the spec's schema compiles");
            for error in validator.iter_errors(&instance) {
                problems.push(format!(
                    "{method} {template}: body at {}: {error}",
                    error.instance_path()
                ));
            }
        }
    }
    problems
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn every_request_the_client_sends_is_one_kratos_spec_defines() -> TestResult {
    let setup = Setup::new(Faults::default());
    every_identity_command(&setup)?;
    let stdin = records("spec", 30)
        + &json!({"schema_id": "preset://email", "traits": {"email": "pw@example.org"},
        "credentials": {"password": {"config": {"password": "a long enough secret"}}}})
        .to_string();
    setup
        .run_with(&["import", "identities", "--on-conflict", "skip"], &stdin)
        .ok();
    setup
        .run(&["export", "identities", "--include-credentials"])
        .ok();
    setup
        .run_with(&["validate", "identity"], &records("fresh", 2))
        .ok();
    let spec = kratos_spec();
    let requests = setup.proxy.requests();
    assert!(requests.len() > 15, "{requests:?}");
    let problems: Vec<String> = requests
        .iter()
        .flat_map(|request| spec_problems(&spec, request))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
    // The check itself can fail: an unknown parameter and a body the spec refuses.
    let bad = Recorded {
        method: "PATCH".into(),
        target: "/admin/identities?dry_run=true".into(),
        body: br#"{"identities":[{"patch_id":"x","create":{"traits":1}}]}"#.to_vec(),
    };
    assert!(
        spec_problems(&spec, &bad).len() >= 2,
        "{:?}",
        spec_problems(&spec, &bad)
    );
    Ok(())
}
