//! `capbinder-conformance-app ROLE --socket PATH [ARGS]`: the processes
//! `tests/tests/conformance.rs` needs to check the behaviours AOSP's
//! binder tests (`binderLibTest` and friends) assert, one role each.
//!
//! - `servicemanager`: the service manager (handle 0), as the harness
//!   expects of its helper.
//! - `state`: the mediator's state as JSON, as the harness expects.
//! - `service --name N [--max-threads K] [--min-nice M] [--min-rr R] [--inherit-rt] [--extension] [--poll [--poll-call S] [--poll-death] [--poll-no-list]]`:
//!   registers one [`Conf`] object under `N` and serves it on the joined
//!   main thread (and up to `K` pool threads, when given), or, with
//!   `--poll`, on one thread that polls (`setup_polling`) and no pool,
//!   driven by control lines (see `poll_service`); with
//!   `--min-nice`, calls on it run at least at `SCHED_OTHER` nice `M` (its
//!   minimum scheduler policy), with `--min-rr` at least at `SCHED_RR`
//!   priority `R`; with `--inherit-rt`, a real-time caller's
//!   priority migrates to it; with `--extension`, it has an [`Ext`] as
//!   its extension from before it is first sent; with `--count-by-uid`,
//!   it counts its proxies by uid (`proxy_count`); a `release` line on stdin
//!   opens the latch `block` waits on.
//! - `client`: a scriptable client, one command per stdin line and one
//!   answer line each (`ok ...` or `err ...`); see `Client::command`.
//!
//! Every role prints `ready ...` when it is, and the long-running ones exit
//! when their stdin closes (so a test that dies leaves nothing behind).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use capbinder::service_manager::{
    codes as sm_codes, Policy, ServiceManager, ServiceManagerService, CALLBACK_DESCRIPTOR,
};
use capbinder::{
    calling_identity, clear_calling_identity, flush_commands, new_binder, Binder, DeathRecipient,
    ExceptionCode, FrozenState, FrozenStateChangeCallback, Parcel, ProcessState, Result, SpIBinder,
    Status, StatusCode, WeakBinder, FIRST_CALL_TRANSACTION as F,
};
use capbinder::{proxy_count, work_source};
use capbinder_tests::role::{status_line, watch_stdin};
// The gate `block` and `hold` wait at until a `release` opens it for good.
use capbinder_tests::service::Latch;

/// How long anything in this helper waits for something another process
/// does (the tests' own deadline is the same).
const WAIT: Duration = Duration::from_secs(30);

/// Method codes of [`Conf`].
mod codes {
    use super::F;
    /// `String echo(String s)`.
    pub const ECHO: u32 = F;
    /// `int pid()`.
    pub const PID: u32 = F + 1;
    /// `void block()`: prints `in-call from=<pid>`, waits for `release`.
    pub const BLOCK: u32 = F + 2;
    /// `IBinder getSelf()`: this very object.
    pub const SELF: u32 = F + 3;
    /// `IBinder echoBinder(IBinder b)`: `b`, back.
    pub const ECHO_BINDER: u32 = F + 4;
    /// `void callMe(Conf cb)`: calls `cb.note()` synchronously.
    pub const CALL_ME: u32 = F + 5;
    /// `(int, int, int, bool) nestedWho(Conf cb)`: the caller's pid, the
    /// pid `cb.who()` saw calling it, the caller's pid again after that
    /// nested call, and whether the transaction ID stayed the same.
    pub const NESTED_WHO: u32 = F + 6;
    /// `(int, u64) who()`: the calling pid and transaction ID.
    pub const WHO: u32 = F + 7;
    /// `void writeFd(FileDescriptor fd, String s)`: writes `s` into `fd`.
    pub const WRITE_FD: u32 = F + 8;
    /// `FileDescriptor nonBlockingFd()`: a socket end set `O_NONBLOCK`.
    pub const NONBLOCK_FD: u32 = F + 9;
    /// `void fail()`: always a service-specific error 7.
    pub const FAIL: u32 = F + 10;
    /// `oneway void log(int seq)`.
    pub const LOG: u32 = F + 11;
    /// `int[] getLog(int n)`: the log once it holds `n` entries.
    pub const GET_LOG: u32 = F + 12;
    /// `oneway void step(Conf cb, int seq)`: logs `s<seq>`, calls
    /// `cb.hold(seq)` synchronously, logs `e<seq>`.
    pub const STEP: u32 = F + 13;
    /// `String[] getSteps(int n)`: the step log once it holds `n` entries.
    pub const GET_STEPS: u32 = F + 14;
    /// `(bool, String) linkAndWait(IBinder target)`: links a recipient to
    /// `target` and waits, on the thread serving this call, until it ran;
    /// answers whether it did and the name of the thread it ran on.
    pub const LINK_AND_WAIT: u32 = F + 15;
    /// `byte[] echoBytes(byte[] b)`.
    pub const ECHO_BYTES: u32 = F + 16;
    /// `void note()`: records the caller's pid and this thread's name.
    pub const NOTE: u32 = F + 17;
    /// `void hold(int seq)`: prints `cb-hold <seq>`, waits for `release`.
    pub const HOLD: u32 = F + 18;
    /// `(int, bool, int, int, bool) clearedWho(Conf cb)`: the caller's
    /// pid; whether, with the identity cleared, this process saw itself
    /// (pid and uid); the pid `cb.who()` saw calling it meanwhile; the
    /// caller's pid once restored; whether the transaction stayed the same.
    pub const CLEARED_WHO: u32 = F + 19;
    /// `String sched()`: the scheduling of the thread serving this call,
    /// as `sched_getattr` reads it: `POLICY/NICE/RT`.
    pub const SCHED: u32 = F + 20;
    /// `void keep(IBinder b)`: holds `b` strongly until `unkeep`.
    pub const KEEP: u32 = F + 21;
    /// `void unkeep()`: drops what `keep` held.
    pub const UNKEEP: u32 = F + 22;
    /// `void sendWeak(Conf to)`: calls `to.keepWeak()` with a weak
    /// reference to what `keep` holds.
    pub const SEND_WEAK: u32 = F + 23;
    /// `void keepWeak(@weak IBinder b)`: holds a weak reference to `b`.
    pub const KEEP_WEAK: u32 = F + 24;
    /// `(bool, String) promote()`: promotes the weak reference `keepWeak`
    /// holds; when that works, calls `echo("promoted")` through it and
    /// lets the strong reference go again.
    pub const PROMOTE: u32 = F + 25;
    /// `boolean isSensitive()`: whether the call came marked sensitive
    /// (its reply is marked in turn).
    pub const IS_SENSITIVE: u32 = F + 30;
    /// `void setExtension(@nullable IBinder ext)`: makes `ext` this
    /// object's extension (or takes it off), after it was sent.
    pub const SET_EXTENSION: u32 = F + 26;
    /// `(FileDescriptor, FileDescriptor) spentFds()`, served wrongly: the
    /// reply's second fd is read back out of it before it goes, so the reply cannot be sent as
    /// written (a service bug the caller must hear of, not wait on).
    pub const SPENT_FD: u32 = F + 27;
    /// `void panicNow()`: the handler panics (a service bug).
    pub const PANIC: u32 = F + 28;
    /// `FileDescriptor[] manyFds(int n)`: `n` fds (of `/dev/null`).
    pub const MANY_FDS: u32 = F + 29;
    /// `long workSource()`: the work source this call carried, `-1` for
    /// none (binderLibTest's `GET_WORK_SOURCE_TRANSACTION`).
    pub const WORK_SOURCE: u32 = F + 31;
    /// `long[] nestedWorkSource(Conf cb)`: the work source this call
    /// carried; what `cb.workSource()` sees called from here as is; what it
    /// sees after this thread sets 555; the carried one again after
    /// restoring.
    pub const NESTED_WORK_SOURCE: u32 = F + 32;
    /// `IBinder newBinder()`: a new object each call (binderLibTest's
    /// `CREATE_BINDER_TRANSACTION`), held by nothing but the caller.
    pub const NEW_BINDER: u32 = F + 33;
    /// `void hoard(IBinder b)`: holds `b` for good.
    pub const HOARD: u32 = F + 34;
    /// `(int uid, long count)[] proxyUids()`: this process's proxies by
    /// the uid they are charged to.
    pub const PROXY_UIDS: u32 = F + 35;
    /// `void deadObject()`: always fails with status `DeadObject`, though
    /// this process lives on.
    pub const DEAD_OBJECT: u32 = F + 36;
}

