//! Commands into the engine thread: the kill switch's [`Killer`] and its priority lane,
//! and the inbox of operator commands the runner drains every turn.

use crate::domain::TradingGate;
use crate::emergency::latch::HaltLatch;
use crate::engine::Command;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

/// Trips the kill switch from any thread: the gate closes before [`Killer::kill`]
/// returns, then the engine halts with `source` and `reason` and cancels every open order.
#[derive(Clone, Debug)]
pub struct Killer {
    pub(super) gate: TradingGate,
    pub(super) commands: Sender<Command>,
    pub(super) lane: KillLane,
    /// The halt latch, written and fsynced on its own thread right after the gate closes.
    pub(super) latch: Option<HaltLatch>,
}

impl Killer {
    /// Close the gate at once, then ask the engine to halt. Returns false if the engine
    /// has stopped (the gate is closed all the same).
    pub fn kill(&self, source: &str, reason: &str) -> bool {
        self.press(Command::KillFrom {
            source: source.into(),
            reason: reason.into(),
        })
    }

    /// The gate first; then the kill goes into the priority lane, which the engine looks
    /// at before every command and every item; then a copy goes down the command channel
    /// to wake the engine (the engine drops that copy: the lane carried it).
    pub(super) fn press(&self, kill: Command) -> bool {
        self.gate.kill();
        if let Some(l) = &self.latch {
            match &kill {
                Command::KillFrom { source, reason } => l.halt(source, reason),
                _ => l.halt("operator", "kill switch pressed"),
            }
        }
        self.lane.push(kill.clone());
        self.commands.send(kill).is_ok()
    }

    /// Whether the trading gate is open now.
    pub fn gate_is_open(&self) -> bool {
        self.gate.is_open()
    }
}

/// The kill switch's priority lane: kills waiting for the engine, ahead of every queued
/// command. Each kill pushed here is also sent down the command channel (as a wake-up);
/// the runner counts the copies it owes and drops them.
#[derive(Clone, Debug, Default)]
pub(super) struct KillLane(Arc<std::sync::Mutex<Vec<Command>>>);

impl KillLane {
    pub(super) fn push(&self, kill: Command) {
        // A poisoned lock still holds the kills: take them.
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(kill);
    }
    pub(super) fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Operator commands: the channel, those waiting to be applied, and whether the sender is
/// gone.
pub(super) struct Inbox {
    rx: Receiver<Command>,
    pub(super) pending: VecDeque<Command>,
    /// Kill commands in `pending` (the priority lane looks for them only when there are).
    pub(super) kills: usize,
    /// Nobody can command the run any more.
    orphaned: bool,
}

impl Inbox {
    pub(super) fn new(rx: Receiver<Command>) -> Self {
        Inbox {
            rx,
            pending: VecDeque::new(),
            kills: 0,
            orphaned: false,
        }
    }

    /// Queue one command, counting kills for the priority lane.
    pub(super) fn push(&mut self, cmd: Command) {
        if cmd.is_kill() {
            self.kills += 1;
        }
        self.pending.push_back(cmd);
    }

    /// Queue everything that arrived. A hung-up channel stops the run like a Shutdown,
    /// once (not when it is already `stopping`).
    pub(super) fn drain(&mut self, stopping: bool) {
        loop {
            match self.rx.try_recv() {
                Ok(cmd) => self.push(cmd),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if !stopping && !self.orphaned {
                        self.push(Command::Shutdown);
                    }
                    self.orphaned = true;
                    break;
                }
            }
        }
    }

    /// Wait up to `timeout` for a command (a hung-up channel queues a Shutdown). Returns
    /// whether anything was queued.
    pub(super) fn wait(&mut self, timeout: Duration) -> bool {
        match self.rx.recv_timeout(timeout) {
            Ok(cmd) => {
                self.push(cmd);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                self.push(Command::Shutdown);
                true
            }
        }
    }
}
