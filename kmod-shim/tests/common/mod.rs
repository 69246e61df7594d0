//! Test harness: a real `capbinderd` on a short temporary socket path, and
//! real helper processes. Every wait is on a line of output, a process exit
//! or a state dump, with a generous timeout; a wait that runs out dumps the
//! mediator's state before failing, and a watchdog ends a test that hangs
//! anywhere else.
//!
//! Every transport test runs once per event loop ([`Loop`]): the
//! [`both_loops!`] macro makes `uring::NAME` and `epoll::NAME` from one
//! body `fn NAME(lp: Loop)`, and the daemon is told which loop to run
//! (`CAPBINDER_LOOP`) and checked to run it.
#![allow(dead_code)]

pub mod peer;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use capbinder_core::{Command as Cmd, Return, StateDump};
use peer::Peer;

/// How long any single wait in these tests may take before it is a failure.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a whole test may take before the watchdog ends the run.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(240);

/// The event loop a test's mediator runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loop {
    Uring,
    Epoll,
}

impl Loop {
    /// The value of `CAPBINDER_LOOP`.
    pub fn env(self) -> &'static str {
        match self {
            Loop::Uring => "io_uring",
            Loop::Epoll => "epoll",
        }
    }

    /// Whether this loop can run here (io_uring may be forbidden).
    pub fn available(self) -> bool {
        static URING: OnceLock<bool> = OnceLock::new();
        match self {
            Loop::Epoll => true,
            Loop::Uring => {
                *URING.get_or_init(|| {
                    match capbinder_kmod_shim::sys::uring::Ring::new(8, 1, 4096) {
                        Ok(_) => true,
                        Err(e) => {
                            eprintln!("io_uring is unavailable here ({e}): its tests are skipped");
                            false
                        }
                    }
                })
            }
        }
    }
}

/// Makes `uring::$name` and `epoll::$name` tests from `fn $name(lp: Loop)`.
#[macro_export]
macro_rules! both_loops {
    ($($name:ident),* $(,)?) => {
        mod uring {
            $(
                #[test]
                fn $name() {
                    $crate::common::run_test(stringify!($name), $crate::common::Loop::Uring, super::$name);
                }
            )*
        }
        mod epoll {
            $(
                #[test]
                fn $name() {
                    $crate::common::run_test(stringify!($name), $crate::common::Loop::Epoll, super::$name);
                }
            )*
        }
    };
}

/// Runs one test body under a watchdog, unless its loop is unavailable.
pub fn run_test(name: &str, lp: Loop, body: fn(Loop)) {
    if !lp.available() {
        eprintln!("skipped {name} on {lp:?}: the loop is unavailable here");
        return;
    }
    let _dog = Watchdog::arm(format!("{name} ({})", lp.env()));
    body(lp);
}

/// The socket of the mediator each test thread talks to, for dumps when a
/// wait fails or the watchdog fires.
static CURRENT: Mutex<Option<HashMap<ThreadId, PathBuf>>> = Mutex::new(None);

fn current_socket(t: ThreadId) -> Option<PathBuf> {
    CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&t).cloned())
}

fn set_current_socket(socket: Option<PathBuf>) {
    let mut m = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
    let map = m.get_or_insert_with(HashMap::new);
    let me = std::thread::current().id();
    match socket {
        Some(s) => map.insert(me, s),
        None => map.remove(&me),
    };
}

/// The mediator's whole state as root sees it, from a fresh connection;
/// `Err` with the reason when it cannot be had within a few seconds.
pub fn dump_state(socket: &Path) -> Result<StateDump, String> {
    let socket = socket.to_path_buf();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = (|| {
            let mut p = Peer::open(&socket).map_err(|e| e.to_string())?;
            match p.command(Cmd::DumpState).map_err(|e| e.to_string())? {
                Return::State(s) => Ok(*s),
                other => Err(format!("DumpState answered {other:?}")),
            }
        })();
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| Err("the mediator did not answer DumpState within 5 s".into()))
}

/// A printable dump of the current test's mediator, for failure messages.
pub fn dump_current() -> String {
    match current_socket(std::thread::current().id()) {
        Some(s) => match dump_state(&s) {
            Ok(d) => format!("mediator state:\n{d:#?}"),
            Err(e) => format!("no mediator state: {e}"),
        },
        None => "no mediator for this thread".into(),
    }
}

/// Panics with `msg` and the mediator's state.
#[track_caller]
pub fn fail(msg: impl std::fmt::Display) -> ! {
    panic!("{msg}\n{}", dump_current())
}

/// Polls `check` until it yields `Some`, failing with a dump after
/// [`TIMEOUT`]. Polling a state dump is how tests wait for the mediator to
/// notice something no message announces (a close); the assertion itself
/// never depends on timing.
#[track_caller]
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            fail(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Ends the whole test run (with a dump) if a test hangs.
pub struct Watchdog {
    done: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    pub fn arm(name: String) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        let test = std::thread::current().id();
        std::thread::spawn(move || {
            let limit = std::env::var("CAPBINDER_TEST_TIMEOUT")
                .ok()
                .and_then(|s| s.parse().ok())
                .map(Duration::from_secs)
                .unwrap_or(TEST_TIMEOUT);
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                // Straight to fd 2: the test harness would swallow eprintln!
                // output of a run that ends here.
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "WATCHDOG: test {name} hung for {limit:?}; ending the run"
                );
                if let Some(s) = current_socket(test) {
                    let _ = writeln!(err, "{:#?}", dump_state(&s));
                }
                kill_all_children();
                std::process::exit(101);
            }
        });
        Watchdog { done: Some(tx) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.done.take() {
            let _ = tx.send(());
        }
    }
}

