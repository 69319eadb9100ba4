//! One plugin call: a fresh store and instance under the plugin's limits, the host side of
//! `log`, and the mapping of every way a call can end into a result or a [`Fault`]. What
//! each world passes in and checks on the way out is in `worlds`.
//!
//! Limits are armed before instantiation, so a start function or static initializer is
//! bounded like the call itself. The WASI context is empty: no env, args, preopens or
//! network; frozen clocks; a fixed random seed; stdout and stderr into capped pipes.

use super::limits::{Limits, Meter};
use super::runtime::Loaded;
use super::runtime::bindings::sdk::kith::plugin::log::{Host as LogHost, Level};
use super::{Fault, FaultKind, Plugin};
use serde::Serialize;
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// What a call returned, and what it cost.
#[derive(Clone, Debug, Serialize)]
pub struct Report<T> {
    pub output: T,
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    pub logs: Vec<LogLine>,
    /// Log lines past the quota, counted but not kept.
    pub logs_dropped: usize,
    /// What the plugin wrote to stdout and stderr (capped).
    pub stdio: String,
    #[serde(serialize_with = "serialize_duration")]
    pub duration: Duration,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// One line the plugin logged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// Most bytes a plugin may hand the host in one crossing (a log line, or its result).
const HOSTCALL_BYTES: usize = 1 << 20;

/// The per-call state wasmtime's store holds.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    meter: Meter,
    log: LogSink,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct LogSink {
    lines: Vec<LogLine>,
    dropped: usize,
    max_lines: usize,
    max_line_bytes: usize,
    flooded: bool,
}

impl LogHost for HostState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let sink = &mut self.log;
        if sink.lines.len() < sink.max_lines {
            let mut message = message;
            if message.len() > sink.max_line_bytes {
                let mut cut = sink.max_line_bytes;
                while !message.is_char_boundary(cut) {
                    cut -= 1;
                }
                message.truncate(cut);
                message.push_str(" [cut]");
            }
            sink.lines.push(LogLine {
                level: level_name(level),
                message,
            });
        } else {
            sink.dropped += 1;
            // Past ten times the quota the plugin is not logging but flooding: stop it.
            if sink.dropped > sink.max_lines * 9 {
                sink.flooded = true;
                return Err(wasmtime::format_err!("log flood"));
            }
        }
        Ok(())
    }
}

