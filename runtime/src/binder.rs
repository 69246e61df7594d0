//! Objects: the `Binder` trait a local object implements, and `SpIBinder`,
//! a strong reference to a local object or to a remote one (a proxy for a
//! handle). Equality is identity: two references are equal when they name
//! the same object. Dropping the last reference to a proxy releases the
//! handle in the mediator.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use capbinder_core::{Handle, NodeFlags, Priority};

use crate::parcel::Parcel;
use crate::process::ProcessState;
use crate::status::{Result, Status, StatusCode};

/// `'_PNG'`: is the object alive?
pub const PING_TRANSACTION: u32 = u32::from_be_bytes(*b"_PNG");
/// `'_NTF'`: the interface descriptor.
pub const INTERFACE_TRANSACTION: u32 = u32::from_be_bytes(*b"_NTF");
/// `'_DMP'`: write a dump to a file descriptor.
pub const DUMP_TRANSACTION: u32 = u32::from_be_bytes(*b"_DMP");
/// `'_EXT'`: the object's extension (libbinder's `EXTENSION_TRANSACTION`,
/// `B_PACK_CHARS('_','E','X','T')`): the reply is a nullable binder.
pub const EXTENSION_TRANSACTION: u32 = u32::from_be_bytes(*b"_EXT");
/// The first code an interface may use (AIDL numbers methods from here).
pub const FIRST_CALL_TRANSACTION: u32 = 1;
/// The last code an interface may use.
pub const LAST_CALL_TRANSACTION: u32 = 0x00ff_ffff;

/// A local object: what a service implements.
pub trait Binder: Any + Send + Sync {
    /// The interface descriptor, e.g. `"com.example.IPlayer"`.
    fn descriptor(&self) -> &str;

    /// Handles one call: read arguments from `data`, write results into
    /// `reply`. An `Err` travels back to the caller as its status. A
    /// panic here (with unwinding) fails the call with `UnknownError`
    /// naming the panic, and the thread goes on serving.
    fn on_transact(&self, code: u32, data: &mut Parcel, reply: &mut Parcel) -> Result<()>;

    /// Writes a human-readable dump (the `_DMP` built-in).
    fn dump(&self, out: &mut dyn std::io::Write, args: &[String]) -> Result<()> {
        let _ = (out, args);
        Ok(())
    }

    /// Whether calls on this object may carry file descriptors.
    fn accepts_fds(&self) -> bool {
        true
    }
}

/// A local object as the process exports it: a stable id (the `ptr` the
/// mediator knows it by), the implementation, its node settings and its
/// extension.
pub(crate) struct LocalObject {
    pub id: u64,
    pub obj: Box<dyn Binder>,
    pub node: Mutex<NodeSettings>,
    /// What the `_EXT` built-in answers. Kept apart from `node`: the
    /// mediator never sees it, so it may change after the object is sent.
    pub extension: Mutex<Option<SpIBinder>>,
}

/// What the mediator's node for a local object is created with.
#[derive(Default)]
pub(crate) struct NodeSettings {
    /// The scheduling floor for calls on it.
    pub min_priority: Option<Priority>,
    /// A real-time caller's priority migrates (binder's `inherit_rt`).
    pub inherit_rt: bool,
    /// It has been written into a parcel (or sent): the mediator may hold
    /// a node made with these settings, so they no longer change
    /// (libbinder's `mParceled`, set when a parcel flattens the binder).
    pub parceled: bool,
}

impl LocalObject {
    /// Changes a node setting, which is fixed once the object was first
    /// written into a parcel (the mediator may hold a node made with the
    /// old settings): `InvalidOperation` naming `what` after that.
    fn change_unsent(&self, what: &str, change: impl FnOnce(&mut NodeSettings)) -> Result<()> {
        let mut node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        if node.parceled {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                format!(
                    "local object #{} was already written into a parcel: {what} is fixed \
                     then, so set it before",
                    self.id
                ),
            ));
        }
        change(&mut node);
        Ok(())
    }

    /// The extension set with [`SpIBinder::set_extension`], if any.
    pub fn extension(&self) -> Option<SpIBinder> {
        self.extension
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fixes the node settings: the object is in a parcel.
    pub fn mark_parceled(&self) {
        self.node.lock().unwrap_or_else(|e| e.into_inner()).parceled = true;
    }

    /// Whether [`mark_parceled`](Self::mark_parceled) (or a send) was.
    pub fn parceled(&self) -> bool {
        self.node.lock().unwrap_or_else(|e| e.into_inner()).parceled
    }

    /// The node flags a send carries; the settings are fixed from here on.
    pub fn flags(&self) -> NodeFlags {
        let mut node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        node.parceled = true;
        NodeFlags {
            accepts_fds: self.obj.accepts_fds(),
            min_priority: node.min_priority,
            inherit_rt: node.inherit_rt,
        }
    }
}

