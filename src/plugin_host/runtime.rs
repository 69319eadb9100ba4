//! The process-wide engine, its epoch ticker and linker, and the generated bindings.
//!
//! One [`wasmtime::Engine`] per process: Cranelift, fuel and epochs on, no GC, threads or
//! component-model async. The linker offers exactly `kith:plugin/log` and WASI p2 (for Rust
//! std), whose context is built empty per call in `call`.

use super::PluginError;
use super::limits::{
    EPOCH_TICK, MAX_CORE_INSTANCES, MAX_MEMORIES, MAX_TABLE_ELEMENTS, MAX_TABLES, MAX_WASM_STACK,
};
use super::manifest::Kind;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Generated host bindings for the worlds of `plugins/wit`.
pub mod bindings {
    /// `world sdk`: only the `log` import, shared by every world below.
    pub mod sdk {
        wasmtime::component::bindgen!({
            path: "plugins/wit",
            world: "sdk",
            imports: { default: trappable },
        });
    }
    pub mod validator {
        wasmtime::component::bindgen!({
            path: "plugins/wit",
            world: "trait-validator",
            with: { "kith:plugin/log": super::sdk::kith::plugin::log },
        });
    }
    pub mod delivery {
        wasmtime::component::bindgen!({
            path: "plugins/wit",
            world: "invite-delivery",
            with: {
                "kith:plugin/log": super::sdk::kith::plugin::log,
                "kith:plugin/types": super::validator::kith::plugin::types,
            },
        });
    }
    /// `kith:plugin@0.2.0` (`plugins/wit-0.2`): only invite delivery differs from 0.1.0
    /// (e-mail and HTTP plans), so only its world and `log` are bound from it.
    pub mod sdk_v0_2 {
        wasmtime::component::bindgen!({
            path: "plugins/wit-0.2",
            world: "sdk",
            imports: { default: trappable },
        });
    }
    pub mod delivery_v0_2 {
        wasmtime::component::bindgen!({
            path: "plugins/wit-0.2",
            world: "invite-delivery",
            with: { "kith:plugin/log": super::sdk_v0_2::kith::plugin::log },
        });
    }
    pub mod mapper {
        wasmtime::component::bindgen!({
            path: "plugins/wit",
            world: "import-mapper",
            with: {
                "kith:plugin/log": super::sdk::kith::plugin::log,
                "kith:plugin/types": super::validator::kith::plugin::types,
            },
        });
    }
    pub mod migration {
        wasmtime::component::bindgen!({
            path: "plugins/wit",
            world: "password-migration",
            with: {
                "kith:plugin/log": super::sdk::kith::plugin::log,
                "kith:plugin/types": super::validator::kith::plugin::types,
            },
        });
    }
}

use bindings::{
    delivery::InviteDeliveryPre, delivery_v0_2::InviteDeliveryPre as InviteDeliveryV02Pre,
    mapper::ImportMapperPre, migration::PasswordMigrationPre, validator::TraitValidatorPre,
};

pub use super::call::HostState;

/// The engine and linker every plugin of this process shares.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
}

/// Instances the pool holds. Calls running at once are fewer still (see [`Slot`]), so the
/// pool is never exhausted: a call waits for a slot instead of failing.
const POOL_SLOTS: u32 = 64;
/// Bytes of a pooled memory reset in place rather than returned to the kernel after a call:
/// with PAGEMAP_SCAN only the pages a call touched are reset, so this can be generous;
/// without it the whole amount is zeroed every call, so it must stay small.
fn keep_resident() -> usize {
    if pagemap_scan_available() {
        4 << 20
    } else {
        256 << 10
    }
}

/// Whether the kernel has the PAGEMAP_SCAN ioctl (Linux 6.7 and later).
fn pagemap_scan_available() -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse::<u32>().ok());
    let (Some(major), Some(minor)) = (numbers.next(), numbers.next()) else {
        return false;
    };
    (major, minor) >= (6, 7)
}
/// The most memory any plugin kind may be granted (an import mapper's ceiling).
const MAX_PLUGIN_MEMORY: usize = 512 << 20;

fn pool_config() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    // Every slot may hold the most a call's store may create (`limits`), so calls in flight
    // (never more than the slots) never find the pool exhausted, whatever language their
    // plugins are written in. Core instances are only counted here (their contexts are
    // allocated per call), so a Python plugin's 38 cost nothing up front. Each memory slot
    // reserves address space for MAX_PLUGIN_MEMORY plus guard pages, but only pages a call
    // touched are ever resident (README, "Plugins in JavaScript and Python", measures it).
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let per_slot = |n: usize| POOL_SLOTS.saturating_mul(count(n));
    pool.total_component_instances(POOL_SLOTS)
        .total_core_instances(per_slot(MAX_CORE_INSTANCES))
        .max_core_instances_per_component(count(MAX_CORE_INSTANCES))
        .total_memories(per_slot(MAX_MEMORIES))
        .total_tables(per_slot(MAX_TABLES))
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(MAX_PLUGIN_MEMORY)
        // A call touches a few dozen pages of its memory. With PAGEMAP_SCAN (Linux 6.7+)
        // wasmtime finds exactly those and resets them in place, up to this much, instead of
        // an madvise per call, whose TLB shootdowns stall every other thread of the server
        // (two threads calling at once ran each call about three times slower). Elsewhere it
        // resets this many low bytes in place and madvises the rest, as before.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(keep_resident())
        .table_keep_resident(64 << 10);
    pool
}

