//! http: `kith serve`, the Kratos admin API and the invite redemption page over HTTP.
//!
//! Two listeners, as in Kratos: the admin one (identities, batch, recovery; guarded by bearer
//! tokens) and the public one (the redemption page `recovery_link` points to, `/schemas`,
//! health). The library stays synchronous: every handler hands its work to one blocking task,
//! which checks the token, runs one flow and returns. This module is thin: parse, call, answer.

mod admin;
mod page;
mod public;
mod reply;

pub use reply::ApiError;

use crate::error::{Error, Result};
use crate::flows::Kith;
use axum::Router;
use axum::extract::Request;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
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
}

/// The addresses the listeners got (port 0 picks a free one).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Bound {
    pub admin: String,
    pub public: String,
    pub version: String,
    /// False until `kith create token` has made one: every admin request is refused then.
    pub tokens: bool,
}

/// What every handler shares: the open store.
#[derive(Clone)]
struct AppState {
    kith: Arc<Kith>,
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
            .map_err(|e| ApiError::from(Error::Internal(format!("request task failed: {e}"))))?
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
/// token, or the store cannot be opened.
pub fn serve(options: &ServeOptions, ready: impl FnOnce(&Bound)) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kith-serve")
        .build()
        .map_err(|e| Error::Internal(format!("could not start the async runtime: {e}")))?;
    runtime.block_on(run(options, ready))
}

async fn bind(what: &str, address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        Error::BadRequest(format!(
            "cannot listen on {address} for the {what} API: {e}"
        ))
    })
}

async fn run(options: &ServeOptions, ready: impl FnOnce(&Bound)) -> Result<()> {
    let admin_listener = bind("admin", options.admin).await?;
    let public_listener = bind("public", options.public).await?;
    let public_address = public_listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let admin_address = admin_listener
        .local_addr()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let public_url = format!("http://{public_address}");
    crate::plugin_host::pool_instances();
    let kith = Kith::open(&options.db)?
        .with_reader_connection()?
        .with_actor(options.actor.clone())
        .with_default_public_url(public_url.clone());
    let tokens = kith.has_tokens()?;
    for (what, address) in [("admin", options.admin), ("public", options.public)] {
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
    };
    let admin = admin::router(state.clone());
    let public = public::router(state);
    ready(&Bound {
        admin: format!("http://{admin_address}"),
        public: public_url,
        version: version(),
        tokens,
    });

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let admin_server = tokio::spawn(
        axum::serve(admin_listener, into_service(admin))
            .with_graceful_shutdown(shutdown(stopped.clone()))
            .into_future(),
    );
    let public_server = tokio::spawn(
        axum::serve(public_listener, into_service(public))
            .with_graceful_shutdown(shutdown(stopped))
            .into_future(),
    );
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
    Ok(())
}

/// A router whose requests lose a trailing slash before routing.
type Trimmed = tower::util::MapRequest<Router, fn(Request) -> Request>;

/// Kratos trims a trailing slash before routing; so does kith.
fn into_service(router: Router) -> axum::routing::IntoMakeService<Trimmed> {
    use axum::ServiceExt as _;
    let trim: fn(Request) -> Request = trim_trailing_slash;
    tower::ServiceExt::map_request(router, trim).into_make_service()
}

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

/// SIGTERM and SIGINT, both of which stop the server gracefully.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| Error::Internal(format!("cannot watch for {name}: {e}")))
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
