//! The redemption page over HTTP: what it says, what its form carries, where it goes after.
//! The browser's view of it (and its accessibility check) is in tests/e2e/redeem.test.mjs.

use crate::harness::{Env, TestResult};
use crate::serve::{Reply, Server, exchange};

/// One request to the public listener as a browser sends it: a cookie and a form body.
fn browser(host: &str, method: &str, path: &str, cookie: Option<&str>, form: &str) -> Reply {
    let headers = cookie
        .map(|cookie| format!("Cookie: {cookie}\r\n"))
        .unwrap_or_default();
    exchange(
        host,
        method,
        path,
        &headers,
        "application/x-www-form-urlencoded",
        form,
    )
}

/// The path and query of a link kith printed.
fn path_of(link: &str) -> String {
    let rest = link.split_once("://").map_or(link, |(_, rest)| rest);
    rest.find('/').map_or("/", |at| &rest[at..]).to_string()
}

/// The form page at `link`, and the cookie it set.
fn open(server: &Server, link: &str) -> (Reply, String) {
    let page = browser(&server.public, "GET", &path_of(link), None, "");
    let cookie = page
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    (page, cookie)
}

/// Submits the form of `link` as the page set it up (its CSRF cookie and field).
fn submit(server: &Server, link: &str, fields: &[(&str, &str)]) -> Reply {
    let (page, cookie) = open(server, link);
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf_token", csrf)
        .extend_pairs(fields.iter().copied())
        .finish();
    // The form posts to the page's own address (flow and, for links, token).
    browser(&server.public, "POST", &path_of(link), Some(&cookie), &form)
}

fn invite(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["invite", "--no-deliver"];
    all.extend_from_slice(args);
    env.run(&all).ok().json()
}

fn password_works(env: &Env, identifier: &str, password: &str) -> bool {
    env.verify_password(identifier, password).code == 0
}

const PASSWORD: &str = "correct horse battery";

#[test]
fn the_page_did_not_say_which_account_the_password_is_for() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let invitation = invite(&env, &["Ada@Example.org"]);
    let (page, _) = open(
        &server,
        invitation["recovery_link"].as_str().unwrap_or_default(),
    );
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("Choose a new password for the account <strong>ada@example.org</strong>."),
        "{}",
        page.body
    );

    // A username schema: the identifier is the username, not an address.
    let id = server.create_identity(&serde_json::json!({
        "schema_id": "preset://username",
        "traits": {"username": "grace.h"},
    }));
    let code = server.admin(
        "POST",
        "/admin/recovery/code",
        Some(&serde_json::json!({"identity_id": id}).to_string()),
    );
    assert_eq!(code.status, 201, "{}", code.body);
    let (page, _) = open(
        &server,
        code.json()["recovery_link"].as_str().unwrap_or_default(),
    );
    assert!(
        page.body.contains("<strong>grace.h</strong>"),
        "{}",
        page.body
    );
    Ok(())
}

#[test]
fn the_form_had_no_username_field_for_password_managers_and_no_confirmation() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let invitation = invite(&env, &["lin@example.org"]);
    let (page, _) = open(
        &server,
        invitation["recovery_link"].as_str().unwrap_or_default(),
    );
    assert!(
        page.body.contains(
            "<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" \
             value=\"lin@example.org\" tabindex=\"-1\" class=\"visually-hidden\">"
        ),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<div aria-hidden=\"true\"><label for=\"username\" class=\"visually-hidden\">Account</label>"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches("autocomplete=\"new-password\"").count(),
        2
    );
    assert!(page.body.contains("name=\"password_confirm\""));
    Ok(())
}

