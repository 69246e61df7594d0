//! The app sandbox, end to end, as root: a real mediator (in this process),
//! a real service manager (`capbinder-servicemanager`), services served by
//! this process, and apps started by the real `capbinder-sandbox` binary.
//!
//! Each app is this test binary again, run as `app_main` with
//! `CAPBINDER_SANDBOX_TEST_APP` naming what it tries; it prints one line per
//! attempt (`APP ok ...` or `APP FAIL ...`), `APP ready ...` when the test
//! should act, and `APP done` at the end. Tests wait for those lines, never
//! for time. Without root (or without the kernel features the sandbox
//! needs) every test prints why it skips.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use capbinder::sandbox::{
    Config as SandboxConfig, Features, Manifest, Sandbox, UidRange, UidTable,
};
use capbinder::service_manager::ServiceManager;
use capbinder::{
    new_binder, Binder, DeathRecipient, Parcel, ProcessState, SpIBinder, Status, StatusCode,
    WeakBinder, FIRST_CALL_TRANSACTION,
};
use capbinder_kmod_shim::mediator::{config::Config as MediatorConfig, Mediator};

const APP_ENV: &str = "CAPBINDER_SANDBOX_TEST_APP";
const TIMEOUT: Duration = Duration::from_secs(60);

const ECHO: u32 = FIRST_CALL_TRANSACTION;
const CALL_ME_BACK: u32 = FIRST_CALL_TRANSACTION + 1;
const HOLD: u32 = FIRST_CALL_TRANSACTION + 2;
const WHOAMI: u32 = FIRST_CALL_TRANSACTION + 3;

// ---- the services this process serves --------------------------------------

/// `sb.echo` and friends: echo, call a callback back, hold an object.
struct TestService;

/// Objects apps handed to `hold`, by tag.
static HELD: OnceLock<(Mutex<HashMap<String, SpIBinder>>, Condvar)> = OnceLock::new();

fn held() -> &'static (Mutex<HashMap<String, SpIBinder>>, Condvar) {
    HELD.get_or_init(Default::default)
}

fn wait_held(tag: &str) -> SpIBinder {
    let (m, cv) = held();
    let deadline = Instant::now() + TIMEOUT;
    let mut g = m.lock().unwrap();
    loop {
        if let Some(b) = g.get(tag) {
            return b.clone();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no object held under {tag:?}");
        g = cv.wait_timeout(g, left).unwrap().0;
    }
}

impl Binder for TestService {
    fn descriptor(&self) -> &str {
        "test.ISandboxed"
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        match code {
            ECHO => {
                let s: String = data.read()?;
                reply.write(&s)
            }
            CALL_ME_BACK => {
                let cb = data.read_binder()?;
                let s: String = data.read()?;
                reply.write(&echo(&cb, &s.to_uppercase())?)
            }
            HOLD => {
                let tag: String = data.read()?;
                let b = data.read_binder()?;
                let (m, cv) = held();
                m.lock().unwrap().insert(tag, b);
                cv.notify_all();
                Ok(())
            }
            WHOAMI => {
                let c = capbinder::calling_identity().expect("a call is being served");
                reply.write(&(c.pid, c.uid, c.euid, c.label.unwrap_or_default()))
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "no such code",
            )),
        }
    }
}

/// An app's local object: answers echo with a prefix.
struct Prefixer(String);

impl Binder for Prefixer {
    fn descriptor(&self) -> &str {
        "test.ISandboxed"
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        if code != ECHO {
            return Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "echo only",
            ));
        }
        let s: String = data.read()?;
        reply.write(&format!("{}{s}", self.0))
    }
}

fn echo(b: &SpIBinder, s: &str) -> capbinder::Result<String> {
    let mut p = Parcel::new();
    p.write(s)?;
    b.transact(ECHO, p, false)?.read()
}

// ---- the world: mediator, service manager, services ------------------------

struct World {
    exe: PathBuf,
    dir: PathBuf,
    socket: PathBuf,
    state: PathBuf,
    cgroup_root: PathBuf,
    uids: String,
    sm_pid: i32,
}

static WORLD: OnceLock<Option<World>> = OnceLock::new();

/// The shared world, or `None` (with the reason printed) where these tests
/// cannot run.
fn world(test: &str) -> Option<&'static World> {
    let w = WORLD.get_or_init(|| {
        let f = Features::probe();
        if !f.root {
            eprintln!(
                "sandbox tests skip: not root (the sandbox makes namespaces, mounts and uids)"
            );
            return None;
        }
        let gaps = f.gaps();
        if !gaps.is_empty() || !f.missing_namespaces.is_empty() {
            eprintln!(
                "sandbox tests skip: this kernel lacks {:?} {:?}",
                f.missing_namespaces,
                gaps.iter().map(ToString::to_string).collect::<Vec<_>>()
            );
            return None;
        }
        Some(start_world(f.cgroup2.expect("checked by gaps()")))
    });
    if w.is_none() {
        eprintln!("skipped {test}");
    }
    w.as_ref()
}

