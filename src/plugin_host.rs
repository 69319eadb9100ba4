//! plugin_host: runs sandboxed WebAssembly plugins, and the only module that names wasmtime.
//!
//! A plugin is a WebAssembly component of one of the worlds of `plugins/wit`
//! (`kith:plugin@0.1.0`). This module checks components before they are stored (header,
//! import allow-list, exports against the kind), compiles them through a disk cache, and runs
//! each call in a fresh store under fuel, memory, wall-clock and size limits. Every
//! misbehaviour becomes a [`Fault`] naming the plugin and its version; nothing a plugin does
//! may crash or hang kith. It does not know about the store or the flows: the flows hand it
//! bytes and config, and decide what a verdict means.

mod cache;
mod call;
mod folder;
mod inspect;
mod limits;
mod manifest;
mod runtime;
mod worlds;

pub use cache::CompileCache;
pub use call::{LogLine, Report};
pub use folder::{read_component, read_manifest};
pub use inspect::Inspection;
pub use limits::Limits;
pub use manifest::{KNOWN_CAPABILITIES, Kind, Manifest, check_name as check_plugin_name};
pub use worlds::{
    EmailMessage, HttpPost, Invite, MigrationAttempt, OutboxFile, Plan, Verdict,
    check_file_name as check_outbox_name,
};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock};

/// One refusal of one field, as a plugin reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// RFC 6901 pointer into the plugin's input (the traits, for validators).
    pub pointer: String,
    /// A stable machine-readable code, e.g. `domain_denied`.
    pub code: String,
    pub message: String,
}

/// Why a component is refused at install (or cannot be loaded).
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin.toml: {0}")]
    Manifest(String),
    #[error("the file is not WebAssembly (it does not start with \\0asm)")]
    NotWasm,
    #[error(
        "the file is a core WebAssembly module, not a component; build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule,
    #[error("the component is malformed or truncated: {0}")]
    Malformed(String),
    /// The component compiles, but kith cannot instantiate it: a mistyped export, or a
    /// memory or table that is bigger from the start than any plugin may have.
    #[error("the component cannot be loaded as kith runs plugins: {0}")]
    Unloadable(String),
    #[error("the component is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the component imports `{import}`, which kith never grants: {why}")]
    ForbiddenImport { import: String, why: &'static str },
    #[error(
        "the component imports `{import}`, which kith does not provide (allowed: kith:plugin/log and the wasi cli, io, clocks, random and filesystem interfaces)"
    )]
    UnknownImport { import: String },
    #[error(
        "the component does not export `{expected}@0.1.x` or `@0.2.x` as a {kind} must (it exports: {found})"
    )]
    WrongKind {
        kind: Kind,
        expected: &'static str,
        found: String,
    },
    #[error("the wasm runtime could not start: {0}")]
    Runtime(String),
    #[error("cannot read {path}: {problem}")]
    Unreadable { path: String, problem: String },
    /// A manifest's path that leaves the plugin's folder (`..`, absolute, or a symlink).
    #[error(
        "`{path}` leads to {resolved}, outside the plugin folder {folder}; a plugin's files must be inside its folder (a component built elsewhere can be given with --wasm FILE)"
    )]
    OutsideFolder {
        path: String,
        resolved: String,
        folder: String,
    },
    #[error("{path} is a {kind}, not a regular file")]
    NotAFile { path: String, kind: &'static str },
    #[error("{path} is {size} bytes; the limit is {limit}")]
    FileTooLarge { path: String, size: u64, limit: u64 },
    /// An export of the right name whose function type is not the one the world declares.
    #[error(
        "the component exports `{export}` as `{found}`; a {kind} must export it as `{expected}`"
    )]
    WrongExportType {
        kind: Kind,
        export: String,
        found: String,
        expected: &'static str,
    },
}

