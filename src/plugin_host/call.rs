//! One plugin call: a fresh store and instance under the plugin's limits, the host side of
//! `log`, and the mapping of every way a call can end into a result or a [`Fault`].
//!
//! Limits are armed before instantiation, so a start function or static initializer is
//! bounded like the call itself. The WASI context is empty: no env, args, preopens or
//! network; frozen clocks; a fixed random seed; stdout and stderr into capped pipes.

use super::limits::{Limits, Meter};
use super::runtime::bindings::delivery as d;
use super::runtime::bindings::sdk::kith::plugin::log::{Host as LogHost, Level};
use super::runtime::bindings::validator::kith::plugin::types::{
    CallContext, FieldError as WitFieldError,
};
use super::runtime::{Loaded, Pre};
use super::{Fault, FaultKind, FieldError, Plugin};
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

/// An invite as a delivery plugin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Invite {
    pub recipient: String,
    pub recovery_link: String,
    pub recovery_code: String,
    pub expires_unix_ms: u64,
    pub traits_json: String,
}

/// A file a delivery plugin asks the host to write into the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxFile {
    pub name: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// What a delivery plugin asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "plan", content = "files", rename_all = "snake_case")]
pub enum Plan {
    Outbox(Vec<OutboxFile>),
    Nothing,
}

/// Most bytes a plugin may hand the host in one crossing (a log line, or its result).
const HOSTCALL_BYTES: usize = 1 << 20;

/// Most files one plan may ask for.
const MAX_PLAN_FILES: usize = 8;

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

fn context(plugin: &Plugin, now_unix_ms: u64) -> CallContext {
    CallContext {
        config: plugin
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        now_unix_ms,
    }
}

/// Runs `work` once in a fresh store armed with `plugin`'s limits.
fn run<T>(
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
    let tail: String = stdio
        .trim()
        .lines()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .join(" | ");
    if tail.is_empty() {
        "the plugin aborted (wasm `unreachable`) without a message".into()
    } else {
        tail.chars().take(1024).collect()
    }
}

/// Checks field errors against the output limits and converts them.
fn field_errors(
    plugin: &Plugin,
    limits: &Limits,
    errors: Vec<WitFieldError>,
) -> Result<Vec<FieldError>, Fault> {
    let size: usize = errors
        .iter()
        .map(|e| e.pointer.len() + e.code.len() + e.message.len())
        .sum();
    if errors.len() > limits.max_field_errors || size > limits.max_output_bytes {
        return Err(plugin.fault(
            FaultKind::OutputTooLarge,
            format!(
                "returned {} field errors ({size} bytes); at most {} errors and {} bytes are accepted",
                errors.len(),
                limits.max_field_errors,
                limits.max_output_bytes
            ),
        ));
    }
    Ok(errors
        .into_iter()
        .map(|e| FieldError {
            pointer: e.pointer,
            code: e.code,
            message: e.message,
        })
        .collect())
}

pub fn validate(
    loaded: &Loaded,
    plugin: &Plugin,
    schema_id: &str,
    traits_json: &str,
    now_unix_ms: u64,
) -> Result<Report<Result<(), Vec<FieldError>>>, Fault> {
    let Pre::Validator(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not a trait validator"));
    };
    let ctx = context(plugin, now_unix_ms);
    let report = run(loaded, plugin, traits_json.len(), |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_validator()
            .call_validate(store, &ctx, schema_id, traits_json)
    })?;
    let limits = plugin.limits();
    let output = match &report.output {
        Ok(()) => Ok(()),
        Err(errors) => Err(field_errors(plugin, &limits, errors.clone())?),
    };
    Ok(report.with_output(output))
}

