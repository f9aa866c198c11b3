//! The accept loop: our own instead of `axum::serve`, for what that one cannot do.
//!
//! - **Connection caps**, in total and per client address ([`caps`]; a trusted proxy's
//!   connections count in the total only, see `client_addr`). A connection over a
//!   cap is still answered, with a JSON 503 or 429 and `Connection: close`, from a small
//!   pool; when that pool is busy too, the socket is closed at once. Both are counted.
//!   Past the rate of new connections per address ([`rate`]), or from an address cooling
//!   down after refusals for its message rate (`rate_cooldown`), a connection is closed
//!   unanswered.
//! - **A header-read timeout**: a connection that has not sent a request's headers within
//!   `--header-read-timeout-secs` of opening (or of its previous response) is closed, so
//!   idle and slowly-typed sockets cannot hold file descriptors.
//! - **Back-off on accept errors**: when the process runs out of file descriptors, accept
//!   fails at once for as long as it lasts; the loop waits (5 ms, doubling up to 1 s)
//!   rather than spinning, and counts each failure.
//! - **Closes without resets** ([`socket`]).
//!
//! Connections speak HTTP/1.1 (WebSocket upgrades included), as under `axum::serve` with
//! axum's default features. Graceful shutdown stops accepting, lets requests in flight
//! finish and waits for their connections.

mod caps;
mod rate;
mod socket;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::ConnectInfo,
    http::{Request, StatusCode},
    response::IntoResponse,
    Router,
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{watch, Semaphore},
};
use tower::ServiceExt;

use crate::{
    client_addr::TrustedProxies, config::EdgeLimits, error::ApiError, metric_names as m,
    rate_cooldown::RateCooldown,
};
use caps::{Caps, Refusal};
use socket::{Slot, Socket};

/// Connections over a cap being answered at once; past it they are closed unanswered.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused connection may take to send the request it is refused for.
const REFUSAL_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) struct Settings {
    caps: Arc<Caps>,
    header_read_timeout: Option<Duration>,
}

impl Settings {
    /// `cooldown`: the addresses to refuse for their message rate (`usage.rs`).
    pub(crate) fn from_config(edge: &EdgeLimits, cooldown: Arc<RateCooldown>) -> Settings {
        Settings {
            caps: Caps::new(
                edge.max_connections,
                edge.max_connections_per_ip,
                edge.max_new_connections_per_ip_per_sec,
                TrustedProxies::new(edge.trusted_proxies.clone()),
                cooldown,
            ),
            header_read_timeout: (edge.header_read_timeout_secs > 0)
                .then(|| Duration::from_secs(edge.header_read_timeout_secs)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the
/// connections' requests in flight.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) {
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    // Every connection task holds a receiver: `closed()` then means all have finished.
    let (stop, stopped) = watch::channel(false);
    let mut backoff = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    let Some(delay) = accept_failed(&err, &mut backoff) else { continue };
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            },
            _ = &mut shutdown => break,
        };
        backoff = None;
        // Keystrokes are tiny frames: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        match settings.caps.admit(addr.ip()) {
            Ok(permit) => {
                let socket = Socket::new(stream, Slot::Admitted(permit));
                let conn = serve_connection(
                    socket,
                    addr,
                    router.clone(),
                    settings.header_read_timeout,
                    stopped.clone(),
                );
                tokio::spawn(conn);
            }
            Err(refusal @ (Refusal::Rate | Refusal::Cooldown)) => {
                // Answering would cost what these limits are there to save.
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => refusal.limit()).increment(1);
                drop(stream);
            }
            Err(refusal) => refuse(stream, refusal, &refusing),
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(stopped);
    stop.closed().await;
}

/// Counts and logs a failed accept; the delay before the next one, or `None` for a
/// failure of one connection (reset before it was accepted) that needs none.
fn accept_failed(err: &std::io::Error, backoff: &mut Option<Duration>) -> Option<Duration> {
    use std::io::ErrorKind::*;
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return None;
    }
    metrics::counter!(m::ACCEPT_ERRORS).increment(1);
    let delay = match *backoff {
        None => {
            tracing::warn!(error = %err, "accepting connections failed; backing off");
            FIRST_BACKOFF
        }
        Some(last) => (last * 2).min(MAX_BACKOFF),
    };
    *backoff = Some(delay);
    Some(delay)
}

async fn serve_connection(
    socket: Socket,
    addr: SocketAddr,
    router: Router,
    header_read_timeout: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) {
    let requested = Arc::new(AtomicBool::new(false));
    let seen = requested.clone();
    let service = service_fn(move |mut req: Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        // What `into_make_service_with_connect_info` would add: handlers read it.
        req.extensions_mut().insert(ConnectInfo(addr));
        router.clone().oneshot(req)
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let conn = http
        .serve_connection(TokioIo::new(socket), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    // Timeouts of idle keep-alive connections are routine; a connection
                    // that never completed a request is what the limit is for.
                    if err.is_timeout() && !requested.load(Ordering::Relaxed) {
                        metrics::counter!(m::LIMIT_REFUSALS, "limit" => "header_read_timeout")
                            .increment(1);
                    }
                    tracing::debug!(%addr, error = %err, "connection ended");
                }
                break;
            }
            _ = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Answers a connection over a cap with the reason, as JSON, if the pool of refused
/// connections has room; closes it unanswered otherwise. Counted either way.
fn refuse(stream: TcpStream, refusal: Refusal, refusing: &Arc<Semaphore>) {
    metrics::counter!(m::LIMIT_REFUSALS, "limit" => refusal.limit()).increment(1);
    let Ok(slot) = refusing.clone().try_acquire_owned() else {
        tracing::debug!(limit = refusal.limit(), "connection refused unanswered");
        return;
    };
    let status = match refusal {
        Refusal::Total(_) => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::PerIp(_) | Refusal::Rate | Refusal::Cooldown => StatusCode::TOO_MANY_REQUESTS,
    };
    let message = refusal.message();
    let service = service_fn(move |_: Request<Incoming>| {
        let answer = ApiError::new(status, message.clone()).into_response();
        async move { Ok::<_, Infallible>(answer) }
    });
    let socket = Socket::new(stream, Slot::Refused(slot));
    tokio::spawn(async move {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(REFUSAL_HEADER_TIMEOUT)
            .keep_alive(false);
        let _ = http.serve_connection(TokioIo::new(socket), service).await;
    });
}
