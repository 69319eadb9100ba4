//! Kratos clients against `kith serve`: the routes, filters, pagination, bodies and habits a
//! Kratos SDK, admin UI or script sends, answered as Kratos answers them.

use crate::harness::{Env, TestResult};
use crate::serve::{SERVE_ON_LOOPBACK, Server, listener, request, spawn_serve};
use serde_json::{Value, json};
use std::process::Stdio;

fn create(server: &Server, body: &Value) -> Value {
    let reply = server.admin("POST", "/admin/identities", Some(&body.to_string()));
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.json()
}

fn email(address: &str) -> Value {
    json!({"schema_id": "preset://email", "traits": {"email": address}})
}

fn ids_of(reply: &Value) -> Vec<String> {
    reply
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn an_identity_is_found_by_its_external_id() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let mut body = email("ext@example.org");
    body["external_id"] = json!("crm/4711");
    let made = create(&server, &body);
    let found = server.admin(
        "GET",
        "/admin/identities/by/external/crm%2F4711?include_credential=password",
        None,
    );
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(found.json()["id"], made["id"]);
    // Exact and case-sensitive, and a miss is Kratos' bare 404.
    let missing = server.admin("GET", "/identities/by/external/CRM%2F4711", None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"error": {"code": 404, "status": "Not Found", "message": "Unable to locate the resource"}})
    );
    // include_credential is checked after the lookup, as Kratos checks it.
    let bad = server.admin(
        "GET",
        "/admin/identities/by/external/crm%2F4711?include_credential=magic",
        None,
    );
    assert_eq!(bad.status, 400);
    Ok(())
}

#[test]
fn list_filters_by_identifier_prefix_and_organization() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let org = "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
    let mut alice = email("alice@example.org");
    alice["organization_id"] = json!(org);
    let alice = create(&server, &alice);
    let alfred = create(&server, &email("alfred@example.org"));
    create(&server, &email("bob@example.org"));
    create(&server, &email("a_b@example.org"));

    let similar = server.admin(
        "GET",
        "/admin/identities?preview_credentials_identifier_similar=AL",
        None,
    );
    assert_eq!(similar.status, 200, "{}", similar.body);
    let mut expected = vec![
        alice["id"].as_str().unwrap_or_default().to_string(),
        alfred["id"].as_str().unwrap_or_default().to_string(),
    ];
    expected.sort();
    assert_eq!(ids_of(&similar.json()), expected);
    // `_` is a character to match, not a wildcard.
    let underscore = server.admin(
        "GET",
        "/admin/identities?preview_credentials_identifier_similar=a_",
        None,
    );
    assert_eq!(underscore.json().as_array().map(Vec::len), Some(1));

    let members = server.admin(
        "GET",
        &format!("/admin/identities?organization_id={org}"),
        None,
    );
    assert_eq!(
        ids_of(&members.json()),
        vec![alice["id"].as_str().unwrap_or_default()]
    );
    let bad_org = server.admin("GET", "/admin/identities?organization_id=nope", None);
    assert_eq!(
        bad_org.json()["error"]["reason"],
        "Invalid UUID value `nope` for parameter `organization_id`."
    );
    let two = server.admin(
        "GET",
        &format!(
            "/admin/identities?organization_id={org}&preview_credentials_identifier_similar=a"
        ),
        None,
    );
    assert_eq!(
        two.json()["error"]["reason"],
        "You cannot combine multiple filters in this API"
    );
    Ok(())
}

