//! http: `kith serve`, the Kratos admin API and the invite redemption page over HTTP.
//!
//! Two listeners, as in Kratos: the admin one (identities, batch, recovery; guarded by bearer
//! tokens) and the public one (the redemption page `recovery_link` points to, `/schemas`,
//! health). The library stays synchronous: every handler hands its work to one blocking task,
//! which checks the token again, runs one flow and returns; an admin request without a known
//! token is refused before its body is read. `listen` owns the sockets: timeouts and
//! connection caps. This module is thin: parse, call, answer.

mod admin;
mod courier;
mod listen;
mod log;
mod page;
mod public;
mod reply;
mod sessions;

pub use listen::{Caps, Limits};
pub use reply::ApiError;

use crate::error::{Error, Result};
use crate::flows::{Kith, StopSignal};
use axum::extract::Request;
pub use log::RequestLog;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Kratos' limit on admin request bodies.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// How long in-flight requests get to finish after SIGTERM before kith exits anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where `kith serve` listens and which store it serves.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub db: PathBuf,
    pub admin: SocketAddr,
    pub public: SocketAddr,
    /// Who the audit trail credits for changes not made through a token (redemptions).
    pub actor: String,
    /// Timeouts and connection caps.
    pub limits: Limits,
    /// Serve the admin API without tokens, as Kratos OSS does, for clients written for it;
    /// refused unless both listeners are on loopback.
    pub no_auth: bool,
    /// How each request is logged on stderr.
    pub request_log: RequestLog,
}

/// The addresses the listeners got (port 0 picks a free one).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bound {
    pub admin: String,
    pub public: String,
    pub version: String,
    /// False until `kith create token` has made one: every admin request is refused then.
    pub tokens: bool,
    /// The connection caps in force.
    pub limits: Caps,
    /// The admin API asks for no token (`--no-auth`).
    pub no_auth: bool,
}

/// What every handler shares: the open store.
#[derive(Clone)]
struct AppState {
    kith: Arc<Kith>,
    admin_url: Arc<AdminUrl>,
    tokens: Arc<admin::SeenTokens>,
    /// The admin API asks for no token (`--no-auth`, loopback only).
    no_auth: bool,
}

/// The base of `Location` and `Link`: the `admin_url` setting, or the admin listener's own
/// address while it is unset. Never the request's `Host`, which the client chooses.
struct AdminUrl {
    listener: String,
    /// The setting as last read, and when: read at most once a second, so the hot path of
    /// creates pays nothing and a change made by `kith set config` shows within a second.
    read: Mutex<Option<(Instant, String)>>,
}

impl AdminUrl {
    const FRESH_FOR: Duration = Duration::from_secs(1);

    /// The base URL, without a trailing slash. Called on a blocking thread; a store that
    /// cannot be read leaves the last known value (a write has already succeeded by now).
    fn current(&self, kith: &Kith) -> String {
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let stale = read
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= Self::FRESH_FOR);
        if stale {
            let setting = match kith.settings() {
                Ok(settings) => settings.admin_url,
                Err(_) => read
                    .as_ref()
                    .map(|(_, url)| url.clone())
                    .unwrap_or_default(),
            };
            *read = Some((Instant::now(), setting));
        }
        match read.as_ref() {
            Some((_, url)) if !url.is_empty() => url.trim_end_matches('/').to_string(),
            _ => self.listener.clone(),
        }
    }
}

impl AppState {
    /// Runs `work` on a blocking thread; the caller's request stays on the async side.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Kith) -> std::result::Result<T, ApiError> + Send + 'static,
    ) -> std::result::Result<T, ApiError> {
        let kith = Arc::clone(&self.kith);
        tokio::task::spawn_blocking(move || work(&kith))
            .await
            .map_err(|e| ApiError::from(Error::internal("request task failed", e)))?
    }
}

/// The version `/version` reports, as Kratos writes it.
fn version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// Serves until SIGTERM or SIGINT, then lets in-flight requests finish and returns.
/// `ready` is called once both listeners are bound.
///
/// # Errors
/// A listener cannot bind, a non-loopback address is asked for while the store has no
/// token, the connection caps do not fit under the open-file limit, or the store cannot be
/// opened.
pub fn serve(options: &ServeOptions, ready: impl FnOnce(&Bound)) -> Result<()> {
    // Before anything opens a file: every cap below is sized from the raised limit.
    let caps = listen::size_caps(&options.limits)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kith-serve")
        .build()
        .map_err(|e| Error::internal("could not start the async runtime", e))?;
    runtime.block_on(run(options, caps, ready))
}

