//! The world the cross-process tests share: one mediator (in this process,
//! on a private socket), a service manager and one test service in helper
//! processes, and this process connected as a client with a thread pool.
//! One per test binary: a process talks to one mediator.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use capbinder::service_manager::ServiceManager;
use capbinder::{interface_cast, ProcessState};
use capbinder_aidl_tests::aidl::capbinder::test::ITestService;
use capbinder_kmod_shim::mediator::{config::Config, Mediator};

/// How long anything may take before a test gives up (generous: CI
/// machines are slow and shared).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A helper process; killed when dropped.
pub struct Helper {
    pub child: Child,
    /// Held so that the helper exits when this process does.
    _stdin: ChildStdin,
    pub pid: u32,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct World {
    pub socket: PathBuf,
    _helpers: Vec<Helper>,
}

static WORLD: OnceLock<World> = OnceLock::new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Starts a helper and waits for its `ready PID` line.
pub fn spawn_helper(socket: &Path, role: &str, name: Option<&str>) -> Helper {
    spawn_helper_with(
        socket,
        role,
        name,
        Command::new(env!("CARGO_BIN_EXE_capbinder-aidl-testd")),
    )
}

fn spawn_helper_with(socket: &Path, role: &str, name: Option<&str>, mut cmd: Command) -> Helper {
    cmd.arg(role).arg(socket);
    if let Some(n) = name {
        cmd.arg(n);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting capbinder-aidl-testd");
    let stdin = child.stdin.take().expect("piped stdin");
    let out = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(TIMEOUT)
        .unwrap_or_else(|_| panic!("helper {role} {name:?} did not say it was ready"));
    let pid = line
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("helper {role} said {line:?}, not `ready PID`"));
    Helper {
        child,
        _stdin: stdin,
        pid,
    }
}

/// The shared world, started on first use.
pub fn world() -> &'static World {
    WORLD.get_or_init(|| {
        // A short path: unix socket paths are limited to 108 bytes. The
        // service manager helper removes it when this process is gone.
        let dir = tempfile::Builder::new()
            .prefix("cbaidl")
            .tempdir_in("/tmp")
            .expect("a temporary directory")
            .keep();
        let socket = dir.join("m.sock");
        let mediator = Mediator::bind(&socket, Config::default()).expect("binding the mediator");
        // The mediator lives as long as the test binary.
        std::thread::spawn(move || mediator.run());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinder-aidl-testd"));
        cmd.env("CAPBINDER_TESTD_CLEANUP", &dir);
        let sm = spawn_helper_with(&socket, "servicemanager", None, cmd);
        let ps = ProcessState::init(Some(&socket)).expect("connecting to the mediator");
        ps.set_max_threads(8).expect("set_max_threads");
        ps.start_thread_pool();
        let service = spawn_helper(&socket, "service", Some("main"));
        World {
            socket,
            _helpers: vec![sm, service],
        }
    })
}

/// A service name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The shared test service, through a generated proxy.
pub fn service() -> Arc<dyn ITestService> {
    world();
    lookup("main")
}

/// A registered object as the interface `T`.
pub fn lookup<T: capbinder::Interface + ?Sized>(name: &str) -> Arc<T> {
    let binder = ServiceManager::get()
        .and_then(|sm| sm.get_service(name))
        .unwrap_or_else(|e| panic!("looking up {name}: {e}"));
    interface_cast::<T>(binder).unwrap_or_else(|e| panic!("casting {name}: {e}"))
}
