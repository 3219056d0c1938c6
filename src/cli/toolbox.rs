//! The toolbox subcommands: `pit config path|init`, `pit completions SHELL`, `pit man`.

use super::Cli;
use clap::{Args, CommandFactory, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Print the config file pit uses, the rule that chose it, every place looked at, and
    /// the store, socket, log and recording folders that follow from it.
    #[command(after_long_help = "\
Examples:
  pit config path
  PIT_CONFIG=~/desk/pit.toml pit config path
  pit --config ./paper.toml config path")]
    Path,
    /// Write the shipped, commented config (every key at its default) where pit will look
    /// for it: the --config or PIT_CONFIG file if given, else the user config folder
    /// ($XDG_CONFIG_HOME/pit/config.toml). Never overwrites a file.
    #[command(after_long_help = "\
Examples:
  pit config init                        # ~/.config/pit/config.toml on Linux
  pit --config ./desk.toml config init   # a config for this folder's runs")]
    Init,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

pub fn config(config: Option<&PathBuf>, a: ConfigArgs) -> anyhow::Result<ExitCode> {
    let loc = super::locate(config);
    match a.action {
        ConfigAction::Path => {
            // Show where things go even if the file is broken: the folders then follow the
            // defaults, and the error is said.
            let (cfg, err) = match pit::paths::load(&loc) {
                Ok(c) => (c, None),
                Err(e) => {
                    let mut c = pit::config::Config::default();
                    pit::paths::rebase(&mut c, &loc.base);
                    (c, Some(e))
                }
            };
            print!("{}", pit::paths::describe(&loc, &cfg));
            if let Some(e) = err {
                eprintln!("pit: {e}");
                return Ok(ExitCode::from(2));
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Init => {
            // `./config.toml` found in the working folder is never the target of init: it
            // exists. The user file is, unless --config or PIT_CONFIG name one.
            let target = match loc.source {
                pit::paths::Source::Flag | pit::paths::Source::Env => loc.file.clone(),
                _ => loc.init_target.clone(),
            };
            let written = pit::paths::init(target.as_deref())?;
            println!("wrote {}", written.display());
            if loc.source == pit::paths::Source::WorkingDir {
                eprintln!(
                    "note: ./config.toml in this folder is read first; {} is used elsewhere",
                    written.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `pit completions SHELL`: the completion script on stdout.
pub fn completions(a: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "pit", &mut out);
    write_out(&out)
}

/// Write to stdout; a reader that stops early (`| head`) is no error.
fn write_out(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// A subcommand's own page (pit-run(1), pit-kill(1) ...); default: pit(1).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

/// `pit man [SUBCOMMAND]`: the man page (roff) on stdout.
pub fn man(a: ManArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    cmd.build();
    let page = match &a.subcommand {
        None => cmd,
        Some(name) => {
            let Some(sub) = cmd.find_subcommand(name) else {
                let names: Vec<_> = cmd.get_subcommands().map(|s| s.get_name()).collect();
                anyhow::bail!("no subcommand '{name}'; one of: {}", names.join(", "));
            };
            // The page is written once and the process ends: a leaked name costs nothing.
            let full: &'static str = Box::leak(format!("pit-{name}").into_boxed_str());
            sub.clone().name(full).display_name(full)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    write_out(&out)
}
