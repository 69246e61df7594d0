//! `capbinderd`: the capbinder mediator daemon, one per context socket.
//!
//! `capbinderd [--socket PATH] [--context NAME] [--config FILE] [--epoll]`
//! binds `/run/capbinder/<context>.sock` (or `--socket`), prints
//! `capbinderd: listening on PATH (LOOP)` on stdout once clients may
//! connect (`LOOP` is `io_uring` or `epoll`), and runs until SIGTERM or
//! SIGINT.
//!
//! The event loop: `--epoll` forces epoll; otherwise `CAPBINDER_LOOP`
//! (`auto`, `io_uring`, `epoll`) if set, else the configuration's
//! `event_loop`, else `auto`, which runs epoll: it measured faster than
//! io_uring (docs/transport.md, "The loop").

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use capbinder_kmod_shim::mediator::config::{Config, LoopChoice};
use capbinder_kmod_shim::mediator::Mediator;
use clap::Parser;

/// The capbinder mediator: binder-style IPC without a kernel driver.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Socket path (default: /run/capbinder/CONTEXT.sock, CONTEXT from --context).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Context name (like a binderfs device).
    #[arg(long, default_value = "capbinder")]
    context: String,
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run the epoll loop whatever CAPBINDER_LOOP or the configuration's
    /// `event_loop` asks for. Without either, epoll runs anyway: it measured
    /// faster than io_uring here (docs/transport.md, "The loop"); ask for
    /// io_uring with CAPBINDER_LOOP=io_uring or `event_loop = "io_uring"`.
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
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(v) = std::env::var_os("CAPBINDER_LOOP").filter(|v| !v.is_empty()) {
        let v = v.to_string_lossy();
        config.event_loop = LoopChoice::parse(&v).ok_or_else(|| {
            format!("CAPBINDER_LOOP={v:?}: expected \"auto\", \"io_uring\" or \"epoll\"")
        })?;
    }
    if args.epoll {
        config.event_loop = LoopChoice::Epoll;
    }
    // Block the signals before any thread exists, then watch them as an fd.
    let signals =
        capbinder_kmod_shim::sys::signal::block_and_signalfd(&[libc::SIGTERM, libc::SIGINT])?;
    let socket = args
        .socket
        .unwrap_or_else(|| PathBuf::from(format!("/run/capbinder/{}.sock", args.context)));
    let mut mediator = Mediator::bind(&socket, config)?;
    mediator.stop_on(signals)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "capbinderd: listening on {} ({})",
        socket.display(),
        mediator.event_loop()
    )?;
    out.flush()?;
    drop(out);
    mediator.run()?;
    Ok(())
}
