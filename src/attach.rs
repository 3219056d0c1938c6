//! `pit attach`: the full console on an engine that runs elsewhere, over its control
//! socket. The same console state ([`App`]) and the same renderer as the engine's own
//! console; the engine's view comes in as frames (`subscribe`), keys go out as requests:
//! `K` is a `kill` request, which takes the same path as `pit kill` (the gate closes
//! before anything else); the other keys' commands travel as `command` requests. `q`
//! detaches and the engine goes on. A viewer (`--view`) sees everything; the engine
//! refuses its commands and the refusal is shown in the footer.
//!
//! The connection is the socket of a data folder on this box, or the standard input and
//! output of the system's `ssh` client running `pit control-proxy` on another box (ssh
//! authenticates; pit adds nothing of its own). Keys are never held up by the
//! connection: requests are written by a task of their own, views are read by another
//! and only the latest is kept. No view for [`ENGINE_SILENCE`] says ENGINE NOT
//! RESPONDING.

use crate::app::{AppEffect, Attached, ENGINE_SILENCE};
use crate::control::protocol::{
    FrameError, Outcome, PROTOCOL_VERSION, Request, Response, Role, SOCKET_NAME, decode,
    decode_response, encode, read_frame_async,
};
use crate::control::server::ATTACH_KILL_REASON;
use crate::engine::view::EngineView;
use crate::tui::Screen;
use crate::ui::App;
use anyhow::Context;
use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// How long the engine has to answer the hello (ssh may take a while to log in).
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a kill from an attached console follows its cancels.
const KILL_TIMEOUT_MS: u64 = 10_000;

/// Where the engine is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The control socket of this data folder.
    Local { data_dir: PathBuf },
    /// Through `ssh HOST <remote_pit> control-proxy [--dir DIR]`.
    Ssh {
        host: String,
        /// The folder pit runs in on HOST (its `config.toml` and data folder).
        dir: Option<String>,
        /// The pit binary on HOST.
        remote_pit: String,
    },
}

/// Why attaching failed before the console came up.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("No engine running in {}", dir.display())]
    NoEngine { dir: PathBuf },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

/// The argument vector given to `ssh` for an engine on `host` (after the program name).
/// `-T`: no terminal on the far side (the protocol is binary); `-e none`: no escape
/// character. The remote command is one string the remote shell splits: the folder is
/// quoted for it.
pub fn ssh_args(host: &str, dir: Option<&str>, remote_pit: &str) -> Result<Vec<String>, String> {
    if host.is_empty() || host.starts_with('-') {
        return Err(format!("--ssh {host:?}: not a host name"));
    }
    let quote = |s: &str| {
        shlex::try_quote(s)
            .map(|q| q.into_owned())
            .map_err(|e| format!("{s:?} cannot be passed to ssh: {e}"))
    };
    let mut remote = format!("{} control-proxy", quote(remote_pit)?);
    if let Some(d) = dir {
        remote += &format!(" --dir {}", quote(d)?);
    }
    Ok(vec![
        "-T".into(),
        "-e".into(),
        "none".into(),
        host.into(),
        remote,
    ])
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// An open connection and what keeps it alive (the ssh child).
struct Conn {
    rd: Reader,
    wr: Writer,
    child: Option<tokio::process::Child>,
    /// The last of ssh's standard error, for the message when it fails.
    ssh_err: Arc<std::sync::Mutex<String>>,
}

async fn open(target: &Target) -> Result<Conn, AttachError> {
    let ssh_err = Arc::new(std::sync::Mutex::new(String::new()));
    match target {
        Target::Local { data_dir } => {
            let path = data_dir.join(SOCKET_NAME);
            let s = tokio::net::UnixStream::connect(&path)
                .await
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                        AttachError::NoEngine {
                            dir: data_dir.clone(),
                        }
                    }
                    std::io::ErrorKind::PermissionDenied => AttachError::Refused(format!(
                        "{}: permission denied (the engine belongs to another user?)",
                        path.display()
                    )),
                    _ => AttachError::Other(format!("{}: {e}", path.display())),
                })?;
            let (rd, wr) = s.into_split();
            Ok(Conn {
                rd: Box::new(rd),
                wr: Box::new(wr),
                child: None,
                ssh_err,
            })
        }
        Target::Ssh {
            host,
            dir,
            remote_pit,
        } => {
            let args = ssh_args(host, dir.as_deref(), remote_pit).map_err(AttachError::Other)?;
            let mut child = tokio::process::Command::new("ssh")
                .args(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| AttachError::Other(format!("cannot run ssh: {e}")))?;
            let (Some(rd), Some(wr), Some(mut err)) =
                (child.stdout.take(), child.stdin.take(), child.stderr.take())
            else {
                return Err(AttachError::Other("ssh: no pipes".into()));
            };
            // ssh's own messages must not reach the console's screen: kept for the end.
            let keep = ssh_err.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut k = keep.lock().unwrap_or_else(|e| e.into_inner());
                    k.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if k.len() > 4096 {
                        let cut = k.len() - 4096;
                        let cut = (cut..k.len()).find(|i| k.is_char_boundary(*i)).unwrap_or(0);
                        k.replace_range(..cut, "");
                    }
                }
            });
            Ok(Conn {
                rd: Box::new(rd),
                wr: Box::new(wr),
                child: Some(child),
                ssh_err,
            })
        }
    }
}

