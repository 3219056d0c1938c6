//! The control socket's server: a Unix domain socket in the run's data folder
//! ([`SOCKET_NAME`]), owner-only (mode 0600, set before anyone can connect: the socket is
//! bound inside a private 0700 folder and renamed into place), refusing peers of another
//! user (their uid, from `SO_PEERCRED`, must be the socket's owner).
//!
//! It runs on a thread of its own with its own small runtime: never on the engine's
//! thread, never on the console's, so neither a busy engine nor a blocked terminal holds
//! it up. It reads the engine's published view and sends commands through the same
//! channel as the console; `kill` goes through [`Killer::kill`], which closes the gate
//! before anything else happens.
//!
//! A connection that sends `subscribe` (an attached console) becomes full duplex: a
//! writer task sends it the engine's view at most `fps` times a second (the latest view
//! wins; each view is encoded once for every subscriber; a client that does not read
//! blocks only its own writer, and gets fewer frames, never a queue: memory per
//! connection is one frame and a few replies), while its requests go on being read and
//! answered. The engine never waits for any of it: it only replaces a latest value.
//!
//! `pause --for` is carried out here: a timer task sends `Resume` when it runs out, unless
//! the socket saw another pause or resume in the meantime or the engine is no longer
//! PAUSED.

use super::protocol::{
    FrameError, Outcome, PROTOCOL_VERSION, Request, Response, Role, SOCKET_NAME, ViewFrame,
    check_hello, decode, encode, read_frame_async, write_frame_async,
};
use super::status::{Status, kill_report};
use crate::domain::{InstrumentId, TradingGate, TradingState};
use crate::emergency::killer::Killer;
use crate::engine::Command;
use crate::engine::view::EngineView;
use crate::runner::EngineHandle;
use serde_json::{Value, json};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// How long a new connection has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command waits for the engine's view to show its effect.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
/// A kill without `timeout_ms` follows its cancels this long.
pub const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Views a second for a subscriber that does not say (the console's default).
const DEFAULT_FPS: u32 = 30;
/// The most views a second a subscriber may ask for.
const MAX_FPS: u32 = 60;
/// Replies waiting for a subscriber's writer (the reader waits when it is full).
const REPLY_QUEUE: usize = 64;
/// The reason of a kill switch pressed in an attached console.
pub const ATTACH_KILL_REASON: &str = "kill switch pressed (pit attach)";

/// The longest `pause --for`.
const MAX_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Setting up the control socket went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "{path}: another pit is running in this folder (its control socket answers); one run per data folder"
    )]
    InUse { path: PathBuf },
    #[error("{path} exists and is not a socket; move it away (pit keeps its control socket there)")]
    NotASocket { path: PathBuf },
    #[error("control socket {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> ControlError + 'a {
    move |source| ControlError::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// The socket's path for a data folder.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// What the server needs of a running engine.
#[derive(Clone)]
pub struct EngineLink {
    pub killer: Killer,
    pub commands: Sender<Command>,
    pub gate: TradingGate,
    pub view: watch::Receiver<Arc<EngineView>>,
    /// What the engine trades on (`SIM`, `PAPER`), told to attached consoles.
    pub mode: Option<String>,
    /// The run's store, for `pit store backup` while it runs.
    pub store: Option<crate::store::StoreReader>,
    /// Asks the live venue's connection task to reconcile (with this reason); `false`
    /// when the task has stopped. Absent on a run without a live venue.
    pub reconcile: Option<Reconcile>,
}

/// See [`EngineLink::reconcile`].
pub type Reconcile = Arc<dyn Fn(String) -> bool + Send + Sync>;

impl EngineLink {
    pub fn new(handle: &EngineHandle) -> Self {
        EngineLink {
            killer: handle.killer(),
            commands: handle.command_sender(),
            gate: handle.gate().clone(),
            view: handle.subscribe(),
            mode: None,
            store: None,
            reconcile: None,
        }
    }

    /// Let `pit reconcile` ask the run's live venue to reconcile while it runs.
    pub fn with_reconcile(mut self, reconcile: Reconcile) -> Self {
        self.reconcile = Some(reconcile);
        self
    }

