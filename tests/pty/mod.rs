//! The real `pit` binary in a pseudo-terminal, read back through a terminal emulator, for
//! end-to-end tests that look at the screen as a trader does.

use portable_pty::{Child, CommandBuilder, ExitStatus, PtySize, native_pty_system};
use std::io::{ErrorKind, Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    /// `None` once hung up.
    keys: Option<Box<dyn Write + Send>>,
    parser: Arc<Mutex<vt100::Parser>>,
    /// While set, nobody reads the terminal (a dead SSH session that has not hung up).
    stalled: Arc<AtomicBool>,
    /// Set by [`Pty::hang_up`]: the reader lets go of the terminal.
    closed: Arc<AtomicBool>,
    /// Set by the reader once it has let go: the terminal is hung up.
    released: Arc<AtomicBool>,
}

impl Pty {
    /// Start `pit ARGS` in `cwd` on a `cols` x `rows` terminal.
    #[allow(dead_code)] // not every test binary that includes this module uses it
    pub fn spawn(args: &[&str], cwd: &Path, cols: u16, rows: u16) -> Pty {
        Pty::spawn_env(args, cwd, cols, rows, &[])
    }

    /// [`Pty::spawn`] with extra environment variables.
    pub fn spawn_env(args: &[&str], cwd: &Path, cols: u16, rows: u16, env: &[(&str, &str)]) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pit"));
        cmd.args(args);
        cmd.cwd(cwd);
        // No config or store of the machine's user is read or written.
        cmd.env("XDG_CONFIG_HOME", cwd.join("xdg-config"));
        cmd.env("XDG_DATA_HOME", cwd.join("xdg-data"));
        cmd.env_remove("PIT_CONFIG");
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).expect("spawn pit");
        drop(pair.slave);
        let master = pair.master;
        let mut reader = master.try_clone_reader().expect("pty reader");
        let keys = master.take_writer().expect("pty writer");
        let size = |n: u16| NonZeroU16::new(n).expect("a terminal size");
        let parser = Arc::new(Mutex::new(vt100::Parser::new(size(rows), size(cols), 0)));
        let feed = parser.clone();
        let stalled = Arc::new(AtomicBool::new(false));
        let stall = stalled.clone();
        let closed = Arc::new(AtomicBool::new(false));
        let close = closed.clone();
        let released = Arc::new(AtomicBool::new(false));
        let release = released.clone();
        // The reader owns the master's last handles (the master itself and the reader's
        // copy; the writer goes in `hang_up`). It waits for output in short polls, so a
        // hang-up lets go of the terminal within one poll whether or not pit writes.
        std::thread::spawn(move || {
            let fd = master.as_raw_fd().expect("the master's descriptor");
            let mut buf = [0u8; 8192];
            while !close.load(Ordering::SeqCst) {
                if stall.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the duration of the call; `master` keeps
                // the descriptor open.
                let n = unsafe { libc::poll(&mut pfd, 1, 10) };
                if n == 0
                    || (n < 0 && std::io::Error::last_os_error().kind() == ErrorKind::Interrupted)
                {
                    continue;
                }
                let Ok(n) = reader.read(&mut buf) else { break };
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = feed.lock() {
                    p.process(&buf[..n]);
                }
            }
            // The terminal's last handles go: the kernel hangs up pit's side.
            drop(reader);
            drop(master);
            release.store(true, Ordering::SeqCst);
        });
        Pty {
            child,
            keys: Some(keys),
            parser,
            stalled,
            closed,
            released,
        }
    }

    /// What the screen shows now.
    pub fn text(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// Wait until the screen shows all of `needles`; returns how long it took.
    pub fn wait_for(&self, needles: &[&str], limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "screen never showed {needles:?}; it shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Type these bytes.
    pub fn press(&mut self, keys: &[u8]) {
        let w = self.keys.as_mut().expect("the terminal is hung up");
        w.write_all(keys).expect("type into the pty");
        w.flush().expect("flush the pty");
    }

    /// `q`, then `y` if it asks, and wait for the process to end.
    #[allow(dead_code)]
    pub fn quit(&mut self) -> ExitStatus {
        self.press(b"q");
        std::thread::sleep(Duration::from_millis(300));
        self.press(b"y");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "pit did not exit"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[allow(dead_code)]
impl Pty {
    /// Stop reading the terminal: its buffer fills and pit's writes to it block, as with
    /// a dead SSH session that has not hung up.
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    /// Read the terminal again.
    pub fn unstall(&self) {
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// The process id of pit.
    pub fn pid(&self) -> u32 {
        self.child.process_id().expect("pit's pid")
    }

    /// Whether pit has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Close the terminal (an SSH session that hung up): the master's handles go, and
    /// the kernel hangs up pit's terminal (SIGHUP to pit, its session's leader; reads and
    /// writes fail). Returns once the terminal is hung up.
    pub fn hang_up(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.keys = None;
        let start = Instant::now();
        while !self.released.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the harness's reader did not let go of the terminal"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// What pit's threads are doing (name, state, kernel wait channel), for a test that
    /// failed waiting for it; with `PIT_TEST_GDB` set, gdb's backtrace of every thread too
    /// (how the console's task was found spinning in crossterm's reader on a dead
    /// terminal, see `pit::tui::Keys`).
    pub fn threads(&self) -> String {
        let Some(pid) = self.child.process_id() else {
            return "no pid".into();
        };
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return format!("pit {pid} is gone");
        };
        let mut out = format!(
            "pit {pid}, terminal released {}:\n",
            self.released.load(Ordering::SeqCst)
        );
        for t in tasks.flatten() {
            let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
            let stat = read("stat");
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            out.push_str(&format!(
                "  {} {} {}\n",
                read("comm").trim(),
                state.unwrap_or("?"),
                read("wchan").trim()
            ));
        }
        if std::env::var_os("PIT_TEST_GDB").is_some() {
            let bt = std::process::Command::new("gdb")
                .args([
                    "-p",
                    &pid.to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt",
                ])
                .output();
            if let Ok(bt) = bt {
                out.push_str(&String::from_utf8_lossy(&bt.stdout));
            }
        }
        out
    }

    /// Wait up to `limit` for pit to exit; its status, if it did.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A test that fails (or ends) with pit still running must not leave it behind: a stray
/// console keeps trading in a temp folder and loads the machine for every later test.
impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
