//! Per-call limits: defaults per kind, manifest requests clamped to host maxima, and the
//! store limiter that enforces memory and records its peak.
//!
//! Numbers follow the research (§9.3 of `wasm-plugin-host.md`). Fuel is the deterministic
//! CPU bound; the epoch deadline is the wall-clock backstop for what fuel misses.

use super::manifest::{Kind, LimitRequest};
use std::time::Duration;
use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// How often the epoch ticker advances the engine's epoch.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Largest component kith accepts (checked before compiling).
pub const MAX_WASM_BYTES: usize = 20 << 20;

/// The wasm stack of every call (set on the engine; a thread needs more than this).
pub const MAX_WASM_STACK: usize = 512 << 10;

const MIB: u64 = 1 << 20;

/// Core module instances one call may create. Each toolchain links a component from several
/// core modules, instantiated one by one; counted in their components (`jco print`) and
/// confirmed by calls: a Rust plugin (wit-bindgen, wasm32-wasip2) makes 3, a JavaScript one
/// (jco 1.35's QuickJS backend) 11, a Python one (componentize-py 0.25.1, `--stub-wasi`) 38:
/// libc, libpython 3.14 and four other shared libraries, componentize-py's runtime and
/// bindings, its init module, 25 adapters that stub WASI out, a shim and a fixup module.
/// An instance costs its module's globals and tables, and its memories are counted against
/// the memory limit, so the count is a sanity bound, not the memory bound.
pub const MAX_CORE_INSTANCES: usize = 38;

/// Linear memories and tables one call may create (defined ones; imported ones are shared).
/// Rust: 1 and 2; JavaScript (QuickJS): 3 and 3; Python: 1 and 2. Bytes are bounded by
/// [`Limits::memory_bytes`] and table elements by [`MAX_TABLE_ELEMENTS`], whatever the count.
pub const MAX_MEMORIES: usize = 4;
pub const MAX_TABLES: usize = 16;

/// Elements one table may hold: CPython's function table starts at 5,672 (componentize-py
/// 0.25.1), QuickJS's at 738.
pub const MAX_TABLE_ELEMENTS: usize = 50_000;

/// The limits one call runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub timeout: Duration,
    /// Largest input (traits, invite or record JSON) handed to the plugin.
    pub max_input_bytes: usize,
    /// Largest result, counted over every string and byte list in it.
    pub max_output_bytes: usize,
    /// Most field errors a result may carry.
    pub max_field_errors: usize,
    /// Log lines kept; past ten times this many the call traps.
    pub log_lines: usize,
    /// Longest log line kept (longer ones are cut).
    pub log_line_bytes: usize,
    /// What stdout and stderr may hold; writing past it traps.
    pub stdio_bytes: usize,
}

impl Limits {
    /// The defaults for a kind of plugin.
    pub fn defaults(kind: Kind) -> Self {
        let base = Limits {
            fuel: 100_000_000,
            memory_bytes: 64 * MIB,
            timeout: Duration::from_secs(1),
            max_input_bytes: 256 << 10,
            max_output_bytes: 1 << 20,
            max_field_errors: 1000,
            log_lines: 200,
            log_line_bytes: 2 << 10,
            stdio_bytes: 64 << 10,
        };
        match kind {
            Kind::TraitValidator => base,
            Kind::InviteDelivery => Limits {
                fuel: 200_000_000,
                timeout: Duration::from_secs(5),
                max_input_bytes: 64 << 10,
                max_output_bytes: 2 << 20,
                ..base
            },
            Kind::ImportMapper => Limits {
                fuel: 20_000_000,
                memory_bytes: 128 * MIB,
                max_input_bytes: 1 << 20,
                max_output_bytes: 1 << 20,
                ..base
            }, // One sign-in: a deliberately slow hash (yescrypt at its usual cost, 16 MiB and a
            // few hundred million instructions) must fit, and the answer is one word.
            Kind::PasswordMigration => Limits {
                fuel: 4_000_000_000,
                timeout: Duration::from_secs(5),
                max_input_bytes: 256 << 10,
                max_output_bytes: 4 << 10,
                ..base
            },
        }
    }

    /// The host's ceiling, whatever a manifest asks for.
    pub fn maxima() -> Self {
        Limits {
            fuel: 10_000_000_000,
            memory_bytes: 512 * MIB,
            timeout: Duration::from_secs(300),
            ..Limits::defaults(Kind::ImportMapper)
        }
    }

    /// The defaults for `kind` with `request` applied, each clamped to [`Limits::maxima`].
    pub fn for_plugin(kind: Kind, request: &LimitRequest) -> Self {
        let max = Self::maxima();
        let mut limits = Self::defaults(kind);
        if let Some(fuel) = request.fuel {
            limits.fuel = fuel.clamp(1, max.fuel);
        }
        if let Some(mib) = request.memory_mib {
            limits.memory_bytes = mib.saturating_mul(MIB).clamp(MIB, max.memory_bytes);
        }
        if let Some(ms) = request.timeout_ms {
            limits.timeout = Duration::from_millis(ms).clamp(EPOCH_TICK, max.timeout);
        }
        limits
    }

    /// The timeout in epoch ticks, plus one so a call always gets its full time.
    pub fn epoch_ticks(&self) -> u64 {
        (self.timeout.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
    }
}

/// [`StoreLimits`] plus what a report needs: the peak memory asked for, and whether a grow
/// was refused (a Rust guest turns that into an abort, which would otherwise read as a panic).
pub struct Meter {
    limits: StoreLimits,
    memory_cap: usize,
    pub peak_memory_bytes: usize,
    pub memory_denied: bool,
}

impl Meter {
    pub fn new(limits: &Limits) -> Self {
        let memory_cap = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        Meter {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_cap)
                .instances(MAX_CORE_INSTANCES)
                .tables(MAX_TABLES)
                .memories(MAX_MEMORIES)
                .table_elements(MAX_TABLE_ELEMENTS)
                .build(),
            memory_cap,
            peak_memory_bytes: 0,
            memory_denied: false,
        }
    }
}

impl ResourceLimiter for Meter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        if allowed {
            self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
        } else {
            self.memory_denied = self.memory_denied || desired > self.memory_cap;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_clamped_to_the_host_maxima() {
        let greedy = LimitRequest {
            fuel: Some(u64::MAX),
            memory_mib: Some(1 << 40),
            timeout_ms: Some(u64::MAX),
        };
        let limits = Limits::for_plugin(Kind::TraitValidator, &greedy);
        let max = Limits::maxima();
        assert_eq!(limits.fuel, max.fuel);
        assert_eq!(limits.memory_bytes, max.memory_bytes);
        assert_eq!(limits.timeout, max.timeout);
    }

    #[test]
    fn modest_requests_are_kept_and_defaults_differ_by_kind() {
        let modest = LimitRequest {
            fuel: Some(5_000),
            memory_mib: Some(16),
            timeout_ms: Some(250),
        };
        let limits = Limits::for_plugin(Kind::TraitValidator, &modest);
        assert_eq!(limits.fuel, 5_000);
        assert_eq!(limits.memory_bytes, 16 * MIB);
        assert_eq!(limits.epoch_ticks(), 26);
        assert_ne!(
            Limits::defaults(Kind::TraitValidator).timeout,
            Limits::defaults(Kind::InviteDelivery).timeout
        );
    }
}