/// What went wrong inside (or around) one plugin call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The call used up its fuel (an endless or too-long computation).
    OutOfFuel,
    /// The call ran past its wall-clock deadline.
    Timeout,
    /// The plugin asked for more memory than its limit.
    MemoryExhausted,
    /// The plugin recursed past the wasm stack.
    StackOverflow,
    /// The plugin panicked (or aborted); the message is its own when it gave one.
    Panic,
    /// The plugin logged or printed far past its quota.
    LogFlood,
    /// The input was larger than the plugin's kind accepts.
    InputTooLarge,
    /// The result was larger than the plugin's kind may return.
    OutputTooLarge,
    /// The result broke the contract (not JSON, an unsafe file name, ...).
    BadOutput,
    /// The plugin refused the call itself (a delivery plugin's error string).
    Failed,
    /// Any other trap, or the plugin could not be loaded or instantiated.
    Trap,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::OutOfFuel => "out of fuel",
            FaultKind::Timeout => "timeout",
            FaultKind::MemoryExhausted => "memory exhausted",
            FaultKind::StackOverflow => "stack overflow",
            FaultKind::Panic => "panic",
            FaultKind::LogFlood => "log flood",
            FaultKind::InputTooLarge => "input too large",
            FaultKind::OutputTooLarge => "output too large",
            FaultKind::BadOutput => "bad output",
            FaultKind::Failed => "failed",
            FaultKind::Trap => "trap",
        }
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin call that did not produce a usable result, naming the plugin and its version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin} {version}: {kind}: {message}")]
pub struct Fault {
    pub plugin: String,
    pub version: String,
    pub kind: FaultKind,
    pub message: String,
}

/// A plugin ready to call: what the store keeps, without the store.
#[derive(Clone, Debug)]
pub struct Plugin {
    pub manifest: Manifest,
    /// The effective config: the manifest's defaults with install-time overrides.
    pub config: BTreeMap<String, String>,
    pub wasm: Arc<Vec<u8>>,
    /// Hex sha256 of `wasm`.
    pub sha256: String,
}

impl Plugin {
    pub fn limits(&self) -> Limits {
        Limits::for_plugin(self.manifest.kind, &self.manifest.limits)
    }

    fn fault(&self, kind: FaultKind, message: impl Into<String>) -> Fault {
        Fault {
            plugin: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            kind,
            message: message.into(),
        }
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::hex::lower_hex(&sha2::Sha256::digest(bytes))
}

/// Components linked so far, by sha256, each with the kind it was linked as.
type Linked = HashMap<String, Vec<(Kind, Arc<runtime::Loaded>)>>;

/// Compiled plugins of one kith handle: a disk cache and what this process has loaded.
pub struct PluginHost {
    cache: CompileCache,
    /// Linked components by sha256 (and the kind each was linked as). Read on every call,
    /// written once per component: a read lock, and no key built to look one up.
    loaded: RwLock<Linked>,
    /// Whether instances come from a pool (see [`runtime::Runtime::start`]).
    pooled: bool,
    /// The engine and linker, started on the first plugin this host loads or inspects.
    runtime: OnceLock<Result<runtime::Runtime, String>>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Default for PluginHost {
    fn default() -> Self {
        Self::new(CompileCache::from_env())
    }
}

impl PluginHost {
    pub fn new(cache: CompileCache) -> Self {
        Self {
            cache,
            loaded: RwLock::new(HashMap::new()),
            pooled: false,
            runtime: OnceLock::new(),
        }
    }

    /// Takes plugin instances from a pool made once (for a long-running server). Set before
    /// the first plugin is loaded; afterwards it changes nothing.
    pub fn set_pooled(&mut self) {
        self.pooled = true;
    }

    /// Keeps compiled code in `dir` instead of the platform cache dir.
    pub fn set_cache_dir(&mut self, dir: impl Into<PathBuf>) {
        self.cache = CompileCache::at(dir.into());
    }

    fn runtime(&self) -> Result<&runtime::Runtime, PluginError> {
        self.runtime
            .get_or_init(|| runtime::Runtime::start(self.pooled).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| PluginError::Runtime(e.clone()))
    }

    /// Uses `dir` for compiled code instead of the platform cache dir.
    pub fn with_cache_dir(dir: impl Into<PathBuf>) -> Self {
        Self::new(CompileCache::at(dir.into()))
    }

