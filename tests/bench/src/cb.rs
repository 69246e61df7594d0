//! capbinder through the runtime API: the helper roles (mediator, service
//! manager, echo service, idle client, topic subscriber) and the cases
//! the orchestrator runs as the measuring client.
//!
//! One mediator, one service manager and one echo service live for the
//! whole run; a placement change re-pins them (every thread). The
//! orchestrator is the client (its `ProcessState` talks to that one
//! mediator for the whole run).
//!
//! Copies of a byte payload in a sync round trip (inline, below the blob
//! threshold): the client writes a fresh payload in place in its send area
//! (`Parcel::in_send_area`, `write_bytes_with`; the socket clients write
//! theirs into a buffer); the mediator copies it into the echo's receive
//! buffer (1); the echo passes it back with `forward_bytes`, a splice the
//! mediator copies from the echo's receive buffer into the client's (2);
//! both ends read in place (`read_bytes` borrows). The direct socket floor
//! makes four (into and out of the kernel, each way). Above the threshold
//! (16 MiB here) the parcel becomes a sealed blob each way (one copy into
//! the memfd), mapped read-only by the receiver and borrowed.
//!
//! The `capbinder-aidl` case makes the same call through code generated
//! from `aidl/capbinder/bench/IBenchEcho.aidl` (`byte[] echo(in byte[])`),
//! as an application would: the proxy copies the caller's slice into the
//! send area and the reply out into a `Vec`; the stub lends the request in
//! place, the service returns a `Vec` (a copy) that the stub writes into
//! its send area. Six copies per round trip, two of them the mediator's.

use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use capbinder::service_manager::{Policy, ServiceManager, ServiceManagerService};
use capbinder::{
    new_binder, Binder, Parcel, ProcessState, Rights, SpIBinder, Status, StatusCode, Topic,
    TopicListener,
};
use capbinder_kmod_shim::bench;
use capbinder_kmod_shim::bench::cost;
use capbinder_kmod_shim::bench::procs::{self, Helper};
use capbinder_kmod_shim::mediator::{
    config::{Config, LoopChoice},
    Mediator,
};

use crate::broadcast::{Publisher, Tally};
use crate::report::{MemRow, Report, Row};
use crate::util::{self, Ctx, Flock, Res};
use crate::Plan;

/// Echo the payload back.
const ECHO: u32 = 1;
/// Oneway: count one message.
const SINK: u32 = 2;
/// Wait until the count reaches the given total; returns it.
const DRAIN: u32 = 3;
/// Topic message code.
const TICK: u32 = 7;

const ECHO_NAME: &str = "bench.echo";
const AIDL_ECHO_NAME: &str = "bench.aidl-echo";

/// The code generated from `aidl/` by `build.rs`. A binary uses only part
/// of an interface's generated API (no default impl, no local casts).
#[allow(dead_code)]
mod aidl {
    ::capbinder::include_aidl!();
}

use aidl::capbinder::bench::{BnBenchEcho, IBenchEcho};

/// The echo behind the generated stub.
struct AidlEcho;

impl IBenchEcho for AidlEcho {
    fn echo(&self, data: &[u8]) -> capbinder::Result<Vec<u8>> {
        Ok(data.to_vec())
    }
}
const TOPIC_NAME: &str = "bench.topic";

/// Receive buffer and send area that hold a 1 MiB payload inline with
/// headroom; the blob threshold at the send area, so 16 MiB goes as a
/// blob.
pub fn limits() -> (u64, u64) {
    let send = (1u64 << 20) + (64 << 10);
    let recv = 4u64 << 20;
    (recv, send)
}

/// The hidden `mediator` role.
pub fn mediator_role(socket: &Path, event_loop: &str) -> Res<()> {
    let (recv, send) = limits();
    let mut config = Config {
        event_loop: LoopChoice::parse(event_loop)
            .ok_or_else(|| format!("--event-loop {event_loop:?}: auto, epoll or io_uring"))?,
        ..Config::default()
    };
    config.limits.recv_buffer = recv;
    config.limits.send_area = send;
    config.limits.blob_threshold = send;
    let m = Mediator::bind(socket, config).ctx("starting the mediator")?;
    let kind = m.event_loop();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready loop={kind}");
        let _ = out.flush();
    }
    m.run().ctx("the mediator stopped")
}

