//! The one owner of the terminal, and a writer that can never block the kill path.
//!
//! The console renders each frame into a [`Buffer`] on its own task (pure computation, no
//! I/O) and hands it to [`Screen`]: a slot of one frame (the latest wins) that a thread
//! of its own, `pit-draw`, takes and writes to the terminal. A terminal whose output is
//! not read (a dead SSH session that has not hung up) blocks only that thread: keys,
//! signals, the control socket and the engine go on, and the stalled terminal costs
//! frames, never the kill switch. The console never waits for the draw thread, and the
//! two share nothing but the slot's lock, which neither holds across a write.
//!
//! The draw thread writes through [`TtyOut`], its own non-blocking handle on the
//! terminal (not `stdout`, whose process-wide lock a stuck write would hold). A write
//! that finds the terminal full waits for room in short polls and gives up once the
//! console has abandoned the terminal; one that fails (the terminal hung up: `EIO`)
//! marks the screen [`Screen::gone`].
//!
//! The draw thread enters the alternate screen and leaves it (with the cursor shown) when
//! told to stop; raw mode is entered and left by [`Screen`] itself (an `ioctl`, which
//! never waits for the terminal's reader). The panic hook leaves raw mode and writes the
//! restore sequence with a bounded wait, then chains the previous hook.

use crossterm::cursor::{Hide, Show};
use crossterm::queue;
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one wait for room in the terminal lasts before the writer looks again at
/// whether it was abandoned.
const POLL: Duration = Duration::from_millis(50);
/// How long stopping waits for the draw thread to leave the alternate screen.
const STOP_GRACE: Duration = Duration::from_millis(500);
/// How long the panic hook waits for the terminal to take the restore sequence.
const PANIC_GRACE: Duration = Duration::from_millis(200);

/// The terminal's output as a file of our own, written without blocking: a full
/// terminal is waited for in [`POLL`]s, until the write succeeds, fails, or `abandon`
/// is set (or `deadline` passes).
pub struct TtyOut {
    file: File,
    abandon: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl TtyOut {
    /// Our own handle on the controlling terminal (`/dev/tty`, opened non-blocking: the
    /// flag belongs to this handle alone, not to the console's input), else a copy of
    /// `stdout`'s descriptor.
    pub fn open(abandon: Arc<AtomicBool>) -> io::Result<TtyOut> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open("/dev/tty")
        {
            Ok(f) => f,
            Err(_) => {
                use std::os::fd::AsFd;
                let fd: OwnedFd = io::stdout().as_fd().try_clone_to_owned()?;
                File::from(fd)
            }
        };
        Ok(TtyOut {
            file,
            abandon,
            deadline: None,
        })
    }

    /// Wait for room in the terminal, at most [`POLL`]. Errors when the terminal hung up.
    fn wait_writable(&self) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, POLL.as_millis() as libc::c_int) };
        if n > 0 && pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the terminal hung up",
            ));
        }
        Ok(())
    }

    fn given_up(&self) -> bool {
        self.abandon.load(Ordering::SeqCst) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

impl Write for TtyOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match self.file.write(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.given_up() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the terminal is not being read",
                        ));
                    }
                    self.wait_writable()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// What the console and the draw thread share: the latest frame and a few flags.
