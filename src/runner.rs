//! The engine thread: merges the market-data port, the execution port, the engine's timer
//! and operator commands into one time-ordered stream for [`Engine::process`], paces it
//! (real time, N times faster, or as fast as possible), and publishes the engine's view as
//! a latest value. It never waits for the console.

use crate::domain::{ClientOrderId, Timestamp, TradingGate};
use crate::emergency::killer::{KillLane, Killer};
use crate::emergency::latch::HaltLatch;
use crate::engine::clock::Clock;
use crate::engine::view::EngineView;
use crate::engine::{AlertLevel, Command, Effect, Engine, Input, Summary};
use crate::pace::{RunControl, Speed};
use crate::store::writer::StoreSink;
use crate::venue::{ExecutionPort, GatedPort, MarketDataPort, PortStats};
use inbox::Inbox;
use pacer::Pacer;
use publisher::Publisher;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

mod feedwatch;
mod inbox;
mod pacer;
mod publisher;
pub mod volume;

/// Longest a live run waits for market data before looking at operator commands.
const LIVE_POLL: Duration = Duration::from_millis(2);
/// Most items one turn of an unpaced run processes (see [`Runner::burst`]).
const BURST: u32 = 256;

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
    /// The data folder's durable halt latch: every halt is latched, a re-arm removes it,
    /// a re-arm is refused while a `HALT` file is there. `None`: no latch (tests,
    /// backtests).
    pub latch: Option<HaltLatch>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            speed: Speed::Times(1.0),
            run_for: None,
            publish_every: Duration::from_millis(33),
            exit_grace: Duration::from_secs(3),
            latch: None,
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
    /// The store failed to write (the error): the run was halted at the failure and the
    /// store holds only what was committed before it.
    pub store_failed: Option<String>,
    /// The engine thread panicked (where and why): the gate was closed and the run
    /// stopped in order from there.
    pub panicked: Option<String>,
}

