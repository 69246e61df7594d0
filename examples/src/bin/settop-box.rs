//! A set-top box in the spirit of KBUS, on multicast topics: a tuner
//! publishes channel and signal events to a guide, a recorder and a logger.
//! Midway the recorder is killed and restarted; it picks up again from the
//! topic's current sequence number while the others never miss a message.
//! When the tuner is done, every subscriber hears that no publisher is left.
//!
//! `cargo run -p capbinder-examples --bin settop-box`

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{
    calling_identity, new_binder, Binder, Parcel, ProcessState, Rights, Topic, TopicListener,
};
use capbinder_kmod_shim::mediator::{config::Config, Mediator};

const TOPIC: &str = "tv.events";
const EVENTS: u32 = 60;
/// Event codes: subscribers may filter on them.
const CHANNEL: u32 = 1;
const SIGNAL: u32 = 2;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("settop-box: {msg}");
    std::process::exit(1)
}

struct Role {
    child: Child,
    lines: Receiver<String>,
    name: String,
}

impl Role {
    fn start(name: &str, socket: &Path) -> Role {
        let mut child = Command::new(std::env::current_exe().unwrap_or_else(|e| fail(e)))
            .arg(name)
            .arg(socket)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(format!("starting {name}: {e}")));
        let out = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut r = Role {
            child,
            lines: rx,
            name: name.into(),
        };
        r.until("ready");
        r
    }

    /// Prints this role's lines until one contains `what`.
    fn until(&mut self, what: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => {
                    println!("  [{}] {l}", self.name);
                    if l.contains(what) {
                        return;
                    }
                }
                Err(_) => fail(format!("{} did not say {what:?}", self.name)),
            }
        }
    }
}

struct Viewer {
    name: String,
    seen: Arc<(Mutex<u32>, Condvar)>,
}

impl Binder for Viewer {
    fn descriptor(&self) -> &str {
        "tv.IEventListener"
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        _reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        let value: u32 = data.read()?;
        let seq = calling_identity().and_then(|c| c.topic_seq).unwrap_or(0);
        let what = match code {
            CHANNEL => format!("channel {value}"),
            _ => format!("signal {value}%"),
        };
        println!("{}: #{seq} {what}", self.name);
        let (n, cv) = &*self.seen;
        *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cv.notify_all();
        Ok(())
    }
}

impl TopicListener for Viewer {
    fn gap(&self, lost: u64, next_seq: u64) {
        println!("{}: missed {lost} events before #{next_seq}", self.name);
    }
    fn publishers_gone(&self) {
        println!("{}: the tuner is gone", self.name);
        std::process::exit(0);
    }
}

fn role(name: &str, socket: &Path) -> capbinder::Result<()> {
    let ps = ProcessState::init(Some(socket))?;
    match name {
        "servicemanager" => {
            let sm = new_binder(ServiceManagerService::new(Policy::default_for(
                rustix::process::geteuid().as_raw(),
            )));
            ps.become_context_manager(&sm)?;
            println!("ready");
            ps.join_thread_pool()
        }
        "tuner" => {
            let topic = Topic::create(64, false)?;
            ServiceManager::get()?.add_service_with_rights(
                TOPIC,
                topic.as_binder(),
                Rights::SUBSCRIBE | Rights::TRANSFER,
            )?;
            println!("ready: publishing {TOPIC}");
            let mut go = String::new();
            let _ = std::io::stdin().read_line(&mut go);
            for i in 0..EVENTS {
                let mut p = Parcel::new();
                let (code, value) = if i % 3 == 0 {
                    (CHANNEL, 1 + i / 3)
                } else {
                    (SIGNAL, 60 + (i * 7) % 40)
                };
                p.write(&value)?;
                topic.publish(code, p)?;
                std::thread::sleep(Duration::from_millis(25));
            }
            println!("done: {EVENTS} events");
            Ok(())
        }
        viewer => {
            ps.start_thread_pool();
            let topic = Topic::from_binder(ServiceManager::get()?.wait_for_service(TOPIC)?)?;
            let seen = Arc::new((Mutex::new(0u32), Condvar::new()));
            let make = || Viewer {
                name: viewer.to_string(),
                seen: seen.clone(),
            };
            // The logger wants everything; the guide only channel changes.
            let codes: &[u32] = if viewer == "guide" { &[CHANNEL] } else { &[] };
            let _sub = topic.subscribe(&new_binder(make()), codes, Some(Arc::new(make())))?;
            println!("ready: subscribed");
            loop {
                std::thread::park();
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 {
        if let Err(e) = role(&args[1], Path::new(&args[2])) {
            fail(e);
        }
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("cbtv")
        .tempdir_in("/tmp")
        .unwrap_or_else(|e| fail(e));
    let socket = dir.path().join("capbinder.sock");
    let mediator = Mediator::bind(&socket, Config::default()).unwrap_or_else(|e| fail(e));
    let stop = mediator.shutdown_handle().unwrap_or_else(|e| fail(e));
    let loop_thread = std::thread::spawn(move || mediator.run());
    println!("mediator on {}", socket.display());
    let mut sm = Role::start("servicemanager", &socket);
    let mut tuner = Command::new(std::env::current_exe().unwrap_or_else(|e| fail(e)))
        .args(["tuner", socket.to_str().expect("UTF-8 path")])
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| fail(e));
    let mut guide = Role::start("guide", &socket);
    let mut recorder = Role::start("recorder", &socket);
    let mut logger = Role::start("logger", &socket);
    use std::io::Write;
    let _ = writeln!(tuner.stdin.as_mut().expect("piped"), "go");
    recorder.until("#10 ");
    println!("-- killing the recorder");
    let _ = recorder.child.kill();
    let _ = recorder.child.wait();
    let mut recorder = Role::start("recorder", &socket);
    println!("-- recorder restarted");
    let _ = tuner.wait();
    for r in [&mut guide, &mut recorder, &mut logger] {
        r.until("the tuner is gone");
    }
    let _ = sm.child.kill();
    let _ = sm.child.wait();
    stop.trigger();
    let _ = loop_thread.join();
    println!("done.");
}