fn ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

fn st(e: Status) -> String {
    e.to_string()
}

/// The hidden `sm` role: the service manager, handle 0.
pub fn sm_role(socket: &Path) -> Res<()> {
    let ps = ProcessState::init(Some(socket)).map_err(st)?;
    let sm = new_binder(ServiceManagerService::new(Policy::default_for(
        rustix::process::geteuid().as_raw(),
    )));
    ps.become_context_manager(&sm).map_err(st)?;
    ready();
    ps.join_thread_pool().map_err(st)
}

#[derive(Default)]
struct Echo {
    count: Mutex<u64>,
    cv: Condvar,
}

impl Binder for Echo {
    fn descriptor(&self) -> &str {
        "capbinder.bench.IEcho"
    }

    fn on_transact(
        &self,
        code: u32,
        data: &mut Parcel,
        reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        match code {
            ECHO => {
                // The request is read in place in the receive buffer and
                // passed back from there: the mediator copies it straight
                // into the caller's receive buffer (a splice; under
                // SPLICE_MIN, or from a blob, a copy into the send area).
                reply.move_to_send_area();
                reply.forward_bytes(data)
            }
            SINK => {
                let _ = data.read_bytes()?;
                *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                self.cv.notify_all();
                Ok(())
            }
            DRAIN => {
                let want: u64 = data.read()?;
                let deadline = Instant::now() + Duration::from_secs(60);
                let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
                while *c < want {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Status::from_code(
                            StatusCode::TimedOut,
                            format!("only {} of {want} oneway calls arrived in 60 s", *c),
                        ));
                    }
                    c = self
                        .cv
                        .wait_timeout(c, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                reply.write(&*c)
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("code {code}"),
            )),
        }
    }
}

/// The hidden `service` role: registers the echo service, serves.
pub fn service_role(socket: &Path) -> Res<()> {
    let ps = ProcessState::init(Some(socket)).map_err(st)?;
    ServiceManager::get()
        .and_then(|sm| {
            sm.add_service(ECHO_NAME, &new_binder(Echo::default()))?;
            sm.add_service(AIDL_ECHO_NAME, &BnBenchEcho::new_binder(AidlEcho))
        })
        .map_err(st)?;
    ready();
    ps.join_thread_pool().map_err(st)
}

/// The hidden `idle` role: a connected client that holds a proxy for the
/// echo service (so the mediator keeps a process, a thread channel, a
/// receive buffer, a send area and a ref for it) and does nothing.
pub fn idle_role(socket: &Path) -> Res<()> {
    let _ps = ProcessState::init(Some(socket)).map_err(st)?;
    let _echo = ServiceManager::get()
        .and_then(|sm| sm.get_service(ECHO_NAME))
        .map_err(st)?;
    ready();
    loop {
        std::thread::park();
    }
}

struct Sub {
    tally: Mutex<Tally>,
    out: OwnedFd,
}

impl Binder for Sub {
    fn descriptor(&self) -> &str {
        "capbinder.bench.ITick"
    }

    fn on_transact(
        &self,
        _code: u32,
        data: &mut Parcel,
        _reply: &mut Parcel,
    ) -> capbinder::Result<()> {
        let (burst, ack): (u64, bool) = data.read()?;
        let _ = data.read_bytes()?;
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = tally.on_message(burst, ack) {
            let _ = util::write_record(self.out.as_fd(), util::REC_ACK, count);
        }
        Ok(())
    }
}

impl TopicListener for Sub {}

