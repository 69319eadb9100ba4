//! The process-wide engine, its epoch ticker and linker, and the generated bindings.
//!
//! One [`wasmtime::Engine`] per process: Cranelift, fuel and epochs on, no GC, threads or
//! component-model async. The linker offers exactly `kith:plugin/log` and WASI p2 (for Rust
//! std), whose context is built empty per call in `call`.

use super::PluginError;
use super::limits::{EPOCH_TICK, MAX_WASM_STACK};
use super::manifest::Kind;
use std::sync::OnceLock;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine};

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

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

impl Runtime {
    /// The process's runtime, started on first use (with its epoch ticker thread).
    pub fn get() -> Result<&'static Runtime, PluginError> {
        RUNTIME
            .get_or_init(|| Runtime::start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| PluginError::Runtime(e.clone()))
    }

    fn start() -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .wasm_component_model(true)
            .concurrency_support(false)
            .wasm_gc(false);
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

    /// Resolves `component`'s imports and finds the export its kind calls.
    ///
    /// # Errors
    /// The component needs an import kith does not link, or lacks (or mistypes) its export.
    pub fn link(&self, kind: Kind, component: Component) -> wasmtime::Result<Loaded> {
        let pre: InstancePre<HostState> = self.linker.instantiate_pre(&component)?;
        let pre = match kind {
            Kind::TraitValidator => Pre::Validator(TraitValidatorPre::new(pre)?),
            Kind::InviteDelivery => Pre::Delivery(InviteDeliveryPre::new(pre)?),
            Kind::ImportMapper => Pre::Mapper(ImportMapperPre::new(pre)?),
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
