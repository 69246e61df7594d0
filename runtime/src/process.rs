//! `ProcessState`: one per process (libbinder's `ProcessState`). It holds
//! the device (the connection to the mediator), the local objects this
//! process has sent out and the counts remote holders keep on them, the
//! proxies for handles it holds, death subscriptions, and the thread pool.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use capbinder_core::{Command, Handle, Limits, Return, StateDump};
use capbinder_kmod_shim::device::Device;
use rustc_hash::FxHashMap;

use crate::binder::{DeathRecipient, DeathState, LocalObject, Proxy, SpIBinder};
use crate::status::{Result, Status, StatusCode};
use crate::thread;

static PROCESS: OnceLock<Arc<ProcessState>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// What a process was sent while frozen: [`ProcessState::freeze_info`]
/// (libbinder's `getProcessFreezeInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreezeInfo {
    /// The process is frozen now, or being frozen (a freeze waits for its
    /// calls to finish, refusing new sync calls meanwhile, as binder's
    /// `is_frozen` is set while it waits). libbinder's
    /// `getProcessFreezeInfo` has no such flag; this is capbinder's.
    pub frozen: bool,
    /// A sync call to it was refused as frozen since it was last frozen or
    /// thawed (`sync_received` bit 0).
    pub sync_received: bool,
    /// A oneway call was queued for it while frozen since it was last
    /// frozen or thawed (`async_received`).
    pub async_received: bool,
    /// Calls to it are not finished: sync calls unanswered, oneway calls
    /// undelivered (`sync_received` bit 1).
    pub txns_pending: bool,
}

impl FreezeInfo {
    /// libbinder's `sync_received` word: bit 0 a sync call while frozen,
    /// bit 1 calls still pending.
    pub fn sync_received_bits(&self) -> u32 {
        u32::from(self.sync_received) | (u32::from(self.txns_pending) << 1)
    }

    /// libbinder's `async_received` word.
    pub fn async_received_bits(&self) -> u32 {
        u32::from(self.async_received)
    }
}

/// A proxy's key in the table: its handle and whether it holds a strong
/// count. Handle 0 holds no counts, so it has one proxy, strong.
fn proxy_key(h: Handle, strong: bool) -> (Handle, bool) {
    (h, strong || h == Handle::CONTEXT_MANAGER)
}

/// A fresh id for a local object or a death cookie (never 0).
pub(crate) fn next_local_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A local object other processes may hold: the counts they hold (as the
/// mediator told us), and how many of our own sends of it are in flight
/// (so that a Release racing a new send never drops the object).
struct Exported {
    obj: Arc<LocalObject>,
    strong: u32,
    weak: u32,
    sending: u32,
}

impl Exported {
    fn unused(&self) -> bool {
        self.strong == 0 && self.weak == 0 && self.sending == 0
    }
}

#[derive(Default)]
struct Pool {
    started: bool,
}

/// This process's binder state.
pub struct ProcessState {
    pub(crate) dev: Device,
    // Fx, not SipHash, on these per-call lookups: no key is chosen by a
    // peer. Local ids and death cookies are our own counter
    // (`next_local_id`), and handles are numbered by the mediator, so no
    // one can pick keys that collide.
    exported: Mutex<FxHashMap<u64, Exported>>,
    /// By handle and count (strong or weak): a handle held both ways has
    /// a proxy for each, and each keeps its own identity.
    proxies: Mutex<FxHashMap<(Handle, bool), Weak<Proxy>>>,
    deaths: Mutex<FxHashMap<u64, Weak<Proxy>>>,
    /// Freeze subscriptions, by cookie.
    pub(crate) frozen_subs: Mutex<FxHashMap<u64, Weak<Proxy>>>,
    pool: Mutex<Pool>,
    /// Listeners for topic notices, by the subscribed callback's id.
    pub(crate) topic_listeners: Mutex<FxHashMap<u64, Arc<dyn crate::topic::TopicListener>>>,
    lost: AtomicBool,
    /// Spawn requests this process could not meet, not yet reported: the
    /// failing thread may have no channel of its own, so whichever thread
    /// writes next tells the mediator (`SpawnFailed`).
    failed_spawns: AtomicU32,
    /// Oneway calls each thread may have in flight (0: each waits for
    /// its answer); see `oneway`.
    oneway_window: AtomicUsize,
    /// Sync calls may go over direct channels (`direct`).
    direct: AtomicBool,
    /// Oneway calls sent (`count_oneway`).
    oneway_sent: AtomicU64,
    me: Weak<ProcessState>,
}

impl std::fmt::Debug for ProcessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessState")
            .field("socket", &self.dev.socket_path())
            .finish()
    }
}

