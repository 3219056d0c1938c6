//! `pit run --headless`: trade without a console, a status line a second on stderr, and
//! with `--json` one JSON object on stdout at the end.

use crate::engine::view::EngineView;
use crate::runner::{EngineHandle, RunResult};
use rust_decimal::Decimal;
use std::io::Write;
use std::time::Duration;

/// One status line: trading state, positions, PnL, open orders, fills.
pub fn status_line(v: &EngineView) -> String {
    let mut positions = String::new();
    for (m, p) in v.markets.iter().zip(&v.positions) {
        let sym = m.instrument.as_ref().map_or("?", |i| i.symbol.as_str());
        let q = p.position.qty.normalize();
        let sign = if q > Decimal::ZERO { "+" } else { "" };
        positions.push_str(&format!(" {sym} {sign}{q}"));
    }
    let kill = v
        .kill
        .as_ref()
        .map(|k| format!(" ({})", k.describe()))
        .unwrap_or_default();
    let store = if v.store_failed.is_some() {
        " STORE FAILED"
    } else {
        ""
    };
    // Money at the quote currency's precision (the finest among the instruments).
    let dp = v
        .markets
        .iter()
        .filter_map(|m| m.instrument.as_ref())
        .map(crate::domain::Instrument::money_precision)
        .max()
        .unwrap_or(2);
    // Live venues: each feed's state in words (none for the simulated market).
    let mut feeds = String::new();
    for (i, m) in v.markets.iter().enumerate() {
        if let Some(state) = v.feed_state(i) {
            let sym = m.instrument.as_ref().map_or("?", |i| i.symbol.as_str());
            feeds.push_str(&format!(" {sym} {}", state.word()));
        }
    }
    if !feeds.is_empty() {
        feeds = format!(" | feed{feeds}");
    }
    // Trading sessions not open (`[[sessions]]`).
    for x in v.sessions.iter().filter(|x| x.state != "OPEN") {
        feeds.push_str(&format!(" | {} {}", x.state, x.symbol));
    }
    format!(
        "{} {}{}{} |{}{feeds} | pnl {} (real {} unreal {} fees {}) | open {} | fills {} | events {}",
        v.now.hms_millis(),
        v.trading_state,
        store,
        kill,
        positions,
        signed(v.pnl.equity.round_dp(dp)),
        signed(v.pnl.realized.round_dp(dp)),
        signed(v.pnl.unrealized.round_dp(dp)),
        v.pnl.fees.round_dp(dp),
        v.open_orders.len(),
        v.health.fills,
        v.health.events,
    )
}

fn signed(d: Decimal) -> String {
    if d > Decimal::ZERO {
        format!("+{d}")
    } else {
        d.to_string()
    }
}

/// Wait for the engine, printing a status line a second and turning Ctrl-C, SIGTERM and
/// SIGHUP into an orderly shutdown (cancels as configured).
pub async fn supervise(handle: EngineHandle) -> anyhow::Result<RunResult> {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup())?;
    // One listener for the whole run, so a Ctrl-C between two loop passes is not lost.
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut stopping = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let line = status_line(&handle.view());
                let _ = writeln!(std::io::stderr(), "{line}");
            }
            _ = poll.tick() => {
                if handle.is_finished() { break; }
                // Another thread panicked (the hook closed the gate): stop in order.
                if !stopping && let Some(p) = crate::panics::first() {
                    stopping = true;
                    eprintln!("{p}: stopping, cancelling open orders as configured...");
                    handle.gate().close();
                    handle.shutdown();
                }
            }
            _ = int.recv(), if !stopping => {
                stopping = true;
                eprintln!("Ctrl-C: stopping, cancelling open orders as configured...");
                handle.shutdown();
            }
            _ = term.recv(), if !stopping => {
                stopping = true;
                eprintln!("SIGTERM: stopping, cancelling open orders as configured...");
                handle.shutdown();
            }
            _ = hup.recv(), if !stopping => {
                stopping = true;
                eprintln!("SIGHUP: stopping, cancelling open orders as configured...");
                handle.shutdown();
            }
        }
    }
    let last = handle.view();
    let result = tokio::task::spawn_blocking(move || handle.join())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the engine thread panicked; see the log"))?;
    eprintln!("{}", status_line(&last));
    Ok(result)
}

fn signal(kind: tokio::signal::unix::SignalKind) -> anyhow::Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).map_err(|e| anyhow::anyhow!("cannot watch signals: {e}"))
}

/// Money for people: at most 10 decimal places (average prices can carry 28).
fn money(d: Decimal) -> String {
    d.round_dp(10).normalize().to_string()
}

/// The `--json` object.
pub fn summary_json(r: &RunResult) -> serde_json::Value {
    let s = &r.summary;
    serde_json::json!({
        "events": s.events,
        "orders": s.orders,
        "fills": s.fills,
        "realized_pnl": money(s.realized_pnl),
        "fees": money(s.fees),
        "positions": s.positions.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect::<serde_json::Map<_, _>>(),
        "trading_state": s.trading_state.as_str(),
        "halt_reason": s.halt_reason,
        "fill_log_sha256": s.fill_log_sha256,
        "open_orders_left": r.open_orders_left,
        "orders_blocked_by_gate": r.exec.orders_blocked,
        "store_failed": r.store_failed,
        "panicked": r.panicked,
        "engine_seconds": (r.ended.0 - r.started.0) as f64 / 1e9,
        "wall_seconds": r.wall.as_secs_f64(),
    })
}
