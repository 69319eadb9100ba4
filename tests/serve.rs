//! `kith serve`: the real binary on loopback, driven over HTTP. Ory's SDK and the browser
//! tests live in tests/e2e (Node); `ory_sdk_and_browser_suite` runs them.

use crate::harness::{Env, TestResult};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `kith serve` on free loopback ports, stopped with SIGTERM on drop.
pub struct Server {
    child: Option<Child>,
    pub admin: String,
    pub public: String,
    pub token: String,
}

/// Spawns `kith serve` as `command` says (its arguments and streams set, stdout left to
/// this function) and reads the ready line it prints first: the child, and that line as JSON.
pub fn spawn_serve(mut command: Command) -> (Child, Value) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("kith serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the ready line");
    let ready = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("not a JSON ready line ({e}): {line:?}"));
    (child, ready)
}

/// `host:port` of the `admin` or `public` listener a ready line names.
pub fn listener(ready: &Value, key: &str) -> String {
    ready[key]
        .as_str()
        .expect("an address")
        .trim_start_matches("http://")
        .to_string()
}

/// `kith serve`'s arguments for free loopback ports, JSON output.
pub const SERVE_ON_LOOPBACK: [&str; 7] = [
    "--format",
    "json",
    "serve",
    "--admin",
    "127.0.0.1:0",
    "--public",
    "127.0.0.1:0",
];