/// Keeps a local object exported while a send of it is in flight.
pub(crate) struct SendGuard {
    process: Arc<ProcessState>,
    id: u64,
}

impl Drop for SendGuard {
    fn drop(&mut self) {
        let mut ex = self
            .process
            .exported
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(e) = ex.get_mut(&self.id) {
            e.sending -= 1;
            if e.unused() {
                ex.remove(&self.id);
            }
        }
    }
}

impl ProcessState {
    /// Opens the context at `socket` (or the default places) for this
    /// process. The first call decides; a later call naming another socket
    /// is an error.
    pub fn init(socket: Option<&Path>) -> Result<Arc<ProcessState>> {
        if let Some(p) = PROCESS.get() {
            if let Some(s) = socket {
                if s != p.dev.socket_path() {
                    return Err(Status::from_code(
                        StatusCode::InvalidOperation,
                        format!(
                            "this process already uses {}; one process talks to one mediator",
                            p.dev.socket_path().display()
                        ),
                    ));
                }
            }
            return Ok(p.clone());
        }
        let dev = Device::open(socket)?;
        let ps = Arc::new_cyclic(|me| ProcessState {
            dev,
            exported: Mutex::default(),
            proxies: Mutex::default(),
            deaths: Mutex::default(),
            frozen_subs: Mutex::default(),
            pool: Mutex::default(),
            topic_listeners: Mutex::default(),
            lost: AtomicBool::new(false),
            failed_spawns: AtomicU32::new(0),
            oneway_window: AtomicUsize::new(0),
            direct: AtomicBool::new(true),
            oneway_sent: AtomicU64::new(0),
            me: me.clone(),
        });
        // Two threads racing here: the loser's device closes, harmlessly.
        Ok(PROCESS.get_or_init(|| ps).clone())
    }

    /// The process state, opening the default context on first use.
    pub fn get() -> Result<Arc<ProcessState>> {
        Self::init(None)
    }

