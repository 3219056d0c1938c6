//! `[metrics]`: a `/metrics` endpoint in the Prometheus text format (OpenMetrics, encoded
//! by `prometheus-client`), served by `tiny_http` on a thread of its own.
//!
//! The figures come from the engine's published view, the very one the control socket
//! serves `pit status` from (a `watch` receiver), never from the engine thread: a scrape
//! costs the engine nothing and a slow scraper cannot slow it. A second thread follows the
//! view as it changes, for what is counted across views (kill-switch presses, the orders
//! that closed and their latency); see [`render`] for every metric and its labels.

mod render;
mod tracker;

pub use render::render;
pub use tracker::Tracker;

use crate::engine::view::EngineView;
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// `[metrics]` in config.toml.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` on (e.g. `127.0.0.1:9184`); empty: off.
    pub listen: String,
}

impl MetricsConfig {
    pub fn validate(&self) -> Result<(), crate::domain::Invalid> {
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(crate::domain::Invalid::new(
                "listen",
                format!(
                    "'{}' is not host:port (such as \"127.0.0.1:9184\"); \"\" turns metrics off",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}

/// Why metrics could not be served.
#[derive(Debug, thiserror::Error)]
#[error("metrics.listen: cannot serve metrics on {addr}: {message}")]
pub struct MetricsError {
    addr: String,
    message: String,
}

/// The serving threads; stopped when dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl MetricsServer {
    /// The address served (the real port when `listen` asked for port 0).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Labels of the whole run: the venue and the execution.
#[derive(Clone, Debug, Default)]
pub struct RunLabels {
    pub venue: String,
    pub execution: String,
}

/// Bind `listen` and serve `/metrics` from `view` until the server is dropped.
pub fn serve(
    listen: &str,
    view: watch::Receiver<Arc<EngineView>>,
    run: RunLabels,
) -> Result<MetricsServer, MetricsError> {
    let err = |message: String| MetricsError {
        addr: listen.to_string(),
        message,
    };
    let server = tiny_http::Server::http(listen).map_err(|e| err(e.to_string()))?;
    let addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| err("not an IP address".into()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let follow = {
        let (stop, tracker, mut view) = (stop.clone(), tracker.clone(), view.clone());
        std::thread::Builder::new()
            .name("pit-metrics-follow".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if view.has_changed().unwrap_or(false) {
                        let v = view.borrow_and_update().clone();
                        if let Ok(mut t) = tracker.lock() {
                            t.observe(&v);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
            .map_err(|e| err(e.to_string()))?
    };
    let serve = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("pit-metrics".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(100)) else {
                        continue;
                    };
                    let path = req.url().split('?').next().unwrap_or("");
                    let resp = if path == "/metrics" && *req.method() == tiny_http::Method::Get {
                        let v = view.borrow().clone();
                        let text = match tracker.lock() {
                            Ok(t) => render(&v, &t, &run),
                            Err(_) => String::from("# the metrics tracker failed\n"),
                        };
                        with_type(
                            tiny_http::Response::from_string(text),
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )
                    } else {
                        with_type(
                            tiny_http::Response::from_string("not found: try /metrics\n")
                                .with_status_code(404),
                            "text/plain; charset=utf-8",
                        )
                    };
                    let _ = req.respond(resp);
                }
            })
            .map_err(|e| err(e.to_string()))?
    };
    Ok(MetricsServer {
        stop,
        threads: vec![follow, serve],
        addr,
    })
}

fn with_type(
    r: tiny_http::Response<std::io::Cursor<Vec<u8>>>,
    v: &str,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    match tiny_http::Header::from_bytes(&b"Content-Type"[..], v.as_bytes()) {
        Ok(h) => r.with_header(h),
        Err(()) => r,
    }
}