    /// Checks `wasm` as a component of `kind`: size, header, imports, exports. Compiles it
    /// (warming the cache) on the way.
    ///
    /// # Errors
    /// The [`PluginError`] that says what is wrong, naming the import or export at fault.
    pub fn inspect(&self, kind: Kind, wasm: &[u8]) -> Result<Inspection, PluginError> {
        let runtime = self.runtime()?;
        inspect::inspect(runtime, &self.cache, kind, wasm)
    }

    /// The compiled, linked form of `plugin`, from this process's memory or the disk cache.
    fn load(&self, plugin: &Plugin) -> Result<Arc<runtime::Loaded>, Fault> {
        let kind = plugin.manifest.kind;
        let find = |loaded: &Linked| {
            loaded
                .get(plugin.sha256.as_str())
                .and_then(|linked| linked.iter().find(|(k, _)| *k == kind))
                .map(|(_, ready)| ready.clone())
        };
        if let Some(found) = find(&self.loaded.read().unwrap_or_else(|p| p.into_inner())) {
            return Ok(found);
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = find(&loaded) {
            return Ok(found);
        }
        let runtime = self
            .runtime()
            .map_err(|e| plugin.fault(FaultKind::Trap, e.to_string()))?;
        if sha256_hex(&plugin.wasm) != plugin.sha256 {
            return Err(plugin.fault(
                FaultKind::Trap,
                "the stored component does not match its sha256; reinstall the plugin",
            ));
        }
        let (component, _) = self
            .cache
            .load_or_compile(runtime.engine(), &plugin.wasm, &plugin.sha256)
            .map_err(|e| plugin.fault(FaultKind::Trap, format!("could not compile: {e}")))?;
        let ready = runtime
            .link(plugin.manifest.kind, component)
            .map_err(|e| plugin.fault(FaultKind::Trap, e.to_string()))?;
        let ready = Arc::new(ready);
        loaded
            .entry(plugin.sha256.clone())
            .or_default()
            .push((kind, ready.clone()));
        Ok(ready)
    }

    /// Runs a trait validator on `traits` (JSON) of `schema_id`.
    ///
    /// # Errors
    /// A [`Fault`] when the plugin misbehaved; a refusal is `Ok(Report { output: Err(..) })`.
    pub fn validate(
        &self,
        plugin: &Plugin,
        schema_id: &str,
        traits_json: &str,
        now_unix_ms: u64,
    ) -> Result<Report<Result<(), Vec<FieldError>>>, Fault> {
        let loaded = self.load(plugin)?;
        worlds::validate(&loaded, plugin, schema_id, traits_json, now_unix_ms)
    }

    /// Runs a delivery plugin on `invite`; the plan's file names are checked here.
    ///
    /// # Errors
    /// A [`Fault`] when the plugin misbehaved or failed.
    pub fn deliver(
        &self,
        plugin: &Plugin,
        invite: &Invite,
        now_unix_ms: u64,
    ) -> Result<Report<Plan>, Fault> {
        let loaded = self.load(plugin)?;
        worlds::deliver(&loaded, plugin, invite, now_unix_ms)
    }

    /// Runs an import mapper on one foreign record; `Ok` holds createIdentityBody JSON text
    /// (checked to be one JSON object).
    ///
    /// # Errors
    /// A [`Fault`] when the plugin misbehaved or returned something that is not a JSON object.
    pub fn map_record(
        &self,
        plugin: &Plugin,
        record_json: &str,
        now_unix_ms: u64,
    ) -> Result<Report<Result<String, Vec<FieldError>>>, Fault> {
        let loaded = self.load(plugin)?;
        worlds::map_record(&loaded, plugin, record_json, now_unix_ms)
    }

    /// Asks a password-migration plugin whether `attempt`'s password is the one its legacy
    /// hash was made from.
    ///
    /// # Errors
    /// A [`Fault`] when the plugin misbehaved or returned an error (an unknown hash format, a
    /// broken config); its message never holds the password or the legacy hash.
    pub fn verify_legacy_password(
        &self,
        plugin: &Plugin,
        attempt: &MigrationAttempt,
        now_unix_ms: u64,
    ) -> Result<Report<Verdict>, Fault> {
        let loaded = self.load(plugin)?;
        worlds::verify_password(&loaded, plugin, attempt, now_unix_ms)
    }
}