impl Server {
    pub fn start(env: &Env) -> Self {
        let made = env.run(&["create", "token", "--name", "tests"]).ok().json();
        let mut command = env.std_cmd();
        command.args(SERVE_ON_LOOPBACK).stderr(Stdio::piped());
        let (child, ready) = spawn_serve(command);
        Self {
            admin: listener(&ready, "admin"),
            public: listener(&ready, "public"),
            token: made["token"].as_str().expect("a token").to_string(),
            child: Some(child),
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("still running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        child.wait().expect("kith serve exits")
    }

    /// `POST /admin/identities` with `body`, which must answer 201; the new identity's id.
    pub fn create_identity(&self, body: &Value) -> String {
        let created = self.admin("POST", "/admin/identities", Some(&body.to_string()));
        assert_eq!(created.status, 201, "{}", created.body);
        created.json()["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn admin(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        request(&self.admin, method, path, Some(&self.token), body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// One answer: status, headers (names lowercased) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection.
pub fn request(
    host: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let headers = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    exchange(
        host,
        method,
        path,
        &headers,
        "application/json",
        body.unwrap_or_default(),
    )
}

/// One HTTP/1.1 request on its own connection, with `headers` (each line ending in CRLF)
/// and a body of `content_type`; the answer, read to the connection's end.
pub fn exchange(
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    content_type: &str,
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    // A refused body may close the connection early; what counts is the answer.
    let _ = stream.write_all(body.as_bytes());
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

fn email_body(email: &str) -> String {
    json!({"schema_id": "preset://email", "traits": {"email": email}}).to_string()
}

#[test]
fn the_seed_request_answers_201_with_location_and_the_identity() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let created = server.admin(
        "POST",
        "/admin/identities",
        Some(r#"{"schema_id":"preset://email","traits":{"email":"docs@example.org"}}"#),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let identity = created.json();
    let id = identity["id"].as_str().unwrap_or_default();
    assert_eq!(
        created.header("location"),
        Some(format!("http://{}/identities/{id}", server.admin).as_str())
    );
    assert_eq!(identity["schema_id"], "preset://email");
    assert_eq!(
        identity["schema_url"],
        format!("http://{}/schemas/cHJlc2V0Oi8vZW1haWw", server.public)
    );
    assert_eq!(identity["state"], "active");
    assert_eq!(identity["traits"], json!({"email": "docs@example.org"}));
    assert_eq!(identity["metadata_public"], Value::Null);
    assert_eq!(identity["organization_id"], Value::Null);
    assert_eq!(
        identity["credentials"]["password"]["identifiers"],
        json!(["docs@example.org"])
    );
    assert!(identity["credentials"]["password"].get("config").is_none());
    assert_eq!(identity["verifiable_addresses"][0]["status"], "pending");

    // Without the /admin prefix, and with a trailing slash, the route is the same.
    let fetched = server.admin("GET", &format!("/identities/{id}/"), None);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json()["id"], id);
    assert_eq!(
        fetched.header("cache-control"),
        Some("private, no-cache, no-store, must-revalidate")
    );
    // The schema_url resolves on the public listener.
    let schema = request(
        &server.public,
        "GET",
        "/schemas/cHJlc2V0Oi8vZW1haWw",
        None,
        None,
    );
    assert_eq!(schema.status, 200);
    assert_eq!(
        schema.json()["properties"]["traits"]["required"],
        json!(["email"])
    );
    Ok(())
}

#[test]
fn admin_routes_need_a_live_token_and_credit_it_in_the_audit_trail() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let anonymous = request(&server.admin, "GET", "/admin/identities", None, None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(anonymous.json()["error"]["code"], 401);
    assert_eq!(
        anonymous.json()["error"]["message"],
        "The request could not be authorized"
    );
    let forged = request(
        &server.admin,
        "POST",
        "/admin/identities",
        Some("kith_pat_not-a-token"),
        Some(&email_body("x@example.org")),
    );
    assert_eq!(forged.status, 401);
    // Health, version and schemas need none, on both listeners.
    for host in [&server.admin, &server.public] {
        assert_eq!(
            request(host, "GET", "/health/alive", None, None).json(),
            json!({"status": "ok"})
        );
        assert_eq!(
            request(host, "GET", "/health/ready", None, None).json(),
            json!({"status": "ok"})
        );
        let version = request(host, "GET", "/version", None, None).json();
        assert_eq!(
            version["version"],
            format!("v{}", env!("CARGO_PKG_VERSION"))
        );
    }
    // Nothing was written by the refused requests.
    assert_eq!(env.run(&["list", "identities"]).ok().json(), json!([]));

    assert_eq!(
        server
            .admin(
                "POST",
                "/admin/identities",
                Some(&email_body("ada@example.org"))
            )
            .status,
        201
    );
    let events = env.run(&["list", "events"]).ok().json();
    let created = events
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "identity.created")
        .cloned()
        .unwrap_or_default();
    assert_eq!(created["actor"], "http:tests");

    env.run(&["revoke", "token", "tests"]).ok();
    let revoked = server.admin("GET", "/admin/identities", None);
    assert_eq!(revoked.status, 401, "a revoked token is refused at once");
    let listed = env.run(&["list", "tokens"]).ok().json();
    assert_eq!(listed, json!([]));
    Ok(())
}

#[test]
fn a_token_is_printed_once_and_only_its_hash_is_kept() -> TestResult {
    let env = Env::new();
    let made = env.run(&["create", "token", "--name", "ci"]).ok().json();
    let token = made["token"].as_str().unwrap_or_default().to_string();
    assert!(token.starts_with("kith_pat_") && token.len() > 40, "{made}");
    let listed = env.run(&["list", "tokens"]).ok();
    assert!(!listed.stdout.contains(&token));
    assert_eq!(listed.json()[0]["name"], "ci");
    assert_eq!(listed.json()[0]["created_by"], "cli:tester");
    let file = std::fs::read(&env.db)?;
    assert!(
        !file.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself is not in the store file"
    );
    let again = env.run(&["create", "token", "--name", "ci"]);
    assert_eq!(again.code, 1);
    assert_eq!(again.error()["code"], 409);
    let unknown = env.run(&["revoke", "token", "nobody"]);
    assert_eq!(unknown.error()["code"], 404);
    Ok(())
}

#[test]
fn serving_beyond_loopback_needs_a_token_first() -> TestResult {
    let env = Env::new();
    let refused = env.run(&["serve", "--admin", "0.0.0.0:0", "--public", "127.0.0.1:0"]);
    assert_eq!(refused.code, 1);
    let reason = refused.error()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("0.0.0.0:0") && reason.contains("kith create token"),
        "{reason}"
    );
    Ok(())
}

#[test]
fn bodies_over_5_mb_are_refused_in_the_envelope() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let padding = "x".repeat(5 * 1024 * 1024);
    let body = format!(
        r#"{{"schema_id":"preset://email","traits":{{"email":"big@example.org"}},"metadata_admin":"{padding}"}}"#
    );
    let refused = server.admin("POST", "/admin/identities", Some(&body));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], 400);
    assert_eq!(env.run(&["list", "identities"]).ok().json(), json!([]));
    // Just under the limit is fine.
    let fits = "x".repeat(4 * 1024 * 1024);
    let body = format!(
        r#"{{"schema_id":"preset://email","traits":{{"email":"big@example.org"}},"metadata_admin":"{fits}"}}"#
    );
    assert_eq!(
        server
            .admin("POST", "/admin/identities", Some(&body))
            .status,
        201
    );
    Ok(())
}

#[test]
fn kratos_errors_and_list_parameters() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let unknown_field = server.admin(
        "POST",
        "/admin/identities",
        Some(
            r#"{"schema_id":"preset://email","traits":{"email":"a@example.org"},"schema_url":"x"}"#,
        ),
    );
    assert_eq!(unknown_field.status, 400);
    assert_eq!(
        unknown_field.json()["error"]["message"],
        "json: unknown field \"schema_url\""
    );
    let invalid = server.admin(
        "POST",
        "/admin/identities",
        Some(r#"{"schema_id":"preset://email","traits":{"email":42}}"#),
    );
    assert_eq!(invalid.status, 400);
    assert!(
        invalid.json()["error"]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("I[#/traits/email] S[#/properties/traits/properties/email/type]"),
        "{}",
        invalid.body
    );
    let bad_token = server.admin("GET", "/admin/identities?page_token=nope", None);
    assert_eq!(
        bad_token.json()["error"]["reason"],
        "The page token is invalid, do not craft your own page tokens"
    );
    let both = server.admin(
        "GET",
        "/admin/identities?ids=01a22c66-5308-74ff-894e-67f088e1dbfd&credentials_identifier=a",
        None,
    );
    assert_eq!(
        both.json()["error"]["reason"],
        "You cannot combine multiple filters in this API"
    );
    let bad_id = server.admin("GET", "/admin/identities?ids=zzz", None);
    assert_eq!(
        bad_id.json()["error"]["reason"],
        "Invalid UUID value `zzz` for parameter `ids`."
    );
    let bad_type = server.admin("GET", "/admin/identities?include_credential=magic", None);
    assert_eq!(
        bad_type.json()["error"]["reason"],
        "Invalid value `magic` for parameter `include_credential`."
    );
    let not_uuid = server.admin("GET", "/admin/identities/not-a-uuid", None);
    assert_eq!(not_uuid.status, 404);
    let patch_denied = server.admin(
        "PATCH",
        "/admin/identities/01a22c66-5308-74ff-894e-67f088e1dbfd",
        Some(r#"[{"op":"replace","path":"/id","value":"x"}]"#),
    );
    assert_eq!(
        patch_denied.json()["error"]["message"],
        "patch includes denied path: /id"
    );

    // ids: exactly those, unknown ones ignored, paginated as any list (Kratos too).
    let a = server
        .admin(
            "POST",
            "/admin/identities",
            Some(&email_body("a@example.org")),
        )
        .json();
    let b = server
        .admin(
            "POST",
            "/admin/identities",
            Some(&email_body("b@example.org")),
        )
        .json();
    let a_id = a["id"].as_str().unwrap_or_default();
    let b_id = b["id"].as_str().unwrap_or_default();
    let picked = server.admin(
        "GET",
        &format!(
            "/admin/identities?ids={b_id}&ids={a_id}&ids=00000000-0000-0000-0000-000000000001"
        ),
        None,
    );
    let ids: Vec<Value> = picked
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(a_id), json!(b_id)]);
    assert!(
        picked
            .header("link")
            .is_some_and(|link| link.contains("rel=\"first\"") && !link.contains("rel=\"next\"")),
        "{:?}",
        picked.header("link")
    );
    Ok(())
}

