//! `capbinderd`: the capbinder mediator daemon, one per context socket.
//!
//! `capbinderd [--socket PATH] [--context NAME] [--config FILE] [--epoll]`
//! binds `/run/capbinder/<context>.sock` (or `--socket`), prints
//! `capbinderd: listening on PATH` on stdout once clients may connect, and
//! runs until SIGTERM or SIGINT.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_kmod_shim::mediator::config::Config;
use capbinder_kmod_shim::mediator::Mediator;
use clap::Parser;

/// The capbinder mediator: binder-style IPC without a kernel driver.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Socket path (default: /run/capbinder/<context>.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Context name (like a binderfs device).
    #[arg(long, default_value = "capbinder")]
    context: String,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use the epoll loop (the only one implemented so far).
    #[arg(long)]
    epoll: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAPBINDER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capbinderd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.context.is_empty() || args.context.contains('/') {
        return Err(format!("--context {:?}: a name without '/'", args.context).into());
    }
    let config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    let _ = args.epoll; // epoll is the only loop so far
                        // Block the signals before any thread exists, then watch them as an fd.
    let signals =
        capbinder_kmod_shim::sys::signal::block_and_signalfd(&[libc::SIGTERM, libc::SIGINT])?;
    let socket = args
        .socket
        .unwrap_or_else(|| PathBuf::from(format!("/run/capbinder/{}.sock", args.context)));
    let mut mediator = Mediator::bind(&socket, config)?;
    mediator.stop_on(signals)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "capbinderd: listening on {}", socket.display())?;
    out.flush()?;
    drop(out);
    mediator.run()?;
    Ok(())
}
