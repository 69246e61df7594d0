//! `capbinder-servicemanager`: claims handle 0 and serves the name registry.
//!
//! It is a process of its own rather than part of capbinderd so that the
//! mediator stays policy-free and small (as the kernel driver is), and a
//! crashed service manager can be restarted like any service.

use std::path::PathBuf;
use std::process::ExitCode;

use capbinder::service_manager::{Policy, ServiceManagerService};
use capbinder::{new_binder, ProcessState};
use clap::Parser;

/// The capbinder service manager.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The mediator's socket (default: $CAPBINDER_SOCKET, then the standard places).
    #[arg(long)]
    socket: Option<PathBuf>,
    /// A TOML policy file (default: root and this uid may add; everyone may find and list).
    #[arg(long)]
    policy: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let policy = match &args.policy {
        None => Policy::default_for(rustix::process::geteuid().as_raw()),
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| format!("{}: {e}", p.display()))
            .and_then(|t| Policy::from_toml(&t).map_err(|e| format!("{}: {e}", p.display())))
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("capbinder-servicemanager: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let ps = match ProcessState::init(args.socket.as_deref()) {
        Ok(ps) => ps,
        Err(e) => {
            eprintln!("capbinder-servicemanager: {e}");
            return ExitCode::from(1);
        }
    };
    let sm = new_binder(ServiceManagerService::new(policy));
    if let Err(e) = ps.become_context_manager(&sm) {
        eprintln!("capbinder-servicemanager: cannot become the context manager: {e}");
        return ExitCode::from(1);
    }
    let _ = ps.set_max_threads(4);
    println!("capbinder-servicemanager: ready");
    match ps.join_thread_pool() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capbinder-servicemanager: {e}");
            ExitCode::from(1)
        }
    }
}