/// Something to run when a remote object dies.
pub trait DeathRecipient: Send + Sync {
    /// Called once, on a pool thread, when the object's process is gone.
    fn binder_died(&self, who: &WeakBinder);
}

/// Whether a remote object's process is frozen (libbinder's
/// `FrozenStateChangeCallback::State`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrozenState {
    /// Frozen: its sync calls fail with `Frozen`, its oneway calls wait.
    Frozen,
    /// Running.
    Unfrozen,
}

/// Something to tell when a remote object's process is frozen or thawed
/// (libbinder's `IBinder::FrozenStateChangeCallback`).
pub trait FrozenStateChangeCallback: Send + Sync {
    /// Called on a pool thread with the state when the callback is added
    /// (once it is known), then at each change; changes while this process
    /// was frozen itself come as one call with the latest state.
    fn on_state_changed(&self, who: &WeakBinder, state: FrozenState);
}

/// A remote object: one handle in this process's table.
pub(crate) struct Proxy {
    pub handle: Handle,
    /// The count the mediator gave us: strong, or only weak.
    pub strong: bool,
    /// Believed dead (libbinder's `!mAlive`): a death notice came, or a
    /// call on it ended in `DeadObject`. Calls then fail here.
    pub dead: AtomicBool,
    /// Its death recipients have run (libbinder's `mObitsSent`): set with
    /// `dead` by a death notice or the mediator's loss, never by a call's
    /// status alone. Linking and unlinking are refused then.
    pub obits_sent: AtomicBool,
    /// Death recipients and whether a subscription is registered.
    pub deaths: Mutex<DeathState>,
    /// Freeze callbacks and whether a subscription is registered.
    pub frozen: Mutex<FrozenSubs>,
    /// The uid it is counted against (`proxy_count`), if any.
    pub tracked_uid: Option<u32>,
    pub process: Arc<ProcessState>,
}

#[derive(Default)]
pub(crate) struct FrozenSubs {
    pub callbacks: Vec<Arc<dyn FrozenStateChangeCallback>>,
    /// The subscription's cookie while one is registered.
    pub cookie: Option<u64>,
    /// The last state the mediator told (none yet after subscribing).
    pub state: Option<FrozenState>,
}

#[derive(Default)]
pub(crate) struct DeathState {
    pub recipients: Vec<Arc<dyn DeathRecipient>>,
    pub cookie: Option<u64>,
}

impl Proxy {
    /// Its death notice came (or the mediator is gone): dead, and its
    /// death recipients run now.
    pub fn mark_died(&self) {
        self.dead.store(true, Ordering::Release);
        self.obits_sent.store(true, Ordering::Release);
    }

    /// The refusal once its recipients have run (linking, unlinking).
    pub fn obits_sent_error(&self) -> Status {
        Status::dead(format!(
            "{}: the object's process died; its death recipients have run",
            self.handle
        ))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let cookie = self
            .deaths
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .cookie;
        let frozen = self
            .frozen
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .cookie;
        crate::proxy_count::proxy_gone(self.tracked_uid);
        self.process
            .proxy_dropped(self.handle, self.strong, cookie, frozen);
    }
}

#[derive(Clone)]
enum Inner {
    Local(Arc<LocalObject>),
    Remote(Arc<Proxy>),
}

/// A strong reference to an object, local or remote.
#[derive(Clone)]
pub struct SpIBinder(Inner);

impl std::fmt::Debug for SpIBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Local(l) => write!(f, "SpIBinder(local #{} {})", l.id, l.obj.descriptor()),
            Inner::Remote(p) => write!(f, "SpIBinder(remote {})", p.handle),
        }
    }
}