#[derive(Default)]
struct Slot {
    frame: Option<Buffer>,
    bell: bool,
    stop: bool,
    /// The terminal failed (hung up): nothing more is written.
    gone: Option<String>,
    /// Since when a write has been under way (a stalled terminal: this grows).
    writing_since: Option<Instant>,
    /// Frames replaced before the draw thread took them.
    dropped: u64,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    abandon: Arc<AtomicBool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The terminal while the console is up, seen from the console: frames go in, never
/// waiting for the terminal. Dropping it stops the draw thread and restores the terminal.
pub struct Screen {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Renders frames into a buffer the size of the terminal (no I/O).
    canvas: Terminal<TestBackend>,
}

impl Screen {
    /// Take over the terminal: raw mode here, the alternate screen on the draw thread.
    pub fn enter() -> io::Result<Screen> {
        install_panic_hook();
        let abandon = Arc::new(AtomicBool::new(false));
        let out = TtyOut::open(abandon.clone())?;
        enable_raw_mode()?;
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            abandon,
        });
        let (w, h) = terminal_size();
        let canvas = match Terminal::new(TestBackend::new(w, h)) {
            Ok(t) => t,
            Err(never) => match never {},
        };
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("pit-draw".into())
            .spawn(move || draw_thread(out, s));
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                let _ = disable_raw_mode();
                return Err(e);
            }
        };
        Ok(Screen {
            shared,
            thread: Some(thread),
            canvas,
        })
    }

    /// Render a frame (into memory, at the terminal's current size) and hand it to the
    /// draw thread, replacing a frame it has not taken yet. Never waits for the terminal.
    pub fn show(&mut self, render: impl FnOnce(&mut ratatui::Frame)) {
        let (w, h) = terminal_size();
        let size = self.canvas.backend().buffer().area;
        if (w, h) != (size.width, size.height) {
            self.canvas.backend_mut().resize(w, h);
        }
        let buffer = match self.canvas.draw(render) {
            Ok(done) => done.buffer.clone(),
            Err(never) => match never {},
        };
        let mut slot = self.shared.lock();
        if slot.frame.replace(buffer).is_some() {
            slot.dropped += 1;
        }
        drop(slot);
        self.shared.wake.notify_one();
    }

    /// Ring the terminal's bell (on the draw thread).
    pub fn bell(&self) {
        self.shared.lock().bell = true;
        self.shared.wake.notify_one();
    }

    /// Why the terminal is gone (it hung up), if it is.
    pub fn gone(&self) -> Option<String> {
        self.shared.lock().gone.clone()
    }

    /// How long the write under way has been waiting for the terminal (a stalled
    /// terminal), if one is.
    pub fn stalled_for(&self) -> Option<Duration> {
        self.shared.lock().writing_since.map(|t| t.elapsed())
    }

    /// Frames replaced before the terminal took them.
    pub fn dropped_frames(&self) -> u64 {
        self.shared.lock().dropped
    }

    /// Stop drawing and give the terminal back: the draw thread leaves the alternate
    /// screen, waiting at most a moment for a stalled terminal (then the terminal is left
    /// as it is: nobody reads it); raw mode is left here. Returns whether the terminal
    /// was restored.
    pub fn leave(&mut self) -> bool {
        let Some(thread) = self.thread.take() else {
            return true;
        };
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        let t0 = Instant::now();
        while !thread.is_finished() && t0.elapsed() < STOP_GRACE {
            std::thread::sleep(Duration::from_millis(5));
        }
        let restored = thread.is_finished() && self.gone().is_none();
        if !thread.is_finished() {
            // Give up on the terminal: the write under way ends within a poll.
            self.shared.abandon.store(true, Ordering::SeqCst);
            tracing::warn!("the terminal is not being read: left without restoring it");
        }
        let _ = disable_raw_mode();
        restored
    }
}