#[test]
fn legacy_page_and_per_page_pagination_sends_kratos_headers() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let mut made: Vec<String> = (0..5)
        .map(|n| {
            create(&server, &email(&format!("p{n}@example.org")))["id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    made.sort();

    let first = server.admin("GET", "/admin/identities?page=0&per_page=2", None);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(ids_of(&first.json()), made[..2].to_vec());
    assert_eq!(first.header("x-total-count"), Some("5"));
    let link = first.header("link").unwrap_or_default();
    assert!(
        link.ends_with(
            "/admin/identities?page=1&per_page=2>; rel=\"next\",<http://LISTENER/admin/identities?page=2&per_page=2>; rel=\"last\""
                .replace("http://LISTENER", &format!("http://{}", server.admin))
                .as_str()
        ),
        "{link}"
    );
    let last = server.admin("GET", "/admin/identities?page=2&per_page=2", None);
    assert_eq!(ids_of(&last.json()), made[4..].to_vec());
    assert!(
        last.header("link")
            .unwrap_or_default()
            .contains("page=1&per_page=2>; rel=\"prev\""),
        "{:?}",
        last.header("link")
    );
    // A lone per_page is a page size; page numbers end at the 1000th identity.
    let keyset = server.admin("GET", "/admin/identities?per_page=3", None);
    assert_eq!(keyset.json().as_array().map(Vec::len), Some(3));
    assert!(keyset.header("x-total-count").is_none());
    let too_far = server.admin("GET", "/admin/identities?page=5&per_page=250", None);
    assert_eq!(too_far.status, 400);
    assert_eq!(
        too_far.json()["error"]["reason"],
        "Legacy pagination is not supported for enumerating over 1000 items. Please switch to using page_token and page_size."
    );
    let not_a_number = server.admin("GET", "/admin/identities?page_size=abc", None);
    assert_eq!(
        not_a_number.json()["error"]["reason"],
        "strconv.Atoi: parsing \"abc\": invalid syntax"
    );
    // A lone per_page is parsed as the page size it stands for; beside `page`, one that
    // does not parse is taken as absent (tests/conformance.rs leaves both to this test).
    let lone = server.admin("GET", "/admin/identities?per_page=abc", None);
    assert_eq!(lone.status, 400);
    let beside_page = server.admin("GET", "/admin/identities?page=0&per_page=abc", None);
    assert_eq!(beside_page.status, 200);
    Ok(())
}

#[test]
fn session_routes_answer_as_a_kratos_with_no_sessions() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let id = create(&server, &email("s@example.org"))["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let listed = server.admin("GET", &format!("/admin/identities/{id}/sessions"), None);
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json(), json!([]));
    assert_eq!(listed.header("x-total-count"), Some("0"));
    let bad = server.admin("GET", "/admin/identities/BADUUID/sessions", None);
    assert_eq!(
        bad.json(),
        json!({"error": {"code": 400, "status": "Bad Request", "message": "uuid: incorrect UUID length 7 in string \"BADUUID\""}})
    );
    let none = server.admin("DELETE", &format!("/admin/identities/{id}/sessions"), None);
    assert_eq!(none.status, 404);
    let all = server.admin("GET", "/admin/sessions?active=true", None);
    assert_eq!(all.status, 200);
    assert_eq!(all.json(), json!([]));
    assert!(
        all.header("link")
            .unwrap_or_default()
            .contains("rel=\"first\"")
    );
    let bad_active = server.admin("GET", "/admin/sessions?active=maybe", None);
    assert_eq!(
        bad_active.json()["error"]["message"],
        "could not parse parameter active"
    );
    let unknown = "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
    for (method, path) in [
        ("GET", format!("/admin/sessions/{unknown}")),
        ("DELETE", format!("/admin/sessions/{unknown}")),
        ("PATCH", format!("/admin/sessions/{unknown}/extend")),
    ] {
        let reply = server.admin(method, &path, None);
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
    }
    let managed = server.admin(
        "POST",
        "/admin/sessions",
        Some(r#"{"action":"delete","identities":["*"]}"#),
    );
    assert_eq!(managed.status, 200, "{}", managed.body);
    assert_eq!(managed.json(), json!({"processed": 0, "more": false}));
    let both = server.admin(
        "POST",
        "/admin/sessions",
        Some(r#"{"action":"disable","identities":["*"],"sessions":["x"]}"#),
    );
    assert_eq!(
        both.json()["error"]["reason"],
        "Exactly one of 'identities' or 'sessions' must be a non-empty array."
    );
    let bad_action = server.admin("POST", "/admin/sessions", Some(r#"{"action":"nuke"}"#));
    assert_eq!(
        bad_action.json()["error"]["reason"],
        "The 'action' field must be one of 'disable' or 'delete'."
    );
    let bad_id = server.admin(
        "POST",
        "/admin/sessions",
        Some(r#"{"action":"delete","sessions":["*"]}"#),
    );
    assert_eq!(
        bad_id.json()["error"]["reason"],
        "Could not parse 'sessions' field: the wildcard '*' is not accepted here"
    );
    let bad_expand = server.admin(
        "GET",
        &format!("/admin/sessions/{unknown}?expand=everything"),
        None,
    );
    assert_eq!(
        bad_expand.json()["error"]["reason"],
        "Could not parse expand option: everything"
    );
    // Without a token, nothing: not even that there are no sessions.
    let anonymous = request(&server.admin, "GET", "/admin/sessions", None, None);
    assert_eq!(anonymous.status, 401);
    Ok(())
}

#[test]
fn admin_paths_on_the_public_listener_redirect_307_to_the_admin_listener() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    for (method, path, admin_path) in [
        (
            "GET",
            "/admin/identities?page_size=2",
            "/admin/identities?page_size=2",
        ),
        (
            "GET",
            "/identities/by/external/x",
            "/admin/identities/by/external/x",
        ),
        ("POST", "/admin/identities", "/admin/identities"),
        (
            "DELETE",
            "/identities/0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
            "/admin/identities/0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        ),
        ("POST", "/recovery/link", "/admin/recovery/link"),
    ] {
        let reply = request(&server.public, method, path, None, Some("{}"));
        assert_eq!(reply.status, 307, "{method} {path}: {}", reply.body);
        assert_eq!(
            reply.header("location"),
            Some(format!("http://{}{admin_path}", server.admin).as_str()),
            "{method} {path}"
        );
    }
    Ok(())
}

#[test]
fn a_body_over_5_mb_gets_kratos_400_request_body_too_large() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let padding = "x".repeat(5 * 1024 * 1024);
    let body = json!({"schema_id": "preset://email", "traits": {"email": "big@example.org"}, "metadata_admin": padding}).to_string();
    let refused = server.admin("POST", "/admin/identities", Some(&body));
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        refused.json(),
        json!({"error": {"code": 400, "status": "Bad Request", "message": "http: request body too large"}})
    );
    // PUT goes through Kratos' form decoder, which words it as a reason.
    let put = server.admin(
        "PUT",
        "/admin/identities/0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        Some(&body),
    );
    assert_eq!(put.status, 400, "{}", put.body);
    assert_eq!(
        put.json()["error"]["reason"],
        "Unable to read HTTP POST body: http: request body too large"
    );
    Ok(())
}

#[test]
fn location_on_201_is_the_admin_url_and_the_identity_without_the_admin_prefix() -> TestResult {
    let env = Env::new();
    env.run(&["set", "config", "admin_url", "https://kith.internal:4434/"])
        .ok();
    let server = Server::start(&env);
    let reply = server.admin(
        "POST",
        "/admin/identities",
        Some(&email("loc@example.org").to_string()),
    );
    let id = reply.json()["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        reply.header("location"),
        Some(format!("https://kith.internal:4434/identities/{id}").as_str())
    );
    Ok(())
}

#[test]
fn bodies_kratos_accepts_are_accepted() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    // Addresses as Kratos' own responses carry them, a region, and no schema_id at all.
    let body = json!({
        "traits": {"email": "Fields@Example.org"},
        "region": "eu-central",
        "verifiable_addresses": [{
            "id": "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e01",
            "value": "fields@example.org",
            "verified": true,
            "via": "email",
            "status": "completed",
            "verified_at": "2024-01-02T03:04:05Z",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-02T03:04:05Z"
        }],
        "recovery_addresses": [{
            "id": "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e02",
            "value": "fields@example.org",
            "via": "email",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z"
        }]
    });
    let made = create(&server, &body);
    assert_eq!(made["schema_id"], "preset://email");
    let address = &made["verifiable_addresses"][0];
    assert_eq!(address["id"], "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e01");
    assert_eq!(address["verified_at"], "2024-01-02T03:04:05Z");
    assert_eq!(address["created_at"], "2024-01-01T00:00:00Z");
    assert_ne!(address["updated_at"], "2024-01-02T03:04:05Z");
    assert_eq!(
        made["recovery_addresses"][0]["id"],
        "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e02"
    );

    let bad_region = server.admin(
        "POST",
        "/admin/identities",
        Some(&json!({"traits": {"email": "r@example.org"}, "region": "mars"}).to_string()),
    );
    assert_eq!(bad_region.status, 400);
    assert_eq!(
        bad_region.json()["error"]["reason"],
        "the provided region is not a valid Ory region"
    );

    // The default schema is a setting, read by the running server's next call.
    env.run(&["set", "config", "default_schema_id", "preset://username"])
        .ok();
    let by_name = create(&server, &json!({"traits": {"username": "neo"}}));
    assert_eq!(by_name["schema_id"], "preset://username");
    Ok(())
}

#[test]
fn a_batch_item_that_is_not_an_object_fails_the_whole_batch() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    for item in [json!("x"), json!(7), json!(true), json!([]), Value::Null] {
        let body = json!({"identities": [
            {"create": email("fine@example.org")},
            item
        ]});
        let reply = server.admin("PATCH", "/admin/identities", Some(&body.to_string()));
        assert_eq!(reply.status, 400, "{item}: {}", reply.body);
    }
    assert_eq!(env.run(&["list", "identities"]).ok().json(), json!([]));
    Ok(())
}

#[test]
fn no_auth_serves_the_admin_api_without_tokens_on_loopback_only() -> TestResult {
    let env = Env::new();
    let mut command = env.std_cmd();
    command
        .args(SERVE_ON_LOOPBACK)
        .arg("--no-auth")
        .stderr(Stdio::piped());
    let (mut child, ready) = spawn_serve(command);
    let admin = listener(&ready, "admin");
    assert_eq!(ready["no_auth"], true);
    let made = request(
        &admin,
        "POST",
        "/admin/identities",
        None,
        Some(&email("open@example.org").to_string()),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let events = env.run(&["list", "events"]).ok().json();
    assert!(
        events
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["actor"] == "http:no-auth"),
        "{events}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr)?;
    }
    child.wait()?;
    assert!(stderr.contains("warning: --no-auth"), "{stderr}");

    let refused = env.run(&[
        "serve",
        "--admin",
        "0.0.0.0:0",
        "--public",
        "127.0.0.1:0",
        "--no-auth",
    ]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("refusing --no-auth"),
        "{}",
        refused.stderr
    );
    Ok(())
}

#[test]
fn a_validator_installed_or_disabled_beside_a_running_server_applies_without_a_restart()
-> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let counter = std::cell::Cell::new(0);
    // The status of creating a throwaway address, once the server has had its second
    // (a change elsewhere is in force within half a second; polled, bounded).
    let settles_at = |expected: u16| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            counter.set(counter.get() + 1);
            let body = email(&format!("throwaway-{}@mailinator.com", counter.get()));
            let reply = server.admin("POST", "/admin/identities", Some(&body.to_string()));
            if reply.status == expected {
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still {} after 5 s: {}",
                reply.status,
                reply.body
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    settles_at(201);
    env.run(&[
        "install",
        "plugin",
        &crate::plugins::plugin_dir("email-domain-policy"),
    ])
    .ok();
    let refused = settles_at(400);
    assert_eq!(
        refused.json()["error"]["details"]["plugin"],
        "email-domain-policy"
    );
    env.run(&["disable", "plugin", "email-domain-policy"]).ok();
    settles_at(201);
    env.run(&["enable", "plugin", "email-domain-policy"]).ok();
    settles_at(400);
    Ok(())
}

#[test]
fn kith_get_identity_prints_the_found_reports_the_missing_and_takes_an_external_id() -> TestResult {
    let env = Env::new();
    let mut body = email("cli@example.org");
    body["external_id"] = json!("crm-9");
    let made = env.create(&body);
    let id = made["id"].as_str().unwrap_or_default();
    let missing = "0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f";
    let both = env.run(&["get", "identity", id, missing]);
    assert_eq!(both.code, 1, "{}", both.stderr);
    assert_eq!(both.json()["id"], made["id"]);
    assert!(both.stderr.contains(missing), "{}", both.stderr);
    let by_external = env
        .run(&["get", "identity", "--external-id", "crm-9"])
        .ok()
        .json();
    assert_eq!(by_external["id"], made["id"]);
    env.run(&["list", "identities", "--consistency", "strong"])
        .ok();
    let version = env.run(&["--format", "json", "version"]).ok().json();
    assert_eq!(
        version["version"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    Ok(())
}

#[test]
fn kith_validate_identity_takes_what_import_takes_and_reports_every_record() -> TestResult {
    let env = Env::new();
    env.create(&email("taken@example.org"));
    let array = env.dir.path().join("people.json");
    std::fs::write(
        &array,
        json!([email("one@example.org"), email("taken@example.org"), {"schema_id": "preset://email", "traits": {"email": 7}}]).to_string(),
    )?;
    let lines = env.dir.path().join("more.ndjson");
    std::fs::write(
        &lines,
        format!(
            "{}\n{}\n",
            email("two@example.org"),
            email("two@example.org")
        ),
    )?;
    let checked = env.run(&[
        "--format",
        "json",
        "validate",
        "identity",
        &array.to_string_lossy(),
        &lines.to_string_lossy(),
    ]);
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    let results: Vec<Value> = checked
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect();
    let valid: Vec<bool> = results.iter().map(|r| r["valid"] == true).collect();
    assert_eq!(valid, vec![true, false, false, true, false], "{results:?}");
    assert!(
        results[2]["source"]
            .as_str()
            .unwrap_or_default()
            .ends_with("people.json[2]"),
        "{results:?}"
    );
    assert!(
        results[4]["source"]
            .as_str()
            .unwrap_or_default()
            .ends_with("more.ndjson:2"),
        "{results:?}"
    );
    assert_eq!(env.count(), 1, "validate wrote nothing");
    Ok(())
}

#[test]
fn the_kratos_cli_formats_yaml_jsonpath_and_jsonpointer_are_taken() -> TestResult {
    let env = Env::new();
    let id = env.create_email("formats@example.org");
    let picked = env
        .run(&["--format", "jsonpath=traits.email", "get", "identity", &id])
        .ok();
    assert_eq!(picked.json(), json!("formats@example.org"));
    let pointed = env
        .run(&[
            "--format",
            "jsonpointer=/verifiable_addresses/0/via",
            "get",
            "identity",
            &id,
        ])
        .ok();
    assert_eq!(pointed.json(), json!("email"));
    let yaml = env.run(&["--format", "yaml", "get", "identity", &id]).ok();
    assert!(
        yaml.stdout.contains("schema_id: \"preset://email\"")
            && yaml.stdout.contains(&format!("id: {id}")),
        "{}",
        yaml.stdout
    );
    let unknown = env.run(&["--format", "xml", "list", "identities"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("not a format"),
        "{}",
        unknown.stderr
    );
    Ok(())
}

#[test]
fn a_method_a_route_does_not_serve_gets_405_with_a_content_type_and_allow() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let reply = server.admin("PUT", "/admin/identities", Some("{}"));
    assert_eq!(reply.status, 405, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        reply
            .header("allow")
            .is_some_and(|allow| allow.contains("POST"))
    );
    Ok(())
}
