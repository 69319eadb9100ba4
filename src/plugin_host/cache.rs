//! The compile cache: compiled plugin code on disk, so a warm start skips Cranelift.
//!
//! Entries live in `<platform cache dir>/kith/plugins` (or `$KITH_CACHE_DIR`), named by the
//! wasm's sha256 and a hash of the engine's compatibility settings. Each file is the sha256
//! of its payload followed by the payload wasmtime serialized. A missing, truncated or
//! corrupt entry is recompiled and rewritten; kith never deserializes anything it did not
//! write here itself. Failing to write the cache is not an error: the call just compiles.

use sha2::Digest;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugin code is kept; `None` compiles every time.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialized from a cache entry.
    Hit,
    /// Compiled (no entry, or a damaged one), taking this long.
    Compiled(Duration),
}

impl CompileCache {
    /// `$KITH_CACHE_DIR`, else the platform cache dir's `kith/plugins`.
    pub fn from_env() -> Self {
        let dir = std::env::var_os("KITH_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                directories::ProjectDirs::from("", "", "kith")
                    .map(|dirs| dirs.cache_dir().join("plugins"))
            });
        Self { dir }
    }

    pub fn at(dir: PathBuf) -> Self {
        Self { dir: Some(dir) }
    }

    /// No disk cache at all.
    pub fn disabled() -> Self {
        Self { dir: None }
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The entry for `sha256` under `engine`'s settings.
    pub fn entry(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hasher.finish();
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{sha256}-{engine_key:016x}.cwasm")))
    }

    /// The compiled component for `wasm`, from the cache when a sound entry exists.
    ///
    /// # Errors
    /// Only if `wasm` does not compile.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry(engine, sha256);
        if let Some(path) = &entry
            && let Some(component) = read_entry(engine, path)
        {
            return Ok((component, CacheOutcome::Hit));
        }
        let started = Instant::now();
        let component = Component::new(engine, wasm)?;
        let took = started.elapsed();
        if let Some(path) = &entry
            && let Ok(payload) = component.serialize()
        {
            // Best effort: a read-only or full disk costs a recompile next time, nothing more.
            let _ = write_entry(path, &payload);
        }
        Ok((component, CacheOutcome::Compiled(took)))
    }
}

/// Reads a cache entry, or `None` when it is missing, damaged or from another engine.
fn read_entry(engine: &Engine, path: &Path) -> Option<Component> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() <= 32 {
        return None;
    }
    let (digest, payload) = bytes.split_at(32);
    if sha2::Sha256::digest(payload).as_slice() != digest {
        return None;
    }
    deserialize(engine, payload)
}

/// Turns bytes from kith's own cache back into a component.
///
/// Deserializing compiled code is `unsafe` because crafted bytes could run anything.
/// This is sound here because the bytes were written by `write_entry` of this very kith
/// (the entry is named by the wasm's sha256 and this engine's compatibility hash), their
/// sha256 matched the one written in front of them (so truncation and bit rot are caught
/// before this point), and wasmtime itself refuses artifacts from another version or
/// configuration with a safe `Err`. Nothing from a plugin folder or the store file ever
/// reaches this function: plugins ship `.wasm`, which is compiled, never `.cwasm`.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, payload: &[u8]) -> Option<Component> {
    // SAFETY: see above; `payload` is kith's own serialization, integrity-checked.
    unsafe { Component::deserialize(engine, payload) }.ok()
}

/// Writes an entry atomically (temporary file, then rename), readable by the owner only.
fn write_entry(path: &Path, payload: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(&sha2::Sha256::digest(payload))?;
    file.write_all(payload)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}
