//! D-Bus, the peer: a private `dbus-daemon` (config file naming a unix
//! socket in our temporary directory, `--print-address`) and, where it is
//! installed, `dbus-broker` (socket-activated through
//! `dbus-broker-launch`), never the machine's system or session bus.
//! The server and every client use zbus's blocking API, except that sync
//! calls are also made through libdbus-1, the reference C library (the
//! `dbus` crate), taking turns with zbus's.
//!
//! `dbus-broker-launch` has no listen option: it gets the listening socket
//! as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` = its own pid (a shell
//! sets both, then `exec`s it), says `READY=1` on `NOTIFY_SOCKET`, logs to
//! `/run/systemd/journal/socket`, and connects back to the bus it serves
//! through `DBUS_SESSION_BUS_ADDRESS` (sd-bus's user bus; it needs
//! `XDG_RUNTIME_DIR` set too). Where no journal runs, it is started in a
//! private mount namespace (`unshare -m`) where this binary's
//! `broker-ns` role mounts a tmpfs over `/run/systemd` and binds a
//! datagram socket there that it drains.

use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use capbinder_kmod_shim::bench::procs::{self, Helper};
use capbinder_kmod_shim::bench::stats::Summary;
use zbus::blocking::connection::Builder;
use zbus::blocking::{Connection, MessageIterator};
use zbus::message::{Message, Type as MsgType};
use zbus::names::BusName;

use crate::broadcast::{Publisher, Tally};
pub use crate::dbus_kinds::{Client, Daemon};
use crate::util::{self, Ctx, Res};

const NAME: &str = "org.capbinder.Bench";
const PATH: &str = "/org/capbinder/Bench";

fn config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
  <limit name="max_message_size">134217728</limit>
  <limit name="max_incoming_bytes">1000000000</limit>
  <limit name="max_outgoing_bytes">1000000000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
</busconfig>
"#,
        socket.display()
    )
}

/// A running private bus, the echo server on it, and this process's
/// connection.
pub struct Bus {
    daemon: Daemon,
    address: String,
    conn: Connection,
    /// The same process's libdbus connection to the bus, or why there is
    /// none (its sync cases are then skipped with that reason).
    lib: Result<dbus::channel::Channel, String>,
    server: Helper,
    bus: Helper,
}

impl Bus {
    /// Starts `daemon` and the server on CPU `far`; `Err` with the reason
    /// to print when it cannot run here.
    pub fn start(daemon: Daemon, dir: &Path, far: usize, home: usize) -> Res<Bus> {
        let sub = dir.join(daemon.name());
        std::fs::create_dir_all(&sub).ctx("creating the bus directory")?;
        let socket = sub.join("bus.sock");
        let conf = sub.join("bus.conf");
        std::fs::write(&conf, config(&socket)).ctx("writing the bus config")?;
        let (bus, address) = match daemon {
            Daemon::DbusDaemon => start_daemon(&conf, far, home)?,
            Daemon::Broker => start_broker(&sub, &socket, &conf, far, home)?,
        };
        let mut cmd = procs::self_command("dbus-serve").map_err(|e| e.to_string())?;
        cmd.arg("--address")
            .arg(&address)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut server = Helper::new(
            format!("zbus server on {}", daemon.name()),
            procs::spawn_on(far, home, &mut cmd).map_err(|e| e.to_string())?,
        );
        server.wait_line("ready").map_err(|e| e.to_string())?;
        let conn = Builder::address(address.as_str())
            .and_then(|b| b.build())
            .ctx("connecting to the bus")?;
        let lib = dbus::channel::Channel::open_private(&address)
            .map_err(|e| format!("libdbus could not connect to the bus: {e}"))
            .and_then(|mut c| {
                c.register()
                    .map_err(|e| format!("libdbus's Hello to the bus failed: {e}"))?;
                Ok(c)
            });
        Ok(Bus {
            daemon,
            address,
            conn,
            lib,
            server,
            bus,
        })
    }

    /// Which daemon.
    pub fn daemon(&self) -> Daemon {
        self.daemon
    }

    /// Its address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Pins the bus (its whole process tree) and the server to `far`.
    pub fn place(&self, far: usize) -> Res<()> {
        util::repin_tree(self.bus.pid(), far)?;
        util::repin(self.server.pid(), far)
    }

    /// The name of `client`'s sync rows on this bus: the daemon's name for
    /// zbus (as before libdbus was measured), with `-libdbus` after it
    /// for libdbus.
    pub fn sync_mech(&self, client: Client) -> String {
        match client {
            Client::Zbus => self.daemon.name().into(),
            Client::Libdbus => format!("{}-libdbus", self.daemon.name()),
        }
    }

