//! The JavaScript and Python projects of `kith new plugin NAME --kind KIND --lang js|python`.
//!
//! A project stands alone: its WIT contract, a small helper module, the toolchain pin (npm's
//! package-lock.json, or a hash-pinned requirements.txt) and a `build.sh` that installs that
//! toolchain on first use and builds the component with the flags that keep WASI out. The
//! templates are files of `templates/`; the helpers and the toolchain pins are the very files
//! kith's own JavaScript and Python plugins are built with (plugins-js/, plugins-py/), so a
//! generated project and the first-party ones cannot drift apart.

/// A plugin project's language, besides Rust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Js,
    Python,
}

/// The kinds a project can be made for (each the name of its WIT world).
#[cfg(test)]
const KINDS: [&str; 4] = [
    "trait-validator",
    "import-mapper",
    "invite-delivery",
    "password-migration",
];

/// A kind's templates: plugin.toml (shared by both languages) and the source in each.
struct KindTemplates {
    manifest: &'static str,
    js: &'static str,
    python: &'static str,
    /// The `--grant` flags its install needs.
    grants: &'static str,
}

fn templates(kind: &str) -> Option<KindTemplates> {
    macro_rules! kind {
        ($kind:literal, $grants:literal) => {
            KindTemplates {
                manifest: include_str!(concat!(
                    "../../plugins/templates/js-python/",
                    $kind,
                    ".toml"
                )),
                js: include_str!(concat!("../../plugins/templates/js/", $kind, ".js")),
                python: include_str!(concat!("../../plugins/templates/python/", $kind, ".py")),
                grants: $grants,
            }
        };
    }
    Some(match kind {
        "trait-validator" => kind!("trait-validator", ""),
        "import-mapper" => kind!("import-mapper", ""),
        "invite-delivery" => kind!("invite-delivery", " --grant outbox:write"),
        "password-migration" => kind!("password-migration", ""),
        _ => return None,
    })
}

const WIT: &str = include_str!("../../plugins/wit/kith-plugin.wit");
const README: &str = include_str!("../../plugins/templates/js-python/README.md");
const TEST: &str = include_str!("../../plugins/templates/js-python/test.sh");
const JS_BUILD: &str = include_str!("../../plugins/templates/js/common/build.sh");
const JS_GITIGNORE: &str = include_str!("../../plugins/templates/js/common/gitignore");
const JS_HELPER: &str = include_str!("../../plugins-js/kith-plugin.js");
const JS_PACKAGE: &str = include_str!("../../plugins-js/package.json");
const JS_LOCK: &str = include_str!("../../plugins-js/package-lock.json");
const PY_BUILD: &str = include_str!("../../plugins/templates/python/common/build.sh");
const PY_GITIGNORE: &str = include_str!("../../plugins/templates/python/common/gitignore");
const PY_HELPER: &str = include_str!("../../plugins-py/kith_plugin.py");
const PY_REQUIREMENTS: &str = include_str!("../../plugins-py/requirements.txt");

/// The package name plugins-js/package.json and its lockfile give the toolchain; a project
/// takes its plugin's name instead.
const JS_PACKAGE_NAME: &str = "\"name\": \"kith-plugins-js\"";

/// Limits of a JavaScript plugin: QuickJS starts from a snapshot of about 1.4 MiB.
const JS_LIMITS: &str = "\n[limits]\nfuel = 20_000_000\nmemory_mib = 16\ntimeout_ms = 500\n";
/// Limits of a Python plugin: CPython's snapshot alone is 12.4 MiB of linear memory, and an
/// instance is 38 core modules, so it gets more room and time than the others.
const PY_LIMITS: &str = "\n[limits]\nfuel = 50_000_000\nmemory_mib = 48\ntimeout_ms = 1000\n";

