//! scaffold: `kith new plugin`, a plugin project of its own written from templates built
//! into kith, and the plugin contract that `kith wit` prints.
//!
//! A project written here has no path into kith's repository: the contract, the helper code
//! of kith's (unpublished) plugin SDK it needs, and a `Cargo.lock` pinning the versions kith's
//! own plugins build with are written into it, so it builds anywhere, offline once those
//! crates are fetched. Templates live in `plugins/templates/<lang>/`: `common/` for every
//! kind, one folder per kind for the plugin itself and its test cases. This module writes
//! files into the folder it is given and nowhere else; it knows nothing of the store.

mod lang;

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The plugin contract, `kith:plugin@0.1.0`: every world of this kith (`kith wit`).
pub const CONTRACT: &str = include_str!("../plugins/wit/kith-plugin.wit");

/// The contract `kith:plugin@0.2.0` (`api = "0.2"`), which adds e-mail and HTTP plans to
/// invite delivery (`kith wit --api 0.2`).
pub const CONTRACT_V0_2: &str = include_str!("../plugins/wit-0.2/kith-plugin.wit");

/// The kinds `kith new plugin --kind` writes, as `plugin.toml` names them.
pub const KINDS: &[&str] = &[
    "trait-validator",
    "invite-delivery",
    "import-mapper",
    "password-migration",
];

/// The languages `kith new plugin --lang` writes.
pub const LANGS: &[&str] = &["rust", "js", "python"];

/// A plugin project to write.
#[derive(Clone, Debug)]
pub struct NewPlugin {
    /// The plugin's name, as its manifest gives it.
    pub name: String,
    /// One of [`KINDS`].
    pub kind: String,
    /// One of [`LANGS`].
    pub lang: String,
    /// The project's folder: new, or empty.
    pub dir: PathBuf,
}

/// One file of a template: where it goes in the project, its text, and whether its
/// placeholders (`{{name}}`, ...) are filled in (source files are copied as they are).
struct File {
    path: &'static str,
    text: &'static str,
    filled: bool,
    executable: bool,
}

const fn filled(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        filled: true,
        executable: false,
    }
}

const fn copied(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        filled: false,
        executable: false,
    }
}

/// What a kind's template holds besides the common files.
struct KindTemplate {
    lib: &'static str,
    manifest: &'static str,
    /// `tests/NAME.json` and `tests/NAME.expect`, by NAME; the first is the README's example.
    cases: &'static [(&'static str, &'static str, &'static str)],
    /// What the plugin does, for its README.
    summary: &'static str,
    /// The `--grant` flags its install needs.
    grants: &'static str,
}

macro_rules! rust_template {
    ($path:literal) => {
        include_str!(concat!("../plugins/templates/rust/", $path))
    };
}

fn rust_kind(kind: &str) -> Option<KindTemplate> {
    Some(match kind {
        "trait-validator" => KindTemplate {
            lib: rust_template!("trait-validator/lib.rs"),
            manifest: rust_template!("trait-validator/plugin.toml"),
            cases: &[
                (
                    "accepted",
                    rust_template!("trait-validator/tests/accepted.json"),
                    rust_template!("trait-validator/tests/accepted.expect"),
                ),
                (
                    "reserved",
                    rust_template!("trait-validator/tests/reserved.json"),
                    rust_template!("trait-validator/tests/reserved.expect"),
                ),
            ],
            summary: "it refuses the usernames its `reserved` config lists.",
            grants: "",
        },
        "invite-delivery" => KindTemplate {
            lib: rust_template!("invite-delivery/lib.rs"),
            manifest: rust_template!("invite-delivery/plugin.toml"),
            cases: &[(
                "invite",
                rust_template!("invite-delivery/tests/invite.json"),
                rust_template!("invite-delivery/tests/invite.expect"),
            )],
            summary: "it writes each invite, link and code, as a text file into kith's outbox folder.",
            grants: " --grant outbox:write",
        },
        "import-mapper" => KindTemplate {
            lib: rust_template!("import-mapper/lib.rs"),
            manifest: rust_template!("import-mapper/plugin.toml"),
            cases: &[
                (
                    "record",
                    rust_template!("import-mapper/tests/record.json"),
                    rust_template!("import-mapper/tests/record.expect"),
                ),
                (
                    "no-email",
                    rust_template!("import-mapper/tests/no-email.json"),
                    rust_template!("import-mapper/tests/no-email.expect"),
                ),
            ],
            summary: "it maps records such as `{\"email\": \"ada@example.org\", \"name\": \"Ada\"}` to \
                      createIdentityBody for `kith import identities --mapper`.",
            grants: "",
        },
        "password-migration" => KindTemplate {
            lib: rust_template!("password-migration/lib.rs"),
            manifest: rust_template!("password-migration/plugin.toml"),
            cases: &[
                (
                    "match",
                    rust_template!("password-migration/tests/match.json"),
                    rust_template!("password-migration/tests/match.expect"),
                ),
                (
                    "no-match",
                    rust_template!("password-migration/tests/no-match.json"),
                    rust_template!("password-migration/tests/no-match.expect"),
                ),
            ],
            summary: "it verifies passwords against the legacy hashes of identities imported with \
                      `use_password_migration_hook: true` (`{PLAIN}` and `{CLEARTEXT}` here; add yours).",
            grants: "",
        },
        _ => return None,
    })
}