impl PartialEq for SpIBinder {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Inner::Local(a), Inner::Local(b)) => Arc::ptr_eq(a, b),
            (Inner::Remote(a), Inner::Remote(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for SpIBinder {}

impl SpIBinder {
    /// What identity, equality, hashing and order go by: the local object
    /// or the proxy.
    fn addr(&self) -> usize {
        match &self.0 {
            Inner::Local(a) => Arc::as_ptr(a) as usize,
            Inner::Remote(p) => Arc::as_ptr(p) as usize,
        }
    }
}

/// An arbitrary but stable order (by identity), so that binders can key
/// ordered maps, as libbinder's `sp<IBinder>` and the Rust binder's
/// `SpIBinder` do.
impl Ord for SpIBinder {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.addr().cmp(&other.addr())
    }
}

impl PartialOrd for SpIBinder {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for SpIBinder {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.addr().hash(state)
    }
}

/// A weak reference: it does not keep the object alive in this process.
///
/// Made by [`SpIBinder::downgrade`], or read from a parcel
/// ([`Parcel::read_weak_binder`]): one that arrived from another process
/// holds a weak count on the object in the mediator, and
/// [`upgrade`](Self::upgrade) asks the mediator for a strong one.
#[derive(Clone)]
pub struct WeakBinder(WeakInner);

impl WeakBinder {
    /// The identity it refers to: that of the `SpIBinder` it came from.
    fn addr(&self) -> usize {
        match &self.0 {
            WeakInner::Local(w) => w.as_ptr() as usize,
            WeakInner::Remote(w, _) => w.as_ptr() as usize,
            WeakInner::Held(p) => Arc::as_ptr(p) as usize,
        }
    }
}

/// Equal when they refer to the same object (the same proxy, for a
/// remote one), alive or not.
impl PartialEq for WeakBinder {
    fn eq(&self, other: &Self) -> bool {
        self.addr() == other.addr()
    }
}

impl Eq for WeakBinder {}

impl std::hash::Hash for WeakBinder {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.addr().hash(state)
    }
}

#[derive(Clone)]
enum WeakInner {
    Local(Weak<LocalObject>),
    Remote(Weak<Proxy>, Handle),
    /// A proxy holding only a weak count in the mediator.
    Held(Arc<Proxy>),
}

impl std::fmt::Debug for WeakBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            WeakInner::Local(_) => write!(f, "WeakBinder(local)"),
            WeakInner::Remote(_, h) => write!(f, "WeakBinder(remote {h})"),
            WeakInner::Held(p) => write!(f, "WeakBinder(remote {}, held weakly)", p.handle),
        }
    }
}

impl WeakBinder {
    /// The strong reference, if the object can still be had.
    ///
    /// For a local object or one downgraded here: while this process
    /// still references it strongly. For one read from a parcel (a weak
    /// reference another process sent): the mediator is asked, and gives a
    /// strong reference while some process holds one (libbinder's
    /// `wp::promote`, binder's `BC_ACQUIRE` on a weak ref); `None` once
    /// none does, or once the object's process died. Then this process
    /// holds it strongly too, as the returned reference says.
    pub fn upgrade(&self) -> Option<SpIBinder> {
        match &self.0 {
            WeakInner::Local(w) => w.upgrade().map(|l| SpIBinder(Inner::Local(l))),
            WeakInner::Remote(w, _) => w.upgrade().map(|p| SpIBinder(Inner::Remote(p))),
            WeakInner::Held(p) => p.process.promote(p),
        }
    }

    /// What a parcel sends for it: the object or proxy, if still here.
    pub(crate) fn reachable(&self) -> Option<SpIBinder> {
        match &self.0 {
            WeakInner::Local(w) => w.upgrade().map(SpIBinder::from_local),
            WeakInner::Remote(w, _) => w.upgrade().map(SpIBinder::from_proxy),
            WeakInner::Held(p) => Some(SpIBinder::from_proxy(p.clone())),
        }
    }
}

impl SpIBinder {
    pub(crate) fn from_local(l: Arc<LocalObject>) -> SpIBinder {
        SpIBinder(Inner::Local(l))
    }

    pub(crate) fn from_proxy(p: Arc<Proxy>) -> SpIBinder {
        SpIBinder(Inner::Remote(p))
    }

    /// A weak reference read from a parcel: a proxy with only a weak
    /// count stays held by it.
    pub(crate) fn into_weak(self) -> WeakBinder {
        match self.0 {
            Inner::Remote(p) if !p.strong => WeakBinder(WeakInner::Held(p)),
            _ => self.downgrade(),
        }
    }

