//! The control socket's protocol, version 1: JSON frames, each behind a 4-byte big-endian
//! length. A connection opens with [`Request::Hello`] (protocol version and role); the
//! engine answers [`Response::Hello`], or a [`Response::Reply`] with an error and closes.
//! Then every request gets zero or more [`Response::Progress`] frames (the stages of a
//! kill) and exactly one [`Response::Reply`]: `ok`, `refused`, `timed_out` or `error`,
//! a sentence, and data.
//!
//! An attached console (`pit attach`) sends [`Request::Subscribe`]: from then on the
//! connection is full duplex. The engine streams [`Response::View`] frames (its published
//! view, at most `fps` a second, the latest one wins: a slow reader gets fewer frames,
//! never a queue) between the replies to the requests the console goes on sending, such
//! as [`Request::Command`] (an operator command, as the local console's keys make them)
//! and [`Request::Kill`] (the same kill path as `pit kill`). These additions keep version 1:
//! every request of before means what it meant.
//!
//! A frame longer than [`MAX_FRAME`] is refused before it is read (the connection
//! closes: the stream cannot be trusted past it); a frame that is not a request gets an
//! error reply and the connection goes on. Nothing from the socket can panic the engine.

use crate::engine::Command;
use crate::engine::view::EngineView;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::{Read, Write};

/// The protocol this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest frame either side accepts (a status with every open order fits easily).
pub const MAX_FRAME: usize = 4 << 20;

/// The socket's file name in the data folder.
pub const SOCKET_NAME: &str = "pit.sock";

/// What a connection may do: an admin commands, a viewer only reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A request to the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The first frame of every connection.
    Hello {
        protocol: u32,
        role: Role,
    },
    /// Trading state, reason, positions, PnL, open orders, feed, engine lag.
    Status,
    /// Close the gate at once, cancel every open order, follow the cancels until every
    /// target is resolved or `timeout_ms` passes.
    Kill {
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    /// Hold strategies' new orders; resume by itself after `for_secs` if given.
    Pause {
        #[serde(default)]
        for_secs: Option<f64>,
        #[serde(default)]
        reason: Option<String>,
    },
    Resume,
    /// Close positions with reduce-only orders: one instrument (by symbol) or all.
    Flatten {
        #[serde(default)]
        instrument: Option<String>,
    },
    /// What a flatten would send (one instrument or all), priced on the visible book;
    /// nothing is sent. Viewers may ask.
    FlattenPreview {
        #[serde(default)]
        instrument: Option<String>,
    },
    /// Leave a halt.
    Rearm,
    /// Stream the engine's view on this connection, at most `fps` frames a second
    /// (default 30, 1 to 60); requests go on being answered in between.
    Subscribe {
        #[serde(default)]
        fps: Option<u32>,
    },
    /// An operator command, as the console's keys make it (the kill switch goes through
    /// the kill path: the gate closes first). Answered `ok` once handed to the engine,
    /// which shows what it made of it in its view (alerts, state).
    Command {
        command: Command,
    },
    /// A verified copy of the store as committed so far, written to `path` (an absolute
    /// path on the engine's machine; never overwrites). Admin only.
    Backup {
        path: std::path::PathBuf,
    },
    /// Compare the live venue's account with the store now (`pit reconcile` while a run
    /// holds the store): the run's connection task does it, as at start; answered with
    /// its summary once done. Admin only.
    Reconcile,
    /// The closed trades' report (`pit report`, the console's report view) from the run's
    /// store, for an attached console. Viewers may read it.
    Report,
}

impl Request {
    /// Short name, for logs and refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Status => "status",
            Request::Kill { .. } => "kill",
            Request::Pause { .. } => "pause",
            Request::Resume => "resume",
            Request::Flatten { .. } => "flatten",
            Request::FlattenPreview { .. } => "flatten preview",
            Request::Rearm => "rearm",
            Request::Subscribe { .. } => "subscribe",
            Request::Command { command } => command.name(),
            Request::Backup { .. } => "backup",
            Request::Reconcile => "reconcile",
            Request::Report => "report",
        }
    }
    /// Whether it changes anything (refused to viewers).
    pub fn is_command(&self) -> bool {
        !matches!(
            self,
            Request::Hello { .. }
                | Request::Status
                | Request::Subscribe { .. }
                | Request::Report
                | Request::FlattenPreview { .. }
        )
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Ok,
    /// The engine would not (a viewer's command, a re-arm while not halted, ...).
    Refused,
    /// Not finished in time (a kill whose targets are not all resolved yet).
    TimedOut,
    /// The request itself was wrong (malformed frame, wrong version, unknown instrument).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::TimedOut => "timed_out",
            Outcome::Error => "error",
        }
    }
}