/// The console's (or main's) handle on a running engine thread.
pub struct EngineHandle {
    commands: Sender<Command>,
    lane: KillLane,
    controls: Sender<RunControl>,
    gate: TradingGate,
    view: watch::Receiver<Arc<EngineView>>,
    join: Option<JoinHandle<RunResult>>,
    latch: Option<HaltLatch>,
    heartbeat: crate::watchdog::Heartbeat,
    alerts: crate::watchdog::AlertInbox,
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
    /// The kill switch: the gate closes before this returns, then the engine cancels
    /// (the kill jumps every queued command).
    pub fn kill(&self) -> bool {
        self.killer().press(Command::KillSwitch)
    }
    /// A handle that trips the kill switch from any thread (a signal, the `HALT` file, the
    /// control socket), without going through the console.
    pub fn killer(&self) -> Killer {
        Killer {
            gate: self.gate.clone(),
            commands: self.commands.clone(),
            latch: self.latch.clone(),
            lane: self.lane.clone(),
        }
    }
    /// A sender of operator commands for another thread (the control socket); never
    /// blocks.
    pub fn command_sender(&self) -> Sender<Command> {
        self.commands.clone()
    }
    /// Raise an alert in the engine from another thread (shown, logged and stored on the
    /// engine's next turn); never blocks.
    pub fn alert(&self, level: AlertLevel, source: &str, text: String) {
        self.alerts.push(level, source, text);
    }
    /// The engine loop's heartbeat and alert inbox, for the watchdog.
    pub fn pulse(&self) -> (crate::watchdog::Heartbeat, crate::watchdog::AlertInbox) {
        (self.heartbeat.clone(), self.alerts.clone())
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
    spawn_observed(engine, market, exec, opts, store, None)
}

/// [`spawn_with_store`], with `observer` seeing every effect on the engine thread (it must
/// not wait: the notifier hands messages over with `try_send`).
pub fn spawn_observed(
    engine: Engine,
    market: Box<dyn MarketDataPort>,
    exec: Box<dyn ExecutionPort>,
    opts: RunOptions,
    store: Option<StoreSink>,
    observer: Option<Box<dyn RunObserver>>,
) -> std::io::Result<EngineHandle> {
    let (tx, rx) = mpsc::channel();
    let gate = engine.gate().clone();
    let mut engine = engine;
    let latch = opts.latch.clone();
    let (view_tx, view_rx) = watch::channel(Arc::new(engine.view()));
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let mut runner = Runner::new(engine, market, exec, opts);
    runner.controls = Some(ctl_rx);
    runner.observer = observer;
    let lane = runner.lane.clone();
    if let Some(sink) = store {
        runner.set_store(sink);
    }
    let heartbeat = runner.heartbeat.clone();
    let alerts = runner.alerts.clone();
    let join = std::thread::Builder::new()
        .name("pit-engine".into())
        .spawn(move || runner.run(rx, Some(view_tx)))?;
    Ok(EngineHandle {
        commands: tx,
        lane,
        controls: ctl_tx,
        gate,
        view: view_rx,
        join: Some(join),
        latch,
        heartbeat,
        alerts,
    })
}

/// The loop itself; usable without a thread (tests, benchmarks, backtests).
pub struct Runner {
    pub engine: Engine,
    pub market: Box<dyn MarketDataPort>,
    /// The execution port, always behind the engine's trading gate ([`GatedPort`]).
    pub exec: Box<dyn ExecutionPort>,
    pub opts: RunOptions,
    effects: Vec<Effect>,
    reports: Vec<crate::domain::ExecReport>,
    now: Timestamp,
    /// The store task's sink, when the run persists.
    store: Option<StoreSink>,
    controls: Option<Receiver<RunControl>>,
    observer: Option<Box<dyn RunObserver>>,
    /// The store's write error, once the run has halted for it.
    store_failed: Option<String>,
    /// The execution port failed in a way that must keep this run halted (the paper
    /// venue's log could not be written): a re-arm is refused for the rest of the run.
    venue_failed: Option<String>,
    /// The kill switch's priority lane.
    lane: KillLane,
    /// A kill's cancels already handed to the port while the engine halted, in order:
    /// their `Effect::Cancel`s are not sent again.
    early_cancels: std::collections::VecDeque<ClientOrderId>,
    /// Kills taken from the lane whose wake-up copy has not come down the channel yet.
    lane_copies_owed: usize,
    /// Bumped every turn, waits included (the watchdog samples it).
    heartbeat: crate::watchdog::Heartbeat,
    /// Alerts raised from other threads, raised in the engine each turn.
    alerts: crate::watchdog::AlertInbox,
    /// The loop panicked (the first panic's text).
    panicked: Option<String>,
    /// Log lines dropped so far when last raised, and when.
    log_dropped: (usize, Option<std::time::Instant>),
    /// The session's volume by price, for the published view's ladder (only kept when the
    /// run publishes views).
    volume: Option<volume::SessionVolume>,
}

impl Runner {
    pub fn new(
        engine: Engine,
        market: Box<dyn MarketDataPort>,
        exec: Box<dyn ExecutionPort>,
        opts: RunOptions,
    ) -> Self {
        // The one place the gate is enforced: every order to any port passes it.
        let mut exec = Box::new(GatedPort::new(engine.gate().clone(), exec));
        let heartbeat = crate::watchdog::Heartbeat::default();
        exec.watch_engine(heartbeat.clone());
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
            store_failed: None,
            venue_failed: None,
            panicked: None,
            log_dropped: (0, None),
            lane: KillLane::default(),
            early_cancels: Default::default(),
            lane_copies_owed: 0,
            heartbeat,
            alerts: Default::default(),
            volume: None,
        }
    }

    /// A kill switch for this runner, for [`Runner::run`] with `commands` as its channel:
    /// its kills take the priority lane.
    pub fn killer(&self, commands: Sender<Command>) -> Killer {
        Killer {
            gate: self.engine.gate().clone(),
            commands,
            lane: self.lane.clone(),
            latch: self.opts.latch.clone(),
        }
    }