/// Every helper process alive, so that a run the watchdog ends leaves none.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn kill_all_children() {
    let pids = std::mem::take(&mut *CHILDREN.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

/// A child process whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    pub fn spawn(cmd: Command) -> Proc {
        Proc::spawn_with(cmd, false)
    }

    /// Like [`spawn`](Self::spawn), with a pipe to the child's stdin.
    pub fn spawn_with(mut cmd: Command, stdin: bool) -> Proc {
        if stdin {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        // A freshly copied executable can be "busy" while another test
        // thread's fork still holds the copy's write fd until its exec.
        let mut tries = 0;
        let mut child = loop {
            match cmd.spawn() {
                Ok(c) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("spawn helper process {cmd:?}: {e}"),
            }
        };
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        let out = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines: rx,
            stdin,
        }
    }

    /// Waits for a line containing `want` and returns it; fails with a
    /// dump after [`TIMEOUT`] or when the process closed its stdout.
    #[track_caller]
    pub fn expect_line(&self, want: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(want) => return l,
                Ok(_) => {}
                Err(e) => fail(format!(
                    "waiting for a line with {want:?} from pid {}: {e}",
                    self.pid()
                )),
            }
        }
    }

    /// The next line, whatever it says.
    #[track_caller]
    pub fn next_line(&self) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(l) => l,
            Err(e) => fail(format!("waiting for a line from pid {}: {e}", self.pid())),
        }
    }

    /// Writes a line to the child's stdin.
    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("spawned with a stdin pipe");
        writeln!(stdin, "{line}").expect("write to the child");
        stdin.flush().expect("flush");
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL, then reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st;
            }
            if Instant::now() > deadline {
                fail(format!("pid {} did not exit", self.pid()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let id = self.child.id();
        CHILDREN
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&p| p != id);
    }
}

/// A running `capbinderd` on its own temporary socket.
pub struct Daemon {
    pub proc: Proc,
    pub socket: PathBuf,
    pub lp: Loop,
    dir: tempfile::TempDir,
}

impl Daemon {
    pub fn start(lp: Loop) -> Daemon {
        Daemon::start_with(lp, "")
    }

    pub fn start_with(lp: Loop, config: &str) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("cb")
            .tempdir_in("/tmp")
            .expect("tempdir");
        // A system mediator's directory is 0755: anyone may reach the 0666
        // socket (tests run clients under other uids too).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod 0755");
        let socket = dir.path().join("c.sock");
        let conf = dir.path().join("c.toml");
        std::fs::write(&conf, config).expect("write config");
        let proc = Daemon::spawn(lp, &socket, &conf);
        set_current_socket(Some(socket.clone()));
        Daemon {
            proc,
            socket,
            lp,
            dir,
        }
    }

    fn spawn(lp: Loop, socket: &Path, conf: &Path) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinderd"));
        cmd.arg("--socket").arg(socket).arg("--config").arg(conf);
        cmd.env("CAPBINDER_LOG", "warn");
        cmd.env("CAPBINDER_LOOP", lp.env());
        let proc = Proc::spawn(cmd);
        let line = proc.expect_line("listening on");
        assert!(
            line.ends_with(&format!("({})", lp.env())),
            "asked for the {} loop, got: {line}",
            lp.env()
        );
        proc
    }

    /// Starts another mediator on the same socket path and config (after
    /// this one died).
    pub fn restart(&mut self) {
        let conf = self.dir.path().join("c.toml");
        self.proc = Daemon::spawn(self.lp, &self.socket, &conf);
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The mediator's whole state (root sees every process).
    #[track_caller]
    pub fn state(&self) -> StateDump {
        dump_state(&self.socket).unwrap_or_else(|e| panic!("state dump: {e}"))
    }

    /// The test peer serving handle 0, ready.
    pub fn server(&self) -> Proc {
        spawn_server(&self.socket)
    }

    /// The test peer in `mode` with `args`, not waited for.
    pub fn peer(&self, mode: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"));
        cmd.arg(mode).arg(&self.socket).args(args);
        cmd
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        set_current_socket(None);
    }
}

pub fn spawn_server(socket: &Path) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_capbinder-shim-testpeer"));
    cmd.arg("server").arg(socket);
    let p = Proc::spawn(cmd);
    p.expect_line("ready");
    p
}

/// A small deterministic generator (xorshift), seeded per test and printed
/// so a failing run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(name: &str) -> Rng {
        let seed = std::env::var("CAPBINDER_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        eprintln!("{name}: CAPBINDER_TEST_SEED={seed}");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}