    /// Let `pit store backup` copy the run's store while it runs.
    pub fn with_store(mut self, store: crate::store::StoreReader) -> Self {
        self.store = Some(store);
        self
    }

    /// Tell attached consoles what the engine trades on.
    pub fn with_mode(mut self, mode: &str) -> Self {
        self.mode = Some(mode.to_string());
        self
    }
}

/// A bound socket, not yet served (bind before the engine starts, serve once it has).
pub struct Bound {
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
    uid: u32,
    ino: u64,
}

/// Bind the control socket in `data_dir`: a stale socket (nobody answers) is replaced, a
/// live one refused; the file is mode 0600 from the moment it has its name.
pub fn bind(data_dir: &Path) -> Result<Bound, ControlError> {
    let path = socket_path(data_dir);
    std::fs::create_dir_all(data_dir).map_err(io(data_dir, "cannot create the folder"))?;
    match std::fs::symlink_metadata(&path) {
        Ok(m) if !m.file_type().is_socket() => return Err(ControlError::NotASocket { path }),
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                return Err(ControlError::InUse { path });
            }
            tracing::warn!(path = %path.display(), "replacing a stale control socket (a run that did not exit cleanly)");
            std::fs::remove_file(&path).map_err(io(&path, "cannot remove the stale socket"))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&path, "cannot inspect")(e)),
    }
    // Bind in a folder only we can enter, make the socket 0600, then give it its name:
    // nobody can connect before the mode is set, and no process-wide umask is touched.
    let private = data_dir.join(format!(".pit.sock.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(io(&private, "cannot create a private folder"))?;
    let result = (|| {
        let tmp = private.join(SOCKET_NAME);
        let listener =
            std::os::unix::net::UnixListener::bind(&tmp).map_err(io(&tmp, "cannot bind"))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io(&tmp, "cannot set mode 0600"))?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "cannot move into place"))?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir_all(&private);
    let listener = result?;
    let meta = std::fs::metadata(&path).map_err(io(&path, "cannot inspect"))?;
    Ok(Bound {
        path,
        listener,
        uid: meta.uid(),
        ino: meta.ino(),
    })
}