/// The files every Rust plugin gets, whatever its kind.
const RUST_COMMON: &[File] = &[
    filled("Cargo.toml", rust_template!("common/Cargo.toml")),
    copied("src/kit.rs", rust_template!("common/kit.rs")),
    copied("wit/kith-plugin.wit", CONTRACT),
    copied(
        "rust-toolchain.toml",
        rust_template!("common/rust-toolchain.toml"),
    ),
    copied(".gitignore", rust_template!("common/gitignore")),
    filled("README.md", rust_template!("common/README.md")),
    File {
        path: "test.sh",
        text: rust_template!("common/test.sh"),
        filled: true,
        executable: true,
    },
];

/// The dependencies' part of the Cargo.lock: the versions kith's own plugins build with
/// (plugins/Cargo.lock), without the project's own entry, which depends on its name.
const RUST_LOCK_DEPENDENCIES: &str = rust_template!("common/Cargo.lock.deps");

/// Writes a plugin project into `request.dir` and returns the paths written, relative to it.
///
/// # Errors
/// [`Error::BadRequest`] for a name a manifest (or, for Rust, a crate) cannot have, an
/// unknown kind or language, or a folder that exists and is not empty;
/// [`Error::Internal`] when a file cannot be written.
pub fn new_plugin(request: &NewPlugin) -> Result<Vec<PathBuf>> {
    let name = request.name.as_str();
    crate::plugin_host::check_plugin_name(name).map_err(Error::BadRequest)?;
    let files = match request.lang.as_str() {
        "rust" => rust_files(name, &request.kind)?,
        "js" => lang_files(lang::Lang::Js, name, &request.kind)?,
        "python" => lang_files(lang::Lang::Python, name, &request.kind)?,
        other => {
            return Err(Error::BadRequest(format!(
                "`{other}` is not a language kith writes plugins in; known: {}",
                LANGS.join(", ")
            )));
        }
    };
    prepare_folder(&request.dir)?;
    let mut written = Vec::with_capacity(files.len());
    for (path, text, executable) in files {
        write_new(&request.dir.join(&path), &text, executable)?;
        written.push(PathBuf::from(path));
    }
    Ok(written)
}

/// The files of a Rust plugin project named `name` of `kind`: (path, text, executable).
fn rust_files(name: &str, kind: &str) -> Result<Vec<(String, String, bool)>> {
    let Some(template) = rust_kind(kind) else {
        return Err(Error::BadRequest(format!(
            "`{kind}` is not a kind of plugin; known: {}",
            KINDS.join(", ")
        )));
    };
    let krate = name.replace('-', "_");
    check_crate_name(name, &krate)?;
    let first_case = template.cases.first().map_or("input", |case| case.0);
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &krate)
            .replace("{{kind}}", kind)
            .replace("{{summary}}", template.summary)
            .replace("{{grant}}", template.grants)
            .replace("{{first_case}}", first_case)
    };
    let mut files: Vec<(String, String, bool)> = RUST_COMMON
        .iter()
        .map(|file| {
            let text = match file.filled {
                true => fill(file.text),
                false => file.text.to_string(),
            };
            (file.path.to_string(), text, file.executable)
        })
        .collect();
    files.push(("Cargo.lock".into(), rust_lock(name), false));
    files.push(("src/lib.rs".into(), template.lib.to_string(), false));
    files.push(("plugin.toml".into(), fill(template.manifest), false));
    for (case, input, expect) in template.cases {
        files.push((format!("tests/{case}.json"), input.to_string(), false));
        files.push((format!("tests/{case}.expect"), expect.to_string(), false));
    }
    Ok(files)
}

/// The files of a JavaScript or Python plugin project (`lang`): the same kinds and test
/// cases as the Rust templates, whose behaviour each language's template repeats.
fn lang_files(lang: lang::Lang, name: &str, kind: &str) -> Result<Vec<(String, String, bool)>> {
    rust_kind(kind)
        .and_then(|template| lang::project(lang, kind, name, template.cases))
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "`{kind}` is not a kind of plugin; known: {}",
                KINDS.join(", ")
            ))
        })
}