    /// Why `client` cannot make calls on this bus, if it cannot.
    pub fn unavailable(&self, client: Client) -> Option<&str> {
        match (client, &self.lib) {
            (Client::Libdbus, Err(why)) => Some(why),
            _ => None,
        }
    }

    /// The clients that can make calls on this bus, zbus first.
    pub fn clients(&self) -> Vec<Client> {
        Client::ALL
            .into_iter()
            .filter(|&c| self.unavailable(c).is_none())
            .collect()
    }

    /// One sync method call through `client` with `payload` bytes each
    /// way, as a measured case: a fresh payload per call into the
    /// client's buffer, as every mechanism writes one; the echo checked in
    /// full when asked.
    pub fn sync_call(&self, client: Client, payload: usize) -> impl FnMut(bool) -> Res<()> + '_ {
        let mut req = vec![0u8; payload];
        let mut seed = 0u8;
        move |check| {
            seed = seed.wrapping_add(1);
            capbinder_kmod_shim::bench::pattern(&mut req, seed);
            let check_echo = |got: &[u8]| {
                if got.len() != req.len() || (check && got != &req[..]) {
                    return Err(format!(
                        "the D-Bus echo came back wrong ({} bytes for {})",
                        got.len(),
                        req.len()
                    ));
                }
                Ok(())
            };
            match client {
                Client::Zbus => {
                    let reply = self
                        .conn
                        .call_method(Some(NAME), PATH, Some(NAME), "Echo", &(&req[..],))
                        .ctx("D-Bus call")?;
                    let body = reply.body();
                    check_echo(body.deserialize().ctx("D-Bus reply")?)
                }
                Client::Libdbus => {
                    let lib = self.lib.as_ref().map_err(|why| why.clone())?;
                    let call =
                        dbus::Message::new_method_call(NAME, PATH, NAME, "Echo")?.append1(&req[..]);
                    let reply = lib
                        .send_with_reply_and_block(call, Duration::from_secs(60))
                        .map_err(|e| format!("libdbus call: {e}"))?;
                    check_echo(reply.read1().map_err(|e| format!("libdbus reply: {e}"))?)
                }
            }
        }
    }

    /// `total` 32-byte calls with up to `window` in flight. Samples: from
    /// each send to its reply.
    pub fn pipelined_case(&self, client: Client, total: usize, window: usize) -> Res<Summary> {
        let req = [0x33u8; 32];
        match client {
            Client::Zbus => {
                let mut it = MessageIterator::from(&self.conn);
                let send = || -> Res<u32> {
                    let m = Message::method_call(PATH, "Echo")
                        .and_then(|b| b.destination(NAME))
                        .and_then(|b| b.interface(NAME))
                        .and_then(|b| b.build(&(&req[..],)))
                        .ctx("building a D-Bus call")?;
                    let serial = m.primary_header().serial_num().get();
                    self.conn.send(&m).ctx("sending a D-Bus call")?;
                    Ok(serial)
                };
                let recv = || -> Res<Option<u32>> {
                    let msg = it
                        .next()
                        .ok_or("the D-Bus connection closed")?
                        .ctx("receiving a D-Bus reply")?;
                    if msg.message_type() != MsgType::MethodReturn {
                        return Ok(None);
                    }
                    Ok(msg.header().reply_serial().map(|s| s.get()))
                };
                pipeline(total, window, send, recv)
            }
            Client::Libdbus => {
                let lib = self.lib.as_ref().map_err(|why| why.clone())?;
                let send = || -> Res<u32> {
                    let m =
                        dbus::Message::new_method_call(NAME, PATH, NAME, "Echo")?.append1(&req[..]);
                    lib.send(m)
                        .map_err(|()| "libdbus: sending a call failed".to_string())
                };
                let recv = || -> Res<Option<u32>> {
                    let msg = lib
                        .blocking_pop_message(Duration::from_secs(60))
                        .map_err(|e| format!("libdbus: receiving a reply: {e}"))?
                        .ok_or("libdbus: no reply within 60 s")?;
                    if msg.msg_type() != dbus::MessageType::MethodReturn {
                        return Ok(None);
                    }
                    Ok(msg.get_reply_serial())
                };
                pipeline(total, window, send, recv)
            }
        }
    }

    /// Emits one signal `(burst, ack, payload)`.
    fn emit(&self, burst: u64, ack: bool, payload: &[u8]) -> Res<()> {
        self.conn
            .emit_signal(
                None::<BusName<'_>>,
                PATH,
                NAME,
                "Tick",
                &(burst, ack, payload),
            )
            .ctx("emitting a D-Bus signal")
    }
}

