//! `capbinder-sandbox`: starts apps confined so that they reach only the
//! binder objects they are handed, and lists, freezes, thaws and kills
//! them.
//!
//! ```text
//! capbinder-sandbox run --manifest APP.toml [--socket PATH] [--allow-weaker] -- PROGRAM ARGS...
//! capbinder-sandbox list
//! capbinder-sandbox freeze APP | thaw APP | kill APP
//! ```
//!
//! `run` stays in the foreground as the app's launcher: it prints the app's
//! uid and pid on stderr, waits for it, and exits with its exit code (128 +
//! the signal when it was killed). If the launcher dies, so does the app.
//!
//! Exit codes: the app's for `run`; 0 success, 1 failure, 2 usage or a
//! refused launch otherwise.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use capbinder::sandbox::{Config, Manifest, Sandbox, UidRange, DEFAULT_STATE_DIR};
use capbinder::service_manager::ServiceManager;
use clap::{Parser, Subcommand};

/// Android-like app sandbox for capbinder.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The mediator's socket (default: $CAPBINDER_SOCKET, then the standard places).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Where the uid allocation file and the staging directory live.
    #[arg(long, global = true, default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// The directory holding one cgroup per app (default: capbinder-sandbox under the cgroup2 mount).
    #[arg(long, global = true)]
    cgroup_root: Option<PathBuf>,
    /// The uids apps get, FIRST-LAST.
    #[arg(long, global = true, default_value = "10000-19999")]
    uids: UidRange,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start PROGRAM as the app APP.toml describes, and wait for it.
    Run {
        /// The app's manifest (TOML: name, services, read, write, network).
        #[arg(long)]
        manifest: PathBuf,
        /// Start the app even where the kernel lacks a feature, saying what is not enforced.
        #[arg(long)]
        allow_weaker: bool,
        /// Add NAME=VALUE to the app's environment (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// The program and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<OsString>,
    },
    /// The apps running, their uids, pids, and whether they are frozen.
    List,
    /// Freeze APP: calls into it get a frozen reply until it is thawed.
    Freeze {
        /// The app's name.
        app: String,
    },
    /// Thaw APP.
    Thaw {
        /// The app's name.
        app: String,
    },
    /// Kill every process of APP.
    Kill {
        /// The app's name.
        app: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = Config {
        state_dir: args.state_dir,
        cgroup_root: args.cgroup_root,
        uids: args.uids,
        socket: args.socket,
        ..Config::default()
    };
    match args.cmd {
        Cmd::Run {
            manifest,
            allow_weaker,
            env,
            command,
        } => {
            config.allow_weaker = allow_weaker;
            run(config, &manifest, &env, &command)
        }
        Cmd::List => done(list(&Sandbox::new(config))),
        Cmd::Freeze { app } => done(Sandbox::new(config).freeze(&app).map(|()| {
            println!("{app}: frozen");
        })),
        Cmd::Thaw { app } => done(Sandbox::new(config).thaw(&app).map(|()| {
            println!("{app}: thawed");
        })),
        Cmd::Kill { app } => done(Sandbox::new(config).kill(&app).map(|()| {
            println!("{app}: killed");
        })),
    }
}

fn done(r: Result<(), capbinder::sandbox::SandboxError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capbinder-sandbox: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(
    config: Config,
    manifest: &std::path::Path,
    env: &[String],
    command: &[OsString],
) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("capbinder-sandbox: {e}");
        ExitCode::from(2)
    };
    let manifest = match Manifest::load(manifest) {
        Ok(m) => m,
        Err(e) => return fail(&e),
    };
    let mut pairs = Vec::new();
    for kv in env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => pairs.push((OsString::from(k), OsString::from(v))),
            _ => return fail(&format!("--env {kv:?}: write NAME=VALUE")),
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return fail(&"name the program after --");
    };
    let sandbox = Sandbox::new(config);
    let app = match sandbox.launch(&manifest, std::path::Path::new(program), rest, &pairs) {
        Ok(app) => app,
        Err(e) => return fail(&e),
    };
    for n in &app.not_enforced {
        eprintln!("capbinder-sandbox: --allow-weaker: not enforced: {n}");
    }
    eprintln!(
        "capbinder-sandbox: app {} running as uid {}, pid {}",
        app.name, app.uid, app.pid
    );
    // This launcher lives as long as the app: it registers the app again
    // whenever the service manager restarts (which forgets apps, and then
    // denies them everything).
    let kept = rustix::io::fcntl_dupfd_cloexec(app.pidfd(), 0)
        .map_err(|e| e.to_string())
        .and_then(|fd| {
            ServiceManager::keep_app_registered(app.uid, &app.name, &manifest.services, fd)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = kept {
        eprintln!(
            "capbinder-sandbox: app {} will not be registered again if the service manager restarts: {e}",
            app.name
        );
    }
    match app.wait() {
        Ok(code) => {
            eprintln!("capbinder-sandbox: app {} exited ({code})", app.name);
            ExitCode::from(u8::try_from(code).unwrap_or(255))
        }
        Err(e) => fail(&format!("waiting for the app: {e}")),
    }
}

fn list(sandbox: &Sandbox) -> Result<(), capbinder::sandbox::SandboxError> {
    let apps = sandbox.list()?;
    println!(
        "{:<24} {:>8} {:<8} {:<10} PIDS",
        "APP", "UID", "STATE", "BINDER"
    );
    for a in apps {
        let uid = a.uid.map(|u| u.to_string()).unwrap_or_else(|| "?".into());
        let state = if a.pids.is_empty() {
            "exited"
        } else if a.frozen {
            "frozen"
        } else {
            "running"
        };
        let binder = match &a.connected {
            None => "?".to_string(),
            Some(c) => format!("{}/{}", c.len(), a.pids.len()),
        };
        let pids: Vec<String> = a.pids.iter().map(i32::to_string).collect();
        println!(
            "{:<24} {:>8} {:<8} {:<10} {}",
            a.name,
            uid,
            state,
            binder,
            pids.join(",")
        );
    }
    Ok(())
}