/// The hidden `cb-sub` role: subscribes to the bench topic; acknowledges
/// on stdout (a pipe shared by every subscriber) the first message of a
/// burst that asks for it.
pub fn sub_role(socket: &Path) -> Res<()> {
    let ps = ProcessState::init(Some(socket)).map_err(st)?;
    let topic = ServiceManager::get()
        .and_then(|sm| sm.get_service(TOPIC_NAME))
        .and_then(Topic::from_binder)
        .map_err(st)?;
    let out = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ctx("dup(stdout)")?;
    let cb = new_binder(Sub {
        tally: Mutex::default(),
        out,
    });
    let _sub = topic.subscribe(&cb, &[], None).map_err(st)?;
    ps.start_thread_pool();
    util::record_stdout(util::REC_READY, 0)?;
    loop {
        std::thread::park();
    }
}

/// The mediator's state as this process sees it, for the watchdog (see
/// [`util::start_watchdog`]); a line saying why where there is none.
pub fn state_report() -> String {
    if !CONNECTED.load(std::sync::atomic::Ordering::Acquire) {
        return "capbinder-bench: no capbinder case had started".to_owned();
    }
    match ProcessState::get().and_then(|ps| ps.state()) {
        Ok(s) => format!("capbinder-bench: the mediator's state:\n{s:#?}"),
        Err(e) => format!("capbinder-bench: the mediator's state: {e}"),
    }
}

/// Whether this process connected to the benchmark's mediator (before
/// that, `ProcessState::get` would connect to the default socket).
static CONNECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The mediator, the service manager, the echo service, and this
/// process's proxy.
pub struct Setup {
    // Drop order: proxies first, then the helpers.
    pub echo: SpIBinder,
    /// The generated proxy of the AIDL echo.
    aidl_echo: Arc<dyn IBenchEcho>,
    socket: PathBuf,
    service: Helper,
    sm: Helper,
    mediator: Helper,
    /// Oneway calls sent so far (the service counts them all).
    sent: u64,
}

impl Setup {
    /// Starts everything on CPU `far` and connects from here.
    /// `event_loop`: the mediator's (`auto`, `epoll`, `io_uring`).
    pub fn start(
        event_loop: &str,
        dir: &Path,
        far: usize,
        home: usize,
        report: &mut Report,
    ) -> Res<Setup> {
        let socket = dir.join("capbinder.sock");
        let spawn = |role: &str| -> Res<Helper> {
            let mut cmd = procs::self_command(role).map_err(|e| e.to_string())?;
            if role == "mediator" {
                cmd.arg("--event-loop").arg(event_loop);
            }
            cmd.arg("--socket")
                .arg(&socket)
                .stdin(Stdio::null())
                .stdout(Stdio::piped());
            let child = procs::spawn_on(far, home, &mut cmd).map_err(|e| e.to_string())?;
            Ok(Helper::new(role, child))
        };
        let mut mediator = spawn("mediator")?;
        let line = mediator.wait_line("ready").map_err(|e| e.to_string())?;
        report.note(format!(
            "capbinder: mediator in its own process (this binary's `mediator` role), {}; recv_buffer {} B, send_area {} B, blob_threshold {} B",
            line.trim_start_matches("ready ").replace("loop=", "event loop "),
            limits().0,
            limits().1,
            limits().1
        ));
        let mut sm = spawn("sm")?;
        sm.wait_line("ready").map_err(|e| e.to_string())?;
        let mut service = spawn("service")?;
        service.wait_line("ready").map_err(|e| e.to_string())?;
        ProcessState::init(Some(&socket)).map_err(st)?;
        CONNECTED.store(true, std::sync::atomic::Ordering::Release);
        let echo = ServiceManager::get()
            .and_then(|sm| sm.get_service(ECHO_NAME))
            .map_err(st)?;
        let aidl_echo = ServiceManager::get()
            .and_then(|sm| sm.get_service(AIDL_ECHO_NAME))
            .and_then(capbinder::interface_cast::<dyn IBenchEcho>)
            .map_err(st)?;
        Ok(Setup {
            echo,
            aidl_echo,
            socket,
            service,
            sm,
            mediator,
            sent: 0,
        })
    }

    /// The mediator's pid.
    pub fn mediator_pid(&self) -> u32 {
        self.mediator.pid()
    }

    /// Pins the mediator, service manager and service (every thread) to
    /// `far`.
    pub fn place(&self, far: usize) -> Res<()> {
        self.place_on(&[far])
    }