/// `total` calls with up to `window` in flight, after a tenth as many
/// (at least a window) untimed: `send` sends one and gives its serial,
/// `recv` reads one message and gives the serial it answers, if it is a
/// reply. Samples: from each send to its reply.
fn pipeline(
    total: usize,
    window: usize,
    mut send: impl FnMut() -> Res<u32>,
    mut recv: impl FnMut() -> Res<Option<u32>>,
) -> Res<Summary> {
    let mut run = |n: usize| -> Res<(Vec<u64>, Duration)> {
        let mut sent_at: std::collections::HashMap<u32, Instant> = Default::default();
        let mut samples = Vec::with_capacity(n);
        let start = Instant::now();
        let mut sent = 0;
        while samples.len() < n {
            while sent < n && sent_at.len() < window {
                let t0 = Instant::now();
                sent_at.insert(send()?, t0);
                sent += 1;
            }
            if let Some(t) = recv()?.and_then(|s| sent_at.remove(&s)) {
                samples.push(t.elapsed().as_nanos() as u64);
            }
        }
        Ok((samples, start.elapsed()))
    };
    run((total / 10).max(window))?;
    let (samples, elapsed) = run(total)?;
    Ok(util::summarize(samples, elapsed))
}

/// A log file for a daemon's stderr (its chatter stays out of ours).
fn log_file(path: &Path) -> Res<std::fs::File> {
    std::fs::File::create(path).ctx(&format!("creating {}", path.display()))
}

fn start_daemon(conf: &Path, far: usize, home: usize) -> Res<(Helper, String)> {
    let exe = util::which("dbus-daemon").ok_or("dbus-daemon is not installed")?;
    let mut cmd = procs::tied_command(&exe).map_err(|e| e.to_string())?;
    cmd.arg(format!("--config-file={}", conf.display()))
        .arg("--print-address")
        .arg("--nofork")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(&conf.with_extension("log"))?);
    let mut h = Helper::new(
        "dbus-daemon",
        procs::spawn_on(far, home, &mut cmd).map_err(|e| e.to_string())?,
    );
    let line = h.wait_line("unix:").map_err(|e| e.to_string())?;
    Ok((h, line.trim().to_string()))
}

fn start_broker(
    dir: &Path,
    socket: &Path,
    conf: &Path,
    far: usize,
    home: usize,
) -> Res<(Helper, String)> {
    let launch = util::which("dbus-broker-launch")
        .ok_or("dbus-broker is not installed (apt-get install dbus-broker)")?;
    let journal = Path::new("/run/systemd/journal/socket").exists();
    if !journal && util::which("unshare").is_none() {
        return Err("no journal socket and no unshare(1) to give dbus-broker a private one".into());
    }
    let listener = UnixListener::bind(socket).ctx("binding the broker's socket")?;
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).ctx("binding NOTIFY_SOCKET")?;
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ctx("SO_RCVTIMEO")?;
    let xdg = dir.join("xdg");
    std::fs::create_dir_all(&xdg).ctx("creating XDG_RUNTIME_DIR")?;
    let address = format!("unix:path={}", socket.display());
    let mut cmd = if journal {
        let mut c = procs::self_command("broker-exec").map_err(|e| e.to_string())?;
        c.arg("--launch").arg(&launch);
        c
    } else {
        let unshare = util::which("unshare").ok_or("unshare(1) is missing")?;
        let mut c = procs::tied_command(&unshare).map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().ctx("finding this program")?;
        c.arg("-m")
            .arg("--propagation")
            .arg("private")
            .arg(exe)
            .arg("broker-ns")
            .arg("--launch")
            .arg(&launch);
        c
    };
    cmd.arg("--config-file")
        .arg(conf)
        .env("NOTIFY_SOCKET", &notify_path)
        .env("XDG_RUNTIME_DIR", &xdg)
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .stdout(Stdio::null())
        .stderr(log_file(&dir.join("broker.log"))?);
    let h = Helper::new(
        "dbus-broker-launch",
        procs::spawn_on(far, home, &mut cmd).map_err(|e| e.to_string())?,
    );
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = notify.recv(&mut buf).map_err(|e| {
            format!(
                "waiting for dbus-broker's READY=1: {e}; its log: {}",
                std::fs::read_to_string(dir.join("broker.log"))
                    .unwrap_or_default()
                    .trim()
                    .replace('\n', " | ")
            )
        })?;
        let msg = String::from_utf8_lossy(&buf[..n]);
        if msg.lines().any(|l| l == "READY=1") {
            break;
        }
        if Instant::now() > deadline {
            return Err("dbus-broker did not say READY=1".into());
        }
    }
    // The launcher connects back to the broker after READY=1; give it a
    // moment so that a failure shows here and not in the first case.
    std::thread::sleep(Duration::from_millis(200));
    Ok((h, address))
}

