//! The process-wide engine, its epoch ticker and linker, and the generated bindings.
//!
//! One [`wasmtime::Engine`] per process: Cranelift, fuel and epochs on, no GC, threads or
//! component-model async. The linker offers exactly `kith:plugin/log` and WASI p2 (for Rust
//! std), whose context is built empty per call in `call`.

use super::PluginError;
use super::limits::{EPOCH_TICK, MAX_WASM_STACK};
use super::manifest::Kind;
use std::sync::OnceLock;
use std::sync::{Condvar, Mutex};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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
}

use bindings::{
    delivery::InviteDeliveryPre, mapper::ImportMapperPre, validator::TraitValidatorPre,
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
/// The most memory any plugin kind may be granted (an import mapper's ceiling).
const MAX_PLUGIN_MEMORY: usize = 512 << 20;

fn pool_config() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_SLOTS)
        .total_core_instances(POOL_SLOTS * 8)
        .total_memories(POOL_SLOTS * 2)
        .total_tables(POOL_SLOTS * 8)
        .max_memory_size(MAX_PLUGIN_MEMORY)
        // Small plugins touch little memory: zero it in place rather than fault it in again.
        .linear_memory_keep_resident(256 << 10)
        .table_keep_resident(64 << 10);
    pool
}

/// Counts calls in flight.
static IN_FLIGHT: (Mutex<u32>, Condvar) = (Mutex::new(0), Condvar::new());

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
        let (count, freed) = &IN_FLIGHT;
        let mut count = count.lock().unwrap_or_else(|p| p.into_inner());
        while *count >= limit {
            count = freed.wait(count).unwrap_or_else(|p| p.into_inner());
        }
        *count += 1;
        Slot(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (count, freed) = &IN_FLIGHT;
        *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        freed.notify_one();
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
        super::worlds::check_export_type(kind, &pre)?;
        let pre = match kind {
            Kind::TraitValidator => {
                Pre::Validator(TraitValidatorPre::new(pre).map_err(unloadable)?)
            }
            Kind::InviteDelivery => Pre::Delivery(InviteDeliveryPre::new(pre).map_err(unloadable)?),
            Kind::ImportMapper => Pre::Mapper(ImportMapperPre::new(pre).map_err(unloadable)?),
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
    Mapper(ImportMapperPre<HostState>),
}
