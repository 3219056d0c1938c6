//! The engine thread: merges the market-data port, the execution port, the engine's timer
//! and operator commands into one time-ordered stream for [`Engine::process`], paces it
//! (real time, N times faster, or as fast as possible), and publishes the engine's view as
//! a latest value. It never waits for the console.

use crate::control::{RunControl, Speed};
use crate::domain::{Timestamp, TradingGate};
use crate::engine::clock::{Clock, ScaledClock};
use crate::engine::view::EngineView;
use crate::engine::{AlertLevel, Command, Effect, Engine, Input, Summary};
use crate::store::writer::StoreSink;
use crate::venue::{ExecutionPort, MarketDataPort, PortStats};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest a live run waits for market data before looking at operator commands.
const LIVE_POLL: Duration = Duration::from_millis(2);

/// Sees every effect and every processed item of a run (backtest statistics).
pub trait RunObserver: Send {
    /// An effect the engine produced, before it is dispatched.
    fn on_effect(&mut self, _engine: &Engine, _now: Timestamp, _effect: &Effect) {}
    /// After each processed item.
    fn after_step(&mut self, _engine: &Engine, _now: Timestamp) {}
    /// When the run has ended, before the result is taken.
    fn on_end(&mut self, _engine: &Engine) {}
}

/// How a run goes.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub speed: Speed,
    /// Stop after this much engine time.
    pub run_for: Option<Duration>,
    /// Publish the view at most this often (wall time).
    pub publish_every: Duration,
    /// On exit, wait at most this much engine time for cancels to be confirmed.
    pub exit_grace: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            speed: Speed::Times(1.0),
            run_for: None,
            publish_every: Duration::from_millis(33),
            exit_grace: Duration::from_secs(3),
        }
    }
}

/// What a finished run reports.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub summary: Summary,
    pub exec: PortStats,
    pub started: Timestamp,
    pub ended: Timestamp,
    pub wall: Duration,
    /// Orders still open when the run ended (cancels not confirmed in the grace period).
    pub open_orders_left: usize,
}

/// The console's (or main's) handle on a running engine thread.
pub struct EngineHandle {
    commands: Sender<Command>,
    controls: Sender<RunControl>,
    gate: TradingGate,
    view: watch::Receiver<Arc<EngineView>>,
    join: Option<JoinHandle<RunResult>>,
}

impl EngineHandle {
    /// Queue a command; never blocks. Returns false if the engine has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands.send(cmd).is_ok()
    }
    /// Send a replay control (pause, speed, step); never blocks.
    pub fn control(&self, c: RunControl) -> bool {
        self.controls.send(c).is_ok()
    }
    /// The kill switch: the gate closes before this returns, then the engine cancels.
    pub fn kill(&self) -> bool {
        self.gate.kill();
        self.send(Command::KillSwitch)
    }
    /// Ask the engine to stop (cancelling open orders as configured).
    pub fn shutdown(&self) -> bool {
        self.send(Command::Shutdown)
    }
    /// The latest published view.
    pub fn view(&self) -> Arc<EngineView> {
        self.view.borrow().clone()
    }
    /// A receiver that is told when a new view is published.
    pub fn subscribe(&self) -> watch::Receiver<Arc<EngineView>> {
        self.view.clone()
    }
    pub fn gate(&self) -> &TradingGate {
        &self.gate
    }
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.is_finished())
    }
    /// Wait for the engine thread to end.
    pub fn join(mut self) -> Option<RunResult> {
        self.join.take().and_then(|j| j.join().ok())
    }
}

/// Start the engine on its own thread.
pub fn spawn(
    engine: Engine,
    market: Box<dyn MarketDataPort>,
    exec: Box<dyn ExecutionPort>,
    opts: RunOptions,
) -> std::io::Result<EngineHandle> {
    spawn_with_store(engine, market, exec, opts, None)
}