#[test]
fn credentials_can_be_removed_but_not_the_last_first_factor() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let body = json!({
        "schema_id": "preset://email",
        "traits": {"email": "two@example.org"},
        "credentials": {
            "password": {"config": {"hashed_password": "$2a$12$O8OeSbvHoJ/jSMyCJAEl0uFL38J8tu6JF3UtrGl09g8fXEDKPZSUW"}},
            "oidc": {"config": {"providers": [{"provider": "github", "subject": "42"}]}}
        }
    });
    let id = server.create_identity(&body);
    let path = |kind: &str| format!("/admin/identities/{id}/credentials/{kind}");

    let unknown_link = server.admin("DELETE", &(path("oidc") + "?identifier=github:7"), None);
    assert_eq!(unknown_link.status, 404);
    assert_eq!(
        unknown_link.json()["error"]["reason"],
        "The identifier `github:7` was not found among OIDC credentials."
    );
    // Kratos looks for the credential before it asks whether its type can be deleted.
    let absent = server.admin("DELETE", &path("code"), None);
    assert_eq!(absent.status, 404);
    assert_eq!(
        absent.json()["error"]["reason"],
        "You tried to remove a code but this user have no code set up."
    );
    let missing = server.admin("DELETE", &path("totp"), None);
    assert_eq!(missing.status, 404);

    let removed = server.admin("DELETE", &(path("oidc") + "?identifier=github:42"), None);
    assert_eq!(removed.status, 204, "{}", removed.body);
    let after = server
        .admin("GET", &format!("/admin/identities/{id}"), None)
        .json();
    assert!(after["credentials"].get("oidc").is_none(), "{after}");
    let last = server.admin("DELETE", &path("password"), None);
    assert_eq!(last.status, 400);
    assert_eq!(
        last.json()["error"]["reason"],
        "You cannot remove the last first factor credential."
    );
    Ok(())
}