impl Bound {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serve `link` on a thread of the server's own until the returned guard is dropped.
    pub fn serve(self, link: EngineLink) -> Result<ControlServer, ControlError> {
        let Bound {
            path,
            listener,
            uid,
            ino,
        } = self;
        listener
            .set_nonblocking(true)
            .map_err(io(&path, "cannot make non-blocking"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io(&path, "cannot start the server's runtime"))?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::new(Shared {
            link,
            uid,
            pause_gen: AtomicU64::new(0),
            view_frame: Mutex::new(None),
        });
        let shown = path.clone();
        let thread = std::thread::Builder::new()
            .name("pit-control".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::UnixListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "control socket: cannot listen");
                            return;
                        }
                    };
                    tracing::info!(path = %shown.display(), "control socket listening");
                    loop {
                        tokio::select! {
                            _ = &mut stop_rx => break,
                            r = listener.accept() => match r {
                                Ok((stream, _)) => {
                                    tokio::spawn(connection(stream, shared.clone()));
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "control socket: accept failed");
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            },
                        }
                    }
                });
            })
            .map_err(io(&path, "cannot start the server's thread"))?;
        Ok(ControlServer {
            path,
            ino,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// The running server; dropping it stops it and removes the socket (if still ours).
pub struct ControlServer {
    path: PathBuf,
    ino: u64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ControlServer {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

struct Shared {
    link: EngineLink,
    /// The socket owner's uid: the only one let in.
    uid: u32,
    /// Bumped by every pause and resume through the socket: a `pause --for` timer only
    /// resumes if nothing came after it.
    pause_gen: AtomicU64,
    /// The last view encoded as a frame, shared by every subscriber.
    view_frame: Mutex<Option<EncodedView>>,
}

/// A view (weakly held: it identifies the view, it does not keep it alive) and its
/// encoded frame.
type EncodedView = (Weak<EngineView>, Arc<Vec<u8>>);

impl Shared {
    /// `view` as a [`Response::View`] frame, encoded once whoever asks.
    fn view_frame(&self, view: &Arc<EngineView>) -> Option<Arc<Vec<u8>>> {
        let mut last = self.view_frame.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((w, bytes)) = last.as_ref()
            && std::ptr::eq(w.as_ptr(), Arc::as_ptr(view))
        {
            return Some(bytes.clone());
        }
        match encode(&ViewFrame { view }) {
            Ok(b) => {
                let b = Arc::new(b);
                *last = Some((Arc::downgrade(view), b.clone()));
                Some(b)
            }
            Err(e) => {
                tracing::warn!(error = %e, "control socket: a view could not be encoded");
                None
            }
        }
    }
}

type Io = Result<(), FrameError>;

/// Where a request's progress and reply go: the connection itself, or the queue of a
/// subscribed connection's writer.
trait Sink {
    fn send(&mut self, r: &Response) -> impl std::future::Future<Output = Io> + Send;
}

impl Sink for UnixStream {
    async fn send(&mut self, r: &Response) -> Io {
        write_frame_async(self, r).await
    }
}

/// The replies of a subscribed connection, written by its writer task.
struct Queue(tokio::sync::mpsc::Sender<Response>);

impl Sink for Queue {
    async fn send(&mut self, r: &Response) -> Io {
        self.0.send(r.clone()).await.map_err(|_| FrameError::Closed)
    }
}

async fn send(stream: &mut impl Sink, r: &Response) -> Io {
    stream.send(r).await
}

/// One connection: the peer check, the hello, then requests until it closes.
async fn connection(mut stream: UnixStream, shared: Arc<Shared>) {
    match stream.peer_cred() {
        Ok(c) if c.uid() == shared.uid => {}
        Ok(c) => {
            tracing::warn!(peer_uid = c.uid(), "control socket: refused another user");
            // Read its hello first (whatever it says): closing before the client has
            // written it would fail its write (broken pipe) before it reads why.
            let _ = tokio::time::timeout(HELLO_TIMEOUT, read_frame_async(&mut stream)).await;
            let text = format!(
                "refused: this engine belongs to uid {}, the connection comes from uid {}",
                shared.uid,
                c.uid()
            );
            let _ = send(&mut stream, &Response::refused(text)).await;
            return;
        }
        Err(e) => {
            let text = format!("refused: cannot tell who is connecting ({e})");
            let _ = send(&mut stream, &Response::refused(text)).await;
            return;
        }
    }
    let role = match tokio::time::timeout(HELLO_TIMEOUT, read_frame_async(&mut stream)).await {
        Err(_) => {
            let _ = send(&mut stream, &Response::error("no hello in time")).await;
            return;
        }
        Ok(Err(FrameError::Closed)) => return,
        Ok(Err(e)) => {
            let _ = send(&mut stream, &Response::error(e.to_string())).await;
            return;
        }
        Ok(Ok(body)) => match decode::<Request>(&body)
            .map_err(|e| e.to_string())
            .and_then(|r| check_hello(&r))
        {
            Ok(role) => role,
            Err(text) => {
                let _ = send(&mut stream, &Response::error(text)).await;
                return;
            }
        },
    };
    let hello = Response::Hello {
        protocol: PROTOCOL_VERSION,
        role,
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
        mode: shared.link.mode.clone(),
    };
    if send(&mut stream, &hello).await.is_err() {
        return;
    }
    loop {
        let body = match read_frame_async(&mut stream).await {
            Ok(b) => b,
            Err(e @ FrameError::TooLarge { .. }) => {
                // The stream cannot be followed past a frame we will not read.
                let _ = send(&mut stream, &Response::error(e.to_string())).await;
                return;
            }
            Err(_) => return,
        };
        let req = match decode::<Request>(&body) {
            Ok(r) => r,
            Err(e) => {
                if send(&mut stream, &Response::error(e.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
        };
        if let Request::Subscribe { fps } = req {
            return subscribed(stream, shared, role, fps).await;
        }
        let done = if matches!(req, Request::Hello { .. }) {
            send(&mut stream, &Response::error("hello was already said")).await
        } else if role == Role::Viewer && req.is_command() {
            send(&mut stream, &viewer_refusal(&req)).await
        } else {
            if req.is_command() {
                tracing::info!(request = ?req, "control socket command");
            }
            handle(req, &mut stream, &shared).await
        };
        if done.is_err() {
            return;
        }
    }
}

/// A viewer's command, refused with a sentence its screen shows.
fn viewer_refusal(req: &Request) -> Response {
    tracing::info!(
        request = req.name(),
        "control socket: a viewer's command refused"
    );
    Response::refused(format!(
        "{} refused: this connection is a read-only viewer",
        req.name()
    ))
}

/// A subscribed connection: views out at most `fps` a second from a writer task, with
/// the replies to the requests this task goes on reading.
async fn subscribed(stream: UnixStream, shared: Arc<Shared>, role: Role, fps: Option<u32>) {
    let fps = fps.unwrap_or(DEFAULT_FPS).clamp(1, MAX_FPS);
    let every = Duration::from_secs(1) / fps;
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Response>(REPLY_QUEUE);
    tracing::info!(
        role = role.as_str(),
        fps,
        "control socket: a console attached"
    );
    let ok = Response::reply(
        Outcome::Ok,
        format!("subscribed: at most {fps} views a second"),
        json!({"fps": fps}),
    );
    if tx.send(ok).await.is_err() {
        return;
    }
    let writer_shared = shared.clone();
    let writer = tokio::spawn(async move {
        let mut views = writer_shared.link.view.clone();
        views.mark_changed();
        loop {
            // Wait for a new view, writing replies meanwhile.
            tokio::select! {
                biased;
                r = rx.recv() => match r {
                    Some(r) => {
                        if write_frame_async(&mut wr, &r).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    None => return,
                },
                changed = views.changed() => {
                    if changed.is_err() {
                        return; // the engine has stopped: the client sees the end
                    }
                }
            }
            let view = views.borrow_and_update().clone();
            if let Some(frame) = writer_shared.view_frame(&view) {
                use tokio::io::AsyncWriteExt;
                if wr.write_all(&frame).await.is_err() || wr.flush().await.is_err() {
                    return;
                }
            }
            // No other view before the next frame's time; replies still go out.
            let next = tokio::time::Instant::now() + every;
            loop {
                tokio::select! {
                    biased;
                    r = rx.recv() => match r {
                        Some(r) => {
                            if write_frame_async(&mut wr, &r).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    _ = tokio::time::sleep_until(next) => break,
                }
            }
        }
    });
    loop {
        let body = match read_frame_async(&mut rd).await {
            Ok(b) => b,
            Err(e @ FrameError::TooLarge { .. }) => {
                let _ = tx.send(Response::error(e.to_string())).await;
                break;
            }
            Err(_) => break,
        };
        let reply = match decode::<Request>(&body) {
            Err(e) => Some(Response::error(e.to_string())),
            Ok(Request::Hello { .. }) => Some(Response::error("hello was already said")),
            Ok(Request::Subscribe { .. }) => Some(Response::reply(
                Outcome::Ok,
                "already subscribed",
                Value::Null,
            )),
            Ok(req) if role == Role::Viewer && req.is_command() => Some(viewer_refusal(&req)),
            // Commands in order, at once (the engine shows what it made of them).
            Ok(Request::Command { command }) => Some(operator_command(&shared.link, command)),
            Ok(req) => {
                // Longer requests (a kill followed to the end) on a task of their own:
                // the console's next keys are not held up behind them.
                if req.is_command() {
                    tracing::info!(request = ?req, "control socket command (attached console)");
                }
                let shared = shared.clone();
                let mut q = Queue(tx.clone());
                tokio::spawn(async move {
                    let _ = handle(req, &mut q, &shared).await;
                });
                None
            }
        };
        if let Some(r) = reply
            && tx.send(r).await.is_err()
        {
            break;
        }
    }
    tracing::info!(role = role.as_str(), "control socket: a console detached");
    drop(tx);
    // Replies already queued still go out; then the writer ends with the queue.
    let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
}

/// An operator command from the socket: the kill switch through the kill path (the gate
/// closes before anything else), `shutdown` refused (an attached console detaches; the
/// engine's own console, SIGTERM or `--for` stop it), the rest handed to the engine.
fn operator_command(link: &EngineLink, cmd: Command) -> Response {
    tracing::info!(command = cmd.name(), "control socket: operator command");
    match cmd {
        Command::KillSwitch | Command::KillFrom { .. } => {
            let (source, reason) = match cmd {
                Command::KillFrom { source, reason } if !reason.trim().is_empty() => {
                    (source, reason)
                }
                _ => ("socket".to_string(), ATTACH_KILL_REASON.to_string()),
            };
            if link.killer.kill(&source, &reason) {
                Response::reply(Outcome::Ok, "gate closed; kill sent", Value::Null)
            } else {
                Response::refused("the engine has stopped; the gate is closed")
            }
        }
        Command::Shutdown => Response::refused(
            "shutdown is not taken over the control socket: detach with q; SIGTERM or the engine's own console stop it",
        ),
        other => {
            let name = other.name();
            if link.commands.send(other).is_ok() {
                Response::reply(Outcome::Ok, format!("{name} sent"), Value::Null)
            } else {
                Response::refused("the engine has stopped")
            }
        }
    }
}

async fn handle(req: Request, stream: &mut impl Sink, shared: &Arc<Shared>) -> Io {
    let link = &shared.link;
    let reply = match req {
        Request::Hello { .. } => Response::error("hello was already said"),
        Request::Subscribe { .. } => Response::error("subscribe is taken once, outside a request"),
        Request::Command { command } => operator_command(link, command),
        Request::Status => {
            let v = link.view.borrow().clone();
            let st = Status::from_view(&v);
            let text = st.trading_state.clone();
            Response::reply(Outcome::Ok, text, to_value(&st))
        }
        Request::Kill { reason, timeout_ms } => {
            let timeout = timeout_ms.map_or(DEFAULT_KILL_TIMEOUT, Duration::from_millis);
            let reason = reason
                .filter(|r| !r.trim().is_empty())
                .unwrap_or_else(|| "pit kill (control socket)".into());
            return kill(stream, link, &reason, timeout).await;
        }
        Request::Pause { for_secs, reason } => pause(shared, for_secs, reason).await,
        Request::Resume => {
            shared.pause_gen.fetch_add(1, Ordering::SeqCst);
            let now = link.view.borrow().clone();
            match now.trading_state {
                TradingState::Active => Response::reply(Outcome::Ok, "already ACTIVE", Value::Null),
                TradingState::Halted => Response::refused("resume refused: HALTED, re-arm first"),
                _ => {
                    command(link, Command::Resume, |v| {
                        v.trading_state == TradingState::Active
                    })
                    .await
                }
            }
        }
        Request::Flatten { instrument } => flatten(link, instrument).await,
        Request::FlattenPreview { instrument } => flatten_preview(link, instrument),
        Request::Backup { path } => backup(link, path).await,
        Request::Reconcile => reconcile(link).await,
        Request::Report => report(link).await,
        Request::Rearm => {
            let now = link.view.borrow().clone();
            if let Some(e) = &now.store_failed {
                Response::refused(format!(
                    "re-arm refused: the store failed ({e}); this run stays halted: free the disk, then restart pit"
                ))
            } else if now.trading_state != TradingState::Halted {
                Response::refused(format!(
                    "re-arm refused: not halted ({})",
                    now.trading_state
                ))
            } else {
                command(link, Command::ReArm, |v| {
                    v.trading_state != TradingState::Halted
                })
                .await
            }
        }
    };
    send(stream, &reply).await
}

/// Copy the store on a blocking thread: a read snapshot, never in the engine's way.
async fn backup(link: &EngineLink, path: PathBuf) -> Response {
    let Some(store) = link.store.clone() else {
        return Response::refused("backup refused: this run keeps no store");
    };
    if !path.is_absolute() {
        return Response::error(format!(
            "backup: {} is not an absolute path (the engine may run in another folder)",
            path.display()
        ));
    }
    let from = store.path().to_path_buf();
    match tokio::task::spawn_blocking(move || store.backup(&path)).await {
        Ok(Ok(s)) => Response::reply(Outcome::Ok, s.line(&from), to_value(&s)),
        Ok(Err(e)) => Response::refused(format!("backup failed: {e}")),
        Err(e) => Response::refused(format!("backup failed: {e}")),
    }
}

/// The report of the run's store, computed on a blocking thread from a read snapshot
/// (never in the engine's way). Answered with `{"report": ...}`; refusals start with
/// `report:`.
async fn report(link: &EngineLink) -> Response {
    let Some(store) = link.store.clone() else {
        return Response::refused("report: this run keeps no store");
    };
    match tokio::task::spawn_blocking(move || store.report(None)).await {
        Ok(Ok(r)) => Response::reply(Outcome::Ok, "report", json!({ "report": to_value(&r) })),
        Ok(Err(e)) => Response::refused(format!("report: {e}")),
        Err(e) => Response::refused(format!("report: {e}")),
    }
}

/// How long `pit reconcile` waits for the run's reconciliation (a few REST requests; the
/// connection task retries a failed one every 5 s).
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// Have the run's live venue reconcile now and answer with its summary.
async fn reconcile(link: &EngineLink) -> Response {
    let Some(ask) = &link.reconcile else {
        return Response::refused(
            "reconcile refused: this run trades on no live venue (pit reconcile compares a live venue's account with the store)",
        );
    };
    let mut rx = link.view.clone();
    let done = |v: &EngineView| v.health.exec.as_ref().map_or(0, |e| e.reconciles);
    let before = done(&rx.borrow_and_update());
    if !ask("pit reconcile".into()) {
        return Response::refused("the live venue's connection task has stopped");
    }
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    match next_view(&mut rx, deadline, |v| done(v) > before).await {
        Ok(v) => {
            let Some(e) = v.health.exec.as_ref() else {
                return Response::refused("the run no longer shows its live venue");
            };
            let summary = e.last_reconcile.clone().unwrap_or_default();
            // Each asset's balance against what pit expects (start + the run's fills).
            let mut text = summary.clone();
            for b in &e.balances {
                text += &format!(
                    "\nbalance   {} venue {} {} start {} + fills {} = {}",
                    b.asset,
                    b.venue.normalize(),
                    if b.agrees() { "=" } else { "!=" },
                    b.start.normalize(),
                    b.traded.normalize(),
                    b.expected.normalize()
                );
            }
            let data = serde_json::json!({
                "agree": e.last_reconcile_agrees,
                "summary": summary,
                "balances": e.balances,
                "external": e.external_orders,
                "via": "run",
            });
            Response::reply(Outcome::Ok, text, data)
        }
        Err(_) => Response::reply(
            Outcome::TimedOut,
            format!(
                "no reconciliation result within {} s: the live venue may be slow or unreachable (see the run's alerts); new orders stay refused while it reconciles",
                RECONCILE_TIMEOUT.as_secs()
            ),
            Value::Null,
        ),
    }
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Wait for the next view published after now that satisfies `pred`, until `deadline`.
/// `None`: the deadline passed or the engine stopped.
async fn next_view(
    rx: &mut watch::Receiver<Arc<EngineView>>,
    deadline: Instant,
    pred: impl Fn(&EngineView) -> bool,
) -> Result<Arc<EngineView>, Arc<EngineView>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.changed()).await {
            Ok(Ok(())) => {
                let v = rx.borrow_and_update().clone();
                if pred(&v) {
                    return Ok(v);
                }
            }
            _ => return Err(rx.borrow().clone()),
        }
    }
}

/// Operator alerts raised after `before` (new, or a folded repeat).
fn new_operator_alert(before: &EngineView, v: &EngineView) -> Option<String> {
    v.alerts
        .iter()
        .rev()
        .filter(|a| a.source == "operator")
        .find(|a| {
            !before
                .alerts
                .iter()
                .any(|b| b.seq == a.seq && b.count == a.count && b.ts == a.ts)
        })
        .map(|a| a.text.clone())
}

/// Send `cmd` and wait for a view in which `done` holds; refused with the engine's own
/// words (its newest operator alert) if it does not come.
async fn command(link: &EngineLink, cmd: Command, done: impl Fn(&EngineView) -> bool) -> Response {
    let mut rx = link.view.clone();
    let before = rx.borrow_and_update().clone();
    if link.commands.send(cmd).is_err() {
        return Response::refused("the engine has stopped");
    }
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let pred = |v: &EngineView| done(v) || new_operator_alert(&before, v).is_some();
    match next_view(&mut rx, deadline, pred).await {
        Ok(v) if done(&v) => {
            let text =
                new_operator_alert(&before, &v).unwrap_or_else(|| v.trading_state.to_string());
            Response::reply(Outcome::Ok, text, to_value(&Status::from_view(&v)))
        }
        Ok(v) => {
            // The engine answered with an alert but the state did not follow: give the
            // next views a moment (the alert may precede the state in a held view).
            match next_view(&mut rx, Instant::now() + Duration::from_millis(300), &done).await {
                Ok(v2) => Response::reply(
                    Outcome::Ok,
                    v2.trading_state.to_string(),
                    to_value(&Status::from_view(&v2)),
                ),
                Err(_) => Response::refused(
                    new_operator_alert(&before, &v).unwrap_or_else(|| v.trading_state.to_string()),
                ),
            }
        }
        Err(v) => Response::reply(
            Outcome::TimedOut,
            format!(
                "the engine did not show the change within {} s (now {})",
                COMMAND_TIMEOUT.as_secs(),
                v.trading_state
            ),
            Value::Null,
        ),
    }
}

async fn pause(shared: &Arc<Shared>, for_secs: Option<f64>, reason: Option<String>) -> Response {
    let link = &shared.link;
    let dur = match for_secs {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 && s <= MAX_PAUSE.as_secs_f64() => {
            Some(Duration::from_secs_f64(s))
        }
        Some(s) => {
            return Response::error(format!(
                "pause for {s} s: a duration from 1 ms to {} days",
                MAX_PAUSE.as_secs() / 86_400
            ));
        }
    };
    let gen_ = shared.pause_gen.fetch_add(1, Ordering::SeqCst) + 1;
    let state = link.view.borrow().trading_state;
    let reply = match state {
        TradingState::Paused => Response::reply(Outcome::Ok, "already PAUSED", Value::Null),
        TradingState::Active => {
            command(link, Command::Pause, |v| {
                v.trading_state == TradingState::Paused
            })
            .await
        }
        other => return Response::refused(format!("pause refused: {other}")),
    };
    let Response::Reply {
        outcome: Outcome::Ok,
        text,
        data,
    } = reply
    else {
        return reply;
    };
    let why = reason.as_deref().unwrap_or("no reason given");
    tracing::info!(reason = why, for_secs, "paused from the control socket");
    let mut text = format!("{text} ({why})");
    if let Some(d) = dur {
        text += &format!("; resumes by itself in {}", humantime::format_duration(d));
        let shared = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            let paused = shared.link.view.borrow().trading_state == TradingState::Paused;
            if shared.pause_gen.load(Ordering::SeqCst) == gen_ && paused {
                tracing::info!("pause --for ran out: resuming");
                let _ = shared.link.commands.send(Command::Resume);
            }
        });
    }
    Response::reply(Outcome::Ok, text, data)
}

/// What a flatten would send now (`pit flatten --preview`): the console's `F` preview,
/// from the engine's latest view; nothing is sent.
fn flatten_preview(link: &EngineLink, instrument: Option<String>) -> Response {
    let view = link.view.borrow().clone();
    if let Some(sym) = &instrument
        && !view.markets.iter().any(|m| {
            m.instrument
                .as_ref()
                .is_some_and(|i| i.symbol.eq_ignore_ascii_case(sym))
        })
    {
        return Response::error(format!("unknown instrument {sym}"));
    }
    let lines: Vec<_> = crate::app::flatten::preview(&view)
        .into_iter()
        .filter(|l| {
            instrument
                .as_ref()
                .is_none_or(|s| l.symbol.eq_ignore_ascii_case(s))
        })
        .collect();
    let text = if lines.is_empty() {
        "nothing to flatten: no open position".to_string()
    } else {
        let mut t: Vec<String> = lines.iter().map(|l| l.text()).collect();
        t.push(
            "reduce-only market orders; nothing sent (pit flatten without --preview sends them)"
                .into(),
        );
        t.join("\n")
    };
    Response::reply(Outcome::Ok, text, json!({ "orders": to_value(&lines) }))
}

async fn flatten(link: &EngineLink, instrument: Option<String>) -> Response {
    let view = link.view.borrow().clone();
    let which = match instrument {
        None => None,
        Some(sym) => {
            let found = view.markets.iter().position(|m| {
                m.instrument
                    .as_ref()
                    .is_some_and(|i| i.symbol.eq_ignore_ascii_case(&sym))
            });
            match found {
                Some(i) => Some(InstrumentId(i as u16)),
                None => {
                    let known: Vec<&str> = view
                        .markets
                        .iter()
                        .filter_map(|m| m.instrument.as_ref().map(|i| i.symbol.as_str()))
                        .collect();
                    return Response::error(format!(
                        "unknown instrument {sym} (this engine trades {})",
                        known.join(", ")
                    ));
                }
            }
        }
    };
    let mut rx = link.view.clone();
    let before = rx.borrow_and_update().clone();
    if link.commands.send(Command::Flatten(which)).is_err() {
        return Response::refused("the engine has stopped");
    }
    let is_flatten =
        |v: &EngineView| new_operator_alert(&before, v).is_some_and(|t| t.starts_with("flatten:"));
    match next_view(&mut rx, Instant::now() + COMMAND_TIMEOUT, is_flatten).await {
        Ok(v) => Response::reply(
            Outcome::Ok,
            new_operator_alert(&before, &v).unwrap_or_default(),
            to_value(&Status::from_view(&v)),
        ),
        Err(_) => Response::reply(
            Outcome::TimedOut,
            "the engine did not confirm the flatten in time",
            Value::Null,
        ),
    }
}

/// The kill: the gate closes before anything else, then the cancels are followed in the
/// published view until every target is resolved or `timeout` passes.
async fn kill(stream: &mut impl Sink, link: &EngineLink, reason: &str, timeout: Duration) -> Io {
    let t0 = Instant::now();
    let mut rx = link.view.clone();
    rx.borrow_and_update();
    let alive = link.killer.kill("socket", reason);
    let gate_open = link.gate.is_open();
    let us = t0.elapsed().as_micros() as u64;
    let text = if gate_open {
        "gate NOT closed".to_string()
    } else {
        "gate closed".to_string()
    };
    let progress = Response::Progress {
        stage: "gate_closed".into(),
        text,
        data: json!({"gate_open": gate_open, "elapsed_us": us}),
    };
    send(stream, &progress).await?;
    if !alive {
        let r = Response::refused("the engine has stopped; the gate is closed");
        return send(stream, &r).await;
    }
    let deadline = t0 + timeout;
    let halted = |v: &EngineView| v.trading_state == TradingState::Halted && v.kill.is_some();
    let v = match next_view(&mut rx, deadline, halted).await {
        Ok(v) => v,
        Err(v) => {
            let r = Response::reply(
                Outcome::TimedOut,
                format!(
                    "the engine did not show the halt in time (now {})",
                    v.trading_state
                ),
                json!({"gate_open": link.gate.is_open()}),
            );
            return send(stream, &r).await;
        }
    };
    let report = kill_report(&v).unwrap_or_default();
    let sent = Response::Progress {
        stage: "cancels_sent".into(),
        text: format!("HALTED; cancels sent: {}", report.cancels_sent),
        data: to_value(&report),
    };
    send(stream, &sent).await?;
    let mut last = v;
    loop {
        let report = kill_report(&last).unwrap_or_default();
        let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut data = to_value(&report);
        data["elapsed_ms"] = json!(elapsed_ms);
        data["halt_reason"] = json!(last.halt_reason);
        if report.resolved() {
            let text = format!(
                "every target resolved: {} ({elapsed_ms:.0} ms)",
                report.counts_text()
            );
            return send(stream, &Response::reply(Outcome::Ok, text, data)).await;
        }
        match next_view(&mut rx, deadline, |_| true).await {
            Ok(v) => last = v,
            Err(v) => {
                let report = kill_report(&v).unwrap_or_default();
                let mut data = to_value(&report);
                data["elapsed_ms"] = json!(t0.elapsed().as_secs_f64() * 1e3);
                let outcome = if report.resolved() {
                    Outcome::Ok
                } else {
                    Outcome::TimedOut
                };
                let text = format!(
                    "{}: {}; still open: {}",
                    if report.resolved() {
                        "every target resolved"
                    } else {
                        "timed out"
                    },
                    report.counts_text(),
                    report.unresolved.join(", ")
                );
                return send(stream, &Response::reply(outcome, text, data)).await;
            }
        }
    }
}