    pub(crate) fn local_object(&self) -> Option<&Arc<LocalObject>> {
        match &self.0 {
            Inner::Local(l) => Some(l),
            Inner::Remote(_) => None,
        }
    }

    pub(crate) fn proxy(&self) -> Option<&Arc<Proxy>> {
        match &self.0 {
            Inner::Remote(p) => Some(p),
            Inner::Local(_) => None,
        }
    }

    /// Whether the object lives in this process.
    pub fn is_local(&self) -> bool {
        matches!(self.0, Inner::Local(_))
    }

    /// The local implementation, if it is local and of type `T`.
    pub fn local_as<T: Binder>(&self) -> Option<&T> {
        let l = self.local_object()?;
        (l.obj.as_ref() as &dyn Any).downcast_ref::<T>()
    }

    /// The handle in this process's table, for a remote object.
    pub fn handle(&self) -> Option<Handle> {
        self.proxy().map(|p| p.handle)
    }

    /// A weak reference.
    pub fn downgrade(&self) -> WeakBinder {
        match &self.0 {
            Inner::Local(l) => WeakBinder(WeakInner::Local(Arc::downgrade(l))),
            Inner::Remote(p) => WeakBinder(WeakInner::Remote(Arc::downgrade(p), p.handle)),
        }
    }

