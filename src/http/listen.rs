//! The accept loops: what keeps one listener from exhausting the process. Every connection
//! holds a permit of its listener's cap (and, on the public listener, of its peer's), has a
//! deadline for each request head (which is also its keep-alive idle timeout) and for each
//! request body. The caps are sized from the open-file limit, so the public listener flooded
//! to its cap still leaves descriptors for the admin listener, SQLite and plugins.
//! Routing and handlers live in `admin` and `public`; this module only moves connections.

use crate::error::{Error, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower_http::timeout::DeadlineBody;

/// The open-file limit `kith serve` asks for at start (the hard limit may allow less).
const WANTED_OPEN_FILES: u64 = 65_536;
/// Default caps, whatever the open-file limit allows: beyond these, memory rather than
/// descriptors would run out first (each connection may buffer up to [`MAX_BUF_BYTES`]).
const MAX_ADMIN_CONNECTIONS: usize = 1024;
const MAX_PUBLIC_CONNECTIONS: usize = 4096;
/// A browser opens about six connections to a site; 64 leaves room for a small office behind
/// one NAT address. A reverse proxy in front of the public listener needs more (`--public-per-peer`).
const DEFAULT_PUBLIC_PER_PEER: usize = 64;
/// hyper's read buffer per connection (its default is about 400 KB). Request heads larger
/// than this get 431; bodies stream through it.
const MAX_BUF_BYTES: usize = 64 * 1024;

/// How `kith serve` guards its listeners. `None` caps are sized from the open-file limit.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time a client has to send a request head; also how long an idle keep-alive connection
    /// stays open.
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body, from the end of its head.
    pub body_timeout: Duration,
    /// Connections open at once on the admin listener.
    pub admin_connections: Option<usize>,
    /// Connections open at once on the public listener.
    pub public_connections: Option<usize>,
    /// Connections one peer address may hold open on the public listener.
    pub public_per_peer: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            admin_connections: None,
            public_connections: None,
            public_per_peer: None,
        }
    }
}

/// The caps in force, as the ready line reports them.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Caps {
    /// The open-file limit after raising it.
    pub open_files: u64,
    pub admin_connections: usize,
    pub public_connections: usize,
    pub public_per_peer: usize,
}

/// Raises the soft open-file limit as far as the hard limit allows and sizes the caps so
/// that both listeners at their caps still leave descriptors for everything else.
///
/// # Errors
/// The limit is too low to serve at all, or caps asked for do not fit under it.
pub fn size_caps(limits: &Limits) -> Result<Caps> {
    // Where the limit cannot be raised (or read), the current one is what there is.
    let open_files = rlimit::increase_nofile_limit(WANTED_OPEN_FILES)
        .or_else(|_| current_open_file_limit())
        .unwrap_or(1024);
    caps_for(open_files, limits)
}

/// The soft open-file limit as it stands.
#[cfg(unix)]
fn current_open_file_limit() -> std::io::Result<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft)
}

/// Windows has no open-file rlimit (sockets and files are handles, limited by memory), so
/// where raising the C runtime's stdio limit fails the default budget stands.
#[cfg(not(unix))]
fn current_open_file_limit() -> std::io::Result<u64> {
    Err(std::io::ErrorKind::Unsupported.into())
}

fn caps_for(open_files: u64, limits: &Limits) -> Result<Caps> {
    // Kept for SQLite (store, WAL and shared memory per connection), plugin code and its
    // cache, the outbox, stdio, the runtime's own descriptors and the two listeners.
    let reserve = (open_files / 4).clamp(32, 1024);
    let budget = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
    let too_low = || {
        Error::BadRequest(format!(
            "the open-file limit ({open_files}) is too low to serve; raise it (ulimit -n) to at least 256"
        ))
    };
    if budget < 8 {
        return Err(too_low());
    }
    let admin = limits
        .admin_connections
        .unwrap_or_else(|| (budget / 4).clamp(1, MAX_ADMIN_CONNECTIONS));
    let public = limits.public_connections.unwrap_or_else(|| {
        budget
            .saturating_sub(admin)
            .clamp(1, MAX_PUBLIC_CONNECTIONS)
    });
    if admin == 0 || public == 0 {
        return Err(Error::BadRequest(
            "a listener needs room for at least one connection".into(),
        ));
    }
    if admin.saturating_add(public) > budget {
        return Err(Error::BadRequest(format!(
            "{admin} admin and {public} public connections do not fit under the open-file limit ({open_files}, of which {reserve} stay for the store and plugins); ask for at most {budget} in all, or raise the limit (ulimit -n)"
        )));
    }
    let per_peer = limits
        .public_per_peer
        .unwrap_or(DEFAULT_PUBLIC_PER_PEER)
        .clamp(1, public);
    Ok(Caps {
        open_files,
        admin_connections: admin,
        public_connections: public,
        public_per_peer: per_peer,
    })
}

