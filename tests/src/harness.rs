//! The test side: a mediator per test (in this process, on its own short
//! socket path), helper processes started with `std::process::Command`,
//! their stdout read line by line, and the mediator's state read through
//! the helper's `state` role (as root, so it sees every process).
//!
//! Nothing here sleeps to let something happen: tests wait for lines a
//! helper prints once a step is done, or poll the mediator's state for a
//! condition, and every wait has a deadline whose failure message carries
//! the mediator's state, the helper's stderr and the lines it printed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use capbinder_core::state::{ProcState, StateDump};
use capbinder_kmod_shim::mediator::event_loop::LoopChoice;
use capbinder_kmod_shim::mediator::{config::Config, Mediator, MediatorError, ShutdownHandle};

/// How long any single step may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The unprivileged uid (and gid) clients run as where privilege matters.
pub const NOBODY: u32 = 65534;

/// A [`Context`] whose helper is this package's `capbinder-test-app`.
#[macro_export]
macro_rules! context {
    () => {
        $crate::harness::Context::start(::std::path::Path::new(env!(
            "CARGO_BIN_EXE_capbinder-test-app"
        )))
    };
}

/// Like [`context!`], with the mediator running as a helper process (so a
/// test can kill it); also yields that process.
#[macro_export]
macro_rules! external_context {
    () => {
        $crate::harness::Context::start_external(::std::path::Path::new(env!(
            "CARGO_BIN_EXE_capbinder-test-app"
        )))
    };
}

struct InProcess {
    stop: ShutdownHandle,
    thread: JoinHandle<Result<(), MediatorError>>,
}

/// One test's world: a private socket directory, a mediator, and the path
/// of the helper binary that plays every other role.
pub struct Context {
    // Kept for its Drop: the directory goes with the test.
    _dir: tempfile::TempDir,
    socket: PathBuf,
    exe: PathBuf,
    mediator: Option<InProcess>,
}

fn socket_dir() -> (tempfile::TempDir, PathBuf) {
    // Short: sun_path holds 108 bytes. Traversable: clients run as nobody.
    let dir = tempfile::Builder::new()
        .prefix("cbt")
        .tempdir_in("/tmp")
        .expect("creating a socket directory in /tmp");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod 0755 on the socket directory");
    let socket = dir.path().join("s");
    (dir, socket)
}

impl Context {
    /// A mediator in this process on a fresh socket path, with the event
    /// loop `CAPBINDER_LOOP` names (see [`mediator_config`]).
    pub fn start(exe: &Path) -> Context {
        Context::start_with(exe, mediator_config())
    }

    /// A mediator in this process with `config`.
    pub fn start_with(exe: &Path, config: Config) -> Context {
        let (dir, socket) = socket_dir();
        let m = Mediator::bind(&socket, config).expect("binding the mediator");
        let stop = m.shutdown_handle().expect("shutdown handle");
        let thread = std::thread::Builder::new()
            .name("mediator".into())
            .spawn(move || m.run())
            .expect("spawning the mediator thread");
        Context {
            _dir: dir,
            socket,
            exe: exe.to_path_buf(),
            mediator: Some(InProcess { stop, thread }),
        }
    }

    /// A mediator as a helper process (role `mediator`), ready to serve.
    pub fn start_external(exe: &Path) -> (Context, App) {
        let (dir, socket) = socket_dir();
        let ctx = Context {
            _dir: dir,
            socket,
            exe: exe.to_path_buf(),
            mediator: None,
        };
        let mut m = ctx.spawn("mediator", &[], None);
        m.expect("ready");
        (ctx, m)
    }

    /// The context's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops the in-process mediator: every connection closes.
    pub fn stop_mediator(&mut self) {
        if let Some(m) = self.mediator.take() {
            m.stop.trigger();
            let _ = m.thread.join();
        }
    }

    /// Starts the helper in `role` with `--socket` and `args`, as `uid`
    /// (and the same gid) if given.
    pub fn spawn(&self, role: &str, args: &[&str], uid: Option<u32>) -> App {
        App::spawn(&self.exe, &self.socket, role, args, uid)
    }

    /// A service manager with the default policy, ready.
    pub fn servicemanager(&self) -> App {
        let mut sm = self.spawn("servicemanager", &[], None);
        sm.expect("ready");
        sm
    }

