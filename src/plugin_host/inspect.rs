//! Install-time checks: is this a component, does it import only what kith provides, and
//! does it export what its kind must.
//!
//! The allow-list is by interface name: `kith:plugin/log` (and `types`) and the WASI p2 interfaces Rust's
//! std links (cli, io, clocks, random, filesystem: harmless, since the context is empty and
//! has no preopens). Sockets and http are refused by name; anything else is unknown.

use super::cache::{CacheOutcome, CompileCache};
use super::limits::MAX_WASM_BYTES;
use super::manifest::{API_VERSIONS, Kind};
use super::runtime::Runtime;
use super::{PluginError, sha256_hex};
use serde::Serialize;
use std::time::Duration;

/// What the checks found in an accepted component.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    pub sha256: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// How long compiling took, or `None` when the cache had it.
    pub compile_time: Option<Duration>,
}

const ALLOWED_PREFIXES: &[&str] = &[
    "wasi:cli/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:filesystem/",
];

pub fn inspect(
    runtime: &Runtime,
    cache: &CompileCache,
    kind: Kind,
    wasm: &[u8],
) -> Result<Inspection, PluginError> {
    if wasm.len() > MAX_WASM_BYTES {
        return Err(PluginError::TooLarge {
            size: wasm.len(),
            limit: MAX_WASM_BYTES,
        });
    }
    check_header(wasm)?;
    let sha256 = sha256_hex(wasm);
    let engine = runtime.engine();
    let (component, outcome) = cache
        .load_or_compile(engine, wasm, &sha256)
        .map_err(|e| PluginError::Malformed(format!("{e:#}")))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    for import in &imports {
        check_import(import)?;
    }
    let expected = kind.export_interface();
    let speaks = |export: &String| {
        API_VERSIONS
            .iter()
            .any(|api| export.starts_with(&format!("{expected}@{api}.")))
    };
    if !exports.iter().any(speaks) {
        return Err(PluginError::WrongKind {
            kind,
            expected,
            found: if exports.is_empty() {
                "nothing".into()
            } else {
                exports.join(", ")
            },
        });
    }
    // Links it as the call will: catches a mistyped export or an import kith cannot satisfy.
    runtime.link(kind, component)?;
    Ok(Inspection {
        sha256,
        imports,
        exports,
        compile_time: match outcome {
            CacheOutcome::Hit => None,
            CacheOutcome::Compiled(took) => Some(took),
        },
    })
}

/// Tells garbage, core modules and components apart before wasmtime sees the bytes.
fn check_header(wasm: &[u8]) -> Result<(), PluginError> {
    if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
        return Err(PluginError::NotWasm);
    }
    // Bytes 4..8: version and layer. Core modules are 1/0, components 0x0d/1.
    match wasm[4..8] {
        [1, 0, 0, 0] => Err(PluginError::CoreModule),
        [_, _, 1, 0] => Ok(()),
        _ => Err(PluginError::Malformed(
            "unknown WebAssembly version or layer".into(),
        )),
    }
}

fn check_import(import: &str) -> Result<(), PluginError> {
    let forbidden = |why| {
        Err(PluginError::ForbiddenImport {
            import: import.to_string(),
            why,
        })
    };
    if import.starts_with("wasi:sockets/") {
        return forbidden("plugins get no network");
    }
    if import.starts_with("wasi:http/") {
        return forbidden("plugins get no network");
    }
    // `types` holds only type definitions; worlds that `use` it import it implicitly.
    for ours in ["kith:plugin/log@", "kith:plugin/types@"] {
        if let Some(rest) = import.strip_prefix(ours)
            && API_VERSIONS
                .iter()
                .any(|api| rest.starts_with(&format!("{api}.")))
        {
            return Ok(());
        }
    }
    if ALLOWED_PREFIXES.iter().any(|p| import.starts_with(p)) {
        return Ok(());
    }
    Err(PluginError::UnknownImport {
        import: import.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_garbage_modules_and_components_apart() {
        assert!(matches!(
            check_header(b"hello world"),
            Err(PluginError::NotWasm)
        ));
        assert!(matches!(
            check_header(b"\0asm\x01\0\0\0"),
            Err(PluginError::CoreModule)
        ));
        assert!(check_header(b"\0asm\x0d\0\x01\0").is_ok());
    }

    #[test]
    fn imports_are_checked_by_name() {
        assert!(check_import("kith:plugin/log@0.1.0").is_ok());
        assert!(check_import("kith:plugin/types@0.1.0").is_ok());
        assert!(check_import("wasi:cli/environment@0.2.6").is_ok());
        for (import, forbidden) in [
            ("wasi:sockets/tcp@0.2.0", true),
            ("wasi:http/outgoing-handler@0.2.0", true),
            ("evil:x/y", false),
            ("kith:plugin/log@9.0.0", false),
        ] {
            match check_import(import) {
                Err(PluginError::ForbiddenImport { import: named, .. }) if forbidden => {
                    assert_eq!(named, import)
                }
                Err(PluginError::UnknownImport { import: named }) if !forbidden => {
                    assert_eq!(named, import)
                }
                other => panic!("{import}: {other:?}"),
            }
        }
    }
}