/// `log` of `kith:plugin@0.2.0`: the same sink.
impl super::runtime::bindings::sdk_v0_2::kith::plugin::log::Host for HostState {
    fn log(
        &mut self,
        level: super::runtime::bindings::sdk_v0_2::kith::plugin::log::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        use super::runtime::bindings::sdk_v0_2::kith::plugin::log::Level as V02;
        let level = match level {
            V02::Debug => Level::Debug,
            V02::Info => Level::Info,
            V02::Warn => Level::Warn,
            V02::Error => Level::Error,
        };
        LogHost::log(self, level, message)
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// Clocks that always read the Unix epoch: plugins are given time, not a clock.
struct Frozen;

impl wasmtime_wasi::HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Runs `work` once in a fresh store armed with `plugin`'s limits.
pub(super) fn run<T>(
    loaded: &Loaded,
    plugin: &Plugin,
    input_bytes: usize,
    work: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<T>,
) -> Result<Report<T>, Fault> {
    let limits = plugin.limits();
    if input_bytes > limits.max_input_bytes {
        return Err(plugin.fault(
            FaultKind::InputTooLarge,
            format!(
                "the input is {input_bytes} bytes; a {} takes at most {}",
                plugin.manifest.kind, limits.max_input_bytes
            ),
        ));
    }
    let _slot = super::runtime::Slot::take();
    let stdio = MemoryOutputPipe::new(limits.stdio_bytes);
    let wasi = WasiCtxBuilder::new()
        .stdout(stdio.clone())
        .stderr(stdio.clone())
        .wall_clock(Frozen)
        .monotonic_clock(Frozen)
        .insecure_random_seed(0)
        .secure_random(wasmtime_wasi::Deterministic::new(vec![42; 64]))
        .max_random_size(64 << 10)
        .allow_blocking_current_thread(true)
        .build();
    let mut table = ResourceTable::new();
    table.set_max_capacity(256);
    let state = HostState {
        wasi,
        table,
        meter: Meter::new(&limits),
        log: LogSink {
            lines: Vec::new(),
            dropped: 0,
            max_lines: limits.log_lines,
            max_line_bytes: limits.log_line_bytes,
            flooded: false,
        },
    };
    let mut store = Store::new(&loaded.engine, state);
    store.limiter(|state| &mut state.meter);
    store
        .set_fuel(limits.fuel)
        .map_err(|e| plugin.fault(FaultKind::Trap, e.to_string()))?;
    store.set_epoch_deadline(limits.epoch_ticks());
    store.epoch_deadline_trap();
    store.set_hostcall_fuel(HOSTCALL_BYTES);
    let started = Instant::now();
    let outcome = work(&mut store);
    let duration = started.elapsed();
    let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
    let stdio_text = String::from_utf8_lossy(&stdio.contents()).into_owned();
    let state = store.into_data();
    match outcome {
        Ok(output) => Ok(Report {
            output,
            fuel_used,
            peak_memory_bytes: state.meter.peak_memory_bytes as u64,
            logs: state.log.lines,
            logs_dropped: state.log.dropped,
            stdio: stdio_text,
            duration,
        }),
        Err(error) => Err(classify(plugin, &limits, &error, &state, &stdio_text)),
    }
}

/// Names what ended a call that trapped or failed to start.
fn classify(
    plugin: &Plugin,
    limits: &Limits,
    error: &wasmtime::Error,
    state: &HostState,
    stdio: &str,
) -> Fault {
    let detail = format!("{error:#}");
    let (kind, message) = if state.log.flooded {
        (
            FaultKind::LogFlood,
            format!("logged more than {} lines", limits.log_lines * 10),
        )
    } else if detail.contains("beyond capacity of MemoryOutputPipe")
        || stdio.len() + 1024 >= limits.stdio_bytes
    {
        (
            FaultKind::LogFlood,
            format!(
                "wrote more than {} bytes to stdout/stderr",
                limits.stdio_bytes
            ),
        )
    } else if detail.contains("fuel allocated for hostcalls has been exhausted") {
        (
            FaultKind::OutputTooLarge,
            format!(
                "sent more than {} MiB to the host in one go",
                HOSTCALL_BYTES >> 20
            ),
        )
    } else if let Some(trap) = error.downcast_ref::<Trap>() {
        match trap {
            Trap::OutOfFuel => (
                FaultKind::OutOfFuel,
                format!("used up its {} units of fuel", limits.fuel),
            ),
            Trap::Interrupt => (
                FaultKind::Timeout,
                format!("ran past its {} ms deadline", limits.timeout.as_millis()),
            ),
            Trap::StackOverflow => (FaultKind::StackOverflow, "call stack exhausted".into()),
            _ if state.meter.memory_denied => memory(limits),
            Trap::UnreachableCodeReached => (FaultKind::Panic, panic_message(state, stdio)),
            other => (FaultKind::Trap, other.to_string()),
        }
    } else if state.meter.memory_denied {
        memory(limits)
    } else {
        (FaultKind::Trap, detail)
    };
    plugin.fault(kind, message)
}

fn memory(limits: &Limits) -> (FaultKind, String) {
    (
        FaultKind::MemoryExhausted,
        format!(
            "asked for more than its {} MiB of memory",
            limits.memory_bytes >> 20
        ),
    )
}

/// The plugin's own words for its panic: the SDK hook's log line, else the stderr tail.
fn panic_message(state: &HostState, stdio: &str) -> String {
    if let Some(line) = state
        .log
        .lines
        .iter()
        .rev()
        .find(|l| l.message.starts_with("panic: "))
    {
        return line.message["panic: ".len()..].to_string();
    }
    // The last lines, in the order they were written. Rust's hint about RUST_BACKTRACE is
    // dropped: a plugin has no environment to set it in.
    let lines: Vec<&str> = stdio
        .trim()
        .lines()
        .filter(|l| !l.starts_with("note: run with `RUST_BACKTRACE"))
        .collect();
    let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
    if tail.is_empty() {
        "the plugin aborted (wasm `unreachable`) without a message".into()
    } else {
        tail.chars().take(1024).collect()
    }
}

impl<T> Report<T> {
    /// The same costs and logs with the output converted.
    pub fn map<U>(self, convert: impl FnOnce(T) -> U) -> Report<U> {
        Report {
            output: convert(self.output),
            fuel_used: self.fuel_used,
            peak_memory_bytes: self.peak_memory_bytes,
            logs: self.logs,
            logs_dropped: self.logs_dropped,
            stdio: self.stdio,
            duration: self.duration,
        }
    }

    /// The same costs and logs with another output.
    pub fn with_output<U>(self, output: U) -> Report<U> {
        self.map(|_| output)
    }
}
