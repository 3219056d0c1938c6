//! The console's event loop: keys and the engine's published view in, frames out.
//!
//! It drains everything that arrived, then draws once if something changed, at most
//! `console.fps` times a second; it never blocks on the engine (commands go into an
//! unbounded channel, the view is a latest value) and the engine never waits for it.
//! The kill switch key closes the trading gate from this thread before the command travels.
//! Frames are rendered here but written by a thread of their own ([`Screen`]): a terminal
//! that is not read (a dead SSH session) costs frames, never a key, a signal or the
//! engine. When the terminal goes away, `console.on_hangup` decides what the run does.
//!
//! The report view (`r`) asks the store for a fresh [`Report`] through a [`StoreReader`]:
//! it is computed on tokio's blocking pool (never on this task, never on the engine
//! thread), one at a time, and refreshed every [`REPORT_REFRESH`] while the view is open.

use crate::app::{AppEffect, OnHangup};
use crate::engine::{AlertLevel, Command};
use crate::runner::{EngineHandle, RunResult};
use crate::tui::{Keys, Screen};
use crate::ui::App;
use anyhow::Context;
use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use futures_util::FutureExt;
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
    /// Where `w` writes the strategies.
    config: Writes,
}

/// `w` in the strategies view: the config file written off the console's thread (a slow
/// disk never holds a frame or K).
struct Writes {
    /// One write at a time (a second `w` waits for the first), each from the text the
    /// last one left.
    target: Result<std::sync::Arc<std::sync::Mutex<crate::config_write::Target>>, String>,
    tx: tokio::sync::mpsc::UnboundedSender<Result<String, String>>,
}

