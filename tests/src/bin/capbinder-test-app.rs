//! `capbinder-test-app ROLE --socket PATH [ARGS]`: every process the
//! integration tests need, one role each.
//!
//! - `servicemanager [--policy FILE]`: the service manager (handle 0).
//! - `service --name N [--name N2 ...]`: registers one `TestObject` under
//!   each name; a `release` line on stdin opens the latch `block` waits on.
//! - `client`: a scriptable client: one command per stdin line, one answer
//!   line each (`ok ...` or `err ...`); see `Client::run`.
//! - `echo-loop NAME COUNT TAG`: COUNT echo calls, each checked.
//! - `state`: prints the mediator's state (as this process may see it) as
//!   JSON.
//! - `cli ARGS...`: the `capbinder` command line ([`capbinder::cli::run`]).
//! - `mediator`: a mediator on the socket (so a test can kill it), with
//!   the event loop `CAPBINDER_LOOP` names.
//!
//! Every role prints `ready ...` when it is, and the long-running ones exit
//! when their stdin closes (so a test that dies leaves nothing behind).
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{
    flush_commands, new_binder, DeathRecipient, ExceptionCode, Parcel, ProcessState, SpIBinder,
    Status, StatusCode, WeakBinder,
};
use capbinder_kmod_shim::mediator::Mediator;
use capbinder_tests::harness::mediator_config;
use capbinder_tests::proto::gettid;
use capbinder_tests::role::{status_line, watch_stdin};
use capbinder_tests::service::{Latch, TestObject, TestProxy};

/// A callback whose `echo` first sends `n` oneway `log` calls of `pad`
/// more bytes to `to` (in whatever window the process has), then answers
/// in a reply of some size, placed at the start of the send area.
struct WindowedCallback {
    to: TestProxy,
    n: u32,
    pad: usize,
}

impl capbinder::Binder for WindowedCallback {
    fn descriptor(&self) -> &str {
        capbinder_tests::proto::DESCRIPTOR
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        use capbinder_tests::proto::codes;
        match code {
            codes::ECHO => {
                let s: String = data.read()?;
                for i in 0..self.n {
                    self.to.log_padded(i, self.pad)?;
                }
                reply.write(&format!("windowed:{s}:{}", "x".repeat(500)))
            }
            codes::TID => reply.write(&gettid()),
            _ => Err(Status::from_code(
                capbinder::StatusCode::UnknownTransaction,
                "",
            )),
        }
    }
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("capbinder-test-app: {msg}");
    std::process::exit(1)
}

struct Args {
    socket: PathBuf,
    rest: Vec<String>,
}

impl Args {
    fn flag(&self, name: &str) -> Option<&str> {
        self.rest
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.rest.get(i + 1))
            .map(String::as_str)
    }

    fn flags(&self, name: &str) -> Vec<&str> {
        self.rest
            .windows(2)
            .filter(|w| w[0] == name)
            .map(|w| w[1].as_str())
            .collect()
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let role = argv
        .next()
        .unwrap_or_else(|| die("usage: ROLE --socket PATH [ARGS]"));
    let mut socket = None;
    let mut rest = Vec::new();
    while let Some(a) = argv.next() {
        if a == "--socket" {
            socket = argv.next().map(PathBuf::from);
        } else {
            rest.push(a);
        }
    }
    let args = Args {
        socket: socket.unwrap_or_else(|| die("--socket PATH is required")),
        rest,
    };
    match role.as_str() {
        "servicemanager" => servicemanager(&args),
        "service" => service(&args),
        "client" => Client::default().run(&args),
        "echo-loop" => echo_loop(&args),
        "state" => state(&args),
        "cli" => {
            let mut cli = vec!["capbinder".to_string(), "--socket".into()];
            cli.push(args.socket.display().to_string());
            cli.extend(args.rest.iter().cloned());
            ExitCode::from(capbinder::cli::run(cli))
        }
        "mediator" => mediator(&args),
        "topics" => topics(&args),
        other => die(format!("unknown role {other:?}")),
    }
}

/// Line-driven topic commands (see `capbinder_tests::topics`).
fn topics(args: &Args) -> ExitCode {
    let ps = init(args);
    ps.start_thread_pool();
    let mut t = capbinder_tests::topics::Topics::default();
    println!("ready pid={}", std::process::id());
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"exit") {
            break;
        }
        match t.command(&words) {
            Ok(s) if s.is_empty() => println!("ok"),
            Ok(s) => println!("ok {s}"),
            Err(e) => println!("err {e}"),
        }
    }
    ExitCode::SUCCESS
}

