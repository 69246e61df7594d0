//! Two sandboxed apps, each reaching only its own service, and a launcher
//! watching both for death. Needs root (the sandbox makes namespaces,
//! mounts and per-app uids):
//!
//! `sudo cargo run -p capbinder-examples --bin sandbox-demo`
//!
//! What happens: this process starts a mediator (on a private socket), a
//! service manager (a child process), and serves two services,
//! `media.player` and `contacts`. It launches this same binary twice as
//! sandboxed apps, `demo-player` (manifest: `media.player`) and
//! `demo-contacts` (manifest: `contacts`). Each app calls its own service,
//! is refused the other's, and hands its service a token object; the
//! launcher links to the death of both tokens. Then the launcher freezes
//! the player (a call to it gets a frozen reply), thaws it, and kills both
//! apps: two death notifications arrive.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use capbinder::sandbox::{Config, Manifest, Sandbox};
use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{
    new_binder, Binder, DeathRecipient, Parcel, ProcessState, Result, SpIBinder, Status,
    StatusCode, WeakBinder, FIRST_CALL_TRANSACTION,
};
use capbinder_kmod_shim::mediator::{config::Config as MediatorConfig, Mediator};

const TIMEOUT: Duration = Duration::from_secs(30);
/// `String ask(String)`.
const ASK: u32 = FIRST_CALL_TRANSACTION;
/// `void hello(IBinder token)`: an app introduces itself.
const HELLO: u32 = FIRST_CALL_TRANSACTION + 1;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("sandbox-demo: {msg}");
    std::process::exit(1)
}

/// A service that answers questions and collects the tokens apps send.
struct DemoService {
    name: &'static str,
    tokens: Mutex<mpsc::Sender<(String, SpIBinder)>>,
}

impl Binder for DemoService {
    fn descriptor(&self) -> &str {
        "demo.IService"
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        match code {
            ASK => {
                let q: String = data.read()?;
                // The mediator knows a sandboxed caller by its app name too.
                let who = capbinder::calling_identity()
                    .map(|c| format!("uid {} (app {})", c.uid, c.label.as_deref().unwrap_or("?")))
                    .unwrap_or_default();
                let answer = match self.name {
                    "media.player" => format!("now playing {q:?} for {who}"),
                    _ => format!("{q}'s number is 555-0100 (asked by {who})"),
                };
                reply.write(&answer)
            }
            HELLO => {
                let token = data.read_binder()?;
                let _ = self
                    .tokens
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send((self.name.to_string(), token));
                Ok(())
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "no such code",
            )),
        }
    }
}

/// An app's token: a local object whose death the launcher watches.
struct Token(String);

impl Binder for Token {
    fn descriptor(&self) -> &str {
        "demo.IToken"
    }

    fn on_transact(&self, _code: u32, _data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        reply.write(&format!("{} is alive", self.0))
    }
}

fn ask(service: &SpIBinder, q: &str) -> Result<String> {
    let mut p = Parcel::new();
    p.write(q)?;
    service.transact(ASK, p, false)?.read()
}

/// Inside the sandbox: call our service, try the other, hand over a token,
/// then serve it.
fn app_main(mine: &str, other: &str) -> Result<()> {
    let app = std::env::var("CAPBINDER_APP").unwrap_or_default();
    let ps = ProcessState::get()?;
    let sm = ServiceManager::get()?;
    let service = sm.get_service(mine)?;
    println!("  [{app}] {mine}: {}", ask(&service, "hello")?);
    match sm.check_service(other) {
        Err(e) => println!("  [{app}] {other}: refused: {}", e.message),
        Ok(_) => println!("  [{app}] {other}: reachable (it should not be)"),
    }
    match std::fs::read_to_string("/etc/passwd") {
        Err(e) => println!("  [{app}] /etc/passwd: {e}"),
        Ok(_) => println!("  [{app}] /etc/passwd: readable (it should not be)"),
    }
    let mut p = Parcel::new();
    p.write_binder(&new_binder(Token(app.clone())))?;
    service.transact(HELLO, p, false)?;
    ps.join_thread_pool()
}

struct Died(String, mpsc::Sender<String>);

impl DeathRecipient for Died {
    fn binder_died(&self, _who: &WeakBinder) {
        let _ = self.1.send(self.0.clone());
    }
}