/// The hidden `broker-ns` role, in a private mount namespace: a tmpfs
/// over `/run/systemd` with a journal socket we drain, then the launcher
/// (through `broker-exec`).
pub fn broker_ns_role(launch: &Path, config: &Path) -> Res<()> {
    let target = if Path::new("/run/systemd").is_dir() {
        "/run/systemd"
    } else {
        "/run"
    };
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "mode=0755", "tmpfs", target])
        .status()
        .ctx("mount -t tmpfs")?;
    if !st.success() {
        return Err(format!("mount -t tmpfs on {target} failed ({st})"));
    }
    std::fs::create_dir_all("/run/systemd/journal").ctx("creating the journal directory")?;
    let journal =
        UnixDatagram::bind("/run/systemd/journal/socket").ctx("binding a journal socket")?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while journal.recv(&mut buf).is_ok() {}
    });
    let exe = std::env::current_exe().ctx("finding this program")?;
    let mut child = Command::new(exe)
        .arg("broker-exec")
        .arg("--launch")
        .arg(launch)
        .arg("--config-file")
        .arg(config)
        // `broker-exec` ties itself to this process, not the orchestrator.
        .env("CAPBINDER_RAWBENCH_PARENT", std::process::id().to_string())
        .spawn()
        .ctx("starting dbus-broker-launch")?;
    let st = child.wait().ctx("waiting for dbus-broker-launch")?;
    Err(format!("dbus-broker-launch exited ({st})"))
}

/// The hidden `broker-exec` role: stdin is the listening socket; it
/// becomes fd 3, and `LISTEN_PID` the launcher's pid (a shell's `$$`,
/// kept by `exec`).
pub fn broker_exec_role(launch: &Path, config: &Path) -> Res<()> {
    use std::os::unix::process::CommandExt;
    let err = Command::new("sh")
        .arg("-c")
        .arg("exec 3<&0 0</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\" --scope user --config-file \"$1\"")
        .arg(launch)
        .arg(config)
        .exec();
    Err(format!("executing sh: {err}"))
}

struct EchoIface;

#[zbus::interface(name = "org.capbinder.Bench")]
impl EchoIface {
    fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

/// The hidden `dbus-serve` role: owns the name and echoes.
pub fn serve_role(address: &str) -> Res<()> {
    let _conn = Builder::address(address)
        .and_then(|b| b.name(NAME))
        .and_then(|b| b.serve_at(PATH, EchoIface))
        .and_then(|b| b.build())
        .ctx("serving on the bus")?;
    println!("ready");
    loop {
        std::thread::park();
    }
}

/// The hidden `dbus-sub` role: listens for the signal; acknowledges like
/// the capbinder subscriber.
pub fn sub_role(address: &str) -> Res<()> {
    let conn = Builder::address(address)
        .and_then(|b| b.build())
        .ctx("connecting to the bus")?;
    let rule = zbus::MatchRule::builder()
        .msg_type(MsgType::Signal)
        .interface(NAME)
        .and_then(|b| b.member("Tick"))
        .ctx("match rule")?
        .build();
    let it = MessageIterator::for_match_rule(rule, &conn, Some(1 << 16)).ctx("AddMatch")?;
    util::record_stdout(util::REC_READY, 0)?;
    let mut tally = Tally::default();
    for msg in it {
        let msg = msg.ctx("receiving a signal")?;
        let body = msg.body();
        let (burst, ack, _payload): (u64, bool, &[u8]) = body.deserialize().ctx("signal body")?;
        if let Some(count) = tally.on_message(burst, ack) {
            util::record_stdout(util::REC_ACK, count)?;
        }
    }
    Ok(())
}

impl Publisher for Bus {
    fn mech(&self) -> String {
        format!("{}-signal", self.daemon.name())
    }

    fn publish(&self, burst: u64, ack: bool, payload: &[u8]) -> Res<()> {
        self.emit(burst, ack, payload)
    }

    fn subscriber(&self) -> Res<Command> {
        let mut cmd = procs::self_command("dbus-sub").map_err(|e| e.to_string())?;
        cmd.arg("--address").arg(&self.address);
        Ok(cmd)
    }

    fn place(&self, cpu: usize) -> Res<()> {
        Bus::place(self, cpu)
    }

    fn queue_limit(&self) -> Option<u32> {
        None
    }
}
