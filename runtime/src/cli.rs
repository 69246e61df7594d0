//! The `capbinder` command line as a library function, so that programs
//! (and tests) can run it in-process: [`run`] takes the arguments and
//! returns the exit code.
//!
//! Exit codes: 0 success, 1 not found / failed call, 2 usage or connection
//! error.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::service_manager::ServiceManager;
use crate::ProcessState;

/// Inspect services and the mediator's state.
#[derive(Parser)]
#[command(name = "capbinder", version, about)]
struct Args {
    /// The mediator's socket (default: $CAPBINDER_SOCKET, then the standard places).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Services registered with the service manager.
    Service {
        #[command(subcommand)]
        cmd: ServiceCmd,
    },
    /// Processes, threads, nodes, refs, buffers and calls in flight, as the
    /// mediator sees them (only your own process unless you are root).
    State {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Counters per process.
    Stats {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// List the names you may find.
    List,
    /// Whether NAME is registered (exit 0) or not (exit 1).
    Check {
        /// The service name.
        name: String,
    },
}

/// Runs the `capbinder` command with `args` (the first is the program
/// name), printing to stdout and stderr; returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let ps = match ProcessState::init(args.socket.as_deref()) {
        Ok(ps) => ps,
        Err(e) => {
            eprintln!("capbinder: {e}");
            return 2;
        }
    };
    match run_cmd(&ps, args.cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("capbinder: {e}");
            1
        }
    }
}

fn run_cmd(ps: &ProcessState, cmd: Cmd) -> crate::Result<u8> {
    match cmd {
        Cmd::Service {
            cmd: ServiceCmd::List,
        } => {
            for n in ServiceManager::get()?.list_services()? {
                println!("{n}");
            }
            Ok(0)
        }
        Cmd::Service {
            cmd: ServiceCmd::Check { name },
        } => match ServiceManager::get()?.check_service(&name)? {
            Some(b) => {
                let d = b.descriptor().unwrap_or_else(|e| format!("? ({e})"));
                println!("{name}: found ({d})");
                Ok(0)
            }
            None => {
                println!("{name}: not found");
                Ok(1)
            }
        },
        Cmd::State { json } => {
            let s = ps.state()?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&s).expect("state is JSON")
                );
                return Ok(0);
            }
            match s.context_manager {
                Some(pid) => println!("context manager: pid {pid}"),
                None => println!("context manager: none"),
            }
            for p in &s.processes {
                println!(
                    "process pid {} uid {}{}{}: buffer {}/{} bytes ({} ranges), {} queued, {} pending out",
                    p.pid,
                    p.uid,
                    p.label.as_deref().map(|l| format!(" label {l}")).unwrap_or_default(),
                    if p.frozen { " FROZEN" } else { "" },
                    p.buffer.used,
                    p.buffer.size,
                    p.buffer.ranges,
                    p.queued_work,
                    p.pending_out
                );
                for t in &p.threads {
                    let stack: Vec<String> = t.stack.iter().map(|i| i.to_string()).collect();
                    println!(
                        "  thread {} {:?}{} stack [{}]",
                        t.tid,
                        t.looper,
                        if t.idle { " idle" } else { "" },
                        stack.join(", ")
                    );
                }
                for n in &p.nodes {
                    println!(
                        "  node {:#x}: strong {} weak {} holders {:?}{}",
                        n.ptr,
                        n.strong,
                        n.weak,
                        n.holders,
                        if n.oneway_queued > 0 {
                            format!(" oneway queued {}", n.oneway_queued)
                        } else {
                            String::new()
                        }
                    );
                }
                for r in &p.refs {
                    println!(
                        "  ref {:#x} -> {}: strong {} weak {} rights {}{}{}",
                        r.handle,
                        r.owner_pid
                            .map(|p| format!("pid {p}"))
                            .unwrap_or_else(|| "dead".into()),
                        r.strong,
                        r.weak,
                        r.rights,
                        r.death_cookie
                            .map(|c| format!(" death-cookie {c:#x}"))
                            .unwrap_or_default(),
                        r.freeze_cookie
                            .map(|c| format!(" freeze-cookie {c:#x}"))
                            .unwrap_or_default()
                    );
                }
            }
            for t in &s.transactions {
                println!(
                    "call {} code {} {} from pid {} to pid {} ({} bytes){}",
                    t.id,
                    t.code,
                    if t.oneway { "oneway" } else { "sync" },
                    t.from_pid,
                    t.to_pid
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "?".into()),
                    t.size,
                    if t.delivered { "" } else { " queued" }
                );
            }
            for d in &s.direct {
                println!(
                    "direct channel {}: pid {} tid {} handle {:#x} -> pid {} node {:#x}{}",
                    d.grant,
                    d.caller_pid,
                    d.caller_tid,
                    d.handle,
                    d.server_pid,
                    d.node_ptr,
                    if d.draining {
                        " (revoked, draining)"
                    } else if !d.served {
                        " (no server thread yet)"
                    } else {
                        ""
                    }
                );
            }
            for t in &s.topics {
                println!(
                    "topic of pid {}: {} published, {} gap notices{}",
                    t.creator_pid,
                    t.published,
                    t.gaps,
                    if t.publishers_gone {
                        ", no publisher left"
                    } else {
                        ""
                    }
                );
                for sub in &t.subscribers {
                    println!(
                        "  subscriber pid {} callback {:#x}: queue depth {}, {} delivered, {} lost{}",
                        sub.pid,
                        sub.ptr,
                        sub.queue_depth,
                        sub.delivered,
                        sub.lost,
                        if sub.codes.is_empty() {
                            String::new()
                        } else {
                            format!(", codes {:?}", sub.codes)
                        }
                    );
                }
            }
            Ok(0)
        }
        Cmd::Stats { json } => {
            let s = ps.state()?;
            if json {
                let v: Vec<_> = s
                    .processes
                    .iter()
                    .map(|p| serde_json::json!({ "pid": p.pid, "counters": p.counters }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
                return Ok(0);
            }
            for p in &s.processes {
                let c = &p.counters;
                println!(
                    "pid {}: calls sent {} oneway sent {} received {} replies {} failed {} dead {} frozen {} errors {} bytes sent {} spliced {} deaths {} spawn requests {} (failed {})",
                    p.pid, c.calls_sent, c.oneway_sent, c.calls_received, c.replies_sent,
                    c.failed_replies, c.dead_replies, c.frozen_replies, c.errors, c.bytes_sent,
                    c.bytes_spliced, c.deaths_delivered, c.spawn_requests, c.spawn_failures
                );
            }
            Ok(0)
        }
    }
}