/// Kratos' rules for the kinds beyond password and social links: totp and lookup secrets go
/// whole, webauthn keeps its passwordless authenticators, a passkey is a first factor that
/// cannot be deleted, deviceauthn wants an identifier, and a type the identity lacks (or no
/// one has) is a 404 in Kratos' words.
#[test]
fn credential_deletes_follow_kratos_for_every_kind() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let key = |id: &str, passwordless: bool| {
        json!({"id": id, "public_key": "AQID", "attestation_type": "none", "display_name": "",
               "added_at": "2025-03-04T05:06:07Z", "is_passwordless": passwordless})
    };
    let body = json!({
        "schema_id": "preset://email",
        "traits": {"email": "kinds@example.org"},
        "credentials": {
            "password": {"config": {"password": "correct horse battery staple"}},
            "totp": {"config": {"totp_url": "otpauth://totp/kith:kinds?secret=JBSWY3DPEHPK3PXP"}},
            "lookup_secret": {"config": {"codes": [{"code": "a1b2c3d4"}]}},
            "webauthn": {"config": {"credentials": [key("AQ==", false), key("Ag==", true)]}},
            "passkey": {"config": {"credentials": [key("Aw==", true)], "user_handle": "aGFuZGxl"}}
        }
    });
    let created = server.admin("POST", "/admin/identities", Some(&body.to_string()));
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = |kind: &str| format!("/admin/identities/{id}/credentials/{kind}");
    let reason = |reply: &Reply| reply.json()["error"]["reason"].clone();

    for kind in ["totp", "lookup_secret", "webauthn"] {
        let removed = server.admin("DELETE", &path(kind), None);
        assert_eq!(removed.status, 204, "{kind}: {}", removed.body);
    }
    let shown = server
        .admin(
            "GET",
            &format!("/admin/identities/{id}?include_credential=webauthn"),
            None,
        )
        .json();
    assert!(shown["credentials"].get("totp").is_none(), "{shown}");
    assert!(
        shown["credentials"].get("lookup_secret").is_none(),
        "{shown}"
    );
    let kept = &shown["credentials"]["webauthn"]["config"]["credentials"];
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{shown}");
    assert_eq!(kept[0]["id"], "Ag==");

    for (kind, status, expected) in [
        (
            "totp",
            404,
            "You tried to remove a totp but this user have no totp set up.",
        ),
        (
            "passkey",
            400,
            "Credentials type passkey cannot be deleted.",
        ),
        (
            "carrier-pigeon",
            404,
            "You tried to remove a carrier-pigeon but this user have no carrier-pigeon set up.",
        ),
        (
            "deviceauthn",
            400,
            "You must provide an identifier to delete this credential.",
        ),
    ] {
        let refused = server.admin("DELETE", &path(kind), None);
        assert_eq!(refused.status, status, "{kind}: {}", refused.body);
        assert_eq!(reason(&refused), expected, "{kind}");
    }
    let device_key = server.admin("DELETE", &(path("deviceauthn") + "?identifier=k1"), None);
    assert_eq!(device_key.status, 404);

    // The passkey counts as a first factor, so the password can go.
    let password = server.admin("DELETE", &path("password"), None);
    assert_eq!(password.status, 204, "{}", password.body);
    Ok(())
}

