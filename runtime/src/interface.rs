//! What generated interfaces stand on: the [`Interface`] trait (one impl
//! per AIDL interface, for `dyn IFoo`), [`interface_cast`], the [`Remote`]
//! half of every generated proxy, and the [`include_aidl!`](crate::include_aidl)
//! macro.
//!
//! A generated proxy checks, lazily, that the remote object implements its
//! interface: before its first two-way call it asks the object for its
//! descriptor (`INTERFACE_TRANSACTION`) and caches the answer for the
//! handle, so a handle is asked once per process however many proxies are
//! made for it. Oneway calls never wait, so they do not trigger the check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use capbinder_core::Handle;

use crate::binder::SpIBinder;
use crate::parcel::Parcel;
use crate::status::{Result, Status, StatusCode};

/// An AIDL interface as a Rust trait object: implemented by generated code
/// for `dyn IFoo`. It says how an object reference becomes an
/// `Arc<dyn IFoo>` and back, which is what lets interfaces travel as
/// arguments (capabilities passed in calls).
pub trait Interface: Send + Sync {
    /// The interface descriptor (`com.example.IFoo`, or `@Descriptor`).
    const DESCRIPTOR: &'static str;

    /// The interface for an object: for a local object made by the
    /// generated `Bn` type, its implementation, called directly; for a
    /// local object of another type, an error; for a remote object, a
    /// proxy (its descriptor is checked before the first two-way call).
    fn from_binder(binder: SpIBinder) -> Result<Arc<Self>>;

    /// The object to send for `this`: the binder behind a proxy or a local
    /// object, or a new local object wrapping a plain implementation (a
    /// new identity each time: make one with `BnFoo::new_interface` to keep
    /// one).
    fn to_binder(this: &Arc<Self>) -> SpIBinder;
}

/// Turns an object reference into an interface: `interface_cast::<dyn
/// IFoo>(binder)`, libbinder's name for it.
pub fn interface_cast<T: Interface + ?Sized>(binder: SpIBinder) -> Result<Arc<T>> {
    T::from_binder(binder)
}

/// The status of a method an implementation does not have (what AIDL's
/// `Default` implementations answer): `UnknownTransaction`. `method` is
/// `Interface.method`.
pub fn not_implemented(method: &str) -> Status {
    Status::from_code(
        StatusCode::UnknownTransaction,
        format!("{method} is not implemented"),
    )
}

/// The status for a transaction code an interface does not have.
pub fn unknown_transaction(descriptor: &str, code: u32) -> Status {
    Status::from_code(
        StatusCode::UnknownTransaction,
        format!("{descriptor} has no transaction code {code}"),
    )
}

/// For a local object, checks that it implements `descriptor` (a local
/// call, no transaction); remote objects pass (their proxy checks later).
pub fn check_local(binder: &SpIBinder, descriptor: &str) -> Result<()> {
    if !binder.is_local() {
        return Ok(());
    }
    let actual = binder.descriptor()?;
    if actual != descriptor {
        return Err(Status::from_code(
            StatusCode::BadType,
            format!("the object implements `{actual}`, not `{descriptor}`"),
        ));
    }
    Ok(())
}

/// The remote half of a generated proxy: the object, the interface it
/// should implement, and whether that was checked.
#[derive(Debug)]
pub struct Remote {
    binder: SpIBinder,
    descriptor: &'static str,
    checked: AtomicBool,
}

impl Clone for Remote {
    fn clone(&self) -> Remote {
        Remote {
            binder: self.binder.clone(),
            descriptor: self.descriptor,
            checked: AtomicBool::new(self.checked.load(Ordering::Relaxed)),
        }
    }
}

/// Handles whose descriptor this process has checked (a handle is never
/// reused while the process lives; handle 0 is not cached because the
/// context manager can change). Bounded: when full it starts over.
static CHECKED: OnceLock<Mutex<HashMap<Handle, &'static str>>> = OnceLock::new();
const CHECKED_MAX: usize = 4096;

impl Remote {
    /// A proxy's remote half for `binder`, which should implement
    /// `descriptor`.
    pub fn new(binder: SpIBinder, descriptor: &'static str) -> Remote {
        Remote {
            binder,
            descriptor,
            checked: AtomicBool::new(false),
        }
    }

    /// The object.
    pub fn binder(&self) -> &SpIBinder {
        &self.binder
    }

    /// Checks, once, that the object implements the descriptor.
    pub fn check(&self) -> Result<()> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        let handle = self
            .binder
            .handle()
            .filter(|h| *h != Handle::CONTEXT_MANAGER);
        let cache = CHECKED.get_or_init(Mutex::default);
        if let Some(h) = handle {
            let known = cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&h)
                .copied();
            if known == Some(self.descriptor) {
                self.checked.store(true, Ordering::Release);
                return Ok(());
            }
        }
        let actual = self.binder.descriptor()?;
        if actual != self.descriptor {
            return Err(Status::from_code(
                StatusCode::BadType,
                format!(
                    "the object implements `{actual}`, not `{}`",
                    self.descriptor
                ),
            ));
        }
        if let Some(h) = handle {
            let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
            if c.len() >= CHECKED_MAX {
                c.clear();
            }
            c.insert(h, self.descriptor);
        }
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    /// A two-way call: checks the descriptor (the first time), sends, and
    /// returns the reply positioned at the first result.
    pub fn call(&self, code: u32, data: Parcel) -> Result<Parcel> {
        self.check()?;
        self.binder.transact(code, data, false)
    }

    /// A oneway call: returns once the mediator has taken it.
    pub fn call_oneway(&self, code: u32, data: Parcel) -> Result<()> {
        self.binder.transact(code, data, true).map(|_| ())
    }
}

/// Includes code generated by `capbinder-codegen` in a build script.
///
/// * `include_aidl!()` includes `$OUT_DIR/_include.rs`: every generated
///   package as a tree of modules (`com::example::...`), which is what
///   references across packages expect;
/// * `include_aidl!("com.example")` includes one package's file,
///   `$OUT_DIR/com.example.rs`. References to other packages are relative
///   (`super::super::other::Type`), so put it where the package's path
///   would be: `pub mod com { pub mod example { capbinder::include_aidl!("com.example"); } }`.
///
/// If the build script wrote elsewhere (`out_dir`), use
/// `include!("path/to/_include.rs")` instead. Write
/// `::capbinder::include_aidl!` when a generated package is itself named
/// `capbinder` (its module would make the plain path ambiguous).
///
/// ```ignore
/// pub mod aidl {
///     capbinder::include_aidl!();
/// }
/// use aidl::com::example::IPlayer;
/// ```
#[macro_export]
macro_rules! include_aidl {
    () => {
        include!(concat!(env!("OUT_DIR"), "/_include.rs"));
    };
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $package, ".rs"));
    };
}