    /// A service manager with this TOML policy, ready.
    pub fn servicemanager_with_policy(&self, policy: &str) -> App {
        let path = self._dir.path().join("policy.toml");
        std::fs::write(&path, policy).expect("writing the policy file");
        let p = path.to_str().expect("a UTF-8 path");
        let mut sm = self.spawn("servicemanager", &["--policy", p], None);
        sm.expect("ready");
        sm
    }

    /// A test service registered under each of `names` (as root), ready.
    pub fn service(&self, names: &[&str]) -> App {
        let mut args = Vec::new();
        for n in names {
            args.push("--name");
            args.push(n);
        }
        let mut s = self.spawn("service", &args, None);
        s.expect("ready");
        s
    }

    /// A scriptable client (role `client`), as `uid` if given, ready.
    pub fn client(&self, uid: Option<u32>) -> App {
        let mut c = self.spawn("client", &[], uid);
        c.expect("ready");
        c
    }

    /// The mediator's state as root sees it (every process).
    pub fn state(&self) -> StateDump {
        match dump_state(&self.exe, &self.socket) {
            Ok(s) => s,
            Err(e) => panic!("reading the mediator's state failed: {e}"),
        }
    }

    /// Reads the state until `pred` holds; fails after [`TIMEOUT`] showing
    /// the last state and `what` was awaited.
    pub fn wait_state(&self, what: &str, pred: impl Fn(&StateDump) -> bool) -> StateDump {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let s = self.state();
            if pred(&s) {
                return s;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {TIMEOUT:?} waiting until {what}; capbinder state:\n{}",
                    pretty(&s)
                );
            }
            // A poll interval, not a wait for something to happen: the
            // condition is re-read from the mediator each time.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.stop_mediator();
    }
}

/// The mediator configuration tests run with: the defaults, with the event
/// loop `CAPBINDER_LOOP` names (`auto`, `io_uring`, `epoll`), as capbinderd
/// reads it, so that the suite runs against either loop.
pub fn mediator_config() -> Config {
    let mut config = Config::default();
    if let Some(v) = std::env::var_os("CAPBINDER_LOOP").filter(|v| !v.is_empty()) {
        let v = v.to_string_lossy();
        config.event_loop = LoopChoice::parse(&v)
            .unwrap_or_else(|| panic!("CAPBINDER_LOOP={v:?}: expected auto, io_uring or epoll"));
    }
    config
}

/// The state as pretty JSON, for failure messages.
pub fn pretty(s: &StateDump) -> String {
    serde_json::to_string_pretty(s).unwrap_or_else(|e| format!("(unprintable: {e})"))
}

/// The process with this pid in a dump.
pub fn process(s: &StateDump, pid: i32) -> Option<&ProcState> {
    s.processes.iter().find(|p| p.pid == pid)
}

/// Runs the helper's `state` role against `socket` and parses its JSON.
pub fn dump_state(exe: &Path, socket: &Path) -> Result<StateDump, String> {
    let mut app = App::spawn(exe, socket, "state", &[], None);
    let status = app.collect_until_exit()?;
    let out: Vec<String> = app.backlog.drain(..).collect();
    if !status.success() {
        return Err(format!(
            "the state helper exited with {status}; stderr:\n{}",
            app.stderr()
        ));
    }
    serde_json::from_str(&out.join("\n")).map_err(|e| format!("its output does not parse: {e}"))
}

/// One helper process: its stdin, its stdout as lines, its stderr kept
/// for failure messages. Killed when dropped.
pub struct App {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    backlog: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<JoinHandle<()>>,
    exe: PathBuf,
    socket: PathBuf,
}