/// One listener with what guards it.
pub struct Guarded {
    pub listener: TcpListener,
    /// Permits for open connections; one is taken before each accept.
    pub connections: Arc<Semaphore>,
    /// Open connections per peer address, when this listener limits them.
    pub per_peer: Option<Arc<PeerCap>>,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
}

/// Counts open connections per peer address.
pub struct PeerCap {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PeerCap {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `peer`, or `None` when it holds its share.
    fn enter(self: &Arc<Self>, peer: IpAddr) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(peer).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            cap: Arc::clone(self),
            peer,
        })
    }
}

/// One open connection of a peer; dropping it frees the slot.
struct PeerSlot {
    cap: Arc<PeerCap>,
    peer: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.cap.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.peer) {
            *count -= 1;
            if *count == 0 {
                // Peers come and go; the map holds only those with connections open.
                open.remove(&self.peer);
            }
        }
    }
}

/// Accepts connections on `guarded` and serves `router` on each until `stopped` turns true,
/// then lets every open connection finish its request in flight and close.
pub async fn serve(guarded: Guarded, router: Router, mut stopped: watch::Receiver<bool>) {
    let Guarded {
        listener,
        connections,
        per_peer,
        header_timeout,
        body_timeout,
    } = guarded;
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Without a timer hyper's header timeout is inert; with it, a connection that sends no
    // complete head in time (silent, slow or idle after a response) is closed.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_BUF_BYTES);
    let service = tower::ServiceBuilder::new()
        .map_request(move |request: Request<Incoming>| {
            // The deadline counts from the end of the head, for the whole body however it
            // trickles in; an unread body never trips it.
            super::trim_trailing_slash(
                request.map(|body| Body::new(DeadlineBody::new(body_timeout, body))),
            )
        })
        .service(router);
    loop {
        // The permit comes first: at the cap, connections wait in the kernel's backlog and
        // take no descriptor of kith's.
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = stop_requested(&mut stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = stop_requested(&mut stopped) => break,
        };
        let slot = match &per_peer {
            Some(cap) => match cap.enter(peer.ip()) {
                Some(slot) => Some(slot),
                // Over its share: closed at once, so one peer cannot hold the listener.
                None => continue,
            },
            None => None,
        };
        let connection = graceful.watch(builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(service.clone()),
        ));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Resolves once shutdown is asked for. The borrow `wait_for` returns is dropped here, so it
/// never lives across an await in the accept loop (it is not `Send`).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// A failed accept: a connection reset before it was taken is nothing; anything else (the
/// open-file limit reached by something outside the caps) is reported and retried shortly.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    eprintln!("kith serve: cannot accept a connection: {error}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_under_the_open_file_limit_with_room_to_spare() -> Result<()> {
        for open_files in [64, 256, 1024, 20_000, 1 << 20] {
            let caps = caps_for(open_files, &Limits::default())?;
            let used = (caps.admin_connections + caps.public_connections) as u64;
            assert!(used + 32 <= open_files, "{open_files}: {caps:?}");
            assert!(caps.public_per_peer <= caps.public_connections);
        }
        let caps = caps_for(256, &Limits::default())?;
        assert_eq!((caps.admin_connections, caps.public_connections), (48, 144));
        assert!(caps_for(32, &Limits::default()).is_err());
        let greedy = Limits {
            public_connections: Some(10_000),
            ..Limits::default()
        };
        assert!(caps_for(1024, &greedy).is_err());
        Ok(())
    }

    #[test]
    fn a_peer_gets_its_share_and_gets_it_back() {
        let cap = PeerCap::new(2);
        let peer: IpAddr = [127, 0, 0, 1].into();
        let first = cap.enter(peer);
        let second = cap.enter(peer);
        assert!(first.is_some() && second.is_some());
        assert!(cap.enter(peer).is_none());
        assert!(cap.enter([127, 0, 0, 2].into()).is_some());
        drop(first);
        assert!(cap.enter(peer).is_some());
        drop(second);
    }
}
