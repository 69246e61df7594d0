//! `capbinder-servicemanager`: claims handle 0 and serves the name registry.
//!
//! It is a process of its own rather than part of capbinderd so that the
//! mediator stays policy-free and small (as the kernel driver is), and a
//! crashed service manager can be restarted like any service.

use std::path::PathBuf;
use std::process::ExitCode;

use capbinder::sandbox::UidRange;
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
    /// The uids the sandbox gives apps (`FIRST-LAST`, as `capbinder-sandbox
    /// --uids`), or `none`: an unregistered caller with one of them is denied
    /// everything, so an app whose registration this service manager lacks
    /// (launched before it restarted) is refused instead of meeting only the
    /// policy.
    #[arg(long, default_value = "10000-19999")]
    app_uids: String,
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
    let app_uids = match args.app_uids.as_str() {
        "none" => None,
        r => match r.parse::<UidRange>() {
            Ok(r) => Some(r),
            Err(e) => {
                eprintln!("capbinder-servicemanager: --app-uids {e}");
                return ExitCode::from(2);
            }
        },
    };
    let sm = new_binder(ServiceManagerService::new(policy).with_app_uids(app_uids));
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