/// Listens on `address` for the `listener` ("admin" or "public") API, which the command
/// line's `flag` picks.
async fn bind(
    listener: &'static str,
    flag: &'static str,
    address: SocketAddr,
) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| Error::CannotListen {
            listener,
            flag,
            address: address.to_string(),
            problem: e.to_string(),
        })
}

/// `http://address`, with the host's name for an unspecified address (0.0.0.0 or ::), as
/// Kratos does: that address can be bound but not reached.
fn listener_url(address: SocketAddr) -> String {
    if address.ip().is_unspecified() {
        // Linux names the host in /proc; Windows in COMPUTERNAME.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .map(|name| name.trim().to_string())
            .unwrap_or_default();
        if !host.is_empty() {
            return format!("http://{host}:{}", address.port());
        }
    }
    format!("http://{address}")
}

async fn run(options: &ServeOptions, caps: Caps, ready: impl FnOnce(&Bound)) -> Result<()> {
    let admin_listener = bind("admin", "--admin", options.admin).await?;
    let public_listener = bind("public", "--public", options.public).await?;
    let public_address = public_listener
        .local_addr()
        .map_err(|e| Error::internal("the public listener has no address", e))?;
    let admin_address = admin_listener
        .local_addr()
        .map_err(|e| Error::internal("the admin listener has no address", e))?;
    let public_url = format!("http://{public_address}");
    let kith = Kith::open(&options.db)?
        .with_pooled_plugins()
        .with_reader_connection()?
        .with_actor(options.actor.clone())
        .with_default_public_url(public_url.clone());
    let tokens = kith.has_tokens()?;
    for (what, address) in [("admin", options.admin), ("public", options.public)] {
        if options.no_auth && !address.ip().is_loopback() {
            return Err(Error::BadRequest(format!(
                "refusing --no-auth with the {what} listener on {address}: without tokens kith serves only loopback addresses (127.0.0.1, ::1)"
            )));
        }
        if !address.ip().is_loopback() && !tokens {
            return Err(Error::BadRequest(format!(
                "refusing to serve the {what} listener on {address}, beyond loopback, while the store has no API token; create one first (kith create token --name NAME)"
            )));
        }
    }
    // Watched before anyone is told the server is up, so an early SIGTERM is still graceful.
    let signals = Signals::watch()?;
    let state = AppState {
        kith: Arc::new(kith),
        admin_url: Arc::new(AdminUrl {
            listener: listener_url(admin_address),
            read: Mutex::new(None),
        }),
        tokens: Arc::default(),
        no_auth: options.no_auth,
    };
    let courier_stop = StopSignal::new();
    let courier_finished = start_courier(Arc::clone(&state.kith), courier_stop.clone());
    // Outermost, so every answer is logged, refusals and unknown paths included.
    let sink = log::LogSink::start(options.request_log);
    let logged = |router: axum::Router, listener: &'static str| {
        router.layer(axum::middleware::from_fn_with_state(
            (listener, sink.clone()),
            log::log_requests,
        ))
    };
    let admin = logged(admin::router(state.clone()), "admin");
    let public = logged(public::router(state), "public");
    ready(&Bound {
        admin: format!("http://{admin_address}"),
        public: public_url,
        version: version(),
        tokens,
        limits: caps,
        no_auth: options.no_auth,
    });

    let limits = options.limits;
    let guard = |listener, connections, per_peer| listen::Guarded {
        listener,
        connections: Arc::new(tokio::sync::Semaphore::new(connections)),
        per_peer,
        header_timeout: limits.header_timeout,
        body_timeout: limits.body_timeout,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let admin_server = tokio::spawn(listen::serve(
        guard(admin_listener, caps.admin_connections, None),
        admin,
        stopped.clone(),
    ));
    let public_server = tokio::spawn(listen::serve(
        guard(
            public_listener,
            caps.public_connections,
            Some(listen::PeerCap::new(caps.public_per_peer)),
        ),
        public,
        stopped,
    ));
    signals.wait().await;
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let _ = admin_server.await;
        let _ = public_server.await;
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "kith serve: requests still running after {}s; exiting anyway",
            DRAIN_TIMEOUT.as_secs()
        );
    }
    // A message being sent finishes (at most the courier's network timeout); one left
    // processing is sent again by the next worker.
    courier_stop.stop();
    let waited =
        tokio::task::spawn_blocking(move || courier_finished.recv_timeout(DRAIN_TIMEOUT)).await;
    if matches!(waited, Ok(Err(std::sync::mpsc::RecvTimeoutError::Timeout))) {
        eprintln!("kith serve: the courier was still sending; exiting anyway");
    }
    Ok(())
}