fn init(args: &Args) -> Arc<ProcessState> {
    ProcessState::init(Some(&args.socket)).unwrap_or_else(|e| die(e))
}

fn servicemanager(args: &Args) -> ExitCode {
    let policy = match args.flag("--policy") {
        None => Policy::default_for(rustix::process::geteuid().as_raw()),
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| Policy::from_toml(&t))
            .unwrap_or_else(|e| die(format!("{p}: {e}"))),
    };
    let ps = init(args);
    let sm = new_binder(ServiceManagerService::new(policy));
    ps.become_context_manager(&sm).unwrap_or_else(|e| die(e));
    // As capbinder-servicemanager does.
    ps.set_max_threads(4).unwrap_or_else(|e| die(e));
    watch_stdin(|_| {});
    println!("ready pid={}", std::process::id());
    match ps.join_thread_pool() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => die(e),
    }
}

fn service(args: &Args) -> ExitCode {
    let ps = init(args);
    let latch = Arc::new(Latch::default());
    let obj = TestObject::binder("", latch.clone());
    let sm = ServiceManager::get().unwrap_or_else(|e| die(e));
    for name in args.flags("--name") {
        if let Err(e) = sm.add_service(name, &obj) {
            println!("err {}", status_line(&e));
            die(format!("adding {name}: {e}"));
        }
    }
    watch_stdin(move |l| {
        if l == "release" {
            latch.open();
        }
    });
    println!("ready pid={}", std::process::id());
    match ps.join_thread_pool() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => die(e),
    }
}

fn echo_loop(args: &Args) -> ExitCode {
    let [name, count, tag] = args.rest.as_slice() else {
        die("echo-loop NAME COUNT TAG")
    };
    let count: u32 = count.parse().unwrap_or_else(|e| die(e));
    init(args);
    let run = || -> Result<(), String> {
        let svc = TestProxy(
            ServiceManager::get()
                .and_then(|sm| sm.get_service(name))
                .map_err(|e| status_line(&e))?,
        );
        let who = svc.whoami().map_err(|e| status_line(&e))?;
        if who.pid != std::process::id() as i32 {
            return Err(format!("the service saw pid {} calling", who.pid));
        }
        for i in 0..count {
            let s = format!("{tag}-{i}");
            let got = svc.echo(&s).map_err(|e| status_line(&e))?;
            if got != s {
                return Err(format!("echo({s:?}) answered {got:?}"));
            }
        }
        Ok(())
    };
    match run() {
        Ok(()) => {
            println!("done {count}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("err {e}");
            ExitCode::from(1)
        }
    }
}

fn state(args: &Args) -> ExitCode {
    let s = init(args).state().unwrap_or_else(|e| die(e));
    println!("{}", serde_json::to_string(&s).unwrap_or_else(|e| die(e)));
    ExitCode::SUCCESS
}

fn mediator(args: &Args) -> ExitCode {
    let m = Mediator::bind(&args.socket, mediator_config()).unwrap_or_else(|e| die(e));
    println!("loop {}", m.event_loop());
    watch_stdin(|_| {});
    println!("ready pid={}", std::process::id());
    match m.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => die(e),
    }
}

// ---- the scriptable client ---------------------------------------------------

/// A death recipient that counts its calls and names the threads they ran on.
#[derive(Default)]
struct Recorder {
    threads: Mutex<Vec<String>>,
    cv: Condvar,
}

impl DeathRecipient for Recorder {
    fn binder_died(&self, _who: &WeakBinder) {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(name);
        self.cv.notify_all();
    }
}

#[derive(Default)]
struct Client {
    vars: HashMap<String, SpIBinder>,
    recipients: HashMap<String, Arc<Recorder>>,
    latch: Arc<Latch>,
    /// Services this client added (kept alive).
    added: Vec<SpIBinder>,
    /// Replies kept unread (`hold`), each holding its receive buffer.
    held: Vec<Parcel>,
}

type Answer = Result<String, String>;

fn st(e: Status) -> String {
    status_line(&e)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad hex {s:?}"))
        })
        .collect()
}