    /// Carry out the kills waiting in the priority lane, if a press has come since the
    /// engine last acted on one (one atomic load otherwise) or `always`. Returns whether
    /// any was.
    fn take_lane(&mut self, inbox: &mut Inbox, always: bool) -> bool {
        if !always && self.engine.gate().kills() == self.engine.kills_seen() {
            return false;
        }
        let kills = self.lane.take();
        if kills.is_empty() {
            return false;
        }
        // Re-arms already queued came before these kills: they must not undo them.
        let queued = inbox.pending.len();
        inbox.pending.retain(|c| !matches!(c, Command::ReArm));
        let dropped = queued - inbox.pending.len();
        if dropped > 0 {
            tracing::warn!(dropped, "re-arm dropped: a kill switch press came after it");
        }
        for kill in kills {
            self.lane_copies_owed += 1;
            self.command(kill);
        }
        true
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
        let t_market = self.market.peek_time();
        let t_exec = self.exec.next_report_time();
        self.earliest(t_market, t_exec)
    }

    /// Process the next item in time order (venue reports first at equal times, then
    /// market data, then the timer). Returns its time.
    pub fn step(&mut self) -> Timestamp {
        self.apply_venue_rules();
        let t_market = self.market.peek_time();
        let t_exec = self.exec.next_report_time();
        self.step_at(t_market, t_exec)
    }

    /// A live venue's rules (exchange filters), read by its connection task: applied
    /// before anything else, at the time reached (nothing on paper: no allocation).
    /// Returns whether any were. Inlined to the poll and its empty test (most items).
    #[inline]
    fn apply_venue_rules(&mut self) -> bool {
        let mut rules = Vec::new();
        self.exec.poll_venue_rules(&mut rules);
        if rules.is_empty() {
            // (Not iterated when empty: dropping the iterator cost ~40 instructions an
            // item.)
            return false;
        }
        self.apply_rules(rules);
        true
    }

    /// The venue rules [`Runner::apply_venue_rules`] read, to the engine.
    #[inline(never)]
    fn apply_rules(&mut self, rules: Vec<crate::venue::VenueRulesUpdate>) {
        for (instrument, rules) in rules {
            let at = self.now;
            self.engine.process(
                at,
                Input::VenueRules { instrument, rules },
                &mut self.effects,
            );
            self.dispatch(at);
        }
    }

    /// The earliest of the engine's timer and the two times given.
    fn earliest(&self, t_market: Option<Timestamp>, t_exec: Option<Timestamp>) -> Timestamp {
        let mut next = self.engine.next_timer();
        for t in [t_market, t_exec].into_iter().flatten() {
            next = next.min(t);
        }
        next
    }

    /// [`Runner::step`] after the venue rules, with the market's next time `t_market` and
    /// the venue's `t_exec` as just asked (the caller asked them after the rules and
    /// nothing ran since: each is asked once an item).
    fn step_at(&mut self, t_market: Option<Timestamp>, t_exec: Option<Timestamp>) -> Timestamp {
        let next = self.earliest(t_market, t_exec);
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
                if let (Some(v), crate::domain::MarketEventKind::Trade(t)) =
                    (&mut self.volume, &ev.kind)
                {
                    v.record(ev.instrument, t);
                }
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
        loop {
            let t_market = self.market.peek_time();
            let t_exec = self.exec.next_report_time();
            if self.earliest(t_market, t_exec) > t {
                break;
            }
            if self.apply_venue_rules() || self.market.is_live() {
                // Rules may have sent orders, and a live feed may have an event by now:
                // the times are asked again, as a step does.
                self.step();
            } else {
                // Nothing ran since the times were asked: the item is the one they name.
                self.step_at(t_market, t_exec);
            }
        }
        self.now = self.now.max(t);
    }