#[test]
fn mismatched_passwords_were_not_refused() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let invitation = invite(&env, &["kim@example.org"]);
    let link = invitation["recovery_link"].as_str().unwrap_or_default();
    let refused = submit(
        &server,
        link,
        &[
            ("password", PASSWORD),
            ("password_confirm", "correct horse battery!"),
        ],
    );
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.body.contains(
            "The two passwords do not match. Please type the same new password in both fields."
        ),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("name=\"password_confirm\""),
        "the form is shown again"
    );
    assert!(
        !password_works(&env, "kim@example.org", PASSWORD),
        "nothing was set"
    );
    let listed = env.run(&["list", "invites"]).ok().json();
    assert_eq!(listed[0]["status"], "pending", "the link still works");
    assert_eq!(listed[0]["wrong_submissions"], 0, "no attempt was spent");

    let set = submit(
        &server,
        link,
        &[("password", PASSWORD), ("password_confirm", PASSWORD)],
    );
    assert_eq!(set.status, 200, "{}", set.body);
    assert!(set.body.contains("<h1>Password set</h1>"));
    assert!(password_works(&env, "kim@example.org", PASSWORD));
    Ok(())
}

#[test]
fn a_used_link_told_invitees_to_request_another_code() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let invitation = invite(&env, &["used@example.org"]);
    let link = invitation["recovery_link"].as_str().unwrap_or_default();
    let set = submit(&server, link, &[("password", PASSWORD)]);
    assert_eq!(set.status, 200, "{}", set.body);

    let (again, _) = open(&server, link);
    assert_eq!(again.status, 410);
    assert!(
        again.body.contains(
            "This link was used already. If you set your password with it, \
             sign in with that password; otherwise please ask whoever invited you for a new one."
        ),
        "{}",
        again.body
    );
    assert!(
        !again.body.contains("request another code"),
        "{}",
        again.body
    );

    // A form left open in another tab, submitted after the link was used, says the same.
    let second = invite(&env, &["tabs@example.org"]);
    let second_link = second["recovery_link"].as_str().unwrap_or_default();
    let (form, cookie) = open(&server, second_link);
    assert_eq!(form.status, 200);
    assert_eq!(
        submit(&server, second_link, &[("password", PASSWORD)]).status,
        200
    );
    let csrf = cookie.split_once('=').map(|(_, v)| v).unwrap_or_default();
    let late = browser(
        &server.public,
        "POST",
        &path_of(second_link),
        Some(&cookie),
        &format!("csrf_token={csrf}&password=another+passphrase"),
    );
    assert!(
        late.body.contains("ask whoever invited you"),
        "{}",
        late.body
    );
    assert!(!late.body.contains("request another code"), "{}", late.body);
    Ok(())
}

#[test]
fn return_to_was_accepted_and_ignored_when_not_allowed() -> TestResult {
    let env = Env::new();
    let server = Server::start(&env);
    let id = server.create_identity(&serde_json::json!({
        "schema_id": "preset://email",
        "traits": {"email": "rt@example.org"},
    }));
    let body = serde_json::json!({"identity_id": id}).to_string();
    for path in ["/admin/recovery/link", "/admin/recovery/code"] {
        let refused = server.admin(
            "POST",
            &format!("{path}?return_to=https%3A%2F%2Fapp.example.org%2Fwelcome"),
            Some(&body),
        );
        assert_eq!(refused.status, 400, "{path}: {}", refused.body);
        let error = &refused.json()["error"];
        assert_eq!(
            error["id"], "self_service_flow_return_to_forbidden",
            "{path}"
        );
        assert_eq!(
            error["reason"],
            "Requested return_to URL \"https://app.example.org/welcome\" is not allowed.",
            "{path}"
        );
    }
    let invite = server.admin(
        "POST",
        "/admin/invites",
        Some(r#"{"email":"rt2@example.org","deliver":false,"return_to":"https://evil.example/"}"#),
    );
    assert_eq!(invite.status, 400, "{}", invite.body);
    let cli = env.run(&[
        "invite",
        "rt3@example.org",
        "--return-to",
        "https://evil.example/",
    ]);
    assert_eq!(cli.code, 1);
    assert_eq!(cli.error()["id"], "self_service_flow_return_to_forbidden");
    assert_eq!(
        env.run(&["list", "invites"]).ok().json(),
        serde_json::json!([]),
        "nothing refused was issued"
    );
    Ok(())
}

#[test]
fn an_allowed_return_to_was_not_followed_after_the_password_was_set() -> TestResult {
    let env = Env::new();
    env.run(&[
        "set",
        "config",
        "selfservice.allowed_return_urls",
        "https://app.example.org/welcome",
    ])
    .ok();
    let server = Server::start(&env);
    let id = server.create_identity(&serde_json::json!({
        "schema_id": "preset://email",
        "traits": {"email": "back@example.org"},
    }));
    let link = server.admin(
        "POST",
        "/admin/recovery/link?return_to=https%3A%2F%2Fapp.example.org%2Fwelcome%3Fstep%3D2",
        Some(&serde_json::json!({"identity_id": id}).to_string()),
    );
    assert_eq!(link.status, 200, "{}", link.body);
    let link = link.json()["recovery_link"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !link.contains("return_to"),
        "stored with the flow, not in the link: {link}"
    );

    // The form may be sent on to the return_to origin (browsers hold the redirect after a
    // form's POST to its form-action policy).
    let (page, _) = open(&server, &link);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|csp| csp.contains("form-action 'self' https://app.example.org;")),
        "{:?}",
        page.header("content-security-policy")
    );
    let done = submit(
        &server,
        &link,
        &[("password", PASSWORD), ("password_confirm", PASSWORD)],
    );
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.header("location"),
        Some("https://app.example.org/welcome?step=2")
    );
    assert_eq!(done.header("referrer-policy"), Some("no-referrer"));
    assert!(password_works(&env, "back@example.org", PASSWORD));
    Ok(())
}