/// This process's proxies, in all and charged to its own uid (those it
/// made outside a call, from replies).
fn proxy_counts() -> String {
    format!(
        "total={} mine={}",
        proxy_count::proxy_count(),
        proxy_count::proxy_count_for_uid(rustix::process::getuid().as_raw())
    )
}

/// This thread's work source as binder numbers it (`-1` for none).
fn work_source_number() -> i64 {
    work_source::calling_work_source_uid().map_or(-1, i64::from)
}

/// A list that callers can wait on until it is long enough.
struct Waitable<T> {
    items: Mutex<Vec<T>>,
    cv: Condvar,
}

impl<T: Clone> Waitable<T> {
    fn new() -> Self {
        Waitable {
            items: Mutex::new(Vec::new()),
            cv: Condvar::new(),
        }
    }

    fn push(&self, v: T) {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        self.cv.notify_all();
    }

    /// The items once there are `n` (or what there is after [`WAIT`]).
    fn wait_len(&self, n: usize) -> Vec<T> {
        let deadline = Instant::now() + WAIT;
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        while items.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            items = self
                .cv
                .wait_timeout(items, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        items.clone()
    }

    fn len(&self) -> usize {
        self.items.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The object services register and clients hand out as callbacks.
struct Conf {
    latch: Arc<Latch>,
    me: OnceLock<WeakBinder>,
    log: Waitable<u32>,
    steps: Waitable<String>,
    /// `note` calls: `<caller pid> <thread name>`.
    notes: Arc<Waitable<String>>,
    /// What `keep` holds strongly.
    kept: Mutex<Option<SpIBinder>>,
    /// What `keepWeak` holds weakly.
    kept_weak: Mutex<Option<WeakBinder>>,
    /// What `hoard` holds, all of it.
    hoard: Mutex<Vec<SpIBinder>>,
}

impl Conf {
    fn binder(latch: Arc<Latch>, notes: Arc<Waitable<String>>) -> SpIBinder {
        let b = new_binder(Conf {
            latch,
            me: OnceLock::new(),
            log: Waitable::new(),
            steps: Waitable::new(),
            notes,
            kept: Mutex::new(None),
            kept_weak: Mutex::new(None),
            hoard: Mutex::new(Vec::new()),
        });
        let weak = b.downgrade();
        if let Some(c) = b.local_as::<Conf>() {
            let _ = c.me.set(weak);
        }
        b
    }
}

fn io_status(what: &str, e: impl std::fmt::Display) -> Status {
    Status::exception(ExceptionCode::IllegalState, format!("{what}: {e}"))
}

/// One end of a fresh socket pair (the other closes): an fd to send.
fn socket_end() -> Result<std::os::fd::OwnedFd> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
    .map(|(a, _b)| a)
    .map_err(|e| io_status("socketpair", e))
}

fn caller() -> Result<capbinder::CallingIdentity> {
    calling_identity().ok_or_else(|| io_status("calling identity", "none inside a call"))
}

/// This thread's scheduling as the kernel reports it: `POLICY/NICE/RT`.
fn this_threads_sched() -> Result<String> {
    let s = capbinder_kmod_shim::sys::sched::thread_sched(rustix::thread::gettid())
        .map_err(|e| io_status("sched_getattr", e))?;
    Ok(format!("{:?}/{}/{}", s.policy, s.nice, s.rt_priority))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string()
}

impl Binder for Conf {
    fn descriptor(&self) -> &str {
        "capbinder.test.IConformance"
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        match code {
            codes::ECHO => {
                let s: String = data.read()?;
                reply.write(&s)
            }
            codes::PID => reply.write(&(std::process::id() as i32)),
            codes::BLOCK => {
                println!("in-call from={}", caller()?.pid);
                self.latch.wait();
                Ok(())
            }
            codes::SELF => {
                let me = self
                    .me
                    .get()
                    .and_then(WeakBinder::upgrade)
                    .ok_or_else(|| io_status("getSelf", "the object is gone"))?;
                reply.write_binder(&me)
            }
            codes::ECHO_BINDER => reply.write_binder(&data.read_binder()?),
            codes::CALL_ME => {
                let cb = data.read_binder()?;
                cb.transact(codes::NOTE, Parcel::new(), false).map(|_| ())
            }
            codes::NESTED_WHO => {
                let cb = data.read_binder()?;
                let before = caller()?;
                let mut inner = cb.transact(codes::WHO, Parcel::new(), false)?;
                let (inner_pid, _): (i32, u64) = inner.read()?;
                let after = caller()?;
                reply.write(&(before.pid, inner_pid, after.pid, before.txn == after.txn))
            }
            codes::CLEARED_WHO => {
                let cb = data.read_binder()?;
                let before = caller()?;
                let cleared = clear_calling_identity();
                let me = caller()?;
                let saw_self = me.pid == std::process::id() as i32
                    && me.uid == rustix::process::getuid().as_raw();
                // Made while cleared: the callee still learns who really
                // calls (this process), from the kernel via the mediator.
                let mut inner = cb.transact(codes::WHO, Parcel::new(), false)?;
                let (inner_pid, _): (i32, u64) = inner.read()?;
                cleared.restore();
                let after = caller()?;
                reply.write(&(
                    before.pid,
                    saw_self,
                    inner_pid,
                    after.pid,
                    before.txn == after.txn,
                ))
            }
            codes::SCHED => reply.write(&this_threads_sched()?),
            codes::KEEP => {
                *lock(&self.kept) = Some(data.read_binder()?);
                Ok(())
            }
            codes::UNKEEP => {
                // Dropped here, in the call: its release reaches the
                // mediator before the reply does.
                drop(lock(&self.kept).take());
                Ok(())
            }
            codes::SEND_WEAK => {
                let to = data.read_binder()?;
                let kept = lock(&self.kept)
                    .clone()
                    .ok_or_else(|| io_status("sendWeak", "nothing kept"))?;
                let mut p = Parcel::new();
                p.write_weak_binder(&kept.downgrade())?;
                to.transact(codes::KEEP_WEAK, p, false).map(|_| ())
            }
            codes::IS_SENSITIVE => {
                // The reply is marked before the handler runs, so what it
                // moves out of the reply is zeroed too.
                let marked = reply.is_sensitive();
                reply.write(&data.is_sensitive())?;
                reply.write(&marked)
            }
            codes::KEEP_WEAK => {
                let weak = data
                    .read_weak_binder()?
                    .ok_or_else(|| io_status("keepWeak", "a null reference"))?;
                *lock(&self.kept_weak) = Some(weak);
                Ok(())
            }
            codes::PROMOTE => {
                let weak = lock(&self.kept_weak)
                    .clone()
                    .ok_or_else(|| io_status("promote", "no weak reference kept"))?;
                match weak.upgrade() {
                    Some(b) => {
                        let mut p = Parcel::new();
                        p.write("promoted")?;
                        let echo: String = b.transact(codes::ECHO, p, false)?.read()?;
                        reply.write(&(true, echo))
                    }
                    None => reply.write(&(false, String::new())),
                }
            }
            codes::SET_EXTENSION => {
                let ext = data.read_nullable_binder()?;
                let me = self
                    .me
                    .get()
                    .and_then(WeakBinder::upgrade)
                    .ok_or_else(|| io_status("setExtension", "the object is gone"))?;
                me.set_extension(ext)
            }
            codes::WHO => {
                let c = caller()?;
                reply.write(&(c.pid, c.txn.0))
            }
            codes::WORK_SOURCE => reply.write(&work_source_number()),
            codes::NEW_BINDER => reply.write_binder(&new_binder(Ext)),
            codes::HOARD => {
                lock(&self.hoard).push(data.read_binder()?);
                Ok(())
            }
            codes::PROXY_UIDS => reply.write(&proxy_count::proxy_counts_by_uid()),
            codes::DEAD_OBJECT => Err(Status::from_code(
                StatusCode::DeadObject,
                "deadObject: the object says it is dead",
            )),
            codes::NESTED_WORK_SOURCE => {
                let cb = data.read_binder()?;
                let ask = |cb: &SpIBinder| -> Result<i64> {
                    cb.transact(codes::WORK_SOURCE, Parcel::new(), false)?
                        .read()
                };
                let carried = work_source_number();
                let plain = ask(&cb)?;
                let token = work_source::set_calling_work_source_uid(555);
                let set = ask(&cb)?;
                work_source::restore_calling_work_source(token);
                reply.write(&vec![carried, plain, set, work_source_number()])
            }
            codes::WRITE_FD => {
                let mut f = std::fs::File::from(data.read_fd()?);
                let s: String = data.read()?;
                f.write_all(s.as_bytes())
                    .map_err(|e| io_status("writing the fd", e))
                // `f` is closed here: the caller's reader sees the end
                // once its own copy of the write end is closed too.
            }
            codes::NONBLOCK_FD => {
                let a = socket_end()?;
                let fl = rustix::fs::fcntl_getfl(&a).map_err(|e| io_status("F_GETFL", e))?;
                rustix::fs::fcntl_setfl(&a, fl | rustix::fs::OFlags::NONBLOCK)
                    .map_err(|e| io_status("F_SETFL", e))?;
                reply.write_fd(a)
            }
            codes::SPENT_FD => {
                // A good fd first: the failed send must not leave it queued
                // to travel with this thread's next write.
                for _ in 0..2 {
                    reply.write_fd(socket_end()?)?;
                }
                reply.rewind();
                let _status: u8 = reply.read()?;
                let _index: u32 = reply.read()?;
                drop(reply.read_fd()?);
                Ok(())
            }
            codes::FAIL => Err(Status::service_specific(7, "fail() always fails")),
            codes::PANIC => panic!("panicNow() always panics"),
            codes::MANY_FDS => {
                let n: u32 = data.read()?;
                reply.write(&n)?;
                for _ in 0..n {
                    let f = std::fs::File::open("/dev/null")
                        .map_err(|e| io_status("opening /dev/null", e))?;
                    reply.write_fd(f.into())?;
                }
                Ok(())
            }
            codes::LOG => {
                self.log.push(data.read()?);
                Ok(())
            }
            codes::GET_LOG => {
                let n: usize = data.read()?;
                reply.write(&self.log.wait_len(n))
            }
            codes::STEP => {
                let cb = data.read_binder()?;
                let seq: u32 = data.read()?;
                self.steps.push(format!("s{seq}"));
                let mut p = Parcel::new();
                p.write(&seq)?;
                let r = cb.transact(codes::HOLD, p, false);
                self.steps.push(format!("e{seq}"));
                r.map(|_| ())
            }
            codes::GET_STEPS => {
                let n: usize = data.read()?;
                reply.write(&self.steps.wait_len(n))
            }
            codes::LINK_AND_WAIT => {
                let target = data.read_binder()?;
                let r = Arc::new(Recorder::default());
                target.link_to_death(r.clone())?;
                let ran = r.threads.wait_len(1);
                reply.write(&(!ran.is_empty(), ran.join(",")))
            }
            codes::ECHO_BYTES => {
                let b = data.read_bytes()?.to_vec();
                reply.write_bytes(&b)
            }
            codes::NOTE => {
                self.notes
                    .push(format!("{} {}", caller()?.pid, thread_name()));
                Ok(())
            }
            codes::HOLD => {
                let seq: u32 = data.read()?;
                println!("cb-hold {seq}");
                self.latch.wait();
                Ok(())
            }
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("IConformance has no method with code {code}"),
            )),
        }
    }
}

