//! The server: one accept loop on 127.0.0.1 serving HTTP/1.1 with upgrades (hyper, under
//! axum's router) over the shared state ([`Shared`], in `shared.rs`), and the pacer that
//! runs the simulated market on the wall clock and publishes its frames every 100 ms.
//!
//! Connections are served one task each, so that a handler can drop its own connection
//! without an answer (the `lose-response` fault): it notifies the connection's
//! [`ConnKill`], and the task stops serving and closes the socket.

use super::shared::{ConnKill, Shared};
use super::{rest, ws};
use axum::Router;
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

fn router(s: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v3/{*rest}", any(rest::api))
        .route("/stream", get(ws::market))
        .route("/ws-api/v3", get(ws::ws_api))
        .route("/emulator/state", get(rest::state))
        .route("/emulator/faults", post(rest::set_faults))
        .with_state(s)
}

/// The Bybit front-end's routes (see `bybit.rs`).
fn bybit_router(b: Arc<super::bybit::Bybit>) -> Router {
    use super::bybit;
    Router::new()
        .route("/v5/{*rest}", any(bybit::rest))
        .route("/v5/private", get(bybit::private))
        .route("/v5/public/{category}", get(bybit::public))
        .route("/emulator/state", get(bybit::state))
        .route("/emulator/bybit/position", post(bybit::set_position))
        .route(
            "/emulator/bybit/position-mode",
            post(bybit::set_position_mode),
        )
        .route(
            "/emulator/faults",
            post(rest::set_faults).with_state(b.s.clone()),
        )
        .with_state(b)
}

/// The OKX front-end's routes (see `okx.rs`).
fn okx_router(o: Arc<super::okx::Okx>) -> Router {
    use super::okx;
    Router::new()
        .route("/api/v5/{*rest}", any(okx::rest))
        .route("/ws/v5/private", get(okx::private))
        .route("/ws/v5/public", get(okx::public))
        .route("/emulator/state", get(okx::state))
        .route(
            "/emulator/okx/position",
            axum::routing::post(okx::shift_position),
        )
        .route(
            "/emulator/okx/position-mode",
            axum::routing::post(okx::set_position_mode),
        )
        .route(
            "/emulator/faults",
            post(rest::set_faults).with_state(o.s.clone()),
        )
        .with_state(o)
}

/// The Kraken front-end's routes (see `kraken.rs`).
fn kraken_router(k: Arc<super::kraken::Kraken>) -> Router {
    use super::kraken;
    Router::new()
        .route("/0/{*rest}", any(kraken::rest))
        .route("/ws-auth/v2", get(kraken::private))
        .route("/ws/v2", get(kraken::public))
        .route("/emulator/state", get(kraken::state))
        .route("/emulator/kraken/counter", post(kraken::set_counter))
        .route(
            "/emulator/faults",
            post(rest::set_faults).with_state(k.s.clone()),
        )
        .with_state(k)
}

/// Serves Kraken spot on `listener` until the process ends, with the
/// CancelAllOrdersAfter watch.
pub async fn serve_kraken(
    listener: TcpListener,
    k: Arc<super::kraken::Kraken>,
) -> anyhow::Result<()> {
    let watch = k.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            super::kraken::caa_check(&watch);
        }
    });
    let app = kraken_router(k.clone());
    serve_app(listener, k.s.clone(), app).await
}

/// Serves OKX v5 on `listener` until the process ends, with the Cancel All After watch.
pub async fn serve_okx(listener: TcpListener, o: Arc<super::okx::Okx>) -> anyhow::Result<()> {
    let watch = o.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            super::okx::caa_check(&watch);
        }
    });
    let app = okx_router(o.clone());
    serve_app(listener, o.s.clone(), app).await
}

/// Serves Binance spot on `listener` until the process ends.
pub async fn serve(listener: TcpListener, s: Arc<Shared>) -> anyhow::Result<()> {
    let app = router(s.clone());
    serve_app(listener, s, app).await
}

/// Serves Bybit v5 on `listener` until the process ends, with the DCP watch.
pub async fn serve_bybit(listener: TcpListener, b: Arc<super::bybit::Bybit>) -> anyhow::Result<()> {
    let watch = b.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            super::bybit::dcp_check(&watch);
        }
    });
    let app = bybit_router(b.clone());
    serve_app(listener, b.s.clone(), app).await
}

async fn serve_app(listener: TcpListener, s: Arc<Shared>, app: Router) -> anyhow::Result<()> {
    let pacer = s.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            pacer.step();
        }
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let k = ConnKill(kill.clone());
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(k.clone());
                    let mut app = app.clone();
                    async move { tower_service::Service::call(&mut app, req).await }
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = kill.notified() => {}
            }
        });
    }
}