    /// Sets the scheduling floor of calls on this local object (libbinder's
    /// `BBinder::setMinSchedulerPolicy`): where the mediator migrates
    /// priorities (it holds `CAP_SYS_NICE`), the thread serving a call on
    /// it runs at least at `min` (by [`Priority::rank`]), however low its
    /// caller's priority; a higher caller's still wins. Without migration
    /// it changes nothing.
    ///
    /// As in binder, the floor is part of the node the mediator makes
    /// when the object is first sent, and fixed once the object is first
    /// written into a parcel ([`was_parceled`](Self::was_parceled)), so
    /// set it before then: after (or on a remote one) this is an
    /// `InvalidOperation`. A
    /// real-time `min` needs a priority in 1..=99, a fair one a nice value
    /// in -20..=19 (`BadValue` otherwise).
    pub fn set_min_scheduler_policy(&self, min: Priority) -> Result<()> {
        let Inner::Local(l) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "set_min_scheduler_policy on a remote object: only its owner sets it",
            ));
        };
        let valid = if min.is_realtime() {
            (1..=99).contains(&min.rt)
        } else {
            (-20..=19).contains(&min.nice)
        };
        if !valid {
            return Err(Status::from_code(
                StatusCode::BadValue,
                format!(
                    "minimum scheduler policy {min:?}: a real-time priority must be 1..=99, \
                     a nice value -20..=19"
                ),
            ));
        }
        l.change_unsent("its minimum scheduler policy", |node| {
            node.min_priority = Some(min)
        })
    }

    /// Lets a real-time caller's priority migrate to the thread serving a
    /// call on this local object (libbinder's `BBinder::setInheritRt`).
    /// By default, as in binder, a real-time caller's call runs at normal
    /// priority, nice 0 (raised to the object's minimum, if any), so that
    /// no client can make a service's threads real-time unasked. Fixed
    /// once the object is first written into a parcel, like the minimum
    /// (`InvalidOperation` after, or on a remote object).
    pub fn set_inherit_rt(&self, inherit: bool) -> Result<()> {
        let Inner::Local(l) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "set_inherit_rt on a remote object: only its owner sets it",
            ));
        };
        l.change_unsent("whether it inherits real-time priority", |node| {
            node.inherit_rt = inherit
        })
    }

    /// Whether this local object was ever written into a parcel
    /// (libbinder's `BBinder::wasParceled`): from then on its minimum
    /// scheduler policy and real-time inheritance are fixed. False for a
    /// remote object.
    pub fn was_parceled(&self) -> bool {
        self.local_object().is_some_and(|l| l.parceled())
    }

    /// Whether [`set_inherit_rt`](Self::set_inherit_rt) let real-time
    /// priority migrate, for a local object.
    pub fn inherit_rt(&self) -> bool {
        self.local_object()
            .is_some_and(|l| l.node.lock().unwrap_or_else(|e| e.into_inner()).inherit_rt)
    }

    /// The scheduling floor set with
    /// [`set_min_scheduler_policy`](Self::set_min_scheduler_policy), for a
    /// local object.
    pub fn min_scheduler_policy(&self) -> Option<Priority> {
        self.local_object()?
            .node
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .min_priority
    }

    /// Calls `code` with `data`; waits for the reply unless `oneway`.
    pub fn transact(&self, code: u32, data: Parcel, oneway: bool) -> Result<Parcel> {
        match &self.0 {
            Inner::Local(l) => {
                // A local call runs in place, as libbinder's BBinder does,
                // with the parcel's objects (binders, fds) kept.
                let (bytes, slots) = data.take_parts();
                let mut data = Parcel::from_parts(bytes, slots);
                let mut reply = Parcel::new();
                crate::thread::run_local(l, code, &mut data, &mut reply)?;
                reply.rewind();
                Ok(reply)
            }
            Inner::Remote(p) => {
                if p.dead.load(Ordering::Acquire) {
                    return Err(Status::dead(format!(
                        "{}: the object's process died",
                        p.handle
                    )));
                }
                let r = crate::thread::transact(p, code, data, oneway);
                // As libbinder's BpBinder: a call that ends in DeadObject,
                // whether the mediator's dead reply or the handler's own
                // status, makes the proxy dead at once (later calls fail
                // here, `is_alive` is false) without waiting for the death
                // notice. Not handle 0: it stands for whichever context
                // manager registers next (libbinder looks it up afresh).
                if p.handle != Handle::CONTEXT_MANAGER
                    && matches!(&r, Err(e) if e.code == StatusCode::DeadObject)
                {
                    p.dead.store(true, Ordering::Release);
                }
                r
            }
        }
    }

    /// Whether the object answers (the `_PNG` built-in).
    pub fn ping(&self) -> Result<()> {
        self.transact(PING_TRANSACTION, Parcel::new(), false)
            .map(|_| ())
    }

    /// Whether the object is believed alive (libbinder's
    /// `isBinderAlive`): no death notice came and no call on this proxy
    /// ended in `DeadObject`.
    pub fn is_alive(&self) -> bool {
        match &self.0 {
            Inner::Local(_) => true,
            Inner::Remote(p) => !p.dead.load(Ordering::Acquire),
        }
    }

    /// Whether this process heard the object die (its death notice came,
    /// or the mediator is gone): a call's `DeadObject` status alone does
    /// not count, since the object may live on.
    pub(crate) fn death_seen(&self) -> bool {
        match &self.0 {
            Inner::Local(_) => false,
            Inner::Remote(p) => p.obits_sent.load(Ordering::Acquire),
        }
    }

    /// The interface descriptor (the `_NTF` built-in).
    pub fn descriptor(&self) -> Result<String> {
        if let Inner::Local(l) = &self.0 {
            return Ok(l.obj.descriptor().to_string());
        }
        self.transact(INTERFACE_TRANSACTION, Parcel::new(), false)?
            .read::<String>()
    }

    /// Attaches `extension` to this local object, or takes it off with
    /// `None` (libbinder's `BBinder::setExtension`): another interface on
    /// the same object, such as a vendor's addition to a stable-AIDL HAL,
    /// that any holder finds with [`get_extension`](Self::get_extension)
    /// without the object's own interface knowing of it. The object holds
    /// the extension strongly; an extension that holds the object strongly
    /// in turn keeps both alive for good, as an `sp` cycle does in
    /// libbinder.
    ///
    /// Unlike [`set_min_scheduler_policy`](Self::set_min_scheduler_policy),
    /// this may be called at any time, also after the object was sent:
    /// libbinder allows that too (it only logs a warning), and here nothing
    /// of the extension lives in the mediator's node; the `_EXT` built-in
    /// reads it when a call asks, so a holder sees the change on its next
    /// [`get_extension`](Self::get_extension). Set it before the object is
    /// first sent when holders must never see it missing. On a remote
    /// object this is an `InvalidOperation`: only the owner sets it.
    pub fn set_extension(&self, extension: Option<SpIBinder>) -> Result<()> {
        let Inner::Local(l) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "set_extension on a remote object: only its owner sets it",
            ));
        };
        // The old extension is dropped after the lock is let go: dropping
        // a proxy talks to the mediator.
        let old = std::mem::replace(
            &mut *l.extension.lock().unwrap_or_else(|e| e.into_inner()),
            extension,
        );
        drop(old);
        Ok(())
    }

    /// The object's extension, or `None` when it has none (libbinder's
    /// `IBinder::getExtension`): for a local object, what
    /// [`set_extension`](Self::set_extension) attached; for a remote one,
    /// what its owner's runtime answers to the `_EXT` built-in (never the
    /// object's own `on_transact`). An extension keeps its identity: asked
    /// twice, a holder gets the same proxy (or its own local object).
    pub fn get_extension(&self) -> Result<Option<SpIBinder>> {
        if let Inner::Local(l) = &self.0 {
            return Ok(l.extension());
        }
        self.transact(EXTENSION_TRANSACTION, Parcel::new(), false)?
            .read_nullable_binder()
    }

    /// Asks the object for a dump written to `out` (the `_DMP` built-in).
    pub fn dump(&self, out: std::os::fd::OwnedFd, args: &[String]) -> Result<()> {
        let mut p = Parcel::new();
        p.write_fd(out)?;
        p.write(args)?;
        self.transact(DUMP_TRANSACTION, p, false).map(|_| ())
    }

    /// Calls `recipient` once when the object's process dies (soon, if it
    /// already has and this process has not yet heard). Once this
    /// process's recipients for the object have run, it fails with
    /// `DeadObject` instead, as libbinder's `linkToDeath` does. Local
    /// objects never die while referenced here.
    pub fn link_to_death(&self, recipient: Arc<dyn DeathRecipient>) -> Result<()> {
        let Inner::Remote(p) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "link_to_death on a local object: it cannot die while this process lives",
            ));
        };
        p.process.link_to_death(p, recipient)
    }

    /// Removes a recipient added with `link_to_death`.
    pub fn unlink_to_death(&self, recipient: &Arc<dyn DeathRecipient>) -> Result<()> {
        let Inner::Remote(p) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "unlink_to_death on a local object",
            ));
        };
        p.process.unlink_to_death(p, recipient)
    }

    /// Tells `callback` whether the object's process is frozen, and again
    /// each time that changes (libbinder's
    /// `BpBinder::addFrozenStateChangeCallback`). The first callback
    /// subscribes with the mediator, which answers with the state at once;
    /// a callback added once the state is known hears it at once, on this
    /// thread. `InvalidOperation` on a local object or where the mediator
    /// has no freeze notifications; `DeadObject` once the object died.
    pub fn add_frozen_state_change_callback(
        &self,
        callback: Arc<dyn FrozenStateChangeCallback>,
    ) -> Result<()> {
        let Inner::Remote(p) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "add_frozen_state_change_callback on a local object: its process is this one",
            ));
        };
        p.process.add_frozen_callback(p, callback)
    }

    /// Removes a callback added with
    /// [`add_frozen_state_change_callback`](Self::add_frozen_state_change_callback)
    /// (`NameNotFound` if it was not); the last one ends the subscription.
    pub fn remove_frozen_state_change_callback(
        &self,
        callback: &Arc<dyn FrozenStateChangeCallback>,
    ) -> Result<()> {
        let Inner::Remote(p) = &self.0 else {
            return Err(Status::from_code(
                StatusCode::InvalidOperation,
                "remove_frozen_state_change_callback on a local object",
            ));
        };
        p.process.remove_frozen_callback(p, callback)
    }
}