/// The extension `service --extension` attaches to its [`Conf`]: another
/// interface on the same object, as a vendor extension is to a HAL.
struct Ext;

impl Binder for Ext {
    fn descriptor(&self) -> &str {
        "capbinder.test.IConformanceExt"
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()> {
        match code {
            // `String echo(String s)`: `ext <s>`, so a caller tells it from
            // the object it extends.
            codes::ECHO => {
                let s: String = data.read()?;
                reply.write(&format!("ext {s}"))
            }
            codes::PID => reply.write(&(std::process::id() as i32)),
            _ => Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("IConformanceExt has no method with code {code}"),
            )),
        }
    }
}

/// A service manager callback (`IServiceCallback`) that records every
/// notification: the name and the object registered under it.
struct Watcher {
    got: Waitable<(String, SpIBinder)>,
}

impl Binder for Watcher {
    fn descriptor(&self) -> &str {
        CALLBACK_DESCRIPTOR
    }

    fn on_transact(&self, code: u32, data: &mut Parcel, _reply: &mut Parcel) -> Result<()> {
        if code != sm_codes::ON_REGISTRATION {
            return Err(Status::from_code(
                StatusCode::UnknownTransaction,
                format!("IServiceCallback has no method with code {code}"),
            ));
        }
        let name: String = data.read()?;
        let b = data.read_binder()?;
        self.got.push((name, b));
        Ok(())
    }
}

/// A death recipient that records the threads it ran on.
struct Recorder {
    threads: Waitable<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            threads: Waitable::new(),
        }
    }
}

/// Lines from the test for a polling service's loop (`service --poll`),
/// and a pipe that turns readable with each, for the loop to poll beside
/// its binder fd.
struct Control {
    lines: Mutex<std::sync::mpsc::Receiver<String>>,
    wake: OwnedFd,
}

impl Control {
    /// The next line, waiting for it (the pipe's byte is read with it).
    fn next(&self) -> String {
        let line = self
            .lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv()
            .unwrap_or_else(|_| std::process::exit(0));
        let _ = rustix::io::read(&self.wake, &mut [0u8; 1]);
        line
    }

    /// Waits for the line `want`.
    fn wait_for(&self, want: &str) {
        while self.next() != want {}
    }
}