/// Calls in flight. Taken and given back with one atomic operation while under the limit; the
/// mutex and condvar are only for callers that must wait (a server with dozens of request
/// threads calls much more often than it has to wait).
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);
/// Callers waiting for a place, and where they wait.
static WAITING: AtomicU32 = AtomicU32::new(0);
static FREED: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

/// Calls that may run at once: two per core. Calls are CPU-bound; more at once only adds
/// context switches (a server may have dozens of threads calling validators).
fn max_in_flight() -> u32 {
    static MAX: OnceLock<u32> = OnceLock::new();
    *MAX.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        u32::try_from(cores * 2)
            .unwrap_or(POOL_SLOTS)
            .clamp(2, POOL_SLOTS)
    })
}

/// A permit to run one call, held for its length.
pub struct Slot(());

impl Slot {
    /// Waits until fewer than [`max_in_flight`] calls run and takes a place.
    pub fn take() -> Slot {
        let limit = max_in_flight();
        if Self::try_take(limit) {
            return Slot(());
        }
        let (lock, freed) = &FREED;
        let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        WAITING.fetch_add(1, Ordering::SeqCst);
        // Checked under the lock: a place given back after this check is announced only once
        // this caller waits (the giver takes the lock to notify), so no wake-up is lost.
        while !Self::try_take(limit) {
            guard = freed.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
        WAITING.fetch_sub(1, Ordering::SeqCst);
        Slot(())
    }

    fn try_take(limit: u32) -> bool {
        IN_FLIGHT
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
        if WAITING.load(Ordering::SeqCst) > 0 {
            let (lock, freed) = &FREED;
            let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            freed.notify_one();
        }
    }
}

impl Runtime {
    /// A new engine and linker, with its epoch ticker thread. With `pooled`, instances come
    /// from wasmtime's pooling allocator: memory and table slots made once, instead of an
    /// mmap and munmap per call (whose TLB shootdowns cost more than the call itself once
    /// many threads call at once). Reserving the pool costs milliseconds, so only
    /// long-running processes (`kith serve`) ask for it.
    pub fn start(pooled: bool) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .wasm_component_model(true)
            .concurrency_support(false)
            .wasm_gc(false);
        if pooled {
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config()));
        }
        let engine = Engine::new(&config)?;
        // The ticker holds a weak handle, so it never keeps an engine alive on its own.
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("kith-plugin-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::sdk::kith::plugin::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h)?;
        bindings::sdk_v0_2::kith::plugin::log::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h)?;
        Ok(Runtime { engine, linker })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Resolves `component`'s imports, finds the export its kind calls and checks its type.
    ///
    /// # Errors
    /// [`PluginError::Unloadable`] when the component needs an import kith does not link or
    /// lacks its export; [`PluginError::WrongExportType`] when the export is mistyped.
    pub fn link(&self, kind: Kind, component: Component) -> Result<Loaded, PluginError> {
        let unloadable = |e: wasmtime::Error| PluginError::Unloadable(format!("{e:#}"));
        let pre: InstancePre<HostState> = self
            .linker
            .instantiate_pre(&component)
            .map_err(unloadable)?;
        let api = super::worlds::api_of(kind, &pre);
        super::worlds::check_export_type(kind, api, &pre)?;
        let pre = match (kind, api) {
            (Kind::TraitValidator, _) => {
                Pre::Validator(TraitValidatorPre::new(pre).map_err(unloadable)?)
            }
            (Kind::InviteDelivery, super::worlds::Api::V0_2) => {
                Pre::DeliveryV02(InviteDeliveryV02Pre::new(pre).map_err(unloadable)?)
            }
            (Kind::InviteDelivery, _) => {
                Pre::Delivery(InviteDeliveryPre::new(pre).map_err(unloadable)?)
            }
            (Kind::ImportMapper, _) => Pre::Mapper(ImportMapperPre::new(pre).map_err(unloadable)?),
            (Kind::PasswordMigration, _) => {
                Pre::Migration(PasswordMigrationPre::new(pre).map_err(unloadable)?)
            }
        };
        Ok(Loaded {
            engine: self.engine.clone(),
            pre,
        })
    }
}

/// A compiled component, linked and ready to instantiate once per call.
pub struct Loaded {
    pub engine: Engine,
    pub pre: Pre,
}

pub enum Pre {
    Validator(TraitValidatorPre<HostState>),
    Delivery(InviteDeliveryPre<HostState>),
    DeliveryV02(InviteDeliveryV02Pre<HostState>),
    Mapper(ImportMapperPre<HostState>),
    Migration(PasswordMigrationPre<HostState>),
}
