//! One log line per request on stderr: when, which listener, method, path, status, duration
//! and actor. The query string is never written (an invite link carries its token there),
//! nor any header or body; the path is cut short and its control characters escaped, so a
//! client cannot forge or flood lines.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Instant;

/// How `kith serve` writes its request log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestLog {
    /// `2026-12-02T19:00:00.123Z admin POST /admin/identities 201 3.2ms http:ci`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
    /// Nothing.
    Off,
}

/// Who made a request, as the audit trail names them (`http:<token name>`): set on the
/// response by the token check, read by the log.
#[derive(Clone, Debug)]
pub(super) struct Actor(pub String);

/// Paths longer than this are cut in the log.
const MAX_LOGGED_PATH: usize = 256;

/// Where log lines go: a bounded queue a thread of its own writes to stderr. A request never
/// waits for stderr: when it does not keep up (a full pipe nobody reads), lines are dropped
/// and counted, and the count is written once stderr takes lines again.
#[derive(Clone)]
pub(super) struct LogSink {
    format: RequestLog,
    lines: Option<SyncSender<String>>,
    dropped: Arc<AtomicU64>,
}

/// Lines waiting for stderr at most.
const QUEUED_LINES: usize = 4096;

impl LogSink {
    /// Starts the writer thread (none when the log is off).
    pub(super) fn start(format: RequestLog) -> Self {
        let dropped = Arc::new(AtomicU64::new(0));
        let lines = match format {
            RequestLog::Off => None,
            _ => {
                let (sender, receiver) = sync_channel::<String>(QUEUED_LINES);
                let counted = Arc::clone(&dropped);
                let spawned = std::thread::Builder::new()
                    .name("kith-request-log".into())
                    .spawn(move || {
                        for line in receiver {
                            let mut stderr = std::io::stderr().lock();
                            let lost = counted.swap(0, Ordering::Relaxed);
                            if lost > 0 {
                                let _ = writeln!(
                                    stderr,
                                    "kith serve: {lost} request log lines dropped: stderr did not keep up"
                                );
                            }
                            // One write per line, so nothing else printed cuts into it.
                            let _ = stderr.write_all(format!("{line}\n").as_bytes());
                        }
                    });
                spawned.ok().map(|_| sender)
            }
        };
        Self {
            format,
            lines,
            dropped,
        }
    }

    fn send(&self, line: String) {
        if let Some(lines) = &self.lines
            && lines.try_send(line).is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The middleware: wraps a whole listener, so refusals and 404s are logged too.
pub(super) async fn log_requests(
    State((listener, sink)): State<(&'static str, LogSink)>,
    request: Request,
    next: Next,
) -> Response {
    if sink.lines.is_none() {
        return next.run(request).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = printable_path(request.uri().path());
    let response = next.run(request).await;
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let actor = response
        .extensions()
        .get::<Actor>()
        .map_or("-", |actor| actor.0.as_str());
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let status = response.status().as_u16();
    sink.send(match sink.format {
        RequestLog::Json => serde_json::json!({
            "time": time,
            "listener": listener,
            "method": method.as_str(),
            "path": path,
            "status": status,
            "duration_ms": (millis * 1000.0).round() / 1000.0,
            "actor": actor,
        })
        .to_string(),
        _ => format!("{time} {listener} {method} {path} {status} {millis:.1}ms {actor}"),
    });
    response
}

/// The path with control characters and backslashes escaped and spaces percent-encoded (a
/// log line's fields are split at spaces), cut at
/// [`MAX_LOGGED_PATH`] characters.
fn printable_path(path: &str) -> String {
    let mut printable = String::new();
    for (count, c) in path.chars().enumerate() {
        if count == MAX_LOGGED_PATH {
            printable.push('…');
            break;
        }
        match c {
            ' ' => printable.push_str("%20"),
            c if c.is_control() || c == '\\' => printable.push_str(&c.escape_default().to_string()),
            c => printable.push(c),
        }
    }
    printable
}

#[cfg(test)]
mod tests {
    use super::printable_path;

    #[test]
    fn a_path_cannot_forge_a_log_line() {
        assert_eq!(printable_path("/a\nb c"), "/a\\nb%20c");
        assert_eq!(printable_path(&"x".repeat(300)).chars().count(), 257);
    }
}
