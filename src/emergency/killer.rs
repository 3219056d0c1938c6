//! The kill switch as a value any thread can hold: [`Killer`] closes the trading gate at
//! once, asks for the halt latch, and puts the kill in the engine's priority lane
//! ([`KillLane`]), which the runner looks at before every command and every item. It sits
//! below the runner, the signal and `HALT`-file watchers, the watchdog and the control
//! socket, which all hold one.

use super::latch::HaltLatch;
use crate::domain::TradingGate;
use crate::engine::Command;
use std::sync::Arc;
use std::sync::mpsc::Sender;

/// Trips the kill switch from any thread: the gate closes before [`Killer::kill`]
/// returns, then the engine halts with `source` and `reason` and cancels every open order.
#[derive(Clone, Debug)]
pub struct Killer {
    pub(crate) gate: TradingGate,
    pub(crate) commands: Sender<Command>,
    pub(crate) lane: KillLane,
    /// The halt latch, written and fsynced on its own thread right after the gate closes.
    pub(crate) latch: Option<HaltLatch>,
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
    pub(crate) fn press(&self, kill: Command) -> bool {
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
pub(crate) struct KillLane(Arc<std::sync::Mutex<Vec<Command>>>);

impl KillLane {
    pub(crate) fn push(&self, kill: Command) {
        // A poisoned lock still holds the kills: take them.
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(kill);
    }
    pub(crate) fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
