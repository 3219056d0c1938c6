//! The console's event loop: keys and the engine's published view in, frames out.
//!
//! It drains everything that arrived, then draws once if something changed, at most
//! `console.fps` times a second; it never blocks on the engine (commands go into an
//! unbounded channel, the view is a latest value) and the engine never waits for it.
//! The kill switch key closes the trading gate from this thread before the command travels.
//!
//! The report view (`r`) asks the store for a fresh [`Report`] through a [`StoreReader`]:
//! it is computed on tokio's blocking pool (never on this task, never on the engine
//! thread), one at a time, and refreshed every [`REPORT_REFRESH`] while the view is open.

use crate::app::AppEffect;
use crate::runner::{EngineHandle, RunResult};
use crate::tui::Tui;
use crate::ui::App;
use anyhow::Context;
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use std::io::Write;
use std::time::{Duration, Instant};

use crate::store::StoreReader;
use crate::store::report::Report;

/// How often an open report view asks for fresh figures.
pub const REPORT_REFRESH: Duration = Duration::from_secs(3);

/// Reports computed off the console's task: at most one in flight.
struct Reports {
    source: Option<StoreReader>,
    tx: tokio::sync::mpsc::UnboundedSender<Result<Report, String>>,
    in_flight: bool,
    last: Option<Instant>,
}

impl Reports {
    /// Start computing a report, unless one is on its way. Without a store (a replay) the
    /// answer is immediate.
    fn request(&mut self) {
        if self.in_flight {
            return;
        }
        self.last = Some(Instant::now());
        self.in_flight = true;
        let tx = self.tx.clone();
        match self.source.clone() {
            Some(src) => {
                tokio::task::spawn_blocking(move || {
                    let r = src.report(None).map_err(|e| e.to_string());
                    let _ = tx.send(r);
                });
            }
            None => {
                let _ = tx.send(Err(
                    "no store in this run (replays are not persisted)".into()
                ));
            }
        }
    }

    /// Refresh an open view every [`REPORT_REFRESH`].
    fn refresh_due(&self) -> bool {
        !self.in_flight && self.last.is_none_or(|t| t.elapsed() >= REPORT_REFRESH)
    }
}

/// Run the console until the user quits or a signal stops it; then stop the engine
/// (cancelling orders as configured) and return its result. No store: the report view
/// says so.
pub async fn run(handle: EngineHandle, app: App, fps: u32) -> anyhow::Result<RunResult> {
    run_with_store(handle, app, fps, None).await
}

/// [`run`], with the run's store for the report view (`r`).
pub async fn run_with_store(
    handle: EngineHandle,
    mut app: App,
    fps: u32,
    store: Option<StoreReader>,
) -> anyhow::Result<RunResult> {
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut reports = Reports {
        source: store,
        tx: report_tx,
        in_flight: false,
        last: None,
    };
    let frame_every = Duration::from_secs(1) / fps.clamp(1, 120);
    let mut tui = Tui::enter().context("cannot take over the terminal")?;
    let mut keys = EventStream::new();
    let mut views = handle.subscribe();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut dirty = true;
    // A second Ctrl-C within this window stops at once, whatever is on screen.
    let mut last_ctrl_c: Option<Instant> = None;
    let mut last_draw = Instant::now() - frame_every;
    let mut stopping = false;
    let mut ticker = tokio::time::interval(frame_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            biased;
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    // Ctrl-C in raw mode arrives as a key. It goes through the keymap (it closes
                    // a form, or asks before quitting with orders open); pressed twice in a
                    // row it stops at once.
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c && last_ctrl_c.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                        stopping = true;
                        handle.shutdown();
                    } else {
                        last_ctrl_c = ctrl_c.then(Instant::now);
                        let effects = app.on_key(k);
                        apply(effects, &handle, &mut stopping, &mut reports);
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => {
                    let _ = tui.terminal.autoresize();
                    dirty = true;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::error!("terminal input failed: {e}");
                    stopping = true;
                    handle.shutdown();
                }
                None => {
                    stopping = true;
                    handle.shutdown();
                }
            },
            changed = views.changed() => {
                if changed.is_err() {
                    break; // the engine thread ended
                }
                let view = views.borrow_and_update().clone();
                app.set_view(view);
                apply(app.take_effects(), &handle, &mut stopping, &mut reports);
                dirty = true;
            }
            Some(report) = report_rx.recv() => {
                reports.in_flight = false;
                app.set_report(report);
                dirty = true;
            }
            _ = int.recv(), if !stopping => {
                tracing::warn!("SIGINT: stopping");
                stopping = true;
                handle.shutdown();
            }
            _ = term.recv(), if !stopping => {
                tracing::warn!("SIGTERM: stopping");
                stopping = true;
                handle.shutdown();
            }
            _ = hup.recv(), if !stopping => {
                tracing::warn!("SIGHUP: stopping");
                stopping = true;
                handle.shutdown();
            }
            _ = ticker.tick() => {}
        }
        if handle.is_finished() {
            break;
        }
        if app.report_open() && reports.refresh_due() {
            reports.request();
        }
        if dirty && last_draw.elapsed() >= frame_every {
            let started = Instant::now();
            tui.terminal
                .draw(|frame| crate::ui::render(&app, frame))
                .context("cannot draw")?;
            last_draw = Instant::now();
            let lag = app.view().engine_lag;
            app.set_frame_stats(lag, started.elapsed());
            dirty = false;
        }
    }
    drop(tui);
    let result = tokio::task::spawn_blocking(move || handle.join())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the engine thread panicked; see the log"))?;
    Ok(result)
}

/// Carry out what the console asked for. Never blocks.
fn apply(
    effects: Vec<AppEffect>,
    handle: &EngineHandle,
    stopping: &mut bool,
    reports: &mut Reports,
) {
    for effect in effects {
        match effect {
            // The gate closes here, on this thread, before the command travels.
            AppEffect::Kill => {
                handle.kill();
            }
            AppEffect::Engine(cmd) => {
                handle.send(cmd);
            }
            AppEffect::Quit => {
                *stopping = true;
                handle.shutdown();
            }
            AppEffect::Bell => bell(),
            AppEffect::Replay(c) => {
                handle.control(c);
            }
            AppEffect::RequestReport => reports.request(),
        }
    }
}

fn bell() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x07");
    let _ = out.flush();
}