/// Start the engine on its own thread, persisting through `store` (the store task): the
/// view is published only once everything it shows is durable.
pub fn spawn_with_store(
    engine: Engine,
    market: Box<dyn MarketDataPort>,
    exec: Box<dyn ExecutionPort>,
    opts: RunOptions,
    store: Option<StoreSink>,
) -> std::io::Result<EngineHandle> {
    let (tx, rx) = mpsc::channel();
    let gate = engine.gate().clone();
    let mut engine = engine;
    let (view_tx, view_rx) = watch::channel(Arc::new(engine.view()));
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let mut runner = Runner::new(engine, market, exec, opts);
    runner.controls = Some(ctl_rx);
    if let Some(sink) = store {
        runner.set_store(sink);
    }
    let join = std::thread::Builder::new()
        .name("pit-engine".into())
        .spawn(move || runner.run(rx, Some(view_tx)))?;
    Ok(EngineHandle {
        commands: tx,
        controls: ctl_tx,
        gate,
        view: view_rx,
        join: Some(join),
    })
}

/// The loop itself; usable without a thread (tests, benchmarks, backtests).
pub struct Runner {
    pub engine: Engine,
    pub market: Box<dyn MarketDataPort>,
    pub exec: Box<dyn ExecutionPort>,
    pub opts: RunOptions,
    effects: Vec<Effect>,
    reports: Vec<crate::domain::ExecReport>,
    now: Timestamp,
    /// The store task's sink, when the run persists.
    store: Option<StoreSink>,
    controls: Option<Receiver<RunControl>>,
    observer: Option<Box<dyn RunObserver>>,
}

impl Runner {
    pub fn new(
        engine: Engine,
        market: Box<dyn MarketDataPort>,
        exec: Box<dyn ExecutionPort>,
        opts: RunOptions,
    ) -> Self {
        Runner {
            now: engine.now(),
            engine,
            market,
            exec,
            opts,
            effects: Vec::with_capacity(64),
            reports: Vec::with_capacity(64),
            store: None,
            controls: None,
            observer: None,
        }
    }

    /// Persist through the store task: every effect the store keeps is queued to it.
    pub fn set_store(&mut self, sink: StoreSink) {
        self.store = Some(sink);
    }

    /// The store sink, if the run persists.
    pub fn store(&self) -> Option<&StoreSink> {
        self.store.as_ref()
    }

    /// Take replay controls from this channel during [`Runner::run`].
    pub fn with_controls(mut self, rx: Receiver<RunControl>) -> Self {
        self.controls = Some(rx);
        self
    }

    /// Let `obs` see every effect and step.
    pub fn with_observer(mut self, obs: Box<dyn RunObserver>) -> Self {
        self.observer = Some(obs);
        self
    }

    /// Engine time reached so far.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Time of the next item: a market event, a venue report or the engine's timer.
    pub fn next_time(&mut self) -> Timestamp {
        let mut next = self.engine.next_timer();
        for t in [self.market.peek_time(), self.exec.next_report_time()]
            .into_iter()
            .flatten()
        {
            next = next.min(t);
        }
        next
    }

    /// Process the next item in time order (venue reports first at equal times, then
    /// market data, then the timer). Returns its time.
    pub fn step(&mut self) -> Timestamp {
        let t_market = self.market.peek_time();
        let t_exec = self.exec.next_report_time();
        let next = self.next_time();
        self.now = self.now.max(next);
        if t_exec == Some(next) {
            self.exec.poll_reports(next, &mut self.reports);
            let mut reports = std::mem::take(&mut self.reports);
            for r in reports.drain(..) {
                self.engine.process(next, Input::Exec(r), &mut self.effects);
                self.dispatch(next);
            }
            self.reports = reports;
        } else if t_market == Some(next) {
            if let Some(mut ev) = self.market.next_event() {
                if self.market.is_live() {
                    // A live event may be stamped a moment before a timer already
                    // processed: engine time never goes back.
                    ev.ts = ev.ts.max(self.now);
                }
                self.exec.on_market(&ev);
                let ts = ev.ts;
                self.engine
                    .process(ts, Input::Market(ev), &mut self.effects);
                self.dispatch(ts);
            }
        } else {
            self.engine.process(next, Input::Timer, &mut self.effects);
            self.dispatch(next);
        }
        if let Some(o) = &mut self.observer {
            o.after_step(&self.engine, self.now);
        }
        next
    }