/// What the engine sends back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The handshake accepted.
    Hello {
        protocol: u32,
        role: Role,
        pid: u32,
        version: String,
        /// What the engine trades on (`SIM`, `PAPER`, ...), for an attached console's
        /// status bar; absent from engines that do not say.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
    },
    /// One stage of a longer request (a kill: `gate_closed`, `cancels_sent`).
    Progress {
        stage: String,
        text: String,
        #[serde(default)]
        data: Value,
    },
    /// The end of a request.
    Reply {
        outcome: Outcome,
        text: String,
        #[serde(default)]
        data: Value,
    },
    /// The engine's view, on a subscribed connection.
    View { view: Box<EngineView> },
}

/// A [`Response::View`] serialised from a borrowed view (the server encodes each view
/// once, whoever it goes to).
#[derive(Serialize)]
#[serde(tag = "type", rename = "view")]
pub struct ViewFrame<'a> {
    pub view: &'a EngineView,
}

impl Response {
    pub fn reply(outcome: Outcome, text: impl Into<String>, data: Value) -> Response {
        Response::Reply {
            outcome,
            text: text.into(),
            data,
        }
    }
    pub fn error(text: impl Into<String>) -> Response {
        Response::reply(Outcome::Error, text, Value::Null)
    }
    pub fn refused(text: impl Into<String>) -> Response {
        Response::reply(Outcome::Refused, text, Value::Null)
    }
}

/// Reading or writing a frame went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A value as one frame: the length prefix, then its JSON.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(value).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME,
        });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// The body length a prefix announces, refused over [`MAX_FRAME`].
pub fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// A frame's body as a value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::Malformed(e.to_string()))
}

/// A response frame's body as a [`Response`]. A view is read straight into its type:
/// serde's internally tagged enums buffer the whole value first, which cannot hold the
/// view's 128-bit integers.
pub fn decode_response(body: &[u8]) -> Result<Response, FrameError> {
    #[derive(Deserialize)]
    struct ViewBody {
        view: Box<EngineView>,
    }
    if body.starts_with(br#"{"type":"view","#) {
        let v: ViewBody = decode(body)?;
        return Ok(Response::View { view: v.view });
    }
    decode(body)
}

/// Write one frame (blocking).
pub fn write_frame<T: Serialize>(w: &mut impl Write, value: &T) -> Result<(), FrameError> {
    w.write_all(&encode(value)?)?;
    w.flush()?;
    Ok(())
}

/// Read one frame's body (blocking). A clean end of stream before a prefix is `Closed`.
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Write one frame (async).
pub async fn write_frame_async<T: Serialize>(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    value: &T,
) -> Result<(), FrameError> {
    use tokio::io::AsyncWriteExt;
    w.write_all(&encode(value)?).await?;
    w.flush().await?;
    Ok(())
}