fn start_service_manager(socket: &Path) -> std::process::Child {
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let mut child = Command::new(exe)
        .arg("servicemanager")
        .arg(socket)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(format!("starting the service manager: {e}")));
    let mut line = String::new();
    let out = child.stdout.take().expect("piped");
    BufReader::new(out)
        .read_line(&mut line)
        .unwrap_or_else(|e| fail(e));
    child
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("servicemanager") => {
            let ps = ProcessState::init(args.get(2).map(Path::new)).unwrap_or_else(|e| fail(e));
            let sm = new_binder(ServiceManagerService::new(Policy::default_for(0)));
            ps.become_context_manager(&sm).unwrap_or_else(|e| fail(e));
            println!("ready");
            let _ = ps.join_thread_pool();
            return;
        }
        Some("app") => {
            let (mine, other) = match args.get(2).map(String::as_str) {
                Some("player") => ("media.player", "contacts"),
                _ => ("contacts", "media.player"),
            };
            if let Err(e) = app_main(mine, other) {
                fail(e);
            }
            return;
        }
        _ => {}
    }
    if !rustix::process::geteuid().is_root() {
        fail("run me as root: the sandbox makes namespaces, mounts and per-app uids");
    }
    let dir = tempfile::Builder::new()
        .prefix("cbsbdemo")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| fail(e));
    let socket: PathBuf = dir.path().join("capbinder.sock");
    println!(
        "1. mediator on {}, service manager, services media.player and contacts",
        socket.display()
    );
    let mediator = Mediator::bind(&socket, MediatorConfig::default()).unwrap_or_else(|e| fail(e));
    let stop = mediator.shutdown_handle().unwrap_or_else(|e| fail(e));
    let loop_thread = std::thread::spawn(move || mediator.run());
    let mut sm_child = start_service_manager(&socket);
    let ps = ProcessState::init(Some(&socket)).unwrap_or_else(|e| fail(e));
    ps.start_thread_pool();
    let (tok_tx, tok_rx) = mpsc::channel();
    let sm = ServiceManager::get().unwrap_or_else(|e| fail(e));
    for name in ["media.player", "contacts"] {
        let svc = new_binder(DemoService {
            name,
            tokens: Mutex::new(tok_tx.clone()),
        });
        sm.add_service(name, &svc).unwrap_or_else(|e| fail(e));
    }

    let sandbox = Sandbox::new(Config {
        state_dir: dir.path().join("state"),
        socket: Some(socket.clone()),
        ..Config::default()
    });
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(e));
    let launch = |name: &str, service: &str, role: &str| {
        let mut m = Manifest::named(name);
        m.services.push(service.to_string());
        let app = sandbox
            .launch(
                &m,
                &exe,
                &[OsString::from("app"), OsString::from(role)],
                &[],
            )
            .unwrap_or_else(|e| fail(e));
        println!(
            "2. launched {} as uid {}, pid {} (may find only {service})",
            app.name, app.uid, app.pid
        );
        app
    };
    let player = launch("demo-player", "media.player", "player");
    let contacts = launch("demo-contacts", "contacts", "contacts");

    let (dead_tx, dead_rx) = mpsc::channel();
    let mut tokens = std::collections::HashMap::new();
    for _ in 0..2 {
        let (service, token) = tok_rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| fail("an app did not say hello"));
        token
            .link_to_death(Arc::new(Died(service.clone(), dead_tx.clone())))
            .unwrap_or_else(|e| fail(e));
        tokens.insert(service, token);
    }
    println!("3. both apps handed over a token; watching both for death");

    let player_token = &tokens["media.player"];
    sandbox.freeze("demo-player").unwrap_or_else(|e| fail(e));
    match ask(player_token, "?") {
        Err(e) => println!("4. froze demo-player: a call to it gets: {e}"),
        Ok(s) => println!("4. froze demo-player, yet it answered {s:?}"),
    }
    sandbox.thaw("demo-player").unwrap_or_else(|e| fail(e));
    println!(
        "5. thawed demo-player: {}",
        ask(player_token, "?").unwrap_or_else(|e| fail(e))
    );

    for name in ["demo-player", "demo-contacts"] {
        sandbox.kill(name).unwrap_or_else(|e| fail(e));
    }
    for _ in 0..2 {
        let who = dead_rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| fail("no death notification"));
        println!("6. death notification: the app behind {who} is gone");
    }
    let _ = player.wait();
    let _ = contacts.wait();
    let _ = sm_child.kill();
    let _ = sm_child.wait();
    stop.trigger();
    let _ = loop_thread.join();
    println!("done.");
}