/// A schema added by another process while the server runs is in force for the server's
/// next call: each call takes its snapshot of the schemas when it starts.
#[test]
fn a_schema_added_beside_a_running_server_is_used_by_its_next_create() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "login": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
        }, "required": ["login"]}}
    });
    let body = json!({"schema_id": "staff", "traits": {"login": "ada"}}).to_string();
    let before = server.admin("POST", "/admin/identities", Some(&body));
    assert_eq!(before.status, 400, "{}", before.body);
    let path = env.file("staff.schema.json", &schema.to_string());
    env.run(&["add", "schema", "staff", &path]).ok();
    let after = server.admin("POST", "/admin/identities", Some(&body));
    assert_eq!(after.status, 201, "{}", after.body);
    let missing = json!({"schema_id": "staff", "traits": {}}).to_string();
    let refused = server.admin("POST", "/admin/identities", Some(&missing));
    assert_eq!(refused.status, 400, "{}", refused.body);
    Ok(())
}

#[test]
fn concurrent_creates_get_201_or_409_never_a_5xx() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    // Eight clients, each creating 40 identities, half of the addresses shared between
    // pairs of clients: every request is a create or a conflict, never an error.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let server = &server;
                scope.spawn(move || {
                    (0..40)
                        .map(|i| {
                            let email = if i % 2 == 0 {
                                format!("shared-{}-{i}@example.org", worker / 2)
                            } else {
                                format!("own-{worker}-{i}@example.org")
                            };
                            server
                                .admin("POST", "/admin/identities", Some(&email_body(&email)))
                                .status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a client"))
            .collect()
    });
    let created = statuses.iter().filter(|s| **s == 201).count();
    let conflicts = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(created + conflicts, statuses.len(), "{statuses:?}");
    assert_eq!(
        created,
        8 * 20 + 4 * 20,
        "own addresses, plus each shared one once"
    );
    let listed = env
        .run(&["list", "identities", "--page-size", "500"])
        .ok()
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(created));
    Ok(())
}