/// Read one frame's body (async).
pub async fn read_frame_async(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<Vec<u8>, FrameError> {
    use tokio::io::AsyncReadExt;
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// Check a hello: the version this build speaks, else the refusal's text.
pub fn check_hello(req: &Request) -> Result<Role, String> {
    match req {
        Request::Hello { protocol, role } if *protocol == PROTOCOL_VERSION => Ok(*role),
        Request::Hello { protocol, .. } => Err(format!(
            "protocol version {protocol} is not supported: this engine speaks version {PROTOCOL_VERSION}"
        )),
        other => Err(format!(
            "the first frame must be a hello, not {}",
            other.name()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_round_trip_through_frames() {
        let all = [
            Request::Hello {
                protocol: 1,
                role: Role::Viewer,
            },
            Request::Status,
            Request::Kill {
                reason: Some("fat finger".into()),
                timeout_ms: Some(5000),
            },
            Request::Pause {
                for_secs: Some(90.0),
                reason: None,
            },
            Request::Resume,
            Request::Flatten {
                instrument: Some("BTC-USD".into()),
            },
            Request::Rearm,
            Request::Subscribe { fps: Some(20) },
            Request::Command {
                command: Command::CancelAll,
            },
            Request::Command {
                command: Command::ToggleStrategy(2),
            },
        ];
        let mut wire = Vec::new();
        for r in &all {
            write_frame(&mut wire, r).unwrap();
        }
        let mut rd = &wire[..];
        for r in &all {
            let back: Request = decode(&read_frame(&mut rd).unwrap()).unwrap();
            assert_eq!(&back, r);
        }
        assert!(matches!(read_frame(&mut rd), Err(FrameError::Closed)));
    }

    #[test]
    fn the_wire_is_a_big_endian_length_then_json() {
        let f = encode(&Request::Status).unwrap();
        let body = br#"{"type":"status"}"#;
        assert_eq!(&f[..4], &(body.len() as u32).to_be_bytes());
        assert_eq!(&f[4..], body);
        let r = Response::reply(Outcome::TimedOut, "late", json!({"unresolved": 2}));
        let v: Value = decode(&encode(&r).unwrap()[4..]).unwrap();
        assert_eq!(
            v,
            json!({"type": "reply", "outcome": "timed_out", "text": "late", "data": {"unresolved": 2}})
        );
    }

    #[test]
    fn a_view_frame_reads_back_as_a_view_response() {
        let mut view = EngineView {
            halt_reason: Some("fat finger".into()),
            ..EngineView::default()
        };
        view.pnl.realized = rust_decimal::Decimal::new(-12345, 2);
        let wire = encode(&ViewFrame { view: &view }).unwrap();
        match decode_response(&wire[4..]).unwrap() {
            Response::View { view: back } => assert_eq!(*back, view),
            other => panic!("{other:?}"),
        }
        // A version-1 request of before still reads the same.
        let old: Request = decode(br#"{"type":"kill","reason":"x"}"#).unwrap();
        assert_eq!(
            old,
            Request::Kill {
                reason: Some("x".into()),
                timeout_ms: None
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for body in [
            &b"not json"[..],
            br#"{"type":"launch_missiles"}"#,
            br#"{"type":"kill","reason":7}"#,
            br#"{"type":"kill","reason":"x","bogus":1}"#,
            b"",
            &[0xff, 0xfe, 0x00][..],
        ] {
            let r: Result<Request, _> = decode(body);
            assert!(matches!(r, Err(FrameError::Malformed(_))), "{body:?}");
        }
        // A frame cut short is an I/O error, not a panic.
        let mut f = encode(&Request::Status).unwrap();
        f.truncate(7);
        assert!(matches!(read_frame(&mut &f[..]), Err(FrameError::Io(_))));
    }

    #[test]
    fn oversize_frames_are_refused_before_reading() {
        let prefix = ((MAX_FRAME + 1) as u32).to_be_bytes();
        let err = read_frame(&mut &prefix[..]).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len, max } if len == MAX_FRAME + 1 && max == MAX_FRAME)
        );
        assert!(err.to_string().contains("over the limit"), "{err}");
        let huge = Response::error("x".repeat(MAX_FRAME));
        assert!(matches!(encode(&huge), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn a_wrong_version_or_a_missing_hello_is_refused_with_a_reason() {
        let ok = Request::Hello {
            protocol: PROTOCOL_VERSION,
            role: Role::Admin,
        };
        assert_eq!(check_hello(&ok), Ok(Role::Admin));
        let v2 = Request::Hello {
            protocol: 2,
            role: Role::Admin,
        };
        let e = check_hello(&v2).unwrap_err();
        assert!(
            e.contains("version 2") && e.contains("speaks version 1"),
            "{e}"
        );
        let e = check_hello(&Request::Status).unwrap_err();
        assert!(e.contains("must be a hello"), "{e}");
    }
}