    /// Lets the mediator, the service manager and the echo service run on
    /// every CPU in `cpus` (the `spread` placement).
    pub fn place_on(&self, cpus: &[usize]) -> Res<()> {
        for p in [self.mediator.pid(), self.sm.pid(), self.service.pid()] {
            util::repin_to(p, cpus)?;
        }
        Ok(())
    }

    /// One sync round trip of `payload` bytes per call, as a measured
    /// case: a fresh payload written in place in the send area (the floors
    /// write theirs into the socket client's buffer), echoed back and read
    /// borrowed; checked in full when asked.
    pub fn sync_call(&self, payload: usize) -> impl FnMut(bool) -> Res<()> + '_ {
        let echo = &self.echo;
        let mut seed = 0u8;
        move |check| {
            seed = seed.wrapping_add(1);
            let mut p = Parcel::in_send_area();
            p.write_bytes_with(payload, |b| bench::pattern(b, seed))
                .map_err(st)?;
            let mut r = echo.transact(ECHO, p, false).map_err(st)?;
            let got = r.read_bytes().map_err(st)?;
            let wrong = got.len() != payload || (check && got != &util::pattern(payload, seed)[..]);
            if wrong {
                return Err(format!(
                    "the echo came back wrong ({} bytes for {payload})",
                    got.len(),
                ));
            }
            Ok(())
        }
    }

    /// `sync_call` with the process's direct channels off for the call
    /// (`ProcessState::set_direct_calls`): every call through the mediator.
    pub fn mediated_call(&self, payload: usize) -> impl FnMut(bool) -> Res<()> + '_ {
        let mut call = self.sync_call(payload);
        move |check| {
            let ps = ProcessState::get().map_err(st)?;
            ps.set_direct_calls(false);
            let r = call(check);
            ps.set_direct_calls(true);
            r
        }
    }

    /// The same through the generated proxy, as a measured case: a fresh
    /// payload per call into the caller's buffer, then
    /// `IBenchEcho::echo(&buf)`.
    pub fn aidl_call(&self, payload: usize) -> impl FnMut(bool) -> Res<()> + '_ {
        let mut buf = vec![0u8; payload];
        let mut seed = 0u8;
        move |check| {
            seed = seed.wrapping_add(1);
            bench::pattern(&mut buf, seed);
            let got = self.aidl_echo.echo(&buf).map_err(st)?;
            if got.len() != payload || (check && got != buf) {
                return Err(format!(
                    "the AIDL echo came back wrong ({} bytes for {payload})",
                    got.len()
                ));
            }
            Ok(())
        }
    }

    /// `senders` threads send `total` oneway calls (32 B) between them,
    /// each thread with up to `window` of them in flight (0: each waits
    /// for the mediator's answer, libbinder's way; see
    /// `ProcessState::set_oneway_window`); then one sync call waits until
    /// the service has run them all. Samples: each send (until the
    /// mediator accepted it, or, in a window, until it was written);
    /// ops/s: calls run by the service per second. Refusals (the
    /// receiver's async space or the sender's pending limit full) are
    /// retried and counted.
    pub fn oneway_case(
        &mut self,
        senders: usize,
        total: usize,
        window: usize,
    ) -> Res<(capbinder_kmod_shim::bench::stats::Summary, u64)> {
        let ps = ProcessState::get().map_err(st)?;
        ps.set_oneway_window(window);
        let r = self.oneway_run(senders, total);
        ps.set_oneway_window(0);
        r
    }

    fn oneway_run(
        &mut self,
        senders: usize,
        total: usize,
    ) -> Res<(capbinder_kmod_shim::bench::stats::Summary, u64)> {
        let per = total / senders;
        let total = per * senders;
        let warm = (per / 10).max(5) * senders;
        for _ in 0..warm {
            oneway_send(&self.echo)?;
        }
        settle_window(&self.echo)?;
        self.sent += warm as u64;
        self.drain()?;
        let start = Instant::now();
        let results: Vec<Res<(Vec<u64>, u64)>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..senders)
                .map(|_| {
                    let echo = self.echo.clone();
                    s.spawn(move || -> Res<(Vec<u64>, u64)> {
                        let mut samples = Vec::with_capacity(per);
                        let mut refused = 0;
                        for i in 0..per {
                            let t0 = Instant::now();
                            refused += oneway_send(&echo)?;
                            samples.push(t0.elapsed().as_nanos() as u64);
                            // In a window, refusals come back later: look
                            // for them now and then, so that a sender
                            // ahead of the service backs off instead of
                            // having its whole stream refused.
                            if (i + 1) % CHECK_EVERY == 0 {
                                refused += settle_window(&echo)?;
                            }
                        }
                        refused += settle_window(&echo)?;
                        Ok((samples, refused))
                    })
                })
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a sender panicked".into())))
                .collect()
        });
        let mut samples = Vec::with_capacity(total);
        let mut refused = 0;
        for r in results {
            let (s, n) = r?;
            samples.extend(s);
            refused += n;
        }
        self.sent += total as u64;
        self.drain()?;
        let elapsed = start.elapsed();
        Ok((util::summarize(samples, elapsed), refused))
    }

    fn drain(&self) -> Res<()> {
        let mut p = Parcel::new();
        p.write(&self.sent).map_err(st)?;
        let mut r = self.echo.transact(DRAIN, p, false).map_err(st)?;
        let got: u64 = r.read().map_err(st)?;
        if got < self.sent {
            return Err(format!("drain: {got} of {} oneway calls ran", self.sent));
        }
        Ok(())
    }

    /// `callers` threads make `total` sync 32-byte calls between them.
    /// Besides the figures, how busy the mediator and the echo service
    /// were over the measured calls: whether the one-threaded mediator is
    /// what bounds the throughput.
    pub fn callers_case(
        &self,
        callers: usize,
        total: usize,
    ) -> Res<(capbinder_kmod_shim::bench::stats::Summary, Busy)> {
        let per = (total / callers).max(1);
        let req = util::pattern(32, 3);
        let call = |echo: &SpIBinder| -> Res<()> {
            let mut p = Parcel::new();
            p.write_bytes(&req).map_err(st)?;
            let mut r = echo.transact(ECHO, p, false).map_err(st)?;
            if r.read_bytes().map_err(st)?.len() != req.len() {
                return Err("short echo".into());
            }
            Ok(())
        };
        let run = |n: usize, samples: bool| -> Res<(Vec<u64>, Duration)> {
            let start = Instant::now();
            let results: Vec<Res<Vec<u64>>> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..callers)
                    .map(|_| {
                        let echo = self.echo.clone();
                        let call = &call;
                        s.spawn(move || -> Res<Vec<u64>> {
                            let mut v = Vec::with_capacity(if samples { n } else { 0 });
                            for _ in 0..n {
                                let t0 = Instant::now();
                                call(&echo)?;
                                if samples {
                                    v.push(t0.elapsed().as_nanos() as u64);
                                }
                            }
                            Ok(v)
                        })
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("a caller panicked".into())))
                    .collect()
            });
            let elapsed = start.elapsed();
            let mut all = Vec::new();
            for r in results {
                all.extend(r?);
            }
            Ok((all, elapsed))
        };
        run((per / 10).max(5), false)?;
        let usage = |pid: u32| {
            cost::process_usage(pid)
                .map(|u| u.run_ns)
                .ctx("reading /proc for CPU accounting")
        };
        // The service's from its process-wide count: its direct-channel
        // threads end with the callers, before the second reading, and a
        // sum over the threads alive then would miss them.
        let service = |pid: u32| util::process_cpu_ns(pid).ctx("reading /proc/PID/stat");
        let before = (usage(self.mediator.pid())?, service(self.service.pid())?);
        let (samples, elapsed) = run(per, true)?;
        let after = (usage(self.mediator.pid())?, service(self.service.pid())?);
        let calls = samples.len().max(1) as f64;
        let wall = elapsed.as_nanos().max(1) as f64;
        let busy = Busy {
            mediator: (after.0 - before.0) / wall,
            service: (after.1 - before.1) / wall,
            mediator_ns_per_call: (after.0 - before.0) / calls,
        };
        Ok((util::summarize(samples, elapsed), busy))
    }
}