impl Client {
    /// Commands (one per line; `V` names a binder variable, `R` a recipient):
    /// `get V NAME`, `wait V NAME`, `check V NAME`, `sm V` (handle 0),
    /// `add NAME`, `list`,
    /// `echo V TEXT`, `pid V`, `nested V TEXT`, `recurse V N`, `whoami V`,
    /// `ping V`, `descriptor V`, `dump V ARGS...`, `sendfd V TEXT`,
    /// `recvfd V`, `blob V SIZE`, `oneway V N`, `session V NEWV`, `drop V`,
    /// `alive V`, `link V R`, `unlink V R`, `await-death R`, `deaths R`,
    /// `raw V CODE HEX`, `wrongkind V`, `specific V`, `block-bg V`,
    /// `flush`, `state`, `hold V SIZE`, `unhold`, `buffer`, `inplace V SIZE`,
    /// `forward V SIZE [NEXT]`,
    /// `keep-app UID NAME PID SERVICE...`, `exit`.
    fn run(mut self, args: &Args) -> ExitCode {
        let ps = init(args);
        // Death notices and service registrations arrive on pool threads.
        ps.start_thread_pool();
        println!("ready pid={}", std::process::id());
        let stdin = std::io::stdin();
        for line in stdin.lock().lines().map_while(Result::ok) {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"exit") {
                break;
            }
            match self.command(&ps, &words) {
                Ok(s) if s.is_empty() => println!("ok"),
                Ok(s) => println!("ok {s}"),
                Err(e) => println!("err {e}"),
            }
        }
        ExitCode::SUCCESS
    }

    fn var(&self, name: Option<&&str>) -> Result<SpIBinder, String> {
        let name = name.ok_or("missing variable")?;
        self.vars
            .get(*name)
            .cloned()
            .ok_or_else(|| format!("no variable {name}"))
    }

    fn proxy(&self, name: Option<&&str>) -> Result<TestProxy, String> {
        self.var(name).map(TestProxy)
    }

    fn recorder(&mut self, name: Option<&&str>) -> Result<Arc<Recorder>, String> {
        let name = name.ok_or("missing recipient")?;
        Ok(self.recipients.entry(name.to_string()).or_default().clone())
    }

    fn command(&mut self, ps: &Arc<ProcessState>, w: &[&str]) -> Answer {
        let arg = |i: usize| w.get(i).copied().ok_or(format!("missing argument {i}"));
        let rest = |i: usize| w.get(i..).map(|r| r.join(" ")).unwrap_or_default();
        let sm = || ServiceManager::get().map_err(st);
        match w.first().copied().unwrap_or("") {
            "get" | "wait" => {
                let b = if w[0] == "get" {
                    sm()?.get_service(arg(2)?)
                } else {
                    sm()?.wait_for_service(arg(2)?)
                }
                .map_err(st)?;
                let pid = TestProxy(b.clone()).pid().map_err(st)?;
                self.vars.insert(arg(1)?.to_string(), b);
                Ok(format!("pid={pid}"))
            }
            "check" => match sm()?.check_service(arg(2)?).map_err(st)? {
                Some(b) => {
                    self.vars.insert(arg(1)?.to_string(), b);
                    Ok("found".into())
                }
                None => Ok("none".into()),
            },
            "sm" => {
                self.vars
                    .insert(arg(1)?.to_string(), sm()?.as_binder().clone());
                Ok(String::new())
            }
            "add" => {
                let obj = TestObject::binder("", self.latch.clone());
                sm()?.add_service(arg(1)?, &obj).map_err(st)?;
                self.added.push(obj);
                Ok(String::new())
            }
            "list" => Ok(sm()?.list_services().map_err(st)?.join(",")),
            "echo" => self.proxy(w.get(1))?.echo(&rest(2)).map_err(st),
            "pid" => Ok(self.proxy(w.get(1))?.pid().map_err(st)?.to_string()),
            "nested" => {
                let cb = TestObject::binder("cb:", self.latch.clone());
                let (answer, tid) = self.proxy(w.get(1))?.call_back(&cb, &rest(2)).map_err(st)?;
                Ok(format!("{answer} same_thread={}", tid == gettid()))
            }
            "recurse" => {
                let svc = self.var(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let me = TestObject::binder("", self.latch.clone());
                let levels = TestProxy(svc.clone()).recurse(&me, &svc, n).map_err(st)?;
                let my_pid = std::process::id() as i32;
                let mine: Vec<_> = levels.iter().filter(|l| l.pid == my_pid).collect();
                let theirs: Vec<_> = levels.iter().filter(|l| l.pid != my_pid).collect();
                // Level n ran in the service when N - n is even.
                let alternating = levels
                    .iter()
                    .all(|l| (l.pid == my_pid) == ((n - l.n) % 2 == 1));
                let ordered = levels.iter().enumerate().all(|(i, l)| l.n as usize == i);
                Ok(format!(
                    "levels={} ordered={ordered} alternating={alternating} client_same_thread={} server_same_thread={}",
                    levels.len(),
                    mine.iter().all(|l| l.tid == gettid()),
                    theirs.windows(2).all(|p| p[0].tid == p[1].tid),
                ))
            }
            "whoami" => {
                let who = self.proxy(w.get(1))?.whoami().map_err(st)?;
                Ok(format!(
                    "pid={} tid={} uid={} euid={} txn={} my_pid={} my_tid={} my_uid={} my_euid={}",
                    who.pid,
                    who.tid,
                    who.uid,
                    who.euid,
                    who.txn,
                    std::process::id(),
                    gettid(),
                    rustix::process::getuid().as_raw(),
                    rustix::process::geteuid().as_raw(),
                ))
            }
            "ping" => self
                .var(w.get(1))?
                .ping()
                .map(|()| String::new())
                .map_err(st),
            "descriptor" => self.var(w.get(1))?.descriptor().map_err(st),
            "dump" => {
                let b = self.var(w.get(1))?;
                let (r, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
                let args: Vec<String> = w[2..].iter().map(|s| s.to_string()).collect();
                b.dump(wr, &args).map_err(st)?;
                let mut s = String::new();
                std::fs::File::from(r)
                    .read_to_string(&mut s)
                    .map_err(|e| e.to_string())?;
                Ok(s.trim().to_string())
            }
            "sendfd" => {
                let (r, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
                let mut f = std::fs::File::from(wr);
                f.write_all(rest(2).as_bytes()).map_err(|e| e.to_string())?;
                drop(f);
                self.proxy(w.get(1))?.read_fd(r).map_err(st)
            }
            "fdloop" => {
                // N fds each way: a pipe's read end sent and read by the
                // service, then one the service makes, read here.
                let n: usize = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let svc = self.proxy(w.get(1))?;
                for i in 0..n {
                    let (r, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
                    let mut f = std::fs::File::from(wr);
                    write!(f, "{i}").map_err(|e| e.to_string())?;
                    drop(f);
                    let got = svc.read_fd(r).map_err(st)?;
                    if got != i.to_string() {
                        return Err(format!("pass {i}: the service read {got:?}"));
                    }
                    let mut s = String::new();
                    std::fs::File::from(svc.make_fd().map_err(st)?)
                        .read_to_string(&mut s)
                        .map_err(|e| e.to_string())?;
                }
                Ok(n.to_string())
            }
            "recvfd" => {
                let fd = self.proxy(w.get(1))?.make_fd().map_err(st)?;
                let mut s = String::new();
                std::fs::File::from(fd)
                    .read_to_string(&mut s)
                    .map_err(|e| e.to_string())?;
                Ok(s.trim().to_string())
            }
            "blob" => {
                let n: usize = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let data: Vec<u8> = (0..n).map(|i| (i * 7 + i / 251) as u8).collect();
                let back = self.proxy(w.get(1))?.echo_bytes(&data).map_err(st)?;
                if back == data {
                    Ok(format!("equal len={}", back.len()))
                } else {
                    Err(format!(
                        "mismatch: sent {} bytes, got {}",
                        data.len(),
                        back.len()
                    ))
                }
            }
            "oneway" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                for i in 0..n {
                    svc.log(i).map_err(st)?;
                }
                let log = svc.get_log(n as usize).map_err(st)?;
                let expected: Vec<u32> = (0..n).collect();
                Ok(format!("count={} in_order={}", log.len(), log == expected))
            }
            // N oneway calls through a window that holds them all, and
            // no answer read: the test kills this process next.
            "oneway-nowait" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                ProcessState::get()
                    .map_err(st)?
                    .set_oneway_window(n as usize + 1);
                for i in 0..n {
                    svc.log(i).map_err(st)?;
                }
                Ok(format!("sent={n}"))
            }
            // What the service logged, once it holds N: its count and
            // whether it is 0..N in order.
            "getlog" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let log = svc.get_log(n as usize).map_err(st)?;
                let expected: Vec<u32> = (0..n).collect();
                Ok(format!("count={} in_order={}", log.len(), log == expected))
            }
            // N oneway calls with a window of W in flight: payloads of
            // many sizes (round the send area, one past the blob
            // threshold), a sync call halfway; then the order they ran in.
            // 400 of them stay well inside the service's async space.
            "oneway-window" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let window: usize = arg(3)?.parse().map_err(|e| format!("{e}"))?;
                let ps = ProcessState::get().map_err(st)?;
                ps.set_oneway_window(window);
                for i in 0..n {
                    let pad = match i {
                        i if i == n / 3 => 300_000,
                        i => (i as usize * 977) % 1500,
                    };
                    svc.log_padded(i, pad).map_err(st)?;
                    if i == n / 2 {
                        svc.echo("halfway").map_err(st)?;
                    }
                }
                let flushed = ps.flush_oneway_calls();
                ps.set_oneway_window(0);
                flushed.map_err(|f| f.to_string())?;
                let log = svc.get_log(n as usize).map_err(st)?;
                let expected: Vec<u32> = (0..n).collect();
                Ok(format!("count={} in_order={}", log.len(), log == expected))
            }
            // A nested call into this process whose handler sends N
            // oneway calls of PAD more bytes back to the service in a
            // window of W, then replies: the reply waits for them (they
            // may lie where it goes in the send area), on the thread
            // waiting in the call.
            "nested-window" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let window: usize = arg(3)?.parse().map_err(|e| format!("{e}"))?;
                let pad: usize = arg(4)?.parse().map_err(|e| format!("{e}"))?;
                let ps = ProcessState::get().map_err(st)?;
                ps.set_oneway_window(window);
                let cb = new_binder(WindowedCallback {
                    to: TestProxy(svc.0.clone()),
                    n,
                    pad,
                });
                let answer = svc.call_back(&cb, "go").map_err(st);
                let flushed = ps.flush_oneway_calls();
                ps.set_oneway_window(0);
                let (answer, tid) = answer?;
                flushed.map_err(|f| f.to_string())?;
                let log = svc.get_log(n as usize).map_err(st)?;
                let expected: Vec<u32> = (0..n).collect();
                Ok(format!(
                    "{answer} same_thread={} count={} in_order={}",
                    tid == gettid(),
                    log.len(),
                    log == expected
                ))
            }
            // N oneway calls in a window larger than N to an object whose
            // process died: what the sends and the flush say.
            "oneway-window-dead" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let ps = ProcessState::get().map_err(st)?;
                ps.set_oneway_window(n as usize + 1);
                let sent = (0..n).filter(|&i| svc.log(i).is_ok()).count();
                let flushed = ps.flush_oneway_calls();
                ps.set_oneway_window(0);
                let flushed = match flushed {
                    Ok(()) => "ok".to_string(),
                    Err(f) => format!("count={} code={:?}", f.count, f.first.code),
                };
                Ok(format!("sent={sent} flush={flushed}"))
            }
            "session" => {
                let s = self.proxy(w.get(1))?.new_session().map_err(st)?;
                self.vars.insert(arg(2)?.to_string(), s);
                Ok(String::new())
            }
            "drop" => {
                self.vars
                    .remove(arg(1)?)
                    .ok_or_else(|| format!("no variable {}", w[1]))?;
                flush_commands().map_err(st)?;
                Ok(String::new())
            }
            "alive" => Ok(self.var(w.get(1))?.is_alive().to_string()),
            "link" => {
                let r = self.recorder(w.get(2))?;
                self.var(w.get(1))?.link_to_death(r).map_err(st)?;
                Ok(String::new())
            }
            "unlink" => {
                let r: Arc<dyn DeathRecipient> = self.recorder(w.get(2))?;
                self.var(w.get(1))?.unlink_to_death(&r).map_err(st)?;
                Ok(String::new())
            }
            "await-death" => {
                let r = self.recorder(w.get(1))?;
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut t = r.threads.lock().unwrap_or_else(|e| e.into_inner());
                while t.is_empty() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err("no death notice within 30 s".into());
                    }
                    t =
                        r.cv.wait_timeout(t, left)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                }
                Ok(format!("count={} threads={}", t.len(), t.join(",")))
            }
            "deaths" => {
                let r = self.recorder(w.get(1))?;
                let t = r.threads.lock().unwrap_or_else(|e| e.into_inner());
                Ok(format!("count={}", t.len()))
            }
            "raw" => {
                let b = self.var(w.get(1))?;
                let code: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let mut p = Parcel::new();
                for byte in unhex(w.get(3).copied().unwrap_or(""))? {
                    p.write(&byte).map_err(st)?;
                }
                let reply = b.transact(code, p, false).map_err(st)?;
                Ok(hex(&reply.bytes()))
            }
            "wrongkind" => {
                // A file descriptor where callBack expects a binder.
                let (r, _w) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
                let mut p = Parcel::new();
                p.write(&true).map_err(st)?;
                p.write_fd(r).map_err(st)?;
                p.write("x").map_err(st)?;
                let b = self.var(w.get(1))?;
                b.transact(capbinder_tests::proto::codes::CALL_BACK, p, false)
                    .map(|_| String::new())
                    .map_err(st)
            }
            "specific" => self
                .proxy(w.get(1))?
                .fail_specific()
                .map(|()| String::new())
                .map_err(st),
            "statuses" => {
                // Every status code and exception a service can return,
                // each sent back by the service: the ones that say nothing
                // failed must arrive as a success with the reply written.
                let svc = self.proxy(w.get(1))?;
                let codes = [
                    StatusCode::Ok,
                    StatusCode::UnknownError,
                    StatusCode::NoMemory,
                    StatusCode::InvalidOperation,
                    StatusCode::BadValue,
                    StatusCode::BadType,
                    StatusCode::NameNotFound,
                    StatusCode::PermissionDenied,
                    StatusCode::NoInit,
                    StatusCode::AlreadyExists,
                    StatusCode::FailedTransaction,
                    StatusCode::BadIndex,
                    StatusCode::NotEnoughData,
                    StatusCode::WouldBlock,
                    StatusCode::TimedOut,
                    StatusCode::UnknownTransaction,
                    StatusCode::FdsNotAllowed,
                    StatusCode::UnexpectedNull,
                    StatusCode::Frozen,
                ];
                let exceptions = [
                    ExceptionCode::None,
                    ExceptionCode::Security,
                    ExceptionCode::BadParcelable,
                    ExceptionCode::IllegalArgument,
                    ExceptionCode::NullPointer,
                    ExceptionCode::IllegalState,
                    ExceptionCode::UnsupportedOperation,
                ];
                let sent: Vec<Status> = codes
                    .iter()
                    .map(|&c| Status::from_code(c, format!("code {c:?}")))
                    .chain(
                        exceptions
                            .iter()
                            .map(|&e| Status::exception(e, format!("exception {e:?}"))),
                    )
                    .chain([-123, 0, 123].map(|n| Status::service_specific(n, "specific")))
                    .collect();
                let (mut ok, mut same, mut wrong) = (0, 0, Vec::new());
                for s in &sent {
                    match svc.fail_with(s) {
                        Ok(7) if s.is_ok() => ok += 1,
                        Err(got) if !s.is_ok() && got == *s => same += 1,
                        other => wrong.push(format!("{s:?} -> {other:?}")),
                    }
                }
                // Last, as it marks the proxy dead (libbinder's BpBinder
                // does the same on any DEAD_OBJECT; docs/runtime.md).
                let dead = Status::from_code(StatusCode::DeadObject, "code DeadObject");
                let as_sent = svc.fail_with(&dead) == Err(dead.clone());
                let then = svc.fail_with(&Status::exception(ExceptionCode::None, ""));
                let then_dead = matches!(then, Err(e) if e.code == StatusCode::DeadObject);
                Ok(format!(
                    "ok={ok} same={same} wrong={wrong:?} dead_object_as_sent={as_sent} then_dead={then_dead}"
                ))
            }
            "block" => {
                // Blocks this (command) thread in the call until the
                // service is released or dies.
                let who = self.proxy(w.get(1))?.block().map_err(st)?;
                Ok(format!("txn={}", who.txn))
            }
            "block-bg" => {
                let svc = self.proxy(w.get(1))?;
                std::thread::spawn(move || match svc.block() {
                    Ok(who) => println!("block-done ok txn={}", who.txn),
                    Err(e) => println!("block-done err {}", st(e)),
                });
                Ok("started".into())
            }
            "flush" => flush_commands().map(|()| String::new()).map_err(st),
            "hold" => {
                // An echo of SIZE bytes whose reply is kept, read in place:
                // its receive-buffer range stays allocated until `unhold`.
                let n: usize = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                let mut p = Parcel::new();
                p.write_bytes(&data).map_err(st)?;
                let mut reply = self
                    .var(w.get(1))?
                    .transact(capbinder_tests::proto::codes::ECHO_BYTES, p, false)
                    .map_err(st)?;
                let back = reply.read_bytes().map_err(st)?;
                if back != data {
                    return Err(format!("mismatch: sent {n} bytes, got {}", back.len()));
                }
                reply.rewind();
                self.held.push(reply);
                Ok(String::new())
            }
            "forward" => {
                // forward V SIZE [NEXT]: an in-place payload that V passes
                // back (through NEXT and back when given) with
                // forward_bytes; the reply is checked and dropped.
                let n: usize = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let data: Vec<u8> = (0..n).map(|i| (i % 241) as u8).collect();
                let next = match w.get(3) {
                    Some(_) => Some(self.var(w.get(3))?),
                    None => None,
                };
                let mut p = Parcel::in_send_area();
                p.write_nullable_binder(next.as_ref()).map_err(st)?;
                p.write_bytes(&data).map_err(st)?;
                let mut reply = self
                    .var(w.get(1))?
                    .transact(capbinder_tests::proto::codes::FORWARD_BYTES, p, false)
                    .map_err(st)?;
                let back = reply.read_bytes().map_err(st)?;
                if back != data {
                    let first = back.iter().zip(&data).position(|(a, b)| a != b);
                    return Err(format!(
                        "mismatch: sent {n} bytes, got {} (first difference at {first:?})",
                        back.len()
                    ));
                }
                Ok("equal".into())
            }
            "inplace" => {
                // A payload built straight in this thread's send area; while
                // it holds the area another call from this thread goes
                // around it (as a blob), then it is sent without a copy.
                let n: usize = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let data: Vec<u8> = (0..n).map(|i| (i % 253) as u8).collect();
                let mut p = Parcel::in_send_area();
                let leased = p.is_in_send_area();
                p.write_bytes(&data).map_err(st)?;
                let around = self.proxy(w.get(1))?.echo("around").map_err(st)?;
                let mut reply = self
                    .var(w.get(1))?
                    .transact(capbinder_tests::proto::codes::ECHO_BYTES, p, false)
                    .map_err(st)?;
                let back = reply.read_bytes().map_err(st)?;
                if back != data {
                    return Err(format!("mismatch: sent {n} bytes, got {}", back.len()));
                }
                let free_again = Parcel::in_send_area().is_in_send_area();
                Ok(format!(
                    "equal in_place={leased} around={around} free_again={free_again}"
                ))
            }
            "keep-app" => {
                // keep-app UID NAME PID SERVICE...: what the sandbox launcher
                // does for a running app (root only).
                let uid: u32 = arg(1)?.parse().map_err(|e| format!("{e}"))?;
                let pid: i32 = arg(3)?.parse().map_err(|e| format!("{e}"))?;
                let services: Vec<String> = w[4..].iter().map(|s| s.to_string()).collect();
                let pid = capbinder_kmod_shim::sys::Pid::from_raw(pid).ok_or("pid 0")?;
                let alive = capbinder_kmod_shim::sys::cred::pidfd_open(pid)
                    .map_err(|e| format!("pidfd_open: {e}"))?;
                ServiceManager::keep_app_registered(uid, arg(2)?, &services, alive).map_err(st)?;
                Ok(String::new())
            }
            "unhold" => {
                self.held.clear();
                flush_commands().map_err(st)?;
                Ok(String::new())
            }
            "thread-echo" => {
                let svc = self.proxy(w.get(1))?;
                std::thread::spawn(move || svc.echo("t").map_err(st))
                    .join()
                    .map_err(|_| "panicked".to_string())?
            }
            "ow-keep" => {
                let svc = self.proxy(w.get(1))?;
                let latch = self.latch.clone();
                let win: usize = w
                    .get(2)
                    .map_or(Ok(4), |x| x.parse())
                    .map_err(|e| format!("{e}"))?;
                ps.set_oneway_window(win);
                let r = std::thread::spawn(move || {
                    let cb = TestObject::binder("cb:", latch);
                    svc.keep(&cb).map_err(st)
                })
                .join()
                .map_err(|_| "panicked".to_string());
                ps.set_oneway_window(0);
                r?.map(|()| String::new())
            }
            "call-kept" => self.proxy(w.get(1))?.call_kept().map_err(st),
            "ow-thread-log" => {
                let name = arg(1)?.to_string();
                ps.set_oneway_window(4);
                let r = std::thread::spawn(move || {
                    let p = TestProxy(
                        ServiceManager::get()
                            .map_err(st)?
                            .get_service(&name)
                            .map_err(st)?,
                    );
                    p.log(1).map_err(st)
                })
                .join()
                .map_err(|_| "panicked".to_string());
                ps.set_oneway_window(0);
                r?.map(|()| String::new())
            }
            "relay" => {
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let cb = TestObject::binder("cb:", self.latch.clone());
                for i in 0..n {
                    svc.relay(&cb, i).map_err(st)?;
                }
                let log = TestProxy(cb).get_log(n as usize).map_err(st)?;
                Ok(format!("count={}", log.len()))
            }
            "direct" => {
                // Whether this process's sync calls may go over direct
                // channels (on by default).
                ps.set_direct_calls(arg(1)? == "on");
                Ok(String::new())
            }
            "kept-tid" => {
                // Hands the service a callback, then asks it N times for
                // the tid the callback is served on, from inside the call:
                // a nested call, which must land on this waiting thread
                // however the outer call went.
                let svc = self.proxy(w.get(1))?;
                let n: u32 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let cb = TestObject::binder("cb:", self.latch.clone());
                svc.keep(&cb).map_err(st)?;
                let me = gettid();
                let mut same = 0;
                let mut asked = 0;
                while asked < n {
                    match svc.kept_tid() {
                        Ok(tid) => {
                            asked += 1;
                            same += u32::from(tid == me);
                        }
                        // The oneway keep runs on a pool thread of the
                        // service, a sync call may run on another first
                        // (binder's race): ask again once it has run.
                        Err(e) if e.message.contains("nothing kept") => std::thread::yield_now(),
                        Err(e) => return Err(st(e)),
                    }
                }
                Ok(format!("same_thread={same}/{n}"))
            }
            "keep-cb" => {
                // keep-cb V PREFIX: V keeps a new callback of this process
                // whose echo answers PREFIX + its argument (oneway, no
                // window: the call returns once the mediator took it).
                let cb = TestObject::binder(arg(2)?, self.latch.clone());
                self.proxy(w.get(1))?.keep(&cb).map_err(st)?;
                self.vars.insert("kept-cb".into(), cb);
                Ok(String::new())
            }
            "keep" => {
                // keep V W: V keeps W (oneway).
                let w2 = self.var(w.get(2))?;
                self.proxy(w.get(1))?.keep(&w2).map_err(st)?;
                Ok(String::new())
            }
            "window-block-call-kept" => self.proxy(w.get(1))?.window_block_call_kept().map_err(st),
            "block-call-kept" => self.proxy(w.get(1))?.block_call_kept().map_err(st),
            "fork-whoami" => {
                // A forked child calls whoami on V; its answer (or error)
                // comes back through a pipe.
                let svc = self.proxy(w.get(1))?;
                fork_whoami(&svc)
            }
            "channels" => {
                // Direct channels this process calls through, as the
                // mediator sees them.
                let s = ps.state().map_err(st)?;
                let me = std::process::id() as i32;
                let n = s.direct.iter().filter(|d| d.caller_pid == me).count();
                Ok(format!("channels={n}"))
            }
            "buffer" => {
                // This process's receive buffer as the mediator sees it.
                let s = ps.state().map_err(st)?;
                let me = std::process::id() as i32;
                let p = s
                    .processes
                    .iter()
                    .find(|p| p.pid == me)
                    .ok_or("this process is not in the dump")?;
                Ok(format!("used={} ranges={}", p.buffer.used, p.buffer.ranges))
            }
            "state" => {
                let s = ps.state().map_err(st)?;
                let pids: Vec<String> = s.processes.iter().map(|p| p.pid.to_string()).collect();
                Ok(format!("pids={}", pids.join(",")))
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }
}

/// Forks; the child calls `whoami` on `svc` and writes what it got. The
/// child only makes the call (which a forked child's runtime refuses
/// before it takes any lock), writes to a pipe and `_exit`s.
#[allow(unsafe_code)]
fn fork_whoami(svc: &TestProxy) -> Answer {
    let (r, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
    // SAFETY: the child only makes one call, writes to a pipe and _exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        drop(r);
        let line = match svc.whoami() {
            Ok(who) => format!(
                "child_ok served_pid={} child_pid={}",
                who.pid,
                std::process::id()
            ),
            Err(e) => format!("child_err {}", st(e)),
        };
        let mut f = std::fs::File::from(wr);
        let _ = f.write_all(line.as_bytes());
        drop(f);
        // SAFETY: no destructors, no atexit handlers in the child.
        unsafe { libc::_exit(0) };
    }
    drop(wr);
    let mut s = String::new();
    std::fs::File::from(r)
        .read_to_string(&mut s)
        .map_err(|e| e.to_string())?;
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    Ok(s)
}
