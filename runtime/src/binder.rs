//! Objects: the `Binder` trait a local object implements, and `SpIBinder`,
//! a strong reference to a local object or to a remote one (a proxy for a
//! handle). Equality is identity: two references are equal when they name
//! the same object. Dropping the last reference to a proxy releases the
//! handle in the mediator.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use capbinder_core::{Handle, NodeFlags};

use crate::parcel::Parcel;
use crate::process::ProcessState;
use crate::status::{Result, Status, StatusCode};

/// `'_PNG'`: is the object alive?
pub const PING_TRANSACTION: u32 = u32::from_be_bytes(*b"_PNG");
/// `'_NTF'`: the interface descriptor.
pub const INTERFACE_TRANSACTION: u32 = u32::from_be_bytes(*b"_NTF");
/// `'_DMP'`: write a dump to a file descriptor.
pub const DUMP_TRANSACTION: u32 = u32::from_be_bytes(*b"_DMP");
/// The first code an interface may use (AIDL numbers methods from here).
pub const FIRST_CALL_TRANSACTION: u32 = 1;
/// The last code an interface may use.
pub const LAST_CALL_TRANSACTION: u32 = 0x00ff_ffff;

/// A local object: what a service implements.
pub trait Binder: Any + Send + Sync {
    /// The interface descriptor, e.g. `"com.example.IPlayer"`.
    fn descriptor(&self) -> &str;

    /// Handles one call: read arguments from `data`, write results into
    /// `reply`. An `Err` travels back to the caller as its status.
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
/// mediator knows it by) and the implementation.
pub(crate) struct LocalObject {
    pub id: u64,
    pub obj: Box<dyn Binder>,
}

impl LocalObject {
    pub fn flags(&self) -> NodeFlags {
        NodeFlags {
            accepts_fds: self.obj.accepts_fds(),
            min_priority: None,
        }
    }
}

/// Something to run when a remote object dies.
pub trait DeathRecipient: Send + Sync {
    /// Called once, on a pool thread, when the object's process is gone.
    fn binder_died(&self, who: &WeakBinder);
}

/// A remote object: one handle in this process's table.
pub(crate) struct Proxy {
    pub handle: Handle,
    /// The count the mediator gave us: strong, or only weak.
    pub strong: bool,
    pub dead: AtomicBool,
    /// Death recipients and whether a subscription is registered.
    pub deaths: Mutex<DeathState>,
    pub process: Arc<ProcessState>,
}

#[derive(Default)]
pub(crate) struct DeathState {
    pub recipients: Vec<Arc<dyn DeathRecipient>>,
    pub cookie: Option<u64>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let cookie = self
            .deaths
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .cookie;
        self.process.proxy_dropped(self.handle, self.strong, cookie);
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

impl std::hash::Hash for SpIBinder {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match &self.0 {
            Inner::Local(a) => (Arc::as_ptr(a) as usize).hash(state),
            Inner::Remote(p) => (Arc::as_ptr(p) as usize).hash(state),
        }
    }
}

/// A weak reference: it does not keep the object alive in this process.
#[derive(Clone)]
pub struct WeakBinder(WeakInner);

#[derive(Clone)]
enum WeakInner {
    Local(Weak<LocalObject>),
    Remote(Weak<Proxy>, Handle),
}

impl std::fmt::Debug for WeakBinder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            WeakInner::Local(_) => write!(f, "WeakBinder(local)"),
            WeakInner::Remote(_, h) => write!(f, "WeakBinder(remote {h})"),
        }
    }
}

impl WeakBinder {
    /// The strong reference, if the object is still referenced here.
    pub fn upgrade(&self) -> Option<SpIBinder> {
        match &self.0 {
            WeakInner::Local(w) => w.upgrade().map(|l| SpIBinder(Inner::Local(l))),
            WeakInner::Remote(w, _) => w.upgrade().map(|p| SpIBinder(Inner::Remote(p))),
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
                crate::thread::transact(&p.process, p.handle, code, data, oneway)
            }
        }
    }

    /// Whether the object answers (the `_PNG` built-in).
    pub fn ping(&self) -> Result<()> {
        self.transact(PING_TRANSACTION, Parcel::new(), false)
            .map(|_| ())
    }

    /// Whether the object is believed alive (no death seen).
    pub fn is_alive(&self) -> bool {
        match &self.0 {
            Inner::Local(_) => true,
            Inner::Remote(p) => !p.dead.load(Ordering::Acquire),
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

    /// Asks the object for a dump written to `out` (the `_DMP` built-in).
    pub fn dump(&self, out: std::os::fd::OwnedFd, args: &[String]) -> Result<()> {
        let mut p = Parcel::new();
        p.write_fd(out)?;
        p.write(args)?;
        self.transact(DUMP_TRANSACTION, p, false).map(|_| ())
    }

    /// Calls `recipient` once when the object's process dies (at once if it
    /// already has). Local objects never die while referenced here.
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
}

/// Wraps a local object in a reference that can be sent to other processes.
pub fn new_binder(obj: impl Binder) -> SpIBinder {
    SpIBinder(Inner::Local(Arc::new(LocalObject {
        id: crate::process::next_local_id(),
        obj: Box::new(obj),
    })))
}
