//! The HTTP side of the metrics endpoint: hyper's HTTP/1 server on the daemon's runtime,
//! `GET /metrics` only. It holds no gateway state: each scrape asks the loop for the text.
//!
//! Bounded like the control socket: at most [`MAX_SCRAPES`] connections are served at once
//! (more wait in the listen backlog), a client has [`REQUEST_TIMEOUT`] to send its request
//! and a connection is closed after [`SCRAPE_TIMEOUT`] whatever it is doing, so a client that
//! connects and sends nothing holds its place only briefly.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::warn;

use super::render;
use super::ScrapeRequest;

/// Scrapes served at once; Prometheus servers scraping one target are a handful.
pub const MAX_SCRAPES: usize = 4;

/// How long a client may take to send its request's headers; a scraper sends them at once.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one connection may take, request, loop and answer together.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long accepting pauses after a failed accept (out of file descriptors) instead of
/// retrying at once in a busy loop.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// At most one log line about failing accepts per interval.
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Serve scrapes on `listener` until the loop's end of `loop_tx` is gone.
pub async fn serve(listener: TcpListener, loop_tx: mpsc::Sender<ScrapeRequest>) {
    let places = Arc::new(Semaphore::new(MAX_SCRAPES));
    let mut last_logged: Option<Instant> = None;
    loop {
        let Ok(place) = Arc::clone(&places).acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            () = loop_tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                if last_logged.is_none_or(|at| at.elapsed() >= LOG_INTERVAL) {
                    warn!("metrics endpoint: cannot accept a connection: {e}");
                    last_logged = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let loop_tx = loop_tx.clone();
        tokio::spawn(async move {
            let _place = place;
            let service = service_fn(move |request| answer(request, loop_tx.clone()));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(SCRAPE_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!("metrics endpoint: a scrape failed: {e}"),
                Err(_) => warn!("metrics endpoint: connection closed after {SCRAPE_TIMEOUT:?}"),
            }
        });
    }
}

async fn answer(
    request: Request<Incoming>,
    loop_tx: mpsc::Sender<ScrapeRequest>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        ));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let (reply_tx, reply_rx) = oneshot::channel();
    if loop_tx.send(reply_tx).await.is_err() {
        warn!("metrics endpoint: a scrape came while the daemon stops; answered 503");
        return Ok(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is stopping\n",
        ));
    }
    // The connection's timeout bounds the wait for the loop.
    let Ok(Some(text)) = reply_rx.await else {
        warn!("metrics endpoint: the daemon gave no metrics for a scrape; answered 500");
        return Ok(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be rendered; see the daemon's log\n",
        ));
    };
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(render::CONTENT_TYPE));
    Ok(response)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