/// Wraps a local object in a reference that can be sent to other processes.
pub fn new_binder(obj: impl Binder) -> SpIBinder {
    SpIBinder(Inner::Local(Arc::new(LocalObject {
        id: crate::process::next_local_id(),
        obj: Box::new(obj),
        node: Mutex::default(),
        extension: Mutex::default(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use capbinder_core::SchedPolicy;

    struct Nop;
    impl Binder for Nop {
        fn descriptor(&self) -> &str {
            "Nop"
        }
        fn on_transact(&self, _: u32, _: &mut Parcel, _: &mut Parcel) -> Result<()> {
            Ok(())
        }
    }

    fn nice(n: i8) -> Priority {
        Priority {
            policy: SchedPolicy::Normal,
            nice: n,
            rt: 0,
        }
    }

    #[test]
    fn the_min_scheduler_policy_travels_in_the_node_flags_and_is_fixed_once_sent() {
        let b = new_binder(Nop);
        assert_eq!(b.local_object().unwrap().flags().min_priority, None);
        let b = new_binder(Nop);
        b.set_min_scheduler_policy(nice(-5)).unwrap();
        b.set_min_scheduler_policy(nice(-10)).unwrap();
        assert_eq!(b.min_scheduler_policy(), Some(nice(-10)));
        // What a send carries; from then on the node's floor is fixed.
        let flags = b.local_object().unwrap().flags();
        assert_eq!(flags.min_priority, Some(nice(-10)));
        let e = b.set_min_scheduler_policy(nice(-15)).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidOperation);
        assert!(e.message.contains("already written into a parcel"), "{e}");
        assert_eq!(
            b.local_object().unwrap().flags().min_priority,
            Some(nice(-10))
        );
    }

    #[test]
    fn inheriting_real_time_priority_is_opt_in_and_fixed_once_sent() {
        let b = new_binder(Nop);
        assert!(!b.inherit_rt());
        assert!(!b.local_object().unwrap().flags().inherit_rt);
        let b = new_binder(Nop);
        b.set_inherit_rt(true).unwrap();
        assert!(b.local_object().unwrap().flags().inherit_rt);
        let e = b.set_inherit_rt(false).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidOperation);
        assert!(b.inherit_rt());
    }

    /// binderLibTest's `WasParceled`: writing a local object into a
    /// parcel, sent or not, parcels it, and its node settings are fixed
    /// from then on, as libbinder's `flattenBinder` fixes them.
    #[test]
    fn writing_an_object_into_a_parcel_fixes_its_node_settings() {
        let b = new_binder(Nop);
        assert!(!b.was_parceled());
        b.set_min_scheduler_policy(nice(-5)).unwrap();
        let mut p = Parcel::new();
        p.write_binder(&b).unwrap();
        assert!(b.was_parceled(), "in a parcel, never sent");
        let e = b.set_min_scheduler_policy(nice(-10)).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidOperation);
        assert_eq!(
            b.set_inherit_rt(true).unwrap_err().code,
            StatusCode::InvalidOperation
        );
        assert_eq!(b.min_scheduler_policy(), Some(nice(-5)));
        // A weak reference written parcels it too.
        let w = new_binder(Nop);
        Parcel::new().write_weak_binder(&w.downgrade()).unwrap();
        assert!(w.was_parceled());
    }

    /// Counts the calls that reach `on_transact`.
    #[derive(Default)]
    struct Counting(std::sync::atomic::AtomicUsize);
    impl Binder for Counting {
        fn descriptor(&self) -> &str {
            "Counting"
        }
        fn on_transact(&self, _: u32, _: &mut Parcel, _: &mut Parcel) -> Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(Status::from_code(
                StatusCode::UnknownTransaction,
                "no codes",
            ))
        }
    }

    /// Answers every call with the status its code names.
    struct Answers;
    impl Binder for Answers {
        fn descriptor(&self) -> &str {
            "Answers"
        }
        fn on_transact(&self, code: u32, _: &mut Parcel, reply: &mut Parcel) -> Result<()> {
            reply.write(&7u32)?;
            match code {
                1 => Err(Status::from_code(StatusCode::Ok, "fine")),
                2 => Err(Status::exception(crate::ExceptionCode::None, "fine")),
                _ => Err(Status::from_code(StatusCode::BadValue, "bad")),
            }
        }
    }

    /// binderLibTest's `SetError`: a handler's status of `OK` is a
    /// success to its caller; any other is that status.
    #[test]
    fn a_status_that_says_nothing_failed_is_a_success() {
        let b = new_binder(Answers);
        for code in [1, 2] {
            let mut r = b.transact(code, Parcel::new(), false).unwrap();
            assert_eq!(r.read::<u32>().unwrap(), 7);
        }
        let e = b.transact(3, Parcel::new(), false).unwrap_err();
        assert_eq!(e.code, StatusCode::BadValue);
        assert!(Status::exception(crate::ExceptionCode::None, "").is_ok());
        assert!(!Status::service_specific(0, "").is_ok());
    }

    struct Silent;
    impl FrozenStateChangeCallback for Silent {
        fn on_state_changed(&self, _: &WeakBinder, _: FrozenState) {}
    }

    #[test]
    fn a_local_object_has_no_frozen_state_to_report() {
        let b = new_binder(Nop);
        let cb: Arc<dyn FrozenStateChangeCallback> = Arc::new(Silent);
        let e = b.add_frozen_state_change_callback(cb.clone()).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidOperation);
        let e = b.remove_frozen_state_change_callback(&cb).unwrap_err();
        assert_eq!(e.code, StatusCode::InvalidOperation);
    }

    #[test]
    // Hashing goes by the object's address, which its mutexes never change.
    #[allow(clippy::mutable_key_type)]
    fn weak_references_compare_by_the_object_and_binders_order_stably() {
        let (a, b) = (new_binder(Nop), new_binder(Nop));
        let (wa, wa2, wb) = (a.downgrade(), a.clone().downgrade(), b.downgrade());
        assert_eq!(wa, wa2);
        assert_ne!(wa, wb);
        let set: std::collections::HashSet<_> = [wa.clone(), wa2, wb].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert_eq!(a.cmp(&b), a.clone().cmp(&b.clone()));
        assert_ne!(a.cmp(&b), std::cmp::Ordering::Equal);
        assert_eq!(a.cmp(&a.clone()), std::cmp::Ordering::Equal);
        drop(a);
        assert_eq!(wa.upgrade(), None);
        assert_eq!(wa, wa.clone(), "still equal once the object is gone");
    }

    #[test]
    fn the_extension_code_is_libbinders() {
        // B_PACK_CHARS('_', 'E', 'X', 'T').
        assert_eq!(EXTENSION_TRANSACTION, 0x5f45_5854);
        // Outside the range interfaces number their methods in.
        const { assert!(EXTENSION_TRANSACTION > LAST_CALL_TRANSACTION) };
    }

    #[test]
    fn a_local_objects_extension_is_set_any_time_and_cleared_with_none() {
        let b = new_binder(Nop);
        assert_eq!(b.get_extension().unwrap(), None);
        let ext = new_binder(Nop);
        b.set_extension(Some(ext.clone())).unwrap();
        assert_eq!(b.get_extension().unwrap(), Some(ext.clone()));
        // Sent (its node settings fixed), it still takes a new extension.
        let _ = b.local_object().unwrap().flags();
        let other = new_binder(Nop);
        b.set_extension(Some(other.clone())).unwrap();
        assert_eq!(b.get_extension().unwrap(), Some(other));
        b.set_extension(None).unwrap();
        assert_eq!(b.get_extension().unwrap(), None);
        // The object does not hold an extension it no longer has.
        let weak = ext.downgrade();
        drop(ext);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn the_extension_built_in_answers_without_reaching_on_transact() {
        let b = new_binder(Counting::default());
        let ext = new_binder(Nop);
        b.set_extension(Some(ext.clone())).unwrap();
        // In place, as a call from another process runs it.
        let mut reply = b
            .transact(EXTENSION_TRANSACTION, Parcel::new(), false)
            .unwrap();
        assert_eq!(reply.read_nullable_binder().unwrap(), Some(ext));
        b.set_extension(None).unwrap();
        let mut reply = b
            .transact(EXTENSION_TRANSACTION, Parcel::new(), false)
            .unwrap();
        assert_eq!(reply.read_nullable_binder().unwrap(), None);
        let calls = b.local_as::<Counting>().unwrap().0.load(Ordering::SeqCst);
        assert_eq!(calls, 0, "the built-in never reaches on_transact");
        // An ordinary code still does.
        assert!(b
            .transact(FIRST_CALL_TRANSACTION, Parcel::new(), false)
            .is_err());
        assert_eq!(
            b.local_as::<Counting>().unwrap().0.load(Ordering::SeqCst),
            1
        );
    }

    #[test]
    fn an_impossible_min_scheduler_policy_is_refused() {
        let b = new_binder(Nop);
        let rr = |rt| Priority {
            policy: SchedPolicy::RoundRobin,
            nice: 0,
            rt,
        };
        assert!(b.set_min_scheduler_policy(rr(0)).is_err());
        assert!(b.set_min_scheduler_policy(rr(100)).is_err());
        assert!(b.set_min_scheduler_policy(nice(-21)).is_err());
        b.set_min_scheduler_policy(rr(7)).unwrap();
        assert_eq!(b.min_scheduler_policy(), Some(rr(7)));
    }
}