    /// Run until engine time `t` (items at `t` included).
    pub fn run_until(&mut self, t: Timestamp) {
        while self.next_time() <= t {
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Apply one operator command at the current engine time.
    pub fn command(&mut self, cmd: Command) {
        let at = self.now;
        tracing::info!(command = cmd.name(), "operator command");
        self.engine
            .process(at, Input::Command(cmd), &mut self.effects);
        self.dispatch(at);
    }

    /// Run until `run_for` elapses (engine time), the market ends, or a `Shutdown` command;
    /// then cancel open orders as configured and wait for the venue's confirmations.
    pub fn run(
        mut self,
        commands: Receiver<Command>,
        view_tx: Option<watch::Sender<Arc<EngineView>>>,
    ) -> RunResult {
        let wall_start = Instant::now();
        let started = self.engine.now();
        let end = self.opts.run_for.map(|d| started + d);
        // A live feed's events come at wall-clock times: engine time is the wall clock
        // (re-anchored every iteration; speed controls do not apply).
        let live = self.market.is_live();
        let mut clock = match self.opts.speed {
            _ if live => Some(ScaledClock::new(wall_now(), 1.0)),
            Speed::Times(s) => Some(ScaledClock::new(started, s)),
            Speed::Max => None,
        };
        let mut pending: Vec<Command> = Vec::new();
        let mut exit_deadline: Option<Timestamp> = None;
        let mut last_publish = Instant::now();
        let mut iteration: u64 = 0;
        let mut lag = Duration::ZERO;
        let mut paused = false;
        let mut orphaned = false;
        let mut steps: u32 = 0;
        let mut ctl_queue: Vec<RunControl> = Vec::new();
        // A view waiting for the store: (last record it reflects, the view).
        let mut held: Option<(u64, Arc<EngineView>)> = None;
        let publish = |engine: &mut Engine,
                       market: &dyn MarketDataPort,
                       store: Option<&StoreSink>,
                       held: &mut Option<(u64, Arc<EngineView>)>,
                       last: &mut Instant,
                       lag: Duration| {
            if let Some(tx) = &view_tx {
                // Never show what is not durable yet: hold the view until it is (one held
                // view at a time, so a busy engine still shows progress).
                if held.is_none() {
                    let mut view = engine.view();
                    view.engine_lag = lag;
                    view.health.feed = market.health();
                    let view = Arc::new(view);
                    match store {
                        Some(s) if !s.is_durable(s.emitted()) => {
                            *held = Some((s.emitted(), view));
                        }
                        _ => {
                            tx.send_replace(view);
                        }
                    }
                }
            }
            *last = Instant::now();
        };
        let release = |store: Option<&StoreSink>, held: &mut Option<(u64, Arc<EngineView>)>| {
            if let (Some(tx), Some(s), Some((mark, _))) = (&view_tx, store, held.as_ref())
                && s.is_durable(*mark)
                && let Some((_, view)) = held.take()
            {
                tx.send_replace(view);
            }
        };

        // Publish the view now (held back until durable when the run persists).
        macro_rules! publish_now {
            () => {
                publish(
                    &mut self.engine,
                    &*self.market,
                    self.store.as_ref(),
                    &mut held,
                    &mut last_publish,
                    lag,
                )
            };
        }

        loop {
            release(self.store.as_ref(), &mut held);
            // Operator commands first, in arrival order.
            loop {
                match commands.try_recv() {
                    Ok(cmd) => pending.push(cmd),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        // Nobody can command us any more: stop like a Shutdown, once.
                        if exit_deadline.is_none() && !orphaned {
                            pending.push(Command::Shutdown);
                        }
                        orphaned = true;
                        break;
                    }
                }
            }
            if !pending.is_empty() {
                self.apply_commands(&mut pending, &mut exit_deadline);
                publish_now!();
            }
            if let Some(deadline) = exit_deadline
                && (self.engine.open_orders().is_empty() || self.now >= deadline)
            {
                break;
            }

            // Replay controls: pause, speed, step.
            if let Some(rx) = &self.controls {
                ctl_queue.extend(rx.try_iter());
            }
            if !ctl_queue.is_empty() {
                let mut changed = None;
                for c in ctl_queue.drain(..) {
                    match c {
                        RunControl::Pause => paused = true,
                        RunControl::Resume => paused = false,
                        RunControl::TogglePause => paused = !paused,
                        RunControl::SetSpeed(s) => changed = Some(s),
                        RunControl::Step => steps += 1,
                    }
                    if !paused {
                        steps = 0;
                    }
                    // Any control re-anchors the clock at the current engine time.
                    changed.get_or_insert(self.opts.speed);
                }
                if let Some(s) = changed.filter(|_| !live) {
                    self.opts.speed = s;
                    clock = match s {
                        Speed::Times(x) => Some(ScaledClock::new(self.now, x)),
                        Speed::Max => None,
                    };
                }
            }
            if paused && exit_deadline.is_none() {
                if steps == 0 {
                    if last_publish.elapsed() >= self.opts.publish_every {
                        publish_now!();
                    }
                    match commands.recv_timeout(Duration::from_millis(10)) {
                        Ok(cmd) => pending.push(cmd),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => pending.push(Command::Shutdown),
                    }
                    continue;
                }
                steps -= 1;
                if self.market.peek_time().is_some() || !self.market.is_finished() {
                    self.step();
                    if let Some(c) = &mut clock
                        && let Speed::Times(x) = self.opts.speed
                    {
                        *c = ScaledClock::new(self.now, x);
                    }
                    publish_now!();
                    continue;
                }
            }

            // A replay read to its end stops like a Shutdown, at the last event's time.
            if exit_deadline.is_none()
                && self.market.is_finished()
                && self.market.peek_time().is_none()
            {
                pending.push(Command::Shutdown);
                continue;
            }

            let next = self.next_time();
            if exit_deadline.is_none()
                && let Some(e) = end
                && next > e
            {
                self.now = self.now.max(e);
                pending.push(Command::Shutdown);
                continue;
            }
            if let Some(deadline) = exit_deadline
                && next > deadline
            {
                self.now = deadline;
                break;
            }

            // Pace against the wall clock, staying responsive to commands. Once stopping,
            // run unpaced: waiting for cancel confirmations must not take grace / speed
            // of real time at a slow replay speed.
            if live {
                clock = Some(ScaledClock::new(wall_now(), 1.0));
            }
            if let Some(clock) = clock.as_ref().filter(|_| exit_deadline.is_none()) {
                let target = clock.wall_at(next);
                let mut got_command = false;
                let mut got_market = false;
                loop {
                    let wall = Instant::now();
                    if wall >= target {
                        break;
                    }
                    release(self.store.as_ref(), &mut held);
                    if wall.duration_since(last_publish) >= self.opts.publish_every {
                        publish_now!();
                    }
                    if let Some(rx) = &self.controls
                        && let Ok(c) = rx.try_recv()
                    {
                        // Handled at the top of the loop; re-queue it there.
                        ctl_queue.push(c);
                        got_command = true;
                        break;
                    }
                    let mut wait = (target - wall)
                        .min(self.opts.publish_every)
                        .min(Duration::from_millis(20));
                    if live {
                        // Wake for a live event as soon as it arrives; commands are
                        // looked at between short waits.
                        self.market.wait_ready(wall + wait.min(LIVE_POLL));
                        if self.market.peek_time().is_some() {
                            got_market = true;
                            break;
                        }
                        wait = Duration::ZERO;
                    }
                    match commands.recv_timeout(wait) {
                        Ok(cmd) => {
                            pending.push(cmd);
                            got_command = true;
                            break;
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            // Nobody can command us any more: stop like a Shutdown.
                            if exit_deadline.is_none() {
                                pending.push(Command::Shutdown);
                                got_command = true;
                            }
                            break;
                        }
                    }
                }
                if got_command {
                    self.now = self.now.max(clock.now().min(next));
                    continue;
                }
                if got_market {
                    continue;
                }
                lag = Instant::now().saturating_duration_since(target);
            }

            self.step();
            iteration += 1;
            if (clock.is_some() || iteration.is_multiple_of(1024))
                && last_publish.elapsed() >= self.opts.publish_every
            {
                publish_now!();
            }
        }
        // Report only durable figures: wait for the store to drain first.
        if let Some(s) = &self.store
            && !s.flush(Duration::from_secs(30))
        {
            tracing::error!(error = ?s.error(), "store: not everything could be committed");
        }
        held = None;
        publish_now!();
        if let Some(o) = &mut self.observer {
            o.on_end(&self.engine);
        }
        RunResult {
            summary: self.engine.summary(),
            exec: self.exec.stats(),
            started,
            ended: self.now,
            wall: wall_start.elapsed(),
            open_orders_left: self.engine.open_orders().len(),
        }
    }

    fn apply_commands(
        &mut self,
        pending: &mut Vec<Command>,
        exit_deadline: &mut Option<Timestamp>,
    ) {
        // In arrival order: the gate is already closed by the handle, so moving a kill ahead
        // would gain nothing and could let an earlier re-arm undo a later kill.
        for cmd in pending.drain(..) {
            let shutdown = matches!(cmd, Command::Shutdown);
            if shutdown && exit_deadline.is_some() {
                continue;
            }
            self.command(cmd);
            if shutdown {
                *exit_deadline = Some(self.now + self.opts.exit_grace);
            }
        }
    }

    fn dispatch(&mut self, now: Timestamp) {
        let mut effects = std::mem::take(&mut self.effects);
        for e in effects.drain(..) {
            if let Some(s) = self.store.as_mut() {
                s.on_effect(&e, now);
            }
            if let Some(o) = &mut self.observer {
                o.on_effect(&self.engine, now, &e);
            }
            match e {
                Effect::Submit(order) => {
                    let id = order.client_id.clone();
                    let reduce_only = order.reduce_only;
                    let before = self.exec.stats().orders_sent;
                    self.exec.submit(now, order);
                    if self.exec.stats().orders_sent > before {
                        tracing::debug!(%id, reduce_only, "order sent");
                    } else {
                        tracing::debug!(%id, reduce_only, "order stopped at the gate");
                    }
                }
                Effect::Cancel(id) => self.exec.cancel(now, &id),
                Effect::Alert(a) => match a.level {
                    AlertLevel::Critical => {
                        tracing::error!(source = %a.source, "{}", a.text)
                    }
                    AlertLevel::Warn => tracing::warn!(source = %a.source, "{}", a.text),
                    AlertLevel::Info => tracing::info!(source = %a.source, "{}", a.text),
                },
                Effect::Fill(f) => tracing::debug!(
                    seq = f.seq,
                    id = %f.client_id,
                    side = %f.side,
                    price = f.price.0,
                    qty = f.qty.0,
                    "fill"
                ),
                Effect::Audit(a) => {
                    tracing::info!(command = %a.command, detail = %a.detail, outcome = %a.outcome, "audit")
                }
                Effect::OrderUpdate(_)
                | Effect::PositionChanged { .. }
                | Effect::TradeClosed(_)
                | Effect::StateChanged { .. }
                | Effect::StrategyToggled { .. } => {}
            }
        }
        self.effects = effects;
    }
}

/// The time a live clock says, for callers that need one outside the engine.
pub fn wall_now() -> Timestamp {
    crate::engine::clock::WallClock.now()
}