impl Writes {
    fn write(&self, list: Vec<crate::app::strategies::SavedStrategy>) {
        let tx = self.tx.clone();
        let target = match &self.target {
            Ok(t) => t.clone(),
            Err(why) => {
                let _ = tx.send(Err(why.clone()));
                return;
            }
        };
        tokio::task::spawn_blocking(move || {
            let result = match target.lock() {
                Ok(mut t) => crate::config_write::write_strategies(&mut t, &list),
                Err(_) => Err("an earlier write failed midway; restart to write again".into()),
            };
            let _ = tx.send(result);
        });
    }
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

/// How a console run goes: frames a second, the store for the report view, what a
/// hang-up does.
#[derive(Clone)]
pub struct ConsoleOptions {
    pub fps: u32,
    /// The run's store, for the report view (`r`); none: the view says so.
    pub store: Option<StoreReader>,
    pub on_hangup: OnHangup,
    /// The config file `w` in the strategies view writes (the file the run read, as it
    /// read it), or why `w` is off in this run (built-in defaults, `--symbol`, a replay).
    pub config_file: Result<crate::config_write::Target, String>,
}

/// How a console run ended.
pub struct ConsoleEnd {
    pub result: RunResult,
    /// The terminal was given back in order (false: it hung up, or was not being read:
    /// write nothing more to it).
    pub terminal_restored: bool,
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
    app: App,
    fps: u32,
    store: Option<StoreReader>,
) -> anyhow::Result<RunResult> {
    let opts = ConsoleOptions {
        fps,
        store,
        on_hangup: OnHangup::default(),
        config_file: Err("w writes the config file from a run's console, not a replay's".into()),
    };
    Ok(run_with(handle, app, opts).await?.result)
}

/// The console's loop. Keys, signals and views are taken on this task; frames are
/// rendered here and written by the [`Screen`]'s draw thread, so a terminal that is not
/// read never delays K. When the terminal goes away (SIGHUP, or its input or output
/// fails) `opts.on_hangup` decides: the run goes on headless (after a pause, or not), or
/// the kill switch trips and the run stops in order; headless, the loop waits for the
/// engine to stop (`pit kill` then SIGTERM, `--for`, ...).
pub async fn run_with(
    handle: EngineHandle,
    mut app: App,
    opts: ConsoleOptions,
) -> anyhow::Result<ConsoleEnd> {
    let (report_tx, mut report_rx) = tokio::sync::mpsc::unbounded_channel();
    let (written_tx, mut written_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut reports = Reports {
        source: opts.store,
        tx: report_tx,
        in_flight: false,
        last: None,
        config: Writes {
            target: opts
                .config_file
                .clone()
                .map(|t| std::sync::Arc::new(std::sync::Mutex::new(t))),
            tx: written_tx,
        },
    };
    let frame_every = Duration::from_secs(1) / opts.fps.clamp(1, 120);
    let mut screen = Screen::enter().context("cannot take over the terminal")?;
    let mut keys = Some(Keys::start().context("cannot read the terminal's keys")?);
    let mut views = handle.subscribe();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut dirty = true;
    // A second Ctrl-C within this window stops at once, whatever is on screen.
    let mut last_ctrl_c: Option<Instant> = None;
    let mut last_draw = Instant::now() - frame_every;
    let mut last_view = Instant::now();
    let mut stopping = false;
    // The engine's view channel has closed (a replay at the end of its recording).
    let mut views_ended = false;
    // Set once the terminal has gone away: no keys, no frames.
    let mut hung_up: Option<String> = None;
    let mut ticker = tokio::time::interval(frame_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    // A panic in the console's loop fails closed: the gate closes (the process-wide hook
    // did it and logged where), then the normal stop runs below: the terminal is given
    // back and the run waits for its cancels.
    let looped = std::panic::AssertUnwindSafe(async {
    loop {
        crate::panics::inject("console");
        let mut hangup: Option<String> = None;
        tokio::select! {
            biased;
            key = next_key(&mut keys) => match key {
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
                        apply(effects, &handle, &mut stopping, &mut reports, &screen);
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => hangup = Some(format!("terminal input failed: {e}")),
                None => hangup = Some("terminal input ended".into()),
            },
            changed = views.changed(), if !views_ended => {
                if changed.is_err() {
                    // The engine thread ended. A replay stays on its last screen until
                    // `q`; anything else stops here.
                    if app.replay_clock().is_some() && !stopping {
                        views_ended = true;
                        continue;
                    }
                    break;
                }
                let view = views.borrow_and_update().clone();
                last_view = Instant::now();
                app.set_view(view);
                apply(app.take_effects(), &handle, &mut stopping, &mut reports, &screen);
                dirty = true;
            }
            Some(report) = report_rx.recv() => {
                reports.in_flight = false;
                app.set_report(report);
                dirty = true;
            }
            Some(written) = written_rx.recv() => {
                app.config_written(written);
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
            _ = hup.recv() => hangup = Some("SIGHUP".into()),
            _ = ticker.tick() => {}
        }
        if hung_up.is_none()
            && let Some(why) = hangup.or_else(|| screen.gone())
        {
            crate::tui::park_input();
            keys = None;
            let restored = screen.leave();
            tracing::info!(restored, "the console's terminal is gone");
            on_hangup(&handle, opts.on_hangup, &why, &mut stopping);
            hung_up = Some(why);
        }
        if handle.is_finished() {
            // A replay that reached the end of its recording keeps its last screen (END
            // OF RECORDING) until `q`, Ctrl-C, SIGTERM or a hang-up.
            if app.replay_clock().is_some() && !stopping && hung_up.is_none() {
                if !app.replay_ended() {
                    app.set_replay_ended();
                    dirty = true;
                }
            } else {
                break;
            }
        }
        if hung_up.is_some() {
            continue;
        }
        // A replay at its end has no engine to hear from: that is no silence.
        let silent =
            !app.replay_ended() && last_view.elapsed() >= crate::app::ENGINE_SILENCE;
        if silent != app.engine_not_responding() {
            if silent {
                tracing::warn!("no view from the engine for {:?}", last_view.elapsed());
            }
            app.set_engine_not_responding(silent);
            dirty = true;
        }
        if app.report_open() && reports.refresh_due() {
            reports.request();
        }
        if dirty && last_draw.elapsed() >= frame_every {
            let started = Instant::now();
            screen.show(|frame| crate::ui::render(&app, frame));
            last_draw = Instant::now();
            let lag = app.view().engine_lag;
            app.set_frame_stats(lag, started.elapsed());
            dirty = false;
        }
        // Another thread panicked (the hook closed the gate): stop in order.
        if !stopping && crate::panics::first().is_some() {
            stopping = true;
            handle.shutdown();
        }
    }
    })
    .catch_unwind()
    .await;
    if looped.is_err() {
        handle.gate().close();
        handle.shutdown();
    }
    let terminal_restored = hung_up.is_none() && screen.leave();
    drop(screen);
    let result = tokio::task::spawn_blocking(move || handle.join())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the engine thread panicked; see the log"))?;
    Ok(ConsoleEnd {
        result,
        terminal_restored,
    })
}

/// The next key, or never once the terminal is gone.
async fn next_key(keys: &mut Option<Keys>) -> Option<std::io::Result<Event>> {
    match keys {
        Some(k) => k.next().await,
        None => std::future::pending().await,
    }
}

/// The console's terminal went away (`why`): do what `console.on_hangup` says.
fn on_hangup(handle: &EngineHandle, policy: OnHangup, why: &str, stopping: &mut bool) {
    tracing::warn!(policy = policy.as_str(), "console hung up ({why})");
    if *stopping {
        return; // already stopping in order
    }
    match policy {
        OnHangup::KeepRunning => {
            handle.alert(AlertLevel::Critical, "console", HANGUP_ALERT.to_string());
        }
        OnHangup::Pause => {
            handle.send(Command::Pause);
            handle.alert(
                AlertLevel::Critical,
                "console",
                format!("{HANGUP_ALERT}; paused (console.on_hangup = pause)"),
            );
        }
        OnHangup::Kill => {
            handle.killer().kill("console", "console hung up");
            *stopping = true;
            handle.shutdown();
        }
    }
}

/// The alert a hang-up raises when the engine goes on.
pub const HANGUP_ALERT: &str =
    "console hung up: engine running headless; pit status / pit kill from another shell";

/// Carry out what the console asked for. Never blocks.
fn apply(
    effects: Vec<AppEffect>,
    handle: &EngineHandle,
    stopping: &mut bool,
    reports: &mut Reports,
    screen: &Screen,
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
            AppEffect::Bell => screen.bell(),
            AppEffect::Replay(c) => {
                handle.control(c);
            }
            AppEffect::RequestReport => reports.request(),
            AppEffect::WriteConfig(list) => reports.config.write(list),
        }
    }
}