/// The terminal's size (an `ioctl`: it never waits for the terminal), 80x24 when it
/// says nothing useful.
fn terminal_size() -> (u16, u16) {
    crossterm::terminal::size()
        .ok()
        .filter(|&(w, h)| w > 0 && h > 0)
        .unwrap_or((80, 24))
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The draw thread: enter the alternate screen, then write the latest frame whenever
/// there is one (the cells that changed since the last one written), until told to stop
/// (then leave the alternate screen) or the terminal fails.
fn draw_thread(out: TtyOut, shared: Arc<Shared>) {
    let fail = |e: io::Error| {
        tracing::warn!(error = %e, "the terminal failed: no more frames");
        let mut slot = shared.lock();
        slot.gone = Some(e.to_string());
        slot.writing_since = None;
    };
    let mut backend = CrosstermBackend::new(out);
    if let Err(e) = queue!(backend, EnterAlternateScreen, Hide, Clear(ClearType::All))
        .and_then(|()| Backend::flush(&mut backend))
    {
        return fail(e);
    }
    // What the terminal shows: nothing yet.
    let mut shown = Buffer::empty(Rect::default());
    loop {
        let (frame, bell) = {
            let mut slot = shared.lock();
            while slot.frame.is_none() && !slot.bell && !slot.stop {
                slot = shared.wake.wait(slot).unwrap_or_else(|p| p.into_inner());
            }
            if slot.stop {
                break;
            }
            slot.writing_since = Some(Instant::now());
            (slot.frame.take(), std::mem::take(&mut slot.bell))
        };
        if let Err(e) = write_frame(&mut backend, &mut shown, frame, bell) {
            return fail(e);
        }
        shared.lock().writing_since = None;
    }
    let _ = queue!(backend, LeaveAlternateScreen, Show).and_then(|()| Backend::flush(&mut backend));
    shared.lock().writing_since = None;
}

/// Write the cells of `frame` that differ from what the terminal shows (all of them after
/// a resize), then the bell.
fn write_frame(
    backend: &mut CrosstermBackend<TtyOut>,
    shown: &mut Buffer,
    frame: Option<Buffer>,
    bell: bool,
) -> io::Result<()> {
    if let Some(buffer) = frame {
        if buffer.area != shown.area {
            queue!(backend, Clear(ClearType::All))?;
            *shown = Buffer::empty(buffer.area);
        }
        let updates = shown.diff(&buffer);
        backend.draw(updates.into_iter())?;
        queue!(backend, Hide)?;
        *shown = buffer;
    }
    if bell {
        backend.write_all(b"\x07")?;
    }
    Backend::flush(backend)
}

/// Put the terminal back as we found it, waiting at most [`PANIC_GRACE`] for a terminal
/// that is not being read. Safe to call more than once.
pub fn restore() {
    let _ = disable_raw_mode();
    if let Ok(mut out) = TtyOut::open(Arc::new(AtomicBool::new(false))) {
        out.deadline = Some(Instant::now() + PANIC_GRACE);
        let _ = queue!(out, LeaveAlternateScreen, Show).and_then(|()| out.flush());
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// How long the key thread waits for a key before it looks again at whether it was told
/// to stop.
const KEY_POLL: Duration = Duration::from_millis(50);

/// The terminal's keys (and resizes), read on a thread of their own, `pit-keys`, and
/// handed over a channel: the console's task never calls into the terminal library's
/// reader. That reader, once its terminal hangs up, retries the failing read (`EIO`,
/// or end of file) without end and without honouring its timeout (crossterm 0.29's mio
/// event source: crossterm-rs/crossterm#793, #1110; the fixes #1067 and #1116 are not
/// released). Called from the console's task, as `EventStream` does when it polls, it
/// would hold that task, and with it SIGHUP, SIGTERM and `console.on_hangup`, for
/// good: the hang-up must be noticed elsewhere (SIGHUP, the draw thread's failed write),
/// and then [`park_input`] stops the spin. Dropping `Keys` stops the thread within
/// [`KEY_POLL`] (unless it is caught in that spin).
pub struct Keys {
    rx: tokio::sync::mpsc::UnboundedReceiver<io::Result<crossterm::event::Event>>,
    stop: Arc<AtomicBool>,
}

impl Keys {
    /// Start reading the terminal's keys (after [`Screen::enter`]: in raw mode).
    pub fn start() -> io::Result<Keys> {
        use crossterm::event;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::Builder::new()
            .name("pit-keys".into())
            .spawn(move || {
                while !halt.load(Ordering::SeqCst) {
                    let next = match event::poll(KEY_POLL) {
                        Ok(false) => continue,
                        Ok(true) => event::read(),
                        Err(e) => Err(e),
                    };
                    let failed = next.is_err();
                    if tx.send(next).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Keys { rx, stop })
    }

    /// The next key or resize; `None` once the reader has ended.
    pub async fn next(&mut self) -> Option<io::Result<crossterm::event::Event>> {
        self.rx.recv().await
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// After the terminal hung up: give standard input a pipe nobody writes to, so that the
/// terminal library's reader (on the [`Keys`] thread), which retries a failing read
/// (`EIO`) without end, blocks in its next read instead of spinning a core for the rest
/// of a headless run.
/// (A hung-up terminal no longer says it is one, so this does not ask; the console's
/// standard input is of no other use.)
pub fn park_input() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe` writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return;
    }
    // SAFETY: plain descriptor calls on descriptors we own; the write end stays open (and
    // unused) for the life of the process, so a read of the pipe waits instead of ending.
    unsafe {
        libc::dup2(fds[0], libc::STDIN_FILENO);
        libc::close(fds[0]);
    }
}