fn start_world(cgroup2: PathBuf) -> World {
    // One directory per test process, short enough for a socket path; those
    // of earlier runs whose process is gone are removed.
    if let Ok(rd) = std::fs::read_dir("/tmp") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("cbsb-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    // Likewise the app cgroups of earlier runs.
    if let Ok(rd) = std::fs::read_dir(&cgroup2) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("capbinder-test-") {
                if !Path::new("/proc").join(pid).exists() {
                    for app in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                        let _ = std::fs::remove_dir(app.path());
                    }
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }
    let dir = PathBuf::from(format!("/tmp/cbsb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The apps run this binary as their own uids: use a copy they may
    // execute if a strict umask made it (or a directory above it) private.
    let mut exe = std::env::current_exe().unwrap();
    let open_to_all = |p: &Path, bits: u32| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & bits == bits)
            .unwrap_or(false)
    };
    if !open_to_all(&exe, 0o005) || !exe.ancestors().skip(1).all(|d| open_to_all(d, 0o001)) {
        let copy = dir.join("app-exe");
        std::fs::copy(&exe, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe = copy;
    }
    let socket = dir.join("m.sock");
    let m = Mediator::bind(&socket, MediatorConfig::default()).unwrap();
    std::thread::spawn(move || m.run());

    let mut sm = Command::new(env!("CARGO_BIN_EXE_capbinder-servicemanager"))
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(sm.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("ready"), "service manager said {line:?}");
    let sm_pid = i32::try_from(sm.id()).unwrap();
    // It exits when the mediator (this process) is gone.
    std::mem::forget(sm);

    let ps = ProcessState::init(Some(&socket)).unwrap();
    ps.start_thread_pool();
    let sm = ServiceManager::get().unwrap();
    for name in ["sb.echo", "sb.secret", "sb.player", "sb.contacts"] {
        sm.add_service(name, &new_binder(TestService)).unwrap();
    }
    let pid = std::process::id();
    let first = 200_000 + (pid % 10_000) * 100;
    World {
        exe,
        state: dir.join("state"),
        dir,
        socket,
        cgroup_root: cgroup2.join(format!("capbinder-test-{pid}")),
        uids: format!("{first}-{}", first + 99),
        sm_pid,
    }
}

impl World {
    fn cli(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_capbinder-sandbox"));
        c.arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--cgroup-root")
            .arg(&self.cgroup_root)
            .arg("--uids")
            .arg(&self.uids);
        c
    }

    /// Runs `capbinder-sandbox ARGS` to completion: (success, stdout+stderr).
    fn cli_run(&self, args: &[&str]) -> (bool, String) {
        let out = self.cli().args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn uid_of(&self, app: &str) -> u32 {
        let range: UidRange = self.uids.parse().unwrap();
        UidTable::new(&self.state, range).uid_for(app).unwrap()
    }

    fn manifest(&self, name: &str, body: &str) -> PathBuf {
        let p = self.dir.join(format!("{name}.toml"));
        std::fs::write(&p, format!("name = \"{name}\"\n{body}")).unwrap();
        p
    }

    /// Starts this binary as app `name` doing `scenario`, with `vars`.
    fn app(
        &self,
        name: &str,
        manifest_body: &str,
        scenario: &str,
        vars: &[(&str, String)],
    ) -> Running {
        std::fs::create_dir_all(&self.state).unwrap();
        let manifest = self.manifest(name, manifest_body);
        let mut c = self.cli();
        c.arg("run")
            .arg("--manifest")
            .arg(&manifest)
            .arg("--env")
            .arg(format!("{APP_ENV}={scenario}"));
        for (k, v) in vars {
            c.arg("--env").arg(format!("{k}={v}"));
        }
        c.arg("--")
            .arg(&self.exe)
            .args(["app_main", "--exact", "--nocapture", "--test-threads=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running {
            name: name.to_string(),
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    fn cleanup(&self) {
        // Removed when the last test's apps are gone; harmless before.
        let _ = std::fs::remove_dir(&self.cgroup_root);
    }
}

/// A `capbinder-sandbox run` in progress.
struct Running {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn report(&self) -> String {
        format!(
            "app {}:\n--- stdout\n{}\n--- stderr\n{}",
            self.name,
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Waits for a line starting with `prefix`; a FAIL line first is fatal.
    fn expect(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    assert!(!l.starts_with("APP FAIL"), "{}", self.report());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(_) => panic!("no {prefix:?} line\n{}", self.report()),
            }
        }
    }

    /// Reads to the end, then checks the app printed `APP done`, no FAIL,
    /// and exited 0.
    fn finish_ok(mut self) -> Vec<String> {
        self.expect("APP done");
        let status = self.child.wait().unwrap();
        while let Ok(l) = self.lines.recv_timeout(TIMEOUT) {
            self.seen.push(l);
        }
        assert!(
            !self.seen.iter().any(|l| l.starts_with("APP FAIL")),
            "{}",
            self.report()
        );
        assert!(status.success(), "exit {status}\n{}", self.report());
        eprintln!("{}", self.report());
        self.seen.clone()
    }

    /// Waits for the launcher to end; its exit status code.
    fn wait_exit(&mut self) -> Option<i32> {
        let st = self.child.wait().unwrap();
        st.code()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The app dies with its launcher (PR_SET_PDEATHSIG).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oks(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.starts_with("APP ok")).count()
}

// ---- what must fail ----------------------------------------------------------

#[test]
fn app_cannot_read_or_write_outside_its_directories() {
    let Some(w) = world("app_cannot_read_or_write_outside_its_directories") else {
        return;
    };
    let read = w.dir.join("fs-read");
    let write = w.dir.join("fs-write");
    let secret_dir = w.dir.join("fs-secret");
    for d in [&read, &write, &secret_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(read.join("hello.txt"), "hello").unwrap();
    std::fs::write(secret_dir.join("secret.txt"), "secret").unwrap();
    for f in [read.join("hello.txt"), secret_dir.join("secret.txt")] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let uid = w.uid_of("t-fs");
    // The app's uid owns its write directory; the others are root's but
    // world-readable, so only the sandbox keeps the app out.
    rustix::fs::chown(&write, Some(rustix::fs::Uid::from_raw(uid)), None).unwrap();
    for d in [&w.dir, &read, &secret_dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let app = w.app(
        "t-fs",
        &format!("read = [{:?}]\nwrite = [{:?}]\n", read, write),
        "fs",
        &[
            ("CB_T_READ", read.display().to_string()),
            ("CB_T_WRITE", write.display().to_string()),
            (
                "CB_T_SECRET",
                secret_dir.join("secret.txt").display().to_string(),
            ),
        ],
    );
    let lines = app.finish_ok();
    assert!(oks(&lines) >= 10, "{lines:?}");
    assert_eq!(
        std::fs::read_to_string(write.join("out.txt")).unwrap(),
        "written"
    );
    assert!(!read.join("new.txt").exists());
    w.cleanup();
}

#[test]
fn app_cannot_open_a_network_socket() {
    let Some(w) = world("app_cannot_open_a_network_socket") else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = w.app(
        "t-net",
        "services = []\n",
        "net",
        &[("CB_T_PORT", port.to_string())],
    );
    let lines = app.finish_ok();
    assert!(oks(&lines) >= 6, "{lines:?}");
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the app reached the host's loopback"
    );
    w.cleanup();
}

#[test]
fn app_cannot_see_or_connect_to_the_mediator_socket() {
    let Some(w) = world("app_cannot_see_or_connect_to_the_mediator_socket") else {
        return;
    };
    let app = w.app(
        "t-mediator",
        "services = [\"sb.echo\"]\n",
        "mediator",
        &[("CB_T_SOCKET", w.socket.display().to_string())],
    );
    let lines = app.finish_ok();
    assert!(oks(&lines) >= 7, "{lines:?}");
    w.cleanup();
}

#[test]
fn app_cannot_ptrace_or_signal_another_process() {
    let Some(w) = world("app_cannot_ptrace_or_signal_another_process") else {
        return;
    };
    // A process of the app's own uid, outside the sandbox: only the
    // sandbox (Landlock's signal scope, seccomp) keeps the app off it.
    let uid = w.uid_of("t-ptrace");
    let mut twin = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .uid(uid)
        .gid(uid)
        .spawn()
        .unwrap();
    let pids = [std::process::id() as i32, w.sm_pid, twin.id() as i32, 1];
    let app = w.app(
        "t-ptrace",
        "",
        "ptrace",
        &[(
            "CB_T_PIDS",
            pids.iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )],
    );
    let lines = app.finish_ok();
    assert!(oks(&lines) >= 8, "{lines:?}");
    drop(twin.stdin.take());
    twin.wait().unwrap();
    w.cleanup();
}

#[test]
fn app_sees_only_its_own_processes_in_proc() {
    let Some(w) = world("app_sees_only_its_own_processes_in_proc") else {
        return;
    };
    let uid = w.uid_of("t-proc");
    let mut twin = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .uid(uid)
        .gid(uid)
        .spawn()
        .unwrap();
    let others = [std::process::id() as i32, w.sm_pid, twin.id() as i32, 1];
    let app = w.app(
        "t-proc",
        "",
        "proc",
        &[(
            "CB_T_PIDS",
            others
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        )],
    );
    let lines = app.finish_ok();
    assert!(oks(&lines) >= 6, "{lines:?}");
    drop(twin.stdin.take());
    twin.wait().unwrap();
    w.cleanup();
}

#[test]
fn app_cannot_set_up_io_uring() {
    let Some(w) = world("app_cannot_set_up_io_uring") else {
        return;
    };
    let lines = w.app("t-uring", "", "uring", &[]).finish_ok();
    assert_eq!(oks(&lines), 1, "{lines:?}");
    w.cleanup();
}

#[test]
fn app_cannot_make_namespaces_but_threads_still_start() {
    let Some(w) = world("app_cannot_make_namespaces_but_threads_still_start") else {
        return;
    };
    let lines = w.app("t-userns", "", "userns", &[]).finish_ok();
    assert!(oks(&lines) >= 7, "{lines:?}");
    w.cleanup();
}

#[test]
fn app_finds_only_the_services_its_manifest_lists() {
    let Some(w) = world("app_finds_only_the_services_its_manifest_lists") else {
        return;
    };
    let lines = w
        .app("t-find", "services = [\"sb.echo\"]\n", "find", &[])
        .finish_ok();
    assert!(oks(&lines) >= 6, "{lines:?}");
    w.cleanup();
}

#[test]
fn app_cannot_use_a_handle_it_was_never_given() {
    let Some(w) = world("app_cannot_use_a_handle_it_was_never_given") else {
        return;
    };
    // Every handle number any process holds (the service manager's for
    // each service, among others): numbers that mean something elsewhere.
    let state = ProcessState::get().unwrap().state().unwrap();
    let mut numbers: Vec<String> = state
        .processes
        .iter()
        .flat_map(|p| {
            p.refs
                .iter()
                .filter(|r| r.handle != 0)
                .map(|r| r.handle.to_string())
        })
        .collect();
    numbers.dedup();
    assert!(numbers.len() >= 4, "{numbers:?}");
    let lines = w
        .app(
            "t-handles",
            "",
            "handles",
            &[("CB_T_HANDLES", numbers.join(","))],
        )
        .finish_ok();
    assert!(oks(&lines) >= 20, "{lines:?}");
    w.cleanup();
}

#[test]
fn app_cannot_reach_another_apps_objects() {
    let Some(w) = world("app_cannot_reach_another_apps_objects") else {
        return;
    };
    // The owner hands an object to sb.echo and keeps serving it.
    let mut owner = w.app(
        "t-owner",
        "services = [\"sb.echo\", \"sb.player\"]\n",
        "hold",
        &[("CB_T_TAG", "owner".into())],
    );
    let ready = owner.expect("APP ready");
    let owner_echo_handle = ready.rsplit(' ').next().unwrap().to_string();
    let obj = wait_held("owner");
    assert_eq!(echo(&obj, "x").unwrap(), "owner:x");
    let obj_handle = obj.handle().unwrap().0.to_string();
    // The intruder tries the owner's handle numbers, the number this
    // process holds for the owner's object, and the owner's service.
    let lines = w
        .app(
            "t-forger",
            "services = [\"sb.contacts\"]\n",
            "forger",
            &[("CB_T_HANDLES", format!("{owner_echo_handle},{obj_handle}"))],
        )
        .finish_ok();
    assert!(oks(&lines) >= 2, "{lines:?}");
    let lines = w
        .app(
            "t-intruder",
            "services = [\"sb.contacts\"]\n",
            "intruder",
            &[],
        )
        .finish_ok();
    assert!(oks(&lines) >= 2, "{lines:?}");
    // The owner's object is untouched.
    assert_eq!(echo(&obj, "y").unwrap(), "owner:y");
    let (ok, out) = w.cli_run(&["kill", "t-owner"]);
    assert!(ok, "{out}");
    owner.wait_exit();
    w.cleanup();
}

// ---- what must work -----------------------------------------------------------

#[test]
fn app_receives_a_callback_object_and_calls_it() {
    let Some(w) = world("app_receives_a_callback_object_and_calls_it") else {
        return;
    };
    let lines = w
        .app("t-callback", "services = [\"sb.echo\"]\n", "callback", &[])
        .finish_ok();
    assert!(oks(&lines) >= 2, "{lines:?}");
    w.cleanup();
}

struct Died(mpsc::Sender<()>);

impl DeathRecipient for Died {
    fn binder_died(&self, _who: &WeakBinder) {
        let _ = self.0.send(());
    }
}

#[test]
fn killing_an_app_sends_death_notifications() {
    let Some(w) = world("killing_an_app_sends_death_notifications") else {
        return;
    };
    let mut app = w.app(
        "t-death",
        "services = [\"sb.echo\"]\n",
        "hold",
        &[("CB_T_TAG", "death".into())],
    );
    app.expect("APP ready");
    let obj = wait_held("death");
    assert_eq!(echo(&obj, "a").unwrap(), "death:a");
    let (tx, rx) = mpsc::channel();
    obj.link_to_death(Arc::new(Died(tx))).unwrap();
    let (ok, out) = w.cli_run(&["list"]);
    assert!(
        ok && out.contains("t-death") && out.contains("running"),
        "{out}"
    );
    let (ok, out) = w.cli_run(&["kill", "t-death"]);
    assert!(ok, "{out}");
    rx.recv_timeout(TIMEOUT).expect("a death notification");
    assert_eq!(app.wait_exit(), Some(137));
    assert!(echo(&obj, "b").unwrap_err().is_dead());
    w.cleanup();
}

#[test]
fn a_frozen_app_gets_frozen_replies_until_thawed() {
    let Some(w) = world("a_frozen_app_gets_frozen_replies_until_thawed") else {
        return;
    };
    let mut app = w.app(
        "t-freeze",
        "services = [\"sb.echo\"]\n",
        "hold",
        &[("CB_T_TAG", "freeze".into())],
    );
    app.expect("APP ready");
    let obj = wait_held("freeze");
    assert_eq!(echo(&obj, "1").unwrap(), "freeze:1");
    let (ok, out) = w.cli_run(&["freeze", "t-freeze"]);
    assert!(ok, "{out}");
    let (ok, out) = w.cli_run(&["list"]);
    assert!(
        ok && out
            .lines()
            .any(|l| l.starts_with("t-freeze") && l.contains("frozen")),
        "{out}"
    );
    let e = echo(&obj, "2").unwrap_err();
    assert_eq!(e.code, StatusCode::Frozen, "{e}");
    let (ok, out) = w.cli_run(&["thaw", "t-freeze"]);
    assert!(ok, "{out}");
    assert_eq!(echo(&obj, "3").unwrap(), "freeze:3");
    let (ok, out) = w.cli_run(&["kill", "t-freeze"]);
    assert!(ok, "{out}");
    app.wait_exit();
    w.cleanup();
}

#[test]
fn manifest_limits_are_applied_or_refused_naming_the_controller() {
    let Some(w) = world("manifest_limits_are_applied_or_refused_naming_the_controller") else {
        return;
    };
    let mount = Features::probe().cgroup2.expect("the world has cgroup2");
    let offered = capbinder_kmod_shim::sys::cgroup::available_controllers(&mount).unwrap();
    let body = "services = [\"sb.echo\"]\n[limits]\nmemory_max = 268435456\npids_max = 64\ncpu_weight = 50\n";
    let missing: Vec<(&str, &str)> = [
        ("memory", "memory.max"),
        ("pids", "pids.max"),
        ("cpu", "cpu.weight"),
    ]
    .into_iter()
    .filter(|(c, _)| !offered.iter().any(|o| o == c))
    .collect();
    eprintln!("cgroup2 offers {offered:?}; missing for the manifest: {missing:?}");
    if missing.is_empty() {
        let mut app = w.app("t-limits", body, "hold", &[("CB_T_TAG", "limits".into())]);
        app.expect("APP ready");
        let dir = w.cgroup_root.join("t-limits");
        for (file, want) in [
            ("memory.max", "268435456"),
            ("pids.max", "64"),
            ("cpu.weight", "50"),
        ] {
            let got = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(got.trim(), want, "{file}");
        }
        let (ok, out) = w.cli_run(&["kill", "t-limits"]);
        assert!(ok, "{out}");
        app.wait_exit();
    } else {
        // Refused, naming each controller and limit it cannot apply.
        let m = w.manifest("t-limits", body);
        let m = m.to_str().unwrap();
        let (ok, out) = w.cli_run(&["run", "--manifest", m, "--", "/usr/bin/true"]);
        assert!(!ok, "{out}");
        for (c, f) in &missing {
            assert!(out.contains(c) && out.contains(f), "{c} {f}: {out}");
        }
        assert!(out.contains("--allow-weaker"), "{out}");
        // With --allow-weaker it runs and says what is not enforced.
        let (ok, out) = w.cli_run(&[
            "run",
            "--allow-weaker",
            "--manifest",
            m,
            "--",
            "/usr/bin/true",
        ]);
        assert!(ok, "{out}");
        assert!(out.contains("not enforced"), "{out}");
        for (_, f) in &missing {
            assert!(out.contains(f), "{f}: {out}");
        }
    }
    w.cleanup();
}

#[test]
fn launching_refuses_a_missing_manifest_directory_clearly() {
    let Some(w) = world("launching_refuses_a_missing_manifest_directory_clearly") else {
        return;
    };
    let m = w.manifest("t-bad", "read = [\"/nonexistent/capbinder\"]\n");
    let (ok, out) = w.cli_run(&[
        "run",
        "--manifest",
        m.to_str().unwrap(),
        "--",
        "/usr/bin/true",
    ]);
    assert!(!ok);
    assert!(out.contains("/nonexistent/capbinder"), "{out}");
}

#[test]
fn launching_from_a_multithreaded_process_works_and_names_a_failed_step() {
    let Some(w) = world("launching_from_a_multithreaded_process_works_and_names_a_failed_step")
    else {
        return;
    };
    // This process runs the mediator and a binder thread pool: the child of
    // its clone must not allocate or take their locks.
    let sandbox = Sandbox::new(SandboxConfig {
        state_dir: w.state.clone(),
        cgroup_root: Some(w.cgroup_root.clone()),
        uids: w.uids.parse().unwrap(),
        socket: Some(w.socket.clone()),
        allow_weaker: false,
        die_with_launcher: true,
    });
    let m = Manifest::named("t-inproc");
    let app = sandbox
        .launch(&m, Path::new("/usr/bin/true"), &[], &[])
        .unwrap();
    assert_eq!(app.wait().unwrap(), 0);
    assert!(app.not_enforced.is_empty(), "{:?}", app.not_enforced);
    // A program that cannot be executed: the error names the step.
    let not_exec = w.dir.join("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\n").unwrap();
    let e = sandbox.launch(&m, &not_exec, &[], &[]).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("execve(") && text.contains("not-executable"),
        "{text}"
    );
    w.cleanup();
}

// ---- the app side ---------------------------------------------------------------

/// Not a test of its own: the body of every sandboxed app. Without
/// `CAPBINDER_SANDBOX_TEST_APP` it does nothing.
#[test]
fn app_main() {
    let Ok(scenario) = std::env::var(APP_ENV) else {
        return;
    };
    // libtest printed "test app_main ... " without a newline.
    println!();
    let mut a = AppSide { failed: false };
    match scenario.as_str() {
        "fs" => a.fs(),
        "net" => a.net(),
        "mediator" => a.mediator(),
        "ptrace" => a.ptrace(),
        "proc" => a.proc_(),
        "uring" => a.uring(),
        "userns" => a.userns(),
        "find" => a.find(),
        "handles" => a.handles(),
        "intruder" => a.intruder(),
        "forger" => a.forger(),
        "callback" => a.callback(),
        "hold" => a.hold(),
        other => a.fail("scenario", other),
    }
    println!("APP done");
    std::process::exit(i32::from(a.failed));
}

struct AppSide {
    failed: bool,
}

fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"))
}

fn pids_var() -> Vec<i32> {
    var("CB_T_PIDS")
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect()
}

impl AppSide {
    fn ok(&self, what: &str) {
        println!("APP ok {what}");
    }

    fn fail(&mut self, what: &str, detail: impl std::fmt::Debug) {
        println!("APP FAIL {what}: {detail:?}");
        self.failed = true;
    }

    /// `what` must fail.
    fn denied<T: std::fmt::Debug, E: std::fmt::Debug>(&mut self, what: &str, r: Result<T, E>) {
        match r {
            Err(e) => self.ok(&format!("{what} denied: {e:?}")),
            Ok(v) => self.fail(what, format!("allowed: {v:?}")),
        }
    }

    /// `what` must fail with `errno`.
    fn denied_with(&mut self, what: &str, r: std::io::Result<()>, errno: i32) {
        match r {
            Err(e) if e.raw_os_error() == Some(errno) => self.ok(&format!("{what} denied: {e}")),
            other => self.fail(what, format!("expected errno {errno}, got {other:?}")),
        }
    }

    fn works<T: std::fmt::Debug, E: std::fmt::Debug>(
        &mut self,
        what: &str,
        r: Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => {
                self.ok(&format!("{what}: {v:?}"));
                Some(v)
            }
            Err(e) => {
                self.fail(what, e);
                None
            }
        }
    }

    fn fs(&mut self) {
        let read = PathBuf::from(var("CB_T_READ"));
        let write = PathBuf::from(var("CB_T_WRITE"));
        let secret = PathBuf::from(var("CB_T_SECRET"));
        match std::fs::read_to_string(read.join("hello.txt")) {
            Ok(s) if s == "hello" => self.ok("read a file in a read directory"),
            other => self.fail("read a file in a read directory", other),
        }
        self.denied(
            "write into a read directory",
            std::fs::write(read.join("new.txt"), "x"),
        );
        self.works(
            "write into a write directory",
            std::fs::write(write.join("out.txt"), "written"),
        );
        self.works(
            "read back from the write directory",
            std::fs::read_to_string(write.join("out.txt")),
        );
        self.denied(
            "read a file outside its directories",
            std::fs::read_to_string(&secret),
        );
        self.denied(
            "list a directory outside its directories",
            std::fs::read_dir(secret.parent().unwrap()),
        );
        self.denied("read /etc/passwd", std::fs::read_to_string("/etc/passwd"));
        self.denied("write /x", std::fs::write("/x", "x"));
        self.denied("write /tmp/x", std::fs::write("/tmp/x", "x"));
        self.denied(
            "write into /usr",
            std::fs::write("/usr/capbinder-test", "x"),
        );
        self.denied(
            "write /proc/self/comm (Landlock)",
            std::fs::write("/proc/self/comm", "x"),
        );
        self.denied(
            "read the test's own directory",
            std::fs::read_dir(read.parent().unwrap()),
        );
        self.works(
            "read /dev/urandom",
            std::fs::File::open("/dev/urandom").map(|_| ()),
        );
    }

    fn net(&mut self) {
        use rustix::net::{socket, socketpair, AddressFamily, SocketFlags, SocketType};
        let port: u16 = var("CB_T_PORT").parse().unwrap();
        self.denied(
            "TCP connect to the host's loopback",
            std::net::TcpStream::connect(("127.0.0.1", port)),
        );
        self.denied("UDP bind", std::net::UdpSocket::bind("0.0.0.0:0"));
        for (name, fam, ty) in [
            ("AF_INET6 socket", AddressFamily::INET6, SocketType::STREAM),
            (
                "AF_NETLINK socket",
                AddressFamily::NETLINK,
                SocketType::DGRAM,
            ),
            ("AF_PACKET socket", AddressFamily::PACKET, SocketType::RAW),
            ("AF_VSOCK socket", AddressFamily::VSOCK, SocketType::STREAM),
        ] {
            self.denied(name, socket(fam, ty, None));
        }
        self.works(
            "AF_UNIX socketpair",
            socketpair(
                AddressFamily::UNIX,
                SocketType::STREAM,
                SocketFlags::CLOEXEC,
                None,
            )
            .map(|_| ()),
        );
    }

    fn mediator(&mut self) {
        // Fd 3 is the connection the mediator made, there before the
        // program ran: a socket pair's end (no peer path to learn), not
        // something connected to the socket path.
        match capbinder_kmod_shim::sys::fds::take_inherited_socket(3) {
            Ok(fd) => {
                let ty = rustix::net::sockopt::socket_type(&fd);
                let peer = rustix::net::getpeername(&fd);
                let named = peer
                    .as_ref()
                    .ok()
                    .and_then(|a| a.clone())
                    .and_then(|a| rustix::net::SocketAddrUnix::try_from(a).ok())
                    .and_then(|u| u.path().map(|p| p.to_string_lossy().into_owned()));
                if ty == Ok(rustix::net::SocketType::SEQPACKET) && peer.is_ok() && named.is_none() {
                    self.ok("fd 3 is the mediator's socket pair end, with no path");
                } else {
                    self.fail("fd 3", format!("{ty:?} {peer:?} {named:?}"));
                }
                // Back on fd 3 for the device to take.
                let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
            }
            Err(e) => self.fail("fd 3 is a socket before the program runs", e),
        }
        let sock = PathBuf::from(var("CB_T_SOCKET"));
        self.denied("stat the mediator's socket", std::fs::metadata(&sock));
        self.denied(
            "connect to the mediator's socket path",
            std::os::unix::net::UnixStream::connect(&sock),
        );
        self.denied(
            "connect to the mediator's socket path (SEQPACKET)",
            capbinder_kmod_shim::sys::channel::Channel::connect(&sock),
        );
        self.denied(
            "the default socket",
            std::fs::metadata("/run/capbinder/capbinder.sock"),
        );
        let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        // 0, 1, 2, the channel on 3, and the directory being read.
        if fds.len() <= 5
            && ["0", "1", "2", "3"]
                .iter()
                .all(|f| fds.contains(&f.to_string()))
        {
            self.ok(&format!("only stdio and the channel are open: {fds:?}"));
        } else {
            self.fail("open fds", fds);
        }
        // And it is this app's connection, served.
        match ServiceManager::get().and_then(|sm| sm.check_service("sb.echo")) {
            Ok(Some(_)) => self.ok("the channel on fd 3 is served"),
            other => self.fail("the channel on fd 3 is served", other.map(|b| b.is_some())),
        }
    }

    fn ptrace(&mut self) {
        use capbinder_kmod_shim::sys::sandbox::probe;
        for pid in pids_var() {
            let p = rustix::process::Pid::from_raw(pid).unwrap();
            self.denied(&format!("ptrace pid {pid}"), probe::ptrace_attach(p));
            self.denied(
                &format!("signal pid {pid}"),
                rustix::process::test_kill_process(p),
            );
        }
        self.denied_with(
            "ptrace(PTRACE_ATTACH) of itself",
            probe::ptrace_attach(rustix::process::getpid()),
            libc_eperm(),
        );
    }

    fn proc_(&mut self) {
        let me = std::process::id().to_string();
        let listed: Vec<String> = std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
                    .collect()
            })
            .unwrap_or_default();
        if listed == vec![me.clone()] {
            self.ok(&format!("/proc lists only itself: {listed:?}"));
        } else {
            self.fail("/proc lists", listed);
        }
        for pid in pids_var() {
            self.denied(
                &format!("/proc/{pid}"),
                std::fs::read_to_string(format!("/proc/{pid}/status")),
            );
        }
        self.works(
            "/proc/self/status",
            std::fs::read_to_string("/proc/self/status").map(|s| s.len()),
        );
        self.denied("/proc/sys (subset=pid)", std::fs::read_dir("/proc/sys"));
    }

    fn uring(&mut self) {
        use capbinder_kmod_shim::sys::sandbox::probe;
        self.denied_with("io_uring_setup", probe::io_uring_setup(), libc_eperm());
    }

    fn userns(&mut self) {
        use capbinder_kmod_shim::sys::sandbox::probe;
        const CLONE_NEWUSER: i32 = 0x1000_0000;
        const CLONE_NEWNET: i32 = 0x4000_0000;
        const CLONE_NEWNS: i32 = 0x0002_0000;
        self.denied_with(
            "unshare(CLONE_NEWUSER)",
            probe::unshare(CLONE_NEWUSER),
            libc_eperm(),
        );
        self.denied_with(
            "unshare(CLONE_NEWNET)",
            probe::unshare(CLONE_NEWNET),
            libc_eperm(),
        );
        self.denied_with(
            "unshare(CLONE_NEWNS)",
            probe::unshare(CLONE_NEWNS),
            libc_eperm(),
        );
        self.denied_with("setns", probe::setns_own_net(), libc_eperm());
        self.denied_with("keyctl", probe::keyctl_session(), libc_eperm());
        self.denied_with(
            "clone3 (ENOSYS)",
            probe::clone3_null(),
            rustix::io::Errno::NOSYS.raw_os_error(),
        );
        let t = std::thread::spawn(|| 6 * 7).join();
        match t {
            Ok(42) => self.ok("a thread starts (clone after clone3's ENOSYS)"),
            other => self.fail("a thread starts", other),
        }
    }

    fn find(&mut self) {
        let sm = match ServiceManager::get() {
            Ok(sm) => sm,
            Err(e) => return self.fail("connect through fd 3", e),
        };
        self.ok("connected through fd 3");
        for name in ["sb.secret", "sb.contacts", "sb.nonexistent"] {
            match sm.check_service(name) {
                Err(e) if e.message.contains("manifest") => {
                    self.ok(&format!("find {name} denied: {e}"))
                }
                other => self.fail(&format!("find {name}"), other.map(|b| b.is_some())),
            }
        }
        if let Some(Some(b)) = self.works("find sb.echo", sm.check_service("sb.echo")) {
            match echo(&b, "hi") {
                Ok(s) if s == "hi" => self.ok("call sb.echo"),
                other => self.fail("call sb.echo", other),
            }
        }
        let me = (
            std::process::id() as i32,
            rustix::process::getuid().as_raw(),
            rustix::process::getuid().as_raw(),
            var("CAPBINDER_APP"),
        );
        match sm
            .check_service("sb.echo")
            .and_then(|b| b.unwrap().transact(WHOAMI, Parcel::new(), false))
            .and_then(|mut r| r.read::<(i32, u32, u32, String)>())
        {
            Ok(id) if id == me => self.ok(&format!(
                "services see its pid, uid and name as its label: {id:?}"
            )),
            other => self.fail("calling identity", format!("{other:?}, expected {me:?}")),
        }
        match sm.list_services() {
            Ok(v) if v == vec!["sb.echo".to_string()] => self.ok("list shows only sb.echo"),
            other => self.fail("list", other),
        }
        self.denied(
            "add a service",
            sm.add_service("t.evil", &new_binder(Prefixer(String::new()))),
        );
    }

    /// Transacts on raw handle numbers from a fresh connection that was
    /// given nothing but handle 0; each must fail.
    fn forge(&mut self, handles: &[u64]) {
        use capbinder::core::protocol::{
            Command as Cmd, DataRange, Handle, Return, TxnFlags, TxnOut,
        };
        let dev = match capbinder_kmod_shim::device::Device::open(None) {
            Ok(d) => d,
            Err(e) => return self.fail("open the device through fd 3", e),
        };
        let mut chan = match dev.register_thread() {
            Ok(c) => c,
            Err(e) => return self.fail("register a thread", e),
        };
        for &h in handles {
            let cmd = Cmd::Transaction {
                handle: Handle(h),
                txn: TxnOut {
                    code: ECHO,
                    flags: TxnFlags(0),
                    data: DataRange { offset: 0, len: 0 },
                    objects: Vec::new(),
                    splices: Vec::new(),
                    work_source: None,
                },
            };
            if let Err(e) = chan.write(&[cmd], &[]) {
                return self.fail("write", e);
            }
            loop {
                match chan.read() {
                    Ok((Return::Error(f), _)) | Ok((Return::FailedReply { error: f, .. }, _)) => {
                        self.ok(&format!("handle {:#x} refused: {f}", h));
                        break;
                    }
                    Ok((Return::DeadReply { .. }, _)) => {
                        self.ok(&format!("handle {:#x}: dead reply", h));
                        break;
                    }
                    Ok((r @ (Return::Reply(_) | Return::Transaction(_)), _)) => {
                        self.fail(&format!("handle {:#x}", h), r);
                        break;
                    }
                    Ok(_) => continue,
                    Err(e) => return self.fail("read", e),
                }
            }
        }
    }

    fn handle_list(&self) -> Vec<u64> {
        let mut v: Vec<u64> = var("CB_T_HANDLES")
            .split(',')
            .map(|h| h.parse().unwrap())
            .collect();
        for index in 1..=8u64 {
            for generation in 0..=2u64 {
                v.push(index | generation << 32);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    fn handles(&mut self) {
        let hs = self.handle_list();
        self.forge(&hs);
    }

    /// An app connects once (its one connection is made for it), so the
    /// raw handle attempts run in an app of their own.
    fn forger(&mut self) {
        let hs = self.handle_list();
        self.forge(&hs);
    }

    fn intruder(&mut self) {
        let sm = match ServiceManager::get() {
            Ok(sm) => sm,
            Err(e) => return self.fail("connect", e),
        };
        self.denied(
            "find the owner's service sb.player",
            sm.check_service("sb.player"),
        );
        self.denied(
            "find sb.echo, through which the owner's object went",
            sm.check_service("sb.echo"),
        );
    }

    fn callback(&mut self) {
        let sm = match ServiceManager::get() {
            Ok(sm) => sm,
            Err(e) => return self.fail("connect", e),
        };
        let Some(Some(svc)) = self.works("find sb.echo", sm.check_service("sb.echo")) else {
            return;
        };
        let cb = new_binder(Prefixer("cb:".into()));
        let mut p = Parcel::new();
        let r = p
            .write_binder(&cb)
            .and_then(|()| p.write("abc"))
            .and_then(|()| svc.transact(CALL_ME_BACK, p, false))
            .and_then(|mut r| r.read::<String>());
        match r {
            Ok(s) if s == "cb:ABC" => self.ok("the service called the app's callback: cb:ABC"),
            other => self.fail("callback", other),
        }
    }

    fn hold(&mut self) {
        let tag = var("CB_T_TAG");
        let ps = match ProcessState::get() {
            Ok(ps) => ps,
            Err(e) => return self.fail("connect", e),
        };
        let sm = ServiceManager::get().unwrap();
        let Some(Some(svc)) = self.works("find sb.echo", sm.check_service("sb.echo")) else {
            return;
        };
        let obj = new_binder(Prefixer(format!("{tag}:")));
        let mut p = Parcel::new();
        let r = p
            .write(&tag)
            .and_then(|()| p.write_binder(&obj))
            .and_then(|()| svc.transact(HOLD, p, false));
        if let Err(e) = r {
            return self.fail("hold", e);
        }
        println!("APP ready {}", svc.handle().map(|h| h.0).unwrap_or(0));
        let _ = ps.join_thread_pool();
    }
}

fn libc_eperm() -> i32 {
    rustix::io::Errno::PERM.raw_os_error()
}
