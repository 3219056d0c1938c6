//! Commands to a running engine, from any shell, over its control socket: `pit status`,
//! `pit kill`, `pit pause`, `pit resume`, `pit flatten`, `pit rearm`. Each takes `--json`
//! (one JSON object on stdout) and exits 0 when done, 1 when refused or timed out, 2 on a
//! usage error or when no engine runs in the data folder.

use super::{load_config, parse_duration};
use clap::Args;
use pit::control::client::{Client, ClientError, Reply};
use pit::control::protocol::{Outcome, Request, Role};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Why (kept as the halt's reason).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Wait at most this long for every cancel to be resolved.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    timeout: Duration,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Resume by itself after this long (e.g. 30s, 5m).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pause_for: Option<Duration>,
    /// Why (logged, and echoed in the reply).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct FlattenArgs {
    /// Only this instrument (its symbol); default: every position.
    #[arg(long, value_name = "SYMBOL")]
    instrument: Option<String>,
    /// Only show what would be sent (side, size, estimated price and cost on the
    /// visible book); nothing is sent.
    #[arg(long)]
    preview: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct RearmArgs {
    /// Confirm: trading starts again.
    #[arg(long)]
    yes: bool,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Extra time, past the request's own, that the client waits for the reply.
const SLACK: Duration = Duration::from_secs(5);

/// One control request to the engine of the configured data folder.
struct Call {
    req: Request,
    /// How long the reply may take.
    wait: Duration,
    json: bool,
}

fn exit_code(o: Outcome) -> ExitCode {
    match o {
        Outcome::Ok => ExitCode::SUCCESS,
        Outcome::Refused | Outcome::TimedOut => ExitCode::from(1),
        Outcome::Error => ExitCode::from(2),
    }
}

fn fail(json: bool, kind: &str, text: &str, code: u8) -> ExitCode {
    if json {
        println!("{}", json!({"outcome": kind, "text": text}));
    }
    eprintln!("pit: {text}");
    ExitCode::from(code)
}

fn run(config: Option<&PathBuf>, call: Call) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config)?;
    let dir = pit::control::data_dir(&cfg.store.path);
    let mut client = match Client::connect(&dir, Role::Admin) {
        Ok(c) => c,
        Err(e @ (ClientError::NoEngine { .. } | ClientError::Denied { .. })) => {
            return Ok(fail(call.json, "no_engine", &e.to_string(), 2));
        }
        Err(e) => return Ok(fail(call.json, "error", &e.to_string(), 1)),
    };
    let mut stages = Vec::new();
    let json = call.json;
    let reply = client.call(&call.req, call.wait + SLACK, |stage, text, data| {
        if !json {
            println!("{text}");
        }
        stages.push(json!({"stage": stage, "text": text, "data": data}));
    });
    let Reply {
        outcome,
        text,
        data,
    } = match reply {
        Ok(r) => r,
        Err(e) => return Ok(fail(json, "error", &e.to_string(), 1)),
    };
    if json {
        let mut out = match data {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            other => {
                let mut m = serde_json::Map::new();
                m.insert("data".into(), other);
                m
            }
        };
        out.insert("outcome".into(), json!(outcome.as_str()));
        out.insert("text".into(), json!(text));
        if !stages.is_empty() {
            out.insert("stages".into(), Value::Array(stages));
        }
        println!("{}", Value::Object(out));
    } else if outcome == Outcome::Ok {
        if let Request::Status = call.req {
            match serde_json::from_value::<pit::control::status::Status>(data) {
                Ok(s) => print!("{}", s.to_text()),
                Err(_) => println!("{text}"),
            }
        } else {
            println!("{text}");
        }
    } else {
        eprintln!("pit: {}: {text}", outcome.as_str().replace('_', " "));
    }
    Ok(exit_code(outcome))
}

pub fn status(config: Option<&PathBuf>, a: StatusArgs) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: Request::Status,
            wait: Duration::ZERO,
            json: a.json,
        },
    )
}

pub fn kill(config: Option<&PathBuf>, a: KillArgs) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: Request::Kill {
                reason: a.reason,
                timeout_ms: Some(a.timeout.as_millis().min(u64::MAX as u128) as u64),
            },
            wait: a.timeout,
            json: a.json,
        },
    )
}

pub fn pause(config: Option<&PathBuf>, a: PauseArgs) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: Request::Pause {
                for_secs: a.pause_for.map(|d| d.as_secs_f64()),
                reason: a.reason,
            },
            wait: Duration::ZERO,
            json: a.json,
        },
    )
}

pub fn resume(config: Option<&PathBuf>, a: ResumeArgs) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: Request::Resume,
            wait: Duration::ZERO,
            json: a.json,
        },
    )
}

pub fn flatten(config: Option<&PathBuf>, a: FlattenArgs) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: if a.preview {
                Request::FlattenPreview {
                    instrument: a.instrument,
                }
            } else {
                Request::Flatten {
                    instrument: a.instrument,
                }
            },
            wait: Duration::ZERO,
            json: a.json,
        },
    )
}