/// `--poll-death`: a recipient, run by `handle_polled_commands` on the
/// polling thread, that makes a call of its own and then waits for `call`.
struct PollDeath(Arc<Control>);

impl DeathRecipient for PollDeath {
    fn binder_died(&self, _who: &WeakBinder) {
        let sm = ServiceManager::get().unwrap_or_else(|e| die(e));
        let _ = sm.list_services();
        println!("in-death");
        self.0.wait_for("call");
        println!("death-done");
    }
}

impl DeathRecipient for Recorder {
    fn binder_died(&self, _who: &WeakBinder) {
        self.threads.push(thread_name());
    }
}

/// A freeze callback that records the states it was told.
struct FrozenRecorder {
    states: Waitable<&'static str>,
}

impl FrozenStateChangeCallback for FrozenRecorder {
    fn on_state_changed(&self, _who: &WeakBinder, state: FrozenState) {
        self.states.push(match state {
            FrozenState::Frozen => "frozen",
            FrozenState::Unfrozen => "unfrozen",
        });
    }
}

// ---- roles --------------------------------------------------------------------

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("capbinder-conformance-app: {msg}");
    std::process::exit(1)
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
    let socket = socket.unwrap_or_else(|| die("--socket PATH is required"));
    let flag = |name: &str| {
        rest.iter()
            .position(|a| a == name)
            .and_then(|i| rest.get(i + 1))
            .cloned()
    };
    let ps = ProcessState::init(Some(&socket)).unwrap_or_else(|e| die(e));
    match role.as_str() {
        "servicemanager" => {
            let policy = Policy::default_for(rustix::process::geteuid().as_raw());
            let sm = new_binder(ServiceManagerService::new(policy));
            ps.become_context_manager(&sm).unwrap_or_else(|e| die(e));
            ps.set_max_threads(4).unwrap_or_else(|e| die(e));
            watch_stdin(|_| {});
            println!("ready pid={}", std::process::id());
            match ps.join_thread_pool() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => die(e),
            }
        }
        "state" => {
            let s = ps.state().unwrap_or_else(|e| die(e));
            println!("{}", serde_json::to_string(&s).unwrap_or_else(|e| die(e)));
            ExitCode::SUCCESS
        }
        "service" => {
            let latch = Arc::new(Latch::default());
            let obj = Conf::binder(latch.clone(), Arc::new(Waitable::new()));
            if let Some(k) = flag("--max-threads") {
                let k: u32 = k.parse().unwrap_or_else(|e| die(e));
                ps.set_max_threads(k).unwrap_or_else(|e| die(e));
            }
            if rest.iter().any(|a| a == "--poll") {
                // Before anything reaches it: no pool thread is ever asked for.
                ps.set_max_threads(0).unwrap_or_else(|e| die(e));
            }
            if let Some(m) = flag("--min-nice") {
                let nice: i8 = m.parse().unwrap_or_else(|e| die(e));
                let min = capbinder::Priority {
                    policy: capbinder::SchedPolicy::Normal,
                    nice,
                    rt: 0,
                };
                // Before the object is first sent (to the service manager).
                obj.set_min_scheduler_policy(min).unwrap_or_else(|e| die(e));
            }
            if let Some(m) = flag("--min-rr") {
                let rt: u8 = m.parse().unwrap_or_else(|e| die(e));
                let min = capbinder::Priority {
                    policy: capbinder::SchedPolicy::RoundRobin,
                    nice: 0,
                    rt,
                };
                obj.set_min_scheduler_policy(min).unwrap_or_else(|e| die(e));
            }
            if rest.iter().any(|a| a == "--inherit-rt") {
                obj.set_inherit_rt(true).unwrap_or_else(|e| die(e));
            }
            if rest.iter().any(|a| a == "--count-by-uid") {
                proxy_count::set_count_by_uid_enabled(true);
            }
            if rest.iter().any(|a| a == "--extension") {
                // Before it is sent, so no holder ever finds it without.
                obj.set_extension(Some(new_binder(Ext)))
                    .unwrap_or_else(|e| die(e));
            }
            let name = flag("--name").unwrap_or_else(|| die("service --name N"));
            let sm = ServiceManager::get().unwrap_or_else(|e| die(e));
            sm.add_service(&name, &obj)
                .unwrap_or_else(|e| die(format!("adding {name}: {e}")));
            let other = flag("--poll-call").map(|n| sm.get_service(&n).unwrap_or_else(|e| die(e)));
            let (tx, rx) = std::sync::mpsc::channel::<String>();
            let (wake, poke) = rustix::pipe::pipe().unwrap_or_else(|e| die(e));
            let control = Arc::new(Control {
                lines: Mutex::new(rx),
                wake,
            });
            let polls = rest.iter().any(|a| a == "--poll");
            watch_stdin(move |l| {
                if l == "release" {
                    latch.open();
                } else if polls && tx.send(l.to_string()).is_ok() {
                    let _ = rustix::io::write(&poke, &[1]);
                }
            });
            if polls {
                return poll_service(
                    &ps,
                    &sm,
                    &name,
                    other,
                    &control,
                    rest.iter().any(|a| a == "--poll-death"),
                    !rest.iter().any(|a| a == "--poll-no-list"),
                );
            }
            println!("ready pid={}", std::process::id());
            match ps.join_thread_pool() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => die(e),
            }
        }
        "client" => Client::new().run(&ps),
        other => die(format!("unknown role {other:?}")),
    }
}