/// How busy the helpers were over a measured run.
#[derive(Clone, Copy, Debug)]
pub struct Busy {
    /// The mediator's CPU time over the run's wall time (1.0: one CPU
    /// all the time; it is one thread).
    pub mediator: f64,
    /// The echo service's, over every pool thread.
    pub service: f64,
    /// The mediator's CPU time per call, nanoseconds.
    pub mediator_ns_per_call: f64,
}

/// One oneway SINK call; returns how many times it was refused first.
fn oneway_send(echo: &SpIBinder) -> Res<u64> {
    let payload = [0x5au8; 32];
    let mut refused = 0u64;
    loop {
        let mut p = Parcel::new();
        p.write_bytes(&payload).map_err(st)?;
        match echo.transact(SINK, p, true) {
            Ok(_) => return Ok(refused),
            Err(e)
                if e.code == StatusCode::FailedTransaction
                    && refusal(&e.message)
                    && refused < 1_000_000 =>
            {
                refused += 1;
                if refused % 64 == 0 {
                    std::thread::sleep(Duration::from_micros(50));
                } else {
                    std::thread::yield_now();
                }
            }
            Err(e) => return Err(format!("oneway call: {e}")),
        }
    }
}

/// How often a sender with a window looks for refused calls.
const CHECK_EVERY: usize = 256;