pub fn rearm(config: Option<&PathBuf>, a: RearmArgs) -> anyhow::Result<ExitCode> {
    if !a.yes {
        return Ok(fail(
            a.json,
            "usage",
            "pit rearm starts trading again: confirm with --yes",
            2,
        ));
    }
    run(
        config,
        Call {
            req: Request::Rearm,
            wait: Duration::ZERO,
            json: a.json,
        },
    )
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// A read-only viewer: the engine refuses this console's commands (K, b, c ...).
    #[arg(long)]
    view: bool,
    /// Attach to an engine on another box, through the system's ssh client (which runs
    /// `pit control-proxy` there).
    #[arg(long, value_name = "HOST")]
    ssh: Option<String>,
    /// The folder the engine was started in (its config.toml and data folder); with
    /// --ssh, a folder on HOST. Default: the engine of the config pit finds (`pit config
    /// path`; with --ssh: the login folder on HOST).
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// The pit program on HOST (with --ssh).
    #[arg(long, value_name = "PATH", default_value = "pit", requires = "ssh")]
    remote_pit: String,
}

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// The folder the engine was started in (its config.toml and data folder).
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
}

/// The data folder of the engine started in `dir` (its config.toml there, if any, names
/// the store), or of this folder's config when no `dir` is given.
fn engine_data_dir(config: Option<&PathBuf>, dir: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let Some(dir) = dir else {
        let cfg = load_config(config)?;
        return Ok(pit::control::data_dir(&cfg.store.path));
    };
    if !dir.is_dir() {
        anyhow::bail!("--dir {}: no such folder", dir.display());
    }
    let cfg = match config {
        Some(c) => pit::config::Config::load(c)?,
        None if dir.join("config.toml").exists() => {
            pit::config::Config::load(&dir.join("config.toml"))?
        }
        None => pit::config::Config::default(),
    };
    let data = pit::control::data_dir(&cfg.store.path);
    Ok(if data.is_absolute() {
        data
    } else {
        dir.join(data)
    })
}

/// `pit attach`: the console on a running engine (see `pit::attach`).
pub fn attach(config: Option<&PathBuf>, a: AttachArgs) -> anyhow::Result<ExitCode> {
    use pit::attach::{AttachError, Target};
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return Ok(fail(
            false,
            "usage",
            "pit attach needs a terminal; use pit status for scripts",
            2,
        ));
    }
    let cfg = load_config(config)?;
    let target = match &a.ssh {
        Some(host) => Target::Ssh {
            host: host.clone(),
            dir: a.dir.as_ref().map(|d| d.to_string_lossy().into_owned()),
            remote_pit: a.remote_pit.clone(),
        },
        None => Target::Local {
            data_dir: engine_data_dir(config, a.dir.as_ref())?,
        },
    };
    let theme = super::console_theme(&cfg, config)?;
    let mut app = pit::ui::App::new(
        &cfg.console,
        theme,
        std::sync::Arc::new(pit::engine::view::EngineView::default()),
    );
    app.set_risk_limits(&cfg.risk);
    let opts = pit::attach::AttachOptions {
        role: if a.view { Role::Viewer } else { Role::Admin },
        fps: cfg.console.fps,
    };
    let end = super::runtime()?.block_on(pit::attach::run(target, app, opts));
    match end {
        Ok(end) => {
            if end.terminal_restored {
                eprintln!("pit attach: {}", end.why);
            }
            Ok(if end.detached {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => match e.downcast::<AttachError>() {
            Ok(e @ AttachError::NoEngine { .. }) => Ok(fail(false, "no_engine", &e.to_string(), 2)),
            Ok(e) => Ok(fail(false, "error", &e.to_string(), 1)),
            Err(e) => Err(e),
        },
    }
}

/// `pit control-proxy`: standard input and output bridged to the engine's control
/// socket (what `pit attach --ssh` runs on the other box).
pub fn control_proxy(config: Option<&PathBuf>, a: ProxyArgs) -> anyhow::Result<ExitCode> {
    let dir = engine_data_dir(config, a.dir.as_ref())?;
    match pit::attach::proxy(&dir) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e @ pit::attach::AttachError::NoEngine { .. }) => {
            Ok(fail(false, "no_engine", &e.to_string(), 2))
        }
        Err(e) => Ok(fail(false, "error", &e.to_string(), 1)),
    }
}

/// `pit store backup PATH` for a store that a running engine holds: the engine copies it
/// from a read snapshot (the file is locked to everyone else).
pub fn store_backup_running(
    config: Option<&PathBuf>,
    dest: PathBuf,
    json: bool,
) -> anyhow::Result<ExitCode> {
    run(
        config,
        Call {
            req: Request::Backup { path: dest },
            wait: Duration::from_secs(600),
            json,
        },
    )
}