fn ssh_said(c: &Conn) -> String {
    let s = c
        .ssh_err
        .lock()
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if s.is_empty() { s } else { format!(" ({s})") }
}

/// Hello, then subscribe. Returns the engine's mode, if it says.
async fn handshake(c: &mut Conn, role: Role, fps: u32) -> Result<Option<String>, AttachError> {
    let frame = |r: &Request| encode(r).map_err(|e| AttachError::Other(e.to_string()));
    let hello = frame(&Request::Hello {
        protocol: PROTOCOL_VERSION,
        role,
    })?;
    let fail = |c: &Conn, e: String| AttachError::Other(format!("{e}{}", ssh_said(c)));
    if let Err(e) = c.wr.write_all(&hello).await {
        return Err(fail(c, format!("cannot reach the engine: {e}")));
    }
    let _ = c.wr.flush().await;
    let body = match tokio::time::timeout(HELLO_TIMEOUT, read_frame_async(&mut c.rd)).await {
        Err(_) => return Err(fail(c, "the engine did not answer in time".into())),
        Ok(Err(FrameError::Closed)) => {
            if let Some(child) = c.child.as_mut() {
                // Give ssh a moment to say why it ended.
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Err(fail(
                c,
                "the connection closed before the engine answered".into(),
            ));
        }
        Ok(Err(e)) => return Err(fail(c, format!("control socket: {e}"))),
        Ok(Ok(b)) => b,
    };
    let mode = match decode::<Response>(&body) {
        Ok(Response::Hello { mode, .. }) => mode,
        Ok(Response::Reply { text, .. }) => return Err(AttachError::Refused(text)),
        Ok(_) => return Err(AttachError::Other("the engine did not say hello".into())),
        Err(e) => return Err(fail(c, format!("control socket: {e}"))),
    };
    let sub = frame(&Request::Subscribe { fps: Some(fps) })?;
    if let Err(e) = c.wr.write_all(&sub).await {
        return Err(fail(c, format!("cannot reach the engine: {e}")));
    }
    let _ = c.wr.flush().await;
    Ok(mode)
}

/// How an attached console ended.
#[derive(Debug)]
pub struct AttachEnd {
    /// `q`: the engine goes on.
    pub detached: bool,
    /// Why it ended otherwise (the connection closed, a signal).
    pub why: String,
    pub terminal_restored: bool,
}

/// The attached console's options.
pub struct AttachOptions {
    pub role: Role,
    pub fps: u32,
}

/// Connect to the engine and run the console on it until `q` (detach), a signal, or the
/// connection ends. Fails before taking the terminal when the engine cannot be reached.
pub async fn run(
    target: Target,
    mut app: App,
    opts: AttachOptions,
) -> Result<AttachEnd, anyhow::Error> {
    let fps = opts.fps.clamp(1, 60);
    let mut conn = open(&target).await?;
    let mode = handshake(&mut conn, opts.role, fps).await?;
    app.set_attached(match opts.role {
        Role::Admin => Attached::Admin,
        Role::Viewer => Attached::Viewer,
    });
    if let Some(m) = mode.as_deref() {
        app.set_mode(match m {
            "PAPER" => crate::app::Mode::Paper,
            "LIVE" => crate::app::Mode::Live,
            "REPLAY" => crate::app::Mode::Replay,
            _ => crate::app::Mode::Sim,
        });
    }
    if opts.role == Role::Viewer {
        app.set_flash("read-only viewer: the engine refuses this console's commands; q detaches");
    }
    let Conn {
        mut rd,
        mut wr,
        child,
        ssh_err: _,
    } = conn;

    // Views in (the latest only), other responses in order.
    let (view_tx, mut views) = tokio::sync::watch::channel::<Option<Arc<EngineView>>>(None);
    let (resp_tx, mut responses) = tokio::sync::mpsc::unbounded_channel::<Response>();
    let reader = tokio::spawn(async move {
        loop {
            let body = match read_frame_async(&mut rd).await {
                Ok(b) => b,
                Err(FrameError::Closed) => return "the engine closed the connection".to_string(),
                Err(e) => return format!("the connection failed: {e}"),
            };
            match decode_response(&body) {
                Ok(Response::View { view }) => {
                    view_tx.send_replace(Some(Arc::new(*view)));
                }
                Ok(r) => {
                    if resp_tx.send(r).is_err() {
                        return String::new();
                    }
                }
                Err(e) => return format!("the engine sent a frame this pit cannot read: {e}"),
            }
        }
    });
    // Requests out, written by a task of their own: a slow connection never holds a key.
    let (req_tx, mut req_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(f) = req_rx.recv().await {
            if wr.write_all(&f).await.is_err() || wr.flush().await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let send = |r: Request| {
        if let Ok(f) = encode(&r) {
            let _ = req_tx.send(f);
        }
    };

    let frame_every = Duration::from_secs(1) / fps;
    let mut screen = Screen::enter().context("cannot take over the terminal")?;
    let mut keys = crate::tui::Keys::start().context("cannot read the terminal's keys")?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut ticker = tokio::time::interval(frame_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_view = Instant::now();
    let mut last_draw = Instant::now() - frame_every;
    let mut last_ctrl_c: Option<Instant> = None;
    let mut dirty = true;
    let mut reader = reader;
    let mut end: Option<(bool, String)> = None;
    let mut hung_up = false;
    // The report asked of the engine (at most one on its way), and when the last came:
    // an open report view refreshes as the engine's own console does.
    let mut report_asked: Option<Instant> = None;
    let mut report_at: Option<Instant> = None;
    while end.is_none() {
        tokio::select! {
            biased;
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let ctrl_c =
                        k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                    if ctrl_c && last_ctrl_c.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
                        end = Some((true, "detached (Ctrl-C twice)".into()));
                        continue;
                    }
                    last_ctrl_c = ctrl_c.then(Instant::now);
                    for effect in app.on_key(k) {
                        match effect {
                            // The same kill path as `pit kill`: the gate closes first.
                            AppEffect::Kill => send(Request::Kill {
                                reason: Some(ATTACH_KILL_REASON.into()),
                                timeout_ms: Some(KILL_TIMEOUT_MS),
                            }),
                            AppEffect::Engine(command) => send(Request::Command { command }),
                            AppEffect::Quit => end = Some((true, "detached".into())),
                            AppEffect::Bell => screen.bell(),
                            AppEffect::Replay(_) => {
                                app.set_flash("replay controls work in the replay's own console")
                            }
                            AppEffect::WriteConfig(_) => app.config_written(Err(
                                "w writes the config file from the engine's own console (pit run), which knows its file".into(),
                            )),
                            // The engine reads its store (it holds it) and answers.
                            AppEffect::RequestReport => {
                                if report_asked.is_none() {
                                    send(Request::Report);
                                    report_asked = Some(Instant::now());
                                }
                            }
                        }
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => end = Some((true, format!("terminal input failed: {e}"))),
                None => end = Some((true, "terminal input ended".into())),
            },
            changed = views.changed() => {
                if changed.is_err() {
                    // The reader ended: say why below.
                    let why = (&mut reader).await.unwrap_or_default();
                    end = Some((false, why));
                    continue;
                }
                let v = views.borrow_and_update().clone();
                if let Some(v) = v {
                    last_view = Instant::now();
                    app.set_view(v);
                    for e in app.take_effects() {
                        if e == AppEffect::Bell {
                            screen.bell();
                        }
                    }
                    dirty = true;
                }
            }
            Some(r) = responses.recv() => {
                match r {
                    Response::Progress { text, .. } => app.set_flash(text),
                    Response::Reply { outcome: Outcome::Ok, data, .. } if data.get("report").is_some() => {
                        report_asked = None;
                        report_at = Some(Instant::now());
                        let report = serde_json::from_value(data["report"].clone())
                            .map_err(|e| format!("the engine's report is unreadable: {e}"));
                        app.set_report(report);
                    }
                    Response::Reply { text, .. } if report_asked.is_some() && text.starts_with("report:") => {
                        report_asked = None;
                        report_at = Some(Instant::now());
                        app.set_report(Err(text));
                    }
                    Response::Reply { outcome: Outcome::Ok, text, data } => {
                        // A kill's end ("every target resolved ..."); plain acknowledgements
                        // leave the console's own message.
                        if data.get("cancels_sent").is_some() {
                            app.set_flash(text);
                        }
                    }
                    Response::Reply { text, .. } => app.set_flash(text),
                    Response::Hello { .. } | Response::View { .. } => {}
                }
                dirty = true;
            }
            _ = int.recv() => end = Some((true, "detached (SIGINT)".into())),
            _ = term.recv() => end = Some((true, "detached (SIGTERM)".into())),
            _ = hup.recv() => {
                end = Some((true, "detached (the terminal hung up)".into()));
                hung_up = true;
            }
            _ = ticker.tick() => {}
        }
        if let Some(why) = screen.gone() {
            end.get_or_insert((true, format!("detached ({why})")));
            hung_up = true;
        }
        if hung_up {
            // The key thread's reader spins on the dead terminal until its next read
            // blocks on this pipe.
            crate::tui::park_input();
        }
        if app.report_open()
            && report_asked.is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
            && report_at.is_some_and(|t| t.elapsed() >= crate::console::REPORT_REFRESH)
        {
            send(Request::Report);
            report_asked = Some(Instant::now());
        }
        let silent = last_view.elapsed() >= ENGINE_SILENCE;
        if silent != app.engine_not_responding() {
            app.set_engine_not_responding(silent);
            dirty = true;
        }
        if dirty && last_draw.elapsed() >= frame_every {
            let started = Instant::now();
            screen.show(|frame| crate::ui::render(&app, frame));
            last_draw = Instant::now();
            let lag = app.view().engine_lag;
            app.set_frame_stats(lag, started.elapsed());
            dirty = false;
        }
    }
    let terminal_restored = screen.leave();
    drop(screen);
    drop(req_tx);
    let _ = tokio::time::timeout(Duration::from_millis(500), writer).await;
    reader.abort();
    if let Some(mut c) = child {
        let _ = c.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(2), c.wait()).await;
    }
    let (detached, why) = end.unwrap_or((true, String::new()));
    Ok(AttachEnd {
        detached,
        why,
        terminal_restored,
    })
}

/// `pit control-proxy`: the standard input and output bridged to the control socket of
/// `data_dir`, for `pit attach --ssh` on another box (ssh runs it there). Blocking; ends
/// when either side closes.
pub fn proxy(data_dir: &std::path::Path) -> Result<(), AttachError> {
    use std::io::{Read, Write};
    let path = data_dir.join(SOCKET_NAME);
    let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            AttachError::NoEngine {
                dir: data_dir.to_path_buf(),
            }
        }
        _ => AttachError::Other(format!("{}: {e}", path.display())),
    })?;
    let mut up = sock
        .try_clone()
        .map_err(|e| AttachError::Other(e.to_string()))?;
    let upstream = std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if up.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = up.shutdown(std::net::Shutdown::Write);
    });
    let mut down = sock;
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stdout.write_all(&buf[..n]).is_err() || stdout.flush().is_err() {
                    break;
                }
            }
        }
    }
    // The engine closed: nothing more to carry either way.
    drop(upstream);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_gets_a_quoted_remote_command_and_no_option_for_a_host() {
        let a = ssh_args("trader@box", Some("/srv/pit runs/a'b"), "pit").unwrap();
        assert_eq!(
            a,
            [
                "-T",
                "-e",
                "none",
                "trader@box",
                "pit control-proxy --dir \"/srv/pit runs/a'b\""
            ]
        );
        assert_eq!(
            ssh_args("box", None, "pit").unwrap()[4],
            "pit control-proxy"
        );
        let e = ssh_args("-oProxyCommand=evil", None, "pit").unwrap_err();
        assert!(e.contains("not a host name"), "{e}");
    }
}