pub fn deliver(
    loaded: &Loaded,
    plugin: &Plugin,
    invite: &Invite,
    now_unix_ms: u64,
) -> Result<Report<Plan>, Fault> {
    let Pre::Delivery(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not an invite delivery plugin"));
    };
    let ctx = context(plugin, now_unix_ms);
    let wit_invite = d::exports::kith::plugin::delivery::Invite {
        recipient: invite.recipient.clone(),
        recovery_link: invite.recovery_link.clone(),
        recovery_code: invite.recovery_code.clone(),
        expires_unix_ms: invite.expires_unix_ms,
        traits_json: invite.traits_json.clone(),
    };
    let input = invite.recipient.len()
        + invite.recovery_link.len()
        + invite.recovery_code.len()
        + invite.traits_json.len();
    let report = run(loaded, plugin, input, |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_delivery()
            .call_deliver(store, &ctx, &wit_invite)
    })?;
    let limits = plugin.limits();
    let plan = match &report.output {
        Err(message) => {
            let message: String = message.chars().take(1024).collect();
            return Err(plugin.fault(FaultKind::Failed, message));
        }
        Ok(d::exports::kith::plugin::delivery::Plan::Nothing) => Plan::Nothing,
        Ok(d::exports::kith::plugin::delivery::Plan::Outbox(files)) => {
            let size: usize = files.iter().map(|f| f.body.len() + f.name.len()).sum();
            if files.len() > MAX_PLAN_FILES || size > limits.max_output_bytes {
                return Err(plugin.fault(
                    FaultKind::OutputTooLarge,
                    format!(
                        "planned {} files ({size} bytes); at most {MAX_PLAN_FILES} files and {} bytes are accepted",
                        files.len(),
                        limits.max_output_bytes
                    ),
                ));
            }
            for file in files {
                check_file_name(&file.name).map_err(|why| {
                    plugin.fault(
                        FaultKind::BadOutput,
                        format!("outbox file name {:?} {why}", file.name),
                    )
                })?;
            }
            Plan::Outbox(
                files
                    .iter()
                    .map(|f| OutboxFile {
                        name: f.name.clone(),
                        content_type: f.content_type.clone(),
                        body: f.body.clone(),
                    })
                    .collect(),
            )
        }
    };
    Ok(report.with_output(plan))
}

/// A plan's file name must be a plain name inside the outbox, nothing more.
fn check_file_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 128 {
        return Err("must be 1 to 128 bytes");
    }
    if name.starts_with('.') {
        return Err("must not start with a dot");
    }
    if name.contains(['/', '\\', '\0', ':']) || name.chars().any(char::is_control) {
        return Err("must not contain separators or control characters");
    }
    Ok(())
}

pub fn map_record(
    loaded: &Loaded,
    plugin: &Plugin,
    record_json: &str,
    now_unix_ms: u64,
) -> Result<Report<Result<serde_json::Value, Vec<FieldError>>>, Fault> {
    let Pre::Mapper(pre) = &loaded.pre else {
        return Err(plugin.fault(FaultKind::Trap, "not an import mapper"));
    };
    let ctx = context(plugin, now_unix_ms);
    let report = run(loaded, plugin, record_json.len(), |store| {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .kith_plugin_mapper()
            .call_map_record(store, &ctx, record_json)
    })?;
    let limits = plugin.limits();
    let output = match &report.output {
        Ok(body) => {
            if body.len() > limits.max_output_bytes {
                return Err(plugin.fault(
                    FaultKind::OutputTooLarge,
                    format!(
                        "returned {} bytes; at most {} are accepted",
                        body.len(),
                        limits.max_output_bytes
                    ),
                ));
            }
            match serde_json::from_str::<serde_json::Value>(body) {
                Ok(value) if value.is_object() => Ok(value),
                _ => {
                    return Err(plugin.fault(
                        FaultKind::BadOutput,
                        "returned something that is not a JSON object (a createIdentityBody)",
                    ));
                }
            }
        }
        Err(errors) => Err(field_errors(plugin, &limits, errors.clone())?),
    };
    Ok(report.with_output(output))
}

impl<T> Report<T> {
    /// The same costs and logs with another output.
    pub fn with_output<U>(self, output: U) -> Report<U> {
        Report {
            output,
            fuel_used: self.fuel_used,
            peak_memory_bytes: self.peak_memory_bytes,
            logs: self.logs,
            logs_dropped: self.logs_dropped,
            stdio: self.stdio,
            duration: self.duration,
        }
    }
}