#[test]
fn a_cli_import_beside_the_server_slows_it_but_never_fails_it() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let records: String = (0..20_000)
        .map(|i| format!("{}\n", email_body(&format!("side-{i}@example.org"))))
        .collect();
    let file = env.dir.path().join("side.ndjson");
    std::fs::write(&file, records)?;
    let statuses = std::thread::scope(|scope| {
        let import = scope.spawn(|| env.run(&["import", "identities", &file.to_string_lossy()]));
        let mut statuses = Vec::new();
        while !import.is_finished() || statuses.len() < 20 {
            let email = format!("http-{}@example.org", statuses.len());
            statuses.push(
                server
                    .admin("POST", "/admin/identities", Some(&email_body(&email)))
                    .status,
            );
        }
        assert_eq!(import.join().expect("the import").code, 0);
        statuses
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    Ok(())
}

#[test]
fn sigterm_lets_a_running_request_finish_then_exits_0() -> TestResult {
    let env = Env::new();
    let mut server = Server::start(&env);
    // A batch of 150 cleartext passwords takes a while to hash.
    let batch = json!({"identities": (0..150).map(|i| json!({
        "create": {
            "schema_id": "preset://email",
            "traits": {"email": format!("slow-{i}@example.org")},
            "credentials": {"password": {"config": {"password": "correct horse battery"}}}
        }
    })).collect::<Vec<_>>()});
    let (host, token, body) = (
        server.admin.clone(),
        server.token.clone(),
        batch.to_string(),
    );
    let running = std::thread::spawn(move || {
        request(
            &host,
            "PATCH",
            "/admin/identities",
            Some(&token),
            Some(&body),
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !running.is_finished(),
        "the request is still running when SIGTERM comes"
    );
    let status = server.stop();
    let reply = running.join().expect("the request");

    assert!(status.success(), "kith serve exited with {status}");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let outcomes = reply.json()["identities"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(outcomes.len(), 150);
    assert!(outcomes.iter().all(|o| o["action"] == "create"));
    assert_eq!(
        env.run(&["list", "identities"])
            .ok()
            .json()
            .as_array()
            .map(Vec::len),
        Some(150)
    );
    Ok(())
}

#[test]
fn batch_dry_run_checks_everything_and_writes_nothing() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let batch = json!({"identities": [
        {"patch_id": "00000000-0000-0000-0000-00000000000a", "create": {"schema_id": "preset://email", "traits": {"email": "x@example.org"}}},
        {"patch_id": "00000000-0000-0000-0000-00000000000b", "create": {"schema_id": "preset://email", "traits": {"email": "x@example.org"}}},
        {"create": {"schema_id": "preset://email", "traits": {"email": 7}}},
        {"create": null}
    ]});
    let reply = server.admin(
        "PATCH",
        "/admin/identities?dry_run=true",
        Some(&batch.to_string()),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let outcomes = reply.json()["identities"].clone();
    assert_eq!(outcomes[0]["action"], "create");
    assert_eq!(
        outcomes[0]["patch_id"],
        "00000000-0000-0000-0000-00000000000a"
    );
    assert_eq!(outcomes[1]["action"], "error");
    assert_eq!(outcomes[1]["error"]["code"], 409);
    assert_eq!(
        outcomes[1]["error"]["message"],
        "Unable to insert or update resource because a resource with that value exists already"
    );
    assert_eq!(outcomes[2]["error"]["code"], 400);
    assert_eq!(outcomes[3], Value::Null);
    assert_eq!(env.run(&["list", "identities"]).ok().json(), json!([]));

    let too_many = json!({"identities": vec![json!({"create": null}); 1001]});
    let refused = server.admin("PATCH", "/admin/identities", Some(&too_many.to_string()));
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.json()["error"]["reason"],
        "The maximum number of identities per request that can be created or deleted at once is 1000."
    );
    Ok(())
}

/// Ory's JS SDK against the admin API and headless Chromium against the redemption page
/// (tests/e2e). `scripts/test` installs Node's packages and Debian's chromium.
#[test]
fn ory_sdk_and_browser_suite() -> TestResult {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("tests/e2e");
    assert!(
        e2e.join("node_modules/@ory/kratos-client").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the end-to-end suite needs its npm packages and Debian's chromium: run scripts/test (it installs both)"
    );
    let output = Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .arg(e2e.join("sdk.test.mjs"))
        .arg(e2e.join("redeem.test.mjs"))
        .env("KITH_BIN", env!("CARGO_BIN_EXE_kith"))
        .current_dir(root)
        .output()
        .expect("node runs (Node.js 20+ on PATH)");
    assert!(
        output.status.success(),
        "the e2e suite failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[test]
fn a_validator_plugin_checks_http_creates_from_the_instance_pool() -> TestResult {
    let env = Env::new();
    env.run(&[
        "install",
        "plugin",
        &crate::plugins::plugin_dir("email-domain-policy"),
    ])
    .ok();
    let server = Server::start(&env);
    for i in 0..20 {
        let good = server.admin(
            "POST",
            "/admin/identities",
            Some(&email_body(&format!("ok-{i}@example.org"))),
        );
        assert_eq!(good.status, 201, "{}", good.body);
    }
    let refused = server.admin(
        "POST",
        "/admin/identities",
        Some(&email_body("throwaway@mailinator.com")),
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error = refused.json()["error"].clone();
    assert_eq!(error["details"]["plugin"], "email-domain-policy");
    assert!(
        error["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("mailinator.com"),
        "{error}"
    );
    Ok(())
}

/// A listener that cannot bind is not "400 Bad Request": the message names the address,
/// why, and the flag that picks another.
#[test]
fn a_bind_failure_names_the_flag_to_change() -> TestResult {
    let env = Env::new();
    env.create_email("someone@example.org");
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = taken.local_addr()?.to_string();
    let table = env.run(&[
        "--format",
        "table",
        "serve",
        "--admin",
        &address,
        "--public",
        "127.0.0.1:0",
    ]);
    assert_eq!(table.code, 1, "{table:?}");
    assert!(
        table
            .stderr
            .contains(&format!("cannot listen on {address} for the admin API")),
        "{}",
        table.stderr
    );
    assert!(
        table
            .stderr
            .contains("pick another address with --admin HOST:PORT"),
        "{}",
        table.stderr
    );
    let json = env.run(&["serve", "--admin", "127.0.0.1:0", "--public", &address]);
    assert_eq!(json.code, 1);
    assert_eq!(json.error()["code"], 503, "{}", json.stderr);
    assert!(
        json.error()["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("--public")
    );
    drop(taken);
    Ok(())
}

/// `kith serve` logs one line per request on stderr: method, path (never its query, where an
/// invite link carries its token), status, duration and the token's name as actor; as text
/// or JSON, and none with `--quiet`.
#[test]
fn serve_logs_one_line_per_request_without_secrets() -> TestResult {
    let env = Env::new();
    let made = env.run(&["create", "token", "--name", "ops"]).ok().json();
    let token = made["token"].as_str().expect("a token").to_string();
    // (global flags, `serve` flags, what the log should be)
    for (global, serve, format) in [
        (&[][..], &[][..], "text"),
        (&["--quiet"][..], &[][..], "quiet"),
        (&[][..], &["--log-format", "json"][..], "json"),
    ] {
        let log = env.dir.path().join(format!("{format}.log"));
        let mut command = env.std_cmd();
        command
            .args(global)
            .args(SERVE_ON_LOOPBACK)
            .args(serve)
            .stderr(std::fs::File::create(&log)?);
        let (mut child, ready) = spawn_serve(command);
        let admin = listener(&ready, "admin");
        let public = listener(&ready, "public");
        let created = request(
            &admin,
            "POST",
            "/admin/identities",
            Some(&token),
            Some(&email_body(&format!("log-{format}@example.org"))),
        );
        assert_eq!(created.status, 201, "{}", created.body);
        let refused = request(&admin, "GET", "/admin/identities", None, None);
        assert_eq!(refused.status, 401);
        request(
            &public,
            "GET",
            "/self-service/recovery?flow=00000000-0000-0000-0000-000000000000&token=SECRETTOKEN",
            None,
            None,
        );
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        child.wait()?;
        let written = std::fs::read_to_string(&log)?;
        assert!(!written.contains("SECRETTOKEN"), "{written}");
        assert!(!written.contains(&token), "{written}");
        match format {
            "quiet" => assert!(!written.contains("/admin/identities"), "{written}"),
            "text" => {
                assert!(
                    written
                        .lines()
                        .any(|l| l.contains(" admin POST /admin/identities 201 ")
                            && l.ends_with(" http:ops")),
                    "{written}"
                );
                assert!(
                    written
                        .lines()
                        .any(|l| l.contains(" admin GET /admin/identities 401 ")),
                    "{written}"
                );
                assert!(
                    written
                        .lines()
                        .any(|l| l.contains(" public GET /self-service/recovery ")),
                    "{written}"
                );
            }
            _ => {
                let lines: Vec<Value> = written
                    .lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect();
                let create = lines
                    .iter()
                    .find(|l| l["method"] == "POST")
                    .unwrap_or_else(|| panic!("{written}"));
                assert_eq!(create["path"], "/admin/identities");
                assert_eq!(create["status"], 201);
                assert_eq!(create["actor"], "http:ops");
                assert_eq!(create["listener"], "admin");
                assert!(create["duration_ms"].is_number(), "{create}");
            }
        }
    }
    Ok(())
}