/// `service --poll`: serves on this one thread from an event loop that
/// polls the thread's binder fd (`setup_polling`) and the test's control
/// lines, as binderLibTest's `addPollServer` does. Control lines, each
/// answered on stdout:
/// - `pause`: stops serving (`paused`) until `call`, then calls
///   `--poll-call`'s service (`block`, held until that service's release)
///   and says `called ok=BOOL`;
/// - `sendbinder`: calls `--poll-call`'s `echoBinder` with a new local
///   object (`echoed ok=BOOL`);
/// - `ow1`: lets 4 oneway calls be in flight, sends one `log` (`sent1`),
///   waits for `ow2`, sends another and flushes them (`flushed ok=BOOL`);
/// - `owb`: lets 4 oneway calls be in flight and sends one `log` to
///   `--poll-call`'s service with a new local object in it (`sentb`),
///   then waits for `go` and serves;
/// - `busy`: from then on the loop pings `--poll-call`'s service right
///   after each `handle_polled_commands` (`busy`).
///
/// With `--poll-death` a recipient on `--poll-call`'s service makes a call
/// and then waits for `call` (`in-death`, `death-done`). Without
/// `--poll-no-list` the loop lists the services once after
/// `setup_polling` (a call of its own, before it serves anything).
fn poll_service(
    ps: &ProcessState,
    sm: &ServiceManager,
    name: &str,
    other: Option<SpIBinder>,
    control: &Arc<Control>,
    death: bool,
    list: bool,
) -> ExitCode {
    let fd = ps.setup_polling().unwrap_or_else(|e| die(e));
    let other = || other.clone().unwrap_or_else(|| die("--poll-call NAME"));
    if death {
        let r: Arc<dyn DeathRecipient> = Arc::new(PollDeath(control.clone()));
        other().link_to_death(r).unwrap_or_else(|e| die(e));
    }
    // A call of its own, from its loop: after it the thread must be free
    // for calls again (it is the only one).
    if list {
        let found = sm.list_services().unwrap_or_else(|e| die(e));
        if !found.iter().any(|n| n == name) {
            die(format!("{name} is not listed after adding it: {found:?}"));
        }
    }
    println!("ready pid={}", std::process::id());
    let log = |n: i32| {
        let mut d = Parcel::new();
        d.write(&n).unwrap_or_else(|e| die(e));
        other()
            .transact(codes::LOG, d, true)
            .unwrap_or_else(|e| die(e));
    };
    let mut busy = false;
    loop {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds = [
            PollFd::new(&fd, PollFlags::IN),
            PollFd::new(&control.wake, PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => die(e),
        }
        let (mut binder, line) = (!fds[0].revents().is_empty(), !fds[1].revents().is_empty());
        if line {
            match control.next().as_str() {
                "pause" => {
                    println!("paused");
                    control.wait_for("call");
                    let r = other().transact(codes::BLOCK, Parcel::new(), false);
                    println!("called ok={}", r.is_ok());
                }
                "sendbinder" => {
                    let mut d = Parcel::new();
                    d.write_binder(&new_binder(Ext)).unwrap_or_else(|e| die(e));
                    let r = other().transact(codes::ECHO_BINDER, d, false);
                    println!("echoed ok={}", r.is_ok());
                }
                "ow1" => {
                    ps.set_oneway_window(4);
                    log(1);
                    println!("sent1");
                    control.wait_for("ow2");
                    log(2);
                    println!("flushed ok={}", ps.flush_oneway_calls().is_ok());
                }
                "owb" => {
                    // A oneway call through the window carrying a new
                    // local object: its IncRefs and Acquire come straight
                    // to this thread, unread until the loop serves.
                    ps.set_oneway_window(4);
                    let mut d = Parcel::new();
                    d.write(&7i32).unwrap_or_else(|e| die(e));
                    d.write_binder(&new_binder(Ext)).unwrap_or_else(|e| die(e));
                    other()
                        .transact(codes::LOG, d, true)
                        .unwrap_or_else(|e| die(e));
                    println!("sentb");
                    control.wait_for("go");
                    binder = true;
                }
                "busy" => {
                    busy = true;
                    println!("busy");
                }
                other => die(format!("unknown control line {other:?}")),
            }
        }
        if binder {
            if let Err(e) = ps.handle_polled_commands() {
                // The mediator is gone (or the test ended).
                eprintln!("poll server: {e}");
                return ExitCode::SUCCESS;
            }
            if busy {
                // A call of its own the moment it has served: it must not
                // land under a call handed to it and not read yet.
                other().ping().unwrap_or_else(|e| die(e));
            }
        }
    }
}

// ---- the scriptable client ------------------------------------------------------

struct Client {
    vars: HashMap<String, SpIBinder>,
    recipients: HashMap<String, Arc<Recorder>>,
    frozen_listeners: HashMap<String, Arc<FrozenRecorder>>,
    latch: Arc<Latch>,
    notes: Arc<Waitable<String>>,
    /// This client's own object, handed out as the callback.
    me: SpIBinder,
    /// Replies kept unread (`hold`), each holding its receive buffer.
    held: Vec<Parcel>,
    /// Proxies made by `new-proxy`, oldest first.
    proxies: Vec<SpIBinder>,
    /// Watermark callbacks since `proxy-watch`: (warnings, limits).
    proxy_events: Arc<Mutex<(usize, usize)>>,
}

type Answer = std::result::Result<String, String>;

fn st(e: Status) -> String {
    status_line(&e)
}

fn num<T: std::str::FromStr>(s: &str) -> std::result::Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| format!("{s:?}: {e}"))
}