/// Waits for this thread's oneway calls in flight (none without a
/// window); those refused are sent again, after a pause that grows while
/// they keep being refused (the service is behind). Returns how many were
/// refused.
fn settle_window(echo: &SpIBinder) -> Res<u64> {
    let ps = ProcessState::get().map_err(st)?;
    let mut refused = 0;
    let mut pause = Duration::from_micros(50);
    loop {
        match ps.flush_oneway_calls() {
            Ok(()) => return Ok(refused),
            Err(f) if refusal(&f.first.message) && refused < 1_000_000 => {
                refused += f.count;
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
                for _ in 0..f.count {
                    oneway_send(echo)?;
                }
            }
            Err(f) => return Err(format!("oneway calls in flight: {f}")),
        }
    }
}

/// Whether a failed oneway call was refused for a full queue (worth a
/// retry), not broken.
fn refusal(msg: &str) -> bool {
    msg.contains("async space") || msg.contains("pending") || msg.contains("does not fit")
}

/// The many-clients case: 1, 10, 100, 1000 connected processes (the
/// measuring one included), sync 32-byte round trips from this process
/// at each, and the mediator's memory. At each count the relay floor in
/// `floors` (one per placement, where it started) takes turns with the
/// calls, so that a ratio between two counts can be taken over the floor
/// measured beside each: the counts are minutes apart, and this VM's
/// speed drifts by more than the target allows in that time.
pub fn clients_group(
    setup: &Setup,
    plan: &Plan,
    floors: &mut [(crate::Placement, Option<bench::FloorRigs>)],
    report: &mut Report,
) -> Res<()> {
    let mut idle = Flock::default();
    let mut base: Option<util::Mem> = None;
    for &n in &plan.clients {
        let want = n.saturating_sub(1);
        util::progress(&format!("clients: starting idle clients up to {want}"));
        let t0 = Instant::now();
        while idle.0.len() < want {
            let batch = (want - idle.0.len()).min(64);
            let mut started = Vec::with_capacity(batch);
            for _ in 0..batch {
                let mut cmd = procs::self_command("idle").map_err(|e| e.to_string())?;
                cmd.arg("--socket")
                    .arg(&setup.socket)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped());
                // Idle clients run where the client does; they only start.
                let child = cmd.spawn().ctx("spawning an idle client")?;
                started.push(child);
            }
            for mut c in started {
                let out = c.stdout.take();
                idle.0.push(c);
                let mut line = String::new();
                if let Some(out) = out {
                    use std::io::BufRead;
                    std::io::BufReader::new(out)
                        .read_line(&mut line)
                        .ctx("reading an idle client's ready line")?;
                }
                if !line.starts_with("ready") {
                    return Err(format!(
                        "an idle client failed to start (after {} started)",
                        idle.0.len() - 1
                    ));
                }
            }
        }
        if want > 0 {
            util::progress(&format!(
                "clients: {want} idle clients up in {:.1} s",
                t0.elapsed().as_secs_f64()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
        let m = util::mem_of(setup.mediator_pid())?;
        let per_client =
            base.and_then(|b| (n > 1).then(|| (m.rss as f64 - b.rss as f64) / (n as f64 - 1.0)));
        if n == 1 {
            base = Some(m);
        }
        let row = MemRow {
            clients: n,
            rss_kib: m.rss,
            anon_kib: m.anon,
            shmem_kib: m.shmem,
            fds: m.fds,
            per_client_kib: per_client,
        };
        println!("{}", row.line());
        report.mem.push(row);
        for &p in &plan.placements {
            setup.place(plan.far(p))?;
            let iters = plan.iters_small;
            util::progress(&format!(
                "clients={n} {}: {iters} round trips of 32 B, interleaved with the relay floor",
                p.name()
            ));
            let mut names = vec![format!("capbinder-clients-{n}")];
            let mut cases: Vec<bench::interleave::Case<'_, String>> =
                vec![Box::new(setup.sync_call(32))];
            let rigs = floors.iter_mut().find(|(q, _)| *q == p);
            for (mech, mut case) in rigs
                .and_then(|(_, r)| r.as_mut())
                .map(|r| r.cases(32))
                .unwrap_or_default()
            {
                names.push(format!("{}-clients-{n}", mech.name()));
                cases.push(Box::new(move |check| {
                    case(check).map_err(|e| e.to_string())
                }));
            }
            // Judged by p99: turns short enough that host noise falls on
            // the calls and their floor alike.
            let rounds = bench::interleave::paired_rounds(iters);
            let sums = bench::interleave::measure(&mut cases, iters, rounds)
                .map_err(|(i, e)| format!("clients={n} {}: {}: {e}", p.name(), names[i]))?;
            drop(cases);
            for (mech, s) in names.into_iter().zip(sums) {
                report.push(Row {
                    mech,
                    placement: p,
                    payload: 32,
                    s,
                });
            }
        }
    }
    Ok(())
}

/// The bench topic, published to by the orchestrator; its subscribers
/// are `cb-sub` processes of the mediator at `setup`.
pub struct Topics<'a> {
    setup: &'a Setup,
    topic: Topic,
}

impl Topics<'_> {
    /// Creates the topic and registers it (subscribe rights only).
    pub fn new(setup: &Setup) -> Res<Topics<'_>> {
        let topic = Topic::create(QUEUE_LIMIT, false).map_err(st)?;
        ServiceManager::get()
            .and_then(|sm| {
                sm.add_service_with_rights(
                    TOPIC_NAME,
                    topic.as_binder(),
                    Rights::SUBSCRIBE | Rights::TRANSFER,
                )
            })
            .map_err(st)?;
        Ok(Topics { setup, topic })
    }
}

impl Publisher for Topics<'_> {
    fn mech(&self) -> String {
        "capbinder-topic".into()
    }

    fn publish(&self, burst: u64, ack: bool, payload: &[u8]) -> Res<()> {
        let mut p = Parcel::new();
        p.write(&(burst, ack)).map_err(st)?;
        p.write_bytes(payload).map_err(st)?;
        self.topic.publish(TICK, p).map_err(st)
    }

    fn subscriber(&self) -> Res<Command> {
        let mut cmd = procs::self_command("cb-sub").map_err(|e| e.to_string())?;
        cmd.arg("--socket").arg(&self.setup.socket);
        Ok(cmd)
    }

    fn place(&self, cpu: usize) -> Res<()> {
        self.setup.place(cpu)
    }

    fn queue_limit(&self) -> Option<u32> {
        Some(QUEUE_LIMIT)
    }
}

/// Messages that may wait per subscriber before it loses some.
const QUEUE_LIMIT: u32 = 16_384;