/// The files of a `lang` project for a plugin `name` of `kind` as (path, text, executable),
/// or `None` for an unknown kind. `cases` are its tests: (NAME, input JSON, expected text).
/// `name` is a plugin name (lowercase letters, digits and `-`), checked by the caller.
pub fn project(
    lang: Lang,
    kind: &str,
    name: &str,
    cases: &[(&str, &str, &str)],
) -> Option<Vec<(String, String, bool)>> {
    let templates = templates(kind)?;
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let (language, app, helper, toolchain, toolchain_what, needs, flags, limits) = match lang {
        Lang::Js => (
            "JavaScript",
            "app.js",
            "kith-plugin.js",
            "package-lock.json",
            "jco (and its QuickJS backend), installed with `npm ci`",
            "Node.js 20+ with npm",
            "`--backend qjs --backend-qjs-stub-wasi --backend-qjs-disable-async`",
            JS_LIMITS,
        ),
        Lang::Python => (
            "Python",
            "app.py",
            "kith_plugin.py",
            "requirements.txt",
            "componentize-py, installed with `pip install --require-hashes` into .venv",
            "Python 3.10+",
            "`--stub-wasi`",
            PY_LIMITS,
        ),
    };
    let first_case = cases.first().map_or("input", |case| case.0);
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{wasm}}", &wasm)
            .replace("{{world}}", kind)
            .replace("{{language}}", language)
            .replace("{{app}}", app)
            .replace("{{helper}}", helper)
            .replace("{{toolchain}}", toolchain)
            .replace("{{toolchain_what}}", toolchain_what)
            .replace("{{needs}}", needs)
            .replace("{{flags}}", flags)
            .replace("{{limits}}", limits.trim_end())
            .replace("{{first_case}}", first_case)
            .replace("{{grant}}", templates.grants)
    };
    let file = |path: &str, text: String| (path.to_string(), text, false);
    let script = |path: &str, text: String| (path.to_string(), text, true);
    let mut files = vec![
        file("plugin.toml", fill(templates.manifest)),
        file("wit/kith-plugin.wit", WIT.to_string()),
        file("README.md", fill(README)),
        script("test.sh", TEST.to_string()),
    ];
    for (case, input, expect) in cases {
        files.push(file(&format!("tests/{case}.json"), input.to_string()));
        files.push(file(&format!("tests/{case}.expect"), expect.to_string()));
    }
    let package_name = format!("\"name\": \"{name}\"");
    match lang {
        Lang::Js => files.extend([
            file(app, fill(templates.js)),
            file(helper, JS_HELPER.to_string()),
            file(
                "package.json",
                JS_PACKAGE.replacen(JS_PACKAGE_NAME, &package_name, 1),
            ),
            // The lockfile names the root package twice (itself and its "" entry).
            file(
                toolchain,
                JS_LOCK.replacen(JS_PACKAGE_NAME, &package_name, 2),
            ),
            file(".gitignore", JS_GITIGNORE.to_string()),
            script("build.sh", fill(JS_BUILD)),
        ]),
        Lang::Python => files.extend([
            file(app, fill(templates.python)),
            file(helper, PY_HELPER.to_string()),
            file(toolchain, PY_REQUIREMENTS.to_string()),
            file(".gitignore", PY_GITIGNORE.to_string()),
            script("build.sh", fill(PY_BUILD)),
        ]),
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACEHOLDERS: [&str; 13] = [
        "{{name}}",
        "{{wasm}}",
        "{{world}}",
        "{{language}}",
        "{{app}}",
        "{{helper}}",
        "{{toolchain}}",
        "{{toolchain_what}}",
        "{{needs}}",
        "{{flags}}",
        "{{limits}}",
        "{{first_case}}",
        "{{grant}}",
    ];

    const CASES: &[(&str, &str, &str)] = &[("first", "{}", "\"accepted\"")];

    fn text(files: &[(String, String, bool)], path: &str) -> String {
        files
            .iter()
            .find(|f| f.0 == path)
            .map(|f| f.1.clone())
            .unwrap_or_else(|| panic!("no {path}"))
    }

    #[test]
    fn every_kind_has_a_project_in_both_languages_with_no_placeholder_left() {
        for kind in KINDS {
            for lang in [Lang::Js, Lang::Python] {
                let files = project(lang, kind, "my-plugin", CASES).expect("a known kind");
                for (path, text, _) in &files {
                    for placeholder in PLACEHOLDERS {
                        assert!(
                            !text.contains(placeholder),
                            "{kind} {lang:?}: {path} keeps {placeholder}"
                        );
                    }
                }
                let manifest = text(&files, "plugin.toml");
                assert!(manifest.contains("name = \"my-plugin\""), "{manifest}");
                assert!(
                    manifest.contains(&format!("kind = \"{kind}\"")),
                    "{manifest}"
                );
                assert!(manifest.contains("wasm = \"my_plugin.wasm\""), "{manifest}");
                assert!(manifest.contains("[limits]"), "{manifest}");
                let build = files.iter().find(|f| f.0 == "build.sh").expect("build.sh");
                assert!(build.2, "build.sh is executable");
                assert!(build.1.contains(&format!(" {kind} ")), "{}", build.1);
                assert!(build.1.contains("stub-wasi"), "{}", build.1);
                assert_eq!(text(&files, "tests/first.json"), "{}");
            }
        }
        assert!(project(Lang::Js, "nonsense", "x", CASES).is_none());
    }

    #[test]
    fn a_javascript_project_names_its_package_after_the_plugin_and_keeps_the_pins() {
        let files = project(Lang::Js, "trait-validator", "no-admin", CASES).expect("a kind");
        let package: serde_json::Value =
            serde_json::from_str(&text(&files, "package.json")).expect("JSON");
        let lock: serde_json::Value =
            serde_json::from_str(&text(&files, "package-lock.json")).expect("JSON");
        assert_eq!(package["name"], "no-admin");
        assert_eq!(lock["name"], "no-admin");
        assert_eq!(lock["packages"][""]["name"], "no-admin");
        assert_eq!(
            package["devDependencies"],
            lock["packages"][""]["devDependencies"]
        );
        assert!(text(&files, "app.js").contains("from './kith-plugin.js'"));
    }
}