/// Reads `fd` to its end, failing if no end comes within [`WAIT`] (the
/// writer, or the mediator, kept a copy of the other end open).
fn read_to_eof(fd: OwnedFd) -> std::result::Result<String, String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut out = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut f = std::fs::File::from(fd);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no end of file within {WAIT:?} (read {:?} so far): someone still holds the write end",
                String::from_utf8_lossy(&out)
            ));
        }
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: 0,
        };
        let mut fds = [PollFd::new(&f, PollFlags::IN)];
        poll(&mut fds, Some(&ts)).map_err(|e| format!("poll: {e}"))?;
        if fds[0].revents().is_empty() {
            continue;
        }
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(0) => return Ok(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

impl Client {
    fn new() -> Client {
        let latch = Arc::new(Latch::default());
        let notes = Arc::new(Waitable::new());
        Client {
            vars: HashMap::new(),
            recipients: HashMap::new(),
            frozen_listeners: HashMap::new(),
            me: Conf::binder(latch.clone(), notes.clone()),
            latch,
            notes,
            held: Vec::new(),
            proxies: Vec::new(),
            proxy_events: Arc::default(),
        }
    }

    fn run(mut self, ps: &Arc<ProcessState>) -> ExitCode {
        // Callbacks and death notices arrive on pool threads.
        ps.start_thread_pool();
        println!("ready pid={}", std::process::id());
        for line in std::io::stdin()
            .lock()
            .lines()
            .map_while(std::result::Result::ok)
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"exit") {
                break;
            }
            match self.command(ps, &words) {
                Ok(s) if s.is_empty() => println!("ok"),
                Ok(s) => println!("ok {s}"),
                Err(e) => println!("err {e}"),
            }
        }
        ExitCode::SUCCESS
    }

    fn var(&self, w: &[&str], i: usize) -> std::result::Result<SpIBinder, String> {
        let name = w.get(i).ok_or(format!("missing variable (argument {i})"))?;
        self.vars
            .get(*name)
            .cloned()
            .ok_or_else(|| format!("no variable {name}"))
    }

    /// Notifications as `NAME=V,...`, `V` the first variable (by name)
    /// naming the object registered, `?` when none does.
    fn notices(&self, got: &[(String, SpIBinder)]) -> String {
        got.iter()
            .map(|(name, b)| {
                let var = self
                    .vars
                    .iter()
                    .filter(|(_, v)| *v == b)
                    .map(|(k, _)| k.as_str())
                    .min()
                    .unwrap_or("?");
                format!("{name}={var}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn call(
        &self,
        w: &[&str],
        code: u32,
        p: Parcel,
        oneway: bool,
    ) -> std::result::Result<Parcel, String> {
        self.var(w, 1)?.transact(code, p, oneway).map_err(st)
    }

    /// Commands (`V`, `W` name binder variables, `R` a death recipient):
    /// `get V NAME`, `check V NAME`, `sm V`, `addsm NAME`, `same V W`,
    /// `echo V TEXT`, `pid V`, `ping V`, `drop V`, `self V W`,
    /// `roundtrip V`, `callme V oneway|sync`, `nested-who V`, `cleared-who V`,
    /// `sched V`, `newlocal V`, `keep V W`, `unkeep V`, `send-weak V W`,
    /// `keep-weak V W`, `promote V`, `writefd V TEXT`, `nonblock V`, `spent-fd V`, `nofile on|off`, `fail V oneway|sync`, `panic V oneway|sync`, `fds V N`, `log V SEQ`,
    /// `getlog V N`, `step V SEQ`, `getsteps V N`, `release`,
    /// `link V R`, `unlink V R`, `await-death R`, `deaths R`,
    /// `link-via V W`, `block-bg V`, `block-oneway V`, `freeze PID on|off [TIMEOUT_MS]`, `freeze-info PID`,
    /// `frozen-listen V NAME`, `frozen-unlisten V NAME`, `frozen-states NAME N`,
    /// `pool-info`, `set-max-threads N`, `sensitive V`,
    /// `worksource V unset|set|noprop|cleared|restored|twice|nested`,
    /// `proxy-watch HIGH LOW WARNING`, `new-proxy V`, `drop-proxies N`,
    /// `hoard V N`, `proxy-uids V`, `alive V`, `dead-object V`,
    /// `hold V SIZE`, `unhold`, `bytes V SIZE`, `descriptor V`,
    /// `ext V W` (`found` or `none`), `set-ext V W|-`, `add NAME V`,
    /// `newwatcher V`, `watch NAME V`, `unwatch NAME V`,
    /// `await-notices V N`, `notices V`, `exit`.
    fn command(&mut self, ps: &Arc<ProcessState>, w: &[&str]) -> Answer {
        let arg = |i: usize| w.get(i).copied().ok_or(format!("missing argument {i}"));
        let sm = || ServiceManager::get().map_err(st);
        match w.first().copied().unwrap_or("") {
            "get" => {
                let b = sm()?.get_service(arg(2)?).map_err(st)?;
                self.vars.insert(arg(1)?.to_string(), b);
                Ok(String::new())
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
            "addsm" => {
                let sm = sm()?;
                sm.add_service(arg(1)?, sm.as_binder()).map_err(st)?;
                Ok(String::new())
            }
            "same" => Ok((self.var(w, 1)? == self.var(w, 2)?).to_string()),
            "echo" => {
                let mut p = Parcel::new();
                p.write(&w[2..].join(" ")).map_err(st)?;
                self.call(w, codes::ECHO, p, false)?.read().map_err(st)
            }
            "pid" => Ok(self
                .call(w, codes::PID, Parcel::new(), false)?
                .read::<i32>()
                .map_err(st)?
                .to_string()),
            "ping" => self.var(w, 1)?.ping().map(|()| String::new()).map_err(st),
            "alive" => Ok(self.var(w, 1)?.is_alive().to_string()),
            "dead-object" => self
                .call(w, codes::DEAD_OBJECT, Parcel::new(), false)
                .map(|_| String::new()),
            "drop" => {
                self.vars
                    .remove(arg(1)?)
                    .ok_or_else(|| format!("no variable {}", w[1]))?;
                flush_commands().map_err(st)?;
                Ok(String::new())
            }
            "self" => {
                let b = self
                    .call(w, codes::SELF, Parcel::new(), false)?
                    .read_binder()
                    .map_err(st)?;
                self.vars.insert(arg(2)?.to_string(), b);
                Ok(String::new())
            }
            "roundtrip" => {
                // Our own object out and back, then the service's own
                // object out to it and back.
                let mut p = Parcel::new();
                p.write_binder(&self.me).map_err(st)?;
                let mine = self
                    .call(w, codes::ECHO_BINDER, p, false)?
                    .read_binder()
                    .map_err(st)?;
                let theirs = self.var(w, 1)?;
                let mut p = Parcel::new();
                p.write_binder(&theirs).map_err(st)?;
                let back = self
                    .call(w, codes::ECHO_BINDER, p, false)?
                    .read_binder()
                    .map_err(st)?;
                Ok(format!(
                    "local_same={} local={} remote_same={} remote_handle_same={}",
                    mine == self.me,
                    mine.is_local(),
                    back == theirs,
                    back.handle() == theirs.handle(),
                ))
            }
            "callme" => {
                let oneway = arg(2)? == "oneway";
                let before = self.notes.len();
                let mut p = Parcel::new();
                p.write_binder(&self.me).map_err(st)?;
                self.call(w, codes::CALL_ME, p, oneway)?;
                let notes = self.notes.wait_len(before + 1);
                let note = notes
                    .get(before)
                    .ok_or(format!("no call back within {WAIT:?}"))?;
                let (pid, thread) = note.split_once(' ').ok_or("bad note")?;
                Ok(format!(
                    "caller={pid} thread={thread} same_thread={}",
                    thread == thread_name()
                ))
            }
            "nested-who" => {
                let mut p = Parcel::new();
                p.write_binder(&self.me).map_err(st)?;
                let mut r = self.call(w, codes::NESTED_WHO, p, false)?;
                let (before, inner, after, same_txn): (i32, i32, i32, bool) =
                    r.read().map_err(st)?;
                let server: i32 = self
                    .call(w, codes::PID, Parcel::new(), false)?
                    .read()
                    .map_err(st)?;
                let me = std::process::id() as i32;
                Ok(format!(
                    "before_is_me={} inner_is_server={} after_is_me={} same_txn={same_txn} none_here={}",
                    before == me,
                    inner == server,
                    after == me,
                    calling_identity().is_none(),
                ))
            }
            "cleared-who" => {
                let mut p = Parcel::new();
                p.write_binder(&self.me).map_err(st)?;
                let mut r = self.call(w, codes::CLEARED_WHO, p, false)?;
                let (before, saw_self, inner, after, same_txn): (i32, bool, i32, i32, bool) =
                    r.read().map_err(st)?;
                let server: i32 = self
                    .call(w, codes::PID, Parcel::new(), false)?
                    .read()
                    .map_err(st)?;
                let me = std::process::id() as i32;
                Ok(format!(
                    "before_is_me={} cleared_sees_itself={saw_self} inner_is_server={} after_is_me={} same_txn={same_txn}",
                    before == me,
                    inner == server,
                    after == me,
                ))
            }
            "sched" => {
                let server: String = self
                    .call(w, codes::SCHED, Parcel::new(), false)?
                    .read()
                    .map_err(st)?;
                let me = this_threads_sched().map_err(st)?;
                Ok(format!("server={server} caller={me}"))
            }
            "sched-rr" => {
                // `sched` from this thread at SCHED_RR PRIO, then back to
                // what it had.
                use capbinder_kmod_shim::sys::sched::{self, SchedPolicy, ThreadSched};
                let prio: u8 = arg(2)?.parse().map_err(|e| format!("{e}"))?;
                let tid = rustix::thread::gettid();
                let was = sched::thread_sched(tid).map_err(|e| e.to_string())?;
                let rr = ThreadSched {
                    policy: SchedPolicy::RoundRobin,
                    nice: 0,
                    rt_priority: prio,
                    reset_on_fork: true,
                };
                sched::set_thread_sched(tid, &rr).map_err(|e| format!("sched_setattr: {e}"))?;
                let server = self.call(w, codes::SCHED, Parcel::new(), false);
                let me = this_threads_sched();
                sched::set_thread_sched(tid, &was).map_err(|e| format!("restoring: {e}"))?;
                let server: String = server?.read().map_err(st)?;
                Ok(format!("server={server} caller={}", me.map_err(st)?))
            }
            "newlocal" => {
                let b = Conf::binder(self.latch.clone(), self.notes.clone());
                self.vars.insert(arg(1)?.to_string(), b);
                Ok(String::new())
            }
            "keep" | "send-weak" => {
                let code = if w[0] == "keep" {
                    codes::KEEP
                } else {
                    codes::SEND_WEAK
                };
                let mut p = Parcel::new();
                p.write_binder(&self.var(w, 2)?).map_err(st)?;
                self.call(w, code, p, false).map(|_| String::new())
            }
            "keep-weak" => {
                let mut p = Parcel::new();
                p.write_weak_binder(&self.var(w, 2)?.downgrade())
                    .map_err(st)?;
                self.call(w, codes::KEEP_WEAK, p, false)
                    .map(|_| String::new())
            }
            "unkeep" => self
                .call(w, codes::UNKEEP, Parcel::new(), false)
                .map(|_| String::new()),
            "promote" => {
                let (promoted, echo): (bool, String) = self
                    .call(w, codes::PROMOTE, Parcel::new(), false)?
                    .read()
                    .map_err(st)?;
                Ok(if promoted {
                    format!("promoted=true echo={echo}")
                } else {
                    "promoted=false".into()
                })
            }
            "writefd" => {
                let (r, wr) = rustix::pipe::pipe().map_err(|e| e.to_string())?;
                let mut p = Parcel::new();
                // The write end is moved into the parcel: after the call,
                // only the service's copy could keep it open.
                p.write_fd(wr).map_err(st)?;
                p.write(&w[2..].join(" ")).map_err(st)?;
                self.call(w, codes::WRITE_FD, p, false)?;
                Ok(format!("read={}", read_to_eof(r)?))
            }
            "nofile" => {
                // `on`: no fd can be made any more (the soft RLIMIT_NOFILE
                // at the lowest free fd), so fds that come with a return
                // are dropped by the kernel; `off`: back to the hard limit.
                let mut lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
                if arg(1)? == "on" {
                    let probe =
                        rustix::io::dup(std::io::stdin().as_fd()).map_err(|e| e.to_string())?;
                    lim.current = Some(std::os::fd::AsRawFd::as_raw_fd(&probe) as u64);
                } else {
                    lim.current = lim.maximum;
                }
                rustix::process::setrlimit(rustix::process::Resource::Nofile, lim)
                    .map_err(|e| e.to_string())?;
                Ok("set".into())
            }
            "nonblock" => {
                let fd = self
                    .call(w, codes::NONBLOCK_FD, Parcel::new(), false)?
                    .read_fd()
                    .map_err(st)?;
                let fl = rustix::fs::fcntl_getfl(fd.as_fd()).map_err(|e| e.to_string())?;
                Ok(format!(
                    "nonblocking={}",
                    fl.contains(rustix::fs::OFlags::NONBLOCK)
                ))
            }
            "spent-fd" => {
                let mut r = self.call(w, codes::SPENT_FD, Parcel::new(), false)?;
                Ok(format!("fd={}", r.read_fd().is_ok()))
            }
            "fds" => {
                let mut p = Parcel::new();
                p.write(&num::<u32>(arg(2)?)?).map_err(st)?;
                let mut r = self.call(w, codes::MANY_FDS, p, false)?;
                let n: u32 = r.read().map_err(st)?;
                for _ in 0..n {
                    r.read_fd().map_err(st)?;
                }
                Ok(format!("fds={n}"))
            }
            "panic" => {
                let oneway = arg(2)? == "oneway";
                self.call(w, codes::PANIC, Parcel::new(), oneway)
                    .map(|_| String::new())
            }
            "fail" => {
                let oneway = arg(2)? == "oneway";
                self.call(w, codes::FAIL, Parcel::new(), oneway)
                    .map(|_| String::new())
            }
            "log" => {
                let mut p = Parcel::new();
                p.write(&num::<u32>(arg(2)?)?).map_err(st)?;
                self.call(w, codes::LOG, p, true).map(|_| String::new())
            }
            "getlog" => {
                let mut p = Parcel::new();
                p.write(&num::<usize>(arg(2)?)?).map_err(st)?;
                let log: Vec<u32> = self.call(w, codes::GET_LOG, p, false)?.read().map_err(st)?;
                Ok(log.iter().map(u32::to_string).collect::<Vec<_>>().join(","))
            }
            "step" => {
                let mut p = Parcel::new();
                p.write_binder(&self.me).map_err(st)?;
                p.write(&num::<u32>(arg(2)?)?).map_err(st)?;
                self.call(w, codes::STEP, p, true).map(|_| String::new())
            }
            "getsteps" => {
                let mut p = Parcel::new();
                p.write(&num::<usize>(arg(2)?)?).map_err(st)?;
                let steps: Vec<String> = self
                    .call(w, codes::GET_STEPS, p, false)?
                    .read()
                    .map_err(st)?;
                Ok(steps.join(","))
            }
            "release" => {
                self.latch.open();
                Ok(String::new())
            }
            "link" => {
                let name = arg(2)?.to_string();
                let r = self.recipients.entry(name).or_default().clone();
                self.var(w, 1)?.link_to_death(r).map_err(st)?;
                Ok(String::new())
            }
            "unlink" => {
                let r: Arc<dyn DeathRecipient> = self
                    .recipients
                    .get(arg(2)?)
                    .cloned()
                    .ok_or("no such recipient")?;
                self.var(w, 1)?.unlink_to_death(&r).map_err(st)?;
                Ok(String::new())
            }
            "await-death" => {
                let r = self.recipients.get(arg(1)?).ok_or("no such recipient")?;
                let t = r.threads.wait_len(1);
                if t.is_empty() {
                    return Err(format!("no death notice within {WAIT:?}"));
                }
                Ok(format!("count={} threads={}", t.len(), t.join(",")))
            }
            "deaths" => {
                let r = self.recipients.get(arg(1)?).ok_or("no such recipient")?;
                Ok(format!("count={}", r.threads.len()))
            }
            "worksource" => {
                // binderLibTest's WorkSource* cases, by name; each leaves
                // this thread's work source as it found it.
                let before = work_source::clear_calling_work_source();
                work_source::restore_calling_work_source(before);
                match arg(2)? {
                    "unset" => {}
                    "set" | "twice" => {
                        let _ = work_source::set_calling_work_source_uid(100);
                    }
                    "noprop" => {
                        let _ = work_source::set_calling_work_source_uid_without_propagation(100);
                    }
                    "cleared" => {
                        let _ = work_source::set_calling_work_source_uid(100);
                        let _ = work_source::clear_calling_work_source();
                    }
                    "restored" => {
                        let token = work_source::set_calling_work_source_uid(100);
                        let _ = work_source::clear_calling_work_source();
                        work_source::restore_calling_work_source(token);
                        let _ = work_source::set_calling_work_source_uid(100);
                    }
                    "nested" => {
                        let _ = work_source::set_calling_work_source_uid(100);
                        let mut p = Parcel::new();
                        p.write_binder(&self.me).map_err(st)?;
                        let seen: Vec<i64> = self
                            .call(w, codes::NESTED_WORK_SOURCE, p, false)?
                            .read()
                            .map_err(st)?;
                        work_source::restore_calling_work_source(before);
                        return Ok(format!("{seen:?}"));
                    }
                    m => return Err(format!("worksource: no mode {m}")),
                }
                let mut seen = Vec::new();
                for _ in 0..if arg(2)? == "twice" { 2 } else { 1 } {
                    let n: i64 = self
                        .call(w, codes::WORK_SOURCE, Parcel::new(), false)?
                        .read()
                        .map_err(st)?;
                    seen.push(n.to_string());
                }
                let mine = work_source_number();
                work_source::restore_calling_work_source(before);
                Ok(format!("{} own={mine}", seen.join(" ")))
            }
            "proxy-watch" => {
                proxy_count::set_proxy_count_watermarks(
                    num(arg(1)?)?,
                    num(arg(2)?)?,
                    num(arg(3)?)?,
                );
                let (warn, limit) = (self.proxy_events.clone(), self.proxy_events.clone());
                proxy_count::set_proxy_count_callbacks(
                    Some(Arc::new(move |_uid| lock(&limit).1 += 1)),
                    Some(Arc::new(move |_uid| lock(&warn).0 += 1)),
                );
                proxy_count::set_count_by_uid_enabled(true);
                Ok(String::new())
            }
            "new-proxy" => {
                let before = *lock(&self.proxy_events);
                let b = self
                    .call(w, codes::NEW_BINDER, Parcel::new(), false)?
                    .read_binder()
                    .map_err(st)?;
                self.proxies.push(b);
                let after = *lock(&self.proxy_events);
                Ok(format!(
                    "warnings={} limits={} {}",
                    after.0 - before.0,
                    after.1 - before.1,
                    proxy_counts()
                ))
            }
            "hoard" => {
                for _ in 0..num::<usize>(arg(2)?)? {
                    let mut p = Parcel::new();
                    p.write_binder(&new_binder(Ext)).map_err(st)?;
                    self.call(w, codes::HOARD, p, false)?;
                }
                Ok(String::new())
            }
            "proxy-uids" => {
                let uids: Vec<(u32, usize)> = self
                    .call(w, codes::PROXY_UIDS, Parcel::new(), false)?
                    .read()
                    .map_err(st)?;
                Ok(format!("{uids:?}"))
            }
            "drop-proxies" => {
                let n = num::<usize>(arg(1)?)?.min(self.proxies.len());
                self.proxies.drain(..n);
                Ok(proxy_counts())
            }
            "sensitive" => {
                let mut p = Parcel::new();
                p.mark_sensitive();
                let mut r = self.call(w, codes::IS_SENSITIVE, p, false)?;
                let seen: bool = r.read().map_err(st)?;
                let marked: bool = r.read().map_err(st)?;
                Ok(format!(
                    "request={seen} reply-in-handler={marked} reply={}",
                    r.is_sensitive()
                ))
            }
            "pool-info" => Ok(format!(
                "started={} max={}",
                ps.is_thread_pool_started(),
                ps.max_threads().map_err(st)?
            )),
            "set-max-threads" => {
                ps.set_max_threads(num(arg(1)?)?).map_err(st)?;
                Ok(String::new())
            }
            "frozen-listen" => {
                let r = self
                    .frozen_listeners
                    .entry(arg(2)?.to_string())
                    .or_insert_with(|| {
                        Arc::new(FrozenRecorder {
                            states: Waitable::new(),
                        })
                    })
                    .clone();
                self.var(w, 1)?
                    .add_frozen_state_change_callback(r)
                    .map_err(st)?;
                Ok(String::new())
            }
            "frozen-unlisten" => {
                let r: Arc<dyn FrozenStateChangeCallback> = self
                    .frozen_listeners
                    .get(arg(2)?)
                    .cloned()
                    .ok_or("no such listener")?;
                self.var(w, 1)?
                    .remove_frozen_state_change_callback(&r)
                    .map_err(st)?;
                Ok(String::new())
            }
            "frozen-states" => {
                // Waits for N states (or WAIT), then says what came.
                let r = self
                    .frozen_listeners
                    .get(arg(1)?)
                    .ok_or("no such listener")?;
                let n: usize = num(arg(2)?)?;
                Ok(r.states.wait_len(n).join(","))
            }
            "link-via" => {
                let mut p = Parcel::new();
                p.write_binder(&self.var(w, 2)?).map_err(st)?;
                let (fired, threads): (bool, String) = self
                    .call(w, codes::LINK_AND_WAIT, p, false)?
                    .read()
                    .map_err(st)?;
                Ok(format!("fired={fired} threads={threads}"))
            }
            "block-bg" => {
                let b = self.var(w, 1)?;
                std::thread::spawn(
                    move || match b.transact(codes::BLOCK, Parcel::new(), false) {
                        Ok(_) => println!("block-done ok"),
                        Err(e) => println!("block-done err {}", st(e)),
                    },
                );
                Ok("started".into())
            }
            "block-oneway" => self
                .call(w, codes::BLOCK, Parcel::new(), true)
                .map(|_| String::new()),
            "freeze" => {
                let pid: i32 = num(arg(1)?)?;
                let timeout_ms: u64 = match arg(3) {
                    Ok(t) => num(t)?,
                    Err(_) => 0,
                };
                ps.freeze(
                    pid,
                    arg(2)? == "on",
                    std::time::Duration::from_millis(timeout_ms),
                )
                .map_err(st)?;
                Ok(String::new())
            }
            "freeze-info" => {
                let i = ps.freeze_info(num(arg(1)?)?).map_err(st)?;
                Ok(format!(
                    "frozen={} sync={} async={}",
                    i.frozen,
                    i.sync_received_bits(),
                    i.async_received_bits()
                ))
            }
            "bytes" | "hold" => {
                let n: usize = num(arg(2)?)?;
                let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                let mut p = Parcel::new();
                p.write_bytes(&data).map_err(st)?;
                let mut reply = self.call(w, codes::ECHO_BYTES, p, false)?;
                if reply.read_bytes().map_err(st)? != data {
                    return Err(format!("{n} bytes came back different"));
                }
                if w[0] == "hold" {
                    // Kept: its receive-buffer range stays allocated.
                    reply.rewind();
                    self.held.push(reply);
                }
                Ok(format!("equal len={n}"))
            }
            "unhold" => {
                self.held.clear();
                flush_commands().map_err(st)?;
                Ok(String::new())
            }
            "descriptor" => self.var(w, 1)?.descriptor().map_err(st),
            "ext" => match self.var(w, 1)?.get_extension().map_err(st)? {
                Some(e) => {
                    self.vars.insert(arg(2)?.to_string(), e);
                    Ok("found".into())
                }
                None => Ok("none".into()),
            },
            "set-ext" => {
                let ext = match arg(2)? {
                    "-" => None,
                    _ => Some(self.var(w, 2)?),
                };
                let mut p = Parcel::new();
                p.write_nullable_binder(ext.as_ref()).map_err(st)?;
                self.call(w, codes::SET_EXTENSION, p, false)
                    .map(|_| String::new())
            }
            "add" => {
                sm()?.add_service(arg(1)?, &self.var(w, 2)?).map_err(st)?;
                Ok(String::new())
            }
            "newwatcher" => {
                let b = new_binder(Watcher {
                    got: Waitable::new(),
                });
                self.vars.insert(arg(1)?.to_string(), b);
                Ok(String::new())
            }
            "watch" => {
                sm()?
                    .register_for_notifications(arg(1)?, &self.var(w, 2)?)
                    .map_err(st)?;
                Ok(String::new())
            }
            "unwatch" => {
                sm()?
                    .unregister_for_notifications(arg(1)?, &self.var(w, 2)?)
                    .map_err(st)?;
                Ok(String::new())
            }
            "await-notices" | "notices" => {
                let b = self.var(w, 1)?;
                let watcher = b.local_as::<Watcher>().ok_or("not a watcher")?;
                let got = if w[0] == "notices" {
                    watcher.got.wait_len(0)
                } else {
                    let n: usize = num(arg(2)?)?;
                    let got = watcher.got.wait_len(n);
                    if got.len() < n {
                        return Err(format!(
                            "{} of {n} notices within {WAIT:?}: {}",
                            got.len(),
                            self.notices(&got)
                        ));
                    }
                    got
                };
                Ok(self.notices(&got))
            }
            other => Err(format!("unknown command {other:?}")),
        }
    }
}
