//! The control socket's client, blocking (it serves short-lived commands from a shell):
//! connect, say hello, send requests, read their progress and reply.

use super::protocol::{
    FrameError, Outcome, PROTOCOL_VERSION, Request, Response, Role, SOCKET_NAME, decode,
    read_frame, write_frame,
};
use serde_json::Value;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Talking to an engine went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("No engine running in {}", dir.display())]
    NoEngine { dir: PathBuf },
    #[error("{}: permission denied (the engine belongs to another user?)", path.display())]
    Denied { path: PathBuf },
    #[error("the engine refused the connection: {0}")]
    Refused(String),
    #[error("the engine did not answer in time")]
    Timeout,
    #[error("control socket: {0}")]
    Frame(#[from] FrameError),
}

impl ClientError {
    fn from_io(e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::Timeout,
            _ => ClientError::Frame(FrameError::Io(e)),
        }
    }
}

/// A request's end.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub outcome: Outcome,
    pub text: String,
    pub data: Value,
}

/// One connection to an engine.
pub struct Client {
    stream: UnixStream,
    /// The engine's process id, from its hello.
    pub pid: u32,
    pub role: Role,
    /// What the engine trades on, if it says.
    pub mode: Option<String>,
}

impl Client {
    /// Connect to the engine of `data_dir` and say hello.
    pub fn connect(data_dir: &Path, role: Role) -> Result<Client, ClientError> {
        let path = data_dir.join(SOCKET_NAME);
        let stream = match UnixStream::connect(&path) {
            Ok(s) => s,
            Err(e) => {
                return Err(match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                        ClientError::NoEngine {
                            dir: data_dir.to_path_buf(),
                        }
                    }
                    std::io::ErrorKind::PermissionDenied => ClientError::Denied { path },
                    _ => ClientError::Frame(FrameError::Io(e)),
                });
            }
        };
        Client::handshake(stream, role)
    }

    /// The connection itself (for a console that subscribes and reads it on its own).
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// Say hello on an open stream.
    pub fn handshake(mut stream: UnixStream, role: Role) -> Result<Client, ClientError> {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(ClientError::from_io)?;
        let hello = Request::Hello {
            protocol: PROTOCOL_VERSION,
            role,
        };
        write_frame(&mut stream, &hello)?;
        let body = read_frame(&mut stream).map_err(|e| match e {
            FrameError::Io(io) => ClientError::from_io(io),
            other => ClientError::Frame(other),
        })?;
        match decode::<Response>(&body)? {
            Response::Hello {
                pid, role, mode, ..
            } => Ok(Client {
                stream,
                pid,
                role,
                mode,
            }),
            Response::Reply { text, .. } => Err(ClientError::Refused(text)),
            Response::Progress { .. } | Response::View { .. } => Err(ClientError::Frame(
                FrameError::Malformed("a frame before hello".into()),
            )),
        }
    }

    /// Send `req` and read until its reply, handing each progress frame to `progress`
    /// (stage, text, data). Waits at most `timeout` for each frame.
    pub fn call(
        &mut self,
        req: &Request,
        timeout: Duration,
        mut progress: impl FnMut(&str, &str, &Value),
    ) -> Result<Reply, ClientError> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .map_err(ClientError::from_io)?;
        write_frame(&mut self.stream, req)?;
        loop {
            let body = read_frame(&mut self.stream).map_err(|e| match e {
                FrameError::Io(io) => ClientError::from_io(io),
                other => ClientError::Frame(other),
            })?;
            match decode::<Response>(&body)? {
                Response::Progress { stage, text, data } => progress(&stage, &text, &data),
                Response::Reply {
                    outcome,
                    text,
                    data,
                } => {
                    return Ok(Reply {
                        outcome,
                        text,
                        data,
                    });
                }
                // Only a subscribed connection gets views; none is owed here.
                Response::View { .. } => {}
                Response::Hello { .. } => {
                    return Err(ClientError::Frame(FrameError::Malformed(
                        "a second hello".into(),
                    )));
                }
            }
        }
    }
}
