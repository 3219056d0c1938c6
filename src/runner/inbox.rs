//! Commands into the engine thread: the inbox of operator commands the runner drains
//! every turn (the kill switch's priority lane is [`crate::emergency::killer`]).

use crate::engine::Command;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

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