/// Kratos trims a trailing slash before routing; so does kith.
fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// Runs `work` on a thread of its own until it returns, or until SIGTERM or SIGINT, when
/// its stop signal is raised and it is waited for (`kith courier run`).
///
/// # Errors
/// The signals cannot be watched, or `work` panicked.
pub fn until_signal<T: Send>(work: impl FnOnce(&StopSignal) -> T + Send) -> Result<T> {
    let stop = StopSignal::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal("could not start the async runtime", e))?;
    std::thread::scope(|scope| {
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let stop_for_work = stop.clone();
        let worker = scope.spawn(move || {
            let output = work(&stop_for_work);
            let _ = done.send(());
            output
        });
        runtime.block_on(async {
            let signals = Signals::watch()?;
            tokio::select! {
                () = signals.wait() => stop.stop(),
                _ = finished => {}
            }
            Ok::<(), Error>(())
        })?;
        worker
            .join()
            .map_err(|_| Error::broken("the courier worker panicked"))
    })
}

/// Starts this server's courier worker on a thread of its own. While another worker (a
/// `kith courier run`) holds the store, that one sends and this one waits to take over. A
/// worker that fails (the store is busy for too long) starts again after a pause.
fn start_courier(kith: Arc<Kith>, stop: StopSignal) -> std::sync::mpsc::Receiver<()> {
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("kith-courier".into())
        .spawn(move || {
            if kith.courier_lock_is_held().unwrap_or(false) {
                eprintln!(
                    "kith serve: another courier worker (kith courier run) holds the store and sends what this server queues; this server's courier takes over when it stops"
                );
            }
            kith.run_courier_until_stopped(&stop, |error| {
                eprintln!("kith serve: courier: {error}; starting again in 5s");
            });
            let _ = done.send(());
        });
    if let Err(error) = spawned {
        eprintln!("kith serve: could not start the courier: {error}");
    }
    finished
}

/// SIGTERM and SIGINT, both of which stop the server gracefully.
#[cfg(unix)]
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn watch() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Error::internal(format!("cannot watch for {name}"), e))
        };
        Ok(Self {
            terminate: watch(SignalKind::terminate(), "SIGTERM")?,
            interrupt: watch(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
    }
}

/// Windows has no SIGTERM: Ctrl+C, Ctrl+Break, closing the console window and a system
/// shutdown are its console events, and each of them stops the server gracefully. (A service
/// manager's stop request is none of these; run `kith serve` under one that sends Ctrl+C.)
#[cfg(windows)]
struct Signals {
    interrupt: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
    close: tokio::signal::windows::CtrlClose,
    shutdown: tokio::signal::windows::CtrlShutdown,
}

#[cfg(windows)]
impl Signals {
    fn watch() -> Result<Self> {
        use tokio::signal::windows;
        let failed =
            |name: &'static str| move |e| Error::internal(format!("cannot watch for {name}"), e);
        Ok(Self {
            interrupt: windows::ctrl_c().map_err(failed("Ctrl+C"))?,
            brk: windows::ctrl_break().map_err(failed("Ctrl+Break"))?,
            close: windows::ctrl_close().map_err(failed("the console closing"))?,
            shutdown: windows::ctrl_shutdown().map_err(failed("a system shutdown"))?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.brk.recv() => {}
            _ = self.close.recv() => {}
            _ = self.shutdown.recv() => {}
        }
    }
}