impl App {
    fn spawn(exe: &Path, socket: &Path, role: &str, args: &[&str], uid: Option<u32>) -> App {
        let mut cmd = Command::new(exe);
        cmd.arg(role)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .env_remove("CAPBINDER_SOCKET")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = uid {
            cmd.uid(u).gid(u);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} {role}: {e}", exe.display()));
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().expect("piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let keep = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        App {
            role: role.to_string(),
            stdin: child.stdin.take(),
            child,
            lines: rx,
            backlog: VecDeque::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            exe: exe.to_path_buf(),
            socket: socket.to_path_buf(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pids fit i32")
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fails the test, showing what this helper printed and the mediator's
    /// state.
    pub fn fail(&mut self, why: &str) -> ! {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!("exited: {s}"),
            Ok(None) => "still running".into(),
            Err(e) => format!("unknown: {e}"),
        };
        while let Ok(l) = self.lines.try_recv() {
            self.backlog.push_back(l);
        }
        let state = match dump_state(&self.exe, &self.socket) {
            Ok(s) => pretty(&s),
            Err(e) => format!("(no state: {e})"),
        };
        panic!(
            "{} (pid {}, {status}): {why}\n--- lines not consumed:\n{}\n--- stderr:\n{}\n--- capbinder state:\n{state}",
            self.role,
            self.child.id(),
            self.backlog.iter().cloned().collect::<Vec<_>>().join("\n"),
            self.stderr(),
        );
    }

    /// Waits for a line starting with `prefix` (earlier lines that did not
    /// match stay for later calls) and returns the rest of it, trimmed.
    pub fn expect(&mut self, prefix: &str) -> String {
        if let Some(i) = self.backlog.iter().position(|l| l.starts_with(prefix)) {
            let l = self.backlog.remove(i).expect("found");
            return l[prefix.len()..].trim().to_string();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l[prefix.len()..].trim().to_string(),
                Ok(l) => self.backlog.push_back(l),
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no line starting {prefix:?} within {TIMEOUT:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("stdout closed before a line starting {prefix:?}"))
                }
            }
        }
    }

    /// Writes one line on its stdin.
    pub fn send(&mut self, line: &str) {
        let ok = match self.stdin.as_mut() {
            Some(s) => writeln!(s, "{line}").and_then(|()| s.flush()).is_ok(),
            None => false,
        };
        if !ok {
            self.fail(&format!("could not write {line:?} to its stdin"));
        }
    }

    /// Sends a client command and returns its answer: `Ok(rest)` for an
    /// `ok` line, `Err(rest)` for an `err` line.
    pub fn call(&mut self, cmd: &str) -> Result<String, String> {
        self.send(cmd);
        self.answer(cmd)
    }

    /// The answer to a client command sent earlier with [`send`](Self::send)
    /// (for commands that block until something else happens).
    pub fn answer(&mut self, cmd: &str) -> Result<String, String> {
        let is_answer = |l: &str| l == "ok" || l.starts_with("ok ") || l.starts_with("err ");
        let line = match self.backlog.iter().position(|l| is_answer(l)) {
            Some(i) => self.backlog.remove(i).expect("found"),
            None => {
                let deadline = Instant::now() + TIMEOUT;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match self.lines.recv_timeout(left) {
                        Ok(l) if is_answer(&l) => break l,
                        Ok(l) => self.backlog.push_back(l),
                        Err(RecvTimeoutError::Timeout) => {
                            self.fail(&format!("no answer to {cmd:?} within {TIMEOUT:?}"))
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            self.fail(&format!("stdout closed before the answer to {cmd:?}"))
                        }
                    }
                }
            }
        };
        match line.strip_prefix("err ") {
            Some(e) => Err(e.to_string()),
            None => Ok(line.strip_prefix("ok").unwrap_or("").trim().to_string()),
        }
    }

    /// Like [`call`](Self::call), failing the test on an `err` answer.
    pub fn ok(&mut self, cmd: &str) -> String {
        match self.call(cmd) {
            Ok(s) => s,
            Err(e) => self.fail(&format!("{cmd:?} failed: {e}")),
        }
    }

    /// Like [`call`](Self::call), failing the test on an `ok` answer.
    pub fn err(&mut self, cmd: &str) -> String {
        match self.call(cmd) {
            Err(e) => e,
            Ok(s) => self.fail(&format!("{cmd:?} succeeded ({s:?}) but should have failed")),
        }
    }

    /// Closes its stdin and waits (up to [`TIMEOUT`]) for it to exit,
    /// keeping the lines it printed.
    pub fn wait_exit(&mut self) -> ExitStatus {
        match self.collect_until_exit() {
            Ok(s) => s,
            Err(e) => self.fail(&e),
        }
    }

    fn collect_until_exit(&mut self) -> Result<ExitStatus, String> {
        self.stdin.take();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.backlog.push_back(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    return Err(format!("{} did not exit within {TIMEOUT:?}", self.role));
                }
            }
        }
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for {}: {e}", self.role))?;
        // All of stderr is in once the reader sees its end.
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        Ok(status)
    }

    /// The lines it printed that no `expect` or `call` consumed.
    pub fn take_lines(&mut self) -> Vec<String> {
        self.backlog.drain(..).collect()
    }

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