    /// As [`get`](Self::get), borrowed from the static: the per-call
    /// paths (a parcel leasing its send area) take no count.
    pub(crate) fn current() -> Result<&'static Arc<ProcessState>> {
        if let Some(p) = PROCESS.get() {
            return Ok(p);
        }
        Self::get()?;
        Ok(PROCESS.get().expect("set by a successful init"))
    }

    pub(crate) fn arc(&self) -> Arc<ProcessState> {
        self.me.upgrade().expect("ProcessState is kept in a static")
    }

    /// The limits the mediator announced.
    pub fn limits(&self) -> &Limits {
        self.dev.limits()
    }

    /// The context manager (handle 0): the service manager.
    pub fn context_manager(&self) -> SpIBinder {
        self.proxy_for(Handle::CONTEXT_MANAGER, true).0
    }

    /// Makes `obj` the context manager (handle 0) for everyone.
    pub fn become_context_manager(&self, obj: &SpIBinder) -> Result<()> {
        let l = obj.local_object().ok_or_else(|| {
            Status::from_code(
                StatusCode::InvalidOperation,
                "only a local object can become the context manager",
            )
        })?;
        let _guard = self.export(l);
        // Keep it exported for the life of the process.
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(&l.id)
            .expect("just exported")
            .strong += 1;
        thread::command(
            &self.arc(),
            Command::SetContextManager {
                ptr: l.id,
                cookie: l.id,
                flags: l.flags(),
            },
        )
    }

    /// Starts the thread pool: one thread that serves calls, and more as
    /// the mediator asks for them.
    pub fn start_thread_pool(&self) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.started {
            return;
        }
        pool.started = true;
        let me = self.arc();
        std::thread::Builder::new()
            .name("capbinder-pool-0".into())
            .spawn(move || {
                let _ = thread::looper(&me, true);
            })
            .expect("spawning the first pool thread");
    }

    /// Lets the calling thread serve calls from an event loop of its own
    /// (libbinder's `IPCThreadState::setupPolling`, the NDK's
    /// `ABinderProcess_setupPolling`): it joins the pool and the returned
    /// fd turns readable when work arrives for it; then call
    /// [`handle_polled_commands`](Self::handle_polled_commands) on this
    /// same thread. The mediator wakes it and leaves the work queued until
    /// it reads, so a call of its own is never nested under an unread one.
    /// A thread that polls does not also
    /// [`join_thread_pool`](Self::join_thread_pool).
    pub fn setup_polling(&self) -> Result<std::os::fd::OwnedFd> {
        thread::setup_polling(&self.arc())
    }

    /// Serves, on the calling thread, every call and notice that has
    /// arrived for it, until the mediator has nothing more for it
    /// (libbinder's `handlePolledCommands`).
    pub fn handle_polled_commands(&self) -> Result<()> {
        thread::handle_polled(&self.arc())
    }

    /// Serves calls on the calling thread until the connection is lost.
    pub fn join_thread_pool(&self) -> Result<()> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).started = true;
        thread::looper(&self.arc(), true)
    }

    pub(crate) fn spawn_pooled_thread(&self) {
        let me = self.arc();
        let spawned = std::thread::Builder::new()
            .name("capbinder-pool".into())
            .spawn(move || {
                if let Err(e) = thread::looper(&me, false) {
                    tracing::debug!("pool thread ended: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a pool thread: {e}");
            self.spawn_failed();
        }
    }

    /// Notes a spawn request that could not be met, for the next write.
    pub(crate) fn spawn_failed(&self) {
        self.failed_spawns.fetch_add(1, Ordering::Relaxed);
    }

    /// The `SpawnFailed` reports owed to the mediator, taken.
    pub(crate) fn take_failed_spawns(&self) -> u32 {
        // A load first: this runs on every write, and the swap would
        // take the cache line from every other thread each time.
        if self.failed_spawns.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.failed_spawns.swap(0, Ordering::Relaxed)
    }

    /// Lets each thread of this process keep up to `calls` oneway calls in
    /// flight: a oneway call then returns once it is written, without
    /// waiting for the mediator to accept it, and what fails among them
    /// comes back from [`flush_oneway_calls`](Self::flush_oneway_calls).
    /// 0, the default, is libbinder's behaviour: each oneway call waits
    /// for its answer and returns its own status. With the caller on
    /// another CPU than the mediator, a window is what lets a stream of
    /// oneway calls run at the speed of pipelined D-Bus calls, or faster.
    /// See [`oneway`](crate::oneway) for what changes.
    pub fn set_oneway_window(&self, calls: usize) {
        self.oneway_window.store(calls, Ordering::Relaxed);
    }

    /// Whether this process's threads may make their data-only sync calls
    /// over direct channels (on by default; see [`direct`](crate::direct)).
    /// Off, every call goes through the mediator, as a benchmark of the
    /// mediator's own path wants. A channel already open stays open until
    /// its thread ends, but carries no more calls.
    pub fn set_direct_calls(&self, on: bool) {
        self.direct.store(on, Ordering::Relaxed);
    }

    /// What [`set_direct_calls`](Self::set_direct_calls) set.
    pub fn direct_calls(&self) -> bool {
        self.direct.load(Ordering::Relaxed)
    }

    /// Counts a oneway call sent, before it is written. After one, each
    /// thread makes its next sync call on each handle through the
    /// mediator, which hands it over behind the oneway call, as without
    /// direct channels: a oneway call that registers something, then a
    /// sync call (from any thread) that relies on it, is a common pattern,
    /// and a direct call could overtake the oneway call still queued there
    /// (`direct::call`). Release, with `oneway_sent`'s acquire: a thread
    /// that learns of the call (a join, a lock) sees the count.
    pub(crate) fn count_oneway(&self) {
        self.oneway_sent.fetch_add(1, Ordering::Release);
    }

    /// How many oneway calls this process has sent.
    pub(crate) fn oneway_sent(&self) -> u64 {
        self.oneway_sent.load(Ordering::Acquire)
    }

    /// The window [`set_oneway_window`](Self::set_oneway_window) set.
    pub fn oneway_window(&self) -> usize {
        self.oneway_window.load(Ordering::Relaxed)
    }

    /// Waits until the mediator has answered every oneway call the calling
    /// thread has in flight. `Err` when any sent since the last flush
    /// failed: how many, and the first failure (a dead object's proxy is
    /// already marked dead). `Ok` at once without a window.
    pub fn flush_oneway_calls(&self) -> std::result::Result<(), crate::oneway::OnewayFailures> {
        match thread::flush_oneway(&self.arc()) {
            Ok(None) => Ok(()),
            Ok(Some(f)) => Err(f),
            Err(status) => Err(crate::oneway::OnewayFailures {
                count: 0,
                first: status,
            }),
        }
    }

    /// The pool may grow to `n` threads (within the mediator's cap).
    pub fn set_max_threads(&self, n: u32) -> Result<()> {
        thread::command(&self.arc(), Command::SetMaxThreads(n))
    }

    /// How many threads the mediator may ask this process's pool to grow
    /// by, as it records it (libbinder's
    /// `getThreadPoolMaxTotalThreadCount`, less the threads that joined
    /// by themselves).
    pub fn max_threads(&self) -> Result<u32> {
        let me = std::process::id() as i32;
        let s = self.state()?;
        let p = s.processes.iter().find(|p| p.pid == me).ok_or_else(|| {
            Status::from_code(
                StatusCode::UnknownError,
                "the mediator's state does not list this process",
            )
        })?;
        Ok(p.max_threads)
    }

    /// Whether [`start_thread_pool`](Self::start_thread_pool) or
    /// [`join_thread_pool`](Self::join_thread_pool) ran (libbinder's
    /// `isThreadPoolStarted`).
    pub fn is_thread_pool_started(&self) -> bool {
        self.pool.lock().unwrap_or_else(|e| e.into_inner()).started
    }

    /// The mediator's state as this process may see it.
    pub fn state(&self) -> Result<StateDump> {
        match thread::request(&self.arc(), Command::DumpState)? {
            Return::State(s) => Ok(*s),
            other => Err(Status::from_code(
                StatusCode::UnknownError,
                format!("unexpected answer to DumpState: {other:?}"),
            )),
        }
    }

    /// Freezes (or thaws) the process with this pid (privileged;
    /// libbinder's `IPCThreadState::freeze(pid, enable, timeout_ms)`).
    ///
    /// Once frozen, sync calls to it fail with `Frozen` and oneway calls
    /// wait for the thaw. Freezing needs every call sent to the process
    /// finished (sync calls answered, oneway calls delivered), as binder
    /// does. While one is not, and `timeout` is not zero, the process is
    /// held as being frozen, as binder holds it: new sync calls to it fail
    /// with `Frozen` (so a steady stream of them cannot keep it busy), it
    /// runs, and it is sent its oneway calls. This retries until they are
    /// done and it is frozen, or until `timeout` has passed: then it fails
    /// with `WouldBlock` (binder's `-EAGAIN`) and lets the process go
    /// back to serving. Were this process to exit meanwhile, the mediator
    /// lets it go too.
    pub fn freeze(&self, pid: i32, enable: bool, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let hold = enable && !timeout.is_zero();
        let mut pause = Duration::from_millis(1);
        loop {
            let r = thread::command(&self.arc(), Command::Freeze { pid, enable, hold });
            match r {
                Err(e) if e.code == StatusCode::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e) if e.code == StatusCode::WouldBlock && hold => {
                    // Let it go (and thaw nothing: it may have been
                    // frozen before this began).
                    let release = Command::Freeze {
                        pid,
                        enable: false,
                        hold: true,
                    };
                    if let Err(r) = thread::command(&self.arc(), release) {
                        tracing::warn!("releasing pid {pid} after a freeze timed out: {r}");
                    }
                    return Err(e);
                }
                r => return r,
            }
        }
    }

    /// What was sent to the process with this pid while it was frozen
    /// (libbinder's `IPCThreadState::getProcessFreezeInfo`, binder's
    /// `BINDER_GET_FROZEN_INFO`). Both flags are cleared each time it is
    /// frozen or thawed. Read from the state dump, so it needs a privileged
    /// process (`PermissionDenied` otherwise); a pid with no connection to
    /// the mediator is `BadValue` (binder's `-EINVAL`).
    pub fn freeze_info(&self, pid: i32) -> Result<FreezeInfo> {
        let s = self.state()?;
        if !s.sees_all {
            return Err(Status::from_code(
                StatusCode::PermissionDenied,
                format!(
                    "freeze info for pid {pid}: only a privileged process sees other processes' state"
                ),
            ));
        }
        let mut found = s.processes.iter().filter(|p| p.pid == pid).peekable();
        if found.peek().is_none() {
            return Err(Status::from_code(
                StatusCode::BadValue,
                format!("freeze info for pid {pid}: no such process is connected to the mediator"),
            ));
        }
        // Binder ORs over every binder_proc of the pid; a pid may hold
        // more than one connection here too.
        Ok(found.fold(FreezeInfo::default(), |i, p| FreezeInfo {
            frozen: i.frozen || p.frozen || p.freezing,
            sync_received: i.sync_received || p.frozen_sync_received,
            async_received: i.async_received || p.frozen_async_received,
            txns_pending: i.txns_pending || p.txns_pending,
        }))
    }

    /// Whether the connection to the mediator is gone.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    // ---- local objects ---------------------------------------------------

    pub(crate) fn export(&self, l: &Arc<LocalObject>) -> SendGuard {
        let mut ex = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        ex.entry(l.id)
            .or_insert_with(|| Exported {
                obj: l.clone(),
                strong: 0,
                weak: 0,
                sending: 0,
            })
            .sending += 1;
        SendGuard {
            process: self.arc(),
            id: l.id,
        }
    }

    pub(crate) fn lookup_local(&self, ptr: u64) -> Option<Arc<LocalObject>> {
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ptr)
            .map(|e| e.obj.clone())
    }

    /// Applies a reference notice for one of our objects; returns the
    /// acknowledgement to send, if any.
    pub(crate) fn on_ref_notice(&self, ret: &Return) -> Option<Command> {
        let mut ex = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        let (ptr, cookie) = match *ret {
            Return::IncRefs { ptr, cookie }
            | Return::Acquire { ptr, cookie }
            | Return::Release { ptr, cookie }
            | Return::DecRefs { ptr, cookie } => (ptr, cookie),
            _ => return None,
        };
        let Some(e) = ex.get_mut(&ptr) else {
            // Never expected: an increment comes to the thread whose send
            // (holding a `SendGuard`) caused it, and the mediator tells no
            // release while a call to the object is on its way. Left
            // unacknowledged, the mediator keeps the node (and its
            // holders' calls fail as "no longer exported").
            tracing::warn!("{ret:?} for local object #{ptr}, which is not exported: ignored");
            return None;
        };
        let ack = match ret {
            Return::IncRefs { .. } => {
                e.weak += 1;
                Some(Command::IncRefsDone { ptr, cookie })
            }
            Return::Acquire { .. } => {
                e.strong += 1;
                Some(Command::AcquireDone { ptr, cookie })
            }
            Return::Release { .. } => {
                e.strong = e.strong.saturating_sub(1);
                None
            }
            _ => {
                e.weak = e.weak.saturating_sub(1);
                None
            }
        };
        if e.unused() {
            ex.remove(&ptr);
        }
        ack
    }

    // ---- proxies ---------------------------------------------------------

    /// The proxy for `h`, made on first sight; the mediator gave us one
    /// count with this object, so a second proxy's count is given back
    /// (the returned command). Handle 0 holds no counts: it has one proxy.
    pub(crate) fn proxy_for(&self, h: Handle, strong: bool) -> (SpIBinder, Option<Command>) {
        let key = proxy_key(h, strong);
        let mut map = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(&key).and_then(Weak::upgrade) {
            let give_back = (h != Handle::CONTEXT_MANAGER).then_some(if strong {
                Command::Release(h)
            } else {
                Command::DecRefs(h)
            });
            return (SpIBinder::from_proxy(p), give_back);
        }
        let process = self.arc();
        let (tracked_uid, due) = crate::proxy_count::proxy_made();
        let p = Arc::new(Proxy {
            handle: h,
            strong: key.1,
            dead: AtomicBool::new(self.is_lost()),
            obits_sent: AtomicBool::new(self.is_lost()),
            deaths: Mutex::new(DeathState::default()),
            frozen: Mutex::default(),
            tracked_uid,
            process,
        });
        map.insert(key, Arc::downgrade(&p));
        drop(map);
        due.call();
        (SpIBinder::from_proxy(p), None)
    }

    /// Promotes a weakly held proxy: the strong proxy this process has
    /// for the handle, or a strong count the mediator grants while some
    /// process holds one (`PromotionFailed` otherwise).
    pub(crate) fn promote(&self, weak: &Arc<Proxy>) -> Option<SpIBinder> {
        let h = weak.handle;
        let held = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&proxy_key(h, true))
            .and_then(Weak::upgrade);
        if let Some(p) = held {
            return Some(SpIBinder::from_proxy(p));
        }
        if weak.dead.load(Ordering::Acquire) || self.is_lost() {
            return None;
        }
        if let Err(e) = thread::command(&self.arc(), Command::Acquire(h)) {
            tracing::debug!("promoting {h}: {e}");
            return None;
        }
        // A strong proxy made meanwhile by another thread keeps its own
        // count, and the one just granted goes back.
        let (b, give_back) = self.proxy_for(h, true);
        if let Some(c) = give_back {
            thread::post(&self.arc(), vec![c]);
        }
        Some(b)
    }

    pub(crate) fn proxy_dropped(
        &self,
        h: Handle,
        strong: bool,
        cookie: Option<u64>,
        frozen_cookie: Option<u64>,
    ) {
        {
            let mut map = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
            let key = proxy_key(h, strong);
            if map.get(&key).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&key);
            }
        }
        if self.is_lost() {
            return;
        }
        let mut cmds = Vec::new();
        if let Some(c) = cookie {
            self.deaths
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&c);
            cmds.push(Command::ClearDeath {
                handle: h,
                cookie: c,
            });
        }
        if let Some(c) = frozen_cookie {
            self.frozen_subs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&c);
            cmds.push(Command::ClearFreezeNotice {
                handle: h,
                cookie: c,
            });
        }
        if h != Handle::CONTEXT_MANAGER {
            cmds.push(if strong {
                Command::Release(h)
            } else {
                Command::DecRefs(h)
            });
        }
        if !cmds.is_empty() {
            thread::post(&self.arc(), cmds);
        }
    }

    // ---- deaths ----------------------------------------------------------

    pub(crate) fn link_to_death(&self, p: &Arc<Proxy>, r: Arc<dyn DeathRecipient>) -> Result<()> {
        let mut d = p.deaths.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: `on_dead_binder` marks the obituaries
        // sent before it takes the recipients under this lock, so a
        // recipient added here is either taken by it or refused.
        if p.obits_sent.load(Ordering::Acquire) {
            return Err(p.obits_sent_error());
        }
        d.recipients.push(r);
        if d.cookie.is_none() {
            let cookie = next_local_id();
            d.cookie = Some(cookie);
            self.deaths
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cookie, Arc::downgrade(p));
            drop(d);
            thread::post(
                &self.arc(),
                vec![Command::RequestDeath {
                    handle: p.handle,
                    cookie,
                }],
            );
        }
        Ok(())
    }

    pub(crate) fn unlink_to_death(
        &self,
        p: &Arc<Proxy>,
        r: &Arc<dyn DeathRecipient>,
    ) -> Result<()> {
        let mut d = p.deaths.lock().unwrap_or_else(|e| e.into_inner());
        // Once the death is known its recipients have run (or are
        // running) and cannot be taken back: binder's `unlinkToDeath`
        // says DEAD_OBJECT then, whether or not this one was linked
        // (binderLibTest's DeathNotificationStrongRef checks it).
        if p.obits_sent.load(Ordering::Acquire) {
            return Err(p.obits_sent_error());
        }
        let before = d.recipients.len();
        d.recipients.retain(|x| !Arc::ptr_eq(x, r));
        if d.recipients.len() == before {
            return Err(Status::from_code(
                StatusCode::NameNotFound,
                "this recipient is not linked to that object",
            ));
        }
        if d.recipients.is_empty() {
            if let Some(cookie) = d.cookie.take() {
                self.deaths
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&cookie);
                drop(d);
                if !p.obits_sent.load(Ordering::Acquire) {
                    thread::post(
                        &self.arc(),
                        vec![Command::ClearDeath {
                            handle: p.handle,
                            cookie,
                        }],
                    );
                }
            }
        }
        Ok(())
    }

    /// A `DeadBinder` notice: the object died. Runs its recipients once and
    /// returns the acknowledgements to send.
    pub(crate) fn on_dead_binder(&self, cookie: u64) -> Vec<Command> {
        let mut cmds = vec![Command::DeadBinderDone { cookie }];
        let proxy = self
            .deaths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cookie)
            .and_then(|w| w.upgrade());
        if let Some(p) = proxy {
            p.mark_died();
            let recipients = {
                let mut d = p.deaths.lock().unwrap_or_else(|e| e.into_inner());
                d.cookie = None;
                std::mem::take(&mut d.recipients)
            };
            cmds.push(Command::ClearDeath {
                handle: p.handle,
                cookie,
            });
            let who = SpIBinder::from_proxy(p).downgrade();
            for r in recipients {
                r.binder_died(&who);
            }
        }
        cmds
    }

    /// The mediator is gone: every remote object is dead, and each death
    /// recipient runs once.
    pub(crate) fn connection_lost(&self) {
        if self.lost.swap(true, Ordering::AcqRel) {
            return;
        }
        let proxies: Vec<Arc<Proxy>> = self
            .proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for p in proxies {
            p.mark_died();
            let recipients = {
                let mut d = p.deaths.lock().unwrap_or_else(|e| e.into_inner());
                d.cookie = None;
                std::mem::take(&mut d.recipients)
            };
            let who = SpIBinder::from_proxy(p).downgrade();
            for r in recipients {
                r.binder_died(&who);
            }
        }
    }
}