/// Names a Rust library cannot have, though a manifest could: the compiler's own crates and
/// the keywords (`cargo new` refuses the same), and the crates the project depends on.
fn check_crate_name(name: &str, krate: &str) -> Result<()> {
    const RESERVED: &[&str] = &[
        "alloc",
        "core",
        "proc_macro",
        "std",
        "test",
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "abstract",
        "become",
        "box",
        "do",
        "final",
        "gen",
        "macro",
        "override",
        "priv",
        "try",
        "typeof",
        "unsized",
        "virtual",
        "yield",
    ];
    let refuse = |why: String| {
        Err(Error::BadRequest(format!(
            "cannot name a plugin `{name}` in Rust: {why}"
        )))
    };
    if krate.starts_with(|c: char| c.is_ascii_digit()) {
        return refuse("a crate name cannot start with a digit".into());
    }
    if RESERVED.contains(&krate) {
        return refuse(format!(
            "`{krate}` is a Rust keyword or one of Rust's own crates"
        ));
    }
    if lock_packages(RUST_LOCK_DEPENDENCIES).any(|package| {
        package_name(package).is_some_and(|dependency| dependency.replace('-', "_") == krate)
    }) {
        return refuse(format!(
            "the project depends on a crate named `{name}` already"
        ));
    }
    Ok(())
}

/// The project's Cargo.lock: the dependencies' entries with the project's own added where
/// cargo sorts it (by name), so that `cargo build --locked` finds nothing to change.
fn rust_lock(name: &str) -> String {
    let own = format!(
        "name = \"{name}\"\nversion = \"0.1.0\"\ndependencies = [\n \"serde_json\",\n \"wit-bindgen\",\n]"
    );
    let header_end = RUST_LOCK_DEPENDENCIES
        .find("[[package]]")
        .unwrap_or(RUST_LOCK_DEPENDENCIES.len());
    let mut packages: Vec<&str> = lock_packages(RUST_LOCK_DEPENDENCIES).collect();
    let at = packages
        .iter()
        .position(|package| package_name(package).is_some_and(|other| other > name))
        .unwrap_or(packages.len());
    packages.insert(at, &own);
    let mut lock = RUST_LOCK_DEPENDENCIES[..header_end].to_string();
    let entries: Vec<String> = packages
        .iter()
        .map(|package| format!("[[package]]\n{package}\n"))
        .collect();
    lock.push_str(&entries.join("\n"));
    lock
}

/// The text of each `[[package]]` entry of a Cargo.lock, without its heading.
fn lock_packages(lock: &str) -> impl Iterator<Item = &str> {
    lock.split("[[package]]\n").skip(1).map(str::trim_end)
}

/// The `name` of a Cargo.lock entry.
fn package_name(package: &str) -> Option<&str> {
    package
        .lines()
        .next()?
        .strip_prefix("name = \"")?
        .strip_suffix('"')
}

/// Creates `dir` unless it exists; refuses one that holds anything, so nothing is overwritten.
fn prepare_folder(dir: &Path) -> Result<()> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::BadRequest(format!(
                    "{} is not empty; kith new plugin writes a project into a new or empty \
                     folder (choose another with --dir PATH)",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .map_err(|e| io_error(format!("could not create the folder {}", dir.display()), e)),
        Err(e) if dir.exists() && !dir.is_dir() => Err(Error::BadRequest(format!(
            "{} is a file, not a folder ({e})",
            dir.display()
        ))),
        Err(e) => Err(io_error(
            format!("could not read the folder {}", dir.display()),
            e,
        )),
    }
}

/// Writes a file that must not exist yet, creating its folder.
fn write_new(path: &Path, text: &str, executable: bool) -> Result<()> {
    use std::io::Write as _;
    let context = || format!("could not write {}", path.display());
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error(context(), e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| io_error(context(), e))
}

fn io_error(context: String, error: std::io::Error) -> Error {
    Error::Internal {
        context,
        source: Some(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_holds_the_project_where_cargo_sorts_it() {
        for name in ["aaa", "my-check", "zzz", "serde-extra", "wit-check"] {
            let lock = rust_lock(name);
            let names: Vec<&str> = lock_packages(&lock).filter_map(package_name).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "{name}");
            assert!(names.contains(&name));
            assert!(lock.starts_with("# This file is automatically @generated by Cargo."));
            assert!(lock.ends_with("]\n") || lock.ends_with("\"\n"), "{name}");
            assert!(!lock.contains("\n\n\n"));
        }
    }

    #[test]
    fn names_a_crate_cannot_have_are_refused() {
        for name in ["1st", "core", "test", "fn", "serde-json", "log"] {
            assert!(
                rust_files(name, "trait-validator").is_err(),
                "{name} was accepted"
            );
        }
        assert!(rust_files("no-admin", "trait-validator").is_ok());
        assert!(rust_files("no-admin", "validator").is_err());
    }

    #[test]
    fn every_kind_has_a_template_and_no_placeholder_is_left() {
        for kind in KINDS {
            let files = rust_files("my-plugin", kind).unwrap_or_default();
            assert!(!files.is_empty(), "{kind}");
            for (path, text, _) in &files {
                for placeholder in [
                    "{{name}}",
                    "{{crate}}",
                    "{{kind}}",
                    "{{summary}}",
                    "{{grant}}",
                    "{{first_case}}",
                ] {
                    assert!(
                        !text.contains(placeholder),
                        "{kind}: {path} keeps {placeholder}"
                    );
                }
            }
        }
    }
}