    /// Apply one operator command at the current engine time.
    pub fn command(&mut self, cmd: Command) {
        let at = self.now;
        tracing::info!(command = cmd.name(), "operator command");
        if cmd.is_kill() {
            // The kill's cancels go to the venue as the engine decides each one, not
            // after its whole halt (a thousand targets took ~0.4 ms before the first).
            let (exec, early) = (&mut self.exec, &mut self.early_cancels);
            self.engine
                .process_with(at, Input::Command(cmd), &mut self.effects, &mut |id| {
                    exec.cancel(at, id);
                    early.push_back(id.clone());
                });
        } else {
            self.engine
                .process(at, Input::Command(cmd), &mut self.effects);
        }
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
        let pacer = Pacer::new(
            self.market.is_live(),
            self.opts.speed,
            started,
            self.controls.take(),
        );
        if view_tx.is_some() {
            let n = self.market.instruments().len();
            self.volume = Some(volume::SessionVolume::new(n));
        }
        let mut run = RunState {
            inbox: Inbox::new(commands),
            pacer,
            publisher: Publisher::new(view_tx, self.opts.publish_every, self.opts.latch.clone()),
            exit_deadline: None,
            end: self.opts.run_for.map(|d| started + d),
            iteration: 0,
        };
        loop {
            // A panic in a turn fails closed: the gate closes (the process-wide hook has
            // done it already, and logged where), then the normal shutdown runs: cancels
            // go out and are waited for. A second panic ends the loop at once.
            let turn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::panics::inject("engine");
                crate::panics::inject_stall("engine");
                self.turn(&mut run)
            }));
            match turn {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => break,
                Err(p) => {
                    self.engine.gate().close();
                    let text = crate::panics::payload_text(&*p);
                    if self.panicked.is_some() {
                        tracing::error!(
                            "engine panicked again while stopping ({text}): stopping now"
                        );
                        break;
                    }
                    self.engine.raise_alert(
                        AlertLevel::Critical,
                        "engine",
                        format!("engine panicked ({text}): gate closed, stopping in order"),
                    );
                    self.panicked = Some(text);
                    run.inbox.push(Command::Shutdown);
                }
            }
        }
        self.finish(&mut run, started, wall_start)
    }

    /// One turn of the loop: commands, then controls, then (paced) the next item.
    fn turn(&mut self, run: &mut RunState) -> ControlFlow<()> {
        self.heartbeat.beat();
        self.alerts.raise_in(&mut self.engine);
        run.publisher.release(self.store.as_ref());
        if self.store_failed.is_none() && self.store.as_ref().is_some_and(StoreSink::has_failed) {
            self.halt_for_store();
        }
        if let Some(err) = self.opts.latch.as_ref().and_then(HaltLatch::take_failure) {
            let text = format!(
                "halt latch NOT written ({err}): the halt may not survive a restart; staying halted"
            );
            self.engine
                .raise_alert(AlertLevel::Critical, "halt latch", text);
        }
        if let Some(err) = crate::logging::take_write_failure() {
            self.halt_for_log(&err);
        }
        if let Some(err) = self.exec.take_failure() {
            self.halt_for("venue", err.clone());
            self.venue_failed = Some(err);
        }
        self.note_dropped_log_lines();
        if self.take_lane(&mut run.inbox, false) {
            self.publish(run);
        }
        self.take_commands(run);
        if let Some(deadline) = run.exit_deadline
            && (self.engine.open_orders().is_empty() || self.now >= deadline)
        {
            return ControlFlow::Break(());
        }
        run.pacer.apply_controls(self.now);
        if run.pacer.paused && run.exit_deadline.is_none() && self.paused_turn(run) {
            return ControlFlow::Continue(());
        }

        // A replay read to its end stops like a Shutdown, at the last event's time.
        if run.exit_deadline.is_none()
            && self.market.is_finished()
            && self.market.peek_time().is_none()
        {
            run.inbox.push(Command::Shutdown);
            return ControlFlow::Continue(());
        }

        let next = self.next_time();
        if run.exit_deadline.is_none()
            && let Some(e) = run.end
            && next > e
        {
            self.now = self.now.max(e);
            run.inbox.push(Command::Shutdown);
            return ControlFlow::Continue(());
        }
        if let Some(deadline) = run.exit_deadline
            && next > deadline
        {
            self.now = deadline;
            return ControlFlow::Break(());
        }
        if !self.pace(run, next) {
            return ControlFlow::Continue(());
        }

        self.step();
        run.iteration += 1;
        if (run.pacer.clock.is_some() || run.iteration.is_multiple_of(1024)) && run.publisher.due()
        {
            self.publish(run);
        }
        if run.pacer.clock.is_none() && !run.pacer.live && !run.pacer.paused {
            self.burst(run);
        }
        ControlFlow::Continue(())
    }

    /// Unpaced (a backtest, a replay at max speed): up to [`BURST`] more items in this
    /// turn. The turn's checks of channels, alerts and the log (about 400 instructions,
    /// more than the engine spends on most events) then run once per burst, not once per
    /// item. A kill switch press is still looked at before every item (the press closes
    /// the gate at once itself; the engine acts on it in the next turn); a failed store or
    /// venue has closed the gate itself too, and the engine halts for it at the next turn.
    /// The items and their order are those of single turns (the same `fill_log_sha256`):
    /// only operator commands and controls, which come at wall-clock moments, are seen up
    /// to one burst (well under a millisecond) later.
    fn burst(&mut self, run: &mut RunState) {
        if run.exit_deadline.is_some() {
            return;
        }
        for _ in 1..BURST {
            if self.engine.gate().kills() != self.engine.kills_seen() {
                return;
            }
            // What the turn would do next. Its end-of-replay check comes before it asks
            // for the next time, so that asking is what finds the end of the market data
            // and the turn then still processes the next timer or report (if before
            // `run_for`'s end); the same here, then back to the turn, which stops.
            if self.market.is_finished() {
                return;
            }
            let t_market = match self.market.peek_time() {
                // At or before `run_for`'s end: so is the next item.
                Some(t) if run.end.is_none_or(|e| t <= e) => Some(t),
                Some(_) => return,
                None => {
                    if run.end.is_none_or(|e| self.next_time() <= e) {
                        self.step();
                        run.iteration += 1;
                    }
                    return;
                }
            };
            if self.apply_venue_rules() {
                self.step();
            } else {
                // The market is not live here (a burst is unpaced and not live): the time
                // just asked is the one a step would ask.
                let t_exec = self.exec.next_report_time();
                self.step_at(t_market, t_exec);
            }
            run.iteration += 1;
            if run.iteration.is_multiple_of(1024) && run.publisher.due() {
                self.publish(run);
            }
        }
    }

    /// Operator commands first, in arrival order (a kill first); the view goes out after
    /// them when one is due.
    fn take_commands(&mut self, run: &mut RunState) {
        run.inbox.drain(run.exit_deadline.is_some());
        if !run.inbox.pending.is_empty() {
            self.apply_commands(&mut run.inbox, &mut run.exit_deadline);
            // At most one view per `publish_every` however many commands come (a storm
            // of commands must not turn the engine into a view builder); a kill's view
            // goes out at once (see `turn`).
            if run.publisher.due() {
                self.publish(run);
            }
        }
    }

    /// A turn while paused: wait briefly for a command, or process the one item a `Step`
    /// granted. Returns whether the turn is over (false: a step with nothing left to read,
    /// which goes on to the end-of-replay check).
    fn paused_turn(&mut self, run: &mut RunState) -> bool {
        if run.pacer.steps == 0 {
            if run.publisher.due() {
                self.publish(run);
            }
            run.inbox.wait(Duration::from_millis(10));
            return true;
        }
        run.pacer.steps -= 1;
        if self.market.peek_time().is_some() || !self.market.is_finished() {
            self.step();
            run.pacer.reanchor(self.now);
            self.publish(run);
            return true;
        }
        false
    }

    /// Pace against the wall clock, staying responsive to commands. Once stopping, a
    /// replay runs unpaced: waiting for cancel confirmations must not take grace / speed
    /// of real time at a slow replay speed. A live run stays paced: its venue confirms in
    /// wall time, and an unpaced engine would reach the grace deadline before the answers
    /// came. Returns whether the item at `next` is due now (false: something came first
    /// and the turn starts over).
    fn pace(&mut self, run: &mut RunState, next: Timestamp) -> bool {
        run.pacer.follow_wall();
        let live = run.pacer.live;
        let Some(clock) = run
            .pacer
            .clock
            .filter(|_| run.exit_deadline.is_none() || live)
        else {
            return true;
        };
        let target = clock.wall_at(next);
        match self.wait_until(run, target) {
            Waited::Due => {
                run.pacer.lag = Instant::now().saturating_duration_since(target);
                true
            }
            Waited::Command => {
                self.now = self.now.max(clock.now().min(next));
                false
            }
            Waited::Market => false,
        }
    }

    /// Wait for the wall clock to reach `target`, releasing and publishing views as due;
    /// stop early for a command or a replay control, or (live) a market event.
    fn wait_until(&mut self, run: &mut RunState, target: Instant) -> Waited {
        loop {
            self.heartbeat.beat();
            let wall = Instant::now();
            if wall >= target {
                return Waited::Due;
            }
            run.publisher.release(self.store.as_ref());
            if run.publisher.due_at(wall) {
                self.publish(run);
            }
            if run.pacer.control_arrived() {
                return Waited::Command;
            }
            let mut wait = (target - wall)
                .min(self.opts.publish_every)
                .min(Duration::from_millis(20));
            if run.pacer.live {
                // Wake for a live event as soon as it arrives; commands are looked at
                // between short waits.
                self.market.wait_ready(wall + wait.min(LIVE_POLL));
                // A live venue's report (an ack, a fill, a cancel) is processed as soon
                // as it is here, not at the next timer (a paper venue's report not yet
                // due waits for its time).
                let report_due = run.pacer.clock.is_some_and(|c| {
                    self.exec
                        .next_report_time()
                        .is_some_and(|t| t <= Clock::now(&c))
                });
                if self.market.peek_time().is_some() || report_due {
                    return Waited::Market;
                }
                wait = Duration::ZERO;
            }
            if run.inbox.wait(wait) {
                return Waited::Command;
            }
        }
    }

    /// Publish the view now (held back until durable when the run persists).
    fn publish(&mut self, run: &mut RunState) {
        run.publisher.publish(
            &mut self.engine,
            &*self.market,
            &*self.exec,
            self.store.as_ref(),
            run.pacer.lag,
            self.volume.as_ref(),
        );
    }

    /// The end of a run: once the store has committed everything, the last view and the
    /// result.
    fn finish(mut self, run: &mut RunState, started: Timestamp, wall_start: Instant) -> RunResult {
        self.heartbeat.stop();
        // Report only durable figures: wait for the store to drain first.
        if let Some(s) = &self.store
            && !s.flush(Duration::from_secs(30))
        {
            tracing::error!(error = ?s.error(), "store: not everything could be committed");
        }
        if self.store_failed.is_none() && self.store.as_ref().is_some_and(StoreSink::has_failed) {
            // Failed on the last commit, after the loop ended: still a failed run.
            self.halt_for_store();
        }
        run.publisher.held = None;
        self.publish(run);
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
            store_failed: self.store_failed.clone(),
            panicked: self.panicked.clone(),
        }
    }

    /// The store cannot write: its thread has already closed the gate; halt the engine
    /// (its open orders are cancelled: a resting order that fills now is a fill the store
    /// can never record, so a restart would restore a wrong position), latch the halt and
    /// raise a CRITICAL alert. A re-arm is refused for the rest of the run.
    fn halt_for_store(&mut self) {
        let err = self
            .store
            .as_ref()
            .and_then(StoreSink::error)
            .unwrap_or_else(|| "unknown error".into());
        self.halt_for("store", format!("store write failed: {err}"));
        self.store_failed = Some(err);
    }

    /// The log could not be written (a full disk, an I/O error): what pit does is no
    /// longer recorded, so it stops trading as for a failed store (gate closed, cancels
    /// still go out, HALTED with the reason; a re-arm is the operator's call once the
    /// disk is fixed).
    fn halt_for_log(&mut self, err: &str) {
        self.halt_for("log", format!("log write failed: {err}"));
    }

    /// Fail closed for `source`: the gate closes at once, a CRITICAL alert says `why`,
    /// and the engine halts with it as the reason (cancels still go out).
    fn halt_for(&mut self, source: &str, why: String) {
        self.engine.gate().close();
        let text = format!("{why}; trading stopped, cancels still go out");
        self.engine.raise_alert(AlertLevel::Critical, source, text);
        let at = self.now;
        let halt = Command::KillFrom {
            source: source.into(),
            reason: why,
        };
        self.engine
            .process(at, Input::Command(halt), &mut self.effects);
        self.dispatch(at);
    }

    /// Lines the log writer dropped (its queue full: the disk fell behind) become a
    /// warning, at most one every 10 s.
    fn note_dropped_log_lines(&mut self) {
        let dropped = crate::logging::dropped_lines();
        if dropped <= self.log_dropped.0 {
            return;
        }
        let now = std::time::Instant::now();
        if self
            .log_dropped
            .1
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        let text = format!(
            "{} log lines dropped: the log writer fell behind the disk (the log is incomplete)",
            dropped - self.log_dropped.0
        );
        self.engine.raise_alert(AlertLevel::Warn, "log", text);
        self.log_dropped = (dropped, Some(now));
    }

    /// Apply the queued commands in arrival order, except that a kill jumps the queue: the
    /// kill switch is a priority lane. Before each command the runner looks for a kill that
    /// was pressed since (the gate's press count moved) and takes it first, so a thousand
    /// queued commands do not delay its cancels. A re-arm queued with a kill is dropped:
    /// it must not undo the kill (press R again once halted).
    fn apply_commands(&mut self, inbox: &mut Inbox, exit_deadline: &mut Option<Timestamp>) {
        loop {
            self.take_lane(inbox, false);
            if self.engine.gate().kills() != self.engine.kills_seen() {
                // A press that did not take the lane (a bare gate and command): fetch its
                // command now, whatever is queued before it.
                inbox.drain(exit_deadline.is_some());
            }
            if inbox.kills > 0
                && let Some(at) = inbox.pending.iter().position(Command::is_kill)
            {
                let kill = inbox.pending.remove(at).unwrap_or(Command::KillSwitch);
                inbox.kills -= 1;
                // Whatever the lane delivered first is carried out before this copy.
                self.take_lane(inbox, true);
                if self.lane_copies_owed > 0 {
                    // The wake-up copy of a kill the lane already carried: the re-arms
                    // queued before it came before that kill and must not undo it.
                    self.lane_copies_owed -= 1;
                    let mut i = 0;
                    inbox.pending.retain(|c| {
                        i += 1;
                        i > at || !matches!(c, Command::ReArm)
                    });
                    continue;
                }
                let queued = inbox.pending.len();
                inbox.pending.retain(|c| !matches!(c, Command::ReArm));
                let dropped = queued - inbox.pending.len();
                if dropped > 0 {
                    tracing::warn!(dropped, "re-arm dropped: a kill switch press came with it");
                }
                self.command(kill);
                continue;
            }
            let Some(cmd) = inbox.pending.pop_front() else {
                break;
            };
            if self.lane_copies_owed > 0 && matches!(cmd, Command::ReArm) {
                // Queued ahead of the wake-up copy of a kill already carried out: it came
                // before that kill.
                tracing::warn!("re-arm dropped: a kill switch press came after it");
                continue;
            }
            let shutdown = matches!(cmd, Command::Shutdown);
            if shutdown && exit_deadline.is_some() {
                continue;
            }
            if matches!(cmd, Command::ReArm)
                && let Some(err) = &self.store_failed
            {
                let text = format!(
                    "re-arm refused: the store failed ({err}); nothing can be recorded, so this run stays halted: free the disk, then restart pit"
                );
                tracing::warn!("{text}");
                self.engine.raise_alert(AlertLevel::Warn, "operator", text);
                continue;
            }
            if matches!(cmd, Command::ReArm)
                && let Some(err) = &self.venue_failed
            {
                let text = format!(
                    "re-arm refused: {err}; the venue's record is incomplete, so this run stays halted: free the disk, then restart pit"
                );
                tracing::warn!("{text}");
                self.engine.raise_alert(AlertLevel::Warn, "operator", text);
                continue;
            }
            if matches!(cmd, Command::ReArm)
                && let Some(l) = self.opts.latch.as_ref().filter(|l| l.halt_file_present())
            {
                let text = format!(
                    "re-arm refused: {} is present; remove it, then re-arm",
                    l.dir().join(crate::emergency::HALT_FILE).display()
                );
                tracing::warn!("{text}");
                // Shown at once; logged and stored with the next input's effects.
                self.engine.raise_alert(AlertLevel::Warn, "operator", text);
                continue;
            }
            self.command(cmd);
            if shutdown {
                *exit_deadline = Some(self.now + self.opts.exit_grace);
            }
        }
        inbox.kills = 0;
    }

    fn dispatch(&mut self, now: Timestamp) {
        if self.effects.is_empty() {
            // Most market events decide nothing: no drain to set up and drop.
            if !self.early_cancels.is_empty() {
                self.early_cancels.clear();
            }
            return;
        }
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
                    let reduce_only = order.spec.reduce_only;
                    let before = self.exec.stats().orders_sent;
                    if let Some(s) = self.store.as_ref() {
                        // The order's record is queued before its submit: a live port
                        // sends it only once the store has it durably.
                        self.exec.store_barrier(s.emitted());
                    }
                    self.exec.submit(now, order);
                    if self.exec.stats().orders_sent > before {
                        tracing::debug!(%id, reduce_only, "order sent");
                    } else {
                        tracing::debug!(%id, reduce_only, "order stopped at the gate");
                    }
                }
                Effect::Cancel(id) => {
                    // Sent already when the engine decided it (a kill's cancels, in order).
                    if self.early_cancels.front() == Some(&id) {
                        self.early_cancels.pop_front();
                    } else {
                        self.exec.cancel(now, &id)
                    }
                }
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
                Effect::StateChanged { state, reason } => {
                    if let Some(l) = &self.opts.latch {
                        if state == crate::domain::TradingState::Halted {
                            l.halt("engine", reason.as_deref().unwrap_or("halted"));
                        } else {
                            l.clear();
                        }
                    }
                }
                Effect::OrderUpdate(_)
                | Effect::PositionChanged { .. }
                | Effect::EquityPeak(_)
                | Effect::AgedPosition { .. }
                | Effect::TradeClosed(_)
                | Effect::StrategyToggled { .. }
                | Effect::StrategyConfigured { .. }
                | Effect::Bracket { .. }
                | Effect::Algo { .. } => {}
            }
        }
        self.effects = effects;
        // Every early cancel is in the effects it came with, so none is left over (only a
        // panic in the middle of a halt could leave one; it must not swallow a later cancel).
        self.early_cancels.clear();
    }
}

/// One run's loop state, in named parts: commands in, the pace, the view out, and the stop.
struct RunState {
    inbox: Inbox,
    pacer: Pacer,
    publisher: Publisher,
    /// Set by the first `Shutdown`: the engine time by which cancels must be confirmed.
    exit_deadline: Option<Timestamp>,
    /// Where `run_for` ends, engine time.
    end: Option<Timestamp>,
    /// Items processed; an unpaced run publishes at most every 1024th.
    iteration: u64,
}

/// How a paced wait ended.
enum Waited {
    /// The wall clock reached the item's time.
    Due,
    /// A command or a replay control arrived first.
    Command,
    /// A live market event or a live venue's report arrived first.
    Market,
}

/// The time a live clock says, for callers that need one outside the engine.
pub fn wall_now() -> Timestamp {
    crate::engine::clock::WallClock.now()
}
