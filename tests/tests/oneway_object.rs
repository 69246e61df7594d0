//! A local object sent only inside a oneway call stays exported for as long
//! as calls to it are on their way: the service that got it calls it back
//! (oneway) and lets go of it at once, and the call back must still find
//! the object in the sender. Before the mediator held a called node for
//! its calls in flight, the owner could be told `Release`/`DecRefs` while
//! the call back was still queued for it; a second pool thread applied them
//! first, the object was unexported, and the call back failed as "the
//! target object is no longer exported here".
//!
//! The test re-runs this binary as the two processes (a service that is
//! also the context manager, and a client), so nothing else is involved.
//! `CAPBINDER_STRESS_ITERATIONS` sets how many fresh objects the client
//! sends (default 3000).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use capbinder::{new_binder, Binder, Parcel, ProcessState, Result, SpIBinder};
use capbinder_tests::harness::Context;

const ROLE: &str = "CAPBINDER_ONEWAY_OBJECT_ROLE";
const SOCKET: &str = "CAPBINDER_ONEWAY_OBJECT_SOCKET";
const ITERATIONS: &str = "CAPBINDER_STRESS_ITERATIONS";

/// Service: `oneway take(cb, n)` calls `cb.done(n)` (oneway) and drops it.
const TAKE: u32 = 1;
/// Service: `oneway take(cb, n)` calls `cb.done(n)` and keeps `cb` until
/// the next `TAKE_KEEP` (so the previous object's release races the new
/// one's send).
const TAKE_KEEP: u32 = 2;
/// Callback: `oneway done(n)`.
const DONE: u32 = 3;

struct Service {
    kept: Mutex<Option<SpIBinder>>,
}

impl Binder for Service {
    fn descriptor(&self) -> &str {
        "capbinder.test.OnewayObjectService"
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, _reply: &mut Parcel) -> Result<()> {
        let cb = data.read_binder()?;
        let n: u32 = data.read()?;
        let mut p = Parcel::new();
        p.write(&n)?;
        cb.transact(DONE, p, true)?;
        if code == TAKE_KEEP {
            let old = self
                .kept
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .replace(cb);
            drop(old);
        }
        Ok(())
    }
}

struct Callback {
    done: Mutex<mpsc::Sender<u32>>,
}

impl Binder for Callback {
    fn descriptor(&self) -> &str {
        "capbinder.test.OnewayObjectCallback"
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, _reply: &mut Parcel) -> Result<()> {
        assert_eq!(code, DONE);
        let n: u32 = data.read()?;
        let _ = self.done.lock().unwrap_or_else(|e| e.into_inner()).send(n);
        Ok(())
    }
}

fn run_service(socket: &Path) {
    let ps = ProcessState::init(Some(socket)).expect("connecting");
    let me = new_binder(Service {
        kept: Mutex::new(None),
    });
    ps.become_context_manager(&me).expect("context manager");
    ps.set_max_threads(4).expect("max threads");
    println!("ready");
    let _ = ps.join_thread_pool();
}

fn run_client(socket: &Path, iterations: u32) {
    let ps = ProcessState::init(Some(socket)).expect("connecting");
    ps.set_max_threads(4).expect("max threads");
    ps.start_thread_pool();
    let service = ps.context_manager();
    let mut failed = 0;
    for i in 0..iterations {
        let (tx, rx) = mpsc::channel();
        let cb = new_binder(Callback {
            done: Mutex::new(tx),
        });
        let mut p = Parcel::new();
        p.write_binder(&cb).expect("writing the callback");
        p.write(&i).expect("writing n");
        let code = if i % 2 == 0 { TAKE } else { TAKE_KEEP };
        service.transact(code, p, true).expect("oneway take");
        // The client holds the callback until it was called.
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(n) if n == i => {}
            other => {
                failed += 1;
                println!("FAIL iteration {i} (code {code}): {other:?}");
            }
        }
        drop(cb);
    }
    println!("done {iterations} iterations, {failed} failed");
}

fn reap(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// The child side: runs a role when this binary was started as one.
#[test]
fn child_role() {
    let (Ok(role), Ok(socket)) = (std::env::var(ROLE), std::env::var(SOCKET)) else {
        return;
    };
    let socket = Path::new(&socket);
    match role.as_str() {
        "service" => run_service(socket),
        "client" => {
            let n = std::env::var(ITERATIONS)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3000);
            run_client(socket, n)
        }
        other => panic!("unknown role {other}"),
    }
}

fn spawn(role: &str, socket: &Path) -> Child {
    Command::new(std::env::current_exe().expect("current exe"))
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(SOCKET, socket)
        .env_remove("CAPBINDER_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning a role")
}

#[test]
fn an_object_sent_only_in_a_oneway_call_stays_exported_for_its_call_back() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let ctx = Context::start(&exe);
    let mut service = spawn("service", ctx.socket());
    let mut lines = BufReader::new(service.stdout.take().expect("piped")).lines();
    loop {
        match lines.next() {
            // libtest may have written "test child_role ... " first.
            Some(Ok(l)) if l.ends_with("ready") => break,
            Some(Ok(_)) => {}
            other => panic!("the service did not start: {other:?}"),
        }
    }
    let mut client = spawn("client", ctx.socket());
    let out = BufReader::new(client.stdout.take().expect("piped"));
    let mut summary = None;
    let mut failures = Vec::new();
    for l in out.lines().map_while(std::result::Result::ok) {
        if let Some(i) = l.find("FAIL ") {
            failures.push(l[i..].to_string());
        } else if let Some(i) = l.find("done ") {
            summary = Some(l[i..].to_string());
        }
    }
    let status = client.wait().expect("waiting for the client");
    reap(service);
    eprintln!("{}", summary.as_deref().unwrap_or("(no summary)"));
    assert!(status.success(), "the client failed: {status}");
    assert!(summary.is_some(), "the client gave no summary");
    assert!(
        failures.is_empty(),
        "call backs to objects sent only in oneway calls were lost:\n{}",
        failures.join("\n")
    );
}