#[test]
fn return_to_in_the_page_query_is_never_followed() -> TestResult {
    let env = Env::new();
    env.run(&[
        "set",
        "config",
        "selfservice.allowed_return_urls",
        "https://app.example.org/",
    ])
    .ok();
    let server = Server::start(&env);
    let invitation = invite(&env, &["query@example.org"]);
    let link = format!(
        "{}&return_to=https%3A%2F%2Fapp.example.org%2Fsomewhere",
        invitation["recovery_link"].as_str().unwrap_or_default()
    );
    let done = submit(&server, &link, &[("password", PASSWORD)]);
    assert_eq!(done.status, 200, "the flow has no return_to: {}", done.body);
    assert_eq!(done.header("location"), None);
    assert!(done.body.contains("<h1>Password set</h1>"));
    Ok(())
}

#[test]
fn an_invite_return_to_is_dropped_once_the_allow_list_no_longer_has_it() -> TestResult {
    let env = Env::new();
    env.run(&[
        "set",
        "config",
        "selfservice.allowed_return_urls",
        "https://*.example.org",
    ])
    .ok();
    let invitation = invite(
        &env,
        &[
            "late@example.org",
            "--return-to",
            "https://app.example.org/in",
        ],
    );
    env.run(&["unset", "config", "selfservice.allowed_return_urls"])
        .ok();
    let server = Server::start(&env);
    let link = invitation["recovery_link"].as_str().unwrap_or_default();
    let done = submit(&server, link, &[("password", PASSWORD)]);
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.header("location"), None);
    Ok(())
}

#[test]
fn the_return_to_allow_list_is_a_setting_checked_when_set() -> TestResult {
    let env = Env::new();
    env.create_email("settings@example.org");
    let config = env.run(&["get", "config"]).ok().json();
    let setting = config
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|s| s["key"] == "selfservice.allowed_return_urls")
        })
        .cloned()
        .unwrap_or_default();
    assert_eq!(setting["value"], "");
    assert_eq!(setting["default"], true);
    let refused = env.run(&[
        "set",
        "config",
        "selfservice.allowed_return_urls",
        "javascript:alert(1)",
    ]);
    assert_eq!(refused.code, 1);
    let set = env
        .run(&[
            "set",
            "config",
            "selfservice.allowed_return_urls",
            "https://a.example.org/x, https://*.b.example.org",
        ])
        .ok()
        .json();
    assert_eq!(
        set["value"],
        "https://a.example.org/x https://*.b.example.org"
    );
    Ok(())
}
