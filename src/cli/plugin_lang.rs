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

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Js => "JavaScript",
            Lang::Python => "Python",
        }
    }
}

/// One file of a generated project: its path inside the project, its text and whether it is
/// a script to run.
#[derive(Debug)]
pub struct ProjectFile {
    pub path: &'static str,
    pub text: String,
    pub executable: bool,
}

/// The kinds a project can be made for (each the name of its WIT world).
pub const KINDS: [&str; 4] = [
    "trait-validator",
    "import-mapper",
    "invite-delivery",
    "password-migration",
];

/// The kind-specific templates: plugin.toml, a sample input for `kith run plugin`, and the
/// source in each language.
struct KindTemplates {
    manifest: &'static str,
    input: &'static str,
    js: &'static str,
    python: &'static str,
}

fn templates(kind: &str) -> Option<KindTemplates> {
    macro_rules! kind {
        ($kind:literal) => {
            KindTemplates {
                manifest: include_str!(concat!("../../templates/plugin/", $kind, ".toml")),
                input: include_str!(concat!("../../templates/plugin/", $kind, ".input.json")),
                js: include_str!(concat!("../../templates/plugin-js/", $kind, ".js")),
                python: include_str!(concat!("../../templates/plugin-python/", $kind, ".py")),
            }
        };
    }
    Some(match kind {
        "trait-validator" => kind!("trait-validator"),
        "import-mapper" => kind!("import-mapper"),
        "invite-delivery" => kind!("invite-delivery"),
        "password-migration" => kind!("password-migration"),
        _ => return None,
    })
}

const WIT: &str = include_str!("../../plugins/wit/kith-plugin.wit");
const README: &str = include_str!("../../templates/plugin/README.md");
const JS_BUILD: &str = include_str!("../../templates/plugin-js/build.sh");
const JS_GITIGNORE: &str = include_str!("../../templates/plugin-js/gitignore");
const JS_HELPER: &str = include_str!("../../plugins-js/kith-plugin.js");
const JS_PACKAGE: &str = include_str!("../../plugins-js/package.json");
const JS_LOCK: &str = include_str!("../../plugins-js/package-lock.json");
const PY_BUILD: &str = include_str!("../../templates/plugin-python/build.sh");
const PY_GITIGNORE: &str = include_str!("../../templates/plugin-python/gitignore");
const PY_HELPER: &str = include_str!("../../plugins-py/kith_plugin.py");
const PY_REQUIREMENTS: &str = include_str!("../../plugins-py/requirements.txt");

/// The package name plugins-js/package.json and its lockfile give the toolchain; a project
/// takes its plugin's name instead.
const JS_PACKAGE_NAME: &str = "\"name\": \"kith-plugins-js\"";

/// The files of a `lang` project for a plugin `name` of `kind`, or `None` for an unknown kind.
/// `name` is a plugin name (lowercase letters, digits and `-`), checked by the caller.
pub fn project(lang: Lang, kind: &str, name: &str) -> Option<Vec<ProjectFile>> {
    let templates = templates(kind)?;
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{wasm}}", &wasm)
            .replace("{{world}}", kind)
            .replace("{{language}}", lang.name())
    };
    let file = |path, text: String| ProjectFile {
        path,
        text,
        executable: false,
    };
    let mut files = vec![
        file("plugin.toml", fill(templates.manifest)),
        file("input.json", templates.input.to_string()),
        file("wit/kith-plugin.wit", WIT.to_string()),
        file("README.md", fill(README)),
    ];
    let package_name = format!("\"name\": \"{name}\"");
    match lang {
        Lang::Js => files.extend([
            file("app.js", fill(templates.js)),
            file("kith-plugin.js", JS_HELPER.to_string()),
            file(
                "package.json",
                JS_PACKAGE.replacen(JS_PACKAGE_NAME, &package_name, 1),
            ),
            // The lockfile names the root package twice (itself and its "" entry).
            file(
                "package-lock.json",
                JS_LOCK.replacen(JS_PACKAGE_NAME, &package_name, 2),
            ),
            file(".gitignore", JS_GITIGNORE.to_string()),
            ProjectFile {
                path: "build.sh",
                text: fill(JS_BUILD),
                executable: true,
            },
        ]),
        Lang::Python => files.extend([
            file("app.py", fill(templates.python)),
            file("kith_plugin.py", PY_HELPER.to_string()),
            file("requirements.txt", PY_REQUIREMENTS.to_string()),
            file(".gitignore", PY_GITIGNORE.to_string()),
            ProjectFile {
                path: "build.sh",
                text: fill(PY_BUILD),
                executable: true,
            },
        ]),
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_project_in_both_languages_with_no_placeholder_left() {
        for kind in KINDS {
            for lang in [Lang::Js, Lang::Python] {
                let files = project(lang, kind, "my-plugin").expect("a known kind");
                for file in &files {
                    assert!(
                        !file.text.contains("{{name}}")
                            && !file.text.contains("{{wasm}}")
                            && !file.text.contains("{{world}}")
                            && !file.text.contains("{{language}}"),
                        "{kind} {lang:?} {}",
                        file.path
                    );
                }
                let manifest = &files[0].text;
                assert!(manifest.contains("name = \"my-plugin\""), "{manifest}");
                assert!(
                    manifest.contains(&format!("kind = \"{kind}\"")),
                    "{manifest}"
                );
                assert!(manifest.contains("wasm = \"my_plugin.wasm\""), "{manifest}");
                let build = files
                    .iter()
                    .find(|f| f.path == "build.sh")
                    .expect("build.sh");
                assert!(build.executable);
                assert!(build.text.contains(&format!(" {kind} ")), "{}", build.text);
                assert!(build.text.contains("my_plugin.wasm"), "{}", build.text);
                assert!(
                    build.text.contains("--stub-wasi")
                        || build.text.contains("--backend-qjs-stub-wasi"),
                    "{}",
                    build.text
                );
            }
        }
        assert!(project(Lang::Js, "nonsense", "x").is_none());
    }

    #[test]
    fn a_javascript_project_names_its_package_after_the_plugin_and_keeps_the_pins() {
        let files = project(Lang::Js, "trait-validator", "no-admin").expect("a known kind");
        let text = |path| {
            files
                .iter()
                .find(|f| f.path == path)
                .map(|f| f.text.clone())
                .expect("the file")
        };
        let package: serde_json::Value = serde_json::from_str(&text("package.json")).expect("JSON");
        let lock: serde_json::Value =
            serde_json::from_str(&text("package-lock.json")).expect("JSON");
        assert_eq!(package["name"], "no-admin");
        assert_eq!(lock["name"], "no-admin");
        assert_eq!(lock["packages"][""]["name"], "no-admin");
        assert_eq!(
            package["devDependencies"],
            lock["packages"][""]["devDependencies"]
        );
        assert!(text("app.js").contains("from './kith-plugin.js'"));
    }
}
