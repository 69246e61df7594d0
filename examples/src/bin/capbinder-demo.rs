//! The demo: starts a mediator (in this process, on a private socket), a
//! service manager and the echo service (as child processes), then, as a
//! client, shows a call, a nested call through a callback object, and a
//! death notification when it kills the service.
//!
//! `cargo run -p capbinder-examples --bin capbinder-demo`

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{new_binder, DeathRecipient, ProcessState, WeakBinder};
use capbinder_examples::{callback, echo, BnEcho, EchoService, SERVICE_NAME};
use capbinder_kmod_shim::mediator::{config::Config, Mediator};

const TIMEOUT: Duration = Duration::from_secs(30);

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("capbinder-demo: {msg}");
    std::process::exit(1)
}

/// Runs this binary again in another role; waits for its "ready" line.
fn spawn_role(role: &str, socket: &Path) -> Child {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let mut child = Command::new(exe)
        .arg(role)
        .arg(socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(format!("starting {role}: {e}")));
    let out = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(line) => println!("  [{role}] {line}"),
        Err(_) => fail(format!("{role} did not start")),
    }
    child
}

fn role_main(role: &str, socket: &Path) -> capbinder::Result<()> {
    let ps = ProcessState::init(Some(socket))?;
    match role {
        "servicemanager" => {
            let sm = new_binder(ServiceManagerService::new(Policy::default_for(
                rustix::process::geteuid().as_raw(),
            )));
            ps.become_context_manager(&sm)?;
            println!("service manager ready (pid {})", std::process::id());
        }
        "service" => {
            ServiceManager::get()?.add_service(SERVICE_NAME, &BnEcho::new_binder(EchoService))?;
            println!(
                "echo service registered as {SERVICE_NAME} (pid {})",
                std::process::id()
            );
        }
        _ => fail(format!("unknown role {role}")),
    }
    ps.join_thread_pool()
}

struct Notify(mpsc::Sender<()>);

impl DeathRecipient for Notify {
    fn binder_died(&self, _who: &WeakBinder) {
        let _ = self.0.send(());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 {
        if let Err(e) = role_main(&args[1], Path::new(&args[2])) {
            fail(e);
        }
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("cbdemo")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| fail(e));
    let socket: PathBuf = dir.path().join("capbinder.sock");
    println!("1. starting the mediator on {}", socket.display());
    let mediator = Mediator::bind(&socket, Config::default()).unwrap_or_else(|e| fail(e));
    let stop = mediator.shutdown_handle().unwrap_or_else(|e| fail(e));
    let loop_thread = std::thread::spawn(move || mediator.run());
    println!("2. starting the service manager and the echo service");
    let mut sm = spawn_role("servicemanager", &socket);
    let mut service = spawn_role("service", &socket);

    let ps = ProcessState::init(Some(&socket)).unwrap_or_else(|e| fail(e));
    ps.start_thread_pool();
    let binder = ServiceManager::get()
        .and_then(|s| s.get_service(SERVICE_NAME))
        .unwrap_or_else(|e| fail(e));
    // the generated proxy for `example.IEcho`
    let echo = echo(binder.clone()).unwrap_or_else(|e| fail(e));
    println!(
        "3. a call:        echo(\"hello\") = {:?}",
        echo.echo("hello").unwrap_or_else(|e| fail(e))
    );
    let cb = callback("callback ran in the client: ");
    println!(
        "4. a nested call: callMeBack(cb, \"nested\") = {:?}",
        echo.call_me_back(&cb, "nested").unwrap_or_else(|e| fail(e))
    );
    let (tx, rx) = mpsc::channel();
    binder
        .link_to_death(Arc::new(Notify(tx)))
        .unwrap_or_else(|e| fail(e));
    println!(
        "5. linked to the service's death; killing the service (pid {})",
        service.id()
    );
    let _ = service.kill();
    let _ = service.wait();
    match rx.recv_timeout(TIMEOUT) {
        Ok(()) => println!("6. death notification received"),
        Err(_) => fail("no death notification within 30 s"),
    }
    match echo.echo("anyone there?") {
        Err(e) => println!("7. a call to the dead service fails clearly: {e}"),
        Ok(s) => fail(format!("the dead service answered {s:?}")),
    }
    let _ = sm.kill();
    let _ = sm.wait();
    stop.trigger();
    let _ = loop_thread.join();
    println!("done.");
}
